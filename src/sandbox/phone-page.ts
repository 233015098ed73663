import type { SandboxInbox } from './inbox.js';
import type { SecSignPhoneRequest } from './secsign.js';
import type { LastwallSandbox } from './lastwall.js';
import type { XignInSandbox } from './xignin.js';

const escapeHtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

const clock = (at: Date) => `<time datetime="${at.toISOString()}">${at.toLocaleTimeString('en-GB')}</time>`;

function renderSecSignRequest(r: SecSignPhoneRequest): string {
  return (
    `<form class="secsign" method="post" action="/phone/secsign" data-secsignid="${escapeHtml(r.secsignId)}">` +
    `<input type="hidden" name="authsessionid" value="${escapeHtml(r.authSessionId)}">` +
    `<h3>SecSign ID: ${escapeHtml(r.secsignId)} ${clock(r.requestedAt)}</h3>` +
    `<p><strong>${escapeHtml(r.serviceName)}</strong> (${escapeHtml(r.serviceAddress)}) asks you to log in. ` +
    'Pick the symbol the site shows you.</p><div class="choices">' +
    r.choices
      .map(
        (src, i) =>
          `<button name="choice" value="${i}" class="symbol"><img alt="symbol ${i + 1}" src="${src}"></button>`,
      )
      .join('') +
    '</div><button name="choice" value="deny" class="deny">Deny</button></form>'
  );
}

/** The newest request first and open; older ones (abandoned logins, mostly) folded away with their times. */
function renderSecSignApp(requests: SecSignPhoneRequest[]): string {
  if (requests.length === 0) return '';
  const [newest, ...older] = requests as [SecSignPhoneRequest, ...SecSignPhoneRequest[]];
  const folded =
    older.length === 0
      ? ''
      : `<details class="older"><summary>${older.length} older request${older.length === 1 ? '' : 's'}: ` +
        'the site shows the symbol of its newest one</summary>' +
        older.map(renderSecSignRequest).join('') +
        '</details>';
  return `<section class="phone app"><h2>SecSign ID app</h2>${renderSecSignRequest(newest)}${folded}</section>`;
}

function renderXignInApp(xignin: XignInSandbox): string {
  const pending = xignin.pendingLogins();
  if (pending.length === 0) return '';
  const users = Object.keys(xignin.users);
  const cards = pending
    .map(
      (login) =>
        `<form class="xignin" method="post" action="/phone/xignin" data-login="${escapeHtml(login.id)}" data-kind="${login.kind}">` +
        `<input type="hidden" name="login" value="${escapeHtml(login.id)}">` +
        `<p>${login.kind === 'push' ? `Push login for <strong>${escapeHtml(login.user ?? '')}</strong>` : 'Scanned QR login'} at <strong>${escapeHtml(login.clientId)}</strong>.</p>` +
        users
          .map(
            (u) =>
              `<button name="user" value="${escapeHtml(u)}" class="approve">Log in as ${escapeHtml(u)}</button> `,
          )
          .join('') +
        '<button name="user" value="deny" class="deny">Deny</button></form>',
    )
    .join('');
  return `<section class="phone app"><h2>XignIn app</h2>${cards}</section>`;
}

function renderRiskDial(lastwall: LastwallSandbox): string {
  const users = lastwall.users();
  const rows = users
    .map((user) => {
      const current = lastwall.riskOf(user);
      const name = lastwall.userName(user);
      const buttons = (['passed', 'risky', 'failed'] as const)
        .map(
          (dial) =>
            `<button name="dial" value="${dial}"${dial === current ? ' class="current" disabled' : ''}>${dial}</button>`,
        )
        .join(' ');
      return `<form class="risk" method="post" action="/phone/risk" data-user="${escapeHtml(user)}"><input type="hidden" name="user" value="${escapeHtml(user)}"><strong>${escapeHtml(name ? `${name} (${user})` : user)}</strong>: ${buttons}</form>`;
    })
    .join('');
  const body =
    rows ||
    '<p>No user yet: each user appears here at their first RISC check (an app can name its users beforehand with <code>sandbox.lastwall.nameUser(id, name)</code>).</p>';
  return `<section class="phone app"><h2>Lastwall risk dial</h2><p>What the next RISC check says for each user.</p>${body}</section>`;
}

function renderEmail(inbox: SandboxInbox): string {
  const mails = inbox.messages.filter((m) => m.channel === 'email').reverse();
  if (mails.length === 0) return '';
  const items = mails
    .map(
      (m) =>
        `<li class="mail" data-to="${escapeHtml(m.to)}"><strong>${escapeHtml(m.to)}</strong> ${clock(m.receivedAt)}<p class="text">` +
        escapeHtml(m.text).replace(/(https?:\/\/[^\s<]+)/g, '<a href="$1">$1</a>') +
        '</p></li>',
    )
    .join('');
  return `<section class="phone app"><h2>Email inbox</h2><ol>${items}</ol></section>`;
}

/** The sandbox "phone": the SecSign ID and XignIn apps' open requests, the RISC risk dial, email, and the texts each number received, newest first. */
export function renderPhonePage(
  inbox: SandboxInbox,
  secsign: SecSignPhoneRequest[],
  xignin: XignInSandbox,
  lastwall: LastwallSandbox,
  onlyTo?: string,
): string {
  const numbers = [...new Set(inbox.messages.filter((m) => m.channel === 'sms').map((m) => m.to))].filter(
    (n) => onlyTo === undefined || n === onlyTo,
  );
  const sections = numbers
    .map((number) => {
      const texts = inbox
        .to(number)
        .map(
          (m) =>
            `<li class="sms">${clock(m.receivedAt)}` +
            `<p class="text">${escapeHtml(m.text).replace(/\n/g, '<br>')}</p></li>`,
        )
        .join('');
      return `<section class="phone" data-number="${escapeHtml(number)}"><h2>${escapeHtml(number)}</h2><ol>${texts}</ol></section>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><script src="/phone/refresh.js" defer></script>
<title>Sandbox phone</title><link rel="icon" href="data:,">
<style>
body{font-family:system-ui,sans-serif;background:#20242c;color:#eee;margin:0;padding:1rem}
.phone{background:#fff;color:#1d2330;border-radius:18px;max-width:22rem;padding:.75rem 1rem;margin:0 0 1rem}
h2{font-size:1rem;margin:.25rem 0 .5rem}ol{list-style:none;padding:0;margin:0}
.sms{background:#e9f0ff;border-radius:12px;padding:.5rem .75rem;margin:.4rem 0}
#auto-refresh{border-radius:6px;padding:.3rem .8rem}
h3{font-size:.95rem;margin:.25rem 0}time{font-size:.75rem;color:#556;font-weight:normal}
.text{margin:.2rem 0 0;overflow-wrap:anywhere}.older summary{cursor:pointer;margin:.5rem 0;color:#445}
.secsign{border-top:1px solid #ddd;padding-top:.5rem}.choices{display:flex;gap:.4rem;margin:.5rem 0}
.symbol{padding:2px;border:1px solid #ccc;border-radius:8px;background:#fff;cursor:pointer}.symbol img{width:56px;height:56px}
.approve{background:#e6f6ea;border:1px solid #5a5;border-radius:6px;padding:.3rem .8rem;margin:.2rem 0}
.risk{margin:.3rem 0}.risk .current{font-weight:bold}.mail{margin:.4rem 0}
.deny{background:#fbe9e9;border:1px solid #d66;border-radius:6px;padding:.3rem .8rem}
</style></head><body><h1>Sandbox phone</h1>
<p><button type="button" id="auto-refresh" aria-pressed="true">Auto-refresh: on</button></p>
${renderSecSignApp(secsign)}
${renderXignInApp(xignin)}
${renderRiskDial(lastwall)}
${renderEmail(inbox)}
${sections || '<p>No texts yet.</p>'}
</body></html>`;
}

/**
 * The phone page reloads itself every 2 s to show what arrived, unless turned off (WCAG 2.2.1:
 * a refresh the user can stop) or while a form on it has the focus.
 */
export const PHONE_REFRESH_SCRIPT = `(function () {
  var button = document.getElementById('auto-refresh');
  var on = sessionStorage.getItem('phone-auto-refresh') !== 'off';
  function show() {
    button.textContent = 'Auto-refresh: ' + (on ? 'on' : 'off');
    button.setAttribute('aria-pressed', String(on));
  }
  button.addEventListener('click', function () {
    on = !on;
    sessionStorage.setItem('phone-auto-refresh', on ? 'on' : 'off');
    show();
  });
  show();
  setInterval(function () {
    var active = document.activeElement;
    if (on && !(active && active.closest && active.closest('form'))) location.reload();
  }, 2000);
})();`;

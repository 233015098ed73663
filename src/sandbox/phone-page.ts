import type { SandboxInbox } from './inbox.js';

const escapeHtml = (text: string): string =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

/** The sandbox "phone": the texts each number received, newest first. Refreshes itself. */
export function renderPhonePage(inbox: SandboxInbox, onlyTo?: string): string {
  const numbers = [...new Set(inbox.messages.map((m) => m.to))].filter(
    (n) => onlyTo === undefined || n === onlyTo,
  );
  const sections = numbers
    .map((number) => {
      const texts = inbox
        .to(number)
        .map(
          (m) =>
            `<li class="sms"><time datetime="${m.receivedAt.toISOString()}">${m.receivedAt.toLocaleTimeString('en-GB')}</time>` +
            `<p class="text">${escapeHtml(m.text).replace(/\n/g, '<br>')}</p></li>`,
        )
        .join('');
      return `<section class="phone" data-number="${escapeHtml(number)}"><h2>${escapeHtml(number)}</h2><ol>${texts}</ol></section>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="2">
<title>Sandbox phone</title>
<style>
body{font-family:system-ui,sans-serif;background:#20242c;color:#eee;margin:0;padding:1rem}
.phone{background:#fff;color:#1d2330;border-radius:18px;max-width:22rem;padding:.75rem 1rem;margin:0 0 1rem}
h2{font-size:1rem;margin:.25rem 0 .5rem}ol{list-style:none;padding:0;margin:0}
.sms{background:#e9f0ff;border-radius:12px;padding:.5rem .75rem;margin:.4rem 0}
time{font-size:.75rem;color:#667}.text{margin:.2rem 0 0}
</style></head><body><h1>Sandbox phone</h1>
${sections || '<p>No texts yet.</p>'}
</body></html>`;
}

// The main login: password, then the Lastwall RISC check in the page; a risky result steps up with
// an SMS code or SecSign ID, a failed one offers an unlock link by email.
import { post, basicCredentials, messageIn } from './common.js';
const $ = (id) => document.getElementById(id);
const show = messageIn('risk-message');
let scriptUrl = null;

function loggedIn(message) {
  $('risk-step-up').hidden = true;
  $('risk-unlock').hidden = true;
  $('risk-logout').hidden = false;
  show(message, true);
}

/** Runs the RISC script (a fresh snapshot each time) and posts the snapshot for the check. */
function runRiskCheck() {
  return new Promise((resolve) => {
    document.addEventListener(
      'risc:snapshot',
      async () => {
        const result = await post('/risk/check', { riscdata: $('riscdata').value });
        resolve(result);
      },
      { once: true },
    );
    const script = document.createElement('script');
    script.src = scriptUrl;
    document.head.append(script);
  });
}

async function check() {
  show('Checking this login…', true);
  const { status, body } = await runRiskCheck();
  if (status === 200) return loggedIn(`Logged in: the risk check passed (score ${body.score}).`);
  if (body.next === 'step-up') {
    $('risk-step-up').hidden = false;
    return show('This login looks unusual. Confirm it with a second factor.');
  }
  if (body.next === 'unlock') {
    $('risk-unlock').hidden = false;
    return show('This login was refused by the risk check. We can email you an unlock link.');
  }
  show(body.error ?? 'The risk check could not be completed. Try again.');
}

$('risk-login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { status, body } = await post(
    '/risk/login',
    {},
    { Authorization: basicCredentials($('risk-username').value, $('risk-password').value) },
  );
  $('risk-password').value = '';
  if (status !== 200) return show(body.error ?? 'Login failed.');
  // The password alone is a partial login: the risk check decides whether it becomes a login.
  scriptUrl = (await (await fetch('/risk/script')).json()).scriptUrl;
  await check();
});

$('risk-sms-send').addEventListener('click', async () => {
  const { status } = await post('/risk/step-up/sms/send');
  if (status !== 202) return show('The code could not be sent. Try again in a moment.');
  $('risk-sms-form').hidden = false;
  show('We texted you a code.', true);
});

$('risk-sms-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { status, body } = await post('/risk/step-up/sms', { code: $('risk-sms-code').value });
  $('risk-sms-code').value = '';
  if (status === 200)
    return loggedIn('Logged in after a second factor. This browser is trusted for the next login.');
  show(body.code === 'locked' ? 'Too many wrong codes: locked.' : 'That code is wrong.');
});

$('risk-secsign').addEventListener('click', async () => {
  const { status, body } = await post('/secsign/start', { secsignid: $('risk-username').value });
  if (status !== 200) return show(body.error ?? 'SecSign ID could not start.');
  $('risk-access-pass').src = body.accessPass;
  $('risk-access-pass').hidden = false;
  show('Confirm on your phone: pick the symbol shown here.', true);
  const poll = async () => {
    const state = (await (await fetch('/secsign/status')).json()).state;
    if (state === 'authenticated') {
      const done = await post('/risk/step-up/secsign');
      $('risk-access-pass').hidden = true;
      if (done.status === 200)
        return loggedIn('Logged in after a second factor. This browser is trusted for the next login.');
      return show(done.body.error ?? 'The second factor failed.');
    }
    if (['pending', 'fetched', 'nostate'].includes(state)) return setTimeout(poll, body.pollIntervalMs);
    $('risk-access-pass').hidden = true;
    show(`The SecSign ID login ended: ${state}.`);
  };
  setTimeout(poll, body.pollIntervalMs);
});

$('risk-unlock-send').addEventListener('click', async () => {
  const { status } = await post('/risk/unlock');
  show(
    status === 202
      ? 'We emailed you an unlock link. Follow it, then try again.'
      : 'The email could not be sent.',
    status === 202,
  );
});
$('risk-retry').addEventListener('click', check);

$('risk-logout').addEventListener('click', async () => {
  await post('/risk/logout');
  $('risk-logout').hidden = true;
  show('You are logged out.');
});

fetch('/config.json')
  .then((r) => r.json())
  .then(({ sandboxPhoneUrl }) => {
    for (const link of document.querySelectorAll('.sandbox-phone-link'))
      if (sandboxPhoneUrl) link.href = sandboxPhoneUrl;
  });

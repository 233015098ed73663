// Sign in with SecSign ID: start, show the access pass, poll at the interval the server gives,
// and complete through passport.authenticate('secsign') once the phone confirms.
import { messageIn, retryIn } from './common.js';
const $ = (id) => document.getElementById(id);
const show = messageIn('secsign-message');
let pollTimer = null;

function stopWaiting() {
  clearTimeout(pollTimer);
  pollTimer = null;
  $('secsign-pending').hidden = true;
}

async function call(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { Accept: 'application/json', ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: response.status, body: await response.json().catch(() => ({})) };
}

const FINAL = {
  denied: 'The login was denied on your phone.',
  canceled: 'The login was canceled.',
  expired: 'The login request expired. Start again.',
  suspended: 'This SecSign ID is suspended.',
  invalid: 'The login request is no longer valid. Start again.',
};

async function complete() {
  const { status, body } = await call('POST', '/secsign/complete');
  stopWaiting();
  if (status === 200) return show(`Logged in as ${body.user.name} with SecSign ID.`, true);
  show(FINAL[body.code] ?? body.message ?? body.error ?? 'The login failed.');
}

async function poll(intervalMs) {
  const { status, body } = await call('GET', '/secsign/status');
  if (status !== 200) {
    stopWaiting();
    return show(status === 404 ? 'No login is pending.' : 'SecSign could not be reached. Try again.');
  }
  if (body.state === 'authenticated') return complete();
  if (FINAL[body.state]) {
    stopWaiting();
    return show(FINAL[body.state]);
  }
  if (body.state === 'fetched') show('Your phone has the request. Pick the matching symbol.', true);
  pollTimer = setTimeout(() => poll(intervalMs), intervalMs);
}

fetch('/config.json')
  .then((r) => r.json())
  .then(({ sandboxPhoneUrl }) => {
    for (const link of document.querySelectorAll('.sandbox-phone-link')) {
      if (sandboxPhoneUrl) link.href = sandboxPhoneUrl;
      else link.replaceWith('your phone');
    }
  });

$('secsign-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  stopWaiting();
  const { status, body } = await call('POST', '/secsign/start', { secsignid: $('secsign-id').value });
  if (status !== 200) {
    return show(
      status === 429
        ? `Too many login requests for this SecSign ID. Try again ${retryIn(body)}.`
        : (body.error ?? 'Could not start.'),
    );
  }
  $('secsign-access-pass').src = body.accessPass;
  $('secsign-pending').hidden = false;
  show('Waiting for your phone…', true);
  pollTimer = setTimeout(() => poll(body.pollIntervalMs), body.pollIntervalMs);
});

$('secsign-cancel').addEventListener('click', async () => {
  stopWaiting();
  await call('POST', '/secsign/cancel');
  show(FINAL.canceled);
});

// Password, then a code from an authenticator app (TOTP): set up the app with a QR code, log in
// with its codes, get recovery codes; and the TOTP step-up of the risk check card.
import { post, basicCredentials, messageIn, retryIn } from './common.js';
const $ = (id) => document.getElementById(id);
const show = messageIn('totp-message');

function explain({ status, body }) {
  switch (body.code) {
    case 'invalid_code':
      return body.attemptsRemaining !== undefined
        ? `That code is wrong. ${body.attemptsRemaining} attempt${body.attemptsRemaining === 1 ? '' : 's'} left.`
        : 'That code is wrong.';
    case 'replayed':
      return 'That code was already used. Wait for the next one in your app (up to 30 seconds).';
    case 'locked':
      return `Too many wrong codes: locked. Try again ${retryIn(body)}.`;
    case 'no_pending_challenge':
      return 'The setup has expired or the login step is gone. Start again.';
    case 'not_enrolled':
      return 'No authenticator app is set up for this account yet.';
    default:
      return body.error ?? `Something went wrong (${status}).`;
  }
}

function showCodeStep() {
  $('totp-enroll').hidden = true;
  $('totp-code-form').hidden = false;
  $('totp-code').focus();
}

$('totp-login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = await post(
    '/totp/login',
    {},
    { Authorization: basicCredentials($('totp-username').value, $('totp-password').value) },
  );
  $('totp-password').value = '';
  if (result.status !== 200) return show(result.body.error ?? 'Login failed.');
  if (result.body.enrolled) {
    showCodeStep();
    return show(
      `Password accepted for ${result.body.user.name}. Enter the code from your authenticator app.`,
      true,
    );
  }
  // No authenticator yet: set one up now.
  const started = await post('/totp/enroll');
  if (started.status !== 200) return show(explain(started));
  $('totp-qr').src = started.body.qr;
  $('totp-key').textContent = started.body.manualEntryKey.replace(/(.{4})/g, '$1 ').trim();
  $('totp-uri').href = started.body.uri;
  $('totp-enroll').hidden = false;
  show(`Scan the QR code with your authenticator app, then enter the code it shows.`, true);
});

$('totp-confirm-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = await post('/totp/enroll/confirm', { code: $('totp-confirm-code').value });
  $('totp-confirm-code').value = '';
  if (result.status !== 200) return show(explain(result));
  showCodeStep();
  show('Authenticator app set up. To finish logging in, enter the NEXT code it shows.', true);
});

$('totp-code-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = await post('/totp/verify', { code: $('totp-code').value });
  $('totp-code').value = '';
  if (result.status !== 200) return show(explain(result));
  $('totp-code-form').hidden = true;
  $('totp-recovery').hidden = false;
  $('totp-logout').hidden = false;
  show(`Logged in as ${result.body.user.name} with password and authenticator code.`, true);
});

$('totp-recovery').addEventListener('click', async () => {
  const result = await post('/totp/recovery-codes');
  if (result.status !== 200) return show(explain(result));
  $('totp-recovery-codes').textContent = result.body.recoveryCodes.join('\n');
  $('totp-recovery-codes').hidden = false;
  show('Recovery codes: write them down now, each works once. They replace any earlier ones.', true);
});

$('totp-logout').addEventListener('click', async () => {
  await post('/totp/logout');
  for (const id of ['totp-recovery', 'totp-logout', 'totp-recovery-codes']) $(id).hidden = true;
  show('You are logged out.');
});

// The risk check card: a risky login steps up with a code from the authenticator app.
const showRisk = messageIn('risk-message');
$('risk-totp-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = await post('/risk/step-up/totp', { code: $('risk-totp-code').value });
  $('risk-totp-code').value = '';
  if (result.status !== 200) return showRisk(explain(result));
  $('risk-step-up').hidden = true;
  $('risk-logout').hidden = false;
  showRisk(
    'Logged in after a second factor (authenticator code). This browser is trusted for the next login.',
    true,
  );
});

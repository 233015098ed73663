// Password, then a one-time code by SMS: the page drives the strategy's routes and explains
// every answer in words.
import { post, basicCredentials, messageIn, retryIn } from './common.js';
const $ = (id) => document.getElementById(id);
const show = messageIn('sms-message');

const minutes = (seconds) => Math.max(1, Math.ceil(seconds / 60));

function explain({ status, body }) {
  switch (body.code) {
    case 'invalid_code':
      return body.attemptsRemaining !== undefined
        ? `That code is wrong. ${body.attemptsRemaining} attempt${body.attemptsRemaining === 1 ? '' : 's'} left.`
        : 'That code is wrong or was already used.';
    case 'locked':
      return `Too many wrong codes: locked. Try again ${retryIn(body)}.`;
    case 'expired':
      return 'That code has expired. Ask for a new one.';
    case 'no_pending_challenge':
      return 'No code is pending. Ask for one first.';
    case 'rate_limited':
      return `Please wait ${body.retryAfter ?? 30} seconds before asking for another code.`;
    case 'missing_credentials':
      return body.message ?? body.error ?? 'Something is missing.';
    default:
      return body.message ?? body.error ?? `Something went wrong (${status}).`;
  }
}

fetch('/config.json')
  .then((r) => r.json())
  .then(({ sandboxPhoneUrl }) => {
    if (sandboxPhoneUrl) $('sandbox-phone').href = sandboxPhoneUrl;
    else $('sandbox-phone').replaceWith('your phone');
  });

$('sms-login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = await post(
    '/sms/login',
    {},
    { Authorization: basicCredentials($('sms-username').value, $('sms-password').value) },
  );
  $('sms-password').value = '';
  if (result.status !== 200) return show(explain(result));
  if (result.body.status === 'complete')
    return show(`Logged in as ${result.body.user.name} with the password, in a remembered browser.`, true);
  $('sms-who').textContent = `Password accepted for ${result.body.user.name}. Now the code.`;
  $('sms-step').hidden = false;
  show('Step 2: ask for a code.', true);
});

async function sendCode() {
  const result = await post('/sms/send');
  if (result.status === 202)
    show(`Code sent. It is valid for ${minutes(result.body.expiresIn)} minutes.`, true);
  else show(explain(result));
}
$('sms-send').addEventListener('click', sendCode);
$('sms-resend').addEventListener('click', sendCode);

$('sms-code-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const result = await post('/sms/verify', {
    code: $('sms-code').value,
    rememberBrowser: $('sms-remember').checked,
  });
  $('sms-code').value = '';
  if (result.status === 200) {
    $('sms-step').hidden = true;
    const remembered = result.body.rememberedBrowser ? ' This browser is remembered for 30 days.' : '';
    show(`Logged in as ${result.body.user.name} with password and SMS code.${remembered}`, true);
  } else {
    show(explain(result));
  }
});

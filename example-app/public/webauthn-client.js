// Passkeys: add one after logging in, log in with one (a button, or the browser's autofill on the
// username field: conditional UI), and confirm a risky login with one.
import { post, messageIn } from './common.js';
const $ = (id) => document.getElementById(id);
const show = messageIn('passkey-message');
const showRisk = messageIn('risk-message');
const supported = typeof window.PublicKeyCredential?.parseRequestOptionsFromJSON === 'function';
/** The pending autofill request, aborted before a button starts its own. */
let conditional = null;

/** Runs navigator.credentials.get() on the server's options; answers the response as JSON, or null. */
async function assertion(optionsPath, mediation) {
  const { status, body } = await post(optionsPath);
  if (status !== 200) throw new Error(body.error ?? 'The passkey request could not start.');
  const signal = mediation === 'conditional' ? (conditional = new AbortController()).signal : undefined;
  const credential = await navigator.credentials.get({
    publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(body),
    ...(mediation ? { mediation } : {}),
    ...(signal ? { signal } : {}),
  });
  return credential ? credential.toJSON() : null;
}

async function passkeyLogin(mediation) {
  try {
    const credential = await assertion('/passkeys/login/options', mediation);
    if (!credential) return;
    const { status, body } = await post('/passkeys/login', { credential });
    if (status === 200) return show(`Logged in with a passkey as ${body.user.name}.`, true);
    show(body.error ?? 'The passkey login failed.');
  } catch (err) {
    if (err.name !== 'AbortError')
      show(err.name === 'NotAllowedError' ? 'No passkey was used.' : err.message);
  }
}

function stopAutofill() {
  conditional?.abort();
  conditional = null;
}

$('passkey-login-form').addEventListener('submit', (event) => {
  event.preventDefault();
  stopAutofill();
  passkeyLogin();
});

$('passkey-register').addEventListener('click', async () => {
  stopAutofill();
  try {
    const { status, body } = await post('/passkeys/register/options');
    if (status !== 200) return show(status === 401 ? 'Log in first, then add a passkey.' : body.error);
    const created = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(body),
    });
    const done = await post('/passkeys/register', { credential: created.toJSON() });
    if (done.status === 201) return show('Passkey added. You can log in with it now.', true);
    show(done.body.error ?? 'The passkey could not be added.');
  } catch (err) {
    show(
      err.name === 'InvalidStateError'
        ? 'This device holds a passkey for you already.'
        : 'No passkey was added.',
    );
  }
});

$('risk-passkey').addEventListener('click', async () => {
  stopAutofill();
  try {
    const credential = await assertion('/risk/step-up/passkey/options');
    if (!credential) return;
    const { status, body } = await post('/risk/step-up/passkey', { credential });
    if (status !== 200) return showRisk(body.error ?? 'The passkey did not confirm this login.');
    $('risk-step-up').hidden = true;
    $('risk-logout').hidden = false;
    showRisk('Logged in after a second factor. This browser is trusted for the next login.', true);
  } catch (err) {
    showRisk(err.name === 'NotAllowedError' ? 'No passkey was used.' : err.message);
  }
});

if (!supported) {
  show('This browser cannot use passkeys here.');
} else {
  // The autofill (conditional UI) starts when the user name field is first focused, not on page
  // load: its options request writes the session, and racing the other cards' logins on page load
  // could let its cookie replace theirs.
  $('passkey-username').addEventListener(
    'focus',
    async () => {
      if (await PublicKeyCredential.isConditionalMediationAvailable?.()) passkeyLogin('conditional');
    },
    { once: true },
  );
}

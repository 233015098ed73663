// Log in with XignIn: the QR code comes from the manager's own script (JS-login mode); the page
// posts the code it hands over, with the per-session token, to passport.authenticate('xignin').
import { messageIn } from './common.js';
const $ = (id) => document.getElementById(id);
const show = messageIn('xignin-message');

function loggedIn(result) {
  show(
    `Logged in as ${result.user.name} with XignIn (${result.mode === 'js' ? 'QR code' : result.mode}).`,
    true,
  );
  $('xignin-claims').textContent = JSON.stringify(result.claims, null, 2);
  $('xignin-claims').hidden = false;
  $('xignin-qr-container').replaceChildren();
}

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error('The XignIn login script could not be loaded.'));
    document.head.append(script);
  });
}

$('xignin-show-qr').addEventListener('click', async () => {
  const config = await (await fetch('/xignin/js-config')).json();
  await loadScript(`${config.managerUri}/js/xignqr-jslogin.umd.min.js`);
  const { XignQRLogin, XignLoginMode } = window.XignQRLogin;
  const login = new XignQRLogin({
    managerUri: config.managerUri,
    containerId: 'xignin-qr-container',
    clientId: config.clientId,
    mode: XignLoginMode.PULL_TOKEN,
    redirectUri: config.redirectUri,
    useSSO: false,
    async onAuthentication(code) {
      const response = await fetch('/xignin/callback', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
        body: JSON.stringify({ code, [config.tokenField]: config.token }),
      });
      const result = await response.json();
      if (response.ok) loggedIn(result);
      else show(result.error ?? 'The login failed.');
    },
  });
  show('Scan the QR code with the XignIn app.', true);
  await login.start();
});

// Back from the redirect login: show who we are, or what went wrong.
const error = new URLSearchParams(location.search).get('xignin_error');
if (error)
  show(error === 'denied' ? 'The login was denied in XignIn.' : `The XignIn login failed (${error}).`);
// Only when back from the redirect login (/#xignin): a probe on every page load would log a 401.
else if (location.hash === '#xignin')
  fetch('/xignin/me').then(async (response) => {
    if (response.ok) loggedIn(await response.json());
  });

// The manager's script reports a denial or an expiry only inside its container: the status line
// says it too, instead of still asking to scan.
new MutationObserver(() => {
  const text = $('xignin-qr-container').textContent.trim();
  if (text) show(`XignIn: ${text}`);
}).observe($('xignin-qr-container'), { childList: true, subtree: true, characterData: true });

// An alt-seven (a7.remote) style client: Basic login, keep the newest X-Token from every response,
// refresh on a timer, revoke on logout, and say clearly when the session is gone.
import { basicCredentials, messageIn, retryIn } from './common.js';
const REFRESH_EVERY_MS = 5 * 60 * 1000;
// `sent` numbers the requests, `tokenFrom` is the number of the request whose answer gave the
// token held: an answer to an older request (a slow route overtaken by later ones) carries a
// token that has been replaced since, and sending it back after the server's reuse grace would
// revoke the whole session, so it is not kept.
const session = { token: null, refreshTimer: null, sent: 0, tokenFrom: 0, renewals: 0 };

const $ = (id) => document.getElementById(id);
const show = messageIn('message');

async function call(method, path, { authorization } = {}) {
  const headers = { Accept: 'application/json' };
  if (authorization) headers.Authorization = authorization;
  else if (session.token) headers['X-Token'] = session.token;
  const number = ++session.sent;
  const response = await fetch(path, { method, headers });
  const renewed = response.headers.get('X-Token');
  if (renewed && number > session.tokenFrom) {
    if (session.token && renewed !== session.token) session.renewals++;
    session.token = renewed;
    session.tokenFrom = number;
  }
  showToken();
  const body = await response.json().catch(() => ({}));
  return { status: response.status, body };
}

/** The token held, shortened, and how often it rolled: so the rolling can be watched. */
function showToken() {
  $('xtoken-rolling').hidden = !session.token;
  if (!session.token) return;
  $('xtoken-current').textContent = `${session.token.slice(0, 12)}…${session.token.slice(-8)}`;
  $('xtoken-renewals').textContent = String(session.renewals);
}

function endSession(message) {
  session.token = null;
  session.renewals = 0;
  clearInterval(session.refreshTimer);
  $('who').textContent = '';
  showToken();
  show(message);
}

function onUnauthorized(status, body) {
  if (status === 401 && !session.token) show('You are not logged in. Log in first.');
  else if (status === 401) endSession('Your session has ended. Please log in again.');
  else if (status === 429) show(`Too many attempts. Try again ${retryIn(body)}.`);
  else show('Something went wrong. Try again.');
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { status, body } = await call('POST', '/api/auth/login', {
    authorization: basicCredentials($('username').value, $('password').value),
  });
  $('password').value = '';
  if (!body.success) {
    show(
      status === 429
        ? `Too many failed attempts. Try again ${retryIn(body)}.`
        : (body.error ?? 'Login failed.'),
    );
    return;
  }
  $('who').textContent = `Logged in as ${body.user.name}`;
  $('api-result').textContent = '';
  show('Logged in.', true);
  clearInterval(session.refreshTimer);
  session.refreshTimer = setInterval(refresh, REFRESH_EVERY_MS);
});

$('call-api').addEventListener('click', async () => {
  const { status, body } = await call('GET', '/api/secret');
  $('api-result').textContent = status === 200 ? body.message : `Refused (${status}): ${body.error ?? ''}`;
  if (status !== 200) onUnauthorized(status, body);
});

async function refresh() {
  const { status, body } = await call('GET', '/api/auth/refresh');
  // alt-seven 6.x reads `success`, 9.x reads `authenticated`.
  if (body.success || body.authenticated) show('Session refreshed.', true);
  else onUnauthorized(status, body);
}
$('refresh').addEventListener('click', refresh);

$('logout').addEventListener('click', async () => {
  if (!session.token) return show('You are not logged in.');
  await call('POST', '/api/auth/logout');
  $('api-result').textContent = '';
  endSession('You are logged out.');
});

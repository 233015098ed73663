// Runs one README snippet in a consumer project: loads the module the snippet became, then, for
// an app, listens and drives one success and one failure over HTTP (against the sandbox where the
// snippet starts one). Prints "<name> ok" and exits 0, or throws.
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';

const [file, name, kind] = process.argv.slice(2);
const loaded = file.endsWith('.cjs')
  ? await createRequire(import.meta.url)(pathToFileURL(file).pathname)
  : await import(pathToFileURL(file).href);
const PASSWORD = 'correct horse battery staple';
const basic = (user, password) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

function client(base) {
  let cookie = '';
  return async (method, path, { headers = {}, json } = {}) => {
    const res = await fetch(base + path, {
      method,
      redirect: 'manual',
      headers: {
        ...headers,
        ...(cookie ? { cookie } : {}),
        ...(json ? { 'content-type': 'application/json' } : {}),
      },
      body: json ? JSON.stringify(json) : undefined,
    });
    const set = res.headers.get('set-cookie');
    if (set) cookie = set.split(';')[0];
    const text = await res.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, headers: res.headers, body };
  };
}

const scenarios = {
  async 'basic-login'(call) {
    const ok = await call('GET', '/api/whoami', { headers: { authorization: basic('alice', PASSWORD) } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body, { user: { id: 'u1' } });
    const bad = await call('GET', '/api/whoami', { headers: { authorization: basic('alice', 'wrong') } });
    assert.equal(bad.status, 401);
  },
  async 'x-token'(call) {
    const login = await call('POST', '/api/auth/login', {
      headers: { authorization: basic('alice', PASSWORD) },
    });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    assert.equal(login.body.success, true);
    const token = login.headers.get('x-token');
    assert.ok(token);
    const items = await call('GET', '/api/items', { headers: { 'x-token': token } });
    assert.equal(items.status, 200);
    assert.deepEqual(items.body, { owner: 'u1' });
    const renewed = items.headers.get('x-token');
    assert.ok(renewed && renewed !== token);
    const plain = await call('GET', '/api/plain', { headers: { 'x-token': renewed } });
    assert.equal(plain.status, 200);
    assert.ok(!JSON.stringify(plain.body).includes('passwordHash'), 'the user record leaked');
    const forged = await call('GET', '/api/items', { headers: { 'x-token': `${renewed.slice(0, -2)}xx` } });
    assert.equal(forged.status, 401);
    assert.equal(forged.body.code, 'invalid_token');
  },
  async 'sms-otp'(call, { sandbox }) {
    const first = await call('POST', '/login', { headers: { authorization: basic('alice', PASSWORD) } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, 'partial');
    assert.equal((await call('GET', '/account')).status, 401, 'the password alone is no login');
    sandbox.inbox.clear();
    const sent = await call('POST', '/sms/send', { json: {} });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)[1];
    const wrong = await call('POST', '/sms/verify', {
      json: { code: code === '000000' ? '111111' : '000000' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.body.code, 'invalid_code');
    const right = await call('POST', '/sms/verify', { json: { code } });
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.equal(right.body.status, 'complete');
    const account = await call('GET', '/account');
    assert.deepEqual(account.body, { user: 'u1' });
  },
  async totp(call) {
    // The user's authenticator app: otpauth (a dependency of passport-factors) at a given time.
    const { URI } = await import('otpauth');
    const first = await call('POST', '/login', { headers: { authorization: basic('alice', PASSWORD) } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, 'partial');
    const started = await call('POST', '/totp/enroll', { json: {} });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.match(started.body.uri, /^otpauth:\/\/totp\/Example:/);
    assert.match(started.body.qr, /^data:image\/png;base64,/);
    const app = URI.parse(started.body.uri);
    const firstCode = app.generate({ timestamp: Date.now() });
    const confirmed = await call('POST', '/totp/enroll/confirm', { json: { code: firstCode } });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));
    assert.equal((await call('GET', '/account')).status, 401, 'the password alone is no login');
    const replayed = await call('POST', '/login/totp', { json: { code: firstCode } });
    assert.equal(replayed.status, 401, JSON.stringify(replayed.body));
    assert.equal(replayed.body.code, 'replayed');
    // The app's next code (30 s on, inside the ±1 step window).
    const right = await call('POST', '/login/totp', {
      json: { code: app.generate({ timestamp: Date.now() + 30_000 }) },
    });
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.equal(right.body.status, 'complete');
    assert.deepEqual((await call('GET', '/account')).body, { user: 'u1' });
    const codes = await call('POST', '/totp/recovery-codes', { json: {} });
    assert.equal(codes.status, 200, JSON.stringify(codes.body));
    assert.equal(codes.body.recoveryCodes.length, 10);
  },
  async secsign(call, { sandbox, base }) {
    assert.equal((await call('POST', '/secsign/start', { json: { secsignid: 'alice' } })).status, 200);
    const pending = await call('POST', '/secsign/complete');
    assert.equal(pending.status, 202, JSON.stringify(pending.body));
    assert.equal(pending.body.code, 'pending');
    sandbox.secsign.fetch('alice');
    sandbox.secsign.approve('alice');
    const done = await call('POST', '/secsign/complete');
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual(done.body, { user: 'u1' });
    const other = client(base);
    assert.equal((await other('POST', '/secsign/start', { json: { secsignid: 'alice' } })).status, 200);
    sandbox.secsign.deny('alice');
    const denied = await other('POST', '/secsign/complete');
    assert.equal(denied.status, 401, JSON.stringify(denied.body));
    assert.equal(denied.body.code, 'denied');
  },
  async 'secsign-sessionless'(call, { sandbox }) {
    const { id } = (await call('GET', '/login-id')).body;
    const { id: attacker } = (await call('GET', '/login-id')).body;
    const as = (loginId) => ({ headers: { 'x-login-id': loginId } });
    const started = await call('POST', '/secsign/start', { ...as(id), json: { secsignid: 'alice' } });
    assert.equal(started.status, 200, JSON.stringify(started.body));
    assert.equal(started.headers.get('set-cookie'), null, 'no session cookie');
    sandbox.secsign.approve('alice');
    assert.deepEqual((await call('GET', '/secsign/status', as(id))).body, { state: 'authenticated' });
    const stolen = await call('POST', '/secsign/complete', as(attacker));
    assert.equal(stolen.status, 401, JSON.stringify(stolen.body));
    assert.equal(stolen.body.code, 'no_pending_challenge');
    const done = await call('POST', '/secsign/complete', as(id));
    assert.equal(done.status, 200, JSON.stringify(done.body));
    assert.deepEqual(done.body, { user: 'u1' });
  },
  async xignin(call, { sandbox, base }) {
    // The browser: to the manager, whose page shows the QR; the phone answers; back to the app.
    const viaPhone = async (call, answer) => {
      const start = await call('GET', '/xignin/login');
      assert.equal(start.status, 302);
      const page = await fetch(start.headers.get('location'));
      const loginId = /data-login="([^"]+)"/.exec(await page.text())[1];
      answer(loginId);
      const wait = await (
        await fetch(`${sandbox.xignin.issuer}/openid/authenticate/wait?login=${loginId}`)
      ).json();
      return call('GET', `/xignin/callback${new URL(wait.redirect).search}`);
    };
    const ok = await viaPhone(call, (id) => sandbox.xignin.approve('alice', id));
    assert.equal(ok.status, 302, JSON.stringify(ok.body));
    assert.equal(ok.headers.get('location'), '/account');
    assert.deepEqual((await call('GET', '/account')).body, { user: 'u1' });
    const other = client(base);
    const denied = await viaPhone(other, (id) => sandbox.xignin.deny(id));
    assert.equal(denied.status, 302);
    assert.equal(denied.headers.get('location'), '/login');
    assert.equal((await other('GET', '/account')).status, 401);
  },
  async 'risc-step-up'(call, { sandbox, base }) {
    const riskCheck = async (call, browserId) => {
      const first = await call('POST', '/login', { headers: { authorization: basic('alice', PASSWORD) } });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const script = await call('GET', '/login/script');
      assert.match(script.body.scriptUrl, /\/risc\/script\//);
      // What the Lastwall script leaves in <input name="riscdata">.
      const riscdata = sandbox.lastwall.snapshotFor('u1', browserId);
      return call('POST', '/login/check', { json: { riscdata } });
    };
    sandbox.lastwall.setRisk('u1', 'passed');
    const passed = await riskCheck(call, 'browser-a');
    assert.equal(passed.status, 200, JSON.stringify(passed.body));
    assert.equal(passed.body.status, 'passed');
    assert.deepEqual((await call('GET', '/account')).body, { user: 'u1' });
    const other = client(base);
    sandbox.lastwall.setRisk('u1', 'failed');
    const failed = await riskCheck(other, 'browser-b');
    assert.equal(failed.status, 401, JSON.stringify(failed.body));
    assert.equal(failed.body.code, 'failed_risk');
    assert.equal((await other('GET', '/account')).status, 401);
  },
  async webauthn(call) {
    const anonymous = await call('POST', '/passkeys/register/options', { json: {} });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.body.code, 'missing_credentials');
    const login = await call('POST', '/login', { headers: { authorization: basic('alice', PASSWORD) } });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    const creation = await call('POST', '/passkeys/register/options', { json: {} });
    assert.equal(creation.status, 200, JSON.stringify(creation.body));
    assert.deepEqual(creation.body.rp, { name: 'Example', id: 'localhost' });
    assert.equal(creation.body.user.name, 'alice@example.com');
    assert.equal(creation.body.authenticatorSelection.residentKey, 'required');
    const request = await call('POST', '/passkeys/login/options', { json: {} });
    assert.equal(request.status, 200, JSON.stringify(request.body));
    assert.equal(typeof request.body.challenge, 'string');
    const forged = await call('POST', '/passkeys/login', {
      json: { credential: { id: 'AAAA', rawId: 'AAAA', type: 'public-key', response: {} } },
    });
    assert.equal(forged.status, 400, JSON.stringify(forged.body));
    assert.equal(forged.body.code, 'invalid_credentials');
  },
  async 'sms-passwordless'(call, { sandbox, base }) {
    sandbox.inbox.clear();
    const sent = await call('POST', '/passwordless/send', { json: { email: 'alice@example.com' } });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const unknown = await client(base)('POST', '/passwordless/send', {
      json: { email: 'nobody@example.com' },
    });
    assert.equal(unknown.status, 202, 'an unknown address gets the same answer');
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)[1];
    const wrong = await call('POST', '/passwordless/verify', {
      json: { code: code === '000000' ? '111111' : '000000' },
    });
    assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
    assert.equal(wrong.body.code, 'invalid_code');
    assert.equal(wrong.body.attemptsRemaining, 4);
    const right = await call('POST', '/passwordless/verify', { json: { code } });
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.deepEqual(right.body, { user: 'u1' });
  },
  async 'partial-login'(call, { sandbox }) {
    const first = await call('POST', '/login', { headers: { authorization: basic('alice', PASSWORD) } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, 'partial');
    assert.equal((await call('GET', '/account')).status, 401, 'the password alone is no login');
    sandbox.inbox.clear();
    assert.equal((await call('POST', '/login/sms/send', { json: {} })).status, 202);
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)[1];
    const wrong = await call('POST', '/login/sms', {
      json: { code: code === '000000' ? '111111' : '000000' },
    });
    assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
    const right = await call('POST', '/login/sms', { json: { code } });
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.equal(right.body.status, 'complete');
    assert.deepEqual((await call('GET', '/account')).body, { id: 'u1' });
    assert.equal((await call('POST', '/transfer', { json: {} })).status, 200);
  },
  async 'partial-login-sessionless'(call, { sandbox }) {
    const as = (id) => ({ 'x-login-id': id });
    const first = await call('POST', '/login', { headers: { authorization: basic('alice', PASSWORD) } });
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.status, 'partial');
    assert.equal(first.headers.get('set-cookie'), null, 'no session cookie');
    const id = first.headers.get('x-login-id');
    assert.match(id, /^[\w-]{43}$/);
    assert.equal((await call('POST', '/login/sms/send', { json: {} })).status, 401, 'no journey id, no code');
    sandbox.inbox.clear();
    const sent = await call('POST', '/login/sms/send', { headers: as(id), json: {} });
    assert.equal(sent.status, 202, JSON.stringify(sent.body));
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)[1];
    const wrong = await call('POST', '/login/sms', {
      headers: as(id),
      json: { code: code === '000000' ? '111111' : '000000' },
    });
    assert.equal(wrong.status, 401, JSON.stringify(wrong.body));
    assert.equal(wrong.body.code, 'invalid_code');
    const right = await call('POST', '/login/sms', { headers: as(id), json: { code } });
    assert.equal(right.status, 200, JSON.stringify(right.body));
    assert.equal(right.body.status, 'complete');
    assert.ok(!JSON.stringify(right.body).includes('passwordHash'), 'the user record leaked');
    const items = await call('GET', '/api/items', { headers: { 'x-token': right.body.token } });
    assert.equal(items.status, 200, JSON.stringify(items.body));
    assert.deepEqual(items.body, { owner: 'u1' });
    // The journey is over: its id carries nothing any more.
    assert.equal((await call('POST', '/login/sms/send', { headers: as(id), json: {} })).status, 401);
  },
};

if (kind === 'app') {
  const { app, sandbox } = loaded;
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${server.address().port}`;
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`no scenario for the app snippet ${name}`);
  await scenario(client(base), { sandbox, base });
  server.close();
}
process.stdout.write(`${name} ok\n`);
process.exit(0);

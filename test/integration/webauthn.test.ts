import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { Express, RequestHandler } from 'express';
import request from 'supertest';
import { BasicLoginStrategy, WebAuthnStrategy, type Store } from '../../src/index.js';
import { MemoryStore, RedisStore } from '../../src/exports/stores.js';
import { PartialLogin } from '../../src/exports/partial-login.js';
import {
  webauthnHandlers,
  type WebAuthnCredentialRecord,
  type WebAuthnEvent,
  type WebAuthnStrategyOptions,
} from '../../src/exports/webauthn.js';
import {
  appWithPassport,
  basicHeader,
  decidingRoute,
  jsonErrors,
  testUsers,
  type UserDirectory,
} from '../helpers/apps.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis.js';
import { SoftwareAuthenticator } from '../helpers/software-authenticator.js';

const ORIGIN = 'http://localhost:3000';
const RP_ID = 'localhost';
const PASSWORDS: Record<string, string> = {
  alice: 'correct horse battery staple',
  bob: 'pa:ss with a colon',
};

/** The app's credential table, as the callbacks see it. */
class CredentialTable {
  readonly rows = new Map<string, WebAuthnCredentialRecord>();
  callbacks() {
    return {
      findCredential: (id: string) => this.rows.get(id),
      listCredentials: (userId: string) => [...this.rows.values()].filter((row) => row.userId === userId),
      saveCredential: (credential: WebAuthnCredentialRecord) => {
        this.rows.set(credential.id, credential);
      },
      updateCredential: (update: { id: string; counter: number; backedUp: boolean }) => {
        const row = this.rows.get(update.id);
        if (row) this.rows.set(update.id, { ...row, counter: update.counter, backedUp: update.backedUp });
      },
    };
  }
}

interface Setup {
  users: UserDirectory;
  store: Store;
  table: CredentialTable;
  events: WebAuthnEvent[];
  options?: Partial<Omit<WebAuthnStrategyOptions, 'passReqToCallback'>>;
}

/** Password login, then passkey registration; passkey login as first factor and as second factor. */
function passkeyApp({ users, store, table, events, options }: Setup): Express {
  const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
  passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
  const webauthn = new WebAuthnStrategy(
    {
      rpID: RP_ID,
      rpName: 'Example',
      origins: ORIGIN,
      store,
      ...table.callbacks(),
      getUserName: (user) => (user as { username: string }).username,
      onEvent: (event) => events.push(event),
      ...options,
    },
    (userId: string) => users.findById(userId),
  );
  passport.use(webauthn);
  const passkeys = webauthnHandlers(webauthn);
  app.post('/login', passport.authenticate('basic-login') as RequestHandler, (_req, res) =>
    res.json({ ok: true }),
  );
  app.post('/passkeys/register/options', passkeys.registrationOptions);
  app.post('/passkeys/register', passkeys.register);
  app.post('/passkeys/login/options', passkeys.authenticationOptions);
  app.post('/passkeys/login', decidingRoute(passport, 'webauthn'));
  // A step-up check that keeps the session as it is (no login, so no session regeneration).
  app.post('/passkeys/confirm', (req, res, next) =>
    passport.authenticate(
      'webauthn',
      { session: false },
      (err: unknown, user: unknown, info: unknown, status: number) => {
        if (err) return next(err);
        if (!user) return res.status(status).json(info);
        res.json({ confirmed: true });
      },
    )(req, res, next),
  );
  app.use(jsonErrors);
  return app;
}

async function passwordLogin(app: Express, who = 'alice') {
  const agent = request.agent(app);
  const res = await agent.post('/login').set('Authorization', basicHeader(who, PASSWORDS[who]!));
  expect(res.status, 'password login').to.equal(200);
  return agent;
}

/** Registers a passkey on `authenticator` for `who`; answers the credential id. */
async function enroll(app: Express, authenticator: SoftwareAuthenticator, who = 'alice'): Promise<string> {
  const agent = await passwordLogin(app, who);
  const options = await agent.post('/passkeys/register/options').send({});
  expect(options.status, 'registration options').to.equal(200);
  const registered = await agent
    .post('/passkeys/register')
    .send({ credential: authenticator.create(options.body) });
  expect(registered.status, JSON.stringify(registered.body)).to.equal(201);
  return registered.body.credential.id as string;
}

function webauthnSuite(label: string, makeStore: (ctx: Mocha.Context) => Promise<Store>): void {
  describe(`WebAuthnStrategy over HTTP (${label} store)`, function () {
    let users: UserDirectory;
    let store: Store;
    let table: CredentialTable;
    let events: WebAuthnEvent[];
    let authenticator: SoftwareAuthenticator;
    const setup = (options?: Partial<Omit<WebAuthnStrategyOptions, 'passReqToCallback'>>) =>
      passkeyApp({ users, store, table, events, options });

    before(async () => {
      users = await testUsers();
    });
    beforeEach(async function () {
      store = await makeStore(this);
      table = new CredentialTable();
      events = [];
      authenticator = new SoftwareAuthenticator({ origin: ORIGIN });
    });

    it('registers a passkey after the password login (201) and hands it to saveCredential', async () => {
      const app = setup();
      const agent = await passwordLogin(app);
      const options = await agent.post('/passkeys/register/options').send({});
      expect(options.status).to.equal(200);
      expect(options.headers['cache-control']).to.equal('no-store');
      expect(options.body.rp).to.deep.equal({ name: 'Example', id: RP_ID });
      expect(options.body.user.name).to.equal('alice');
      expect(options.body.authenticatorSelection.userVerification).to.equal('preferred');
      const res = await agent
        .post('/passkeys/register')
        .send({ credential: authenticator.create(options.body) });
      expect(res.status).to.equal(201);
      expect(res.body.registered).to.equal(true);
      const row = table.rows.get(res.body.credential.id)!;
      expect(row.userId).to.equal(users.findById(row.userId)!.id);
      expect(users.findById(row.userId)!.username).to.equal('alice');
      expect(events.map((e) => e.type)).to.deep.equal(['registered']);
    });

    it('a credential id registered already (to anyone) is refused (409 already_registered), the row untouched', async () => {
      const app = setup();
      const aliceId = await enroll(app, authenticator, 'alice');
      const before = table.rows.get(aliceId);
      const bob = await passwordLogin(app, 'bob');
      const options = await bob.post('/passkeys/register/options').send({});
      const attacker = new SoftwareAuthenticator({ origin: ORIGIN });
      const res = await bob
        .post('/passkeys/register')
        .send({ credential: attacker.create(options.body, { credentialId: aliceId }) });
      expect(res.status).to.equal(409);
      expect(res.body.code).to.equal('already_registered');
      expect(table.rows.get(aliceId)).to.equal(before);
    });

    it('registration needs a logged-in user (401 missing_credentials)', async () => {
      const res = await request(setup()).post('/passkeys/register/options').send({});
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('missing_credentials');
    });

    it('excludes the user’s existing passkeys from new registrations', async () => {
      const app = setup();
      const id = await enroll(app, authenticator);
      const agent = await passwordLogin(app);
      const options = await agent.post('/passkeys/register/options').send({});
      expect(options.body.excludeCredentials.map((c: { id: string }) => c.id)).to.deep.equal([id]);
    });

    it('logs in with a passkey as the first factor (discoverable: empty allow list) and records amr', async () => {
      const app = setup();
      const id = await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      expect(options.status).to.equal(200);
      expect(options.body.allowCredentials).to.deep.equal([]);
      const res = await agent.post('/passkeys/login').send({ credential: authenticator.get(options.body) });
      expect(res.status, JSON.stringify(res.body)).to.equal(200);
      expect(res.body.user.username).to.equal('alice');
      expect(res.body.info).to.include({ method: 'webauthn', credentialId: id, userVerified: true });
      expect(res.body.info.amr).to.deep.equal(['hwk']);
      expect(table.rows.get(id)!.counter, 'updateCredential stored the new counter').to.equal(2);
      expect(events.at(-1)).to.include({ type: 'authenticated', credentialId: id });
    });

    it('as a second factor the allow list names req.user’s passkeys, and another user’s passkey is refused (unknown_credential)', async () => {
      const app = setup();
      const aliceId = await enroll(app, authenticator, 'alice');
      const bobKey = new SoftwareAuthenticator({ origin: ORIGIN });
      const bobId = await enroll(app, bobKey, 'bob');
      const agent = await passwordLogin(app, 'alice');
      const options = await agent.post('/passkeys/login/options').send({});
      expect(options.body.allowCredentials.map((c: { id: string }) => c.id)).to.deep.equal([aliceId]);
      const res = await agent
        .post('/passkeys/login')
        .send({ credential: bobKey.get(options.body, { credentialId: bobId }) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('unknown_credential');

      const again = await agent.post('/passkeys/login/options').send({});
      const ok = await agent.post('/passkeys/login').send({ credential: authenticator.get(again.body) });
      expect(ok.status).to.equal(200);
      expect(ok.body.user.username).to.equal('alice');
    });

    it('challenge replay: the same assertion a second time is refused (401 no_pending_challenge)', async () => {
      const app = setup();
      // No counter and no session regeneration in between: only single use stops the replay.
      const counterless = new SoftwareAuthenticator({ origin: ORIGIN, counterStep: 0 });
      await enroll(app, counterless);
      const agent = await passwordLogin(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const assertion = counterless.get(options.body);
      const first = await agent.post('/passkeys/confirm').send({ credential: assertion });
      expect(first.status).to.equal(200);
      const replay = await agent.post('/passkeys/confirm').send({ credential: assertion });
      expect(replay.status).to.equal(401);
      expect(replay.body.code).to.equal('no_pending_challenge');
      // After a passkey login the replay is refused as well.
      const login = request.agent(app);
      const loginOptions = await login.post('/passkeys/login/options').send({});
      const loginAssertion = counterless.get(loginOptions.body);
      expect((await login.post('/passkeys/login').send({ credential: loginAssertion })).status).to.equal(200);
      const again = await login.post('/passkeys/login').send({ credential: loginAssertion });
      expect(again.status).to.equal(401);
      expect(again.body.code).to.equal('no_pending_challenge');
    });

    it('a failed attempt uses the challenge up too (single use, right or wrong)', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const wrong = await agent.post('/passkeys/login').send({
        credential: authenticator.get(options.body, { userVerified: true, origin: 'https://evil.test' }),
      });
      expect(wrong.body.code).to.equal('origin_mismatch');
      const right = await agent.post('/passkeys/login').send({ credential: authenticator.get(options.body) });
      expect(right.status).to.equal(401);
      expect(right.body.code).to.equal('no_pending_challenge');
    });

    it('challenge of another session: an assertion over a challenge issued to another browser is refused', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const victim = request.agent(app);
      const attacker = request.agent(app);
      const victimOptions = await victim.post('/passkeys/login/options').send({});
      await attacker.post('/passkeys/login/options').send({});
      const res = await attacker
        .post('/passkeys/login')
        .send({ credential: authenticator.get(victimOptions.body) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('no_pending_challenge');
      // A browser without any session is refused the same way.
      const fresh = await request(app)
        .post('/passkeys/login')
        .send({ credential: authenticator.get(victimOptions.body) });
      expect(fresh.status).to.equal(401);
      expect(fresh.body.code).to.equal('no_pending_challenge');
    });

    it('wrong origin: a response made on another site is refused (401 origin_mismatch)', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const res = await agent
        .post('/passkeys/login')
        .send({ credential: authenticator.get(options.body, { origin: 'https://login.evil.test' }) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('origin_mismatch');
      expect(events.at(-1)).to.include({ type: 'failed', code: 'origin_mismatch' });
    });

    it('wrong origin at registration is refused too, and nothing is saved', async () => {
      const app = setup();
      const agent = await passwordLogin(app);
      const options = await agent.post('/passkeys/register/options').send({});
      const res = await agent
        .post('/passkeys/register')
        .send({ credential: authenticator.create(options.body, { origin: 'https://evil.test' }) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('origin_mismatch');
      expect(table.rows.size).to.equal(0);
    });

    it('framed by another site: a response made in a cross-origin frame is refused (401 origin_mismatch), though signed for our origin', async () => {
      const app = setup();
      await enroll(app, authenticator);
      for (const overrides of [{ crossOrigin: true }, { topOrigin: 'https://framing.evil.test' }]) {
        const agent = request.agent(app);
        const options = await agent.post('/passkeys/login/options').send({});
        const res = await agent
          .post('/passkeys/login')
          .send({ credential: authenticator.get(options.body, overrides) });
        expect(res.status, JSON.stringify(overrides)).to.equal(401);
        expect(res.body.code).to.equal('origin_mismatch');
      }
      // The same authenticator outside a frame logs in: the refusals were the frame's.
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      expect(
        (await agent.post('/passkeys/login').send({ credential: authenticator.get(options.body) })).status,
      ).to.equal(200);
    });

    it('user handle: an assertion naming another account’s user handle is refused (401 unknown_credential)', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const other = Buffer.from('another-account').toString('base64url');
      const res = await agent
        .post('/passkeys/login')
        .send({ credential: authenticator.get(options.body, { userHandle: other }) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('unknown_credential');
    });

    it('wrong RP ID: an assertion scoped to another relying party is refused (401 rp_id_mismatch)', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const res = await agent
        .post('/passkeys/login')
        .send({ credential: authenticator.get(options.body, { rpId: 'evil.test' }) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('rp_id_mismatch');
    });

    it('counter regression: a cloned authenticator’s correctly signed assertion is refused with its own code and event', async () => {
      const app = setup();
      const id = await enroll(app, authenticator);
      const clone = authenticator.clone();
      const agent = request.agent(app);
      const first = await agent.post('/passkeys/login/options').send({});
      expect(
        (await agent.post('/passkeys/login').send({ credential: authenticator.get(first.body) })).status,
      ).to.equal(200);
      // The clone still has the counter from before that login: its next value was used already.
      const other = request.agent(app);
      const options = await other.post('/passkeys/login/options').send({});
      const res = await other.post('/passkeys/login').send({ credential: clone.get(options.body) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('counter_regression');
      expect(events.at(-1)).to.deep.equal({
        type: 'counter_regression',
        userId: table.rows.get(id)!.userId,
        credentialId: id,
        storedCounter: 2,
        presentedCounter: 2,
      });
      expect(table.rows.get(id)!.counter, 'the stored counter is not moved back').to.equal(2);
    });

    it('counter regression is only reported for a valid signature: a forged low counter answers invalid_credentials', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const assertion = authenticator.get(options.body, { counter: 0 });
      assertion.response.signature = authenticator.get(options.body).response.signature;
      const res = await agent.post('/passkeys/login').send({ credential: assertion });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('invalid_credentials');
      expect(events.some((e) => e.type === 'counter_regression')).to.equal(false);
    });

    it('authenticators without a counter (always 0, as synced passkeys) log in again and again', async () => {
      const app = setup();
      const synced = new SoftwareAuthenticator({ origin: ORIGIN, counterStep: 0, backedUp: true });
      await enroll(app, synced);
      for (let i = 0; i < 2; i++) {
        const agent = request.agent(app);
        const options = await agent.post('/passkeys/login/options').send({});
        const res = await agent.post('/passkeys/login').send({ credential: synced.get(options.body) });
        expect(res.status).to.equal(200);
        expect(res.body.info.amr).to.deep.equal(['swk']);
      }
    });

    it('user verification required when configured: a response without UV is refused, at login and at registration', async () => {
      const app = setup({ userVerification: 'required' });
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      expect(options.body.userVerification).to.equal('required');
      const res = await agent
        .post('/passkeys/login')
        .send({ credential: authenticator.get(options.body, { userVerified: false }) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('user_verification_required');

      const owner = await passwordLogin(app);
      const reg = await owner.post('/passkeys/register/options').send({});
      const refused = await owner.post('/passkeys/register').send({
        credential: new SoftwareAuthenticator({ origin: ORIGIN, userVerified: false }).create(reg.body),
      });
      expect(refused.status).to.equal(401);
      expect(refused.body.code).to.equal('user_verification_required');
    });

    it('with the default userVerification (preferred) a response without UV logs in', async () => {
      const app = setup();
      const noUv = new SoftwareAuthenticator({ origin: ORIGIN, userVerified: false });
      await enroll(app, noUv);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const res = await agent.post('/passkeys/login').send({ credential: noUv.get(options.body) });
      expect(res.status).to.equal(200);
      expect(res.body.info.userVerified).to.equal(false);
    });

    it('unknown credential: a passkey the app does not know is refused (401 unknown_credential)', async () => {
      const app = setup();
      const stranger = new SoftwareAuthenticator({ origin: ORIGIN });
      const otherApp = setup();
      await enroll(otherApp, stranger);
      table.rows.clear();
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const res = await agent.post('/passkeys/login').send({ credential: stranger.get(options.body) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('unknown_credential');
    });

    it('a tampered signature is refused (401 invalid_credentials); a malformed body 400', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const assertion = authenticator.get(options.body);
      const sig = Buffer.from(assertion.response.signature, 'base64url');
      sig.writeUInt8(sig.readUInt8(sig.length - 1) ^ 1, sig.length - 1);
      assertion.response.signature = sig.toString('base64url');
      const res = await agent.post('/passkeys/login').send({ credential: assertion });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('invalid_credentials');

      const missing = await agent.post('/passkeys/login').send({});
      expect(missing.status).to.equal(400);
      expect(missing.body.code).to.equal('missing_credentials');
      const garbled = await agent
        .post('/passkeys/login')
        .send({ credential: { id: 'x', type: 'public-key' } });
      expect(garbled.status).to.equal(400);
      expect(garbled.body.code).to.equal('invalid_credentials');
    });

    it('an expired challenge is refused (401 expired)', async () => {
      const app = setup({ challengeTtlSeconds: 1 });
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      expect(options.body.timeout).to.equal(1000);
      await sleep(1100);
      const res = await agent.post('/passkeys/login').send({ credential: authenticator.get(options.body) });
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('expired');
    });

    it('20 parallel submissions of one assertion: exactly one logs in', async () => {
      const app = setup();
      await enroll(app, authenticator);
      const agent = request.agent(app);
      const options = await agent.post('/passkeys/login/options').send({});
      const assertion = authenticator.get(options.body);
      const results = await Promise.all(
        Array.from({ length: 20 }, () => agent.post('/passkeys/login').send({ credential: assertion })),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).to.have.length(1);
      expect(
        results.filter((r) => r.status === 401 && r.body.code === 'no_pending_challenge'),
      ).to.have.length(19);
    });

    it('login options before any login are limited per client (429 rate_limited with Retry-After)', async () => {
      const app = setup({ startLimit: { points: 2, durationSec: 60 } });
      for (let i = 0; i < 2; i++)
        expect((await request(app).post('/passkeys/login/options').send({})).status).to.equal(200);
      const refused = await request(app).post('/passkeys/login/options').send({});
      expect(refused.status).to.equal(429);
      expect(refused.body.code).to.equal('rate_limited');
      expect(Number(refused.headers['retry-after'])).to.be.greaterThan(0);
      // A logged-in user's second-factor options are not counted against the address.
      const agent = await passwordLogin(app);
      expect((await agent.post('/passkeys/login/options').send({})).status).to.equal(200);
    });

    it('another site’s page cannot ask for options (403 cross_origin)', async () => {
      const res = await request(setup())
        .post('/passkeys/login/options')
        .set('Origin', 'https://evil.test')
        .set('Sec-Fetch-Site', 'cross-site')
        .send({});
      expect(res.status).to.equal(403);
      expect(res.body.code).to.equal('cross_origin');
    });
  });
}

webauthnSuite('memory', async () => new MemoryStore());
webauthnSuite('Redis', async (ctx) => {
  const client = await redisOrSkip(ctx);
  after(async () => {
    if (client.isOpen) await client.close();
  });
  return new RedisStore({ client, prefix: uniquePrefix('webauthn') });
});

describe('WebAuthnStrategy in a partial login and with its verify function', () => {
  let users: UserDirectory;
  before(async () => {
    users = await testUsers();
  });

  it('password, then a passkey as the second factor of a PartialLogin: the journey records the factor webauthn', async () => {
    const table = new CredentialTable();
    const store = new MemoryStore();
    const authenticator = new SoftwareAuthenticator({ origin: ORIGIN });
    // Enrollment on a plain app sharing the credential table.
    await enroll(passkeyApp({ users, store, table, events: [] }), authenticator);

    const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
    passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
    const webauthn = new WebAuthnStrategy(
      { rpID: RP_ID, rpName: 'Example', origins: ORIGIN, store, ...table.callbacks() },
      (userId: string) => users.findById(userId),
    );
    passport.use(webauthn);
    const login = new PartialLogin({ passport, name: 'mfa', requiredFactors: [['basic-login', 'webauthn']] });
    app.post('/login', login.step('basic-login'));
    app.post(
      '/passkeys/login/options',
      login.pendingUser(),
      webauthnHandlers(webauthn).authenticationOptions,
    );
    app.post('/passkeys/login', login.step('webauthn'));
    app.get('/me', login.requireFactors(), (req, res) => res.json({ user: req.user }));
    app.use(jsonErrors);

    const agent = request.agent(app);
    const first = await agent.post('/login').set('Authorization', basicHeader('alice', PASSWORDS.alice!));
    expect(first.body).to.include({ status: 'partial' });
    expect((await agent.get('/me')).status, 'the password alone is no login').to.equal(401);
    const options = await agent.post('/passkeys/login/options').send({});
    expect(options.body.allowCredentials, 'the pending user’s passkeys').to.have.length(1);
    const res = await agent.post('/passkeys/login').send({ credential: authenticator.get(options.body) });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body).to.include({ status: 'complete' });
    expect(res.body.factors).to.deep.equal(['basic-login', 'webauthn']);
    const me = await agent.get('/me');
    expect(me.status).to.equal(200);
    expect(me.body.user.username).to.equal('alice');
  });

  it('verify answering false refuses the login (401 unknown_credential); passReqToCallback hands it req', async () => {
    const table = new CredentialTable();
    const store = new MemoryStore();
    const authenticator = new SoftwareAuthenticator({ origin: ORIGIN });
    await enroll(passkeyApp({ users, store, table, events: [] }), authenticator);
    const seen: unknown[] = [];
    const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
    const options = { rpID: RP_ID, rpName: 'Example', origins: ORIGIN, store, ...table.callbacks() };
    const refusing = new WebAuthnStrategy({ ...options, name: 'refusing' }, () => false);
    passport.use(refusing);
    passport.use(
      new WebAuthnStrategy(
        { ...options, name: 'with-req', passReqToCallback: true },
        (req, userId, credential, done) => {
          seen.push([typeof req.headers, userId, credential.id]);
          done(null, users.findById(userId));
        },
      ),
    );
    app.post('/options', webauthnHandlers(refusing).authenticationOptions);
    app.post('/refusing', decidingRoute(passport, 'refusing'));
    app.post('/with-req', decidingRoute(passport, 'with-req'));
    app.use(jsonErrors);

    const agent = request.agent(app);
    let challenge = await agent.post('/options').send({});
    const refused = await agent.post('/refusing').send({ credential: authenticator.get(challenge.body) });
    expect(refused.status).to.equal(401);
    expect(refused.body.code).to.equal('unknown_credential');
    // Both strategies share the store and the session binding: options from one serve the other.
    challenge = await agent.post('/options').send({});
    const ok = await agent.post('/with-req').send({ credential: authenticator.get(challenge.body) });
    expect(ok.status).to.equal(200);
    expect(seen).to.deep.equal([['object', users.findById(ok.body.user.id)!.id, [...table.rows.keys()][0]]]);
  });
});

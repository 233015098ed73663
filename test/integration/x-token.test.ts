import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Express, Request as ExpressRequest, RequestHandler } from 'express';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT, UnsecuredJWT } from 'jose';
import type { RedisClientType } from 'redis';
import sinon from 'sinon';
import request from 'supertest';
import { BasicLoginStrategy, XTokenStrategy, type Store } from '../../src/index.js';
import { MemoryStore, RedisStore } from '../../src/exports/stores.js';
import {
  xTokenHandlers,
  type XTokenEvent,
  type XTokenPayload,
  type XTokenStrategyOptions,
} from '../../src/exports/x-token.js';
import { MapStore } from '../helpers/custom-store.js';
import { appWithPassport, basicHeader, jsonErrors, testUsers, type UserDirectory } from '../helpers/apps.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis.js';
import { decodeXToken, mintXToken } from '../helpers/x-token.js';

const ALICE = basicHeader('alice', 'correct horse battery staple');
const secret = randomBytes(32);

/** The alt-seven server contract: login, refresh, logout and a secured API. */
function altSevenApp(
  users: UserDirectory,
  store: Store,
  options: Partial<Omit<XTokenStrategyOptions, 'passReqToCallback'>> = {},
): Express {
  const { app, passport } = appWithPassport();
  const xToken = new XTokenStrategy(
    {
      secret,
      store,
      ...options,
    },
    async (payload: XTokenPayload) => users.findById(payload.sub) ?? false,
  );
  passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
  passport.use(xToken);
  const auth = xTokenHandlers(xToken, {
    passport,
    publicUser: (user) => ({ id: (user as { id: string }).id, name: (user as { name: string }).name }),
  });
  app.post('/api/auth/login', auth.login);
  app.get('/api/auth/refresh', auth.refresh);
  app.post('/api/auth/logout', auth.logout);
  app.post('/api/auth/logout-everywhere', auth.logoutEverywhere);
  app.locals.xToken = xToken;
  app.get('/api/profile', auth.protect, (req, res) => res.json({ user: req.user, authInfo: req.authInfo }));
  // The same check with Passport's own default answers.
  app.get('/api/plain', passport.authenticate('x-token', { session: false }) as RequestHandler, (req, res) =>
    res.json({ user: req.user }),
  );
  app.use(jsonErrors);
  return app;
}

async function login(app: Express, authorization = ALICE): Promise<string> {
  const res = await request(app).post('/api/auth/login').set('Authorization', authorization);
  expect(res.status).to.equal(200);
  return res.headers['x-token'] as string;
}

function xTokenSuite(label: string, makeStore: (ctx: Mocha.Context) => Promise<Store>): void {
  describe(`XTokenStrategy over HTTP (${label} store)`, function () {
    let users: UserDirectory;
    let store: Store;
    let app: Express;

    before(async function () {
      users = await testUsers();
      store = await makeStore(this);
    });
    beforeEach(() => {
      app = altSevenApp(users, store);
    });

    it('login answers the X-Token header and { user, success: true }, never the password', async () => {
      const res = await request(app).post('/api/auth/login').set('Authorization', ALICE);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ user: { id: 'u1', name: 'Alice Example' }, success: true });
      expect(res.headers['x-token']).to.match(/^xt1\.[\w-]*\.[\w-]+\.[\w-]{43}$/);
      expect(res.headers['access-control-expose-headers']).to.equal('X-Token');
      expect(res.headers['cache-control']).to.equal('no-store');
    });

    it('login failure answers { success: false, error, code } with 401, and 400 for malformed credentials', async () => {
      const wrong = await request(app)
        .post('/api/auth/login')
        .set('Authorization', basicHeader('alice', 'nope'));
      expect(wrong.status).to.equal(401);
      expect(wrong.body).to.deep.equal({
        success: false,
        error: 'Invalid username or password.',
        code: 'invalid_credentials',
      });
      expect(wrong.headers).to.not.have.property('x-token');
      // No Basic challenge: it would make browsers open their own password dialog over the page.
      expect(wrong.headers).to.not.have.property('www-authenticate');
      const malformed = await request(app).post('/api/auth/login').set('Authorization', 'Basic %%%');
      expect(malformed.status).to.equal(400);
      expect(malformed.body).to.include({ success: false, code: 'missing_credentials' });
    });

    it('a secured route accepts the token, loads the user, and answers a NEW token (sliding)', async () => {
      const token = await login(app);
      const res = await request(app).get('/api/profile').set('X-Token', token);
      expect(res.status).to.equal(200);
      expect(res.body.user).to.include({ id: 'u1', username: 'alice' });
      expect(res.body.authInfo).to.include({ method: 'x-token', token: res.headers['x-token'] });
      const renewed = res.headers['x-token'] as string;
      expect(renewed).to.be.a('string').and.not.equal(token);
      expect(decodeXToken(renewed).sid).to.equal(decodeXToken(token).sid);
      expect((await request(app).get('/api/profile').set('X-Token', renewed)).status).to.equal(200);
    });

    it('accepts Authorization: Bearer as alt-seven clients with another tokenType send it', async () => {
      const token = await login(app);
      const res = await request(app).get('/api/profile').set('Authorization', `Bearer ${token}`);
      expect(res.status).to.equal(200);
    });

    it('a secured route without a valid token answers 401 { "error": "Not authorized." }', async () => {
      const res = await request(app).get('/api/profile');
      expect(res.status).to.equal(401);
      expect(res.body).to.deep.equal({ error: 'Not authorized.', code: 'missing_credentials' });
      expect(res.headers).to.not.have.property('x-token');
    });

    it('with plain passport.authenticate it answers 401 and a Bearer challenge', async () => {
      const res = await request(app).get('/api/plain').set('X-Token', 'garbage');
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal('Bearer realm="x-token", error="invalid_token"');
    });

    it('B1: a random or forged token is refused', async () => {
      const token = await login(app);
      const [prefix, kid, , mac] = token.split('.');
      const claims = decodeXToken(token);
      const forgedBody = Buffer.from(
        JSON.stringify(['u2', claims.sid, claims.auth_time, claims.iat, claims.exp, claims.jti]),
      ).toString('base64url');
      for (const candidate of [
        randomBytes(32).toString('base64url'),
        `${prefix}.${kid}.${forgedBody}.${mac}`,
        token.slice(0, -1),
      ]) {
        const res = await request(app).get('/api/profile').set('X-Token', candidate);
        expect(res.status).to.equal(401);
        expect(res.body).to.deep.equal({ error: 'Not authorized.', code: 'invalid_token' });
      }
    });

    it('B2: every login starts a new token family, whatever token the client already holds', async () => {
      const planted = await login(app);
      const res = await request(app)
        .post('/api/auth/login')
        .set('Authorization', ALICE)
        .set('X-Token', planted);
      const fresh = res.headers['x-token'] as string;
      expect(decodeXToken(fresh).sid).to.not.equal(decodeXToken(planted).sid);
      // Logging out the new session does not end the planted one, and vice versa: they are separate.
      await request(app).post('/api/auth/logout').set('X-Token', fresh);
      expect((await request(app).get('/api/profile').set('X-Token', fresh)).status).to.equal(401);
      expect((await request(app).get('/api/profile').set('X-Token', planted)).status).to.equal(200);
    });

    it('B4: after logout the token, and every token renewed from it, is refused', async () => {
      const token = await login(app);
      const renewed = (await request(app).get('/api/profile').set('X-Token', token)).headers[
        'x-token'
      ] as string;
      const logout = await request(app).post('/api/auth/logout').set('X-Token', renewed);
      expect(logout.status).to.equal(200);
      expect(logout.body).to.deep.equal({ success: true });
      expect(logout.headers).to.not.have.property('x-token');
      for (const old of [token, renewed]) {
        expect((await request(app).get('/api/profile').set('X-Token', old)).status).to.equal(401);
      }
      expect((await request(app).get('/api/auth/refresh').set('X-Token', renewed)).status).to.equal(401);
    });

    it('B5: a token in the query string is not accepted', async () => {
      const token = await login(app);
      for (const name of ['x-token', 'X-Token', 'token', 'access_token']) {
        const res = await request(app)
          .get('/api/profile')
          .query({ [name]: token });
        expect(res.status, name).to.equal(401);
      }
    });

    it('B9: alg "none", an expired token, a token MAC\'d with the wrong key and a JWT signed with the secret are refused', async () => {
      const token = await login(app);
      const claims = decodeXToken(token);
      const base = { sid: claims.sid, auth_time: claims.auth_time };
      const none = new UnsecuredJWT(base)
        .setSubject('u1')
        .setIssuer('passport-factors')
        .setIssuedAt()
        .setExpirationTime('5m')
        .encode();
      const now = Math.floor(Date.now() / 1000);
      // Each differs from a token the family would accept in one point only.
      const wrongKey = mintXToken(['u1', claims.sid, claims.auth_time, claims.iat, claims.exp, claims.jti], {
        secret: randomBytes(32),
      });
      const expired = mintXToken(['u1', claims.sid, now - 120, now - 120, now - 60, claims.jti], { secret });
      const oldFormat = await new SignJWT(base)
        .setProtectedHeader({ alg: 'HS256', typ: 'xtoken+jwt' })
        .setJti(claims.jti)
        .setSubject('u1')
        .setIssuer('passport-factors')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(secret);
      for (const [what, candidate] of [
        ['none', none],
        ['wrong key', wrongKey],
        ['expired', expired],
        ['a JWT signed with the secret', oldFormat],
      ]) {
        const res = await request(app).get('/api/profile').set('X-Token', candidate!);
        expect(res.status, what).to.equal(401);
        expect(res.body.code, what).to.equal('invalid_token');
      }
    });

    it('refresh answers { success: true, authenticated: true } with a new token, and 401 without one', async () => {
      const token = await login(app);
      const res = await request(app).get('/api/auth/refresh').set('X-Token', token);
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({ success: true, authenticated: true });
      expect(res.headers['x-token']).to.be.a('string').and.not.equal(token);
      const none = await request(app).get('/api/auth/refresh');
      expect(none.status).to.equal(401);
      expect(none.body).to.include({ success: false, authenticated: false, error: 'Not authorized.' });
    });

    describe('B11: rotation with reuse detection', () => {
      const GRACE_SEC = 0.4;
      let events: XTokenEvent[];
      let rotating: Express;
      beforeEach(() => {
        events = [];
        rotating = altSevenApp(users, store, {
          reuseGraceSec: GRACE_SEC,
          onEvent: (event) => events.push(event),
        });
      });
      const get = (token: string) => request(rotating).get('/api/profile').set('X-Token', token);

      it('B11: a stolen token used after the owner renewed it (after the grace) is refused, and so is the owner’s current token; an audit event says so', async () => {
        const stolen = await login(rotating);
        const renewed = await get(stolen);
        expect(renewed.status).to.equal(200);
        const owner = renewed.headers['x-token'] as string;
        await sleep(GRACE_SEC * 1000 + 150);
        const thief = await get(stolen);
        expect(thief.status).to.equal(401);
        expect(thief.body).to.deep.equal({ error: 'Not authorized.', code: 'invalid_token' });
        expect(thief.headers).to.not.have.property('x-token');
        // The whole family is revoked: the legitimate holder's current token stops working too.
        expect((await get(owner)).status).to.equal(401);
        expect(events).to.deep.equal([
          { type: 'reuse_detected', userId: 'u1', familyId: decodeXToken(stolen).sid },
        ]);
        expect(JSON.stringify(events)).to.not.include(stolen).and.not.include(owner);
      });

      it('B11: a predecessor cannot mint tokens: before the grace ends it only gets the family’s current token, after it nothing', async () => {
        const first = await login(rotating);
        const owner = (await get(first)).headers['x-token'] as string;
        // Within the grace the old token is answered with the current token (same jti), not a new branch.
        const inGrace = await get(first);
        expect(inGrace.status).to.equal(200);
        expect(decodeXToken(inGrace.headers['x-token'] as string).jti).to.equal(decodeXToken(owner).jti);
        await sleep(GRACE_SEC * 1000 + 150);
        expect((await get(first)).status).to.equal(401);
        expect((await get(inGrace.headers['x-token'] as string)).status).to.equal(401);
      });

      it('B11: parallel requests of one client with the same token all work (within the grace), and the client goes on with any answer', async () => {
        const token = await login(rotating);
        const answers = await Promise.all(Array.from({ length: 8 }, () => get(token)));
        expect(answers.map((a) => a.status)).to.deep.equal(Array(8).fill(200));
        const jtis = new Set(answers.map((a) => decodeXToken(a.headers['x-token'] as string).jti));
        expect(jtis.size, 'all answers carry the one current token').to.equal(1);
        await sleep(GRACE_SEC * 1000 + 150);
        const next = await get(answers[5]!.headers['x-token'] as string);
        expect(next.status).to.equal(200);
        expect((await get(next.headers['x-token'] as string)).status).to.equal(200);
        expect(events).to.deep.equal([]);
      });
    });

    describe('B12: revoking every family of a user', () => {
      it('B12: revokeUser() ends every family of the user in one call; other users keep theirs; a login afterwards works; an audit event says so', async () => {
        const events: XTokenEvent[] = [];
        const app2 = altSevenApp(users, store, { onEvent: (event) => events.push(event) });
        const xToken = app2.locals.xToken as XTokenStrategy;
        // The suite's store holds alice's families from earlier tests: start from none.
        await xToken.tokens.revokeUser('u1');
        events.length = 0;
        const BOB = basicHeader('bob', 'pa:ss with a colon');
        const laptop = await login(app2);
        const phone = await login(app2);
        const bob = await login(app2, BOB);
        const phoneRenewed = (await request(app2).get('/api/profile').set('X-Token', phone)).headers[
          'x-token'
        ] as string;
        expect(await xToken.tokens.revokeUser('u1')).to.equal(2);
        for (const token of [laptop, phone, phoneRenewed])
          expect((await request(app2).get('/api/profile').set('X-Token', token)).status).to.equal(401);
        expect((await request(app2).get('/api/profile').set('X-Token', bob)).status).to.equal(200);
        const fresh = await login(app2);
        expect((await request(app2).get('/api/profile').set('X-Token', fresh)).status).to.equal(200);
        expect(events).to.deep.equal([{ type: 'user_revoked', userId: 'u1', families: 2 }]);
      });

      it('B12: POST /api/auth/logout-everywhere (logoutEverywhere) ends every device’s session of the caller', async () => {
        await (app.locals.xToken as XTokenStrategy).tokens.revokeUser('u1');
        const laptop = await login(app);
        const phone = await login(app);
        const out = await request(app).post('/api/auth/logout-everywhere').set('X-Token', phone);
        expect(out.status).to.equal(200);
        expect(out.body).to.deep.equal({ success: true, families: 2 });
        expect(out.headers).to.not.have.property('x-token');
        for (const token of [laptop, phone])
          expect((await request(app).get('/api/profile').set('X-Token', token)).status).to.equal(401);
      });
    });

    it('a token whose user no longer exists is refused, and no renewed token leaves', async () => {
      const { app: other, passport } = appWithPassport();
      const xToken = new XTokenStrategy({ secret, store }, () => false);
      passport.use(xToken);
      other.get('/api/profile', xTokenHandlers(xToken, { passport }).protect, (_req, res) => res.json({}));
      const token = await login(app);
      const res = await request(other).get('/api/profile').set('X-Token', token);
      expect(res.status).to.equal(401);
      // The renewal is signed while the user is looked up: it must never reach the response.
      expect(res.headers['x-token'], 'no renewed token').to.equal(undefined);
    });
  });
}

xTokenSuite('memory', async () => new MemoryStore());
// A custom store in one file, with the primitives only: rotation, reuse detection and single use
// rest on the library's compare-and-set fallbacks.
xTokenSuite('custom one-file', async () => new MapStore());
xTokenSuite('Redis', async (ctx) => {
  const client = await redisOrSkip(ctx);
  after(async () => {
    if (client.isOpen) await client.close();
  });
  return new RedisStore({ client, prefix: uniquePrefix('x-token') });
});

describe('XTokenStrategy lifetimes over HTTP (B3)', () => {
  let clock: sinon.SinonFakeTimers;
  afterEach(() => clock?.restore());

  it('B3: an active client is logged out at the absolute lifetime; an idle one at the idle lifetime', async () => {
    clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
    const users = await testUsers();
    const app = altSevenApp(users, new MemoryStore(), { idleTtlSec: 900, absoluteTtlSec: 3600 });
    let token = await login(app);
    const idleToken = token;
    // Active: a request every 10 minutes keeps renewing...
    for (let minute = 10; minute <= 50; minute += 10) {
      clock.tick(600_000);
      const res = await request(app).get('/api/profile').set('X-Token', token);
      expect(res.status, `minute ${minute}`).to.equal(200);
      token = res.headers['x-token'] as string;
    }
    // ...the token left alone since login has idled out long ago...
    expect((await request(app).get('/api/profile').set('X-Token', idleToken)).status).to.equal(401);
    // ...and past one hour even the freshest token is refused.
    clock.tick(600_000 + 10_000);
    const late = await request(app).get('/api/profile').set('X-Token', token);
    expect(late.status).to.equal(401);
    expect(late.body).to.deep.equal({ error: 'Not authorized.', code: 'invalid_token' });
  });
});

describe('XTokenStrategy across two app instances on one Redis', function () {
  let client: RedisClientType;
  before(async function () {
    client = await redisOrSkip(this);
  });
  after(async () => {
    if (client?.isOpen) await client.close();
  });

  it('a token from instance A works on B, and logout on B ends it on A', async () => {
    const users = await testUsers();
    const prefix = uniquePrefix('x-token-multi');
    const a = altSevenApp(users, new RedisStore({ client, prefix }));
    const b = altSevenApp(users, new RedisStore({ client, prefix }));
    const token = await login(a);
    const onB = await request(b).get('/api/profile').set('X-Token', token);
    expect(onB.status).to.equal(200);
    await request(b)
      .post('/api/auth/logout')
      .set('X-Token', onB.headers['x-token'] as string);
    expect((await request(a).get('/api/profile').set('X-Token', token)).status).to.equal(401);
  });

  it('B11: renewed on A, the stolen predecessor replayed on B after the grace revokes the family on both', async () => {
    const users = await testUsers();
    const prefix = uniquePrefix('x-token-b11');
    const events: XTokenEvent[] = [];
    const options = { reuseGraceSec: 0.3, onEvent: (event: XTokenEvent) => events.push(event) };
    const a = altSevenApp(users, new RedisStore({ client, prefix }), options);
    const b = altSevenApp(users, new RedisStore({ client, prefix }), options);
    const stolen = await login(a);
    const owner = (await request(a).get('/api/profile').set('X-Token', stolen)).headers['x-token'] as string;
    await sleep(450);
    expect((await request(b).get('/api/profile').set('X-Token', stolen)).status).to.equal(401);
    expect((await request(a).get('/api/profile').set('X-Token', owner)).status).to.equal(401);
    expect(events.map((event) => event.type)).to.deep.equal(['reuse_detected']);
  });

  it('B12: revokeUser() on A ends the user’s families used on B', async () => {
    const users = await testUsers();
    const prefix = uniquePrefix('x-token-b12');
    const a = altSevenApp(users, new RedisStore({ client, prefix }));
    const b = altSevenApp(users, new RedisStore({ client, prefix }));
    const onA = await login(a);
    const onB = await login(b);
    expect(await (a.locals.xToken as XTokenStrategy).tokens.revokeUser('u1')).to.equal(2);
    for (const [app, token] of [
      [b, onA],
      [b, onB],
      [a, onB],
    ] as const)
      expect((await request(app).get('/api/profile').set('X-Token', token)).status).to.equal(401);
    const fresh = await login(b);
    expect((await request(a).get('/api/profile').set('X-Token', fresh)).status).to.equal(200);
  });
});

describe('XTokenStrategy verify styles and faults', () => {
  it('passReqToCallback puts req first; a verify that throws answers 500, not a login', async () => {
    const store = new MemoryStore();
    const { app, passport } = appWithPassport();
    const xToken = new XTokenStrategy(
      { secret, store, passReqToCallback: true },
      async (req: ExpressRequest, payload) => {
        if (req.get('x-explode')) throw new Error('db down');
        return { id: payload.sub, via: req.get('x-via') };
      },
    );
    passport.use(xToken);
    app.get('/me', xTokenHandlers(xToken, { passport }).protect, (req, res) => res.json(req.user));
    app.use(jsonErrors);
    const { token } = await xToken.tokens.issue('u9');
    const ok = await request(app).get('/me').set('X-Token', token).set('x-via', 'req');
    expect(ok.body).to.deep.equal({ id: 'u9', via: 'req' });
    const boom = await request(app).get('/me').set('X-Token', token).set('x-explode', '1');
    expect(boom.status).to.equal(500);
    expect(boom.headers).to.not.have.property('x-token');
  });

  it('a store that fails fails the request closed (500), never logs anyone in', async () => {
    const { app, passport } = appWithPassport();
    const store = new MemoryStore();
    const xToken = new XTokenStrategy({ secret, store }, (payload: XTokenPayload) => ({ id: payload.sub }));
    passport.use(xToken);
    app.get('/me', xTokenHandlers(xToken, { passport }).protect, (req, res) => res.json(req.user));
    app.use(jsonErrors);
    const { token } = await xToken.tokens.issue('u1');
    sinon.stub(store, 'roll').rejects(new Error('redis down'));
    const res = await request(app).get('/me').set('X-Token', token);
    expect(res.status).to.equal(500);
  });
});

import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Express, RequestHandler } from 'express';
import { SignJWT, UnsecuredJWT, decodeJwt } from 'jose';
import type { RedisClientType } from 'redis';
import sinon from 'sinon';
import request from 'supertest';
import {
  BasicLoginStrategy,
  MemoryStore,
  RedisStore,
  XTokenStrategy,
  type Store,
  type XTokenPayload,
  type XTokenStrategyOptions,
} from '../../src/index.js';
import { appWithPassport, basicHeader, jsonErrors, testUsers, type UserDirectory } from '../helpers/apps.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis.js';

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
      publicUser: (user) => ({ id: (user as { id: string }).id, name: (user as { name: string }).name }),
      ...options,
    },
    async (payload: XTokenPayload) => users.findById(payload.sub) ?? false,
  );
  passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
  passport.use(xToken);
  app.post('/api/auth/login', xToken.login(passport));
  app.get('/api/auth/refresh', xToken.refresh(passport));
  app.post('/api/auth/logout', xToken.logout(passport));
  app.get('/api/profile', xToken.protect(passport), (req, res) =>
    res.json({ user: req.user, authInfo: req.authInfo }),
  );
  // The same check with Passport's own default answers.
  app.get('/api/plain', passport.authenticate('x-token', { session: false }) as RequestHandler, (req, res) =>
    res.json({ user: req.user }),
  );
  app.use(jsonErrors);
  return app;
}

async function login(app: Express): Promise<string> {
  const res = await request(app).post('/api/auth/login').set('Authorization', ALICE);
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
      expect(res.headers['x-token']).to.match(/^[\w-]+\.[\w-]+\.[\w-]+$/);
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
      expect(decodeJwt(renewed).sid).to.equal(decodeJwt(token).sid);
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
      const [header, , signature] = token.split('.');
      const forgedBody = Buffer.from(JSON.stringify({ ...decodeJwt(token), sub: 'u2' })).toString(
        'base64url',
      );
      for (const candidate of [
        randomBytes(32).toString('base64url'),
        `${header}.${forgedBody}.${signature}`,
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
      expect(decodeJwt(fresh).sid).to.not.equal(decodeJwt(planted).sid);
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

    it('B9: alg "none", an expired token and a token signed with the wrong key are refused', async () => {
      const token = await login(app);
      const claims = decodeJwt(token);
      const base = { sid: claims.sid, auth_time: claims.auth_time };
      const none = new UnsecuredJWT(base)
        .setSubject('u1')
        .setIssuer('passport-factors')
        .setIssuedAt()
        .setExpirationTime('5m')
        .encode();
      const wrongKey = await new SignJWT(base)
        .setProtectedHeader({ alg: 'HS256', typ: 'xtoken+jwt' })
        .setSubject('u1')
        .setIssuer('passport-factors')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(randomBytes(32));
      const expired = await new SignJWT(base)
        .setProtectedHeader({ alg: 'HS256', typ: 'xtoken+jwt' })
        .setSubject('u1')
        .setIssuer('passport-factors')
        .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
        .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
        .sign(secret);
      for (const [what, candidate] of [
        ['none', none],
        ['wrong key', wrongKey],
        ['expired', expired],
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

    it('a token whose user no longer exists is refused, and no renewed token leaves', async () => {
      const { app: other, passport } = appWithPassport();
      const xToken = new XTokenStrategy({ secret, store }, () => false);
      passport.use(xToken);
      other.get('/api/profile', xToken.protect(passport), (_req, res) => res.json({}));
      const token = await login(app);
      const res = await request(other).get('/api/profile').set('X-Token', token);
      expect(res.status).to.equal(401);
      // The renewal is signed while the user is looked up: it must never reach the response.
      expect(res.headers['x-token'], 'no renewed token').to.equal(undefined);
    });
  });
}

xTokenSuite('memory', async () => new MemoryStore());
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
});

describe('XTokenStrategy verify styles and faults', () => {
  it('passReqToCallback puts req first; a verify that throws answers 500, not a login', async () => {
    const store = new MemoryStore();
    const { app, passport } = appWithPassport();
    const xToken = new XTokenStrategy({ secret, store, passReqToCallback: true }, async (req, payload) => {
      if (req.get('x-explode')) throw new Error('db down');
      return { id: payload.sub, via: req.get('x-via') };
    });
    passport.use(xToken);
    app.get('/me', xToken.protect(passport), (req, res) => res.json(req.user));
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
    app.get('/me', xToken.protect(passport), (req, res) => res.json(req.user));
    app.use(jsonErrors);
    const { token } = await xToken.tokens.issue('u1');
    sinon.stub(store, 'get').rejects(new Error('redis down'));
    const res = await request(app).get('/me').set('X-Token', token);
    expect(res.status).to.equal(500);
  });
});

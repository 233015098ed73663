import { expect } from 'chai';
import type { Express, Request as ExpressRequest, RequestHandler } from 'express';
import type { RedisClientType } from 'redis';
import request from 'supertest';
import { BasicLoginStrategy, type VerifyDone } from '../../src/index.js';
import { MemoryStore, RedisStore } from '../../src/exports/stores.js';
import { type BasicLoginAuthenticateOptions, type BasicLoginOptions } from '../../src/exports/basic-login.js';
import { appWithPassport, basicHeader, jsonErrors, testUsers } from '../helpers/apps.js';
import { redisOrSkip, uniquePrefix } from '../helpers/redis.js';

const ALICE_PASSWORD = 'correct horse battery staple';

/** An app whose /login runs `basic-login` with the example app's user directory. */
async function loginApp(
  options: BasicLoginOptions & { passReqToCallback?: false } = {},
  authOptions: Record<string, unknown> = { session: false },
) {
  const users = await testUsers();
  const { app, passport } = appWithPassport();
  passport.use(
    new BasicLoginStrategy(options, (username: string, password: string) =>
      users.checkPassword(username, password),
    ),
  );
  app.get('/login', passport.authenticate('basic-login', authOptions) as RequestHandler, (req, res) => {
    res.json({ user: req.user });
  });
  app.use(jsonErrors);
  return app;
}

/** An app whose /login answers what a custom callback receives: `{ user, info, status }`, with that status. */
function challengeApp(strategy: BasicLoginStrategy) {
  const { app, passport } = appWithPassport();
  passport.use(strategy);
  app.get('/login', (req, res, next) =>
    passport.authenticate(
      'basic-login',
      { session: false },
      (err: unknown, user: unknown, info: unknown, status: unknown) => {
        if (err) return next(err);
        res.status(typeof status === 'number' ? status : 200).json({ user, info, status });
      },
    )(req, res, next),
  );
  return app;
}

describe('BasicLoginStrategy over HTTP', () => {
  it('logs in with the right password (session: false) and passes the user on', async () => {
    const res = await request(await loginApp())
      .get('/login')
      .set('Authorization', basicHeader('alice', ALICE_PASSWORD));
    expect(res.status).to.equal(200);
    expect(res.body.user).to.include({ username: 'alice', id: 'u1' });
    expect(res.body.user).to.not.have.property('password');
  });

  it("a per-call realm (passport.authenticate option) names this route's protection space; other routes keep the strategy's", async () => {
    const users = await testUsers();
    const { app, passport } = appWithPassport();
    passport.use(
      new BasicLoginStrategy({ realm: 'Example' }, (username: string, password: string) =>
        users.checkPassword(username, password),
      ),
    );
    const ok: RequestHandler = (req, res) => res.json({ user: (req.user as { id: string }).id });
    // A variable, as @types/passport's AuthenticateOptions knows no strategy's own options.
    const adminArea: BasicLoginAuthenticateOptions & { session: false } = {
      session: false,
      realm: 'Admin area',
    };
    const broken: BasicLoginAuthenticateOptions & { session: false } = { session: false, realm: 'a"b' };
    app.get('/admin', passport.authenticate('basic-login', adminArea) as RequestHandler, ok);
    app.get('/api', passport.authenticate('basic-login', { session: false }) as RequestHandler, ok);
    app.get('/broken', passport.authenticate('basic-login', broken) as RequestHandler, ok);
    app.use(jsonErrors);
    for (const authorization of [undefined, basicHeader('alice', 'wrong')]) {
      const admin = request(app).get('/admin');
      const res = await (authorization ? admin.set('Authorization', authorization) : admin);
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.equal('Basic realm="Admin area", charset="UTF-8"');
    }
    expect((await request(app).get('/api')).headers['www-authenticate']).to.equal(
      'Basic realm="Example", charset="UTF-8"',
    );
    const admin = await request(app).get('/admin').set('Authorization', basicHeader('alice', ALICE_PASSWORD));
    expect(admin.status).to.equal(200);
    // A realm that would break the header is the app's mistake: an error naming the option, no challenge, no login.
    const refused = await request(app)
      .get('/broken')
      .set('Authorization', basicHeader('alice', ALICE_PASSWORD));
    expect(refused.status).to.equal(500);
    expect(refused.body.code).to.equal('ERR_INVALID_OPTION');
    expect(refused.headers).to.not.have.property('www-authenticate');
  });

  it('answers 401 with a Basic challenge naming the realm and UTF-8 when no credentials are sent', async () => {
    const res = await request(await loginApp({ realm: 'Example' })).get('/login');
    expect(res.status).to.equal(401);
    expect(res.headers['www-authenticate']).to.equal('Basic realm="Example", charset="UTF-8"');
  });

  it('B6: an unknown user and a wrong password get the same status, headers and body', async () => {
    const app = await loginApp();
    const unknown = await request(app).get('/login').set('Authorization', basicHeader('nobody', 'whatever'));
    const wrong = await request(app).get('/login').set('Authorization', basicHeader('alice', 'whatever'));
    expect(unknown.status).to.equal(401);
    expect(wrong.status).to.equal(unknown.status);
    expect(wrong.text).to.equal(unknown.text);
    const comparable = (headers: Record<string, string>) => {
      const { date: _date, ...rest } = headers;
      return rest;
    };
    expect(comparable(wrong.headers)).to.deep.equal(comparable(unknown.headers));
  });

  it('B6: the challenge a custom callback sees is the same for unknown user and wrong password', async () => {
    const users = await testUsers();
    const app = challengeApp(new BasicLoginStrategy((u: string, p: string) => users.checkPassword(u, p)));
    const unknown = await request(app).get('/login').set('Authorization', basicHeader('nobody', 'x'));
    const wrong = await request(app).get('/login').set('Authorization', basicHeader('alice', 'x'));
    expect(unknown.body).to.deep.equal({
      user: false,
      info: { message: 'Invalid username or password.', code: 'invalid_credentials' },
      status: 401,
    });
    expect(wrong.body).to.deep.equal(unknown.body);
  });

  describe('B8: RFC 7617 parsing over HTTP', () => {
    it('splits user:pa:ss at the first colon (bob’s password contains a colon)', async () => {
      const res = await request(await loginApp())
        .get('/login')
        .set('Authorization', basicHeader('bob', 'pa:ss with a colon'));
      expect(res.status).to.equal(200);
      expect(res.body.user.username).to.equal('bob');
    });

    it('treats a header without the "Basic " scheme as missing credentials (401), not a crash', async () => {
      const token = Buffer.from(`alice:${ALICE_PASSWORD}`).toString('base64');
      const res = await request(await loginApp())
        .get('/login')
        .set('Authorization', token);
      expect(res.status).to.equal(401);
      expect(res.headers['www-authenticate']).to.match(/^Basic realm=/);
    });

    const malformed: Array<[string, string]> = [
      ['control characters', `Basic ${Buffer.from('alice:pass\u0001word').toString('base64')}`],
      ['bad base64', 'Basic ***not-base64***'],
      ['no colon', `Basic ${Buffer.from('alice').toString('base64')}`],
      ['invalid UTF-8', `Basic ${Buffer.from([0x61, 0x3a, 0xc3, 0x28]).toString('base64')}`],
    ];
    for (const [what, header] of malformed) {
      it(`answers 400 missing_credentials for ${what}`, async () => {
        let verifyCalled = false;
        const app = challengeApp(
          new BasicLoginStrategy(() => {
            verifyCalled = true;
            return false;
          }),
        );
        const res = await request(app).get('/login').set('Authorization', header);
        expect(res.status).to.equal(400);
        expect(res.body.info.code).to.equal('missing_credentials');
        expect(verifyCalled).to.equal(false);
      });
    }
  });

  describe('B7: throttling failed logins', () => {
    it('refuses a username with 429 and Retry-After after maxFailuresPerUser failures — even the right password', async () => {
      const app = await loginApp({ throttle: { maxFailuresPerUser: 3, windowSec: 600 } });
      for (let i = 0; i < 3; i++) {
        expect(
          (
            await request(app)
              .get('/login')
              .set('Authorization', basicHeader('alice', `guess${i}`))
          ).status,
        ).to.equal(401);
      }
      const blocked = await request(app)
        .get('/login')
        .set('Authorization', basicHeader('ALICE', ALICE_PASSWORD));
      expect(blocked.status).to.equal(429);
      const retryAfter = Number(blocked.headers['retry-after']);
      expect(retryAfter).to.be.greaterThan(0).and.at.most(600);
      // Another user is not affected by alice's counter.
      const bob = await request(app)
        .get('/login')
        .set('Authorization', basicHeader('bob', 'pa:ss with a colon'));
      expect(bob.status).to.equal(200);
    });

    it('answers rate_limited in the challenge a custom callback receives', async () => {
      const users = await testUsers();
      const app = challengeApp(
        new BasicLoginStrategy({ throttle: { maxFailuresPerUser: 1 } }, (u: string, p: string) =>
          users.checkPassword(u, p),
        ),
      );
      await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'));
      const res = await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'));
      expect(res.status).to.equal(429);
      expect(res.body.info).to.include({ code: 'rate_limited' });
      expect(res.body.info.retryAfter).to.be.a('number');
    });

    it('refuses a client IP after maxFailuresPerIp failures across many usernames', async () => {
      const app = await loginApp({ throttle: { maxFailuresPerIp: 4, maxFailuresPerUser: 100 } });
      for (let i = 0; i < 4; i++) {
        await request(app)
          .get('/login')
          .set('Authorization', basicHeader(`user${i}`, 'x'));
      }
      const res = await request(app).get('/login').set('Authorization', basicHeader('alice', ALICE_PASSWORD));
      expect(res.status).to.equal(429);
    });

    it('a success clears the username’s failure count', async () => {
      const app = await loginApp({ throttle: { maxFailuresPerUser: 2 } });
      await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'));
      expect(
        (await request(app).get('/login').set('Authorization', basicHeader('alice', ALICE_PASSWORD))).status,
      ).to.equal(200);
      await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'));
      expect(
        (await request(app).get('/login').set('Authorization', basicHeader('alice', ALICE_PASSWORD))).status,
      ).to.equal(200);
    });

    describe('on Redis, shared by two app instances', function () {
      let client: RedisClientType;
      before(async function () {
        client = await redisOrSkip(this);
      });
      after(async () => {
        if (client?.isOpen) await client.close();
      });

      it('counts failures made through instance A when instance B decides', async () => {
        const prefix = uniquePrefix('basic-throttle');
        const throttle = { maxFailuresPerUser: 4 };
        const a = await loginApp({ store: new RedisStore({ client, prefix }), throttle });
        const b = await loginApp({ store: new RedisStore({ client, prefix }), throttle });
        for (const app of [a, b, a, b])
          await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'));
        const res = await request(b).get('/login').set('Authorization', basicHeader('alice', ALICE_PASSWORD));
        expect(res.status).to.equal(429);
      });
    });

    describe('B10: parallel guesses reserve their failure slot before verify', function () {
      this.timeout(20_000);

      /** A login app whose verify counts its calls; limit 10 per user, the default. */
      async function countingApp(store: BasicLoginOptions['store']) {
        const users = await testUsers();
        const calls = { verify: 0 };
        const { app, passport } = appWithPassport();
        passport.use(
          new BasicLoginStrategy({ store }, (username: string, password: string) => {
            calls.verify += 1;
            return users.checkPassword(username, password);
          }),
        );
        app.get(
          '/login',
          passport.authenticate('basic-login', { session: false }) as RequestHandler,
          (_r, res) => res.json({ ok: true }),
        );
        return { app, calls };
      }

      async function burst(apps: Express[]) {
        // 59 wrong guesses and then the right password, all in flight at once.
        const attempts = Array.from({ length: 60 }, (_, i) =>
          request(apps[i % apps.length]!)
            .get('/login')
            .set('Authorization', basicHeader('alice', i === 59 ? ALICE_PASSWORD : `guess-${i}`)),
        );
        const answers = await Promise.all(attempts);
        const byStatus: Record<number, number> = {};
        for (const answer of answers) byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
        for (const answer of answers.filter((a) => a.status === 429)) {
          expect(Number(answer.headers['retry-after'])).to.be.greaterThan(0);
          expect(answer.body).to.not.have.property('ok');
        }
        return byStatus;
      }

      const figures = (label: string, calls: number, byStatus: Record<number, number>) => {
        if (process.env.REPORT_FIGURES)
          process.stdout.write(`      ${label}: ${calls} reached verify, ${JSON.stringify(byStatus)}\n`);
      };

      it('B10: MemoryStore: 60 parallel logins (59 wrong, then right) reach verify at most 10 times; the right password afterwards gets 429', async () => {
        const store = new MemoryStore();
        const { app, calls } = await countingApp(store);
        const byStatus = await burst([app]);
        figures('memory', calls.verify, byStatus);
        expect(calls.verify, JSON.stringify(byStatus)).to.be.at.most(10);
        expect(byStatus[429], JSON.stringify(byStatus)).to.be.at.least(50);
        const after = await request(app)
          .get('/login')
          .set('Authorization', basicHeader('Alice', ALICE_PASSWORD));
        expect(after.status).to.equal(429);
        expect(after.body).to.not.have.property('ok');
        await store.close();
      });

      it('B10: RedisStore shared by two apps: 60 parallel logins split across both reach verify at most 10 times; the right password afterwards gets 429 on both', async function () {
        const client = await redisOrSkip(this);
        try {
          const prefix = uniquePrefix('basic-b10');
          const a = await countingApp(new RedisStore({ client, prefix }));
          const b = await countingApp(new RedisStore({ client, prefix }));
          const byStatus = await burst([a.app, b.app]);
          const verified = a.calls.verify + b.calls.verify;
          figures('redis, 2 apps', verified, byStatus);
          expect(verified, JSON.stringify(byStatus)).to.be.at.most(10);
          for (const app of [a.app, b.app]) {
            const after = await request(app)
              .get('/login')
              .set('Authorization', basicHeader('alice', ALICE_PASSWORD));
            expect(after.status).to.equal(429);
          }
        } finally {
          await client.close();
        }
      });

      it('a refused attempt counts against no other limit, and a success gives its slots back', async () => {
        const store = new MemoryStore();
        const app = await loginApp({ store, throttle: { maxFailuresPerIp: 3, maxFailuresPerUser: 2 } });
        // Two logins of bob succeed: neither uses up a per-IP slot.
        for (let i = 0; i < 2; i++)
          expect(
            (await request(app).get('/login').set('Authorization', basicHeader('bob', 'pa:ss with a colon')))
              .status,
          ).to.equal(200);
        for (let i = 0; i < 2; i++)
          await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'));
        // Refused per user: its IP slot is given back...
        expect(
          (await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'))).status,
        ).to.equal(429);
        // ...so the address still has one failure left, and a success for another user is let through.
        expect(
          (await request(app).get('/login').set('Authorization', basicHeader('bob', 'pa:ss with a colon')))
            .status,
        ).to.equal(200);
        await store.close();
      });
    });

    it('throttle: false turns throttling off', async () => {
      const app = await loginApp({ throttle: false });
      for (let i = 0; i < 12; i++)
        await request(app).get('/login').set('Authorization', basicHeader('alice', 'wrong'));
      expect(
        (await request(app).get('/login').set('Authorization', basicHeader('alice', ALICE_PASSWORD))).status,
      ).to.equal(200);
    });
  });

  describe('Passport conventions', () => {
    it('failureRedirect redirects on a wrong password', async () => {
      const res = await request(await loginApp({}, { session: false, failureRedirect: '/signin' }))
        .get('/login')
        .set('Authorization', basicHeader('alice', 'wrong'));
      expect(res.status).to.equal(302);
      expect(res.headers.location).to.equal('/signin');
    });

    it('failureMessage stores the challenge message in the session', async () => {
      const users = await testUsers();
      const { app, passport } = appWithPassport();
      passport.use(new BasicLoginStrategy((u: string, p: string) => users.checkPassword(u, p)));
      app.get(
        '/login',
        passport.authenticate('basic-login', {
          failureRedirect: '/signin',
          failureMessage: true,
        }) as RequestHandler,
      );
      app.get('/signin', (req, res) =>
        res.json((req.session as unknown as { messages?: string[] }).messages ?? []),
      );
      const agent = request.agent(app);
      await agent.get('/login').set('Authorization', basicHeader('alice', 'wrong'));
      expect((await agent.get('/signin')).body).to.deep.equal(['Invalid username or password.']);
    });

    it('failWithError hands Express the failure itself: status, stable code, WWW-Authenticate kept', async () => {
      const res = await request(await loginApp({}, { session: false, failWithError: true }))
        .get('/login')
        .set('Authorization', basicHeader('alice', 'wrong'));
      expect(res.status).to.equal(401);
      expect(res.body).to.deep.equal({ error: 'Invalid username or password.', code: 'invalid_credentials' });
      expect(res.headers['www-authenticate']).to.match(/^Basic realm="Users"/);
    });

    it('establishes a login session by default (passport ≥ 0.6 regenerates it) and keeps the user in it', async () => {
      const users = await testUsers();
      const { app, passport } = appWithPassport();
      app.use(passport.session());
      passport.use(new BasicLoginStrategy((u: string, p: string) => users.checkPassword(u, p)));
      app.get('/login', passport.authenticate('basic-login') as RequestHandler, (_req, res) =>
        res.json({ ok: true }),
      );
      app.get('/me', (req, res) => res.json({ user: req.user ?? null }));
      const agent = request.agent(app);
      const login = await agent.get('/login').set('Authorization', basicHeader('alice', ALICE_PASSWORD));
      expect(login.status).to.equal(200);
      expect((await agent.get('/me')).body.user).to.deep.equal({ id: 'u1' });
    });

    it('done-style verify with passReqToCallback receives the request first and its info reaches req.authInfo', async () => {
      const { app, passport } = appWithPassport();
      passport.use(
        new BasicLoginStrategy(
          { passReqToCallback: true },
          (req: ExpressRequest, username, password, done: VerifyDone) => {
            done(null, password === 'pw' ? { id: username, via: req.get('x-via') } : false, {
              method: 'basic',
            });
          },
        ),
      );
      app.get(
        '/login',
        passport.authenticate('basic-login', { session: false }) as RequestHandler,
        (req, res) => res.json({ user: req.user, info: req.authInfo }),
      );
      const res = await request(app)
        .get('/login')
        .set('x-via', 'test')
        .set('Authorization', basicHeader('carol', 'pw'));
      expect(res.body).to.deep.equal({ user: { id: 'carol', via: 'test' }, info: { method: 'basic' } });
    });

    it('a verify that throws reaches the error handler (500) and logs nobody in', async () => {
      const { app, passport } = appWithPassport();
      passport.use(
        new BasicLoginStrategy(async () => {
          throw new Error('database unavailable');
        }),
      );
      app.get(
        '/login',
        passport.authenticate('basic-login', { session: false }) as RequestHandler,
        (_req, res) => res.json({ loggedIn: true }),
      );
      app.use(jsonErrors);
      const res = await request(app).get('/login').set('Authorization', basicHeader('alice', 'x'));
      expect(res.status).to.equal(500);
      expect(res.body).to.deep.equal({ error: 'internal' });
    });

    it('a store fault during throttling fails closed with a StoreError (503 ERR_STORE), whatever the store threw', async () => {
      const store = new MemoryStore();
      store.consume = async () => Promise.reject(new Error('redis down'));
      const app = await loginApp({ store });
      const res = await request(app).get('/login').set('Authorization', basicHeader('alice', ALICE_PASSWORD));
      expect(res.status).to.equal(503);
      expect(res.body).to.deep.equal({ error: 'The store failed.', code: 'ERR_STORE' });
      await store.close();
    });

    it('refuses a realm that would break the header', () => {
      expect(() => new BasicLoginStrategy({ realm: 'a"b' }, () => false)).to.throw(/realm/);
      expect(() => new BasicLoginStrategy({}, undefined as never)).to.throw(/verify/);
    });
  });
});

import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { Express, RequestHandler } from 'express';
import type { Passport } from 'passport';
import request from 'supertest';
import {
  BasicLoginStrategy,
  ConfigurationError,
  RiscStrategy,
  SmsOtpStrategy,
  XTokenStrategy,
} from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import {
  SipgateSmsSender,
  smsOtpHandlers,
  type SmsOtpHandlerOptions,
  type SmsOtpStrategyOptions,
} from '../../src/exports/sms-otp.js';
import { xTokenHandlers, type XTokenPayload } from '../../src/exports/x-token.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, basicHeader, decidingRoute, jsonErrors } from '../helpers/apps.js';

const ALICE = { id: 'alice', name: 'Alice' };
const PASSWORD = 'pa:ss word';
const checkPassword = (username: string, password: string) =>
  username === 'alice' && password === PASSWORD ? ALICE : false;

type Registration = 'passport.use(name, strategy)' | 'the name option';

/**
 * Registers `strategy` under `name` the way the test says: `passport.use(name, strategy)` on a
 * strategy built without a name, or `passport.use(strategy)` on one built with `{ name }`.
 */
function register(
  passport: InstanceType<typeof Passport>,
  how: Registration,
  name: string,
  build: (name: string | undefined) => BasicLoginStrategy | XTokenStrategy | SmsOtpStrategy | RiscStrategy,
): void {
  if (how === 'passport.use(name, strategy)') passport.use(name, build(undefined));
  else passport.use(build(name));
}

describe('Strategy names: a strategy registered under any name works with every handler, over HTTP', () => {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await startSandbox();
  });
  after(async () => {
    await sandbox.close();
  });
  beforeEach(() => sandbox.inbox.clear());

  for (const how of ['passport.use(name, strategy)', 'the name option'] as const) {
    describe(`registered with ${how}`, () => {
      /** X-Token as 'api-token' with the password checked by basic-login registered as 'password'. */
      function tokenApp(): { app: Express; xToken: XTokenStrategy } {
        const { app, passport } = appWithPassport();
        const store = new MemoryStore();
        let xToken: XTokenStrategy | undefined;
        register(passport, how, 'password', (name) => new BasicLoginStrategy({ name, store }, checkPassword));
        register(passport, how, 'api-token', (name) => {
          xToken = new XTokenStrategy({ name, secret: randomBytes(32), store }, (payload: XTokenPayload) =>
            payload.sub === ALICE.id ? ALICE : false,
          );
          return xToken;
        });
        const auth = xTokenHandlers(xToken!, {
          passport,
          loginStrategy: 'password',
          ...(how === 'passport.use(name, strategy)' ? { name: 'api-token' } : {}),
        });
        app.post('/login', auth.login);
        app.get('/refresh', auth.refresh);
        app.post('/logout', auth.logout);
        app.post('/logout-everywhere', auth.logoutEverywhere);
        app.get('/items', auth.protect, (req, res) => res.json({ user: req.user }));
        app.get(
          '/plain',
          passport.authenticate('api-token', { session: false }) as RequestHandler,
          (req, res) => res.json({ user: req.user }),
        );
        app.use(jsonErrors);
        return { app, xToken: xToken! };
      }

      it('x-token as "api-token", basic-login as "password": login, protect, refresh, logout, logout everywhere', async () => {
        const { app, xToken } = tokenApp();
        if (how === 'the name option') expect(xToken.name).to.equal('api-token');
        const login = await request(app).post('/login').set('Authorization', basicHeader('alice', PASSWORD));
        expect(login.status).to.equal(200);
        expect(login.body).to.deep.equal({ user: { id: 'alice' }, success: true });
        let token = login.headers['x-token'] as string;
        expect(token).to.be.a('string');

        // The old helpers authenticated with the hard-wired 'x-token': 500 "Unknown authentication strategy".
        const items = await request(app).get('/items').set('X-Token', token);
        expect(items.status).to.equal(200);
        expect(items.body).to.deep.equal({ user: ALICE });
        token = items.headers['x-token'] as string;
        const plain = await request(app).get('/plain').set('X-Token', token);
        expect(plain.status).to.equal(200);
        token = plain.headers['x-token'] as string;

        const refresh = await request(app).get('/refresh').set('X-Token', token);
        expect(refresh.status).to.equal(200);
        expect(refresh.body).to.deep.equal({ success: true, authenticated: true });
        token = refresh.headers['x-token'] as string;

        const logout = await request(app).post('/logout').set('X-Token', token).send({});
        expect(logout.status).to.equal(200);
        expect(logout.body).to.deep.equal({ success: true });
        expect((await request(app).get('/items').set('X-Token', token)).status).to.equal(401);

        const again = await request(app).post('/login').set('Authorization', basicHeader('alice', PASSWORD));
        const everywhere = await request(app)
          .post('/logout-everywhere')
          .set('X-Token', again.headers['x-token'] as string)
          .send({});
        expect(everywhere.status).to.equal(200);
        expect(everywhere.body).to.deep.equal({ success: true, families: 1 });
      });

      it('basic-login as "password": a wrong password is answered by the login route as before (401, no Basic dialog)', async () => {
        const { app } = tokenApp();
        const res = await request(app).post('/login').set('Authorization', basicHeader('alice', 'wrong'));
        expect(res.status).to.equal(401);
        expect(res.headers).to.not.have.property('www-authenticate');
        expect(res.body).to.deep.equal({
          success: false,
          error: 'Invalid username or password.',
          code: 'invalid_credentials',
        });
      });

      it('sms-otp as "text-code": the send handler texts a code, passport.authenticate("text-code") checks it', async () => {
        const { app, passport } = appWithPassport();
        let sms: SmsOtpStrategy | undefined;
        register(passport, how, 'text-code', (name) => {
          sms = new SmsOtpStrategy({
            name,
            sender: new SipgateSmsSender(sandbox.sipgate.credentials),
            getPhoneNumber: () => '+4915790000001',
          });
          return sms;
        });
        app.use((req, _res, next) => {
          req.user = { id: 'alice' };
          next();
        });
        app.post('/sms/send', smsOtpHandlers(sms!).send);
        app.post('/sms/verify', decidingRoute(passport, 'text-code'));
        app.use(jsonErrors);
        const agent = request.agent(app);
        const sent = await agent.post('/sms/send').send({});
        expect(sent.status).to.equal(202);
        const text = (await sandbox.inbox.waitFor('+4915790000001')).text;
        const code = /\b(\d{6})\b/.exec(text)![1]!;
        const verified = await agent.post('/sms/verify').send({ code });
        expect(verified.status).to.equal(200);
        expect(verified.body.info).to.deep.equal({ method: 'sms-otp' });
      });

      it('risc as "risk-check": passport.authenticate("risk-check") decides; the client calls are on risc.client', async () => {
        const { app, passport } = appWithPassport();
        let risc: RiscStrategy | undefined;
        register(passport, how, 'risk-check', (name) => {
          risc = new RiscStrategy({ name, ...sandbox.lastwall.credentials, store: new MemoryStore() });
          return risc;
        });
        app.use((req, _res, next) => {
          req.user = { id: 'u-name' };
          next();
        });
        app.post('/check', decidingRoute(passport, 'risk-check'));
        app.use(jsonErrors);
        try {
          sandbox.lastwall.setRisk('u-name', 'risky');
          const risky = await request(app)
            .post('/check')
            .send({ riscdata: sandbox.lastwall.snapshotFor('u-name', 'b-name') });
          expect(risky.status).to.equal(401);
          expect(risky.body).to.include({ code: 'risky', browserId: 'b-name' });
          await risc!.client.preAuthenticate('u-name', 'b-name');
          const passed = await request(app)
            .post('/check')
            .send({ riscdata: sandbox.lastwall.snapshotFor('u-name', 'b-name') });
          expect(passed.status).to.equal(200);
          expect(passed.body.info).to.deep.equal({ method: 'risc', score: 0, browserId: 'b-name' });
          expect(risc!.client.scriptUrl('u-name')).to.match(/\/risc\/script\/.+\/u-name$/);
        } finally {
          await risc!.client.close();
        }
      });
    });
  }

  it('the name option is validated, and XTokenStrategy refuses the options that moved to the login handler', () => {
    const sender = { send: async () => undefined };
    const lastwall = sandbox.lastwall.credentials;
    for (const name of ['', ' padded ', 42]) {
      const bad = name as string;
      expect(() => new BasicLoginStrategy({ name: bad }, checkPassword), 'basic-login').to.throw(
        ConfigurationError,
        /BasicLoginStrategy: `name`/,
      );
      expect(
        () => new XTokenStrategy({ name: bad, secret: randomBytes(32) }, () => false),
        'x-token',
      ).to.throw(ConfigurationError, /XTokenStrategy: `name`/);
      expect(
        () => new SmsOtpStrategy({ name: bad, sender, getPhoneNumber: () => undefined }),
        'sms-otp',
      ).to.throw(ConfigurationError, /SmsOtpStrategy: `name`/);
      expect(() => new RiscStrategy({ name: bad, ...lastwall }), 'risc').to.throw(
        ConfigurationError,
        /RiscStrategy: `name`/,
      );
    }
    expect(new BasicLoginStrategy(checkPassword).name).to.equal('basic-login');
    expect(new XTokenStrategy({ secret: randomBytes(32) }, () => false).name).to.equal('x-token');
    expect(new SmsOtpStrategy({ sender, getPhoneNumber: () => undefined }).name).to.equal('sms-otp');
    expect(new RiscStrategy({ ...lastwall }).name).to.equal('risc');
    for (const moved of ['publicUser', 'getSubject']) {
      expect(
        () => new XTokenStrategy({ secret: randomBytes(32), [moved]: () => 'x' } as never, () => false),
      ).to.throw(ConfigurationError, new RegExp(`\`${moved}\` is an option of xTokenHandlers`));
    }
  });

  it('xTokenHandlers and smsOtpHandlers validate their arguments', () => {
    const xToken = new XTokenStrategy({ secret: randomBytes(32) }, () => false);
    const { passport } = appWithPassport();
    expect(() => xTokenHandlers({} as never, { passport })).to.throw(ConfigurationError, /XTokenStrategy/);
    expect(() => xTokenHandlers(xToken, {} as never)).to.throw(ConfigurationError, /`passport`/);
    expect(() => xTokenHandlers(xToken, { passport, name: '' })).to.throw(ConfigurationError, /`name`/);
    expect(() => xTokenHandlers(xToken, { passport, loginStrategy: '' })).to.throw(
      ConfigurationError,
      /`loginStrategy`/,
    );
    expect(() => xTokenHandlers(xToken, { passport, publicUser: 'id' as never })).to.throw(
      ConfigurationError,
      /`publicUser`/,
    );
    expect(() => xTokenHandlers(xToken, { passport, respond: {} as never })).to.throw(
      ConfigurationError,
      /`respond`/,
    );
    const sms = new SmsOtpStrategy({
      sender: { send: async () => undefined },
      getPhoneNumber: () => undefined,
    });
    expect(() => smsOtpHandlers(xToken as never)).to.throw(ConfigurationError, /SmsOtpStrategy/);
    for (const locale of ['', 'not a tag', 'en_US', 7]) {
      expect(() => smsOtpHandlers(sms, { locale: locale as string }), String(locale)).to.throw(
        ConfigurationError,
        /`locale`/,
      );
    }
  });
});

describe('smsOtpHandlers: the text in the user’s language (locale), over HTTP', () => {
  let sandbox: Sandbox;
  const PHONE = '+4915790000001';
  before(async () => {
    sandbox = await startSandbox();
  });
  after(async () => {
    await sandbox.close();
  });
  beforeEach(() => sandbox.inbox.clear());

  function app(
    handlerOptions: SmsOtpHandlerOptions,
    options: Partial<Omit<SmsOtpStrategyOptions, 'passReqToCallback'>> = {},
  ): Express {
    const { app, passport } = appWithPassport();
    const sms = new SmsOtpStrategy({
      sender: new SipgateSmsSender(sandbox.sipgate.credentials),
      getPhoneNumber: () => PHONE,
      serviceName: 'Example',
      message: (code, { locale, ttlSeconds }) =>
        locale?.startsWith('de')
          ? `${code} ist Ihr Code (${locale}), ${ttlSeconds / 60} Minuten gültig.`
          : `${code} is your code (${locale ?? 'no locale'}).`,
      ...options,
    });
    passport.use(sms);
    app.use((req, _res, next) => {
      req.user = { id: 'alice' };
      next();
    });
    app.post('/sms/send', smsOtpHandlers(sms, handlerOptions).send);
    app.post('/sms/verify', decidingRoute(passport, 'sms-otp'));
    app.use(jsonErrors);
    return app;
  }

  it('a fixed locale reaches message() canonicalised; the code in that text verifies', async () => {
    const agent = request.agent(app({ locale: 'DE-de' }));
    expect((await agent.post('/sms/send').send({})).status).to.equal(202);
    const text = (await sandbox.inbox.waitFor(PHONE)).text;
    expect(text).to.match(/^\d{6} ist Ihr Code \(de-DE\), 5 Minuten gültig\.$/);
    const verified = await agent.post('/sms/verify').send({ code: text.slice(0, 6) });
    expect(verified.status).to.equal(200);
  });

  it('locale(req) is read per request: each text in the language the request asked for, none → undefined', async () => {
    const server = app({ locale: (req) => req.headers['x-lang'] as string | undefined });
    expect((await request(server).post('/sms/send').set('x-lang', 'de-at').send({})).status).to.equal(202);
    expect((await sandbox.inbox.waitFor(PHONE)).text).to.match(/ist Ihr Code \(de-AT\)/);
    sandbox.inbox.clear();
    // Another session and user, so the resend cooldown of the first does not apply.
    const other = app(
      { locale: (req) => req.headers['x-lang'] as string | undefined },
      {
        getUserId: () => 'bob',
      },
    );
    expect((await request(other).post('/sms/send').send({})).status).to.equal(202);
    expect((await sandbox.inbox.waitFor(PHONE)).text).to.match(/is your code \(no locale\)/);
  });

  it('passwordless mode: the text sent after the answer is written in the request’s locale too', async () => {
    const server = app(
      { locale: (req) => req.headers['x-lang'] as string | undefined },
      {
        identify: {
          fromRequest: (req) => {
            const identifier = String((req.body as { email?: string }).email);
            return { identifier, user: identifier === 'alice@example.test' ? { id: 'alice' } : undefined };
          },
          byId: (id) => ({ id }),
        },
      },
    );
    const res = await request(server)
      .post('/sms/send')
      .set('x-lang', 'de')
      .send({ email: 'alice@example.test' });
    expect(res.status).to.equal(202);
    expect((await sandbox.inbox.waitFor(PHONE)).text).to.match(/^\d{6} ist Ihr Code \(de\)/);
  });

  it('without a message function the default English text is sent whatever the locale', async () => {
    const server = app({ locale: 'fr' }, { message: undefined });
    expect((await request(server).post('/sms/send').send({})).status).to.equal(202);
    expect((await sandbox.inbox.waitFor(PHONE)).text).to.match(
      /^\d{6} is your Example code\. It expires in 5 minutes/,
    );
  });

  it('locale(req) answering something that is not a language tag is an error naming the option; nothing is sent', async () => {
    const server = app({ locale: () => 'english please' });
    const res = await request(server).post('/sms/send').send({});
    expect(res.status).to.equal(500);
    expect(res.body.code).to.equal('ERR_INVALID_OPTION');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sandbox.inbox.messages).to.have.length(0);
  });
});

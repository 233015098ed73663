import { expect } from 'chai';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import { Strategy } from 'passport-strategy';
import request from 'supertest';
import {
  AuthenticationFailure,
  jsonErrors,
  SecSignStrategy,
  SmsOtpStrategy,
  StoreError,
} from '../../src/index.js';
import { smsOtpHandlers } from '../../src/exports/sms-otp.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { SipgateSmsSender } from '../../src/exports/sms-otp.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport } from '../helpers/apps.js';

const PHONE = '+4915790000071';
const SECRET = 'fail-with-error-test-secret-0123456789abcdef';

/** A strategy of someone else's (as passport-local is): fails with a string challenge. */
class AlwaysFails extends Strategy {
  name = 'always-fails';
  override authenticate(): void {
    this.fail('Basic realm="x"', 401);
  }
}

describe('failWithError and jsonErrors(), over HTTP through passport.authenticate', function () {
  let sandbox: Sandbox;
  before(async () => {
    sandbox = await startSandbox({ secsign: { knownIds: ['alice'] } });
  });
  after(() => sandbox.close());

  function smsApp(errorHandler: ErrorRequestHandler | 'jsonErrors') {
    const { app, passport } = appWithPassport({
      sessions: true,
      deserialize: (id) => ({ id, phone: PHONE }),
    });
    const sms = new SmsOtpStrategy({
      sender: new SipgateSmsSender(sandbox.sipgate.credentials),
      secret: SECRET,
      getPhoneNumber: (user) => (user as { phone: string }).phone,
    });
    passport.use(sms);
    passport.use(new AlwaysFails());
    app.post('/login', (req, res, next) =>
      req.logIn({ id: 'u1' }, (err) => (err ? next(err) : res.json({}))),
    );
    app.post('/sms/send', smsOtpHandlers(sms).send);
    app.post(
      '/sms/verify',
      passport.authenticate('sms-otp', { failWithError: true }) as RequestHandler,
      (req, res) => res.json({ user: (req.user as { id: string }).id }),
    );
    app.get(
      '/other',
      passport.authenticate('always-fails', { failWithError: true, session: false }) as RequestHandler,
    );
    app.get('/store-down', (_req, _res, next) => next(new StoreError('Redis is unreachable.')));
    app.get('/boom', (_req, _res, next) => next(new Error('a bug of the app')));
    if (errorHandler === 'jsonErrors') app.use(jsonErrors());
    else app.use(errorHandler);
    app.use(((err, _req, res, _next) =>
      res.status(500).json({ fallthrough: (err as Error).message })) as ErrorRequestHandler);
    return app;
  }

  async function withCode(app: ReturnType<typeof smsApp>) {
    const agent = request.agent(app);
    await agent.post('/login').expect(200);
    sandbox.inbox.clear();
    await agent.post('/sms/send').set('Content-Type', 'application/json').send({}).expect(202);
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor(PHONE)).text)![1]!;
    const wrong = code === '000000' ? '111111' : '000000';
    return { agent, code, wrong };
  }

  it('a wrong SMS code reaches the app’s error handler as an AuthenticationFailure with code, status and attemptsRemaining', async () => {
    const seen: unknown[] = [];
    const app = smsApp((err, _req, res, _next) => {
      seen.push(err);
      res.status(418).end();
    });
    const { agent, code, wrong } = await withCode(app);
    expect((await agent.post('/sms/verify').send({ code: wrong })).status).to.equal(418);
    expect(seen).to.have.length(1);
    const err = seen[0] as AuthenticationFailure;
    expect(err).to.be.instanceOf(AuthenticationFailure);
    expect(err.code).to.equal('invalid_code');
    expect(err.status).to.equal(401);
    expect(err.toChallenge()).to.include({ code: 'invalid_code', attemptsRemaining: 4 });
    const ok = await agent.post('/sms/verify').send({ code });
    expect(ok.status).to.equal(200);
    expect(ok.body).to.deep.equal({ user: 'u1' });
  });

  it('jsonErrors() answers the failure as JSON: status, code and the challenge’s fields', async () => {
    const { agent, wrong } = await withCode(smsApp('jsonErrors'));
    const res = await agent.post('/sms/verify').send({ code: wrong });
    expect(res.status).to.equal(401);
    expect(res.type).to.equal('application/json');
    expect(res.body).to.deep.equal({ error: res.body.error, code: 'invalid_code', attemptsRemaining: 4 });
    expect(res.body.error).to.be.a('string').and.not.include(wrong);
    const missing = await agent.post('/sms/verify').send({});
    expect(missing.status).to.equal(400);
    expect(missing.body.code).to.equal('missing_credentials');
  });

  it('jsonErrors() answers Passport’s own AuthenticationError, a StoreError (503, no message), and passes anything else on', async () => {
    const app = smsApp('jsonErrors');
    const other = await request(app).get('/other');
    expect(other.status).to.equal(401);
    expect(other.body).to.deep.equal({ error: 'Unauthorized' });
    const store = await request(app).get('/store-down');
    expect(store.status).to.equal(503);
    expect(store.body).to.deep.equal({ error: 'Service Unavailable', code: 'ERR_STORE' });
    const boom = await request(app).get('/boom');
    expect(boom.status).to.equal(500);
    expect(boom.body).to.deep.equal({ fallthrough: 'a bug of the app' });
  });

  for (const mode of ['failWithError', 'default', 'failureRedirect'] as const) {
    it(`a SecSign completion still pending answers 202 pending, never a 5xx (${mode})`, async () => {
      const { app, passport } = appWithPassport();
      const secsign = new SecSignStrategy(
        {
          serviceName: 'Example',
          serviceAddress: 'https://example.test',
          serverUrls: sandbox.secsign.serverUrls,
        },
        async (secsignId) => ({ id: secsignId }),
      );
      passport.use(secsign);
      const options =
        mode === 'failWithError'
          ? { failWithError: true }
          : mode === 'failureRedirect'
            ? { failureRedirect: '/login' }
            : {};
      const errors: unknown[] = [];
      app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
      app.post(
        '/secsign/complete',
        passport.authenticate('secsign', options) as RequestHandler,
        (_req, res) => res.json({ ok: true }),
      );
      app.use(((err, _req, res, _next) => {
        errors.push(err);
        res.status(500).end();
      }) as ErrorRequestHandler);
      const agent = request.agent(app);
      await agent.post('/secsign/start').send({ secsignid: 'alice' }).expect(200);
      const pending = await agent.post('/secsign/complete');
      expect(errors, 'nothing reaches the error handler').to.deep.equal([]);
      if (mode === 'failureRedirect') {
        // Passport's failureRedirect applies to every failure; not a 5xx either.
        expect(pending.status).to.equal(302);
        return;
      }
      expect(pending.status).to.equal(202);
      if (mode === 'failWithError') expect(pending.body).to.include({ code: 'pending' });
      sandbox.secsign.approve('alice');
      const done = await agent.post('/secsign/complete');
      expect(done.status).to.equal(200);
    });
  }
});

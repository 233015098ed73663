import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import type { RequestHandler } from 'express';
import request from 'supertest';
import {
  BasicLoginStrategy,
  MemoryStore,
  RiscStrategy,
  RiskStepUp,
  SecSignStrategy,
  SipgateSmsSender,
  SmsOtpStrategy,
} from '../../src/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { appWithPassport, basicHeader, jsonErrors, testUsers, type UserDirectory } from '../helpers/apps.js';

describe('RiskStepUp: password → RISC → step-up or unlock, over HTTP', () => {
  let sandbox: Sandbox;
  let users: UserDirectory;
  let sender: SipgateSmsSender;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    sandbox = await startSandbox();
    users = await testUsers();
    sender = new SipgateSmsSender(sandbox.sipgate.credentials);
  });
  after(async () => {
    await Promise.all(closers.map((close) => close()));
    await sender.close();
    await sandbox.close();
  });

  function journeyApp() {
    const store = new MemoryStore();
    const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
    passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
    const risc = new RiscStrategy({ ...sandbox.lastwall.credentials, store });
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
        serverUrls: sandbox.secsign.serverUrls,
        store,
      },
      (secsignId: string) =>
        (secsignId === 'alice' ? users.findById('u1') : secsignId === 'bob' ? users.findById('u2') : false) ??
        false,
    );
    closers.push(
      () => risc.client.close(),
      () => secsign.client.close(),
    );
    passport.use(risc);
    passport.use(secsign);
    const sms = new SmsOtpStrategy({
      sender,
      store,
      secret: randomBytes(32),
      getPhoneNumber: (u) => (u as { phone?: string }).phone,
    });
    passport.use(sms);
    const stepUp = new RiskStepUp({ passport, risc });
    app.post('/login', passport.authenticate('basic-login') as RequestHandler, (_req, res) =>
      res.json({ ok: true }),
    );
    app.post('/check', stepUp.check());
    app.post('/sms/send', sms.send());
    app.post('/secsign/start', secsign.start());
    app.post('/step-up/sms', stepUp.completeWith('sms-otp'));
    app.post('/step-up/secsign', stepUp.completeWith('secsign'));
    app.post('/unlock', stepUp.sendUnlockEmail());
    app.get('/me', stepUp.requireCleared(), (req, res) =>
      res.json({ user: (req.user as { id: string }).id }),
    );
    app.use(jsonErrors);
    return app;
  }

  async function passwordThenCheck(
    agent: ReturnType<typeof request.agent>,
    who: string,
    password: string,
    browser: string,
  ) {
    expect((await agent.post('/login').set('Authorization', basicHeader(who, password))).status).to.equal(
      200,
    );
    const userId = who === 'alice' ? 'u1' : 'u2';
    return agent.post('/check').send({ riscdata: sandbox.lastwall.snapshotFor(userId, browser) });
  }

  it('passed → cleared at once', async () => {
    sandbox.lastwall.setRisk('u1', 'passed');
    const agent = request.agent(journeyApp());
    const res = await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-a');
    expect(res.body).to.deep.equal({ status: 'passed', score: 12 });
    expect((await agent.get('/me')).body).to.deep.equal({ user: 'u1' });
  });

  it('risky → not cleared → SMS code → cleared, and the next check from that browser passes (preauth)', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const app = journeyApp();
    const agent = request.agent(app);
    const risky = await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-b');
    expect(risky.body).to.include({ code: 'risky', next: 'step-up' });
    expect((await agent.get('/me')).status, 'not cleared yet').to.equal(401);
    sandbox.inbox.clear();
    expect((await agent.post('/sms/send').send({})).status).to.equal(202);
    const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor('+4915790000001')).text)![1];
    expect((await agent.post('/step-up/sms').send({ code })).body).to.deep.equal({
      status: 'passed',
      stepUp: 'sms-otp',
    });
    expect((await agent.get('/me')).status).to.equal(200);
    // The next login from the same browser: the dial still says risky, preauth makes it pass.
    const again = await passwordThenCheck(
      request.agent(app),
      'alice',
      'correct horse battery staple',
      'browser-b',
    );
    expect(again.body).to.deep.equal({ status: 'passed', score: 0 });
  });

  it('a second factor of ANOTHER account does not clear the step-up', async () => {
    sandbox.lastwall.setRisk('u1', 'risky');
    const agent = request.agent(journeyApp());
    await passwordThenCheck(agent, 'alice', 'correct horse battery staple', 'browser-c');
    await agent.post('/secsign/start').send({ secsignid: 'bob' });
    sandbox.secsign.approve('bob');
    const res = await agent.post('/step-up/secsign');
    expect(res.status).to.equal(401);
    expect(res.body.code).to.equal('invalid_credentials');
    expect((await agent.get('/me')).status).to.equal(401);
  });

  it('failed → unlock email → following the link → the next check passes', async () => {
    sandbox.lastwall.setRisk('u2', 'failed');
    const agent = request.agent(journeyApp());
    const failed = await passwordThenCheck(agent, 'bob', 'pa:ss with a colon', 'browser-d');
    expect(failed.body).to.include({ code: 'failed_risk', next: 'unlock' });
    expect(
      (await agent.post('/step-up/sms').send({ code: '000000' })).status,
      'no step-up for failed',
    ).to.equal(409);
    expect((await agent.post('/unlock').send({})).status).to.equal(202);
    const link = /(https?:\/\/\S+)/.exec((await sandbox.inbox.waitFor('u2@example.test')).text)![1]!;
    await request(link).get('');
    const retry = await agent
      .post('/check')
      .send({ riscdata: sandbox.lastwall.snapshotFor('u2', 'browser-d') });
    expect(retry.body).to.deep.equal({ status: 'passed', score: 0 });
  });
});

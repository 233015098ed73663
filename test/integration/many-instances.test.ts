import { expect } from 'chai';
import type { Sandbox } from '../../src/sandbox/index.js';
import { twoInstancesBehindOneRedis, type Instance } from '../helpers/instances.js';

const ALICE = { username: 'alice', password: 'correct horse battery staple', phone: '+4915790000001' };
const BOB = { username: 'bob', password: 'pa:ss with a colon', phone: '+4915790000002' };
const basic = (who: { username: string; password: string }) =>
  `Basic ${Buffer.from(`${who.username}:${who.password}`).toString('base64')}`;

/**
 * Two instances of the example app, each its own process, behind one Redis (connect-redis for
 * sessions, RedisStore for the strategies) and one sandbox. Every flow runs with its steps
 * alternating between them, as a load balancer without sticky sessions would send them.
 */
describe('two example-app processes behind one Redis', function () {
  this.timeout(60_000);
  const env = twoInstancesBehindOneRedis({ sipgate: { tokenId: 'token-MULTI1' } });
  let sandbox: Sandbox;
  let a: Instance;
  let b: Instance;
  before(() => ({ sandbox, a, b } = env));
  const browser = () => env.browser();

  const codeFor = async (phone: string) => {
    const message = await sandbox.inbox.waitFor(phone);
    return /\b(\d{6})\b/.exec(message.text)![1]!;
  };

  it('X-Token: log in on A, call on B, renew on A, log out on B; the old token is refused on A', async () => {
    const client = browser();
    const login = await client.send(a, 'POST', '/api/auth/login', {
      headers: { authorization: basic(ALICE) },
    });
    expect(login.status, login.text).to.equal(200);
    const first = login.headers['x-token'] as string;
    const secret = await client.send(b, 'GET', '/api/secret', { headers: { 'x-token': first } });
    expect(secret.status, secret.text).to.equal(200);
    const renewed = await client.send(a, 'GET', '/api/auth/refresh', { headers: { 'x-token': first } });
    expect(renewed.status).to.equal(200);
    const second = renewed.headers['x-token'] as string;
    const out = await client.send(b, 'POST', '/api/auth/logout', { headers: { 'x-token': second } });
    expect(out.status, out.text).to.equal(200);
    const after = await client.send(a, 'GET', '/api/secret', { headers: { 'x-token': second } });
    expect(after.status, 'revoked on B, refused on A').to.equal(401);
  });

  it('SMS: password on A, code sent by B; 1,000 concurrent redemptions split across A and B: exactly one succeeds', async () => {
    const client = browser();
    sandbox.inbox.clear();
    expect(
      (await client.send(a, 'POST', '/sms/login', { headers: { authorization: basic(BOB) } })).status,
    ).to.equal(200);
    expect((await client.send(b, 'POST', '/sms/send', { json: {} })).status).to.equal(202);
    const code = await codeFor(BOB.phone);
    const attempts = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        client.send(i % 2 ? a : b, 'POST', '/sms/verify', { json: { code } }),
      ),
    );
    const byStatus = new Map<number, number>();
    for (const attempt of attempts) byStatus.set(attempt.status, (byStatus.get(attempt.status) ?? 0) + 1);
    expect(byStatus.get(200), JSON.stringify(Object.fromEntries(byStatus))).to.equal(1);
    if (process.env.REPORT_FIGURES) {
      const codes = new Map<string, number>();
      for (const { status, body } of attempts) {
        const key = `${status} ${(body as { code?: string }).code ?? ''}`.trim();
        codes.set(key, (codes.get(key) ?? 0) + 1);
      }
      process.stdout.write(`      1,000 redemptions: ${JSON.stringify(Object.fromEntries(codes))}\n`);
    }
    expect(
      [...byStatus.keys()].every((s) => s === 200 || (s >= 400 && s < 500)),
      'no 5xx',
    ).to.equal(true);
    const winner = attempts.findIndex((attempt) => attempt.status === 200);
    expect((await client.send(winner % 2 ? b : a, 'GET', '/sms/me')).body).to.deep.include({
      factors: ['basic-login', 'sms-otp'],
    });
    const again = await client.send(winner % 2 ? b : a, 'POST', '/sms/verify', { json: { code } });
    expect(again.status, 'single use across instances').to.not.equal(200);
  });

  it('SMS: the attempt limit counts tries on both instances, and locks on both', async () => {
    const client = browser();
    sandbox.inbox.clear();
    expect(
      (await client.send(b, 'POST', '/sms/login', { headers: { authorization: basic(ALICE) } })).status,
    ).to.equal(200);
    expect((await client.send(a, 'POST', '/sms/send', { json: {} })).status).to.equal(202);
    const code = await codeFor(ALICE.phone);
    const wrong = code === '000000' ? '111111' : '000000';
    const answers = [];
    for (let i = 0; i < 5; i++)
      answers.push(await client.send(i % 2 ? a : b, 'POST', '/sms/verify', { json: { code: wrong } }));
    expect(answers.map((r) => r.status)).to.deep.equal([401, 401, 401, 401, 429]);
    expect((answers[4]!.body as { code: string }).code).to.equal('locked');
    // The right code is refused now, on either instance.
    for (const instance of [a, b]) {
      const late = await client.send(instance, 'POST', '/sms/verify', { json: { code } });
      expect(late.status, `${instance.name}: ${late.text}`).to.equal(429);
    }
  });

  it('SecSign: start on A, poll on B, the phone confirms, complete on A', async () => {
    const client = browser();
    const started = await client.send(a, 'POST', '/secsign/start', { json: { secsignid: 'alice' } });
    expect(started.status, started.text).to.equal(200);
    expect(((await client.send(b, 'GET', '/secsign/status')).body as { state: string }).state).to.equal(
      'pending',
    );
    sandbox.secsign.approve('alice');
    expect(((await client.send(b, 'GET', '/secsign/status')).body as { state: string }).state).to.equal(
      'authenticated',
    );
    const done = await client.send(a, 'POST', '/secsign/complete');
    expect(done.status, done.text).to.equal(200);
    expect(done.body).to.deep.include({ status: 'complete', factors: ['secsign'] });
    expect((await client.send(b, 'POST', '/secsign/complete')).status, 'completes once').to.not.equal(200);
  });

  it('XignIn: the login starts on A, XignIn sends the browser back to B, the session holds on A', async () => {
    const client = browser();
    const login = await client.send(a, 'GET', '/xignin/login');
    expect(login.status).to.equal(302);
    const authorize = new URL(login.headers.location as string);
    const page = await browser().send(
      { url: authorize.origin } as Instance,
      'GET',
      `${authorize.pathname}${authorize.search}`,
    );
    const loginId = /data-login="([^"]+)"/.exec(page.text)![1]!;
    sandbox.xignin.approve('alice', loginId);
    const wait = await browser().send(
      { url: sandbox.url } as Instance,
      'GET',
      `/xignin/openid/authenticate/wait?login=${loginId}`,
    );
    const callback = new URL((wait.body as { redirect: string }).redirect);
    const back = await client.send(b, 'GET', `${callback.pathname}${callback.search}`);
    expect(back.status).to.equal(303);
    expect(back.headers.location).to.equal('/#xignin');
    const me = await client.send(a, 'GET', '/xignin/me');
    expect(me.status, me.text).to.equal(200);
    expect(me.body).to.deep.include({ mode: 'redirect' });
  });

  it('RISC: password on A, a risky check on B, the SecSign step-up on A and B, cleared on B', async () => {
    const client = browser();
    const login = await client.send(a, 'POST', '/risk/login', { headers: { authorization: basic(ALICE) } });
    expect(login.status, login.text).to.equal(200);
    const userId = (login.body as { user: { id: string } }).user.id;
    sandbox.lastwall.setRisk(userId, 'risky');
    try {
      const check = await client.send(b, 'POST', '/risk/check', {
        json: { riscdata: sandbox.lastwall.snapshotFor(userId, 'browser-multi') },
      });
      expect(check.status, check.text).to.equal(401);
      expect((check.body as { code: string }).code).to.equal('risky');
      expect((await client.send(b, 'GET', '/risk/me')).status, 'not cleared yet').to.equal(401);
      expect(
        (await client.send(a, 'POST', '/secsign/start', { json: { secsignid: 'alice' } })).status,
      ).to.equal(200);
      sandbox.secsign.approve('alice');
      const stepUp = await client.send(b, 'POST', '/risk/step-up/secsign', { json: {} });
      expect(stepUp.status, stepUp.text).to.equal(200);
      const me = await client.send(a, 'GET', '/risk/me');
      expect(me.status, me.text).to.equal(200);
    } finally {
      sandbox.lastwall.setRisk(userId, 'passed');
    }
  });

  it('U1: the password alone on A is no login on B, for Passport or for the journey guards', async () => {
    const client = browser();
    const login = await client.send(a, 'POST', '/sms/login', { headers: { authorization: basic(ALICE) } });
    expect(login.status, login.text).to.equal(200);
    expect(login.body).to.deep.include({ status: 'partial', factors: ['basic-login'] });
    for (const instance of [a, b]) {
      expect((await client.send(instance, 'GET', '/sms/me')).status).to.equal(401);
      expect((await client.send(instance, 'GET', '/risk/me')).status).to.equal(401);
      expect((await client.send(instance, 'GET', '/secsign/me')).status).to.equal(401);
    }
  });

  it('U3: unlock emails of one user are throttled across A and B; the address in the body is ignored', async () => {
    const client = browser();
    const login = await client.send(b, 'POST', '/risk/login', { headers: { authorization: basic(BOB) } });
    expect(login.status, login.text).to.equal(200);
    const userId = (login.body as { user: { id: string } }).user.id;
    sandbox.lastwall.setRisk(userId, 'failed');
    try {
      const check = await client.send(a, 'POST', '/risk/check', {
        json: { riscdata: sandbox.lastwall.snapshotFor(userId, 'browser-unlock-multi') },
      });
      expect((check.body as { next: string }).next).to.equal('unlock');
      sandbox.inbox.clear();
      const answers: number[] = [];
      for (const instance of [a, b, a, b, a]) {
        const sent = await client.send(instance, 'POST', '/risk/unlock', {
          json: { email: 'attacker@evil.example' },
        });
        answers.push(sent.status);
      }
      expect(answers, 'the default: 3 an hour').to.deep.equal([202, 202, 202, 429, 429]);
      expect(sandbox.inbox.to('bob@example.test')).to.have.length(3);
      expect(sandbox.inbox.to('attacker@evil.example')).to.have.length(0);
    } finally {
      sandbox.lastwall.setRisk(userId, 'passed');
    }
  });
});

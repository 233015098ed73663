import { expect } from 'chai';
import type { Sandbox } from '../../src/sandbox/index.js';
import { twoInstancesBehindOneRedis, type Answer, type Instance } from '../helpers/instances.js';
import { BACKENDS } from './backends.js';

const ALICE = { username: 'alice', password: 'correct horse battery staple', phone: '+4915790000001' };
const BOB = { username: 'bob', password: 'pa:ss with a colon', phone: '+4915790000002' };
const basic = (who: { username: string; password: string }) =>
  `Basic ${Buffer.from(`${who.username}:${who.password}`).toString('base64')}`;
const tally = (answers: Answer[]) => {
  const byStatus: Record<number, number> = {};
  for (const { status } of answers) byStatus[status] = (byStatus[status] ?? 0) + 1;
  return byStatus;
};

/**
 * The cross-instance races of the standalone suite, on Redis Cluster and on Sentinel: two
 * example-app processes, the racing requests split between them.
 */
for (const { name, backend } of BACKENDS) {
  describe(`two example-app processes on ${name}: races`, function () {
    this.timeout(60_000);
    const env = twoInstancesBehindOneRedis({ sipgate: { tokenId: 'token-CLSTR1' } }, backend());
    let sandbox: Sandbox;
    let a: Instance;
    let b: Instance;
    before(() => ({ sandbox, a, b } = env));

    it('SMS: 1,000 concurrent redemptions of one code split across A and B: exactly one succeeds', async () => {
      const client = env.browser();
      sandbox.inbox.clear();
      const login = await client.send(a, 'POST', '/sms/login', { headers: { authorization: basic(BOB) } });
      expect(login.status, login.text).to.equal(200);
      expect((await client.send(b, 'POST', '/sms/send', { json: {} })).status).to.equal(202);
      const code = /\b(\d{6})\b/.exec((await sandbox.inbox.waitFor(BOB.phone)).text)![1]!;
      const attempts = await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          client.send(i % 2 ? a : b, 'POST', '/sms/verify', { json: { code } }),
        ),
      );
      const byStatus = tally(attempts);
      process.stdout.write(`      ${name}, 1,000 redemptions: ${JSON.stringify(byStatus)}\n`);
      expect(byStatus[200], JSON.stringify(byStatus)).to.equal(1);
      expect(
        Object.keys(byStatus).every((s) => s === '200' || (Number(s) >= 400 && Number(s) < 500)),
        'no 5xx',
      ).to.equal(true);
      const again = await client.send(a, 'POST', '/sms/verify', { json: { code } });
      expect(again.status, 'single use across instances').to.not.equal(200);
    });

    it('SecSign: 50 concurrent completions of one approved login split across A and B: exactly one logs in', async () => {
      const client = env.browser();
      const started = await client.send(a, 'POST', '/secsign/start', { json: { secsignid: 'alice' } });
      expect(started.status, started.text).to.equal(200);
      sandbox.secsign.approve('alice');
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => client.send(i % 2 ? a : b, 'POST', '/secsign/complete')),
      );
      const byStatus = tally(answers);
      expect(byStatus[200], JSON.stringify(byStatus)).to.equal(1);
      expect(
        Object.keys(byStatus).every((s) => s === '200' || s.startsWith('4')),
        JSON.stringify(byStatus),
      ).to.equal(true);
    });

    it('XignIn: one callback (one state) sent 30 times at once to A and B: exactly one login', async () => {
      const client = env.browser();
      const login = await client.send(a, 'GET', '/xignin/login');
      expect(login.status).to.equal(302);
      const authorize = new URL(login.headers.location as string);
      const page = await env
        .browser()
        .send({ url: authorize.origin } as Instance, 'GET', `${authorize.pathname}${authorize.search}`);
      const loginId = /data-login="([^"]+)"/.exec(page.text)![1]!;
      sandbox.xignin.approve('alice', loginId);
      const wait = await env
        .browser()
        .send({ url: sandbox.url } as Instance, 'GET', `/xignin/openid/authenticate/wait?login=${loginId}`);
      const callback = new URL((wait.body as { redirect: string }).redirect);
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          client.send(i % 2 ? a : b, 'GET', `${callback.pathname}${callback.search}`),
        ),
      );
      const logins = answers.filter((answer) => answer.headers.location === '/#xignin');
      expect(
        logins,
        JSON.stringify(answers.map((answer) => [answer.status, answer.headers.location])),
      ).to.have.length(1);
      expect(answers.every((answer) => answer.status < 500)).to.equal(true);
    });

    it('RISC: one passed snapshot checked 50 times at once on A and B: exactly one passes', async () => {
      const client = env.browser();
      const login = await client.send(a, 'POST', '/risk/login', { headers: { authorization: basic(ALICE) } });
      expect(login.status, login.text).to.equal(200);
      const userId = (login.body as { user: { id: string } }).user.id;
      const riscdata = sandbox.lastwall.snapshotFor(userId, `browser-${name}`);
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          client.send(i % 2 ? a : b, 'POST', '/risk/check', { json: { riscdata } }),
        ),
      );
      const byStatus = tally(answers);
      expect(byStatus[200], JSON.stringify(byStatus)).to.equal(1);
      expect(
        Object.keys(byStatus).every((s) => s === '200' || s.startsWith('4')),
        JSON.stringify(byStatus),
      ).to.equal(true);
    });
  });
}

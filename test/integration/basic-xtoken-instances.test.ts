import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import { twoInstancesBehindOneRedis, type Instance } from '../helpers/instances.js';
import { decodeXToken } from '../helpers/x-token.js';

const ALICE = { username: 'alice', password: 'correct horse battery staple' };
const BOB = { username: 'bob', password: 'pa:ss with a colon' };
const basic = (username: string, password: string) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
/** The example app keeps XTokenStrategy's defaults: reuseGraceSec 5, maxFailuresPerUser 10. */
const DEFAULT_GRACE_MS = 5000;
const MAX_FAILURES_PER_USER = 10;

/**
 * Basic login and X-Token on two example-app processes sharing one Redis (RedisStore for the
 * strategies), each request sent to whichever process the test names.
 */
describe('Basic login and X-Token on two example-app processes behind one Redis', function () {
  this.timeout(60_000);
  const env = twoInstancesBehindOneRedis();
  let a: Instance;
  let b: Instance;
  before(() => ({ a, b } = env));
  const browser = () => env.browser();

  const login = async (instance: Instance, who = ALICE) => {
    const answer = await browser().send(instance, 'POST', '/api/auth/login', {
      headers: { authorization: basic(who.username, who.password) },
    });
    expect(answer.status, answer.text).to.equal(200);
    return answer.headers['x-token'] as string;
  };
  const secret = (instance: Instance, token: string) =>
    browser().send(instance, 'GET', '/api/secret', { headers: { 'x-token': token } });

  it('B12: "log out everywhere" on A ends the user’s families used on A and B; another user keeps theirs; a login afterwards works', async () => {
    const laptop = await login(a);
    const phone = await login(b);
    const bob = await login(b, BOB);
    const out = await browser().send(a, 'POST', '/api/auth/logout-everywhere', {
      headers: { 'x-token': laptop },
    });
    expect(out.status, out.text).to.equal(200);
    expect(out.body).to.deep.equal({ success: true, families: 2 });
    for (const [instance, token] of [
      [b, phone],
      [a, phone],
      [b, laptop],
    ] as const)
      expect((await secret(instance, token)).status, `${instance.name}`).to.equal(401);
    expect((await secret(a, bob)).status).to.equal(200);
    const fresh = await login(b);
    expect((await secret(a, fresh)).status).to.equal(200);
  });

  it('B11: 10 parallel requests of one client with one token, split across A and B, all work and carry one current token', async () => {
    const token = await login(a);
    const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => secret(i % 2 ? a : b, token)));
    expect(answers.map((answer) => answer.status)).to.deep.equal(Array(10).fill(200));
    const jtis = new Set(answers.map((answer) => decodeXToken(answer.headers['x-token'] as string).jti));
    expect(jtis.size).to.equal(1);
  });

  it('B11: renewed on A, the stolen predecessor replayed on B after the default grace is refused, and the owner’s current token on A too', async function () {
    this.timeout(20_000);
    const stolen = await login(a);
    const renewed = await secret(a, stolen);
    expect(renewed.status).to.equal(200);
    const owner = renewed.headers['x-token'] as string;
    await sleep(DEFAULT_GRACE_MS + 500);
    expect((await secret(b, stolen)).status).to.equal(401);
    expect((await secret(a, owner)).status).to.equal(401);
  });

  it('B10: 200 parallel wrong passwords for one user split across A and B: at most maxFailuresPerUser reach verify (401), the rest 429; then the right password gets 429 on both', async () => {
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        browser().send(i % 2 ? a : b, 'POST', '/api/auth/login', {
          headers: { authorization: basic(ALICE.username, `guess-${i}`) },
        }),
      ),
    );
    const byStatus: Record<number, number> = {};
    for (const answer of answers) byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
    if (process.env.REPORT_FIGURES)
      process.stdout.write(`      200 parallel guesses, 2 processes: ${JSON.stringify(byStatus)}\n`);
    expect(byStatus[401] ?? 0, JSON.stringify(byStatus)).to.be.at.most(MAX_FAILURES_PER_USER);
    expect((byStatus[401] ?? 0) + (byStatus[429] ?? 0), JSON.stringify(byStatus)).to.equal(200);
    for (const answer of answers.filter((one) => one.status === 429)) {
      expect((answer.body as { code: string }).code).to.equal('rate_limited');
      expect(Number(answer.headers['retry-after'])).to.be.greaterThan(0);
    }
    for (const instance of [a, b]) {
      const right = await browser().send(instance, 'POST', '/api/auth/login', {
        headers: { authorization: basic(ALICE.username, ALICE.password) },
      });
      expect(right.status, `${instance.name}: ${right.text}`).to.equal(429);
      expect(right.headers).to.not.have.property('x-token');
    }
  });
});

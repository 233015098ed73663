import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Express } from 'express';
import sinon from 'sinon';
import request from 'supertest';
import { LASTWALL_SIGNATURE_ORDER } from '../../src/clients/lastwall.js';
import { LastwallClient, type RiscResult, type RiscStrategyOptions } from '../../src/exports/risc.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { RiscStrategy, VendorError } from '../../src/index.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { rejectionOf } from '../helpers/assert.js';
import { appWithPassport, decidingRoute, jsonErrors } from '../helpers/apps.js';
import { closedPort } from '../helpers/ports.js';
import { encryptSnapshotIndependently } from '../helpers/risc.js';

describe('Lastwall RISC against the sandbox over HTTP', () => {
  let sandbox: Sandbox;
  const clients: LastwallClient[] = [];
  const client = (options: Partial<ConstructorParameters<typeof LastwallClient>[0]> = {}) => {
    const made = new LastwallClient({ ...sandbox.lastwall.credentials, ...options });
    clients.push(made);
    return made;
  };

  before(async () => {
    sandbox = await startSandbox();
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await sandbox.close();
  });

  describe('LastwallClient', () => {
    it('verifies the API key with a digest-signed request, and with Basic', async () => {
      expect(await client().verifyApiKey()).to.equal(true);
      expect(await client({ auth: 'basic' }).verifyApiKey()).to.equal(true);
    });

    it('a wrong secret is refused by the sandbox (401, ERR_LASTWALL_UNAUTHORIZED)', async () => {
      const err = await rejectionOf(
        client({ secret: randomBytes(32).toString('hex') }).verifyApiKey(),
        VendorError,
      );
      expect(err).to.include({ code: 'ERR_LASTWALL_UNAUTHORIZED', vendorStatus: 401 });
      expect(err.message).to.match(/clock/);
    });

    /** A request signed by hand: the right signature over whatever timestamp and request id we choose. */
    function signedVerify(timestamp: number, requestId: string) {
      const { token, secret, baseUrl } = sandbox.lastwall.credentials;
      const url = new URL(`${baseUrl}api/verify`);
      const parts = {
        url: `${url.protocol}//${url.hostname}${url.pathname}`,
        requestId,
        timestamp: String(timestamp),
      };
      const signature = createHmac('sha1', secret)
        .update(LASTWALL_SIGNATURE_ORDER.map((p) => parts[p]).join(''))
        .digest('base64');
      return request(baseUrl).get('api/verify').set({
        'x-lastwall-token': token,
        'x-lastwall-timestamp': parts.timestamp,
        'x-lastwall-request-id': requestId,
        'x-lastwall-signature': signature,
      });
    }

    it('a correctly signed request with a stale timestamp (6 minutes old) is refused by the sandbox', async () => {
      const now = Math.floor(Date.now() / 1000);
      expect((await signedVerify(now, randomUUID())).status, 'the hand-signed request is right').to.equal(
        200,
      );
      const stale = await signedVerify(now - 360, randomUUID());
      expect(stale.status).to.equal(401);
      expect(stale.body.error).to.match(/Timestamp/);
    });

    it('a replayed request id is refused by the sandbox', async () => {
      const id = randomUUID();
      const now = Math.floor(Date.now() / 1000);
      expect((await signedVerify(now, id)).status).to.equal(200);
      expect((await signedVerify(now, id)).status).to.equal(401);
    });

    it('builds the script URL as …/risc/script/<token>/<url-encoded user id>', () => {
      const { token, baseUrl } = sandbox.lastwall.credentials;
      expect(client().scriptUrl('a b/c')).to.equal(`${baseUrl}risc/script/${token}/a%20b%2Fc`);
    });

    it('refuses credentials of the wrong form up front', () => {
      expect(
        () => new LastwallClient({ token: 'LWKshort', secret: sandbox.lastwall.credentials.secret }),
      ).to.throw(/token/);
      expect(() => new LastwallClient({ token: sandbox.lastwall.credentials.token, secret: 'xyz' })).to.throw(
        /secret/,
      );
    });
  });

  describe('RiscStrategy over HTTP', () => {
    const strategies: RiscStrategy[] = [];
    after(async () => Promise.all(strategies.map((s) => s.client.close())));

    function riscApp(options: Partial<Omit<RiscStrategyOptions, 'passReqToCallback'>> = {}): {
      app: Express;
      risc: RiscStrategy;
    } {
      const { app, passport } = appWithPassport();
      const risc = new RiscStrategy({
        ...sandbox.lastwall.credentials,
        store: new MemoryStore(),
        ...options,
      });
      strategies.push(risc);
      passport.use(risc);
      // The first factor is done: the test names the logged-in user.
      app.use((req, _res, next) => {
        const user = req.get('x-test-user');
        if (user) req.user = { id: user };
        next();
      });
      app.post('/check', decidingRoute(passport, 'risc'));
      app.use(jsonErrors);
      return { app, risc };
    }
    const check = (app: Express, user: string, riscdata: unknown) =>
      request(app).post('/check').set('x-test-user', user).send({ riscdata });

    it('passed → logged in, with the score and browser id in the info', async () => {
      sandbox.lastwall.setRisk('u1', 'passed');
      const res = await check(riscApp().app, 'u1', sandbox.lastwall.snapshotFor('u1', 'b1'));
      expect(res.status).to.equal(200);
      expect(res.body.info).to.deep.equal({ method: 'risc', score: 12, browserId: 'b1' });
    });

    it('risky → 401 risky with score and browser id, so the app can step up', async () => {
      sandbox.lastwall.setRisk('u2', 'risky');
      const res = await check(riscApp().app, 'u2', sandbox.lastwall.snapshotFor('u2', 'b2'));
      expect(res.status).to.equal(401);
      expect(res.body).to.include({ code: 'risky', score: 58, browserId: 'b2' });
    });

    it('failed → 401 failed_risk with score and browser id', async () => {
      sandbox.lastwall.setRisk('u3', 'failed');
      const res = await check(riscApp().app, 'u3', sandbox.lastwall.snapshotFor('u3', 'b3'));
      expect(res.body).to.include({ code: 'failed_risk', score: 93, browserId: 'b3' });
    });

    it('preAuthenticate after a second factor makes the next check from that browser pass with score 0', async () => {
      const { app, risc } = riscApp();
      sandbox.lastwall.setRisk('u4', 'risky');
      expect((await check(app, 'u4', sandbox.lastwall.snapshotFor('u4', 'b4'))).body.code).to.equal('risky');
      await risc.client.preAuthenticate('u4', 'b4');
      const res = await check(app, 'u4', sandbox.lastwall.snapshotFor('u4', 'b4'));
      expect(res.status).to.equal(200);
      expect(res.body.info.score).to.equal(0);
    });

    it('emailAuthenticate sends an unlock link; following it lets the next check pass', async () => {
      const { app, risc } = riscApp();
      sandbox.lastwall.setRisk('u5', 'failed');
      await risc.client.emailAuthenticate('u5', 'b5', 'u5@example.test');
      const mail = await sandbox.inbox.waitFor('u5@example.test');
      const link = /(https?:\/\/\S+)/.exec(mail.text)![1]!;
      expect((await request(link).get('')).status).to.equal(200);
      expect((await check(app, 'u5', sandbox.lastwall.snapshotFor('u5', 'b5'))).status).to.equal(200);
    });

    it('R1: a bit-flipped snapshot and a forged "passed" result (never issued by Lastwall) are refused', async () => {
      const { app } = riscApp();
      sandbox.lastwall.setRisk('u6', 'failed');
      const snapshot = JSON.parse(sandbox.lastwall.snapshotFor('u6', 'b6')) as { data: string };
      const bytes = Buffer.from(snapshot.data, 'base64');
      bytes[5]! ^= 0x40;
      expect(
        (await check(app, 'u6', JSON.stringify({ ...snapshot, data: bytes.toString('base64') }))).body.code,
      ).to.equal('failed_risk');
      // The secret is known to the app, so anyone holding it can encrypt a result: validate catches it.
      const forged: RiscResult = {
        snapshot_id: 'made-up',
        browser_id: 'b6',
        user_id: 'u6',
        date: new Date().toISOString(),
        score: 0,
        status: 'passed',
      };
      const res = await check(
        app,
        'u6',
        encryptSnapshotIndependently(JSON.stringify(forged), sandbox.lastwall.credentials.secret),
      );
      expect(res.status).to.equal(401);
      expect(res.body.code).to.equal('failed_risk');
    });

    it('R1: with validate: false the same forgery would pass, which is why validation is on by default', async () => {
      const { app } = riscApp({ validate: false });
      const forged: RiscResult = {
        snapshot_id: 'made-up-2',
        browser_id: 'b7',
        user_id: 'u7',
        date: new Date().toISOString(),
        score: 0,
        status: 'passed',
      };
      expect(
        (
          await check(
            app,
            'u7',
            encryptSnapshotIndependently(JSON.stringify(forged), sandbox.lastwall.credentials.secret),
          )
        ).status,
      ).to.equal(200);
    });

    it('R2: a replayed passed snapshot, and one for another user, are refused', async () => {
      const { app } = riscApp();
      sandbox.lastwall.setRisk('u8', 'passed');
      const snapshot = sandbox.lastwall.snapshotFor('u8', 'b8');
      expect((await check(app, 'u8', snapshot)).status).to.equal(200);
      expect((await check(app, 'u8', snapshot)).body.code, 'replay').to.equal('failed_risk');
      expect(
        (await check(app, 'u9', sandbox.lastwall.snapshotFor('u8', 'b8'))).body.code,
        'other user',
      ).to.equal('failed_risk');
    });

    it('R2: an old passed snapshot is refused', async () => {
      const { app } = riscApp({ maxAgeSec: 60 });
      const snapshot = sandbox.lastwall.snapshotFor('u10', 'b10');
      const clock = sinon.useFakeTimers({ now: Date.now() + 61_000, toFake: ['Date'] });
      try {
        expect((await check(app, 'u10', snapshot)).body.code).to.equal('failed_risk');
      } finally {
        clock.restore();
      }
    });

    it('R3: a missing or garbage snapshot fails closed (failed_risk), never as score 0', async () => {
      const { app } = riscApp();
      for (const riscdata of [undefined, '', 'garbage', '{"ix":1}', { nested: true }]) {
        const res = await check(app, 'u1', riscdata);
        expect(res.status).to.equal(401);
        expect(res.body.code).to.equal('failed_risk');
      }
    });

    it('R4: padding and parse problems answer one identical failure', async () => {
      const { app } = riscApp();
      const snapshot = JSON.parse(sandbox.lastwall.snapshotFor('u1', 'b1')) as { data: string };
      const truncated = JSON.stringify({
        ...snapshot,
        data: Buffer.from(snapshot.data, 'base64').subarray(0, 16).toString('base64'),
      });
      const bodies = await Promise.all(
        [truncated, '{"ix":3,"iv":"zz","data":"!!"}', 'nope'].map(
          async (s) => (await check(app, 'u1', s)).text,
        ),
      );
      expect(new Set(bodies).size).to.equal(1);
    });

    it('no first factor → missing_credentials; a Lastwall fault → error, never a login', async () => {
      const { app } = riscApp();
      const res = await request(app)
        .post('/check')
        .send({ riscdata: sandbox.lastwall.snapshotFor('u1', 'b1') });
      expect(res.body.code).to.equal('missing_credentials');
      const port = await closedPort();
      const down = riscApp({ baseUrl: `http://127.0.0.1:${port}/` });
      const fault = await check(down.app, 'u1', sandbox.lastwall.snapshotFor('u1', 'b11'));
      expect(fault.status).to.equal(502);
      expect(fault.body).to.not.have.property('user');
    });
  });
});

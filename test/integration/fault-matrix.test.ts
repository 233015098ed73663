import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'chai';
import type { ErrorRequestHandler, Express, RequestHandler } from 'express';
import request from 'supertest';
import {
  BasicLoginStrategy,
  RiscStrategy,
  SecSignStrategy,
  SmsOtpStrategy,
  VendorError,
  XignInStrategy,
} from '../../src/index.js';
import { secSignHandlers } from '../../src/exports/secsign.js';
import { smsOtpHandlers } from '../../src/exports/sms-otp.js';
import { xignInHandlers } from '../../src/exports/xignin.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { SecSignClient, type SecSignEvent } from '../../src/exports/secsign.js';
import { SipgateSmsSender } from '../../src/exports/sms-otp.js';
import {
  startSandbox,
  WIRE_FAULTS,
  type Sandbox,
  type SandboxOperation,
  type WireFault,
} from '../../src/sandbox/index.js';
import {
  appWithPassport,
  basicHeader,
  decidingRoute,
  testUsers,
  type UserDirectory,
} from '../helpers/apps.js';

/**
 * Every vendor operation × every wire fault, over real HTTP against the sandbox: the login is
 * refused (never succeeds on a fault), the error is typed with a clear message, nothing is left
 * unhandled (test/helpers/setup.ts fails the run on an unhandled rejection), and every socket the
 * client opened is released.
 */

type Fault = WireFault | 'refused';
const FAULTS: readonly Fault[] = ['refused', ...WIRE_FAULTS];
/** Short deadline, so `no-answer` and `stalled-body` end fast; caps well under the 8 MiB `huge`. */
const CLIENT = { timeoutMs: 400, maxResponseBytes: 64 * 1024 };
const XIGNIN_SECRET = 'fault-matrix-client-secret-0123456789';
const REDIRECT = 'http://rp.example.test/callback';

interface Rig {
  app: Express;
  agent: ReturnType<typeof request.agent>;
  /** Errors that reached the app's error handler. */
  errors: unknown[];
  /** Closes the strategy's vendor client. */
  close(): Promise<void>;
}

interface Scenario {
  operation: SandboxOperation;
  /** What the user is doing when the operation is due, in words, for the test name. */
  when: string;
  rig(): Promise<Rig>;
  /** The steps before the operation is due; they must succeed. */
  before?(rig: Rig): Promise<void>;
  /** Makes the operation happen; answers what the user saw. */
  trigger(rig: Rig): Promise<request.Response | { rejected: unknown }>;
  /** After a fault: the login must not go through (default: nothing more to check). */
  notLoggedIn?(rig: Rig): Promise<void>;
  /** An operation that is housekeeping after a decision: the fault is reported, not answered. */
  reportedBy?: (rig: Rig) => unknown;
}

describe('vendor fault matrix: every client operation × every wire fault', function () {
  this.timeout(20_000);
  let sandbox: Sandbox;
  let users: UserDirectory;

  before(async () => {
    users = await testUsers();
    sandbox = await startSandbox({ secsign: { knownIds: ['alice'] } });
    sandbox.xignin.registerClient({
      clientId: 'rp-faults',
      clientSecret: XIGNIN_SECRET,
      redirectUris: [REDIRECT],
    });
  });
  afterEach(async () => {
    sandbox.wireFaults.disarm();
    sandbox.wireFaults.goOfflineAfter(undefined);
    await sandbox.goOnline();
  });
  after(() => sandbox.close());

  /** Records the errors the app's error handler sees, and answers them as JSON. */
  const recordingErrors =
    (errors: unknown[]): ErrorRequestHandler =>
    (err, _req, res, _next) => {
      errors.push(err);
      res
        .status(typeof err.status === 'number' ? err.status : 500)
        .json({ error: err.message, code: err.code });
    };

  function baseRig(app: Express, errors: unknown[], close: () => Promise<void>): Rig {
    app.use(recordingErrors(errors));
    return { app, agent: request.agent(app), errors, close };
  }

  // --- sipgate ---------------------------------------------------------------------------------

  async function smsRig(): Promise<Rig> {
    const { app, passport } = appWithPassport({ sessions: true, deserialize: (id) => users.findById(id) });
    const sender = new SipgateSmsSender({ ...sandbox.sipgate.credentials, ...CLIENT });
    const store = new MemoryStore();
    passport.use(new BasicLoginStrategy({ store }, (u: string, p: string) => users.checkPassword(u, p)));
    const sms = new SmsOtpStrategy({
      sender,
      store,
      secret: randomBytes(32),
      getPhoneNumber: (user) => (user as { phone?: string }).phone,
    });
    passport.use(sms);
    app.post('/login', passport.authenticate('basic-login') as RequestHandler, (_req, res) => res.json({}));
    app.post('/sms/send', smsOtpHandlers(sms).send);
    app.post('/sms/verify', decidingRoute(passport, 'sms-otp'));
    const rig = baseRig(app, [], () => sender.close());
    const first = await rig.agent
      .post('/login')
      .set('Authorization', basicHeader('alice', 'correct horse battery staple'));
    expect(first.status, 'password').to.equal(200);
    return rig;
  }

  // --- SecSign ---------------------------------------------------------------------------------

  interface SecSignRig extends Rig {
    events: SecSignEvent[];
  }
  function secsignRig(): Promise<SecSignRig> {
    const { app, passport } = appWithPassport();
    const client = new SecSignClient({ serverUrls: sandbox.secsign.serverUrls, ...CLIENT });
    const events: SecSignEvent[] = [];
    const secsign = new SecSignStrategy(
      {
        serviceName: 'Fault matrix',
        serviceAddress: 'https://example.test',
        client,
        store: new MemoryStore(),
        onEvent: (event) => events.push(event),
      },
      (secsignId: string) => ({ id: `user-${secsignId}` }),
    );
    passport.use(secsign);
    app.post('/secsign/start', secSignHandlers(secsign, { passport }).start);
    app.get('/secsign/status', secSignHandlers(secsign, { passport }).status);
    app.post('/secsign/cancel', secSignHandlers(secsign, { passport }).cancel);
    app.post('/secsign/complete', decidingRoute(passport, 'secsign'));
    return Promise.resolve({ ...baseRig(app, [], () => client.close()), events });
  }
  const secsignStarted = async (rig: Rig) => {
    const res = await rig.agent.post('/secsign/start').send({ secsignid: 'alice' });
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
  };
  const secsignNotLoggedIn = async (rig: Rig) => {
    sandbox.wireFaults.disarm();
    await sandbox.goOnline();
    const res = await rig.agent.post('/secsign/complete');
    expect(res.status, 'no login after the fault').to.not.equal(200);
    expect(res.body).to.not.have.property('user');
  };

  // --- XignIn ----------------------------------------------------------------------------------

  function xigninRig(options: { fetchUserInfo?: boolean } = {}): Promise<Rig> {
    const { app, passport } = appWithPassport();
    const strategy = new XignInStrategy(
      {
        managerUrl: sandbox.xignin.issuer,
        clientId: 'rp-faults',
        clientSecret: XIGNIN_SECRET,
        redirectUri: REDIRECT,
        store: new MemoryStore(),
        ...CLIENT,
        ...options,
      },
      (claims) => ({ id: `user-${claims.sub}` }),
    );
    passport.use(strategy);
    app.get('/login', passport.authenticate('xignin'));
    app.get('/callback', decidingRoute(passport, 'xignin'));
    app.post('/push', xignInHandlers(strategy, { passport }).push);
    app.get('/push/status', xignInHandlers(strategy, { passport }).pushStatus);
    app.post('/push/complete', decidingRoute(passport, 'xignin'));
    return Promise.resolve(baseRig(app, [], () => strategy.client.close()));
  }
  /** /login, then the QR page at XignIn and the phone's approval: answers the callback query. */
  async function xigninApproved(rig: Rig): Promise<string> {
    const login = await rig.agent.get('/login');
    expect(login.status, JSON.stringify(login.body)).to.equal(302);
    const params = new URL(login.headers.location!).searchParams;
    // The browser's own requests to XignIn close their connections, so only the client's are counted.
    const page = await request(sandbox.url)
      .get(`/xignin/openid/authenticate?${params}`)
      .set('Connection', 'close');
    const loginId = /data-login="([^"]+)"/.exec(page.text)![1]!;
    sandbox.xignin.approve('alice', loginId);
    const wait = await request(sandbox.url)
      .get(`/xignin/openid/authenticate/wait?login=${loginId}`)
      .set('Connection', 'close');
    return new URL(wait.body.redirect).search;
  }
  const callbacks = new WeakMap<Rig, string>();
  const pushStarted = async (rig: Rig) => {
    const res = await rig.agent.post('/push').send({ identifier: 'alice@example.test' });
    expect(res.status, JSON.stringify(res.body)).to.equal(202);
    sandbox.xignin.approve('alice');
  };

  // --- Lastwall --------------------------------------------------------------------------------

  interface RiscRig extends Rig {
    risc: RiscStrategy;
  }
  function riscRig(): Promise<RiscRig> {
    const { app, passport } = appWithPassport();
    const risc = new RiscStrategy({
      ...sandbox.lastwall.credentials,
      ...CLIENT,
      store: new MemoryStore(),
    });
    passport.use(risc);
    app.use((req, _res, next) => {
      req.user = { id: 'u-faults' };
      next();
    });
    app.post('/check', decidingRoute(passport, 'risc'));
    return Promise.resolve({ ...baseRig(app, [], () => risc.client.close()), risc });
  }
  const rejectionOf = async (promise: Promise<unknown>) => {
    try {
      await promise;
    } catch (err) {
      return { rejected: err };
    }
    return { rejected: undefined };
  };

  const SCENARIOS: Scenario[] = [
    {
      operation: 'sipgate.send',
      when: 'the code is texted',
      rig: smsRig,
      trigger: (rig) => rig.agent.post('/sms/send').send({}),
      notLoggedIn: async (rig) => {
        const res = await rig.agent.post('/sms/verify').send({ code: '000000' });
        expect(res.status).to.not.equal(200);
      },
    },
    {
      operation: 'secsign.requestAuthSession',
      when: 'the push is requested',
      rig: secsignRig,
      trigger: (rig) => rig.agent.post('/secsign/start').send({ secsignid: 'alice' }),
      notLoggedIn: secsignNotLoggedIn,
    },
    {
      operation: 'secsign.getAuthSessionState',
      when: 'the browser polls',
      rig: secsignRig,
      before: secsignStarted,
      trigger: (rig) => rig.agent.get('/secsign/status'),
      notLoggedIn: secsignNotLoggedIn,
    },
    {
      operation: 'secsign.cancelAuthSession',
      when: 'the user cancels',
      rig: secsignRig,
      before: secsignStarted,
      trigger: (rig) => rig.agent.post('/secsign/cancel').send({}),
      notLoggedIn: secsignNotLoggedIn,
    },
    {
      operation: 'secsign.releaseAuthSession',
      when: 'the confirmed session is released',
      rig: secsignRig,
      before: async (rig) => {
        await secsignStarted(rig);
        sandbox.secsign.approve('alice');
      },
      trigger: (rig) => rig.agent.post('/secsign/complete'),
      // The user confirmed on the phone: release is housekeeping after the decision. Its fault is
      // reported as an event; the pending request is gone, so nothing can be completed twice.
      reportedBy: (rig) => {
        const event = (rig as SecSignRig).events.find((e) => e.type === 'vendor_cleanup_failed');
        return event?.type === 'vendor_cleanup_failed' && event.action === 'release'
          ? event.error
          : undefined;
      },
      notLoggedIn: async (rig) => {
        const again = await rig.agent.post('/secsign/complete');
        expect(again.status, 'no second completion').to.not.equal(200);
      },
    },
    {
      operation: 'xignin.discovery',
      when: 'the login starts',
      rig: xigninRig,
      trigger: (rig) => rig.agent.get('/login'),
    },
    {
      operation: 'xignin.token',
      when: 'the code is redeemed',
      rig: xigninRig,
      before: async (rig) => void callbacks.set(rig, await xigninApproved(rig)),
      trigger: (rig) => rig.agent.get(`/callback${callbacks.get(rig)}`),
    },
    {
      operation: 'xignin.jwks',
      when: 'the id_token’s keys are fetched',
      rig: xigninRig,
      before: async (rig) => void callbacks.set(rig, await xigninApproved(rig)),
      trigger: (rig) => rig.agent.get(`/callback${callbacks.get(rig)}`),
    },
    {
      operation: 'xignin.userinfo',
      when: 'userinfo is fetched',
      rig: () => xigninRig({ fetchUserInfo: true }),
      before: async (rig) => void callbacks.set(rig, await xigninApproved(rig)),
      trigger: (rig) => rig.agent.get(`/callback${callbacks.get(rig)}`),
    },
    {
      operation: 'xignin.push',
      when: 'a push login starts',
      rig: xigninRig,
      trigger: (rig) => rig.agent.post('/push').send({ identifier: 'alice@example.test' }),
    },
    {
      operation: 'xignin.pushStatus',
      when: 'the push login is polled',
      rig: xigninRig,
      before: pushStarted,
      trigger: (rig) => rig.agent.get('/push/status'),
      notLoggedIn: async (rig) => {
        const res = await rig.agent.post('/push/complete?push=1').send({ push: '1' });
        expect(res.status, JSON.stringify(res.body)).to.not.equal(200);
      },
    },
    {
      operation: 'lastwall.validate',
      when: 'the snapshot is validated',
      rig: riscRig,
      trigger: (rig) =>
        rig.agent.post('/check').send({ riscdata: sandbox.lastwall.snapshotFor('u-faults', 'b1') }),
    },
    {
      operation: 'lastwall.verifyApiKey',
      when: 'the app checks its API key',
      rig: riscRig,
      trigger: (rig) => rejectionOf((rig as RiscRig).risc.client.verifyApiKey()),
    },
    {
      operation: 'lastwall.preAuthenticate',
      when: 'a browser is pre-authenticated after a second factor',
      rig: riscRig,
      trigger: (rig) => rejectionOf((rig as RiscRig).risc.client.preAuthenticate('u-faults', 'b1')),
    },
    {
      operation: 'lastwall.emailAuthenticate',
      when: 'an unlock email is requested',
      rig: riscRig,
      trigger: (rig) =>
        rejectionOf((rig as RiscRig).risc.client.emailAuthenticate('u-faults', 'b1', 'u@example.test')),
    },
  ];

  /** The operation just before `operation` in its flow, for refusing exactly `operation`. */
  const PRECEDING: Partial<Record<SandboxOperation, SandboxOperation>> = {
    'xignin.jwks': 'xignin.token',
    'xignin.userinfo': 'xignin.jwks',
    'secsign.releaseAuthSession': 'secsign.getAuthSessionState',
  };

  async function inject(operation: SandboxOperation, fault: Fault): Promise<void> {
    if (fault !== 'refused') return sandbox.wireFaults.arm(operation, fault);
    const preceding = PRECEDING[operation];
    if (preceding) sandbox.wireFaults.goOfflineAfter(preceding);
    else await sandbox.goOffline();
  }

  async function expectSocketsReleased(rig: Rig): Promise<void> {
    await rig.close();
    for (let waited = 0; waited < 2000; waited += 20) {
      if ((await sandbox.openConnections()) === 0) return;
      await sleep(20);
    }
    expect(await sandbox.openConnections(), 'connections left open to the vendor').to.equal(0);
  }

  function expectTypedError(error: unknown, scenario: Scenario, fault: Fault): void {
    expect(error, 'a VendorError').to.be.instanceOf(VendorError);
    const vendorError = error as VendorError;
    expect(vendorError.code).to.match(/^ERR_[A-Z_]+$/);
    expect(vendorError.message)
      .to.be.a('string')
      .and.not.match(/undefined|\[object/);
    const expected: Partial<Record<Fault, RegExp>> = {
      refused: /^ERR_VENDOR_(UNREACHABLE|CONNECTION)$/,
      'no-answer': /^ERR_VENDOR_TIMEOUT$/,
      'stalled-body': /^ERR_VENDOR_TIMEOUT$/,
      huge: /^ERR_VENDOR_RESPONSE_TOO_LARGE$/,
      'wrong-content-type': /^ERR_VENDOR_CONTENT_TYPE$/,
      // Refused by the label where a source says JSON (OpenID), else by the body's shape.
      'gateway-page': /^ERR_(VENDOR_CONTENT_TYPE|[A-Z]+_BAD_RESPONSE|XIGNIN_PUSH)$/,
      truncated: /^ERR_VENDOR_CONNECTION$/,
    };
    if (expected[fault])
      expect(vendorError.code, `${scenario.operation} / ${fault}`).to.match(expected[fault]!);
  }

  /**
   * Operations whose vendor sources never read the Content-Type (docs/protocols.md): the genuine
   * answer labelled `text/html` is still the genuine answer (SECURITY.md V2). XignIn's OpenID
   * answers stay refused: OIDC Discovery §4.2 and RFC 6749 §5.1 require `application/json`.
   */
  const LABEL_NOT_CHECKED = new Set<SandboxOperation>([
    'sipgate.send',
    'secsign.requestAuthSession',
    'secsign.getAuthSessionState',
    'secsign.cancelAuthSession',
    'secsign.releaseAuthSession',
    'xignin.push',
    'xignin.pushStatus',
    'lastwall.verifyApiKey',
    'lastwall.validate',
    'lastwall.preAuthenticate',
    'lastwall.emailAuthenticate',
  ]);

  for (const scenario of SCENARIOS) {
    describe(`${scenario.operation} (${scenario.when})`, () => {
      for (const fault of FAULTS) {
        if (fault === 'wrong-content-type' && LABEL_NOT_CHECKED.has(scenario.operation)) {
          it('V2: wrong-content-type: the genuine answer labelled text/html works, sockets released', async () => {
            const rig = await scenario.rig();
            try {
              if (scenario.before) await scenario.before(rig);
              await inject(scenario.operation, fault);
              const outcome = await scenario.trigger(rig);
              if ('rejected' in outcome) expect(outcome.rejected, 'no rejection').to.equal(undefined);
              else expect(outcome.status, JSON.stringify(outcome.body)).to.be.below(500);
              expect(rig.errors, 'no error reached the app').to.deep.equal([]);
              if (scenario.reportedBy)
                expect(scenario.reportedBy(rig), 'no cleanup fault').to.equal(undefined);
            } finally {
              sandbox.wireFaults.disarm();
              await expectSocketsReleased(rig);
            }
          });
          continue;
        }
        it(`${fault}: refused with a typed error, sockets released`, async () => {
          const rig = await scenario.rig();
          try {
            if (scenario.before) await scenario.before(rig);
            await inject(scenario.operation, fault);
            const outcome = await scenario.trigger(rig);
            let error: unknown;
            if (scenario.reportedBy) {
              error = scenario.reportedBy(rig);
            } else if ('rejected' in outcome) {
              error = outcome.rejected;
            } else {
              expect(outcome.status, JSON.stringify(outcome.body)).to.be.within(500, 599);
              expect(outcome.body).to.not.have.property('user');
              expect(rig.errors, 'one error reached the app').to.have.length(1);
              error = rig.errors[0];
              expect(outcome.body.code).to.equal((error as VendorError).code);
            }
            expectTypedError(error, scenario, fault);
            if (scenario.notLoggedIn) await scenario.notLoggedIn(rig);
          } finally {
            sandbox.wireFaults.disarm();
            await sandbox.goOnline();
            await expectSocketsReleased(rig);
          }
        });
      }
    });
  }
});

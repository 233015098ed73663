import { expect } from 'chai';
import { ConfigurationError, VendorError } from '../../src/index.js';
import { parseSecSignResponse } from '../../src/clients/secsign.js';
import {
  SecSignClient,
  SecSignError,
  SecSignState,
  type SecSignAuthSession,
} from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { rejectionOf } from '../helpers/assert.js';
import { closedPort } from '../helpers/ports.js';

describe('parseSecSignResponse (the vendor library’s reading of key=value&…)', () => {
  it('splits at the first "=" and never url-decodes, so base64 padding and escapes survive', () => {
    expect(
      parseSecSignResponse('authsessionicondata=iVBORw0KGgo==&servicename=My%20Shop&x=a=b'),
    ).to.deep.equal({
      authsessionicondata: 'iVBORw0KGgo==',
      servicename: 'My%20Shop',
      x: 'a=b',
    });
  });

  it('reads errors and empty values, and refuses a field without a key', () => {
    expect(parseSecSignResponse('error=500&errormsg=')).to.deep.equal({ error: '500', errormsg: '' });
    expect(() => parseSecSignResponse('<html>oops</html>')).to.throw(VendorError, /unreadable/);
    expect(() => parseSecSignResponse('=value')).to.throw(VendorError);
  });
});

describe('SecSignClient against the sandbox over HTTP', () => {
  let sandbox: Sandbox;
  const clients: SecSignClient[] = [];
  const client = (options: ConstructorParameters<typeof SecSignClient>[0] = {}) => {
    const created = new SecSignClient({ serverUrls: sandbox.secsign.serverUrls, ...options });
    clients.push(created);
    return created;
  };
  const start = (c = client(), secsignId = 'alice') =>
    c.requestAuthSession({ secsignId, serviceName: 'Example', serviceAddress: 'https://example.test' });

  before(async () => {
    sandbox = await startSandbox({ secsign: { knownIds: ['alice', 'bob', 'jörg'] } });
  });
  beforeEach(() => {
    sandbox.secsign.faults = {};
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await sandbox.close();
  });

  it('requests an auth session: ids and an access pass PNG as a data URL', async () => {
    const session = await start();
    expect(session).to.include({
      secsignId: 'alice',
      serviceName: 'Example',
      serviceAddress: 'https://example.test',
    });
    expect(session.authSessionId).to.match(/^[0-9a-f]{32}$/);
    expect(session.requestId).to.be.a('string').with.length.greaterThan(10);
    const png = Buffer.from(session.accessPass.replace('data:image/png;base64,', ''), 'base64');
    expect(png.subarray(1, 4).toString()).to.equal('PNG');
  });

  it('trims and lower-cases the SecSign ID, and sends a byte-correct Content-Length for UTF-8', async () => {
    const session = await client().requestAuthSession({
      secsignId: '  JÖRG ',
      serviceName: 'Café Ünïcode',
      serviceAddress: 'https://example.test',
    });
    // Had the length counted characters, the server would have read a truncated body.
    expect(session).to.include({ secsignId: 'jörg', serviceName: 'Café Ünïcode' });
  });

  it('follows the state machine: pending → fetched → authenticated, then release forgets it', async () => {
    const c = client();
    const session = await start(c);
    expect(await c.getAuthSessionState(session)).to.equal(SecSignState.PENDING);
    sandbox.secsign.fetch('alice');
    expect(await c.getAuthSessionState(session)).to.equal(SecSignState.FETCHED);
    sandbox.secsign.approve('alice');
    expect(await c.getAuthSessionState(session)).to.equal(SecSignState.AUTHENTICATED);
    await c.releaseAuthSession(session);
    const err = await rejectionOf(c.getAuthSessionState(session), SecSignError);
    expect(err).to.include({
      code: 'ERR_SECSIGN_REFUSED',
      secsignCode: '200',
      secsignMessage: 'Auth session not found.',
    });
  });

  for (const [label, act, expected] of [
    ['denied', (s: Sandbox) => s.secsign.deny('bob'), SecSignState.DENIED],
    ['expired', (s: Sandbox) => s.secsign.expire('bob'), SecSignState.EXPIRED],
  ] as const) {
    it(`answers ${label} as ${expected}`, async () => {
      const c = client();
      const session = await start(c, 'bob');
      act(sandbox);
      expect(await c.getAuthSessionState(session)).to.equal(expected);
    });
  }

  it('cancels: the wire state is 6 (CANCELED), not 1 as the vendor’s Node library claims', async () => {
    const c = client();
    const session = await start(c);
    await c.cancelAuthSession(session);
    expect(await c.getAuthSessionState(session)).to.equal(6);
    expect(SecSignState.CANCELED).to.equal(6);
  });

  it('carries the vendor’s error code and text for a refused request', async () => {
    const err = await rejectionOf(start(client(), 'nobody'), SecSignError);
    expect(err.secsignCode).to.equal('104');
    expect(err.message).to.include('does not exist');
  });

  it('a session with someone else’s requestid is refused by the server', async () => {
    const c = client();
    const a = await start(c, 'alice');
    const b = await start(c, 'bob');
    await rejectionOf(c.getAuthSessionState({ ...a, requestId: b.requestId }), SecSignError);
  });

  describe('faults become typed errors', () => {
    let session: SecSignAuthSession;
    beforeEach(async () => {
      session = await start();
    });

    const cases: Array<[string, () => void, string, object?]> = [
      [
        'an unknown state number',
        () => (sandbox.secsign.faults = { stateOverride: 42 }),
        'ERR_SECSIGN_UNKNOWN_STATE',
      ],
      [
        'a 500 from both servers',
        () => (sandbox.secsign.faults = { failWithStatus: 500 }),
        'ERR_SECSIGN_SERVER',
      ],
      [
        'a body that is not key=value',
        () => (sandbox.secsign.faults = { garbage: true }),
        'ERR_SECSIGN_BAD_RESPONSE',
      ],
      [
        'a dropped connection',
        () => (sandbox.secsign.faults = { dropConnection: true }),
        'ERR_VENDOR_CONNECTION',
      ],
      [
        'no answer within the timeout',
        () => (sandbox.secsign.faults = { latencyMs: 400 }),
        'ERR_VENDOR_TIMEOUT',
        { timeoutMs: 100 },
      ],
    ];
    for (const [what, induce, code, options] of cases) {
      it(`${what} → ${code}`, async () => {
        induce();
        const err = await rejectionOf(client(options).getAuthSessionState(session), VendorError);
        expect(err).to.include({ code, vendor: 'SecSign' });
      });
    }
  });

  describe('server fallback', () => {
    it('state queries go to the fallback when the primary is down (503)', async () => {
      const c = client();
      const session = await start(c);
      sandbox.secsign.faults = { primaryDown: true };
      sandbox.secsign.requests.length = 0;
      expect(await c.getAuthSessionState(session)).to.equal(SecSignState.PENDING);
      expect(sandbox.secsign.requests.map((r) => r.server)).to.deep.equal(['primary', 'fallback']);
    });

    it('a new session goes to the fallback when the primary refuses the connection', async () => {
      const port = await closedPort();
      const c = client({ serverUrls: [`http://127.0.0.1:${port}/`, sandbox.secsign.serverUrls[1]] });
      const session = await start(c);
      expect(await c.getAuthSessionState(session)).to.equal(SecSignState.PENDING);
    });

    it('a new session is NOT repeated on the fallback when the primary may have processed it (500)', async () => {
      const c = client();
      sandbox.secsign.requests.length = 0;
      sandbox.secsign.faults = { failWithStatus: 500 };
      await rejectionOf(start(c), VendorError);
      expect(sandbox.secsign.requests.map((r) => r.server)).to.deep.equal(['primary']);
    });

    it('state queries DO go on to the fallback after a timeout, being reads', async () => {
      const c = client({
        timeoutMs: 150,
        serverUrls: [sandbox.secsign.serverUrls[0], sandbox.secsign.serverUrls[1]],
      });
      const session = await start(c);
      sandbox.secsign.faults = { latencyMs: 300 };
      sandbox.secsign.requests.length = 0;
      await rejectionOf(c.getAuthSessionState(session), VendorError);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(sandbox.secsign.requests.map((r) => r.server)).to.deep.equal(['primary', 'fallback']);
    });
  });

  it('refuses an empty server list and an unusable SecSign ID', async () => {
    expect(() => new SecSignClient({ serverUrls: [] })).to.throw(ConfigurationError);
    await rejectionOf(
      client().requestAuthSession({ secsignId: '  ', serviceName: 'x', serviceAddress: 'y' }),
      TypeError,
    );
  });
});

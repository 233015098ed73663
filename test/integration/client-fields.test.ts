import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { LastwallClient } from '../../src/exports/risc.js';
import { SecSignClient } from '../../src/exports/secsign.js';
import { VendorError } from '../../src/index.js';
import { XignInClient } from '../../src/exports/xignin.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { startRecordingServer, type RecordingServer } from '../helpers/recording-server.js';

/**
 * docs/protocols.md: a field no vendor source documents is never required; where it is present
 * and contradicts what we know, the answer is refused (SECURITY.md V1). Each case both ways,
 * against a scripted vendor on loopback.
 */
async function rejectionOf(promise: Promise<unknown>): Promise<VendorError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(VendorError);
    return err as VendorError;
  }
  throw new Error('expected a rejection');
}

describe('V1: SecSignClient tolerates undocumented echoes when absent, refuses them when contradicting', () => {
  let server: RecordingServer;
  let answer: (request: string) => string;
  let client: SecSignClient;
  const icon = randomBytes(30).toString('base64');
  const session = { secsignId: 'alice', authSessionId: 'S-1', requestId: 'R-1' };

  before(async () => {
    server = await startRecordingServer((recorded, res) => {
      res.setHeader('content-type', 'text/plain');
      res.end(answer(new URLSearchParams(recorded.body.toString('utf8')).get('request') ?? ''));
    });
    client = new SecSignClient({ serverUrls: [server.url] });
  });
  after(async () => {
    await client.close();
    await server.close();
  });
  const start = () =>
    client.requestAuthSession({
      secsignId: 'Alice',
      serviceName: 'Example',
      serviceAddress: 'https://example.test',
    });

  it('V1: a new session without the echoed secsignid, servicename and serviceaddress works', async () => {
    answer = () => `authsessionid=S-1&requestid=R-1&authsessionicondata=${icon}`;
    expect(await start()).to.include({ secsignId: 'alice', authSessionId: 'S-1', requestId: 'R-1' });
  });

  it('V1: a new session echoing another SecSign ID is refused', async () => {
    answer = () => `secsignid=mallory&authsessionid=S-1&requestid=R-1&authsessionicondata=${icon}`;
    expect((await rejectionOf(start())).code).to.equal('ERR_SECSIGN_SESSION_MISMATCH');
  });

  for (const [field, value] of [
    ['authsessionid', 'S-2'],
    ['requestid', 'R-2'],
    ['secsignid', 'bob'],
  ] as const) {
    it(`V1: state, cancel and release answers naming another ${field} are refused; the same one is fine`, async () => {
      answer = () => `${field}=${value}&authsessionstate=3`;
      for (const call of [
        () => client.getAuthSessionState(session),
        () => client.cancelAuthSession(session),
        () => client.releaseAuthSession(session),
      ]) {
        expect((await rejectionOf(call())).code).to.equal('ERR_SECSIGN_SESSION_MISMATCH');
      }
      const own = { authsessionid: 'S-1', requestid: 'R-1', secsignid: 'ALICE' }[field];
      answer = () => `${field}=${own}&authsessionstate=3`;
      expect(await client.getAuthSessionState(session)).to.equal(3);
    });
  }

  it('a state answer without authsessionstate decides nothing (the one field every library reads)', async () => {
    answer = () => 'authsessionid=S-1';
    expect((await rejectionOf(client.getAuthSessionState(session))).code).to.equal(
      'ERR_SECSIGN_BAD_RESPONSE',
    );
  });
});

describe('V1: LastwallClient reads no undocumented field, and refuses an answer that says Error', () => {
  let server: RecordingServer;
  let reply: { status: number; body: string; type?: string };
  let client: LastwallClient;

  before(async () => {
    server = await startRecordingServer((_recorded, res) => {
      res.writeHead(reply.status, reply.type ? { 'content-type': reply.type } : {});
      res.end(reply.body);
    });
    client = new LastwallClient({
      token: `LWK${'a'.repeat(64)}`,
      secret: 'b'.repeat(64),
      baseUrl: `${server.url}/`,
    });
  });
  after(async () => {
    await client.close();
    await server.close();
  });

  it('V1: preauth and save_email answered with a JSON object without status work (the module reads none)', async () => {
    reply = { status: 200, body: '{}', type: 'application/json' };
    await client.preAuthenticate('u1', 'b1');
    await client.emailAuthenticate('u1', 'b1');
  });

  it('V1: preauth and save_email answered 200 {"status":"Error"} are refused (API.md shows such answers)', async () => {
    reply = { status: 200, body: '{"status":"Error","error":"No user found"}', type: 'application/json' };
    expect((await rejectionOf(client.preAuthenticate('u1', 'b1'))).code).to.equal('ERR_LASTWALL_REQUEST');
    expect((await rejectionOf(client.emailAuthenticate('u1', 'b1'))).code).to.equal('ERR_LASTWALL_REQUEST');
  });

  it('V2: a JSON answer labelled text/html, or with no Content-Type, is read (the module never looks)', async () => {
    reply = { status: 200, body: '{"status":"OK"}', type: 'text/html' };
    expect(await client.verifyApiKey()).to.equal(true);
    reply = { status: 201, body: '{"status":"OK"}' };
    expect(await client.verifyApiKey(), 'any 2xx, as the module').to.equal(true);
  });

  it('V2: a gateway page is refused by its shape', async () => {
    reply = { status: 200, body: '<html><body>Sign in to the Wi-Fi</body></html>', type: 'application/json' };
    expect((await rejectionOf(client.verifyApiKey())).code).to.equal('ERR_LASTWALL_BAD_RESPONSE');
  });
});

describe('V1: XignInClient needs no undocumented discovery key for push login', () => {
  let sandbox: Sandbox;
  let client: XignInClient;
  before(async () => {
    sandbox = await startSandbox();
    sandbox.xignin.registerClient({
      clientId: 'rp-fields',
      clientSecret: 'client-fields-secret-0123456789abcdef',
      redirectUris: ['http://rp.example.test/callback'],
    });
    client = new XignInClient({
      managerUrl: sandbox.xignin.issuer,
      clientId: 'rp-fields',
      clientSecret: 'client-fields-secret-0123456789abcdef',
    });
  });
  after(async () => {
    await client.close();
    await sandbox.close();
  });

  it('V1: discovery without push endpoint keys → the documented /api/push paths on the manager', async () => {
    sandbox.xignin.faults = { discoveryOmitsPush: true };
    const endpoints = await client.endpoints();
    expect(endpoints.push).to.equal(`${sandbox.xignin.issuer}/api/push/authenticate`);
    const session = await client.startPush({ type: 'EMAIL', identifier: 'alice@example.test' });
    expect(await client.pushStatus(session)).to.deep.equal({ state: 'pending' });
    sandbox.xignin.approve('alice');
    let status = await client.pushStatus(session);
    for (let i = 0; i < 40 && status.state === 'pending'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      status = await client.pushStatus(session);
    }
    expect(status.state).to.equal('authenticated');
  });
});

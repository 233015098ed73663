import { expect } from 'chai';
import { request } from 'undici';
import { SecSignClient, SecSignState } from '../../src/exports/secsign.js';
import { SipgateSmsSender } from '../../src/exports/sms-otp.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

/**
 * The sandbox's control API as an integrator's test suite uses it (README: "Driving the sandbox
 * from your tests"): one test per call the phone page has a button for, each checked against
 * what the vendor's side then answers.
 */
describe('sandbox control API: everything the phone page does, from a test', () => {
  let sandbox: Sandbox;
  beforeEach(async () => {
    sandbox = await startSandbox();
  });
  afterEach(() => sandbox.close());

  /** Opens a redirect login's authorize page as a browser would, and answers its login id. */
  async function redirectLogin(state: string) {
    const client = sandbox.xignin.newClient({ redirectUri: 'http://127.0.0.1:3000/xignin/callback' });
    const page = await request(
      `${client.managerUrl}/openid/authenticate?${new URLSearchParams({
        client_id: client.clientId,
        redirect_uri: client.redirectUri,
        response_type: 'code',
        scope: 'openid',
        state,
      })}`,
    );
    await page.body.text();
    const pending = sandbox.xignin.pendingLogins();
    expect(pending).to.have.length(1);
    return pending[0]!.id;
  }

  it('xignin.approve(user, loginId) then xignin.redirectOf(loginId): the callback URL with a code, once', async () => {
    const loginId = await redirectLogin('s-1');
    expect(sandbox.xignin.redirectOf(loginId), 'before the phone decided').to.equal(undefined);
    sandbox.xignin.approve('alice', loginId);
    const back = new URL(sandbox.xignin.redirectOf(loginId)!);
    expect(back.origin + back.pathname).to.equal('http://127.0.0.1:3000/xignin/callback');
    expect(back.searchParams.get('state')).to.equal('s-1');
    expect(back.searchParams.get('code')).to.match(/^[\w-]{16,}$/);
    expect(() => sandbox.xignin.redirectOf(loginId), 'single use').to.throw(/no redirect login/);
    expect(sandbox.xignin.pendingLogins()).to.deep.equal([]);
  });

  it('xignin.deny(loginId): the callback URL says access_denied', async () => {
    const loginId = await redirectLogin('s-2');
    sandbox.xignin.deny(loginId);
    const back = new URL(sandbox.xignin.redirectOf(loginId)!);
    expect(back.searchParams.get('error')).to.equal('access_denied');
    expect(back.searchParams.get('code')).to.equal(null);
  });

  it('secsign.approve(id) / deny(id) / openRequests(): what the site then reads as the session state', async () => {
    const client = new SecSignClient({ serverUrls: sandbox.secsign.serverUrls });
    try {
      const start = () =>
        client.requestAuthSession({
          secsignId: 'alice',
          serviceName: 'Shop',
          serviceAddress: 'https://shop.test',
        });
      const approved = await start();
      expect(sandbox.secsign.openRequests().map((r) => r.authSessionId)).to.deep.equal([
        approved.authSessionId,
      ]);
      sandbox.secsign.approve('alice');
      expect(await client.getAuthSessionState(approved)).to.equal(SecSignState.AUTHENTICATED);
      const denied = await start();
      sandbox.secsign.deny('alice');
      expect(await client.getAuthSessionState(denied)).to.equal(SecSignState.DENIED);
      expect(sandbox.secsign.openRequests()).to.deep.equal([]);
    } finally {
      await client.close();
    }
  });

  it('inbox.waitFor(number) and inbox.to(number): the texts a number received, the newest first', async () => {
    const sender = new SipgateSmsSender(sandbox.sipgate.credentials);
    const since = new Date();
    const waiting = sandbox.inbox.waitFor('+4915790000001', { since });
    await sender.send('+4915790000001', 'Your code: 123456');
    expect((await waiting).text).to.equal('Your code: 123456');
    await sender.send('+4915790000001', 'Your code: 654321');
    expect(sandbox.inbox.to('+4915790000001')[0]!.text).to.equal('Your code: 654321');
  });

  it('lastwall.setRisk(user, dial): the next snapshot for that user carries the verdict', () => {
    expect(sandbox.lastwall.riskOf('u1')).to.equal('passed');
    sandbox.lastwall.setRisk('u1', 'risky');
    expect(sandbox.lastwall.riskOf('u1')).to.equal('risky');
    expect(sandbox.lastwall.users()).to.include('u1');
  });
});

import { expect } from 'chai';
import { ConfigurationError, InvalidPhoneNumberError, VendorError } from '../../src/index.js';
import { SipgateSmsSender } from '../../src/exports/sms-otp.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { rejectionOf } from '../helpers/assert.js';
import { closedPort } from '../helpers/ports.js';

const ALICE_PHONE = '+4915790000001';

describe('SipgateSmsSender against the sandbox over HTTP', () => {
  let sandbox: Sandbox;
  const senders: SipgateSmsSender[] = [];
  const sender = (overrides: ConstructorParameters<typeof SipgateSmsSender>[0] = {}) => {
    const created = new SipgateSmsSender({ ...sandbox.sipgate.credentials, ...overrides });
    senders.push(created);
    return created;
  };

  before(async () => {
    sandbox = await startSandbox({ sipgate: { accessTokens: ['oauth-access-token'], smsIds: ['s0', 's1'] } });
  });
  beforeEach(() => {
    sandbox.sipgate.faults = {};
    sandbox.inbox.clear();
  });
  after(async () => {
    await Promise.all(senders.map((s) => s.close()));
    await sandbox.close();
  });

  it('sends the text to the E.164 recipient with the configured smsId', async () => {
    const arrival = sandbox.sipgate.waitForMessage(ALICE_PHONE);
    const result = await sender().send(ALICE_PHONE, 'Your code is 123456');
    expect(result).to.deep.equal({ recipient: ALICE_PHONE });
    const message = await arrival;
    expect(sandbox.sipgate.messages).to.deep.equal([message]);
    expect(message).to.include({ to: ALICE_PHONE, text: 'Your code is 123456' });
    expect(message!.meta).to.deep.equal({ smsId: 's0' });
  });

  it('normalises national input with defaultCountry, and passes sendAt as Unix seconds', async () => {
    const sendAt = new Date(Date.now() + 3_600_000);
    await sender({ defaultCountry: 'DE', smsId: 's1' }).send('0157 9000 0001', 'later', { sendAt });
    const [message] = sandbox.inbox.to(ALICE_PHONE);
    expect(message!.meta).to.deep.equal({ smsId: 's1', sendAt: Math.floor(sendAt.getTime() / 1000) });
  });

  it('authenticates with an OAuth access token, given as a string or a provider function', async () => {
    const { baseUrl, smsId } = sandbox.sipgate.credentials;
    await new SipgateSmsSender({ accessToken: 'oauth-access-token', baseUrl, smsId }).send(ALICE_PHONE, 'a');
    const provider = new SipgateSmsSender({ accessToken: async () => 'oauth-access-token', baseUrl, smsId });
    senders.push(provider);
    await provider.send(ALICE_PHONE, 'b');
    expect(sandbox.inbox.to(ALICE_PHONE).map((m) => m.text)).to.deep.equal(['b', 'a']);
  });

  describe('every sipgate error status becomes a typed VendorError with advice', () => {
    const cases: Array<[string, () => Promise<unknown>, string, RegExp]> = [
      ['400', async () => sender().send(ALICE_PHONE, 'x'), 'ERR_SIPGATE_BAD_REQUEST', /malformed/],
      [
        '401 (wrong token)',
        async () => sender({ token: '00000000-0000-4000-8000-000000000000' }).send(ALICE_PHONE, 'x'),
        'ERR_SIPGATE_UNAUTHORIZED',
        /tokenId and token/,
      ],
      ['402', async () => sender().send(ALICE_PHONE, 'x'), 'ERR_SIPGATE_INSUFFICIENT_BALANCE', /top up/],
      [
        '403 (smsId not booked)',
        async () => sender({ smsId: 's7' }).send(ALICE_PHONE, 'x'),
        'ERR_SIPGATE_FORBIDDEN',
        /smsId/,
      ],
      [
        '404 (wrong base URL)',
        async () => sender({ baseUrl: `${sandbox.url}/sipgate/v1` }).send(ALICE_PHONE, 'x'),
        'ERR_SIPGATE_NOT_FOUND',
        /baseUrl/,
      ],
      ['405', async () => sender().send(ALICE_PHONE, 'x'), 'ERR_SIPGATE_METHOD_NOT_ALLOWED', /405/],
      ['415', async () => sender().send(ALICE_PHONE, 'x'), 'ERR_SIPGATE_UNSUPPORTED_MEDIA_TYPE', /JSON/],
      ['500', async () => sender().send(ALICE_PHONE, 'x'), 'ERR_SIPGATE_SERVER', /try again later/],
      ['503', async () => sender().send(ALICE_PHONE, 'x'), 'ERR_SIPGATE_SERVER', /503/],
    ];
    for (const [label, call, code, advice] of cases) {
      it(`${label} → ${code}`, async () => {
        const status = Number(label.slice(0, 3));
        if (status === 402) sandbox.sipgate.faults = { insufficientBalance: true };
        else if ([400, 405, 415, 500, 503].includes(status))
          sandbox.sipgate.faults = { failWithStatus: status };
        const err = await rejectionOf(call(), VendorError);
        expect(err).to.include({ code, vendor: 'sipgate', vendorStatus: status, status: 502 });
        expect(err.message).to.match(advice);
        expect(sandbox.inbox.messages).to.have.length(0);
      });
    }
  });

  it('a response that takes longer than timeoutMs is ERR_VENDOR_TIMEOUT (504) and is NOT retried', async () => {
    sandbox.sipgate.faults = { latencyMs: 400 };
    const before = sandbox.sipgate.requests.length;
    const err = await rejectionOf(sender({ timeoutMs: 100 }).send(ALICE_PHONE, 'x'), VendorError);
    expect(err).to.include({ code: 'ERR_VENDOR_TIMEOUT', status: 504 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(
      sandbox.sipgate.requests.length - before,
      'one request only: it may have reached sipgate',
    ).to.equal(1);
  });

  it('a dropped connection is ERR_VENDOR_CONNECTION and is NOT retried', async () => {
    sandbox.sipgate.faults = { dropConnection: true };
    const before = sandbox.sipgate.requests.length;
    const err = await rejectionOf(sender().send(ALICE_PHONE, 'x'), VendorError);
    expect(err).to.include({ code: 'ERR_VENDOR_CONNECTION' });
    expect(sandbox.sipgate.requests.length - before).to.equal(1);
  });

  it('a refused connection is ERR_VENDOR_UNREACHABLE', async () => {
    const port = await closedPort();
    const err = await rejectionOf(
      sender({ baseUrl: `http://127.0.0.1:${port}/v2` }).send(ALICE_PHONE, 'x'),
      VendorError,
    );
    expect(err).to.include({ code: 'ERR_VENDOR_UNREACHABLE', vendor: 'sipgate' });
  });

  describe('recipients are checked before any HTTP call', () => {
    const refused: Array<[string, string]> = [
      ['a premium-rate number (SMS pumping)', '+499001234567'],
      ['a fixed line', '+4930123456'],
      ['national input without defaultCountry', '0157 9000 0001'],
      ['garbage', 'call me maybe'],
      ['an invalid number', '+49123'],
      ['an empty string', ''],
    ];
    for (const [what, number] of refused) {
      it(`refuses ${what}`, async () => {
        const before = sandbox.sipgate.requests.length;
        const err = await rejectionOf(sender().send(number, 'x'), InvalidPhoneNumberError);
        expect(err.code).to.equal('ERR_INVALID_PHONE_NUMBER');
        expect(sandbox.sipgate.requests.length).to.equal(before);
      });
    }

    it('refuses an empty message and a sendAt in the past or beyond 30 days', async () => {
      await rejectionOf(sender().send(ALICE_PHONE, '  '), TypeError);
      await rejectionOf(sender().send(ALICE_PHONE, 'x', { sendAt: new Date(Date.now() - 1000) }), TypeError);
      await rejectionOf(
        sender().send(ALICE_PHONE, 'x', { sendAt: new Date(Date.now() + 31 * 86_400_000) }),
        TypeError,
      );
      expect(sandbox.inbox.messages).to.have.length(0);
    });
  });

  describe('configuration is validated up front', () => {
    const bad: Array<[string, Record<string, unknown>, RegExp]> = [
      [
        'a tokenId of the wrong form',
        { tokenId: 'token-abc', token: '00000000-0000-4000-8000-000000000000' },
        /tokenId/,
      ],
      ['a token that is not a UUID', { tokenId: 'token-ABC123', token: 'secret' }, /UUID/],
      ['no credentials', {}, /tokenId/],
      ['both kinds of credentials', { tokenId: 'token-ABC123', token: 'x', accessToken: 'y' }, /either/],
      ['an smsId of the wrong form', { accessToken: 't', smsId: 'x1' }, /smsId/],
      ['a base URL that is not a URL', { accessToken: 't', baseUrl: 'not a url' }, /base URL/],
    ];
    for (const [what, options, message] of bad) {
      it(`refuses ${what}`, () => {
        expect(() => new SipgateSmsSender(options as never)).to.throw(ConfigurationError, message);
      });
    }
  });
});

import { createRequire } from 'node:module';
import { expect } from 'chai';
import { createSMSModule, sipgateIO } from 'sipgateio';
import request from 'supertest';
import { request as undiciRequest } from 'undici';
import { SipgateSmsSender } from '../../src/exports/sms-otp.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import {
  startRecordingServer,
  type RecordedRequest,
  type RecordingServer,
} from '../helpers/recording-server.js';

/**
 * sipgate's own client (the `sipgateio` npm library) against our sandbox, and against our
 * `SipgateSmsSender` request for request. sipgateio has no base URL option (its axios instance
 * is fixed to https://api.sipgate.com/v2), so its axios is pointed at a loopback recording proxy
 * that forwards to the sandbox: sipgateio builds and sends its request exactly as it would to
 * sipgate, and nothing leaves the machine.
 */
describe('interop: the official sipgateio library against the sandbox', function () {
  this.timeout(15_000);
  const RECIPIENT = '+4915790000001';
  let sandbox: Sandbox;
  let proxy: RecordingServer;
  // sipgateio is CommonJS and requires its own axios: reach that very module instance.
  const sipgateRequire = createRequire(createRequire(import.meta.url).resolve('sipgateio'));
  const axios = sipgateRequire('axios') as { defaults: { proxy?: unknown } };
  let savedProxy: unknown;
  const senders: SipgateSmsSender[] = [];

  before(async () => {
    sandbox = await startSandbox();
    proxy = await startRecordingServer(async (recorded, res) => {
      const { pathname } = new URL(recorded.target, 'http://x');
      const forwarded = await undiciRequest(`${sandbox.url}/sipgate${pathname}`, {
        method: recorded.method as 'POST',
        headers: pick(recorded.headers, ['authorization', 'content-type', 'accept']),
        body: recorded.body.length > 0 ? recorded.body : undefined,
      });
      const body = Buffer.from(await forwarded.body.arrayBuffer());
      const type = forwarded.headers['content-type'];
      res.writeHead(forwarded.statusCode, typeof type === 'string' ? { 'content-type': type } : {});
      res.end(body);
    });
    savedProxy = axios.defaults.proxy;
    // Read by axios.create, which sipgateIO() calls: set before any client is made.
    axios.defaults.proxy = { protocol: 'http', host: '127.0.0.1', port: proxy.port };
  });
  after(async () => {
    axios.defaults.proxy = savedProxy;
    await Promise.all(senders.map((s) => s.close()));
    await proxy.close();
    await sandbox.close();
  });

  const vendorSms = () =>
    createSMSModule(
      sipgateIO({ tokenId: sandbox.sipgate.credentials.tokenId, token: sandbox.sipgate.credentials.token }),
    );

  it('sipgateio sends an SMS through the sandbox, and the phone page shows it', async () => {
    const text = `Your code is 481516 (sipgateio ${Date.now()})`;
    await vendorSms().send({ smsId: 's0', to: RECIPIENT, message: text });
    const sent = proxy.requests.at(-1)!;
    expect(sent.target, 'sipgateio spoke to sipgate, through the proxy').to.equal(
      'https://api.sipgate.com/v2/sessions/sms',
    );
    expect(sandbox.sipgate.requests.at(-1)).to.include({
      method: 'POST',
      path: '/sessions/sms',
      status: 204,
    });
    expect(sandbox.sipgate.messages.at(-1)).to.include({ to: RECIPIENT, text });
    const phone = await request(sandbox.url).get(`/phone?to=${encodeURIComponent(RECIPIENT)}`);
    expect(phone.status).to.equal(200);
    expect(phone.text).to.include(text);
  });

  it('SipgateSmsSender and sipgateio send the same request for the same message', async () => {
    const text = 'Dein Code: 271828 – gültig 5 Minuten';
    const sendAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000); // whole seconds
    await vendorSms().send({ smsId: 's0', to: RECIPIENT, message: text }, sendAt);
    const vendor = proxy.requests.at(-1)!;
    const ours = new SipgateSmsSender({ ...sandbox.sipgate.credentials, baseUrl: `${proxy.url}/v2` });
    senders.push(ours);
    await ours.send(RECIPIENT, text, { sendAt });
    const mine = proxy.requests.at(-1)!;
    expect(mine).to.not.equal(vendor);

    const wire = (r: RecordedRequest) => ({
      method: r.method,
      path: new URL(r.target, 'http://x').pathname,
      authorization: r.headers.authorization,
      contentType: r.headers['content-type'],
      accept: r.headers.accept,
      body: r.body.toString('utf8'),
    });
    expect(wire(mine)).to.deep.equal(wire(vendor));
    expect(mine.body.equals(vendor.body), 'JSON body byte for byte').to.equal(true);
    expect(wire(mine).path).to.equal('/v2/sessions/sms');
    expect(JSON.parse(wire(mine).body)).to.deep.equal({
      smsId: 's0',
      message: text,
      recipient: RECIPIENT,
      sendAt: sendAt.getTime() / 1000,
    });
    expect(sandbox.sipgate.messages.slice(-2).map((m) => m.text)).to.deep.equal([text, text]);
  });
});

function pick(headers: Record<string, unknown>, names: string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) if (typeof headers[name] === 'string') picked[name] = headers[name] as string;
  return picked;
}

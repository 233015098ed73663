import { createDecipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { stringify as nodeQuerystring } from 'node:querystring';
import { expect } from 'chai';
import { LastwallClient } from '../../src/exports/risc.js';
import { SecSignClient } from '../../src/exports/secsign.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { startRecordingServer, type RecordedRequest } from '../helpers/recording-server.js';

/**
 * SecSign and Lastwall publish no npm client, so these tests send the exact requests their own
 * libraries build (fields, field order, encoding, header set) to the sandbox, and read the answers
 * the way those libraries read them. Sources: SecSign/secsign-nodejs-api SecSignIDApi.nodejs.js
 * (1.5), SecSign/secsign-js-api phpApi/SecSignIDApi.php (1.47), lastwall-public/lastwall-risc-node
 * index.js. Deliberate differences: the sandbox listens on a path prefix (`/secsign`, `/lastwall/`)
 * instead of the vendor's host root, and plain HTTP on loopback instead of TLS.
 */

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers, in this order, and nothing added but Host/Connection. */
function send(
  url: string,
  method: string,
  headers: Array<[string, string]>,
  body: string,
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        path: target.pathname,
        method,
        headers: Object.fromEntries(headers),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

// --- SecSign ---------------------------------------------------------------------------------

/** The Node API's reading: split on `&`, key and value at the first `=`, both trimmed, no decoding. */
function parseLikeNodeApi(body: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const part of body.split(/&/g)) {
    const at = part.indexOf('=');
    if (at > -1) {
      const key = part.substring(0, at).trim();
      if (key.length) fields[key] = part.substring(at + 1).trim();
    }
  }
  return fields;
}

/** The PHP API's reading: explode('&'), explode('=', $pair, 2), pairs of two only, no trimming. */
function parseLikePhpApi(body: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const pair of body.split('&')) {
    const at = pair.indexOf('=');
    if (at >= 0) fields[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return fields;
}

/** PHP's urlencode, as http_build_query applies it: all but [A-Za-z0-9_.-] escaped, space as `+`. */
function phpUrlencode(value: string): string {
  return encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+');
}
const httpBuildQuery = (fields: Array<[string, string]>) =>
  fields.map(([key, value]) => `${phpUrlencode(key)}=${phpUrlencode(value)}`).join('&');

/** The Node API (1.5): fields in its object order, `apimethod` merged in last, querystring-encoded. */
function nodeApiRequest(url: string, fields: Record<string, string>): Promise<RawAnswer> {
  const body = nodeQuerystring({ ...fields, apimethod: 'SecSignIDApi_Node.js' });
  // The Node API sends the string length (its bug); our values are ASCII, so it is the byte length here.
  return send(
    url,
    'POST',
    [
      ['Content-Type', 'application/x-www-form-urlencoded'],
      ['Content-Length', String(body.length)],
    ],
    body,
  );
}

/** The PHP API (1.47) through cURL: its header set (Accept, Referer) and http_build_query order. */
function phpApiRequest(url: string, fields: Array<[string, string]>): Promise<RawAnswer> {
  const body = httpBuildQuery([['apimethod', 'SecSignIDApi_PHP'], ...fields]);
  return send(
    url,
    'POST',
    [
      ['Accept', '*/*'],
      ['Referer', 'SecSignIDApi_PHP'],
      ['Content-Length', String(Buffer.byteLength(body))],
      ['Content-Type', 'application/x-www-form-urlencoded'],
    ],
    body,
  );
}

describe('interop: the SecSign libraries’ exact requests against the sandbox', () => {
  let sandbox: Sandbox;
  let url: string;
  before(async () => {
    sandbox = await startSandbox({ secsign: { knownIds: ['alice', 'bob'] } });
    url = sandbox.secsign.serverUrls[0];
  });
  after(() => sandbox.close());

  it('the Node API’s session: request, poll, approve, release; answers read as it reads them', async () => {
    const started = await nodeApiRequest(url, {
      secsignid: 'alice',
      servicename: 'Example Shop',
      serviceaddress: 'https://shop.example.test',
      request: 'ReqRequestAuthSession',
    });
    expect(started.status).to.equal(200);
    const session = parseLikeNodeApi(started.body);
    expect(session).to.include.keys(
      'secsignid',
      'authsessionid',
      'requestid',
      'servicename',
      'serviceaddress',
      'authsessionicondata',
    );
    // Not url-decoded: the base64 access pass arrives intact, padding and all.
    const png = Buffer.from(session.authsessionicondata!, 'base64');
    expect(png.subarray(0, 8).toString('hex')).to.equal('89504e470d0a1a0a');
    expect(png.toString('base64')).to.equal(session.authsessionicondata);

    const ids = {
      secsignid: session.secsignid!,
      requestid: session.requestid!,
      authsessionid: session.authsessionid!,
    };
    const poll = async () =>
      parseLikeNodeApi((await nodeApiRequest(url, { ...ids, request: 'ReqGetAuthSessionState' })).body);
    expect(await poll()).to.deep.equal({ authsessionstate: '1' });
    sandbox.secsign.approve('alice');
    expect(await poll()).to.deep.equal({ authsessionstate: '3' });
    const released = await nodeApiRequest(url, { ...ids, request: 'ReqReleaseAuthSession' });
    expect(parseLikeNodeApi(released.body)).to.have.property('authsessionstate');
    expect(sandbox.secsign.stateOf('alice')).to.equal(undefined);
  });

  it('the PHP API’s session: createAuthSessionFromArray’s fields, then state and cancel', async () => {
    const started = await phpApiRequest(url, [
      ['request', 'ReqRequestAuthSession'],
      ['secsignid', 'bob'],
      ['servicename', 'Shop Café'],
      ['serviceaddress', 'https://shop.example.test/login?x=1'],
    ]);
    const session = parseLikePhpApi(started.body);
    expect(session).to.not.have.property('error');
    // The fields the PHP API requires (it throws without them); the icon data it reads when set.
    for (const field of ['secsignid', 'authsessionid', 'servicename', 'serviceaddress', 'requestid'])
      expect(session[field], field).to.be.a('string').and.not.equal('');
    expect(session.servicename, 'echoed unencoded').to.equal('Shop Café');
    const sessionFields: Array<[string, string]> = [
      ['secsignid', session.secsignid!],
      ['authsessionid', session.authsessionid!],
      ['requestid', session.requestid!],
    ];
    const state = parseLikePhpApi(
      (await phpApiRequest(url, [...sessionFields, ['request', 'ReqGetAuthSessionState']])).body,
    );
    expect(state.authsessionstate, 'what getAuthSessionState returns').to.equal('1');
    const canceled = parseLikePhpApi(
      (await phpApiRequest(url, [...sessionFields, ['request', 'ReqCancelAuthSession']])).body,
    );
    expect(canceled.authsessionstate).to.equal('6');
    expect(sandbox.secsign.stateOf('bob')).to.equal(6);
  });

  it('an unknown SecSign ID answers error and errormsg, as the PHP API’s checkResponse reads them', async () => {
    const answer = parseLikePhpApi(
      (
        await phpApiRequest(url, [
          ['request', 'ReqRequestAuthSession'],
          ['secsignid', 'nobody'],
          ['servicename', 'Example'],
          ['serviceaddress', 'https://example.test'],
        ])
      ).body,
    );
    expect(answer.error).to.match(/^\d+$/);
    expect(answer.errormsg).to.be.a('string').and.not.equal('');
  });

  it('SecSignClient sends the PHP API’s field order and header set', async () => {
    const recorder = await startRecordingServer((recorded, res) => {
      const fields = new URLSearchParams(recorded.body.toString('utf8'));
      res.setHeader('content-type', 'text/plain');
      res.end(
        fields.get('request') === 'ReqRequestAuthSession'
          ? `secsignid=alice&authsessionid=A1&requestid=R1&servicename=Example&serviceaddress=https://example.test&authsessionicondata=${randomBytes(8).toString('base64')}`
          : 'authsessionstate=1',
      );
    });
    const client = new SecSignClient({ serverUrls: [recorder.url] });
    try {
      const session = await client.requestAuthSession({
        secsignId: 'Alice',
        serviceName: 'Example',
        serviceAddress: 'https://example.test',
      });
      await client.getAuthSessionState(session);
      const names = (r: RecordedRequest) => [...new URLSearchParams(r.body.toString('utf8')).keys()];
      expect(names(recorder.requests[0]!)).to.deep.equal([
        'apimethod',
        'request',
        'secsignid',
        'servicename',
        'serviceaddress',
      ]);
      expect(names(recorder.requests[1]!)).to.deep.equal([
        'apimethod',
        'secsignid',
        'authsessionid',
        'requestid',
        'request',
      ]);
      for (const recorded of recorder.requests) {
        expect(recorded.method).to.equal('POST');
        expect(recorded.headers['content-type']).to.equal('application/x-www-form-urlencoded');
        expect(recorded.headers['content-length']).to.equal(String(recorded.body.length));
      }
    } finally {
      await client.close();
      await recorder.close();
    }
  });
});

// --- Lastwall --------------------------------------------------------------------------------

/** qs.stringify as the module calls it (RFC 3986 encoding, `%20` for a space). */
const qsStringify = (params: Record<string, string>) =>
  Object.entries(params)
    .map(
      ([key, value]) =>
        `${encodeURIComponent(key)}=${encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`,
    )
    .join('&');

describe('interop: lastwall-risc-node’s exact requests against the sandbox', () => {
  let sandbox: Sandbox;
  let token: string;
  let secret: string;
  let base: URL;
  before(async () => {
    sandbox = await startSandbox();
    ({ token, secret } = sandbox.lastwall.credentials);
    base = new URL(sandbox.lastwall.credentials.baseUrl);
  });
  after(() => sandbox.close());

  /** The module's rest(): digest headers over url + request id + timestamp, parameters in the body even on GET. */
  function moduleRest(name: string, method: 'GET' | 'POST', params: Record<string, string>, basic = false) {
    const body = qsStringify(params);
    // The module signs protocol://host/ + name (no port, no query); the sandbox lives under /lastwall/.
    const signedUrl = `${base.protocol}//${base.hostname}${base.pathname}${name}`;
    const requestId = randomUUID();
    const timestamp = Math.floor(Date.now() / 1000).toString();
    const headers: Array<[string, string]> = basic
      ? [
          ['Authorization', `Basic ${Buffer.from(`${token}:${secret}`).toString('base64')}`],
          ['Content-Type', 'application/x-www-form-urlencoded'],
          ['Content-Length', String(body.length)],
        ]
      : [
          ['Content-Type', 'application/x-www-form-urlencoded'],
          ['Content-Length', String(body.length)],
          ['X-Lastwall-Token', token],
          ['X-Lastwall-Timestamp', timestamp],
          ['X-Lastwall-Request-Id', requestId],
          [
            'X-Lastwall-Signature',
            createHmac('sha1', secret)
              .update(signedUrl + requestId + timestamp)
              .digest('base64'),
          ],
        ];
    return send(`${base.origin}${base.pathname}${name}`, method, headers, body);
  }

  /** The module's decryptSnapshot: key = (secret + secret).substr(ix, 32), AES-128-CBC, date within 600 s. */
  function decryptLikeModule(snapshot: string): Record<string, unknown> {
    const { ix, iv, data } = JSON.parse(snapshot) as { ix: number; iv: string; data: string };
    const key = Buffer.from((secret + secret).substr(ix, 32), 'hex');
    const decipher = createDecipheriv('aes-128-cbc', key, Buffer.from(iv, 'hex'));
    const result = JSON.parse(decipher.update(data, 'base64', 'utf8') + decipher.final('utf8'));
    expect(Math.abs(Date.parse(result.date) - Date.now()) / 1000).to.be.below(600);
    return result;
  }

  it('verify, decrypt, validate and preauth as the module does them; 2xx answers parse as JSON', async () => {
    for (const basic of [false, true]) {
      const verify = await moduleRest('api/verify', 'GET', {}, basic);
      expect(verify.status, verify.body).to.equal(200);
      expect(JSON.parse(verify.body)).to.deep.equal({ status: 'OK' });
    }
    const result = decryptLikeModule(sandbox.lastwall.snapshotFor('jörg müller!', 'browser-1'));
    expect(result).to.include({ user_id: 'jörg müller!', browser_id: 'browser-1', status: 'passed' });
    const validate = await moduleRest('api/validate', 'GET', {
      snapshot_id: String(result.snapshot_id),
      browser_id: String(result.browser_id),
      date: String(result.date),
      score: String(result.score),
      status: String(result.status),
    });
    expect(validate.status, validate.body).to.equal(200);
    expect(JSON.parse(validate.body)).to.deep.equal({ status: 'OK' });
    const forged = await moduleRest('api/validate', 'GET', {
      snapshot_id: String(result.snapshot_id),
      browser_id: String(result.browser_id),
      date: String(result.date),
      score: String(result.score),
      status: 'risky',
    });
    // The module reads `.error` of a non-2xx answer.
    expect(forged.status).to.equal(400);
    expect(JSON.parse(forged.body)).to.have.property('error').that.is.a('string');
    const preauth = await moduleRest('api/preauth', 'POST', {
      user_id: 'jörg müller!',
      browser_id: 'browser-1',
    });
    expect(preauth.status, preauth.body).to.equal(200);
    expect(JSON.parse(preauth.body)).to.deep.equal({ status: 'OK' });
    expect(decryptLikeModule(sandbox.lastwall.snapshotFor('jörg müller!', 'browser-1')).score).to.equal(0);
  });

  it('a wrong signature answers 401 with the error the module reads', async () => {
    const saved = secret;
    secret = 'f'.repeat(64);
    try {
      const refused = await moduleRest('api/verify', 'GET', {});
      expect(refused.status).to.equal(401);
      expect(JSON.parse(refused.body)).to.have.property('error').that.is.a('string');
    } finally {
      secret = saved;
    }
  });

  it('LastwallClient sends the module’s header set and body encoding', async () => {
    const recorder = await startRecordingServer((_recorded, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"status":"OK"}');
    });
    const client = new LastwallClient({ token, secret, baseUrl: `${recorder.url}/` });
    try {
      await client.preAuthenticate('jörg müller!', 'browser-1');
      const [recorded] = recorder.requests;
      expect(recorded!.method).to.equal('POST');
      expect(recorded!.path).to.equal('/api/preauth');
      expect(recorded!.body.toString('utf8')).to.equal(
        qsStringify({ user_id: 'jörg müller!', browser_id: 'browser-1' }),
      );
      const sent = Object.keys(recorded!.headers).filter((name) => !['host', 'connection'].includes(name));
      expect(sent.sort()).to.deep.equal(
        [
          'content-type',
          'content-length',
          'x-lastwall-token',
          'x-lastwall-timestamp',
          'x-lastwall-request-id',
          'x-lastwall-signature',
        ].sort(),
      );
      const { 'x-lastwall-request-id': requestId, 'x-lastwall-timestamp': timestamp } = recorded!.headers;
      const expected = createHmac('sha1', secret)
        .update(`http://127.0.0.1/api/preauth${String(requestId)}${String(timestamp)}`)
        .digest('base64');
      expect(recorded!.headers['x-lastwall-signature']).to.equal(expected);
    } finally {
      await client.close();
      await recorder.close();
    }
  });
});

import { expect } from 'chai';
import fc from 'fast-check';
import { Pool } from 'undici';
import { startExample } from '../helpers/example.js';
import { fuzzParameters, hostileString } from '../helpers/fuzz.js';

/**
 * (Without a code, the XignIn callback starts a login: a 302 to the manager, as passport-oauth2 does.)
 *
 * HTTP-level fuzzing of every strategy endpoint of the example app on the sandbox: malformed and
 * oversized bodies, wrong types and content types, odd Unicode, missing and duplicated fields,
 * with and without a logged-in session. Every answer must be a 4xx or the endpoint's documented
 * success, never a 5xx, and the app must keep serving.
 */
interface Endpoint {
  method: 'GET' | 'POST';
  path: string;
  /** The fields the endpoint reads, so the fuzzer sends them with wrong types and odd values. */
  fields: string[];
  /** The success statuses it documents. */
  successes: number[];
}

const ENDPOINTS: Endpoint[] = [
  { method: 'POST', path: '/api/auth/login', fields: [], successes: [] },
  { method: 'GET', path: '/api/auth/refresh', fields: [], successes: [] },
  { method: 'POST', path: '/api/auth/logout', fields: [], successes: [] },
  { method: 'GET', path: '/api/secret', fields: [], successes: [] },
  { method: 'POST', path: '/sms/login', fields: [], successes: [] },
  { method: 'POST', path: '/sms/send', fields: [], successes: [202] },
  { method: 'POST', path: '/sms/verify', fields: ['code'], successes: [] },
  { method: 'POST', path: '/secsign/start', fields: ['secsignid'], successes: [200] },
  { method: 'GET', path: '/secsign/status', fields: [], successes: [200] },
  { method: 'POST', path: '/secsign/cancel', fields: [], successes: [200] },
  { method: 'POST', path: '/secsign/complete', fields: [], successes: [] },
  { method: 'GET', path: '/xignin/login', fields: [], successes: [302] },
  { method: 'GET', path: '/xignin/js-config', fields: [], successes: [200] },
  { method: 'GET', path: '/xignin/callback', fields: ['code', 'state', 'error'], successes: [302, 303] },
  { method: 'POST', path: '/xignin/callback', fields: ['code', 'token', 'push'], successes: [302] },
  { method: 'POST', path: '/risk/login', fields: [], successes: [] },
  { method: 'POST', path: '/risk/check', fields: ['riscdata'], successes: [] },
  { method: 'POST', path: '/risk/step-up/sms', fields: ['code'], successes: [] },
  { method: 'POST', path: '/risk/step-up/secsign', fields: [], successes: [] },
  { method: 'POST', path: '/risk/unlock', fields: [], successes: [200] },
];

interface FuzzRequest {
  headers: Record<string, string>;
  query: string;
  body: string | undefined;
}

const jsonish = fc.oneof(
  fc.jsonValue(),
  hostileString(64),
  fc.integer(),
  fc.constantFrom(null, true, [], {}, '0', '123456', ' 1 2 3 4 5 6 ', '１２３４５６'),
);

/** The body: JSON of the right and wrong shapes, duplicated fields, broken JSON, oversized, other types. */
function bodies(fields: string[]): fc.Arbitrary<{ type: string; text: string }> {
  const names =
    fields.length > 0 ? fc.constantFrom(...fields, 'username', '__proto__') : fc.constantFrom('x');
  const json = (text: string) => ({ type: 'application/json', text });
  return fc.oneof(
    fc.dictionary(names, jsonish, { maxKeys: 4 }).map((o) => json(JSON.stringify(o))),
    fc.jsonValue().map((v) => json(JSON.stringify(v) ?? 'null')),
    fc
      .tuple(names, jsonish, jsonish)
      .map(([name, a, b]) => json(`{"${name}":${JSON.stringify(a)},"${name}":${JSON.stringify(b)}}`)),
    hostileString(200).map((text) => json(text)),
    fc.nat({ max: 40_000 }).map((n) => json(`{"code":"${'9'.repeat(n)}"}`)),
    hostileString(200).map((text) => ({ type: 'application/x-www-form-urlencoded', text })),
    hostileString(200).map((text) => ({ type: 'text/plain; charset=utf-8', text })),
    fc.constantFrom(json(''), json('{'), json('[1,2'), json('"\\ud800"'), json('{"a":1}garbage')),
  );
}

function requests(endpoint: Endpoint, cookie: string): fc.Arbitrary<FuzzRequest> {
  const fieldNames = endpoint.fields.length > 0 ? endpoint.fields : ['x'];
  const query = fc
    .array(
      fc.tuple(
        fc.constantFrom(...fieldNames, 'push', 'state'),
        fc.oneof(
          hostileString(40).map((v) => encodeURIComponent(wellFormed(v))),
          // Escapes that decode to invalid UTF-8, or are not escapes at all.
          fc.constantFrom('%ff', '%', '%zz', '%C0%AF', '%00', '%E2%80%AE'),
        ),
      ),
      { maxLength: 4 },
    )
    .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'));
  const authorization = fc.oneof(
    fc.constant(undefined),
    hostileString(80).map((s) => `Basic ${Buffer.from(s, 'utf8').toString('base64')}`),
    hostileString(80).map((s) => `Basic ${s}`),
    fc.constantFrom('Basic', 'Basic YWxpY2U6', 'Bearer x', 'basic   YTpi'),
  );
  const xToken = fc.oneof(fc.constant(undefined), hostileString(120), fc.base64String({ maxLength: 300 }));
  return fc
    .record({
      body:
        endpoint.method === 'POST'
          ? fc.option(bodies(endpoint.fields), { nil: undefined })
          : fc.constant(undefined),
      query,
      authorization,
      xToken,
      withSession: fc.boolean(),
    })
    .map(({ body, query: q, authorization: auth, xToken: token, withSession }) => {
      const headers: Record<string, string> = {};
      if (body) headers['content-type'] = body.type;
      if (auth !== undefined) headers.authorization = headerSafe(auth);
      if (token !== undefined) headers['x-token'] = headerSafe(token);
      if (withSession) headers.cookie = cookie;
      return { headers, query: q, body: body?.text };
    });
}

/** Lone surrogates cannot be percent-encoded as UTF-8: the fuzzer sends U+FFFD for them. */
const wellFormed = (value: string) =>
  value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');

/** HTTP header values are latin-1 without controls: undici refuses others before sending. */
const headerSafe = (value: string) => value.replace(/[^\x20-\x7e]/g, '?');

describe('HTTP fuzzing of the example app’s strategy endpoints', function () {
  const params = fuzzParameters(60);
  this.timeout(Math.max(60_000, (params.numRuns ?? 60) * ENDPOINTS.length * 20));
  let example: Awaited<ReturnType<typeof startExample>>;
  let pool: Pool;
  let cookie = '';
  const tally = { requests: 0, byStatus: new Map<number, number>() };

  before(async () => {
    example = await startExample();
    pool = new Pool(example.baseUrl, { connections: 4 });
    // A session past the password step, so the second-factor endpoints are reached too.
    const login = await pool.request({
      method: 'POST',
      path: '/sms/login',
      headers: {
        authorization: `Basic ${Buffer.from('alice:correct horse battery staple').toString('base64')}`,
      },
    });
    await login.body.dump();
    expect(login.statusCode).to.equal(200);
    cookie = String(login.headers['set-cookie']).split(';')[0]!;
  });
  after(async () => {
    await pool?.close();
    await example?.close();
  });

  for (const endpoint of ENDPOINTS) {
    it(`${endpoint.method} ${endpoint.path}: ${params.numRuns} fuzzed requests, never a 5xx`, () =>
      fc.assert(
        fc.asyncProperty(requests(endpoint, cookie), async (fuzzed) => {
          const response = await pool.request({
            method: endpoint.method,
            path: endpoint.path + (fuzzed.query ? `?${fuzzed.query}` : ''),
            headers: fuzzed.headers,
            body: fuzzed.body,
          });
          const text = await response.body.text();
          tally.requests += 1;
          tally.byStatus.set(response.statusCode, (tally.byStatus.get(response.statusCode) ?? 0) + 1);
          const status = response.statusCode;
          expect(
            status,
            `${endpoint.method} ${endpoint.path} answered ${status}: ${text.slice(0, 200)}`,
          ).to.satisfy((s: number) => (s >= 400 && s < 500) || endpoint.successes.includes(s));
        }),
        { ...params, interruptAfterTimeLimit: undefined },
      ));
  }

  it('the app still serves after the fuzzing, and every answer was counted', async () => {
    const response = await pool.request({ method: 'GET', path: '/config.json' });
    expect(response.statusCode).to.equal(200);
    await response.body.dump();
    expect(tally.requests).to.equal((params.numRuns ?? 0) * ENDPOINTS.length);
    if (process.env.FUZZ_REPORT) {
      process.stdout.write(
        `      HTTP fuzz: ${tally.requests} requests, by status ${JSON.stringify(Object.fromEntries(tally.byStatus))}\n`,
      );
    }
  });
});

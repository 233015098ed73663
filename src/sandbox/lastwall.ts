import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Request } from 'express';
import { express } from './peers.js';
import { LASTWALL_SIGNATURE_ORDER } from '../clients/lastwall.js';
import type { RiscResult } from '../core/risc-snapshot.js';
import { encryptSnapshot } from './snapshot.js';
import { readBody } from './body.js';
import type { SandboxInbox } from './inbox.js';
import type { SandboxOperation, WireFaults, SandboxRouter } from './faults.js';

export type RiskDial = 'passed' | 'risky' | 'failed';

export interface LastwallSandbox {
  /** Where `LastwallClient` / `RiscStrategy` point: `${sandbox.url}/lastwall/`. */
  readonly baseUrl: string;
  /** Credentials the sandbox accepts (a fresh pair per start). */
  readonly credentials: { token: string; secret: string; baseUrl: string };
  /** What the next snapshot for a user says (default `'passed'`). */
  setRisk(userId: string, dial: RiskDial): void;
  riskOf(userId: string): RiskDial;
  /** Users whose dial was set, who were named or who were seen, for the phone page. */
  users(): string[];
  /**
   * Gives a user id a name for the phone page (`alice (u1)`), and puts the user on its risk dial
   * before any check.
   */
  nameUser(userId: string, name: string): void;
  /** The name `nameUser()` gave, if any. */
  userName(userId: string): string | undefined;
  /** Makes a snapshot as the browser script would (for tests that have no browser). */
  snapshotFor(userId: string, browserId: string): string;
  /** Requests to `api/*`: name, and what was answered. */
  readonly requests: Array<{ api: string; status: number }>;
}

const LASTWALL_OPERATIONS: Record<string, SandboxOperation | undefined> = {
  verify: 'lastwall.verifyApiKey',
  validate: 'lastwall.validate',
  preauth: 'lastwall.preAuthenticate',
  save_email: 'lastwall.emailAuthenticate',
};

const SCORES: Record<RiskDial, number> = { passed: 12, risky: 58, failed: 93 };

/** Lastwall RISC's API and browser script, with a per-user risk dial and email unlock links. */
export function createLastwallSandbox(
  sandboxUrl: string,
  inbox: SandboxInbox,
  wire?: WireFaults,
): { router: SandboxRouter; control: LastwallSandbox } {
  const baseUrl = `${sandboxUrl}/lastwall/`;
  const token = `LWK${randomBytes(32).toString('hex')}`;
  const secret = randomBytes(32).toString('hex');
  const dials = new Map<string, RiskDial>();
  const issued = new Map<string, RiscResult>();
  const preauthorised = new Set<string>();
  const unlockLinks = new Map<string, string>();
  const seenRequestIds = new Set<string>();
  const signedBase = (() => {
    const url = new URL(baseUrl);
    return `${url.protocol}//${url.hostname}${url.pathname}`;
  })();

  const makeSnapshot = (userId: string, browserId: string): string => {
    const pair = `${userId}\u0000${browserId}`;
    // preauth (after a second factor) and a followed unlock link make the next snapshot safe.
    const cleared = preauthorised.delete(pair);
    const dial = cleared ? 'passed' : (dials.get(userId) ?? 'passed');
    if (!dials.has(userId)) dials.set(userId, 'passed');
    const result: RiscResult = {
      snapshot_id: randomUUID(),
      browser_id: browserId,
      user_id: userId,
      date: new Date().toISOString(),
      score: cleared ? 0 : SCORES[dial],
      status: dial,
    };
    issued.set(result.snapshot_id, result);
    return encryptSnapshot(result, secret);
  };

  const names = new Map<string, string>();
  const control: LastwallSandbox = {
    baseUrl,
    credentials: { token, secret, baseUrl },
    setRisk: (userId, dial) => void dials.set(userId, dial),
    riskOf: (userId) => dials.get(userId) ?? 'passed',
    users: () => [...new Set([...names.keys(), ...dials.keys()])],
    nameUser: (userId, name) => {
      if (typeof userId !== 'string' || userId === '' || typeof name !== 'string' || name === '')
        throw new TypeError('sandbox.lastwall.nameUser(userId, name): both must be non-empty strings.');
      names.set(userId, name);
    },
    userName: (userId) => names.get(userId),
    snapshotFor: makeSnapshot,
    requests: [],
  };

  const router = express.Router();

  // The browser script: makes a snapshot for this browser and puts it in the page's hidden field.
  router.get('/risc/script/:token/:userId', (req, res) => {
    if (req.params.token !== token) return res.status(404).type('text/plain').send('Unknown API token.');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.type('application/javascript').send(`(function () {
  var key = 'lastwall-sandbox-browser-id', browserId = localStorage.getItem(key);
  if (!browserId) { browserId = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)); localStorage.setItem(key, browserId); }
  fetch(${JSON.stringify(`${baseUrl}risc/snapshot`)} + '?token=' + encodeURIComponent(${JSON.stringify(token)}) + '&user=' + encodeURIComponent(${JSON.stringify(req.params.userId)}) + '&browser=' + encodeURIComponent(browserId))
    .then(function (r) { return r.text(); })
    .then(function (snapshot) {
      var fields = document.querySelectorAll('input[name="riscdata"]');
      for (var i = 0; i < fields.length; i++) fields[i].value = snapshot;
      document.dispatchEvent(new CustomEvent('risc:snapshot', { detail: { snapshot: snapshot } }));
    });
})();`);
  });
  router.get('/risc/snapshot', (req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    const q = req.query as Record<string, string | undefined>;
    if (q.token !== token || !q.user || !q.browser)
      return res.status(400).type('text/plain').send('token, user and browser are required');
    res.type('text/plain').send(makeSnapshot(q.user, q.browser));
  });

  router.get('/unlock/:code', (req, res) => {
    const pair = unlockLinks.get(req.params.code);
    if (!pair)
      return res
        .status(404)
        .type('html')
        .send('<!doctype html><title>Unlock</title><p>This unlock link is not valid (any more).</p>');
    unlockLinks.delete(req.params.code);
    preauthorised.add(pair);
    res
      .type('html')
      .send(
        '<!doctype html><title>Unlocked</title><h1>Browser unlocked</h1><p>You can log in from this browser again.</p>',
      );
  });

  router.all('/api/:name', async (req, res) => {
    const api = req.params.name!;
    const answer = (status: number, body: object) => {
      control.requests.push({ api, status });
      res.status(status).json(body);
    };
    const operation = LASTWALL_OPERATIONS[api];
    if (operation && wire?.serve(operation, req, res, 'application/json; charset=utf-8')) {
      control.requests.push({ api, status: 0 });
      return;
    }
    const refused = authenticate(req, api);
    if (refused) return answer(401, { status: 'Error', error: refused });
    let params: URLSearchParams;
    try {
      params = new URLSearchParams(
        req.is('application/x-www-form-urlencoded') ? await readBody(req, 16 * 1024) : '',
      );
    } catch {
      return answer(400, { status: 'Error', error: 'Body too large.' });
    }
    for (const [name, value] of new URLSearchParams(req.url.split('?')[1] ?? ''))
      if (!params.has(name)) params.set(name, value);
    switch (`${req.method} ${api}`) {
      case 'GET verify':
        return answer(200, { status: 'OK' });
      case 'GET validate': {
        const record = issued.get(params.get('snapshot_id') ?? '');
        const matches =
          record !== undefined &&
          record.browser_id === params.get('browser_id') &&
          record.date === params.get('date') &&
          String(record.score) === params.get('score') &&
          record.status === params.get('status');
        return matches
          ? answer(200, { status: 'OK' })
          : answer(400, { status: 'Error', error: 'The snapshot does not match our records.' });
      }
      case 'POST preauth': {
        const user = params.get('user_id');
        const browser = params.get('browser_id');
        if (!user || !browser)
          return answer(400, { status: 'Error', error: 'user_id and browser_id are required.' });
        preauthorised.add(`${user}\u0000${browser}`);
        return answer(200, { status: 'OK' });
      }
      case 'POST save_email': {
        const user = params.get('user_id');
        const browser = params.get('browser_id');
        if (!user || !browser)
          return answer(400, { status: 'Error', error: 'user_id and browser_id are required.' });
        const code = randomBytes(16).toString('base64url');
        unlockLinks.set(code, `${user}\u0000${browser}`);
        const to = params.get('email') ?? `${user}@example.test`;
        inbox.add({
          channel: 'email',
          to,
          text: `Someone tried to log in to your account from a new browser. If it was you, unlock it: ${baseUrl}unlock/${code}`,
          meta: { user },
        });
        return answer(200, { status: 'OK' });
      }
      default:
        return answer(400, { status: 'Error', error: `Unknown request ${req.method} api/${api}.` });
    }
  });

  /** Checks Basic or digest authentication as Lastwall does; answers why it refuses, or undefined. */
  function authenticate(req: Request, api: string): string | undefined {
    const basic = /^Basic (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (basic)
      return Buffer.from(basic, 'base64').toString('utf8') === `${token}:${secret}`
        ? undefined
        : 'Bad credentials.';
    const headerToken = req.get('x-lastwall-token');
    const timestamp = req.get('x-lastwall-timestamp') ?? '';
    const requestId = req.get('x-lastwall-request-id') ?? '';
    const signature = req.get('x-lastwall-signature') ?? '';
    if (headerToken !== token) return 'Unknown API token.';
    if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300)
      return 'Timestamp outside the 5-minute window.';
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i.test(requestId))
      return 'Request id must be a UUID v4.';
    if (seenRequestIds.has(requestId)) return 'Request id already used.';
    const parts = { url: `${signedBase}api/${api}`, requestId, timestamp };
    const expected = createHmac('sha1', secret)
      .update(LASTWALL_SIGNATURE_ORDER.map((p) => parts[p]).join(''))
      .digest();
    const given = Buffer.from(signature, 'base64');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'Bad signature.';
    seenRequestIds.add(requestId);
    return undefined;
  }

  return { router: router as unknown as SandboxRouter, control };
}

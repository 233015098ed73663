/**
 * `passport-factors/sandbox`: local servers that speak each vendor's wire protocol (sipgate.io,
 * SecSign ID, XignIn, Lastwall), a "phone" page to approve or deny, and wire faults, so every flow
 * runs on a laptop with no vendor account. For development and tests only.
 *
 * @module passport-factors/sandbox
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigurationError } from '../errors.js';
import { WireFaults } from './faults.js';
import { express } from './peers.js';
import { SandboxInbox } from './inbox.js';
import { createLastwallSandbox, type LastwallSandbox } from './lastwall.js';
import { PHONE_REFRESH_SCRIPT, renderPhonePage } from './phone-page.js';
import { createSecSignSandbox, type SecSignSandbox, type SecSignSandboxOptions } from './secsign.js';
import { createSipgateSandbox, type SipgateSandbox, type SipgateSandboxOptions } from './sipgate.js';
import { createXignInSandbox, type XignInClientRegistration, type XignInSandbox } from './xignin.js';

export { SandboxInbox, type SandboxMessage } from './inbox.js';
export {
  SANDBOX_OPERATIONS,
  WIRE_FAULTS,
  WireFaults,
  type SandboxOperation,
  type SandboxRouter,
  type WireFault,
} from './faults.js';
export type { SipgateFaults, SipgateSandbox, SipgateSandboxOptions } from './sipgate.js';
export type { LastwallSandbox, RiskDial } from './lastwall.js';
export type { SecSignFaults, SecSignPhoneRequest, SecSignSandbox, SecSignSandboxOptions } from './secsign.js';
export type {
  XignInClientRegistration,
  XignInFaults,
  XignInIdTokenFault,
  XignInPendingLogin,
  XignInSandbox,
  XignInSandboxClient,
  XignInUser,
} from './xignin.js';

export interface SandboxOptions {
  /** Port to listen on (default 0: pick a free one). */
  port?: number;
  /** Address to listen on (default `'127.0.0.1'`: the sandbox is never reachable from elsewhere). */
  host?: string;
  /** sipgate.io's SMS API, mounted at `/sipgate/v2` (default: the defaults of `SipgateSandboxOptions`). */
  sipgate?: SipgateSandboxOptions;
  /** SecSign ID's API, mounted at `/secsign` (primary) and `/secsign2` (fallback); default: the defaults of `SecSignSandboxOptions`. */
  secsign?: SecSignSandboxOptions;
  /** Relying parties registered at the XignIn manager (mounted at `/xignin`; default none); more with `xignin.registerClient`. */
  xignin?: { clients?: XignInClientRegistration[] };
  /**
   * Start even under `NODE_ENV=production` (default `false`). The sandbox approves logins for
   * published demo users and accepts any SecSign ID: a production app wired to it has no
   * second factor at all, so it refuses unless forced.
   */
  allowInProduction?: boolean;
}

export interface Sandbox {
  /** Base URL, e.g. `http://127.0.0.1:43121`. */
  url: string;
  /** Everything delivered (texts), newest last. */
  inbox: SandboxInbox;
  /** sipgate.io: credentials, faults, requests seen. */
  sipgate: SipgateSandbox;
  /** SecSign ID: server URLs, the phone's controls, faults, requests seen. */
  secsign: SecSignSandbox;
  /** XignIn manager (an OpenID provider): issuer, users, clients, the phone's controls, faults. */
  xignin: XignInSandbox;
  /** Lastwall RISC: credentials, the per-user risk dial, snapshots. */
  lastwall: LastwallSandbox;
  /**
   * Wire faults per operation (`sandbox.wireFaults.arm('secsign.getAuthSessionState', 'truncated')`):
   * what a broken or hostile vendor does on the wire. `disarm()` ends them.
   */
  wireFaults: WireFaults;
  /** The vendor is down: stops listening (new connections are refused) and drops open ones. */
  goOffline(): Promise<void>;
  /** Listens again on the same address and port after `goOffline()`. */
  goOnline(): Promise<void>;
  /** Connections open to the sandbox right now (to check that clients release their sockets). */
  openConnections(): Promise<number>;
  /** Stops the server and closes its connections. */
  close(): Promise<void>;
}

/**
 * Starts ONE local HTTP server that speaks each vendor's wire protocol, so every flow runs
 * without a vendor account. Each vendor is mounted under its own path prefix, so a client's base
 * URL points at it; `/phone` shows what the sandbox delivered.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const { port = 0, host = '127.0.0.1', allowInProduction = false } = options;
  if (typeof allowInProduction !== 'boolean') {
    throw new ConfigurationError('startSandbox: `allowInProduction` must be true or false.');
  }
  if (process.env.NODE_ENV === 'production' && !allowInProduction) {
    throw new ConfigurationError(
      'startSandbox: refusing to start under NODE_ENV=production. The sandbox fakes every vendor and approves logins for published demo users, so an app wired to it has no real second factor. Configure the real vendors, or pass `allowInProduction: true` to startSandbox() if this really is a test environment.',
    );
  }
  const app = express();
  app.disable('x-powered-by');
  const server: Server = createServer(app);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;

  const inbox = new SandboxInbox();
  const wireFaults = new WireFaults(() => server.close());
  const sipgate = createSipgateSandbox(`${url}/sipgate/v2`, inbox, options.sipgate, wireFaults);
  app.use('/sipgate/v2', sipgate.router);
  const secsign = createSecSignSandbox(url, options.secsign, wireFaults);
  app.use('/secsign', secsign.primary);
  app.use('/secsign2', secsign.fallback);
  const xignin = await createXignInSandbox(url, wireFaults);
  for (const client of options.xignin?.clients ?? []) xignin.control.registerClient(client);
  app.use('/xignin', xignin.router);
  const lastwall = createLastwallSandbox(url, inbox, wireFaults);
  app.use('/lastwall', lastwall.router);

  app.get('/phone', (req, res) => {
    const to = typeof req.query.to === 'string' ? req.query.to : undefined;
    // Opening the phone opens the SecSign ID app: its pending requests are now fetched.
    for (const request of secsign.control.openRequests()) secsign.control.fetch(request.secsignId);
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'none'; img-src data:; form-action 'self'; style-src 'unsafe-inline'; script-src 'self'",
    );
    res
      .type('html')
      .send(renderPhonePage(inbox, secsign.control.openRequests(), xignin.control, lastwall.control, to));
  });
  app.get('/phone/refresh.js', (_req, res) => {
    res.type('application/javascript').send(PHONE_REFRESH_SCRIPT);
  });
  app.post('/phone/risk', express.urlencoded({ extended: false, limit: '2kb' }), (req, res) => {
    const { user, dial } = req.body as { user?: string; dial?: string };
    if (user && (dial === 'passed' || dial === 'risky' || dial === 'failed'))
      lastwall.control.setRisk(user, dial);
    res.redirect(303, '/phone');
  });
  app.post('/phone/xignin', express.urlencoded({ extended: false, limit: '2kb' }), (req, res) => {
    const { login, user } = req.body as { login?: string; user?: string };
    try {
      if (user === 'deny' || user === undefined) xignin.control.deny(login);
      else xignin.control.approve(user, login);
    } catch {
      // Already decided or unknown: nothing to do.
    }
    res.redirect(303, '/phone');
  });
  app.post('/phone/secsign', express.urlencoded({ extended: false, limit: '2kb' }), (req, res) => {
    const { authsessionid, choice } = req.body as { authsessionid?: string; choice?: string };
    if (typeof authsessionid === 'string')
      secsign.control.respond(authsessionid, choice === 'deny' ? -1 : Number(choice));
    res.redirect(303, '/phone');
  });
  app.get('/phone/messages', (req, res) => {
    const to = typeof req.query.to === 'string' ? req.query.to : undefined;
    res.json(to === undefined ? [...inbox.messages].reverse() : inbox.to(to));
  });
  app.get('/', (_req, res) => {
    res
      .type('html')
      .send(
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>passport-factors sandbox</title>' +
          '<link rel="icon" href="data:,">' +
          '<h1>passport-factors sandbox</h1><ul><li><a href="/phone">Phone: texts received</a></li>' +
          '<li>sipgate.io SMS API: <code>/sipgate/v2/sessions/sms</code></li>' +
          '<li>SecSign ID API: <code>/secsign</code>, fallback <code>/secsign2</code></li>' +
          '<li>XignIn manager (OpenID provider): <code>/xignin/.well-known/openid-configuration</code></li>' +
          '<li>Lastwall RISC API: <code>/lastwall/api/…</code>, script <code>/lastwall/risc/script/…</code></li></ul>',
      );
  });

  return {
    url,
    inbox,
    sipgate: sipgate.control,
    secsign: secsign.control,
    xignin: xignin.control,
    lastwall: lastwall.control,
    wireFaults,
    goOffline: async () => {
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.close();
      wireFaults.release();
      server.closeAllConnections();
      await closed;
    },
    goOnline: async () => {
      if (server.listening) return;
      server.listen(address.port, address.address);
      await once(server, 'listening');
    },
    openConnections: () =>
      new Promise((resolve, reject) =>
        server.getConnections((err, count) => (err ? reject(err) : resolve(count))),
      ),
    close: async () => {
      wireFaults.release();
      server.closeAllConnections();
      if (!server.listening) return;
      server.close();
      await once(server, 'close');
    },
  };
}

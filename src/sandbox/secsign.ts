import { randomBytes, randomInt } from 'node:crypto';
import type { SandboxOperation, WireFaults, SandboxRouter } from './faults.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, Response } from 'express';
import { express } from './peers.js';
import { PNG } from './peers.js';
import { SecSignState } from '../core/secsign.js';
import { readBody } from './body.js';

export interface SecSignSandboxOptions {
  /** Age after which the server expires a session, in ms (default 600000). */
  sessionTtlMs?: number;
  /** SecSign IDs that exist (default: any id exists). */
  knownIds?: string[];
  /**
   * Whether state, cancel and release answers also echo `secsignid` and `authsessionid` (default
   * `false`: they carry `authsessionstate` alone, all the vendor's libraries read; no vendor source
   * documents an echo). Changeable later through `sandbox.secsign.echoSessionIds`.
   */
  echoSessionIds?: boolean;
}

/** Switches that make the sandbox misbehave, for tests. All off by default. */
export interface SecSignFaults {
  /** The primary server (`serverUrls[0]`) answers 503, so clients must use the fallback. */
  primaryDown?: boolean;
  /** Every request answers this HTTP status. */
  failWithStatus?: number;
  /** Every request answers a body that is not `key=value&…`. */
  garbage?: boolean;
  /** State queries answer this number instead of the session's state (e.g. 42, unknown). */
  stateOverride?: number;
  /** Wait this long before answering, in ms. */
  latencyMs?: number;
  /** Close the connection without answering. */
  dropConnection?: boolean;
  /** State, cancel and release answers echo another auth session's id (the client must refuse them). */
  foreignSession?: boolean;
  /** Label every answer with this Content-Type instead of `text/plain` (no SecSign library reads it). */
  contentType?: string;
}

/** What the phone shows for one open auth session. */
export interface SecSignPhoneRequest {
  authSessionId: string;
  secsignId: string;
  serviceName: string;
  serviceAddress: string;
  /** Symbol images (PNG data URLs) to pick from; one matches the access pass. */
  choices: string[];
  /** When the site asked. */
  requestedAt: Date;
}

export interface SecSignSandbox {
  /** Primary and fallback server, as `SecSignClient`'s `serverUrls`. */
  readonly serverUrls: [string, string];
  faults: SecSignFaults;
  /** Whether state, cancel and release answers echo the session's ids (see `SecSignSandboxOptions`). */
  echoSessionIds: boolean;
  /** Requests received: which server, which request type, what was answered. */
  readonly requests: Array<{ server: 'primary' | 'fallback'; request: string; answer: string }>;
  /** The phone opened the newest open session of this SecSign ID (→ FETCHED). */
  fetch(secsignId: string): void;
  /** The user picked the matching symbol (→ AUTHENTICATED). */
  approve(secsignId: string): void;
  /** The user picked a wrong symbol or denied (→ DENIED). */
  deny(secsignId: string): void;
  /** The session ran out (→ EXPIRED). */
  expire(secsignId: string): void;
  /** The server suspended the session, as it does when another request arrives for the ID (→ SUSPENDED). */
  suspend(secsignId: string): void;
  /** The session became invalid (→ INVALID). */
  invalidate(secsignId: string): void;
  /** The state of the newest session of this SecSign ID, or undefined once released. */
  stateOf(secsignId: string): SecSignState | undefined;
  /** Open (PENDING or FETCHED) sessions, newest first, for the phone page. */
  openRequests(): SecSignPhoneRequest[];
  /** The phone answers a request: the matching symbol approves, any other denies. */
  respond(authSessionId: string, choice: number): void;
}

interface Session {
  authSessionId: string;
  requestId: string;
  secsignId: string;
  serviceName: string;
  serviceAddress: string;
  state: SecSignState;
  createdAt: number;
  symbol: number;
  choices: number[];
}

const OPEN: readonly SecSignState[] = [SecSignState.PENDING, SecSignState.FETCHED, SecSignState.NOSTATE];
const FORM = 'application/x-www-form-urlencoded';
const SECSIGN_OPERATIONS: Record<string, SandboxOperation | undefined> = {
  ReqRequestAuthSession: 'secsign.requestAuthSession',
  ReqGetAuthSessionState: 'secsign.getAuthSessionState',
  ReqCancelAuthSession: 'secsign.cancelAuthSession',
  ReqReleaseAuthSession: 'secsign.releaseAuthSession',
};

/** SecSign ID's HTTP API with its state machine: request → PENDING → FETCHED → AUTHENTICATED/DENIED. */
export function createSecSignSandbox(
  baseUrl: string,
  options: SecSignSandboxOptions = {},
  wire?: WireFaults,
): { primary: SandboxRouter; fallback: SandboxRouter; control: SecSignSandbox } {
  const sessions = new Map<string, Session>();
  const ttlMs = options.sessionTtlMs ?? 600_000;
  const knownIds = options.knownIds ? new Set(options.knownIds.map((id) => id.toLowerCase())) : undefined;

  const newest = (secsignId: string): Session => {
    const id = secsignId.trim().toLowerCase();
    const found = [...sessions.values()].filter((s) => s.secsignId === id).at(-1);
    if (!found) throw new Error(`The sandbox has no auth session for SecSign ID "${id}".`);
    return found;
  };
  const age = (session: Session) => {
    if (OPEN.includes(session.state) && Date.now() - session.createdAt > ttlMs)
      session.state = SecSignState.EXPIRED;
    return session;
  };
  const setOpen = (session: Session, state: SecSignState) => {
    if (OPEN.includes(age(session).state)) session.state = state;
  };

  const control: SecSignSandbox = {
    serverUrls: [`${baseUrl}/secsign`, `${baseUrl}/secsign2`],
    faults: {},
    echoSessionIds: options.echoSessionIds ?? false,
    requests: [],
    fetch: (id) => setOpen(newest(id), SecSignState.FETCHED),
    approve: (id) => setOpen(newest(id), SecSignState.AUTHENTICATED),
    deny: (id) => setOpen(newest(id), SecSignState.DENIED),
    expire: (id) => setOpen(newest(id), SecSignState.EXPIRED),
    suspend: (id) => setOpen(newest(id), SecSignState.SUSPENDED),
    invalidate: (id) => setOpen(newest(id), SecSignState.INVALID),
    stateOf: (id) => {
      try {
        return age(newest(id)).state;
      } catch {
        return undefined;
      }
    },
    openRequests: () =>
      [...sessions.values()]
        .map(age)
        .filter((s) => s.state === SecSignState.PENDING || s.state === SecSignState.FETCHED)
        .sort((a, b) => b.createdAt - a.createdAt)
        .map((s) => ({
          requestedAt: new Date(s.createdAt),
          authSessionId: s.authSessionId,
          secsignId: s.secsignId,
          serviceName: s.serviceName,
          serviceAddress: s.serviceAddress,
          choices: s.choices.map(symbolDataUrl),
        })),
    respond: (authSessionId, choice) => {
      const session = sessions.get(authSessionId);
      if (!session) return;
      setOpen(
        session,
        session.choices[choice] === session.symbol ? SecSignState.AUTHENTICATED : SecSignState.DENIED,
      );
    },
  };

  const handle = (server: 'primary' | 'fallback') => async (req: Request, res: Response) => {
    const faults = control.faults;
    const body = new URLSearchParams(req.is(FORM) ? await readBody(req, 16 * 1024) : '');
    // Logged on arrival, so a slow answer never lands in a later test's log.
    const logged = { server, request: body.get('request') ?? '', answer: '(no answer yet)' };
    control.requests.push(logged);
    const request = logged.request;
    const answer = (status: number, text: string) => {
      logged.answer = status === 200 ? text.slice(0, 160) : `HTTP ${status}`;
      res
        .status(status)
        .type(faults.contentType ?? 'text/plain')
        .send(text);
    };
    if (faults.latencyMs) await sleep(faults.latencyMs);
    if (faults.dropConnection) {
      logged.answer = 'dropped';
      req.socket.destroy();
      return;
    }
    const operation = SECSIGN_OPERATIONS[request];
    if (operation && wire?.serve(operation, req, res, 'text/plain; charset=utf-8')) {
      logged.answer = `fault: ${wire.faultOf(operation)}`;
      return;
    }
    if (server === 'primary' && faults.primaryDown) return answer(503, 'Service Unavailable');
    if (faults.failWithStatus) return answer(faults.failWithStatus, 'Sandbox fault');
    if (faults.garbage) return answer(200, '<html><body>Gateway says hello</body></html>');
    if (!req.is(FORM))
      return answer(
        200,
        fields({ error: '100', errormsg: 'Content-Type must be application/x-www-form-urlencoded.' }),
      );
    if (!body.get('apimethod'))
      return answer(200, fields({ error: '101', errormsg: 'apimethod is missing.' }));

    const secsignId = (body.get('secsignid') ?? '').trim().toLowerCase();
    if (request === 'ReqRequestAuthSession') {
      const serviceName = body.get('servicename') ?? '';
      const serviceAddress = body.get('serviceaddress') ?? '';
      if (!secsignId || !serviceName || !serviceAddress) {
        return answer(
          200,
          fields({ error: '102', errormsg: 'secsignid, servicename and serviceaddress are required.' }),
        );
      }
      if (knownIds && !knownIds.has(secsignId)) {
        return answer(200, fields({ error: '104', errormsg: `The SecSign ID ${secsignId} does not exist.` }));
      }
      const symbol = randomInt(SYMBOLS.length);
      const session: Session = {
        authSessionId: randomBytes(16).toString('hex'),
        requestId: randomBytes(20).toString('hex'),
        secsignId,
        serviceName,
        serviceAddress,
        state: SecSignState.PENDING,
        createdAt: Date.now(),
        symbol,
        choices: choicesAround(symbol),
      };
      sessions.set(session.authSessionId, session);
      return answer(
        200,
        fields({
          secsignid: secsignId,
          authsessionid: session.authSessionId,
          requestid: session.requestId,
          servicename: serviceName,
          serviceaddress: serviceAddress,
          authsessionicondata: symbolPng(symbol).toString('base64'),
        }),
      );
    }
    if (!['ReqGetAuthSessionState', 'ReqCancelAuthSession', 'ReqReleaseAuthSession'].includes(request)) {
      return answer(200, fields({ error: '103', errormsg: `Unknown request type "${request}".` }));
    }
    const session = sessions.get(body.get('authsessionid') ?? '');
    if (!session || session.requestId !== body.get('requestid') || session.secsignId !== secsignId) {
      return answer(200, fields({ error: '200', errormsg: 'Auth session not found.' }));
    }
    age(session);
    if (request === 'ReqCancelAuthSession' && OPEN.includes(session.state))
      session.state = SecSignState.CANCELED;
    if (request === 'ReqReleaseAuthSession') sessions.delete(session.authSessionId);
    const state =
      request === 'ReqGetAuthSessionState' && faults.stateOverride !== undefined
        ? faults.stateOverride
        : session.state;
    const echoed = faults.foreignSession ? randomBytes(16).toString('hex') : session.authSessionId;
    return answer(
      200,
      fields({
        ...(control.echoSessionIds || faults.foreignSession
          ? { secsignid: session.secsignId, authsessionid: echoed }
          : {}),
        authsessionstate: String(state),
      }),
    );
  };

  const primary = express.Router();
  primary.post('/', handle('primary'));
  const fallback = express.Router();
  fallback.post('/', handle('fallback'));
  return {
    primary: primary as unknown as SandboxRouter,
    fallback: fallback as unknown as SandboxRouter,
    control,
  };
}

/** Writes `key=value&…` as SecSign does: values are not url-encoded. */
function fields(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
}

// --- access pass symbols -------------------------------------------------------------------

/** Each symbol: a colour and a shape test over the unit square [-1, 1]². */
const SYMBOLS: Array<{ rgb: [number, number, number]; inside: (x: number, y: number) => boolean }> = [
  { rgb: [220, 50, 47], inside: (x, y) => x * x + y * y < 0.7 }, // disc
  { rgb: [38, 139, 210], inside: (x, y) => Math.abs(x) < 0.7 && Math.abs(y) < 0.7 }, // square
  { rgb: [133, 153, 0], inside: (x, y) => y > -0.7 && y < 0.75 && Math.abs(x) < (0.75 - y) * 0.62 }, // triangle
  { rgb: [211, 54, 130], inside: (x, y) => Math.abs(x) + Math.abs(y) < 0.85 }, // diamond
  {
    rgb: [108, 113, 196],
    inside: (x, y) => (Math.abs(x) < 0.22 || Math.abs(y) < 0.22) && Math.abs(x) < 0.8 && Math.abs(y) < 0.8,
  }, // cross
  { rgb: [42, 161, 152], inside: (x, y) => x * x + y * y < 0.72 && x * x + y * y > 0.3 }, // ring
  {
    rgb: [203, 75, 22],
    inside: (x, y) => Math.abs(x) < 0.8 && Math.abs(y) < 0.8 && Math.abs(x) > Math.abs(y),
  }, // bow tie
  {
    rgb: [181, 137, 0],
    inside: (x, y) => Math.abs(y) < 0.8 && Math.abs(x) < 0.8 && Math.abs(y) > Math.abs(x),
  }, // hourglass
];
const SIZE = 96;
const pngCache = new Map<number, Buffer>();

function symbolPng(index: number): Buffer {
  let png = pngCache.get(index);
  if (!png) {
    const image = new PNG({ width: SIZE, height: SIZE });
    const { rgb, inside } = SYMBOLS[index]!;
    for (let py = 0; py < SIZE; py++) {
      for (let px = 0; px < SIZE; px++) {
        const offset = (py * SIZE + px) * 4;
        const hit = inside((px / (SIZE - 1)) * 2 - 1, (py / (SIZE - 1)) * 2 - 1);
        image.data[offset] = hit ? rgb[0] : 255;
        image.data[offset + 1] = hit ? rgb[1] : 255;
        image.data[offset + 2] = hit ? rgb[2] : 255;
        image.data[offset + 3] = 255;
      }
    }
    png = PNG.sync.write(image);
    pngCache.set(index, png);
  }
  return png;
}

function symbolDataUrl(index: number): string {
  return `data:image/png;base64,${symbolPng(index).toString('base64')}`;
}

/** Four different symbols in random order, one of them the access pass's. */
function choicesAround(symbol: number): number[] {
  const others = SYMBOLS.map((_, i) => i).filter((i) => i !== symbol);
  const picked = [symbol];
  while (picked.length < 4) picked.push(others.splice(randomInt(others.length), 1)[0]!);
  for (let i = picked.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [picked[i], picked[j]] = [picked[j]!, picked[i]!];
  }
  return picked;
}

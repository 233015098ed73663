import { randomBytes } from 'node:crypto';

import type { FactorRequest as Request } from '../internal/http.js';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import {
  normalizeSecSignId,
  SecSignClient,
  SecSignError,
  type SecSignSessionRef,
} from '../clients/secsign.js';
import { AuthenticationFailure, ConfigurationError, toError } from '../errors.js';
import { jsonRoute, sendJson, type Handler } from '../internal/http.js';
import { auditHook, positiveIntegerOption, requireFunction, stringOption } from '../internal/options.js';
import { sessionOf } from '../internal/session.js';
import { originCheck, type OriginCheck } from '../internal/origin.js';
import { consumeOrThrow, StartLimit, type StartLimitOptions } from '../internal/throttle.js';
import {
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import { decideSecSignState, secSignStateName, type SecSignDecision } from '../verifiers/secsign.js';
import { FactorStrategy, type Decision } from './base.js';

const OWNER = 'SecSignStrategy';
const SESSION_KEY = 'passport-factors:secsign';

/** Audit events; never the session ids. */
export type SecSignEvent =
  | { type: 'started'; secsignId: string }
  | { type: 'authenticated'; secsignId: string }
  | { type: 'denied' | 'canceled' | 'expired'; secsignId: string }
  | { type: 'throttled'; secsignId: string | undefined; retryAfter: number | undefined }
  | { type: 'vendor_cleanup_failed'; secsignId: string; action: 'cancel' | 'release'; error: Error };

export interface SecSignStrategyOptions {
  /** Shown on the user's phone with the request, e.g. "Example Shop". Required. */
  serviceName: string;
  /** URL or IP of the site, shown with it. Required. */
  serviceAddress: string;
  /** SecSign ID servers, primary first (default the vendor's httpapi and httpapi2). */
  serverUrls?: string[];
  /** Per-request deadline for SecSign, in ms (default 15000). */
  timeoutMs?: number;
  /** A client to use instead of one built from `serverUrls`/`timeoutMs` (default: one built from them). */
  client?: SecSignClient;
  /** What the page is told to poll at, in ms (default 3700, as the vendor's plugin polls). */
  pollIntervalMs?: number;
  /** Age after which a pending request counts as expired and is canceled, in ms (default 300000). */
  maxAgeMs?: number;
  /** Pending requests and start limits (default: a new `MemoryStore`). */
  store?: Store;
  /** Starts per SecSign ID per window before 429 (default 5): push bombing is refused. */
  maxStartsPerId?: number;
  /** Starts per browser session per window (default 10). */
  maxStartsPerSession?: number;
  /** The start-limit window, in seconds (default 600). */
  startWindowSec?: number;
  /**
   * Starts one client (`req.ip`) may make per window, whoever it names: each stores a pending
   * request before any login (default `{ points: 30, durationSec: 60 }`; 429 beyond).
   */
  startLimit?: StartLimitOptions;
  /**
   * Origins whose pages may POST to `start()` and `cancel()` (default: the request's own origin).
   * Another site's request is refused with 403 `cross_origin`; see the README's Origin rule.
   */
  allowedOrigins?: string[];
  /** Status polls per browser session per minute (default 60). */
  maxStatusPerMinute?: number;
  /** The body field holding the SecSign ID in `start()` (default `'secsignid'`). */
  idField?: string;
  /** Audit hook (default none). Errors it throws are ignored. */
  onEvent?: (event: SecSignEvent) => void;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

export type SecSignVerify = VerifyFunction<[secsignId: string]>;
export type SecSignVerifyWithRequest = VerifyFunctionWithRequest<[secsignId: string]>;

/** What the store keeps per pending request; the browser only ever holds its session cookie. */
interface PendingRequest extends SecSignSessionRef {
  startedAt: number;
}

interface SessionState {
  /** Keys this browser session's start limit. */
  limiterId: string;
  /** Points at the pending request in the store. */
  pendingId?: string;
}

interface LoadedPending {
  key: string;
  raw: string;
  pending: PendingRequest;
}

/**
 * `secsign`: SecSign ID push login. `start()` sends the request to the phone and answers the
 * access pass; `status()` polls; `cancel()` withdraws; `passport.authenticate('secsign')` logs in
 * once the user picked the matching symbol on the phone.
 */
export class SecSignStrategy extends FactorStrategy {
  override name = 'secsign';
  readonly client: SecSignClient;
  private readonly store: Store;
  private readonly serviceName: string;
  private readonly serviceAddress: string;
  private readonly pollIntervalMs: number;
  private readonly maxAgeMs: number;
  private readonly idField: string;
  private readonly startsPerId: RateLimiterAbstract;
  private readonly startsPerSession: RateLimiterAbstract;
  private readonly statusPerSession: RateLimiterAbstract;
  private readonly startsPerClient: StartLimit;
  private readonly checkOrigin: OriginCheck;
  private readonly emit: (event: SecSignEvent) => void;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;

  constructor(options: SecSignStrategyOptions & { passReqToCallback?: false }, verify: SecSignVerify);
  constructor(
    options: SecSignStrategyOptions & { passReqToCallback: true },
    verify: SecSignVerifyWithRequest,
  );
  constructor(options: SecSignStrategyOptions, verify: SecSignVerify | SecSignVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    requireFunction(verify, 'verify', OWNER);
    this.serviceName = stringOption(options.serviceName, '', 'serviceName', OWNER);
    this.serviceAddress = stringOption(options.serviceAddress, '', 'serviceAddress', OWNER);
    for (const [name, value] of [
      ['serviceName', this.serviceName],
      ['serviceAddress', this.serviceAddress],
    ] as const) {
      // SecSign's answers are `key=value&…` without encoding: an `&` here would corrupt them.
      // eslint-disable-next-line no-control-regex
      if (value === '' || /[&\u0000-\u001f]/.test(value)) {
        throw new ConfigurationError(
          `${OWNER}: \`${name}\` is required and may not contain "&" or control characters.`,
        );
      }
    }
    if (options.client !== undefined && !(options.client instanceof SecSignClient)) {
      throw new ConfigurationError(`${OWNER}: \`client\` must be a SecSignClient.`);
    }
    this.client =
      options.client ?? new SecSignClient({ serverUrls: options.serverUrls, timeoutMs: options.timeoutMs });
    this.store = options.store ?? new MemoryStore();
    this.pollIntervalMs = positiveIntegerOption(options.pollIntervalMs, 3700, 'pollIntervalMs', OWNER);
    this.maxAgeMs = positiveIntegerOption(options.maxAgeMs, 300_000, 'maxAgeMs', OWNER);
    this.idField = stringOption(options.idField, 'secsignid', 'idField', OWNER);
    const window = positiveIntegerOption(options.startWindowSec, 600, 'startWindowSec', OWNER);
    const perId = positiveIntegerOption(options.maxStartsPerId, 5, 'maxStartsPerId', OWNER);
    const perSession = positiveIntegerOption(options.maxStartsPerSession, 10, 'maxStartsPerSession', OWNER);
    const statusPerMinute = positiveIntegerOption(
      options.maxStatusPerMinute,
      60,
      'maxStatusPerMinute',
      OWNER,
    );
    this.startsPerId = this.store.createRateLimiter({
      keyPrefix: 'secsign:starts-id',
      points: perId,
      durationSec: window,
    });
    this.startsPerSession = this.store.createRateLimiter({
      keyPrefix: 'secsign:starts-session',
      points: perSession,
      durationSec: window,
    });
    this.statusPerSession = this.store.createRateLimiter({
      keyPrefix: 'secsign:status',
      points: statusPerMinute,
      durationSec: 60,
    });
    this.startsPerClient = new StartLimit(this.store, 'secsign:starts-client', options.startLimit, OWNER);
    this.checkOrigin = originCheck(options.allowedOrigins, OWNER);
    this.emit = auditHook<SecSignEvent>(options.onEvent, OWNER);
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;
  }

  /**
   * `POST` with `{ secsignid }`: pushes a login request to the phone, replacing (and canceling) this
   * session's previous one. 200 `{ state: 'pending', accessPass, pollIntervalMs }`; 400 for a missing
   * id or a request SecSign refuses (`secsign_refused`, with its code); 429 `rate_limited`; 403
   * `cross_origin` for another site's request.
   */
  start(): Handler {
    return jsonRoute<Request>(async (req, res) => {
      this.checkOrigin(req);
      let secsignId: string;
      try {
        secsignId = normalizeSecSignId((req.body as Record<string, unknown> | undefined)?.[this.idField]);
      } catch {
        throw new AuthenticationFailure(
          'missing_credentials',
          `Enter a SecSign ID (field "${this.idField}").`,
          400,
        );
      }
      const state = this.sessionState(req);
      try {
        await this.startsPerClient.consume(req);
        // Keyed by the ID itself (a public name at SecSign), so every instance counts the same key.
        await consumeOrThrow(
          this.startsPerId,
          secsignId,
          'Too many login requests for this SecSign ID. Try again later.',
        );
        await consumeOrThrow(
          this.startsPerSession,
          state.limiterId,
          'Too many login requests. Try again later.',
        );
      } catch (err) {
        if (err instanceof AuthenticationFailure)
          this.emit({ type: 'throttled', secsignId, retryAfter: err.retryAfter });
        throw err;
      }
      const previous = await this.load(req);
      if (previous) await this.forget(req, previous, { cancelAtVendor: true });

      let session;
      try {
        session = await this.client.requestAuthSession({
          secsignId,
          serviceName: this.serviceName,
          serviceAddress: this.serviceAddress,
        });
      } catch (err) {
        if (!(err instanceof SecSignError)) throw err;
        return sendJson(res, 400, {
          error: err.message,
          code: 'secsign_refused',
          secsignCode: err.secsignCode,
        });
      }
      const pending: PendingRequest = {
        secsignId: session.secsignId,
        authSessionId: session.authSessionId,
        requestId: session.requestId,
        startedAt: Date.now(),
      };
      const pendingId = randomBytes(16).toString('base64url');
      await this.store.set(this.pendingKey(pendingId), JSON.stringify(pending), this.maxAgeMs + 60_000);
      state.pendingId = pendingId;
      this.emit({ type: 'started', secsignId: pending.secsignId });
      sendJson(res, 200, {
        state: 'pending',
        accessPass: session.accessPass,
        pollIntervalMs: this.pollIntervalMs,
      });
    });
  }

  /**
   * `GET`: the pending request's state as a lower-case name (`pending`, `fetched`, `authenticated`,
   * `denied`, `canceled`, `expired`, …). A final state forgets the request (and cancels it at
   * SecSign where the vendor's plugin does). 404 `no_pending_challenge` when there is none.
   */
  status(): Handler {
    return jsonRoute<Request>(async (req, res) => {
      await consumeOrThrow(this.statusPerSession, this.sessionState(req).limiterId, 'Polling too fast.');
      const loaded = await this.requirePending(req);
      const state = await this.client.getAuthSessionState(loaded.pending);
      const decision = decideSecSignState(state, Date.now() - loaded.pending.startedAt, this.maxAgeMs);
      if (
        decision.outcome === 'denied' ||
        decision.outcome === 'canceled' ||
        decision.outcome === 'expired'
      ) {
        await this.forget(req, loaded, decision);
        this.emit({ type: decision.outcome, secsignId: loaded.pending.secsignId });
        return sendJson(res, 200, {
          state: decision.outcome === 'expired' ? 'expired' : secSignStateName(state),
        });
      }
      sendJson(res, 200, { state: secSignStateName(state) });
    });
  }

  /**
   * `POST`: withdraws the pending request here and at SecSign. `{ state: 'canceled' }`; 403
   * `cross_origin` for another site's request.
   */
  cancel(): Handler {
    return jsonRoute<Request>(async (req, res) => {
      this.checkOrigin(req);
      const loaded = await this.requirePending(req);
      // Forgotten here first, so it can no longer complete even if SecSign does not answer.
      await this.store.deleteIfEquals(loaded.key, loaded.raw);
      this.clearPointer(req);
      await this.client.cancelAuthSession(loaded.pending);
      this.emit({ type: 'canceled', secsignId: loaded.pending.secsignId });
      sendJson(res, 200, { state: 'canceled' });
    });
  }

  protected override async decide(req: Request): Promise<Decision> {
    const loaded = await this.load(req);
    if (!loaded)
      throw new AuthenticationFailure(
        'no_pending_challenge',
        'No SecSign ID login is pending. Start one first.',
        401,
      );
    const { pending } = loaded;
    const state = await this.client.getAuthSessionState(pending).catch(async (err: unknown) => {
      // A concurrent completion may have won and released the session at SecSign in the meantime:
      // then the vendor no longer knows it, and this request simply lost the race.
      if ((await this.store.get(loaded.key)) !== loaded.raw) {
        throw new AuthenticationFailure(
          'no_pending_challenge',
          'This SecSign ID login was already completed.',
          401,
        );
      }
      throw err;
    });
    const decision = decideSecSignState(state, Date.now() - pending.startedAt, this.maxAgeMs);
    switch (decision.outcome) {
      case 'waiting':
        throw new AuthenticationFailure('pending', 'Waiting for you to confirm on your phone.', 202, {
          details: { pollIntervalMs: this.pollIntervalMs },
        });
      case 'denied':
      case 'canceled':
      case 'expired':
        await this.forget(req, loaded, decision);
        this.emit({ type: decision.outcome, secsignId: pending.secsignId });
        throw new AuthenticationFailure(decision.outcome, FINAL_MESSAGES[decision.outcome], 401);
      case 'authenticated':
        break;
    }
    // Single use: of concurrent completions only the one that deletes the record goes on.
    if (!(await this.store.deleteIfEquals(loaded.key, loaded.raw))) {
      throw new AuthenticationFailure(
        'no_pending_challenge',
        'This SecSign ID login was already completed.',
        401,
      );
    }
    this.clearPointer(req);
    await this.cleanUpAtVendor('release', pending);
    const { user, info } = await invokeVerify<User>(
      this.verify,
      this.passReqToCallback ? [req, pending.secsignId] : [pending.secsignId],
    );
    if (user === false)
      throw new AuthenticationFailure('invalid_credentials', 'No account uses this SecSign ID.', 401);
    this.emit({ type: 'authenticated', secsignId: pending.secsignId });
    return {
      action: 'success',
      user,
      info: successInfo(info, { method: 'secsign', secsignId: pending.secsignId }),
    };
  }

  private async requirePending(req: Request): Promise<LoadedPending> {
    const loaded = await this.load(req);
    if (!loaded)
      throw new AuthenticationFailure('no_pending_challenge', 'No SecSign ID login is pending.', 404);
    return loaded;
  }

  private async load(req: Request): Promise<LoadedPending | undefined> {
    const pendingId = (sessionOf(req, OWNER)[SESSION_KEY] as SessionState | undefined)?.pendingId;
    if (pendingId === undefined) return undefined;
    const key = this.pendingKey(pendingId);
    const raw = await this.store.get(key);
    if (raw === undefined) return undefined;
    return { key, raw, pending: JSON.parse(raw) as PendingRequest };
  }

  /** Forgets a pending request (only if still the same record) and cancels it at SecSign if asked. */
  private async forget(
    req: Request,
    loaded: LoadedPending,
    decision: Pick<Extract<SecSignDecision, { cancelAtVendor: boolean }>, 'cancelAtVendor'>,
  ): Promise<void> {
    await this.store.deleteIfEquals(loaded.key, loaded.raw);
    this.clearPointer(req);
    if (decision.cancelAtVendor) await this.cleanUpAtVendor('cancel', loaded.pending);
  }

  /**
   * Cancel and release are housekeeping at SecSign: our record is already gone, so a failure here
   * cannot let anyone in. It is reported through onEvent instead of failing the request.
   */
  private async cleanUpAtVendor(action: 'cancel' | 'release', pending: PendingRequest): Promise<void> {
    try {
      if (action === 'cancel') await this.client.cancelAuthSession(pending);
      else await this.client.releaseAuthSession(pending);
    } catch (err) {
      this.emit({ type: 'vendor_cleanup_failed', secsignId: pending.secsignId, action, error: toError(err) });
    }
  }

  private sessionState(req: Request): SessionState {
    const session = sessionOf(req, OWNER);
    let state = session[SESSION_KEY] as SessionState | undefined;
    if (!state) {
      state = { limiterId: randomBytes(16).toString('base64url') };
      session[SESSION_KEY] = state;
    }
    return state;
  }

  private clearPointer(req: Request): void {
    const state = sessionOf(req, OWNER)[SESSION_KEY] as SessionState | undefined;
    if (state) delete state.pendingId;
  }

  private pendingKey(pendingId: string): string {
    return `secsign:pending:${pendingId}`;
  }
}

const FINAL_MESSAGES = {
  denied: 'The login was denied on the phone.',
  canceled: 'The login was canceled.',
  expired: 'The login request expired. Start again.',
} as const;

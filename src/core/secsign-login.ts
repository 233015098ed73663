import { readRecord, SECSIGN_PENDING } from '../internal/records.js';
import type { IncomingMessage } from 'node:http';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import {
  normalizeSecSignId,
  SecSignClient,
  SecSignError,
  type SecSignSessionRef,
} from '../clients/secsign.js';
import { AuthenticationFailure, ConfigurationError, toError } from '../errors.js';
import type { GetSessionId } from '../internal/binding.js';
import { auditHook, positiveIntegerOption, stringOption } from '../internal/options.js';
import { consumeOrThrow, createLimiter, StartLimit, type StartLimitOptions } from '../internal/throttle.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import { decideSecSignState, secSignStateName, type SecSignDecision } from './secsign.js';

const OWNER = 'SecSignStrategy';

/** Audit events; never the session ids. */
export type SecSignEvent =
  | { type: 'started'; secsignId: string }
  | { type: 'authenticated'; secsignId: string }
  | { type: 'denied' | 'canceled' | 'expired'; secsignId: string }
  | { type: 'throttled'; secsignId: string | undefined; retryAfter: number | undefined }
  | { type: 'vendor_cleanup_failed'; secsignId: string; action: 'cancel' | 'release'; error: Error };

export interface SecSignStrategyOptions {
  /** The name Passport registers the strategy under, and its handlers authenticate with (default `'secsign'`). */
  name?: string;
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
  /**
   * The id of the browser a pending request is bound to, carried by your app in a cookie or a
   * header (default: a random id kept in `req.session`, so a session middleware is needed). Make
   * it unguessable: whoever presents it can poll, cancel and complete that browser's login.
   */
  getSessionId?: GetSessionId;
  /** Starts per SecSign ID per window before 429 (default 5): push bombing is refused. */
  maxStartsPerId?: number;
  /** Starts per browser session (or `getSessionId` id) per window (default 10). */
  maxStartsPerSession?: number;
  /** The start-limit window, in seconds (default 600). */
  startWindowSec?: number;
  /**
   * Starts one client (`req.ip`) may make per window, whoever it names: each stores a pending
   * request before any login (default `{ points: 30, durationSec: 60 }`; 429 beyond).
   */
  startLimit?: StartLimitOptions;
  /**
   * Origins whose pages may POST to the `start` and `cancel` handlers (default: the request's own
   * origin). Another site's request is refused with 403 `cross_origin`; see the README's Origin rule.
   */
  allowedOrigins?: string[];
  /** Status polls per browser session (or `getSessionId` id) per minute (default 60). */
  maxStatusPerMinute?: number;
  /** The body field holding the SecSign ID in the `start` handler (default `'secsignid'`). */
  idField?: string;
  /** Audit hook (default none). Errors it throws are ignored. */
  onEvent?: (event: SecSignEvent) => void;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

/** What the store keeps per pending request; the browser only ever holds its binding id. */
interface PendingRequest extends SecSignSessionRef {
  startedAt: number;
}

interface LoadedPending {
  key: string;
  raw: string;
  pending: PendingRequest;
}

/** What `start()` came to: the access pass to show, or SecSign's refusal. */
export type SecSignStartResult =
  | { started: true; accessPass: string; pollIntervalMs: number }
  | { started: false; message: string; secsignCode: string | undefined };

const FINAL_MESSAGES = {
  denied: 'The login was denied on the phone.',
  canceled: 'The login was canceled.',
  expired: 'The login request expired. Start again.',
} as const;

/**
 * The SecSign ID push login without Passport: start, poll, cancel and complete a pending request
 * bound to a binding id (a digest the adapter derives from the session or `getSessionId`). At
 * most one request is pending per binding; completing consumes it by compare-and-delete.
 */
export class SecSignLogins {
  readonly client: SecSignClient;
  readonly pollIntervalMs: number;
  readonly idField: string;
  readonly emit: (event: SecSignEvent) => void;
  private readonly store: Store;
  private readonly serviceName: string;
  private readonly serviceAddress: string;
  private readonly maxAgeMs: number;
  private readonly startsPerId: RateLimiterAbstract;
  private readonly startsPerBinding: RateLimiterAbstract;
  private readonly statusPerBinding: RateLimiterAbstract;
  private readonly startsPerClient: StartLimit;

  constructor(options: SecSignStrategyOptions) {
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
    this.startsPerId = createLimiter(this.store, {
      keyPrefix: 'secsign:starts-id',
      points: perId,
      durationSec: window,
    });
    this.startsPerBinding = createLimiter(this.store, {
      keyPrefix: 'secsign:starts-session',
      points: perSession,
      durationSec: window,
    });
    this.statusPerBinding = createLimiter(this.store, {
      keyPrefix: 'secsign:status',
      points: statusPerMinute,
      durationSec: 60,
    });
    this.startsPerClient = new StartLimit(this.store, 'secsign:starts-client', options.startLimit, OWNER);
    this.emit = auditHook<SecSignEvent>(options.onEvent, OWNER);
  }

  /**
   * Pushes a login request for `rawId` to the phone, replacing (and canceling) the binding's
   * previous one. `client` is the request whose address the start limit counts.
   */
  async start(client: IncomingMessage, binding: string, rawId: unknown): Promise<SecSignStartResult> {
    let secsignId: string;
    try {
      secsignId = normalizeSecSignId(rawId);
    } catch {
      throw new AuthenticationFailure(
        'missing_credentials',
        `Enter a SecSign ID (field "${this.idField}").`,
        400,
      );
    }
    try {
      await this.startsPerClient.consume(client);
      // Keyed by the ID itself (a public name at SecSign), so every instance counts the same key.
      await consumeOrThrow(
        this.startsPerId,
        secsignId,
        'Too many login requests for this SecSign ID. Try again later.',
      );
      await consumeOrThrow(this.startsPerBinding, binding, 'Too many login requests. Try again later.');
    } catch (err) {
      if (err instanceof AuthenticationFailure)
        this.emit({ type: 'throttled', secsignId, retryAfter: err.retryAfter });
      throw err;
    }
    const previous = await this.load(binding);
    if (previous) await this.forget(previous, { cancelAtVendor: true });

    let session;
    try {
      session = await this.client.requestAuthSession({
        secsignId,
        serviceName: this.serviceName,
        serviceAddress: this.serviceAddress,
      });
    } catch (err) {
      if (!(err instanceof SecSignError)) throw err;
      return { started: false, message: err.message, secsignCode: err.secsignCode };
    }
    const pending: PendingRequest = {
      secsignId: session.secsignId,
      authSessionId: session.authSessionId,
      requestId: session.requestId,
      startedAt: Date.now(),
    };
    await this.store.set(this.pendingKey(binding), JSON.stringify(pending), this.maxAgeMs + 60_000);
    this.emit({ type: 'started', secsignId: pending.secsignId });
    return { started: true, accessPass: session.accessPass, pollIntervalMs: this.pollIntervalMs };
  }

  /**
   * The pending request's state as a lower-case name. A final state forgets the request (and
   * cancels it at SecSign where the vendor's plugin does). 404 `no_pending_challenge` when none.
   */
  async status(binding: string | undefined): Promise<string> {
    if (binding !== undefined) await consumeOrThrow(this.statusPerBinding, binding, 'Polling too fast.');
    const loaded = await this.requirePending(binding);
    const state = await this.client.getAuthSessionState(loaded.pending);
    const decision = decideSecSignState(state, Date.now() - loaded.pending.startedAt, this.maxAgeMs);
    if (decision.outcome === 'denied' || decision.outcome === 'canceled' || decision.outcome === 'expired') {
      await this.forget(loaded, decision);
      this.emit({ type: decision.outcome, secsignId: loaded.pending.secsignId });
      return decision.outcome === 'expired' ? 'expired' : secSignStateName(state);
    }
    return secSignStateName(state);
  }

  /** Withdraws the binding's pending request here and at SecSign; 404 when there is none. */
  async cancel(binding: string | undefined): Promise<void> {
    const loaded = await this.requirePending(binding);
    // Forgotten here first, so it can no longer complete even if SecSign does not answer.
    await this.store.deleteIfEquals(loaded.key, loaded.raw);
    await this.client.cancelAuthSession(loaded.pending);
    this.emit({ type: 'canceled', secsignId: loaded.pending.secsignId });
  }

  /**
   * Consumes the binding's request once the phone confirmed it, and answers the SecSign ID.
   * Throws `pending` (202) while waiting; of concurrent completions exactly one succeeds.
   */
  async complete(binding: string | undefined): Promise<string> {
    const loaded = binding === undefined ? undefined : await this.load(binding);
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
        await this.forget(loaded, decision);
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
    await this.cleanUpAtVendor('release', pending);
    return pending.secsignId;
  }

  private async requirePending(binding: string | undefined): Promise<LoadedPending> {
    const loaded = binding === undefined ? undefined : await this.load(binding);
    if (!loaded)
      throw new AuthenticationFailure('no_pending_challenge', 'No SecSign ID login is pending.', 404);
    return loaded;
  }

  /** The binding's pending request; a record that is not one (corrupt, foreign) counts as none. */
  private async load(binding: string): Promise<LoadedPending | undefined> {
    const key = this.pendingKey(binding);
    const raw = await this.store.get(key);
    if (raw === undefined) return undefined;
    const pending = readRecord<PendingRequest>(raw, SECSIGN_PENDING);
    return pending ? { key, raw, pending } : undefined;
  }

  /** Forgets a pending request (only if still the same record) and cancels it at SecSign if asked. */
  private async forget(
    loaded: LoadedPending,
    decision: Pick<Extract<SecSignDecision, { cancelAtVendor: boolean }>, 'cancelAtVendor'>,
  ): Promise<void> {
    await this.store.deleteIfEquals(loaded.key, loaded.raw);
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

  private pendingKey(binding: string): string {
    return `secsign:pending:${binding}`;
  }
}

import type { IncomingMessage } from 'node:http';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { AuthenticationFailure, ConfigurationError, toError, type FailureChallenge } from '../errors.js';
import type { Handler } from '../internal/http.js';
import { auditHook, functionOption, stringOption } from '../internal/options.js';
import { respondJson, type Respond } from '../handlers/respond.js';
import { originCheck, type OriginCheck } from '../internal/origin.js';
import { createLimiter, consumeOrThrow, limitOption } from '../internal/throttle.js';
import { userIdOf, type User } from '../internal/verify.js';
import { PartialLogin } from '../journey/partial-login.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import type { RiscStrategy } from './risc.js';

const OWNER = 'RiskStepUp';
/** This journey's data in the partial-login state: reset whenever a new journey starts. */
const DATA_KEY = 'risk';
/** Unlock emails: 3 an hour, per user and per browser. */
const UNLOCK_LIMIT = { points: 3, durationSec: 3600 };

/** A limit: `points` requests per `durationSec` seconds. */
export interface UnlockLimit {
  points: number;
  durationSec: number;
}

/** Audit events of the step-up journey, for `onEvent`. Never carries credentials or addresses. */
export type RiskStepUpEvent =
  | { type: 'risk.passed'; userId: string; score: number | undefined }
  | { type: 'risk.step_up_required'; userId: string; browserId: string }
  | { type: 'risk.failed'; userId: string; browserId: string | undefined }
  | { type: 'risk.stepped_up'; userId: string; browserId: string; factor: string }
  | { type: 'risk.unlock_sent'; userId: string; browserId: string }
  | { type: 'risk.unlock_refused'; userId: string; browserId: string; reason: 'rate_limited' };

export interface RiskStepUpOptions {
  /** The partial-login journey the risk check is a factor of (its `requiredFactors` name `risc`). */
  login: PartialLogin;
  /** The RISC strategy (for `preAuthenticate` and `emailAuthenticate`), registered with `passport.use`. */
  risc: RiscStrategy;
  /**
   * The name the RISC strategy is registered under with `passport.use(name, risc)`, which is also
   * its factor's name in the journey (default: the strategy's own `name`).
   */
  riscName?: string;
  /** How the handlers write their answers (default `respondJson`: the documented JSON bodies). */
  respond?: Respond;
  /** The user's id as Lastwall knows it (default `String(user.id)`). */
  getUserId?: (user: User) => string;
  /**
   * The address the unlock link goes to, from YOUR user record (default: none, so Lastwall uses
   * the address it holds for the user). Never read from the request.
   */
  getEmail?: (user: User) => string | undefined | Promise<string | undefined>;
  /** Unlock emails per user (default 3 per hour). */
  unlockLimitPerUser?: UnlockLimit;
  /** Unlock emails per browser, as Lastwall identifies it (default 3 per hour). */
  unlockLimitPerBrowser?: UnlockLimit;
  /** Where the unlock limits are counted: share it between instances (default: a new `MemoryStore`). */
  store?: Store;
  /**
   * Origins whose pages may POST to the journey's handlers (default: the request's own origin).
   * Another site's request is refused with 403 `cross_origin` before anything runs.
   */
  allowedOrigins?: string[];
  /** Audit hook (default: none). */
  onEvent?: (event: RiskStepUpEvent) => void;
}

interface RiskJourney {
  /** The browser the last check came from: what preauth and the email unlock apply to. */
  browserId?: string;
  /** What the last check asked for. */
  needs?: 'step-up' | 'unlock';
}

/**
 * The risk-based step-up journey on a `PartialLogin`, after its password step:
 *
 * 1. `check()` runs `passport.authenticate('risc')` on the snapshot the page posted, for the pending
 *    user. `passed` records the `risc` factor (the login completes when the journey says so) and
 *    answers `200 { status: 'passed', score, login }`. `risky` → 401 `{ code: 'risky', next:
 *    'step-up' }`. `failed_risk` → 401 `{ code: 'failed_risk', next: 'unlock' }`.
 * 2. `completeWith('sms-otp' | 'secsign' | …)` runs that second factor for the same user; on
 *    success it calls `preAuthenticate(user, browser)` (the next check from this browser passes) and
 *    records both the second factor and `risc`.
 * 3. `sendUnlockEmail()` asks Lastwall to email an unlock link for this browser, to the address
 *    `getEmail(user)` gives (never one from the request), throttled per user and per browser; after
 *    the user followed it, the page runs `check()` again.
 *
 * `requireCleared()` guards what needs the full login: `login.requireFactors('risc')`.
 */
export class RiskStepUp {
  readonly login: PartialLogin;
  private readonly risc: RiscStrategy;
  private readonly getUserId: (user: User) => string;
  private readonly getEmail: (user: User) => string | undefined | Promise<string | undefined>;
  private readonly unlockPerUser: RateLimiterAbstract;
  private readonly unlockPerBrowser: RateLimiterAbstract;
  private readonly emit: (event: RiskStepUpEvent) => void;
  private readonly checkOrigin: OriginCheck;
  private readonly riscName: string;
  private readonly respond: Respond;

  constructor(options: RiskStepUpOptions) {
    if (!options || !(options.login instanceof PartialLogin)) {
      throw new ConfigurationError(`${OWNER}: \`login\` must be the PartialLogin this journey is part of.`);
    }
    if (!options.risc || typeof options.risc.client?.preAuthenticate !== 'function') {
      throw new ConfigurationError(`${OWNER}: \`risc\` must be the RiscStrategy you registered.`);
    }
    this.login = options.login;
    this.risc = options.risc;
    this.getUserId = functionOption(
      options.getUserId,
      (user: User) => userIdOf(user, OWNER),
      'getUserId',
      OWNER,
    );
    this.getEmail = functionOption(options.getEmail, () => undefined, 'getEmail', OWNER);
    const store = options.store ?? new MemoryStore();
    this.unlockPerUser = createLimiter(store, {
      keyPrefix: 'risk-unlock:user',
      ...limitOption(options.unlockLimitPerUser, UNLOCK_LIMIT, 'unlockLimitPerUser', OWNER),
    });
    this.unlockPerBrowser = createLimiter(store, {
      keyPrefix: 'risk-unlock:browser',
      ...limitOption(options.unlockLimitPerBrowser, UNLOCK_LIMIT, 'unlockLimitPerBrowser', OWNER),
    });
    this.emit = auditHook<RiskStepUpEvent>(options.onEvent, OWNER);
    this.checkOrigin = originCheck(options.allowedOrigins, OWNER);
    this.riscName = stringOption(options.riscName, this.risc.name, 'riscName', OWNER);
    this.respond = functionOption<Respond>(options.respond, respondJson, 'respond', OWNER);
  }

  /** Wraps a POST handler: another site's request is answered 403 `cross_origin` and goes no further. */
  private sameSite(handler: Handler): Handler {
    return (req, res, next) => {
      try {
        this.checkOrigin(req);
      } catch (err) {
        if (err instanceof AuthenticationFailure) return this.fail(req, res, err);
        return next(toError(err));
      }
      handler(req, res, next);
    };
  }

  /** Step 1: the risk check, for the pending (or logged-in) user. */
  check(): Handler {
    return this.sameSite((req, res, next) => {
      this.login.currentUser(req).then(
        (current) => {
          if (!current)
            return this.noPending(req, res, 'Log in with the first factor before the risk check.');
          this.login.authenticate(this.riscName, req, res, next, (user, failure, info) => {
            if (failure) {
              return this.answerCheckFailure(req, res, failure.challenge, failure.status).catch(
                (err: unknown) => this.failOrNext(req, res, next, err),
              );
            }
            const score = scoreOf(info);
            const userId = this.getUserId(user as User);
            this.login
              .setJourneyData(req, DATA_KEY, {} satisfies RiskJourney)
              .then(() => this.login.record(req, user, this.riscName))
              .then((outcome) => {
                this.emit({ type: 'risk.passed', userId, score });
                this.respond(res, 200, { status: 'passed', score, login: outcome }, req);
              })
              .catch((err: unknown) => this.failOrNext(req, res, next, err));
          });
        },
        (err: unknown) => next(toError(err)),
      );
    });
  }

  /** Step 2: a second factor after a `risky` check, then `preAuthenticate` for this browser. */
  completeWith(strategy: string): Handler {
    if (typeof strategy !== 'string' || strategy === '')
      throw new ConfigurationError(`${OWNER}: completeWith() needs the second factor's registered name.`);
    return this.sameSite((req, res, next) => {
      this.pendingJourney(req, 'step-up').then(
        (pending) => {
          if (!pending) return this.noPending(req, res, 'No step-up is pending: run the risk check first.');
          const { user: expected, browserId } = pending;
          this.login.authenticate(strategy, req, res, next, (user, failure) => {
            if (failure) {
              const { message, code, ...details } = failure.challenge ?? {
                message: 'Authentication failed.',
              };
              return this.respond(res, failure.status, { error: message, code, ...details }, req);
            }
            // The second factor must prove the SAME user: approving someone else's factor is no step-up.
            const userId = this.getUserId(expected);
            if (this.getUserId(user as User) !== userId) {
              return this.respond(
                res,
                401,
                { error: 'That second factor belongs to another account.', code: 'invalid_credentials' },
                req,
              );
            }
            this.risc.client
              .preAuthenticate(userId, browserId)
              .then(() => this.login.setJourneyData(req, DATA_KEY, {} satisfies RiskJourney))
              .then(() => this.login.record(req, expected, [strategy, this.riscName]))
              .then((outcome) => {
                this.emit({ type: 'risk.stepped_up', userId, browserId, factor: strategy });
                this.respond(res, 200, { status: 'passed', stepUp: strategy, login: outcome }, req);
              })
              .catch((err: unknown) => this.failOrNext(req, res, next, err));
          });
        },
        (err: unknown) => next(toError(err)),
      );
    });
  }

  /**
   * Step 3: after a `failed_risk` check, email an unlock link for this browser to the address
   * `getEmail(user)` gives. The request body is not read. Throttled per user and per browser.
   */
  sendUnlockEmail(): Handler {
    return this.sameSite((req, res, next) => {
      const run = async () => {
        const pending = await this.pendingJourney(req, 'unlock');
        if (!pending) return this.noPending(req, res, 'No unlock is pending: run the risk check first.');
        const { user, browserId } = pending;
        const userId = this.getUserId(user);
        try {
          await consumeOrThrow(this.unlockPerUser, userId, 'Too many unlock emails. Try again later.');
          await consumeOrThrow(this.unlockPerBrowser, browserId, 'Too many unlock emails. Try again later.');
        } catch (err) {
          if (!(err instanceof AuthenticationFailure)) throw err;
          this.emit({ type: 'risk.unlock_refused', userId, browserId, reason: 'rate_limited' });
          return this.fail(req, res, err);
        }
        const email = await this.getEmail(user);
        await this.risc.client.emailAuthenticate(
          userId,
          browserId,
          typeof email === 'string' && email !== '' ? email : undefined,
        );
        this.emit({ type: 'risk.unlock_sent', userId, browserId });
        this.respond(res, 202, { sent: true }, req);
      };
      run().catch((err: unknown) => next(toError(err)));
    });
  }

  /** Lets the request on only when the user is logged in and the risk check (or a step-up) passed. */
  requireCleared(): Handler {
    return this.login.requireFactors(this.riscName);
  }

  /** Whether this session passed the risk check (or a step-up after it). */
  isCleared(req: IncomingMessage): boolean {
    return this.login.factors(req).some((done) => done.factor === this.riscName);
  }

  private async answerCheckFailure(
    req: IncomingMessage,
    res: Parameters<Handler>[1],
    challenge: FailureChallenge | undefined,
    status: number,
  ): Promise<void> {
    const browserId = typeof challenge?.browserId === 'string' ? challenge.browserId : undefined;
    const needs =
      challenge?.code === 'risky' && browserId
        ? 'step-up'
        : challenge?.code === 'failed_risk' && browserId
          ? 'unlock'
          : undefined;
    await this.login.setJourneyData(req, DATA_KEY, { browserId, needs } satisfies RiskJourney);
    const user = (req as { user?: User }).user;
    if (user && needs === 'step-up')
      this.emit({ type: 'risk.step_up_required', userId: this.getUserId(user), browserId: browserId! });
    else if (user && challenge?.code === 'failed_risk')
      this.emit({ type: 'risk.failed', userId: this.getUserId(user), browserId });
    this.respond(
      res,
      status,
      {
        error: challenge?.message,
        code: challenge?.code,
        score: challenge?.score,
        ...(needs ? { next: needs } : {}),
      },
      req,
    );
  }

  /** A failure as every handler answers it: its status, `Retry-After`, `{ error, code, … }`. */
  private fail(req: IncomingMessage, res: Parameters<Handler>[1], failure: AuthenticationFailure): void {
    if (failure.retryAfter !== undefined) res.setHeader('Retry-After', String(failure.retryAfter));
    const { message, ...challenge } = failure.toChallenge();
    this.respond(res, failure.status, { error: message, ...challenge }, req);
  }

  /** A journey failure (a concurrent step consumed the state) is answered; anything else is an error. */
  private failOrNext(
    req: IncomingMessage,
    res: Parameters<Handler>[1],
    next: Parameters<Handler>[2],
    err: unknown,
  ): void {
    if (err instanceof AuthenticationFailure) return this.fail(req, res, err);
    next(toError(err));
  }

  private noPending(req: IncomingMessage, res: Parameters<Handler>[1], message: string): void {
    this.respond(res, 409, { error: message, code: 'no_pending_challenge' }, req);
  }

  /** The pending user and browser when the last check asked for `needs`; else `undefined`. */
  private async pendingJourney(
    req: IncomingMessage,
    needs: RiskJourney['needs'],
  ): Promise<{ user: User; browserId: string } | undefined> {
    // currentUser() loads the state first (without a session, from the store), then its data is read.
    const user = await this.login.currentUser(req);
    const journey = this.login.journeyData<RiskJourney>(req, DATA_KEY);
    if (!journey || journey.needs !== needs || typeof journey.browserId !== 'string') return undefined;
    return user ? { user, browserId: journey.browserId } : undefined;
  }
}

function scoreOf(info: unknown): number | undefined {
  const score = (info as { score?: unknown } | undefined)?.score;
  return typeof score === 'number' ? score : undefined;
}

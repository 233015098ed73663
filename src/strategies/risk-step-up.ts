import { userIdOf } from '../internal/verify.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigurationError, toError, type FailureChallenge } from '../errors.js';
import {
  readFailure,
  sendJson,
  type Handler,
  type NextFunction,
  type PassportLike,
} from '../internal/http.js';
import { sessionOf } from '../internal/session.js';
import type { User } from '../internal/verify.js';
import type { RiscStrategy } from './risc.js';

const OWNER = 'RiskStepUp';
const SESSION_KEY = 'passport-factors:risk';

export interface RiskStepUpOptions {
  /** Your Passport `Authenticator`. */
  passport: PassportLike;
  /** The RISC strategy (for `preAuthenticate` and `emailAuthenticate`), registered with `passport.use`. */
  risc: RiscStrategy;
  /** The user's id as Lastwall knows it (default `String(user.id)`). */
  getUserId?: (user: User) => string;
}

interface RiskState {
  /** The browser the last check came from: what preauth and the email unlock apply to. */
  browserId?: string;
  /** What the last check asked for. */
  needs?: 'step-up' | 'unlock';
  /** The risk check (or a step-up after it) passed in this session. */
  cleared?: boolean;
}

/**
 * The risk-based step-up journey, after a password login (so `req.user` is set):
 *
 * 1. `check()` runs `passport.authenticate('risc')` on the snapshot the page posted.
 *    `passed` → 200 `{ status: 'passed', score }` and the session is cleared.
 *    `risky` → 401 `{ code: 'risky', score, next: 'step-up' }`: ask for a second factor.
 *    `failed_risk` → 401 `{ code: 'failed_risk', next: 'unlock' }`: offer the email unlock.
 * 2. `completeWith('sms-otp' | 'secsign' | …)` runs that second factor; on success it calls
 *    `preAuthenticate(user, browser)` (the next check from this browser passes) and clears the session.
 * 3. `sendUnlockEmail()` asks Lastwall to email an unlock link for this browser; after the user
 *    followed it, the page runs `check()` again.
 *
 * `requireCleared()` guards what needs the full login.
 */
export class RiskStepUp {
  private readonly passport: PassportLike;
  private readonly risc: RiscStrategy;
  private readonly getUserId: (user: User) => string;

  constructor(options: RiskStepUpOptions) {
    if (!options?.passport || typeof options.passport.authenticate !== 'function') {
      throw new ConfigurationError(`${OWNER}: \`passport\` (your Authenticator) is required.`);
    }
    if (!options.risc || typeof options.risc.preAuthenticate !== 'function') {
      throw new ConfigurationError(`${OWNER}: \`risc\` must be the RiscStrategy you registered.`);
    }
    this.passport = options.passport;
    this.risc = options.risc;
    this.getUserId = options.getUserId ?? ((user: User) => userIdOf(user, OWNER));
  }

  /** Step 1: the risk check. */
  check(): Handler {
    return (req, res, next) => {
      this.run(
        this.risc.name,
        req,
        res,
        next,
        async (_user, info) => {
          this.update(req, { cleared: true, browserId: undefined, needs: undefined });
          sendJson(res, 200, { status: 'passed', score: (info as { score?: number }).score });
        },
        (challenge, status) => {
          const browserId = typeof challenge?.browserId === 'string' ? challenge.browserId : undefined;
          const needs =
            challenge?.code === 'risky' && browserId ? 'step-up' : browserId ? 'unlock' : undefined;
          this.update(req, { cleared: false, browserId, needs });
          sendJson(res, status, {
            error: challenge?.message,
            code: challenge?.code,
            score: challenge?.score,
            ...(needs ? { next: needs } : {}),
          });
        },
      );
    };
  }

  /** Step 2: a second factor after a `risky` check, then `preAuthenticate` for this browser. */
  completeWith(strategy: string): Handler {
    return (req, res, next) => {
      const state = this.state(req);
      if (state.needs !== 'step-up' || !state.browserId || !(req as { user?: unknown }).user) {
        return sendJson(res, 409, {
          error: 'No step-up is pending: run the risk check first.',
          code: 'no_pending_challenge',
        });
      }
      const loggedIn = (req as { user?: User }).user!;
      this.run(
        strategy,
        req,
        res,
        next,
        async (user) => {
          // The second factor must prove the SAME user: approving someone else's factor is no step-up.
          if (this.getUserId(user as User) !== this.getUserId(loggedIn)) {
            return sendJson(res, 401, {
              error: 'That second factor belongs to another account.',
              code: 'invalid_credentials',
            });
          }
          await this.risc.preAuthenticate(this.getUserId(loggedIn), state.browserId!);
          this.update(req, { cleared: true, needs: undefined });
          sendJson(res, 200, { status: 'passed', stepUp: strategy });
        },
        (challenge, status) =>
          sendJson(res, status, { error: challenge?.message, code: challenge?.code, ...pick(challenge) }),
      );
    };
  }

  /** Step 3: after a `failed_risk` check, email an unlock link for this browser (`{ email? }` in the body). */
  sendUnlockEmail(): Handler {
    return (req, res, next) => {
      const state = this.state(req);
      const user = (req as { user?: User }).user;
      if (state.needs !== 'unlock' || !state.browserId || !user) {
        return sendJson(res, 409, {
          error: 'No unlock is pending: run the risk check first.',
          code: 'no_pending_challenge',
        });
      }
      const email = (req as { body?: { email?: unknown } }).body?.email;
      this.risc
        .emailAuthenticate(
          this.getUserId(user),
          state.browserId,
          typeof email === 'string' && email !== '' ? email : undefined,
        )
        .then(
          () => sendJson(res, 202, { sent: true }),
          (err: unknown) => next(toError(err)),
        );
    };
  }

  /** Lets the request on only once the risk check (or a step-up) passed in this session. */
  requireCleared(): Handler {
    return (req, res, next) => {
      if (this.state(req).cleared === true && (req as { user?: unknown }).user) return next();
      sendJson(res, 401, { error: 'Finish logging in first.', code: 'risky' });
    };
  }

  /** Whether this session passed the risk check (or a step-up after it). */
  isCleared(req: IncomingMessage): boolean {
    return this.state(req).cleared === true;
  }

  private run(
    strategy: string,
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    onSuccess: (user: unknown, info: unknown) => Promise<void>,
    onFailure: (challenge: FailureChallenge | undefined, status: number) => void,
  ): void {
    const middleware = this.passport.authenticate(strategy, { session: false }, (err, user, info, status) => {
      if (err) return next(err);
      if (!user) {
        const failure = readFailure(info, status);
        return onFailure(failure.challenge, failure.status);
      }
      onSuccess(user, info).catch((error: unknown) => next(toError(error)));
    });
    (middleware as unknown as Handler)(req, res, next);
  }

  private state(req: IncomingMessage): RiskState {
    return (sessionOf(req, OWNER)[SESSION_KEY] as RiskState | undefined) ?? {};
  }

  private update(req: IncomingMessage, change: Partial<RiskState>): void {
    const session = sessionOf(req, OWNER);
    session[SESSION_KEY] = { ...this.state(req), ...change };
  }
}

function pick(challenge: FailureChallenge | undefined): Record<string, unknown> {
  if (!challenge) return {};
  const { message: _message, code: _code, ...rest } = challenge;
  return rest;
}

import type { ServerResponse } from 'node:http';
import { sendJson, type FactorRequest as Request } from '../internal/http.js';
import { Strategy as PassportStrategy } from 'passport-strategy';
import { AuthenticationFailure, toError, type FailureChallenge } from '../errors.js';
import type { User } from '../internal/verify.js';

/** What a strategy's decision comes to; the base class turns it into Passport's action. */
export type Decision =
  | { action: 'success'; user: User; info?: unknown }
  | { action: 'fail'; challenge: FailureChallenge; status: number; failure?: AuthenticationFailure }
  | { action: 'redirect'; url: string; status?: number }
  | { action: 'pass' };

/** Options every `authenticate()` call may receive from `passport.authenticate(name, options)`. */
export type AuthenticateCallOptions = Record<string, unknown>;

/**
 * `passport-strategy`'s base class as this package uses it. Declared here so the published
 * declarations need neither `@types/passport-strategy` nor the `@types/express` it pulls in.
 */
interface StrategyBase {
  name?: string | undefined;
  authenticate(req: Request, options?: AuthenticateCallOptions): void;
  success(user: unknown, info?: unknown): void;
  fail(challenge?: unknown, status?: number): void;
  redirect(url: string, status?: number): void;
  pass(): void;
  error(err: unknown): void;
}
const Strategy = PassportStrategy as unknown as new () => StrategyBase;

/**
 * The shared Passport adapter. Subclasses implement `decide()`; this class guarantees that
 * every exception or rejection reaches `this.error()` and that exactly one Passport action runs.
 *
 * Passport calls `authenticate` on a per-request `Object.create(strategy)` copy that carries
 * `success`/`fail`/`error`/...; nothing per-request is ever written to `this`. Subclasses keep
 * their configuration in ordinary properties, never `#private` fields: those do not resolve
 * through the copy's prototype chain.
 */
export abstract class FactorStrategy extends Strategy {
  abstract override name: string;

  protected abstract decide(req: Request, options: AuthenticateCallOptions): Promise<Decision>;

  /** Headers a failure should carry (e.g. `WWW-Authenticate`); `options` are the call's. */
  protected failureHeaders(
    _failure: AuthenticationFailure,
    _options: AuthenticateCallOptions,
  ): Record<string, string> {
    return {};
  }

  override authenticate(req: Request, options?: AuthenticateCallOptions): void {
    const callOptions = options ?? {};
    this.decide(req, callOptions)
      .then(
        (decision) => this.apply(req, decision, callOptions),
        (thrown: unknown) => {
          if (thrown instanceof AuthenticationFailure) {
            return this.apply(req, this.failure(req, thrown, callOptions), callOptions);
          }
          throw thrown;
        },
      )
      // Also reached when applying a decision threw: Passport calls the next handler
      // synchronously from success(), and Express would route such a throw to next(err) too.
      .catch((thrown: unknown) => this.reportError(thrown));
  }

  private failure(req: Request, failure: AuthenticationFailure, options: AuthenticateCallOptions): Decision {
    const headers = this.failureHeaders(failure, options);
    if (failure.retryAfter !== undefined) headers['Retry-After'] = String(failure.retryAfter);
    setHeaders(req, headers);
    return { action: 'fail', challenge: failure.toChallenge(), status: failure.status, failure };
  }

  private apply(req: Request, decision: Decision, options: AuthenticateCallOptions): void {
    switch (decision.action) {
      case 'success':
        this.success(decision.user, decision.info);
        return;
      case 'fail':
        if (options['failWithError'] === true && this.failWithError(req, decision)) return;
        this.fail(decision.challenge, decision.status);
        return;
      case 'redirect':
        this.redirect(decision.url, decision.status);
        return;
      case 'pass':
        this.pass();
        return;
    }
  }

  /**
   * `failWithError: true`: Passport would turn the challenge into an `AuthenticationError` that
   * carries only a status text, and a 202 (`pending`) into a 500 in Express's default handler.
   * Instead a failure reaches the error handler as the `AuthenticationFailure` itself (stable
   * `code`, `status`, the challenge's fields), and a pending answer is answered 202 JSON here.
   * Returns false when Passport's own handling should run.
   */
  private failWithError(req: Request, decision: Extract<Decision, { action: 'fail' }>): boolean {
    if (decision.status < 400) {
      const res = req.res as ServerResponse | undefined;
      if (!res || typeof res.setHeader !== 'function' || res.headersSent) return false;
      const { message, ...challenge } = decision.challenge;
      sendJson(res, decision.status, { error: message, ...challenge });
      return true;
    }
    this.error(
      decision.failure ??
        new AuthenticationFailure(decision.challenge.code, decision.challenge.message, decision.status, {
          details: decision.challenge,
        }),
    );
    return true;
  }

  private reportError(thrown: unknown): void {
    try {
      this.error(toError(thrown));
    } catch {
      // error() itself threw (a broken error handler): nothing left to report it to.
    }
  }
}

/** Sets response headers when the framework exposes the response on the request (Express does). */
export function setHeaders(req: Request, headers: Record<string, string>): void {
  const res = (
    req as { res?: { setHeader?: (name: string, value: string) => unknown; headersSent?: boolean } }
  ).res;
  if (!res || typeof res.setHeader !== 'function' || res.headersSent) return;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthenticationFailure, ConfigurationError, toError, type FailureChallenge } from '../errors.js';
import type { Handler, NextFunction, PassportLike } from '../internal/http.js';
import { nameOption } from '../internal/options.js';
import { respondJson, type HandlerFactoryOptions, type Respond } from './respond.js';

/** A handler factory's options, checked: the Authenticator, the name to authenticate with, the answer format. */
export interface ResolvedHandlerOptions {
  passport: PassportLike;
  name: string;
  respond: Respond;
}

export function handlerOptions(
  options: HandlerFactoryOptions,
  strategyName: string,
  owner: string,
): ResolvedHandlerOptions {
  if (
    options === null ||
    typeof options !== 'object' ||
    typeof options.passport?.authenticate !== 'function'
  ) {
    throw new ConfigurationError(
      `${owner}: \`passport\` is required: the Authenticator the strategy is registered with.`,
    );
  }
  if (options.respond !== undefined && typeof options.respond !== 'function') {
    throw new ConfigurationError(`${owner}: \`respond\` must be a function (res, status, body, req).`);
  }
  return {
    passport: options.passport,
    name: nameOption(options.name, strategyName, owner),
    respond: options.respond ?? respondJson,
  };
}

/**
 * A route handler around `run`: a failure is answered through `respond` with its status,
 * `Retry-After` and `{ error, code, … }`; every other error goes to the app's error handler.
 */
export function route(
  respond: Respond,
  run: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Handler {
  return (req, res, next) => {
    run(req, res).catch((err: unknown) => {
      if (!(err instanceof AuthenticationFailure)) return next(toError(err));
      respondFailure(respond, req, res, err);
    });
  };
}

/** A failure a route answers itself: its status, `Retry-After`, `{ error, code, … }`. */
export function respondFailure(
  respond: Respond,
  req: IncomingMessage,
  res: ServerResponse,
  failure: AuthenticationFailure,
): void {
  if (failure.retryAfter !== undefined) res.setHeader('Retry-After', String(failure.retryAfter));
  const { message, ...challenge } = failure.toChallenge();
  respond(res, failure.status, { error: message, ...challenge }, req);
}

type LoginRequest = IncomingMessage & {
  session?: unknown;
  user?: unknown;
  authInfo?: unknown;
  logIn?: (user: unknown, options: { session: boolean }, done: (err?: unknown) => void) => void;
};

/**
 * The handler that decides a multi-step login: runs `passport.authenticate(name)` and, on success,
 * logs the user in (into the session when the request has one, else for this request only) and
 * calls `next()`, so the app's next handler answers. A failure is answered through `respond` with
 * its status and `{ error, code, … }` (202 `pending` while the user has not confirmed yet).
 */
export function completeHandler({ passport, name, respond }: ResolvedHandlerOptions): Handler {
  return (req, res, next) => {
    const request = req as LoginRequest;
    const run = passport.authenticate(name, { session: false }, (err, user, info, status) => {
      if (err) return next(toError(err));
      if (!user) return answerChallenge(req, res, respond, info, status);
      request.authInfo = info;
      if (typeof request.logIn !== 'function') {
        request.user = user;
        return next();
      }
      const session = request.session !== undefined && request.session !== null;
      request.logIn(user, { session }, (loginErr) => (loginErr ? next(toError(loginErr)) : next()));
    });
    (run as unknown as (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void)(
      req,
      res,
      next,
    );
  };
}

/** Answers a failure as Passport hands it to a custom callback, `(challenge, status)`. */
function answerChallenge(
  req: IncomingMessage,
  res: ServerResponse,
  respond: Respond,
  info: unknown,
  status: unknown,
): void {
  const challenge =
    info !== null && typeof info === 'object' && typeof (info as FailureChallenge).code === 'string'
      ? (info as FailureChallenge)
      : undefined;
  const code = typeof status === 'number' && status >= 202 && status < 600 ? status : 401;
  if (challenge?.retryAfter !== undefined) res.setHeader('Retry-After', String(challenge.retryAfter));
  const { message, ...rest } = challenge ?? { message: 'Authentication failed.' };
  respond(res, code, { error: message, ...rest }, req);
}

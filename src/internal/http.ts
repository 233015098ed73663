import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthenticationFailure, InvalidPhoneNumberError, toError, type FailureChallenge } from '../errors.js';

/** The slice of a Passport `Authenticator` the route handlers use (`passport` itself satisfies it). */
export interface PassportLike {
  authenticate(
    strategy: string,
    options: { session: false },
    callback: (err: unknown, user?: unknown, info?: unknown, status?: unknown) => void,
  ): (req: never, res: never, next: never) => unknown;
}

/**
 * The request the strategies read: Node's `IncomingMessage` plus what Express, a body parser,
 * a session middleware and Passport add. Declared here rather than taken from `@types/express`,
 * so the declarations type-check against `@types/express` 4 and 5, and without it.
 */
export interface FactorRequest extends IncomingMessage {
  // `any`, as Express types them: what a body parser or query parser made of the request.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query?: any;
  ip?: string | undefined;
  protocol?: string;
  user?: Express.User | undefined;
  session?: unknown;
  res?: unknown;
}

export type NextFunction = (err?: unknown) => void;
export type Handler = (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void;

/** Answers JSON with plain Node APIs, so handlers work in Connect as well as Express. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(payload));
  res.end(payload);
}

/** Reads a failure that Passport handed to a custom callback as `(info, status)`. */
export function readFailure(
  info: unknown,
  status: unknown,
): { challenge: FailureChallenge | undefined; status: number } {
  const challenge =
    info !== null && typeof info === 'object' && typeof (info as FailureChallenge).code === 'string'
      ? (info as FailureChallenge)
      : undefined;
  return { challenge, status: typeof status === 'number' && status >= 400 ? status : 401 };
}

/** Logs the user in for this request only (`session: false`), as Passport does without a custom callback. */
export function logInForRequest(
  req: IncomingMessage,
  user: unknown,
  info: unknown,
  next: NextFunction,
): void {
  const request = req as IncomingMessage & {
    logIn?: (user: unknown, options: { session: false }, done: (err?: unknown) => void) => void;
    user?: unknown;
    authInfo?: unknown;
  };
  request.authInfo = info;
  if (typeof request.logIn === 'function') {
    request.logIn(user, { session: false }, (err) => next(err));
  } else {
    request.user = user;
    next();
  }
}

/** Answers a verifier's failure from a route handler: its status, `Retry-After`, `{ error, code, … }`. */
export function sendFailure(res: ServerResponse, failure: AuthenticationFailure): void {
  if (failure.retryAfter !== undefined) res.setHeader('Retry-After', String(failure.retryAfter));
  const { message, ...challenge } = failure.toChallenge();
  sendJson(res, failure.status, { error: message, ...challenge });
}

/**
 * A JSON route handler around `run`: a verifier's failure is answered as JSON with its status, a
 * phone number that cannot receive SMS as 400; every other error goes to the app's error handler.
 */
export function jsonRoute<Req extends IncomingMessage>(
  run: (req: Req, res: ServerResponse) => Promise<void>,
): Handler {
  return (req, res, next) => {
    run(req as Req, res).catch((err: unknown) => {
      if (err instanceof AuthenticationFailure) return sendFailure(res, err);
      if (err instanceof InvalidPhoneNumberError)
        return sendJson(res, 400, { error: err.message, code: err.code });
      next(toError(err));
    });
  };
}

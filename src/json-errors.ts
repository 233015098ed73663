import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { AuthenticationFailure, PassportFactorsError } from './errors.js';
import { sendFailure, sendJson, type NextFunction } from './internal/http.js';

/** An Express/Connect error handler: `(err, req, res, next)`. */
export type ErrorHandler = (
  err: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: NextFunction,
) => void;

/**
 * An error handler that answers this package's errors as JSON, for apps that use
 * `passport.authenticate(name, { failWithError: true })` or JSON APIs. Mount it after the routes:
 * `app.use(jsonErrors())`.
 *
 * - A failed authentication (`AuthenticationFailure`, what a strategy hands Passport under
 *   `failWithError`): its status, `Retry-After` when throttled, and
 *   `{ error, code, …the challenge's fields }` (e.g. `attemptsRemaining`).
 * - Passport's own `AuthenticationError` (another strategy under `failWithError`): its status and
 *   `{ error }`.
 * - Any other `PassportFactorsError` with a `status` (a `StoreError` 503, a `VendorError` 502/504,
 *   an `InvalidPhoneNumberError` 400): that status and `{ error, code }`; a 5xx says only the status
 *   text, never the fault's message.
 * - Anything else, or a response already under way, goes on to the next error handler.
 */
export function jsonErrors(): ErrorHandler {
  return (err, _req, res, next) => {
    if (res.headersSent) return next(err);
    if (err instanceof AuthenticationFailure) return sendFailure(res, err);
    const status = statusOf(err);
    if (status === undefined) return next(err);
    const error = status >= 500 ? (STATUS_CODES[status] ?? 'Error') : (err as Error).message;
    if (err instanceof PassportFactorsError) return sendJson(res, status, { error, code: err.code });
    if ((err as Error).name === 'AuthenticationError') return sendJson(res, status, { error });
    next(err);
  };
}

function statusOf(err: unknown): number | undefined {
  if (!(err instanceof Error)) return undefined;
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' && status >= 400 && status <= 599 ? status : undefined;
}

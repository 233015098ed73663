import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import type { FactorRequest as Request, Handler } from '../internal/http.js';
import { functionOption } from '../internal/options.js';
import type { User } from '../internal/verify.js';
import { TotpStrategy } from '../strategies/totp.js';
import { respondJson, type Respond } from './respond.js';
import { route } from './shared.js';

const OWNER = 'totpHandlers';

/**
 * Options of `totpHandlers(totp, options)`. No `passport`: enrolling authenticates nobody;
 * `passport.authenticate(name)` is the step that checks a code.
 */
export interface TotpHandlerOptions {
  /** How answers are written (default `respondJson`). */
  respond?: Respond;
}

/**
 * The routes of one `TotpStrategy`, each a `POST` for the logged-in `req.user` (401
 * `missing_credentials` without one), refused with 403 `cross_origin` for another site's request.
 * Mount them behind your full login, never behind a partial one: whoever reaches them can replace
 * the user's authenticator and recovery codes.
 */
export interface TotpHandlers {
  /**
   * Starts an enrollment: 200 `{ uri, qr, manualEntryKey, expiresIn }` (`Cache-Control: no-store`).
   * The secret is in force only after `confirm`.
   */
  enroll: Handler;
  /**
   * Confirms the enrollment with the first code (body field `codeField`): 200 `{ enrolled: true }`;
   * 400 `missing_credentials`; 401 `invalid_code` (with `attemptsRemaining`), `replayed` or
   * `no_pending_challenge`; 429 `locked` with `Retry-After`.
   */
  confirm: Handler;
  /**
   * Replaces the user's recovery codes: 200 `{ recoveryCodes: [...] }` (`Cache-Control: no-store`),
   * shown once. Needs `saveRecoveryCodes` and `consumeRecoveryCode` on the strategy.
   */
  recoveryCodes: Handler;
}

/**
 * The route handlers of TOTP enrollment and recovery codes.
 *
 * ```ts
 * const routes = totpHandlers(totp);
 * app.post('/totp/enroll', requireLogin, routes.enroll);
 * app.post('/totp/enroll/confirm', requireLogin, routes.confirm);
 * app.post('/totp/recovery-codes', requireLogin, routes.recoveryCodes);
 * app.post('/totp/verify', passport.authenticate('totp'), done);
 * ```
 */
export function totpHandlers(totp: TotpStrategy, options: TotpHandlerOptions = {}): TotpHandlers {
  if (!(totp instanceof TotpStrategy)) {
    throw new ConfigurationError(`${OWNER}: the first argument must be a TotpStrategy.`);
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError(`${OWNER}: options must be an object.`);
  }
  const respond = functionOption<Respond>(options.respond, respondJson, 'respond', OWNER);
  const factor = totp.factor;

  /** The logged-in user, after the origin check; a failure otherwise. */
  const userOf = (req: IncomingMessage): User => {
    totp.checkOrigin(req);
    const user = (req as Request).user;
    if (user === undefined || user === null) {
      throw new AuthenticationFailure(
        'missing_credentials',
        'Log in before setting up an authenticator app.',
        401,
      );
    }
    return user;
  };
  const noStore = (res: ServerResponse) => res.setHeader('Cache-Control', 'no-store');

  return {
    enroll: route(respond, async (req, res) => {
      const enrollment = await factor.startEnrollment(userOf(req));
      noStore(res);
      respond(res, 200, { ...enrollment }, req);
    }),
    confirm: route(respond, async (req, res) => {
      const user = userOf(req);
      const submitted: unknown = ((req as Request).body as Record<string, unknown> | undefined)?.[
        totp.codeField
      ];
      await factor.confirmEnrollment(user, submitted);
      respond(res, 200, { enrolled: true }, req);
    }),
    recoveryCodes: route(respond, async (req, res) => {
      const user = userOf(req);
      const recoveryCodes = await factor.generateRecoveryCodes(user);
      noStore(res);
      respond(res, 200, { recoveryCodes }, req);
    }),
  };
}

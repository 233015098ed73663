import type { ServerResponse } from 'node:http';
import { ConfigurationError } from '../errors.js';
import type { FactorRequest as Request, Handler } from '../internal/http.js';
import { functionOption } from '../internal/options.js';
import { WebAuthnStrategy } from '../strategies/webauthn.js';
import { respondJson, type Respond } from './respond.js';
import { route } from './shared.js';

const OWNER = 'webauthnHandlers';

/**
 * Options of `webauthnHandlers(webauthn, options)`. No `passport` or `name`: the options routes
 * authenticate nobody, and registration adds a passkey for the logged-in user;
 * `passport.authenticate(name)` is the step that logs in with one.
 */
export interface WebAuthnHandlerOptions {
  /** How answers are written (default `respondJson`). */
  respond?: Respond;
}

/** The routes of one `WebAuthnStrategy` (each `POST`, body parsed as JSON by the app). */
export interface WebAuthnHandlers {
  /**
   * Registration options for `req.user`: 200 with the `PublicKeyCredentialCreationOptionsJSON`
   * to hand to `navigator.credentials.create()` (its existing passkeys excluded); 401
   * `missing_credentials` without a logged-in user.
   */
  registrationOptions: Handler;
  /**
   * Verifies the browser's registration response (`req.body.credential`) and saves the passkey
   * through `saveCredential`: 201 `{ registered: true, credential: { id, deviceType, backedUp } }`;
   * 401/400 `{ error, code }` when refused, 409 `already_registered`.
   */
  register: Handler;
  /**
   * Login options: 200 `PublicKeyCredentialRequestOptionsJSON`. With `req.user` (a second factor)
   * the allow list names that user's passkeys; without one it is empty (first factor, conditional UI).
   */
  authenticationOptions: Handler;
}

/**
 * The route handlers of passkeys. Every route refuses another site's request (403 `cross_origin`).
 *
 * ```ts
 * const passkeys = webauthnHandlers(webauthn);
 * app.post('/passkeys/register/options', passkeys.registrationOptions);
 * app.post('/passkeys/register', passkeys.register);
 * app.post('/passkeys/login/options', passkeys.authenticationOptions);
 * app.post('/passkeys/login', passport.authenticate('webauthn'), done);
 * ```
 */
export function webauthnHandlers(
  webauthn: WebAuthnStrategy,
  options: WebAuthnHandlerOptions = {},
): WebAuthnHandlers {
  if (!(webauthn instanceof WebAuthnStrategy)) {
    throw new ConfigurationError(`${OWNER}: the first argument must be a WebAuthnStrategy.`);
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError(`${OWNER}: options must be an object.`);
  }
  const respond = functionOption<Respond>(options.respond, respondJson, 'respond', OWNER);
  const ceremonies = webauthn.ceremonies;
  const answer = (res: ServerResponse, status: number, body: object, req: Request) => {
    res.setHeader('Cache-Control', 'no-store');
    respond(res, status, body as Record<string, unknown>, req);
  };

  return {
    registrationOptions: route(respond, async (req, res) => {
      ceremonies.checkOrigin(req);
      answer(res, 200, await ceremonies.registrationOptions(req as Request), req as Request);
    }),
    register: route(respond, async (req, res) => {
      ceremonies.checkOrigin(req);
      const credential = await ceremonies.register(req as Request);
      answer(
        res,
        201,
        {
          registered: true,
          credential: { id: credential.id, deviceType: credential.deviceType, backedUp: credential.backedUp },
        },
        req as Request,
      );
    }),
    authenticationOptions: route(respond, async (req, res) => {
      ceremonies.checkOrigin(req);
      answer(res, 200, await ceremonies.authenticationOptions(req as Request), req as Request);
    }),
  };
}

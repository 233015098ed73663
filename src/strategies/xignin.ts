import type { FactorRequest as Request } from '../internal/http.js';
import type { XignInClient } from '../clients/xignin.js';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { Binding } from '../internal/binding.js';
import { nameOption, requireFunction } from '../internal/options.js';
import { originCheck, type OriginCheck } from '../internal/origin.js';
import {
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import {
  XignInLogins,
  type AuthorizationParams,
  type XignInClaims,
  type XignInStrategyOptions,
} from '../core/xignin-login.js';
import { FactorStrategy, type AuthenticateCallOptions, type Decision } from './base.js';

export type { XignInClaims, XignInStrategyOptions } from '../core/xignin-login.js';

const OWNER = 'XignInStrategy';

export type XignInVerify = VerifyFunction<[claims: XignInClaims]>;
export type XignInVerifyWithRequest = VerifyFunctionWithRequest<[claims: XignInClaims]>;

/**
 * What `passport.authenticate('xignin', options)` may ask of one redirect login, besides
 * Passport's own options. Read when the login starts (the request without a code); a value that
 * cannot be sent is an error naming the option, never silently dropped.
 */
export interface XignInAuthenticateOptions {
  /** `'login'`: XignIn shows the login even when the user has a session there (default: the strategy's `promptLogin`). XignIn documents no other value. */
  prompt?: 'login';
  /** Sent as `login_hint`: who is expected to log in, e.g. an e-mail address (default none; 1 to 320 characters). */
  loginHint?: string;
  /** Sent as `acr_values`; each must be one XignIn's discovery announces in `acr_values_supported` (default none). */
  acrValues?: string[];
  /**
   * Where XignIn sends the browser back for this login (default: the strategy's `redirectUri`);
   * kept with the transaction, so the code is redeemed with the same value. It must be registered
   * at XignIn. (openid-client calls this `callbackURL`; that name is refused here.)
   */
  redirectUri?: string;
}

/** What the handler factory reads of a strategy; kept off the public surface. */
export interface XignInParts {
  logins: XignInLogins;
  binding: Binding;
  checkOrigin: OriginCheck;
}
const parts = new WeakMap<XignInStrategy, XignInParts>();

/** The flow, binding and origin rule behind a strategy, for `xignInHandlers()`. */
export function xignInParts(strategy: unknown): XignInParts {
  const found = parts.get(strategy as XignInStrategy);
  if (!found) throw new ConfigurationError('xignInHandlers: the first argument must be an XignInStrategy.');
  return found;
}

/**
 * `xignin`: XignIn passwordless login over OpenID Connect (authorization code flow, PKCE, JWE+JWS
 * id_tokens). Without a code: redirect to XignIn. With `code` in the query: the redirect callback.
 * With `code` posted by the manager's QR script: the JS-login mode. With `push` after the
 * `push` handler's login was confirmed: the push login. `xignInHandlers()` gives the other routes.
 */
export class XignInStrategy extends FactorStrategy {
  override name: string;
  readonly client: XignInClient;
  private readonly logins: XignInLogins;
  private readonly binding: Binding;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;

  constructor(options: XignInStrategyOptions & { passReqToCallback?: false }, verify: XignInVerify);
  constructor(options: XignInStrategyOptions & { passReqToCallback: true }, verify: XignInVerifyWithRequest);
  constructor(options: XignInStrategyOptions, verify: XignInVerify | XignInVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    requireFunction(verify, 'verify', OWNER);
    this.name = nameOption(options.name, 'xignin', OWNER);
    this.logins = new XignInLogins(options);
    this.client = this.logins.client;
    this.binding = new Binding(OWNER, 'passport-factors:xignin', options.getSessionId);
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;
    parts.set(this, {
      logins: this.logins,
      binding: this.binding,
      checkOrigin: originCheck(options.allowedOrigins, OWNER),
    });
  }

  protected override async decide(req: Request, options: AuthenticateCallOptions): Promise<Decision> {
    const params = authorizationParams(options);
    const query = (req.query ?? {}) as Record<string, unknown>;
    const body = (req.body ?? {}) as Record<string, unknown>;

    // 1. The provider sent the browser back with an error: fail cleanly, echo nothing.
    if (query.error !== undefined) {
      const providerError =
        typeof query.error === 'string' && /^[a-z_]{1,64}$/.test(query.error) ? query.error : 'invalid';
      if (typeof query.state === 'string')
        await this.logins.takeTransaction(this.binding.current(req), query.state);
      throw new AuthenticationFailure(
        'denied',
        providerError === 'access_denied'
          ? 'The login was denied in XignIn.'
          : 'XignIn did not complete the login.',
        401,
        { details: { providerError } },
      );
    }

    // 2. Redirect callback: the state must be one this browser started, used once.
    if (typeof query.code === 'string') {
      const state = typeof query.state === 'string' ? query.state : '';
      const transaction = await this.logins.takeTransaction(this.binding.current(req), state);
      if (!transaction)
        throw new AuthenticationFailure(
          'state_mismatch',
          'This login did not start here, or was already used. Start again.',
          401,
        );
      const tokens = await this.client.redeemCode({
        code: query.code,
        redirectUri: transaction.redirectUri,
        codeVerifier: transaction.verifier,
      });
      return this.finish(req, tokens.idToken, tokens.accessToken, transaction.nonce, 'redirect');
    }

    // 3. JS-login: the manager's QR script handed the page a code, which posts it with our token.
    if (typeof body.code === 'string') {
      if (!this.logins.checkJsToken(this.binding.current(req), body[this.logins.jsTokenField])) {
        throw new AuthenticationFailure(
          'state_mismatch',
          'This login did not start on this site. Reload the page and try again.',
          401,
        );
      }
      const tokens = await this.client.redeemCode({ code: body.code, redirectUri: this.logins.redirectUri });
      return this.finish(req, tokens.idToken, tokens.accessToken, undefined, 'js');
    }

    // 4. A push login that the phone confirmed (see the pushStatus handler).
    if (query.push !== undefined || body.push !== undefined) {
      const idToken = await this.logins.takeConfirmedPush(this.binding.current(req));
      return this.finish(req, idToken, undefined, undefined, 'push');
    }

    // 5. Otherwise: start the authorization code flow, which stores a transaction before any login.
    await this.logins.consumeStart(req);
    return { action: 'redirect', url: await this.logins.authorizationUrl(this.binding.ensure(req), params) };
  }

  private async finish(
    req: Request,
    idToken: string,
    accessToken: string | undefined,
    nonce: string | undefined,
    mode: 'redirect' | 'js' | 'push',
  ): Promise<Decision> {
    const claims = await this.logins.claims(idToken, accessToken, nonce);
    const { user, info } = await invokeVerify<User>(
      this.verify,
      this.passReqToCallback ? [req, claims] : [claims],
    );
    if (user === false)
      throw new AuthenticationFailure(
        'invalid_credentials',
        'No account is linked to this XignIn identity.',
        401,
      );
    return {
      action: 'success',
      user,
      info: successInfo(info, { method: 'xignin', mode, sub: claims.sub, claims }),
    };
  }
}

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
const CALL_OWNER = "passport.authenticate('xignin', options)";

/** Reads and checks the per-call options; a value that cannot be sent is a `ConfigurationError`. */
function authorizationParams(options: AuthenticateCallOptions): AuthorizationParams {
  if (options.callbackURL !== undefined) {
    throw new ConfigurationError(`${CALL_OWNER}: \`callbackURL\` is not read here; name it \`redirectUri\`.`);
  }
  const { prompt, loginHint, acrValues, redirectUri } = options;
  if (prompt !== undefined && prompt !== 'login') {
    throw new ConfigurationError(
      `${CALL_OWNER}: \`prompt\` must be 'login' (the only value XignIn documents).`,
    );
  }
  if (
    loginHint !== undefined &&
    (typeof loginHint !== 'string' ||
      loginHint === '' ||
      loginHint.length > 320 ||
      CONTROL_CHARACTERS.test(loginHint))
  ) {
    throw new ConfigurationError(
      `${CALL_OWNER}: \`loginHint\` must be a string of 1 to 320 characters without control characters.`,
    );
  }
  if (
    acrValues !== undefined &&
    (!Array.isArray(acrValues) ||
      acrValues.length === 0 ||
      !acrValues.every((value) => typeof value === 'string' && /^[\x21-\x7e]+$/.test(value)))
  ) {
    throw new ConfigurationError(
      `${CALL_OWNER}: \`acrValues\` must be a non-empty array of strings without spaces.`,
    );
  }
  if (redirectUri !== undefined && !isRedirectUri(redirectUri)) {
    throw new ConfigurationError(
      `${CALL_OWNER}: \`redirectUri\` must be an absolute http(s) URL without a fragment.`,
    );
  }
  return {
    prompt,
    loginHint,
    acrValues: acrValues as string[] | undefined,
    redirectUri: redirectUri as string | undefined,
  };
}

function isRedirectUri(value: unknown): value is string {
  if (typeof value !== 'string' || !/^https?:\/\//.test(value)) return false;
  try {
    return new URL(value).hash === '' && !value.includes('#');
  } catch {
    return false;
  }
}

import type { FactorRequest as Request } from '../internal/http.js';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { nameOption, requireFunction } from '../internal/options.js';
import {
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import { WebAuthnCeremonies, type WebAuthnCredentialRecord, type WebAuthnOptions } from '../core/webauthn.js';
import { FactorStrategy, type Decision } from './base.js';

export type {
  UserVerification,
  WebAuthnAssertion,
  WebAuthnCredentialRecord,
  WebAuthnCredentialUpdate,
  WebAuthnEvent,
  WebAuthnOptions,
} from '../core/webauthn.js';

const OWNER = 'WebAuthnStrategy';

export interface WebAuthnStrategyOptions extends WebAuthnOptions {
  /** The name Passport registers the strategy under with `passport.use(webauthn)` (default `'webauthn'`). */
  name?: string;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

/** Loads the user a verified passkey belongs to: `verify(userId, credential, done)`. */
export type WebAuthnVerify = VerifyFunction<[userId: string, credential: WebAuthnCredentialRecord]>;
export type WebAuthnVerifyWithRequest = VerifyFunctionWithRequest<
  [userId: string, credential: WebAuthnCredentialRecord]
>;

/**
 * `webauthn`: passkeys and security keys. Verifies the browser's assertion (`req.body.credential`)
 * against the challenge `webauthnHandlers(webauthn).authenticationOptions` bound to this session.
 * Without `req.user` it is a first factor (any of the site's passkeys; `verify` loads its owner);
 * with `req.user` a second factor, and the passkey must be that user's.
 */
export class WebAuthnStrategy extends FactorStrategy {
  override name: string;
  /** The passport-free ceremonies the route handlers and this strategy share. */
  readonly ceremonies: WebAuthnCeremonies;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;

  constructor(options: WebAuthnStrategyOptions & { passReqToCallback?: false }, verify: WebAuthnVerify);
  constructor(
    options: WebAuthnStrategyOptions & { passReqToCallback: true },
    verify: WebAuthnVerifyWithRequest,
  );
  constructor(options: WebAuthnStrategyOptions, verify: WebAuthnVerify | WebAuthnVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    requireFunction(verify, 'verify', OWNER);
    this.name = nameOption(options.name, 'webauthn', OWNER);
    this.ceremonies = new WebAuthnCeremonies(options);
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;
  }

  protected override async decide(req: Request): Promise<Decision> {
    const assertion = await this.ceremonies.authenticate(req);
    const { user, info } = await invokeVerify<User>(
      this.verify,
      this.passReqToCallback
        ? [req, assertion.userId, assertion.credential]
        : [assertion.userId, assertion.credential],
    );
    if (!user)
      throw new AuthenticationFailure('unknown_credential', 'This passkey is not registered here.', 401);
    // A second factor proves req.user, whoever verify loads.
    if (req.user && this.ceremonies.getUserId(user) !== this.ceremonies.getUserId(req.user))
      throw new AuthenticationFailure('unknown_credential', 'This passkey is not registered here.', 401);
    return {
      action: 'success',
      user,
      info: successInfo(info, {
        method: 'webauthn',
        amr: [assertion.amr],
        credentialId: assertion.credential.id,
        userVerified: assertion.userVerified,
      }),
    };
  }
}

import type { FactorRequest as Request } from '../internal/http.js';
import type { SecSignClient } from '../clients/secsign.js';
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
import { SecSignLogins, type SecSignStrategyOptions } from '../core/secsign-login.js';
import { FactorStrategy, type Decision } from './base.js';

export type { SecSignEvent, SecSignStrategyOptions } from '../core/secsign-login.js';

const OWNER = 'SecSignStrategy';

export type SecSignVerify = VerifyFunction<[secsignId: string]>;
export type SecSignVerifyWithRequest = VerifyFunctionWithRequest<[secsignId: string]>;

/** What the handler factory reads of a strategy; kept off the public surface. */
export interface SecSignParts {
  logins: SecSignLogins;
  binding: Binding;
  checkOrigin: OriginCheck;
}
const parts = new WeakMap<SecSignStrategy, SecSignParts>();

/** The flow, binding and origin rule behind a strategy, for `secSignHandlers()`. */
export function secSignParts(strategy: unknown): SecSignParts {
  const found = parts.get(strategy as SecSignStrategy);
  if (!found) throw new ConfigurationError('secSignHandlers: the first argument must be a SecSignStrategy.');
  return found;
}

/**
 * `secsign`: SecSign ID push login. `secSignHandlers(secsign, { passport })` gives the routes that
 * send the request to the phone (`start`), poll (`status`) and withdraw it (`cancel`);
 * `passport.authenticate('secsign')` logs in once the user picked the matching symbol on the phone.
 */
export class SecSignStrategy extends FactorStrategy {
  override name: string;
  readonly client: SecSignClient;
  private readonly logins: SecSignLogins;
  private readonly binding: Binding;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;

  constructor(options: SecSignStrategyOptions & { passReqToCallback?: false }, verify: SecSignVerify);
  constructor(
    options: SecSignStrategyOptions & { passReqToCallback: true },
    verify: SecSignVerifyWithRequest,
  );
  constructor(options: SecSignStrategyOptions, verify: SecSignVerify | SecSignVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    requireFunction(verify, 'verify', OWNER);
    this.name = nameOption(options.name, 'secsign', OWNER);
    this.logins = new SecSignLogins(options);
    this.client = this.logins.client;
    this.binding = new Binding(OWNER, 'passport-factors:secsign', options.getSessionId);
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;
    parts.set(this, {
      logins: this.logins,
      binding: this.binding,
      checkOrigin: originCheck(options.allowedOrigins, OWNER),
    });
  }

  protected override async decide(req: Request): Promise<Decision> {
    const secsignId = await this.logins.complete(this.binding.current(req));
    const { user, info } = await invokeVerify<User>(
      this.verify,
      this.passReqToCallback ? [req, secsignId] : [secsignId],
    );
    if (user === false)
      throw new AuthenticationFailure('invalid_credentials', 'No account uses this SecSign ID.', 401);
    this.logins.emit({ type: 'authenticated', secsignId });
    return { action: 'success', user, info: successInfo(info, { method: 'secsign', secsignId }) };
  }
}

import type { FactorRequest as Request } from '../internal/http.js';
import { LastwallClient, type LastwallClientOptions } from '../clients/lastwall.js';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { functionOption, nameOption, positiveIntegerOption, stringOption } from '../internal/options.js';
import {
  userIdOf,
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import { decryptRiscSnapshot, type RiscResult } from '../core/risc-snapshot.js';
import { FactorStrategy, type Decision } from './base.js';

const OWNER = 'RiscStrategy';

export interface RiscStrategyOptions extends LastwallClientOptions {
  /** The name Passport registers the strategy under with `passport.use(risc)` (default `'risc'`). */
  name?: string;
  /** The body field holding the snapshot the page's script produced (default `'riscdata'`). */
  snapshotField?: string;
  /**
   * Ask Lastwall (`api/validate`) whether the decrypted result is genuine (default `true`). The
   * snapshot's CBC encryption has no MAC, so without this a result can be forged: leave it on.
   */
  validate?: boolean;
  /** Oldest snapshot accepted, in seconds (default 600). */
  maxAgeSec?: number;
  /** The logged-in user's id, compared with the snapshot's `user_id` (default `String(user.id)`). */
  getUserId?: (user: User) => string;
  /** Used snapshot ids, so each is accepted once (default: a new `MemoryStore`). */
  store?: Store;
  /** A client to use instead of one built from these options (default: one built from them). */
  client?: LastwallClient;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

export type RiscVerify = VerifyFunction<[result: RiscResult, user: User]>;
export type RiscVerifyWithRequest = VerifyFunctionWithRequest<[result: RiscResult, user: User]>;

/**
 * `risc`: a Lastwall RISC spot check after the first factor. `passed` logs in; `risky` fails
 * `risky` and `failed` fails `failed_risk`, both with `score` and `browserId` in the challenge so the
 * app can step up (a second factor, then `preAuthenticate`) or offer the email unlock.
 *
 * The Lastwall calls the app makes itself (`scriptUrl`, `verifyApiKey`, `preAuthenticate`,
 * `emailAuthenticate`) are on `risc.client`, the `LastwallClient` the strategy validates with.
 */
export class RiscStrategy extends FactorStrategy {
  override name: string;
  /** The Lastwall API client: `scriptUrl`, `verifyApiKey`, `preAuthenticate`, `emailAuthenticate`. */
  readonly client: LastwallClient;
  private readonly secret: string;
  private readonly snapshotField: string;
  private readonly validateWithVendor: boolean;
  private readonly maxAgeSec: number;
  private readonly getUserId: (user: User) => string;
  private readonly store: Store;
  private readonly verify: ((...args: never[]) => unknown) | undefined;
  private readonly passReqToCallback: boolean;

  constructor(options: RiscStrategyOptions & { passReqToCallback?: false }, verify?: RiscVerify);
  constructor(options: RiscStrategyOptions & { passReqToCallback: true }, verify: RiscVerifyWithRequest);
  constructor(options: RiscStrategyOptions, verify?: RiscVerify | RiscVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    this.name = nameOption(options.name, 'risc', OWNER);
    if (options.client !== undefined && !(options.client instanceof LastwallClient)) {
      throw new ConfigurationError(`${OWNER}: \`client\` must be a LastwallClient.`);
    }
    this.client = options.client ?? new LastwallClient(options);
    // The secret decrypts snapshots here, so it is checked even when a client is given.
    if (typeof options.secret !== 'string' || !/^[0-9a-f]{64,}$/i.test(options.secret)) {
      throw new ConfigurationError(
        `${OWNER}: \`secret\` must be the API secret: at least 64 hex characters.`,
      );
    }
    this.secret = options.secret;
    this.snapshotField = stringOption(options.snapshotField, 'riscdata', 'snapshotField', OWNER);
    this.validateWithVendor = options.validate !== false;
    this.maxAgeSec = positiveIntegerOption(options.maxAgeSec, 600, 'maxAgeSec', OWNER);
    this.getUserId = functionOption(
      options.getUserId,
      (user: User) => userIdOf(user, OWNER),
      'getUserId',
      OWNER,
    );
    this.store = options.store ?? new MemoryStore();
    if (verify !== undefined && typeof verify !== 'function')
      throw new ConfigurationError(`${OWNER}: \`verify\` must be a function.`);
    this.verify = verify as ((...args: never[]) => unknown) | undefined;
    this.passReqToCallback = options.passReqToCallback === true;
  }

  protected override async decide(req: Request): Promise<Decision> {
    if (!req.user)
      throw new AuthenticationFailure('missing_credentials', 'Log in with your password first.', 401);
    const snapshot: unknown = (req.body as Record<string, unknown> | undefined)?.[this.snapshotField];
    // A missing or garbage snapshot is a failed check, never a score of 0.
    const result = decryptRiscSnapshot(snapshot, this.secret, this.maxAgeSec);
    // Bound to the logged-in user, and used once: no replay, no one else's snapshot.
    if (result.user_id !== this.getUserId(req.user)) throw failedRisk();
    if ((await this.store.increment(`risc:snapshot:${result.snapshot_id}`, this.maxAgeSec * 2000)) !== 1)
      throw failedRisk();
    // Only Lastwall can say the decrypted result is genuine.
    if (this.validateWithVendor && !(await this.client.validate(result))) throw failedRisk();

    const details = { score: result.score, browserId: result.browser_id };
    if (result.status === 'risky') {
      throw new AuthenticationFailure(
        'risky',
        'This login looks unusual. Confirm it with a second factor.',
        401,
        { details },
      );
    }
    if (result.status === 'failed') {
      throw new AuthenticationFailure(
        'failed_risk',
        'This login was refused by the risk check. Unlock it by email.',
        401,
        { details },
      );
    }
    let user: User | false = req.user;
    let info: unknown;
    if (this.verify) {
      ({ user, info } = await invokeVerify<User>(
        this.verify,
        this.passReqToCallback ? [req, result, req.user] : [result, req.user],
      ));
      if (user === false) throw failedRisk();
    }
    return { action: 'success', user, info: successInfo(info, { method: 'risc', ...details }) };
  }
}

function failedRisk(): AuthenticationFailure {
  return new AuthenticationFailure('failed_risk', 'The risk check could not be completed. Try again.', 401);
}

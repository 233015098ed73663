import { readRecord, XIGNIN_PUSH_RECORD, XIGNIN_TRANSACTION } from '../internal/records.js';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, customFetch, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { XignInClient, type XignInClientOptions } from '../clients/xignin.js';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import type { GetSessionId } from '../internal/binding.js';
import type { FactorRequest } from '../internal/http.js';
import { positiveIntegerOption, requireFunction, stringOption } from '../internal/options.js';
import { consumeOrThrow, createLimiter, StartLimit, type StartLimitOptions } from '../internal/throttle.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import {
  IdTokenVerifier,
  type DecryptionKeyInput,
  type IdTokenEncryption,
  type IdTokenSigningAlg,
} from './id-token.js';

const OWNER = 'XignInStrategy';

export interface XignInStrategyOptions extends Omit<XignInClientOptions, 'endpoints'> {
  /** The name Passport registers the strategy under, and its handlers authenticate with (default `'xignin'`). */
  name?: string;
  /** Where XignIn sends the browser back (and the redirectUri the JS-login script is given). Required. */
  redirectUri: string;
  /** Endpoint overrides; each replaces what discovery says (default: discovery's). */
  endpoints?: XignInClientOptions['endpoints'];
  /** Our private keys for encrypted id_tokens (PKCS#8 PEM, JWK or KeyObject; chosen by `kid`). Default none; required with `idTokenEncryption`. */
  decryptionKeys?: DecryptionKeyInput[];
  /** When set, id_tokens MUST be encrypted with these algorithms; a plain one is refused. */
  idTokenEncryption?: IdTokenEncryption;
  /** Accepted id_token signature algorithms (default `['ES256', 'RS256']`). */
  idTokenSigningAlgs?: IdTokenSigningAlg[];
  /** Clock skew allowed, in seconds (default 30). */
  clockToleranceSec?: number;
  /** Oldest id_token `iat` accepted, in seconds (default 600). */
  maxTokenAgeSec?: number;
  /** Other audiences an id_token may also name (default none). */
  trustedAudiences?: string[];
  /** Scope requested (default `'openid'`). */
  scope?: string;
  /** Ask XignIn to show the login even with a session there (`prompt=login`). Default false. */
  promptLogin?: boolean;
  /** Also fetch userinfo (its `sub` must equal the id_token's); added as `claims.userinfo`. Default false. */
  fetchUserInfo?: boolean;
  /** How long a redirect transaction stays valid, in seconds (default 600). */
  transactionTtlSec?: number;
  /** Least time between two JWKS refetches for an unknown `kid`, in seconds (default 30). */
  jwksCooldownSec?: number;
  /** Transactions and push logins (default: a new `MemoryStore`; `RedisStore` for several instances). */
  store?: Store;
  /**
   * The id of the browser a login in flight is bound to (redirect transactions, the JS-login
   * token, push logins), carried by your app in a cookie or a header (default: a random id kept in
   * `req.session`, so a session middleware is needed). Make it unguessable: whoever presents it
   * can complete that browser's logins.
   */
  getSessionId?: GetSessionId;
  /**
   * Push logins per user per 10 minutes (default 5): per user as `resolvePushUser` names them,
   * else per normalised identifier (trimmed, NFKC, lower case).
   */
  maxPushesPerIdentifier?: number;
  /**
   * Names the user a push is for, so the push limit counts per user however the user is
   * addressed: by e-mail or by `sub` (default: none, so each normalised identifier has its own
   * budget, and a user addressed both ways gets twice the pushes). Answer a stable id (your user
   * id, or the XignIn `sub` you store), or `undefined` for an identifier you do not know.
   */
  resolvePushUser?: (
    identifier: string,
    type: 'EMAIL' | 'SUB',
    req: FactorRequest,
  ) => string | undefined | null | Promise<string | undefined | null>;
  /**
   * Logins one client (`req.ip`) may start (redirects and pushes together) per window, before any
   * login: each stores pending state (default `{ points: 30, durationSec: 60 }`; 429 beyond).
   */
  startLimit?: StartLimitOptions;
  /**
   * Origins whose pages may POST to the `push` handler (default: the request's own origin).
   * Another site's request is refused with 403 `cross_origin`; see the README's Origin rule.
   */
  allowedOrigins?: string[];
  /** The body field of the JS-login POST carrying the per-browser token (default `'_xignin'`). */
  jsLoginTokenField?: string;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

/** What verify receives: the id_token's validated claims (and `userinfo` when fetched). */
export interface XignInClaims extends JWTPayload {
  sub: string;
  iss: string;
  userinfo?: Record<string, unknown>;
}

/** What one redirect login asks of XignIn, beyond the strategy's options. */
export interface AuthorizationParams {
  redirectUri?: string | undefined;
  prompt?: 'login' | undefined;
  loginHint?: string | undefined;
  acrValues?: string[] | undefined;
}

interface Transaction {
  nonce: string;
  verifier: string;
  createdAt: number;
  redirectUri?: string;
}

interface PushRecord {
  loginSessionId: string;
  token: string;
  idToken?: string;
}

/**
 * XignIn logins without Passport: redirect transactions (state, nonce, PKCE), the JS-login token
 * and push logins, each bound to a binding id (a digest the adapter derives from the session or
 * `getSessionId`), single use, and the id_token check.
 */
export class XignInLogins {
  readonly client: XignInClient;
  readonly redirectUri: string;
  readonly jsTokenField: string;
  private readonly options: XignInStrategyOptions;
  private readonly store: Store;
  private readonly transactionTtlMs: number;
  private readonly pushesPerIdentifier: RateLimiterAbstract;
  private readonly resolvePushUser: XignInStrategyOptions['resolvePushUser'];
  private readonly startLimit: StartLimit;
  private readonly jwksCooldownMs: number;
  /** Built once, on first use. */
  private idTokens: Promise<IdTokenVerifier> | undefined;

  constructor(options: XignInStrategyOptions) {
    if (typeof options.redirectUri !== 'string' || !/^https?:\/\//.test(options.redirectUri)) {
      throw new ConfigurationError(
        `${OWNER}: \`redirectUri\` is required: the absolute URL XignIn sends the browser back to.`,
      );
    }
    this.client = new XignInClient(options);
    this.options = options;
    this.redirectUri = options.redirectUri;
    this.store = options.store ?? new MemoryStore();
    this.transactionTtlMs =
      positiveIntegerOption(options.transactionTtlSec, 600, 'transactionTtlSec', OWNER) * 1000;
    this.jsTokenField = stringOption(options.jsLoginTokenField, '_xignin', 'jsLoginTokenField', OWNER);
    const pushes = positiveIntegerOption(options.maxPushesPerIdentifier, 5, 'maxPushesPerIdentifier', OWNER);
    this.pushesPerIdentifier = createLimiter(this.store, {
      keyPrefix: 'xignin:push',
      points: pushes,
      durationSec: 600,
    });
    if (options.resolvePushUser !== undefined)
      requireFunction(options.resolvePushUser, 'resolvePushUser', OWNER);
    this.resolvePushUser = options.resolvePushUser;
    this.startLimit = new StartLimit(this.store, 'xignin:start-client', options.startLimit, OWNER);
    if (options.idTokenEncryption && !options.decryptionKeys?.length) {
      throw new ConfigurationError(`${OWNER}: \`idTokenEncryption\` needs \`decryptionKeys\`.`);
    }
    this.jwksCooldownMs = positiveIntegerOption(options.jwksCooldownSec, 30, 'jwksCooldownSec', OWNER) * 1000;
  }

  /** Takes one start for this request's client, or throws `rate_limited` (429). */
  consumeStart(client: IncomingMessage): Promise<void> {
    return this.startLimit.consume(client);
  }

  /**
   * Stores a transaction for `binding` and answers the authorize URL. Keyed by binding and state,
   * so several tabs can log in at once and another binding cannot even name the transaction.
   */
  async authorizationUrl(binding: string, params: AuthorizationParams): Promise<string> {
    const { authorization } = await this.client.endpoints();
    if (params.acrValues !== undefined) await this.checkAcrValues(params.acrValues);
    const state = randomBytes(24).toString('base64url');
    const redirectUri = params.redirectUri ?? this.redirectUri;
    const transaction: Transaction = {
      nonce: randomBytes(24).toString('base64url'),
      verifier: randomBytes(32).toString('base64url'),
      createdAt: Date.now(),
      ...(params.redirectUri !== undefined ? { redirectUri } : {}),
    };
    await this.store.set(
      this.transactionKey(binding, state),
      JSON.stringify(transaction),
      this.transactionTtlMs,
    );
    const prompt = params.prompt ?? (this.options.promptLogin ? 'login' : undefined);
    const url = new URL(authorization);
    url.search = new URLSearchParams({
      ...Object.fromEntries(url.searchParams),
      response_type: 'code',
      client_id: this.client.clientId,
      redirect_uri: redirectUri,
      scope: this.options.scope ?? 'openid',
      state,
      nonce: transaction.nonce,
      code_challenge: createHash('sha256').update(transaction.verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...(prompt ? { prompt } : {}),
      ...(params.loginHint !== undefined ? { login_hint: params.loginHint } : {}),
      ...(params.acrValues !== undefined ? { acr_values: params.acrValues.join(' ') } : {}),
    }).toString();
    return url.toString();
  }

  /** Single use: the transaction leaves the store (atomically) before use; an unknown one is `undefined`. */
  async takeTransaction(
    binding: string | undefined,
    state: string,
  ): Promise<(Transaction & { redirectUri: string }) | undefined> {
    if (binding === undefined || state === '' || state.length > 256) return undefined;
    const raw = await this.store.take(this.transactionKey(binding, state));
    const transaction = readRecord<Transaction>(raw, XIGNIN_TRANSACTION);
    if (!transaction || Date.now() - transaction.createdAt > this.transactionTtlMs) return undefined;
    return { ...transaction, redirectUri: transaction.redirectUri ?? this.redirectUri };
  }

  /** The token the JS-login page echoes: derived from the binding, so another site cannot know it. */
  jsToken(binding: string): string {
    return createHash('sha256').update(`xignin-js-login\0${binding}`).digest('base64url');
  }

  /** Whether `echoed` is the binding's JS-login token (compared in constant time). */
  checkJsToken(binding: string | undefined, echoed: unknown): boolean {
    if (binding === undefined || typeof echoed !== 'string') return false;
    const left = Buffer.from(echoed);
    const right = Buffer.from(this.jsToken(binding));
    return left.length === right.length && timingSafeEqual(left, right);
  }

  /** Sends a push login for the binding (replacing its previous one). */
  async push(
    req: IncomingMessage,
    binding: string,
    identifier: string,
    type: 'EMAIL' | 'SUB',
  ): Promise<void> {
    await this.startLimit.consume(req);
    await consumeOrThrow(
      this.pushesPerIdentifier,
      await this.pushLimitKey(req, identifier, type),
      'Too many push logins for this account. Try again later.',
    );
    const session = await this.client.startPush({ type, identifier });
    const record: PushRecord = { loginSessionId: session.loginSessionId, token: session.token };
    await this.store.set(this.pushKey(binding), JSON.stringify(record), 180_000);
  }

  /** The binding's push login state; 404 `no_pending_challenge` when there is none. */
  async pushStatus(binding: string | undefined): Promise<'pending' | 'authenticated' | 'denied' | 'expired'> {
    const key = binding === undefined ? undefined : this.pushKey(binding);
    const raw = key === undefined ? undefined : await this.store.get(key);
    const record = readRecord<PushRecord>(raw, XIGNIN_PUSH_RECORD);
    if (key === undefined || !record) {
      throw new AuthenticationFailure('no_pending_challenge', 'No push login is pending.', 404);
    }
    if (record.idToken) return 'authenticated';
    const status = await this.client.pushStatus(record);
    if (status.state === 'authenticated') {
      await this.store.set(key, JSON.stringify({ ...record, idToken: status.idToken }), 120_000);
    } else if (status.state !== 'pending') {
      await this.store.delete(key);
    }
    return status.state;
  }

  /** Consumes the binding's confirmed push login (once) and answers its id_token. */
  async takeConfirmedPush(binding: string | undefined): Promise<string> {
    const key = binding === undefined ? undefined : this.pushKey(binding);
    const raw = key === undefined ? undefined : await this.store.get(key);
    const record = readRecord<PushRecord>(raw, XIGNIN_PUSH_RECORD);
    // Only a confirmed push is consumed (a page posting too early keeps its pending one), once.
    if (!record?.idToken || !(await this.store.deleteIfEquals(key!, raw!))) {
      throw new AuthenticationFailure('no_pending_challenge', 'No confirmed push login. Start again.', 401);
    }
    return record.idToken;
  }

  /** Verifies the id_token (and fetches userinfo when configured) and answers the claims. */
  async claims(
    idToken: string,
    accessToken: string | undefined,
    nonce: string | undefined,
  ): Promise<XignInClaims> {
    const verifier = await this.idTokenVerifier();
    const claims: XignInClaims = await verifier.verify(idToken, nonce === undefined ? {} : { nonce });
    if (this.options.fetchUserInfo && accessToken) {
      const userinfo = await this.client.userinfo(accessToken);
      if (userinfo.sub !== claims.sub) {
        throw new AuthenticationFailure('invalid_token', 'The userinfo answer is for another user.', 401);
      }
      claims.userinfo = userinfo;
    }
    return claims;
  }

  /** Refuses acr values XignIn's discovery does not announce: a typo would otherwise be dropped silently. */
  private async checkAcrValues(values: string[]): Promise<void> {
    const supported = await this.client.acrValuesSupported();
    const unknown = values.filter((value) => !supported?.includes(value));
    if (unknown.length > 0) {
      throw new ConfigurationError(
        supported === undefined
          ? `${OWNER}: \`acrValues\` cannot be used: XignIn's discovery announces no acr_values_supported.`
          : `${OWNER}: \`acrValues\` names ${unknown.map((v) => `"${v}"`).join(', ')}, which XignIn's discovery does not announce (acr_values_supported: ${supported.join(', ')}).`,
      );
    }
  }

  /** One verifier, and one remote JWKS, per strategy: refetched on an unknown kid at most once per cooldown. */
  private idTokenVerifier(): Promise<IdTokenVerifier> {
    this.idTokens ??= this.client.endpoints().then(({ jwks }) => {
      const keys: JWTVerifyGetKey = createRemoteJWKSet(new URL(jwks), {
        cooldownDuration: this.jwksCooldownMs,
        timeoutDuration: this.options.timeoutMs ?? 10_000,
        [customFetch]: this.client.jwksFetch,
      });
      return new IdTokenVerifier({
        issuer: this.client.managerUrl,
        clientId: this.client.clientId,
        jwks: keys,
        signingAlgs: this.options.idTokenSigningAlgs,
        encryption: this.options.idTokenEncryption,
        decryptionKeys: this.options.decryptionKeys,
        clockToleranceSec: this.options.clockToleranceSec,
        maxTokenAgeSec: this.options.maxTokenAgeSec,
        trustedAudiences: this.options.trustedAudiences,
      });
    });
    this.idTokens.catch(() => (this.idTokens = undefined));
    return this.idTokens;
  }

  /**
   * What the push limit counts by: the user the app resolves the identifier to, so one user
   * addressed by e-mail and by `sub` shares one budget; else the normalised identifier. Hashed,
   * so store keys never hold an e-mail address.
   */
  private async pushLimitKey(
    req: IncomingMessage,
    identifier: string,
    type: 'EMAIL' | 'SUB',
  ): Promise<string> {
    const resolved = this.resolvePushUser ? await this.resolvePushUser(identifier, type, req) : undefined;
    const key =
      typeof resolved === 'string' && resolved !== ''
        ? `user\0${resolved}`
        : `identifier\0${identifier.normalize('NFKC').toLowerCase()}`;
    return createHash('sha256').update(key).digest('base64url');
  }

  private transactionKey(binding: string, state: string): string {
    return `xignin:tx:${createHash('sha256').update(`${binding}\0${state}`).digest('base64url')}`;
  }

  private pushKey(binding: string): string {
    return `xignin:push:${binding}`;
  }
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import type { FactorRequest as Request } from '../internal/http.js';
import { createRemoteJWKSet, customFetch, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { XignInClient, type XignInClientOptions } from '../clients/xignin.js';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { jsonRoute, sendJson, type Handler } from '../internal/http.js';
import { positiveIntegerOption, requireFunction, stringOption } from '../internal/options.js';
import { sessionOf } from '../internal/session.js';
import { originCheck, type OriginCheck } from '../internal/origin.js';
import { consumeOrThrow, StartLimit, type StartLimitOptions } from '../internal/throttle.js';
import {
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import {
  IdTokenVerifier,
  type DecryptionKeyInput,
  type IdTokenEncryption,
  type IdTokenSigningAlg,
} from '../verifiers/id-token.js';
import { FactorStrategy, type Decision } from './base.js';

const OWNER = 'XignInStrategy';
const SESSION_KEY = 'passport-factors:xignin';
/** Most logins one browser session may have in flight (tabs); the oldest is dropped beyond it. */
const MAX_TRANSACTIONS = 10;

export interface XignInStrategyOptions extends Omit<XignInClientOptions, 'endpoints'> {
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
    req: Request,
  ) => string | undefined | null | Promise<string | undefined | null>;
  /**
   * Logins one client (`req.ip`) may start (redirects and pushes together) per window, before any
   * login: each stores pending state (default `{ points: 30, durationSec: 60 }`; 429 beyond).
   */
  startLimit?: StartLimitOptions;
  /**
   * Origins whose pages may POST to `push()` (default: the request's own origin). Another site's
   * request is refused with 403 `cross_origin`; see the README's Origin rule.
   */
  allowedOrigins?: string[];
  /** The body field of the JS-login POST carrying the per-session token (default `'_xignin'`). */
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

export type XignInVerify = VerifyFunction<[claims: XignInClaims]>;
export type XignInVerifyWithRequest = VerifyFunctionWithRequest<[claims: XignInClaims]>;

interface Transaction {
  nonce: string;
  verifier: string;
  createdAt: number;
}

interface PushRecord {
  loginSessionId: string;
  token: string;
  idToken?: string;
}

interface SessionState {
  /** States of redirect logins in flight, one per tab: the binding of each transaction to this browser. */
  states?: string[];
  /** Token the JS-login page echoes, so other sites cannot post codes here. */
  jsToken?: string;
  /** Points at this session's push login in the store. */
  pushId?: string;
}

/**
 * `xignin`: XignIn passwordless login over OpenID Connect (authorization code flow, PKCE, JWE+JWS
 * id_tokens). Without a code: redirect to XignIn. With `code` in the query: the redirect callback.
 * With `code` posted by the manager's QR script: the JS-login mode. After `push()` and
 * `pushStatus()`: the push login.
 */
export class XignInStrategy extends FactorStrategy {
  override name = 'xignin';
  readonly client: XignInClient;
  private readonly options: XignInStrategyOptions;
  private readonly store: Store;
  private readonly transactionTtlMs: number;
  private readonly jsTokenField: string;
  private readonly pushesPerIdentifier: RateLimiterAbstract;
  private readonly resolvePushUser: XignInStrategyOptions['resolvePushUser'];
  private readonly startLimit: StartLimit;
  private readonly checkOrigin: OriginCheck;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;
  /**
   * Built once, on first use. Kept in an object made by the constructor: Passport runs each
   * request on an Object.create() copy, and a cache assigned to `this` there would die with it.
   */
  private readonly lazy: { idTokens?: Promise<IdTokenVerifier> } = {};

  constructor(options: XignInStrategyOptions & { passReqToCallback?: false }, verify: XignInVerify);
  constructor(options: XignInStrategyOptions & { passReqToCallback: true }, verify: XignInVerifyWithRequest);
  constructor(options: XignInStrategyOptions, verify: XignInVerify | XignInVerifyWithRequest) {
    super();
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    requireFunction(verify, 'verify', OWNER);
    if (typeof options.redirectUri !== 'string' || !/^https?:\/\//.test(options.redirectUri)) {
      throw new ConfigurationError(
        `${OWNER}: \`redirectUri\` is required: the absolute URL XignIn sends the browser back to.`,
      );
    }
    this.client = new XignInClient(options);
    this.options = options;
    this.store = options.store ?? new MemoryStore();
    this.transactionTtlMs =
      positiveIntegerOption(options.transactionTtlSec, 600, 'transactionTtlSec', OWNER) * 1000;
    this.jsTokenField = stringOption(options.jsLoginTokenField, '_xignin', 'jsLoginTokenField', OWNER);
    const pushes = positiveIntegerOption(options.maxPushesPerIdentifier, 5, 'maxPushesPerIdentifier', OWNER);
    this.pushesPerIdentifier = this.store.createRateLimiter({
      keyPrefix: 'xignin:push',
      points: pushes,
      durationSec: 600,
    });
    if (options.resolvePushUser !== undefined)
      requireFunction(options.resolvePushUser, 'resolvePushUser', OWNER);
    this.resolvePushUser = options.resolvePushUser;
    this.startLimit = new StartLimit(this.store, 'xignin:start-client', options.startLimit, OWNER);
    this.checkOrigin = originCheck(options.allowedOrigins, OWNER);
    if (options.idTokenEncryption && !options.decryptionKeys?.length) {
      throw new ConfigurationError(`${OWNER}: \`idTokenEncryption\` needs \`decryptionKeys\`.`);
    }
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;
  }

  protected override async decide(req: Request): Promise<Decision> {
    const query = req.query as Record<string, unknown>;
    const body = (req.body ?? {}) as Record<string, unknown>;

    // 1. The provider sent the browser back with an error: fail cleanly, echo nothing.
    if (query.error !== undefined) {
      const providerError =
        typeof query.error === 'string' && /^[a-z_]{1,64}$/.test(query.error) ? query.error : 'invalid';
      if (typeof query.state === 'string') await this.takeTransaction(req, query.state);
      throw new AuthenticationFailure(
        'denied',
        providerError === 'access_denied'
          ? 'The login was denied in XignIn.'
          : 'XignIn did not complete the login.',
        401,
        {
          details: { providerError },
        },
      );
    }

    // 2. Redirect callback: the state must be one this browser started, used once.
    if (typeof query.code === 'string') {
      const state = typeof query.state === 'string' ? query.state : '';
      const transaction = await this.takeTransaction(req, state);
      if (!transaction)
        throw new AuthenticationFailure(
          'state_mismatch',
          'This login did not start here, or was already used. Start again.',
          401,
        );
      const tokens = await this.client.redeemCode({
        code: query.code,
        redirectUri: this.options.redirectUri,
        codeVerifier: transaction.verifier,
      });
      return this.finish(req, tokens.idToken, tokens.accessToken, transaction.nonce, 'redirect');
    }

    // 3. JS-login: the manager's QR script handed the page a code, which posts it with our token.
    if (typeof body.code === 'string') {
      const expected = (sessionOf(req, OWNER)[SESSION_KEY] as SessionState | undefined)?.jsToken;
      const echoed = body[this.jsTokenField];
      if (!expected || typeof echoed !== 'string' || !sameString(echoed, expected)) {
        throw new AuthenticationFailure(
          'state_mismatch',
          'This login did not start on this site. Reload the page and try again.',
          401,
        );
      }
      const tokens = await this.client.redeemCode({ code: body.code, redirectUri: this.options.redirectUri });
      return this.finish(req, tokens.idToken, tokens.accessToken, undefined, 'js');
    }

    // 4. A push login that the phone confirmed (see pushStatus()).
    if (query.push !== undefined || body.push !== undefined) {
      const pushId = (sessionOf(req, OWNER)[SESSION_KEY] as SessionState | undefined)?.pushId;
      const key = pushId === undefined ? undefined : this.pushKey(pushId);
      const raw = key === undefined ? undefined : await this.store.get(key);
      const record = raw === undefined ? undefined : (JSON.parse(raw) as PushRecord);
      // Only a confirmed push is consumed (a page posting too early keeps its pending one), once.
      if (!record?.idToken || !(await this.store.deleteIfEquals(key!, raw!))) {
        throw new AuthenticationFailure('no_pending_challenge', 'No confirmed push login. Start again.', 401);
      }
      this.updateSession(req, (s) => delete s.pushId);
      return this.finish(req, record.idToken, undefined, undefined, 'push');
    }

    // 5. Otherwise: start the authorization code flow, which stores a transaction before any login.
    await this.startLimit.consume(req);
    return { action: 'redirect', url: await this.authorizationUrl(req) };
  }

  /**
   * `GET`: what the page with the manager's QR script needs, as JSON: `{ managerUri, clientId,
   * redirectUri, mode: 'PULL_TOKEN', tokenField, token }`. The page posts the code with
   * `[tokenField]: token` to the route running `passport.authenticate('xignin')`.
   */
  jsLoginConfig(): Handler {
    return jsonRoute<Request>(async (req, res) => {
      let token = (sessionOf(req, OWNER)[SESSION_KEY] as SessionState | undefined)?.jsToken;
      if (!token) {
        token = randomBytes(24).toString('base64url');
        this.updateSession(req, (s) => (s.jsToken = token));
      }
      res.setHeader('Cache-Control', 'no-store');
      sendJson(res, 200, {
        managerUri: this.client.managerUrl,
        clientId: this.client.clientId,
        redirectUri: this.options.redirectUri,
        mode: 'PULL_TOKEN',
        tokenField: this.jsTokenField,
        token,
      });
    });
  }

  /**
   * `POST { identifier, type? = 'EMAIL' }`: sends a push login to the user's phone. 202 `{ state:
   * 'pending' }`; 429 `rate_limited`; 403 `cross_origin` for another site's request.
   */
  push(): Handler {
    return jsonRoute<Request>(async (req, res) => {
      this.checkOrigin(req);
      const body = (req.body ?? {}) as Record<string, unknown>;
      const identifier = typeof body.identifier === 'string' ? body.identifier.trim() : '';
      const type = body.type === 'SUB' ? 'SUB' : 'EMAIL';
      if (identifier === '' || identifier.length > 320) {
        throw new AuthenticationFailure('missing_credentials', 'Enter your email address.', 400);
      }
      await this.startLimit.consume(req);
      await consumeOrThrow(
        this.pushesPerIdentifier,
        await this.pushLimitKey(req, identifier, type),
        'Too many push logins for this account. Try again later.',
      );
      const session = await this.client.startPush({ type, identifier });
      const pushId = randomBytes(16).toString('base64url');
      const record: PushRecord = { loginSessionId: session.loginSessionId, token: session.token };
      await this.store.set(this.pushKey(pushId), JSON.stringify(record), 180_000);
      this.updateSession(req, (s) => (s.pushId = pushId));
      sendJson(res, 202, { state: 'pending' });
    });
  }

  /**
   * `GET`: polls the push login: `{ state: 'pending' | 'authenticated' | 'denied' | 'expired' }`.
   * On `authenticated`, post to the route with `passport.authenticate('xignin')` with `push=1`.
   */
  pushStatus(): Handler {
    return jsonRoute<Request>(async (req, res) => {
      const pushId = (sessionOf(req, OWNER)[SESSION_KEY] as SessionState | undefined)?.pushId;
      const raw = pushId === undefined ? undefined : await this.store.get(this.pushKey(pushId));
      if (pushId === undefined || raw === undefined) {
        throw new AuthenticationFailure('no_pending_challenge', 'No push login is pending.', 404);
      }
      const record = JSON.parse(raw) as PushRecord;
      if (record.idToken) return sendJson(res, 200, { state: 'authenticated' });
      const status = await this.client.pushStatus(record);
      if (status.state === 'authenticated') {
        await this.store.set(
          this.pushKey(pushId),
          JSON.stringify({ ...record, idToken: status.idToken }),
          120_000,
        );
      } else if (status.state !== 'pending') {
        await this.store.delete(this.pushKey(pushId));
        this.updateSession(req, (s) => delete s.pushId);
      }
      sendJson(res, 200, { state: status.state });
    });
  }

  private async authorizationUrl(req: Request): Promise<string> {
    const { authorization } = await this.client.endpoints();
    const state = randomBytes(24).toString('base64url');
    const transaction: Transaction = {
      nonce: randomBytes(24).toString('base64url'),
      verifier: randomBytes(32).toString('base64url'),
      createdAt: Date.now(),
    };
    await this.store.set(this.transactionKey(state), JSON.stringify(transaction), this.transactionTtlMs);
    // Keyed by state, so several tabs can log in at once; the session list binds each to this browser.
    this.updateSession(req, (s) => (s.states = [...(s.states ?? []), state].slice(-MAX_TRANSACTIONS)));
    const url = new URL(authorization);
    url.search = new URLSearchParams({
      ...Object.fromEntries(url.searchParams),
      response_type: 'code',
      client_id: this.client.clientId,
      redirect_uri: this.options.redirectUri,
      scope: this.options.scope ?? 'openid',
      state,
      nonce: transaction.nonce,
      code_challenge: createHash('sha256').update(transaction.verifier).digest('base64url'),
      code_challenge_method: 'S256',
      ...(this.options.promptLogin ? { prompt: 'login' } : {}),
    }).toString();
    return url.toString();
  }

  /** Single use: the state leaves the session and the transaction leaves the store (atomically) before use. */
  private async takeTransaction(req: Request, state: string): Promise<Transaction | undefined> {
    const states = (sessionOf(req, OWNER)[SESSION_KEY] as SessionState | undefined)?.states ?? [];
    if (state === '' || !states.includes(state)) return undefined;
    this.updateSession(req, (s) => (s.states = (s.states ?? []).filter((known) => known !== state)));
    const raw = await this.store.take(this.transactionKey(state));
    if (raw === undefined) return undefined;
    const transaction = JSON.parse(raw) as Transaction;
    return Date.now() - transaction.createdAt > this.transactionTtlMs ? undefined : transaction;
  }

  private async finish(
    req: Request,
    idToken: string,
    accessToken: string | undefined,
    nonce: string | undefined,
    mode: 'redirect' | 'js' | 'push',
  ): Promise<Decision> {
    const verifier = await this.idTokenVerifier();
    const claims: XignInClaims = await verifier.verify(idToken, nonce === undefined ? {} : { nonce });
    if (this.options.fetchUserInfo && accessToken) {
      const userinfo = await this.client.userinfo(accessToken);
      if (userinfo.sub !== claims.sub) {
        throw new AuthenticationFailure('invalid_token', 'The userinfo answer is for another user.', 401);
      }
      claims.userinfo = userinfo;
    }
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

  /** One verifier, and one remote JWKS, per strategy: refetched on an unknown kid at most once per cooldown. */
  private idTokenVerifier(): Promise<IdTokenVerifier> {
    this.lazy.idTokens ??= this.client.endpoints().then(({ jwks }) => {
      const keys: JWTVerifyGetKey = createRemoteJWKSet(new URL(jwks), {
        cooldownDuration:
          positiveIntegerOption(this.options.jwksCooldownSec, 30, 'jwksCooldownSec', OWNER) * 1000,
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
    this.lazy.idTokens.catch(() => delete this.lazy.idTokens);
    return this.lazy.idTokens;
  }

  private updateSession(req: Request, change: (state: SessionState) => unknown): void {
    const session = sessionOf(req, OWNER);
    const state = { ...((session[SESSION_KEY] as SessionState | undefined) ?? {}) };
    change(state);
    session[SESSION_KEY] = state;
  }

  /**
   * What the push limit counts by: the user the app resolves the identifier to, so one user
   * addressed by e-mail and by `sub` shares one budget; else the normalised identifier. Hashed,
   * so store keys never hold an e-mail address.
   */
  private async pushLimitKey(req: Request, identifier: string, type: 'EMAIL' | 'SUB'): Promise<string> {
    const resolved = this.resolvePushUser ? await this.resolvePushUser(identifier, type, req) : undefined;
    const key =
      typeof resolved === 'string' && resolved !== ''
        ? `user\0${resolved}`
        : `identifier\0${identifier.normalize('NFKC').toLowerCase()}`;
    return createHash('sha256').update(key).digest('base64url');
  }

  private transactionKey(state: string): string {
    return `xignin:tx:${createHash('sha256').update(state).digest('base64url')}`;
  }

  private pushKey(pushId: string): string {
    return `xignin:push:${pushId}`;
  }
}

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

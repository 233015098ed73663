import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FactorRequest as Request } from '../internal/http.js';
import { AuthenticationFailure, toError } from '../errors.js';
import {
  logInForRequest,
  readFailure,
  sendJson,
  type Handler,
  type NextFunction,
  type PassportLike,
} from '../internal/http.js';
import { functionOption, requireFunction } from '../internal/options.js';
import {
  userIdOf,
  invokeVerify,
  successInfo,
  type User,
  type VerifyFunction,
  type VerifyFunctionWithRequest,
} from '../internal/verify.js';
import {
  XTokenManager,
  type IssuedXToken,
  type XTokenOptions,
  type XTokenPayload,
} from '../verifiers/x-token.js';
import { FactorStrategy, setHeaders, type Decision } from './base.js';

const OWNER = 'XTokenStrategy';
/** Longest token read; a real X-Token is a few hundred characters. */
const MAX_TOKEN_LENGTH = 4096;
const NOT_AUTHORIZED = 'Not authorized.';

export interface XTokenStrategyOptions extends XTokenOptions {
  /** The user's id, written as the token's `sub` at login (default `String(user.id)`). */
  getSubject?: (user: User) => string;
  /** What `login()` answers as `user` (default `{ id }` only, so nothing private leaks by default). */
  publicUser?: (user: User) => unknown;
  /** Pass `req` as the verify function's first argument (default `false`). */
  passReqToCallback?: boolean;
}

export type XTokenVerify = VerifyFunction<[payload: XTokenPayload]>;
export type XTokenVerifyWithRequest = VerifyFunctionWithRequest<[payload: XTokenPayload]>;

/** `req.authInfo` after a successful `x-token` authentication. */
export interface XTokenInfo {
  method: 'x-token';
  /** The renewed token, also sent as the `X-Token` response header. */
  token: string;
  /** The token family (login) id; `logout()` revokes it. */
  sid: string;
  /** The user's id (the token's subject); `logoutEverywhere()` revokes all of its families. */
  sub: string;
  /** The renewed token's idle expiry, seconds since the epoch. */
  expiresAt: number;
  /** The family's absolute end, seconds since the epoch. */
  absoluteExpiresAt: number;
}

export interface LoginHandlerOptions {
  /** The strategy that checks the password (default `'basic-login'`). */
  strategy?: string;
}

/**
 * `x-token`: the alt-seven token session. Reads `X-Token` (or `Authorization: Bearer`), never the
 * query string; on every success answers a renewed token in the `X-Token` header (sliding idle
 * expiry within a fixed absolute lifetime).
 */
export class XTokenStrategy extends FactorStrategy {
  override name = 'x-token';
  readonly tokens: XTokenManager;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;
  private readonly getSubject: (user: User) => string;
  private readonly publicUser: (user: User) => unknown;

  constructor(options: XTokenStrategyOptions & { passReqToCallback?: false }, verify: XTokenVerify);
  constructor(options: XTokenStrategyOptions & { passReqToCallback: true }, verify: XTokenVerifyWithRequest);
  constructor(options: XTokenStrategyOptions, verify: XTokenVerify | XTokenVerifyWithRequest) {
    super();
    requireFunction(verify, 'verify', OWNER);
    this.tokens = new XTokenManager(options);
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;
    this.getSubject = functionOption(
      options.getSubject,
      (user: User) => userIdOf(user, OWNER, 'getSubject'),
      'getSubject',
      OWNER,
    );
    this.publicUser = functionOption(
      options.publicUser,
      (user: User) => ({ id: this.getSubject(user) }),
      'publicUser',
      OWNER,
    );
  }

  protected override async decide(req: Request): Promise<Decision> {
    const token = readToken(req);
    if (token === undefined) {
      throw new AuthenticationFailure('missing_credentials', 'An X-Token is required. Log in first.', 401);
    }
    // One store round trip checks the family and makes this token the predecessor of `renewed`
    // (B11); the renewal is sent only if the user is found.
    const { payload, renewed } = await this.tokens.verifyAndRenew(token);
    const { user, info } = await invokeVerify<User>(
      this.verify,
      this.passReqToCallback ? [req, payload] : [payload],
    );
    if (user === false) {
      throw new AuthenticationFailure(
        'invalid_token',
        'The X-Token belongs to no active user. Log in again.',
        401,
      );
    }
    setHeaders(req, tokenHeaders(renewed.token));
    return { action: 'success', user, info: successInfo(info, authInfo(renewed)) };
  }

  protected override failureHeaders(failure: AuthenticationFailure): Record<string, string> {
    if (failure.status !== 401) return {};
    const error = failure.code === 'invalid_token' ? ', error="invalid_token"' : '';
    return { 'WWW-Authenticate': `Bearer realm="x-token"${error}` };
  }

  /**
   * `POST /api/auth/login`: runs the password strategy, then starts a NEW token family.
   * Success: `X-Token` header and `{ user, success: true }`. Failure: `{ success: false, error, code }`
   * with the strategy's status (400 malformed, 401 wrong credentials, 429 throttled) and no
   * `WWW-Authenticate`, so browsers show the page's message instead of their own dialog.
   */
  login(passport: PassportLike, options: LoginHandlerOptions = {}): Handler {
    const strategy = options.strategy ?? 'basic-login';
    return (req, res, next) => {
      const authenticate = passport.authenticate(strategy, { session: false }, (err, user, info, status) => {
        if (err) return next(err);
        if (!user) {
          // A Basic challenge on a script's request makes browsers open their own password
          // dialog over the page: the JSON login route answers without it.
          res.removeHeader('WWW-Authenticate');
          return answerFailure(res, info, status, { success: false });
        }
        this.startSession(req, res, user as User, next).catch((error: unknown) => next(toError(error)));
      });
      (authenticate as unknown as Handler)(req, res, next);
    };
  }

  /** `GET /api/auth/refresh`: `{ success: true, authenticated: true }` with a renewed `X-Token`. */
  refresh(passport: PassportLike): Handler {
    return this.withToken(passport, { success: false, authenticated: false }, (_req, res) => {
      sendJson(res, 200, { success: true, authenticated: true });
    });
  }

  /** `POST /api/auth/logout`: revokes the whole token family; `{ success: true }`, no new token. */
  logout(passport: PassportLike): Handler {
    return this.withToken(passport, { success: false }, (req, res, next) => {
      const { sid } = (req as IncomingMessage & { authInfo: XTokenInfo }).authInfo;
      this.tokens.revoke(sid).then(() => {
        res.removeHeader('X-Token');
        sendJson(res, 200, { success: true });
      }, next);
    });
  }

  /**
   * `POST /api/auth/logout-everywhere`: revokes every token family of the token's user (all
   * devices, this one included); `{ success: true, families }`, no new token. The same as
   * `revokeUser()` for a user who asks for it.
   */
  logoutEverywhere(passport: PassportLike): Handler {
    return this.withToken(passport, { success: false }, (req, res, next) => {
      const { sub } = (req as IncomingMessage & { authInfo: XTokenInfo }).authInfo;
      this.revokeUser(sub).then((families) => {
        res.removeHeader('X-Token');
        sendJson(res, 200, { success: true, families });
      }, next);
    });
  }

  /**
   * Revokes every token family of one user (password change, "log out everywhere"), on every
   * instance sharing the store; tokens issued afterwards work. `userId` is the token subject
   * (`getSubject(user)`). Emits `user_revoked` through `onEvent`; answers the number of families.
   */
  revokeUser(userId: string): Promise<number> {
    return this.tokens.revokeUser(userId);
  }

  /**
   * Guards a secured route: on a valid token sets `req.user`/`req.authInfo` and calls `next()`;
   * otherwise answers 401 `{ "error": "Not authorized." }` as the alt-seven client expects.
   */
  protect(passport: PassportLike): Handler {
    return this.withToken(passport, {}, (_req, _res, next) => next());
  }

  private async startSession(
    req: IncomingMessage,
    res: ServerResponse,
    user: User,
    next: NextFunction,
  ): Promise<void> {
    const issued = await this.tokens.issue(this.getSubject(user));
    logInForRequest(req, user, authInfo(issued), (err) => {
      if (err) return next(err);
      for (const [name, value] of Object.entries(tokenHeaders(issued.token))) res.setHeader(name, value);
      sendJson(res, 200, { user: this.publicUser(user), success: true });
    });
  }

  private withToken(
    passport: PassportLike,
    failureBody: Record<string, unknown>,
    onSuccess: (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void,
  ): Handler {
    return (req, res, next) => {
      const authenticate = passport.authenticate(this.name, { session: false }, (err, user, info, status) => {
        if (err) return next(err);
        if (!user) {
          return answerFailure(res, info, status, failureBody, NOT_AUTHORIZED);
        }
        logInForRequest(req, user, info, (loginErr) =>
          loginErr ? next(loginErr) : onSuccess(req, res, next),
        );
      });
      (authenticate as unknown as Handler)(req, res, next);
    };
  }
}

function answerFailure(
  res: ServerResponse,
  info: unknown,
  rawStatus: unknown,
  base: Record<string, unknown>,
  message?: string,
): void {
  const { challenge, status } = readFailure(info, rawStatus);
  const error = message ?? challenge?.message ?? NOT_AUTHORIZED;
  sendJson(res, status, { ...base, error, ...(challenge ? { code: challenge.code } : {}) });
}

/** X-Token, else `Authorization: Bearer`; the query string is never read (tokens leak from URLs). */
function readToken(req: Request): string | undefined {
  const header = req.headers['x-token'];
  let token: string | undefined;
  if (typeof header === 'string' && header.trim() !== '') {
    token = header.trim();
  } else {
    const match = /^Bearer[ ]+(\S+)$/i.exec(req.headers.authorization?.trim() ?? '');
    token = match?.[1];
  }
  if (token !== undefined && token.length > MAX_TOKEN_LENGTH) {
    throw new AuthenticationFailure(
      'invalid_token',
      'The X-Token is invalid, expired or revoked. Log in again.',
      401,
    );
  }
  return token;
}

function tokenHeaders(token: string): Record<string, string> {
  return {
    'X-Token': token,
    // Browsers hide custom headers from cross-origin scripts unless exposed.
    'Access-Control-Expose-Headers': 'X-Token',
    'Cache-Control': 'no-store',
  };
}

function authInfo(issued: IssuedXToken): XTokenInfo {
  return {
    method: 'x-token',
    token: issued.token,
    sid: issued.payload.sid,
    sub: issued.payload.sub,
    expiresAt: issued.payload.exp,
    absoluteExpiresAt: issued.absoluteExpiresAt,
  };
}

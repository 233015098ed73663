import type { ServerResponse } from 'node:http';
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
import { XTokenManager, type IssuedXToken, type XTokenOptions, type XTokenPayload } from '../core/x-token.js';
import { FactorStrategy, type Decision } from './base.js';

const OWNER = 'XTokenStrategy';
/** Longest token read; a real X-Token is a few hundred characters. */
const MAX_TOKEN_LENGTH = 4096;

export interface XTokenStrategyOptions extends XTokenOptions {
  /**
   * The name Passport registers the strategy under with `passport.use(xToken)`, and the name
   * `xTokenHandlers` authenticate with by default (default `'x-token'`).
   */
  name?: string;
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
  /** The token family (login) id; the `logout` handler revokes it. */
  sid: string;
  /** The user's id (the token's subject); the `logoutEverywhere` handler revokes all of its families. */
  sub: string;
  /** The renewed token's idle expiry, seconds since the epoch. */
  expiresAt: number;
  /** The family's absolute end, seconds since the epoch. */
  absoluteExpiresAt: number;
}

/**
 * `x-token`: the alt-seven token session. Reads `X-Token` (or `Authorization: Bearer`), never the
 * query string; on every success answers a renewed token in the `X-Token` header (sliding idle
 * expiry within a fixed absolute lifetime). The routes (login, refresh, logout, protect) are
 * `xTokenHandlers(xToken, { passport })`; revoking a user's tokens is `xToken.tokens.revokeUser(id)`.
 */
export class XTokenStrategy extends FactorStrategy {
  override name: string;
  /** The passport-free token manager: issue, verify, renew, revoke, revokeUser. */
  readonly tokens: XTokenManager;
  private readonly verify: (...args: never[]) => unknown;
  private readonly passReqToCallback: boolean;

  constructor(options: XTokenStrategyOptions & { passReqToCallback?: false }, verify: XTokenVerify);
  constructor(options: XTokenStrategyOptions & { passReqToCallback: true }, verify: XTokenVerifyWithRequest);
  constructor(options: XTokenStrategyOptions, verify: XTokenVerify | XTokenVerifyWithRequest) {
    super();
    requireFunction(verify, 'verify', OWNER);
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    for (const moved of ['getSubject', 'publicUser']) {
      // Options of the login route now; silently ignoring them would leak the whole user record.
      if ((options as Record<string, unknown>)[moved] !== undefined) {
        throw new ConfigurationError(
          `${OWNER}: \`${moved}\` is an option of xTokenHandlers(xToken, { passport, ${moved} }) now.`,
        );
      }
    }
    this.name = nameOption(options.name, 'x-token', OWNER);
    this.tokens = new XTokenManager(options);
    this.verify = verify as (...args: never[]) => unknown;
    this.passReqToCallback = options.passReqToCallback === true;
  }

  protected override async decide(req: Request): Promise<Decision> {
    const token = readToken(req);
    if (token === undefined) {
      throw new AuthenticationFailure('missing_credentials', 'An X-Token is required. Log in first.', 401);
    }
    // One store round trip checks the family and makes this token the predecessor of `renewed`
    // (reuse detection); the renewal is sent only if the user is found.
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
    const res = (req as { res?: ServerResponse }).res;
    // Express exposes the response on the request.
    if (res && typeof res.setHeader === 'function' && !res.headersSent) setTokenHeaders(res, renewed.token);
    return { action: 'success', user, info: successInfo(info, authInfo(renewed)) };
  }

  protected override failureHeaders(failure: AuthenticationFailure): Record<string, string> {
    if (failure.status !== 401) return {};
    const error = failure.code === 'invalid_token' ? ', error="invalid_token"' : '';
    return { 'WWW-Authenticate': `Bearer realm="x-token"${error}` };
  }
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

/** Sets the headers every answer that carries a token has. @internal */
export function setTokenHeaders(res: ServerResponse, token: string): void {
  res.setHeader('X-Token', token);
  // Browsers hide custom headers from cross-origin scripts unless exposed.
  res.setHeader('Access-Control-Expose-Headers', 'X-Token');
  res.setHeader('Cache-Control', 'no-store');
}

/** `req.authInfo` for a token just issued or renewed. @internal */
export function authInfo(issued: IssuedXToken): XTokenInfo {
  return {
    method: 'x-token',
    token: issued.token,
    sid: issued.payload.sid,
    sub: issued.payload.sub,
    expiresAt: issued.payload.exp,
    absoluteExpiresAt: issued.absoluteExpiresAt,
  };
}

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import { ConfigurationError } from '../errors.js';
import { digest as digestOf } from '../internal/binding.js';
import { functionOption, positiveIntegerOption, stringOption } from '../internal/options.js';
import { userIdOf, type User } from '../internal/verify.js';
import { addMember, faultsAsStoreErrors, takeMembers } from '../stores/operations.js';
import { assertStore, type Store } from '../stores/store.js';

const OWNER = 'RememberedBrowsers';
const RECORD_PREFIX = 'remembered:';
const USER_PREFIX = 'remembered-user:';
/** 128 random bits, base64url: what the cookie carries. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{22}$/;

export interface RememberedBrowsersOptions {
  /** Where the remembered browsers live, under a digest of each cookie (a `RedisStore` for several instances). Required. */
  store: Store;
  /** Days a browser stays remembered after the second factor that remembered it (default 30). */
  maxAgeDays?: number;
  /** The cookie's name (default `'pf_remembered'`). */
  cookieName?: string;
  /**
   * The cookie's `Secure` attribute (default `'auto'`: set when the request came over HTTPS, as
   * Express's `req.secure` says, so put `app.set('trust proxy', …)` behind a TLS proxy).
   */
  secure?: boolean | 'auto';
  /** The user's stable id (default `user.id`). */
  getUserId?: (user: unknown) => string;
}

/**
 * "Remember this browser": after a completed second factor, the browser gets an HttpOnly cookie
 * of 128 random bits that stands in for the second factor of the SAME user for `maxAgeDays`. The
 * store keeps only a digest of the cookie, with the user it was given to; each user's remembered
 * browsers can be revoked at once (`revokeUser`, e.g. from "log out everywhere"), or this one
 * (`forget`). Passport-free; `PartialLogin`'s `rememberBrowser` option uses it.
 */
export class RememberedBrowsers {
  readonly store: Store;
  readonly maxAgeMs: number;
  readonly cookieName: string;
  private readonly secure: boolean | 'auto';
  private readonly getUserId: (user: unknown) => string;

  constructor(options: RememberedBrowsersOptions) {
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    assertStore(options.store, OWNER);
    this.store = options.store;
    this.maxAgeMs = positiveIntegerOption(options.maxAgeDays, 30, 'maxAgeDays', OWNER) * 86_400_000;
    this.cookieName = stringOption(options.cookieName, 'pf_remembered', 'cookieName', OWNER);
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(this.cookieName))
      throw new ConfigurationError(`${OWNER}: \`cookieName\` must be a cookie name token (RFC 6265).`);
    const secure = options.secure ?? 'auto';
    if (secure !== 'auto' && typeof secure !== 'boolean')
      throw new ConfigurationError(`${OWNER}: \`secure\` must be true, false or 'auto'.`);
    this.secure = secure;
    this.getUserId = functionOption(
      options.getUserId,
      (user: unknown) => userIdOf(user as User, OWNER),
      'getUserId',
      OWNER,
    );
  }

  /** Remembers this browser for `user`: a new cookie, replacing any earlier one of this browser. */
  async remember(req: IncomingMessage, res: ServerResponse, user: unknown): Promise<void> {
    const userId = this.userIdOf(user);
    // The browser's earlier cookie, if any, is replaced below; its record goes now.
    await this.deleteRecord(req);
    const token = randomBytes(16).toString('base64url');
    const digest = digestOf(token);
    await faultsAsStoreErrors(this.store.set(RECORD_PREFIX + digest, userId, this.maxAgeMs));
    await addMember(this.store, USER_PREFIX + digestOf(userId), digest, this.maxAgeMs);
    appendCookie(
      res,
      serializeCookie(this.cookieName, token, {
        httpOnly: true,
        sameSite: 'lax',
        path: '/',
        secure: this.secure === 'auto' ? isHttps(req) : this.secure,
        maxAge: Math.floor(this.maxAgeMs / 1000),
      }),
    );
  }

  /** Whether this browser's cookie was given to `user` (a cookie of another user counts for nothing). */
  async isRemembered(req: IncomingMessage, user: unknown): Promise<boolean> {
    const token = this.tokenOf(req);
    if (token === undefined) return false;
    const owner = await faultsAsStoreErrors(this.store.get(RECORD_PREFIX + digestOf(token)));
    return owner !== undefined && owner === this.userIdOf(user);
  }

  /** Forgets this browser (its record and its cookie). */
  async forget(req: IncomingMessage, res: ServerResponse): Promise<void> {
    await this.deleteRecord(req);
    if (cookieHeader(req).includes(`${this.cookieName}=`))
      appendCookie(
        res,
        serializeCookie(this.cookieName, '', { httpOnly: true, sameSite: 'lax', path: '/', maxAge: 0 }),
      );
  }

  /** Forgets every browser remembered for this user id; answers how many were live. */
  async revokeUser(userId: string): Promise<number> {
    if (typeof userId !== 'string' || userId === '')
      throw new TypeError(`${OWNER}.revokeUser: the user id must be a non-empty string.`);
    const digests = await takeMembers(this.store, USER_PREFIX + digestOf(userId));
    const ended = await Promise.all(
      digests.map((digest) => faultsAsStoreErrors(this.store.take(RECORD_PREFIX + digest))),
    );
    return ended.filter((owner) => owner === userId).length;
  }

  private async deleteRecord(req: IncomingMessage): Promise<void> {
    const token = this.tokenOf(req);
    if (token !== undefined) await faultsAsStoreErrors(this.store.delete(RECORD_PREFIX + digestOf(token)));
  }

  private tokenOf(req: IncomingMessage): string | undefined {
    const token = parseCookies(cookieHeader(req))[this.cookieName];
    return token !== undefined && TOKEN_PATTERN.test(token) ? token : undefined;
  }

  private userIdOf(user: unknown): string {
    const id = this.getUserId(user);
    if (typeof id !== 'string' || id === '')
      throw new TypeError(`${OWNER}: getUserId(user) must answer a non-empty string.`);
    return id;
  }
}

function cookieHeader(req: IncomingMessage): string {
  const header = req.headers.cookie;
  return typeof header === 'string' ? header : '';
}

function isHttps(req: IncomingMessage): boolean {
  const secure = (req as { secure?: unknown }).secure;
  if (typeof secure === 'boolean') return secure;
  return Boolean((req.socket as { encrypted?: boolean } | undefined)?.encrypted);
}

/** Adds a Set-Cookie header without dropping those already set (the session's, for one). */
function appendCookie(res: ServerResponse, cookie: string): void {
  if (res.headersSent) return;
  const current = res.getHeader('Set-Cookie');
  const list = current === undefined ? [] : Array.isArray(current) ? current : [String(current)];
  res.setHeader('Set-Cookie', [...list, cookie]);
}

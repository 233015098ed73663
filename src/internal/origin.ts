import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';

/** Options of every route handler that acts on a browser session's POST. */
export interface OriginCheckOptions {
  /**
   * Origins (`scheme://host[:port]`) whose pages may POST to the strategy's route handlers (default:
   * the request's own origin, from its `Host` header and the protocol Express reports, which
   * honours `trust proxy`). List the public origin here when a proxy rewrites `Host`.
   */
  allowedOrigins?: string[];
}

/** Refuses a request; throwing it from a `jsonRoute` answers 403 `{ error, code: 'cross_origin' }`. */
export type OriginCheck = (req: IncomingMessage) => void;

/**
 * Builds the cross-site request check (CSRF) for route handlers that change state
 * on a POST from a browser session. `owner` names the strategy in option errors. The check:
 *
 * 1. `Sec-Fetch-Site: same-origin` or `none` (typed in the address bar): accepted.
 * 2. Otherwise an `Origin` header must be one of `allowedOrigins` (default: the request's own).
 * 3. Neither header (not a browser, or a very old one): accepted only with
 *    `Content-Type: application/json`, which a page on another site cannot send without a CORS
 *    preflight that the app does not answer.
 *
 * A refused request throws `AuthenticationFailure('cross_origin', …, 403)` before anything is
 * sent or stored. Session cookies with `sameSite: 'lax'` are the other half of the defence.
 */
export function originCheck(allowedOrigins: unknown, owner: string): OriginCheck {
  const allowed = allowedOriginsOption(allowedOrigins, owner);
  return (req) => {
    const fetchSite = header(req, 'sec-fetch-site');
    if (fetchSite === 'same-origin' || fetchSite === 'none') return;
    const origin = header(req, 'origin');
    if (origin !== undefined) {
      const permitted = allowed ?? [ownOrigin(req)];
      if (permitted.includes(normalizeOrigin(origin) ?? '')) return;
      throw crossOrigin();
    }
    const mediaType = header(req, 'content-type')?.split(';')[0]?.trim().toLowerCase();
    if (fetchSite === undefined && mediaType === 'application/json') return;
    throw crossOrigin();
  };
}

function crossOrigin(): AuthenticationFailure {
  return new AuthenticationFailure(
    'cross_origin',
    'This request came from another site and was refused. Use the page on this site.',
    403,
  );
}

function allowedOriginsOption(value: unknown, owner: string): string[] | undefined {
  if (value === undefined) return undefined;
  const invalid = () =>
    new ConfigurationError(
      `${owner}: \`allowedOrigins\` must be a non-empty array of origins such as "https://app.example.com" (scheme, host and port only).`,
    );
  return originList(value, invalid);
}

/**
 * A non-empty list of bare origins (`http(s)://host[:port]`, no path, query or credentials) in
 * their canonical form; anything else throws `invalid()`.
 */
export function originList(value: unknown, invalid: () => Error): string[] {
  if (!Array.isArray(value) || value.length === 0) throw invalid();
  return value.map((entry: unknown) => {
    if (typeof entry !== 'string') throw invalid();
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw invalid();
    }
    const bare = url.pathname === '/' && url.search === '' && url.hash === '' && url.username === '';
    if (!bare || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw invalid();
    return url.origin;
  });
}

/** `scheme://host[:port]` in its canonical form, or undefined for `null` and anything else. */
function normalizeOrigin(value: string): string | undefined {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}

/** The origin the request was addressed to: Express's `req.protocol` (trust proxy aware) and `Host`. */
function ownOrigin(req: IncomingMessage): string {
  const expressProtocol = (req as { protocol?: unknown }).protocol;
  const protocol =
    typeof expressProtocol === 'string'
      ? expressProtocol
      : (req.socket as TLSSocket | undefined)?.encrypted
        ? 'https'
        : 'http';
  const host = header(req, 'host');
  return (host && normalizeOrigin(`${protocol}://${host}`)) || 'no-host';
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

import { createHmac } from 'node:crypto';
import { decodeJwt } from 'jose';

/** The claims an X-Token carries, as a test reads them (no check: the manager does that). */
export interface XTokenClaims {
  sub: string;
  sid: string;
  auth_time: number;
  iat: number;
  exp: number;
  jti: string;
}

/**
 * Reads an X-Token's claims without checking it: the compact `xt1.<kid>.<claims>.<mac>` format
 * of HMAC keys, or a JWT of an asymmetric key.
 */
export function decodeXToken(token: string): XTokenClaims {
  if (!token.startsWith('xt1.')) return decodeJwt(token) as unknown as XTokenClaims;
  const [, , body] = token.split('.');
  const [sub, sid, auth_time, iat, exp, jti] = JSON.parse(Buffer.from(body!, 'base64url').toString('utf8'));
  return { sub, sid, auth_time, iat, exp, jti };
}

/** The `<kid>` segment of a compact X-Token, decoded (undefined for the `secret` shorthand). */
export function xTokenKid(token: string): string | undefined {
  const kid = token.split('.')[1]!;
  return kid === '' ? undefined : Buffer.from(kid, 'base64url').toString('utf8');
}

export interface MintOptions {
  secret: Uint8Array | string;
  /** `sha256` (HS256, default), `sha384`, `sha512`. */
  hash?: string;
  kid?: string;
  issuer?: string;
  audience?: string;
  /** Replaces the whole `xt1` prefix (for a wrong version). */
  prefix?: string;
}

/**
 * Mints a compact X-Token as an attacker or an older instance would, with any claims and key:
 * the same construction as the library's (MAC over the context and the text before the MAC).
 */
export function mintXToken(claims: unknown[], options: MintOptions): string {
  const kid = options.kid === undefined ? '' : Buffer.from(options.kid).toString('base64url');
  const body = Buffer.from(JSON.stringify(claims)).toString('base64url');
  const signed = `${options.prefix ?? 'xt1'}.${kid}.${body}`;
  const context = JSON.stringify([
    'xtoken/v1',
    options.issuer ?? 'passport-factors',
    options.audience ?? null,
  ]);
  const mac = createHmac(options.hash ?? 'sha256', options.secret)
    .update(context)
    .update(signed)
    .digest('base64url');
  return `${signed}.${mac}`;
}

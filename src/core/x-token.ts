import {
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
  type webcrypto,
} from 'node:crypto';
import {
  SignJWT,
  errors as joseErrors,
  jwtVerify,
  type JWK,
  type JWTHeaderParameters,
  type JWTPayload,
} from 'jose';
import { AuthenticationFailure, ConfigurationError } from '../errors.js';
import { CryptoKeyCache } from '../internal/crypto-keys.js';
import { auditHook, positiveIntegerOption, stringOption } from '../internal/options.js';
import { randomBase64url } from '../internal/random.js';
import { MemoryStore } from '../stores/memory.js';
import { addMember, roll, setRolling, takeMembers } from '../stores/operations.js';
import { assertStore, isMember, type Store } from '../stores/store.js';

const OWNER = 'XToken';

export type XTokenHmacAlg = 'HS256' | 'HS384' | 'HS512';
export type XTokenAsymmetricAlg = 'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'RS256' | 'PS256';

/** Key material accepted for an asymmetric key: a KeyObject, a PEM string or a JWK. */
export type KeyInput = KeyObject | string | JWK;

/** One signing/verification key; `kid` lets tokens name it so keys can be rotated. */
export type XTokenKey =
  | { kid: string; alg: XTokenHmacAlg; secret: string | Uint8Array | KeyObject }
  | { kid: string; alg: XTokenAsymmetricAlg; publicKey: KeyInput; privateKey?: KeyInput };

export interface XTokenOptions {
  /**
   * An HMAC-SHA-256 secret of at least 32 bytes (a string counts its UTF-8 bytes): tokens are the
   * compact MAC'd format. Shorthand for one `HS256` key without `kid`. Give either `secret` or
   * `keys` (one of them is required).
   */
  secret?: string | Uint8Array | KeyObject;
  /**
   * Keys for rotation: the FIRST signs new tokens and must hold a secret or private key; all
   * verify the tokens that name their `kid`. `HS*` keys make compact MAC'd tokens, asymmetric
   * keys JWTs. Remove a key to reject every token it signed. Required unless `secret` is given.
   */
  keys?: XTokenKey[];
  /** Seconds a token stays valid without use (default 1800 = 30 min); each renewal restarts it. */
  idleTtlSec?: number;
  /** Seconds from login after which the token family ends, however active (default 43200 = 12 h). */
  absoluteTtlSec?: number;
  /** Where live token families are kept; logout deletes them (default: a new `MemoryStore`). */
  store?: Store;
  /** The `iss` claim written and required (default `'passport-factors'`). */
  issuer?: string;
  /** An `aud` claim to write and require (default: none). */
  audience?: string;
  /** Clock skew allowed between app instances, in seconds (default 5). */
  clockToleranceSec?: number;
  /**
   * Seconds a token stays usable after a renewal replaced it (default 5; 0 allowed). Every
   * renewal makes the presented token a predecessor; a client's requests that were already in
   * flight with it (parallel calls of one page, a retry of a lost answer) arrive within a few
   * seconds, so they are answered with the family's current token. A predecessor used after its
   * grace is a stolen copy or a replay: the WHOLE family is revoked (the holder's current token
   * too) and `onEvent` gets `reuse_detected` (RFC 9700 §4.14.2).
   */
  reuseGraceSec?: number;
  /** Audit hook (default none): `reuse_detected`, `user_revoked`. Never given a token. Errors it throws are ignored. */
  onEvent?: (event: XTokenEvent) => void;
}

/** Audit events of X-Token families; never a token. */
export type XTokenEvent =
  | { type: 'reuse_detected'; userId: string; familyId: string }
  | { type: 'user_revoked'; userId: string; families: number };

/** The claims of a valid X-Token. */
export interface XTokenPayload extends JWTPayload {
  /** The user's id, as given to `issue()`. */
  sub: string;
  /** The token family (one login); renewals keep it, logout revokes it. */
  sid: string;
  iat: number;
  /** Idle expiry: at most `idleTtlSec` after `iat`, never after the family's absolute expiry. */
  exp: number;
  /** When the family began (the login), seconds since the epoch. */
  auth_time: number;
  /** This token's id; the family's record names the current one. */
  jti: string;
}

/** What `verifyAndRenew()` answers. */
export interface RenewedXToken {
  /** The presented token's claims. */
  payload: XTokenPayload;
  /** The token to hand back: the family's new current token. */
  renewed: IssuedXToken;
}

export interface IssuedXToken {
  token: string;
  payload: XTokenPayload;
  /** The family's absolute end, seconds since the epoch. */
  absoluteExpiresAt: number;
}

interface ResolvedKey {
  kid: string | undefined;
  alg: XTokenHmacAlg | XTokenAsymmetricAlg;
  verifyKey: KeyObject;
  signKey: KeyObject | undefined;
  /** HMAC keys: the `node:crypto` digest of their MAC (`sha256` for HS256 ...). */
  hash?: 'sha256' | 'sha384' | 'sha512';
}

// Explicit typing (RFC 8725 §3.11) so a JWT minted for another purpose with the same key is refused.
const TOKEN_TYPE = 'xtoken+jwt';
/**
 * Tokens of HMAC keys: `xt1.<kid>.<claims>.<mac>`, where `<kid>` is the key's id in base64url
 * (empty for `secret`), `<claims>` the base64url JSON array `[sub, sid, auth_time, iat, exp, jti]`
 * and `<mac>` the base64url HMAC of the key's hash over the context (format, issuer, audience)
 * and everything before the last dot. The key, never the token, says which hash.
 */
const MAC_PREFIX = 'xt1.';
const MAC_FORMAT = 'xtoken/v1';
const FAMILY_PREFIX = 'x-token:family:';
// The families of one user, for revokeUser(): an expiring set of family ids.
const USER_PREFIX = 'x-token:user:';
const HMAC_MIN_BYTES: Record<XTokenHmacAlg, number> = { HS256: 32, HS384: 48, HS512: 64 };
const HMAC_HASH = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' } as const;
const ASYMMETRIC_KEY_TYPES: Record<XTokenAsymmetricAlg, readonly string[]> = {
  ES256: ['ec'],
  ES384: ['ec'],
  ES512: ['ec'],
  EdDSA: ['ed25519', 'ed448'],
  RS256: ['rsa'],
  PS256: ['rsa', 'rsa-pss'],
};

const INVALID = (): AuthenticationFailure =>
  new AuthenticationFailure(
    'invalid_token',
    'The X-Token is invalid, expired or revoked. Log in again.',
    401,
  );

/**
 * Issues, checks, renews and revokes X-Tokens, grouped in families that live in a store. A token
 * of an HMAC key (`secret`, or an `HS*` entry of `keys`) is a compact string MAC'd synchronously
 * with `node:crypto`: `xt1.<kid>.<claims>.<mac>`, opaque to clients. A token of an asymmetric key
 * is a JWT signed with `jose`, which other services can check with the public key.
 * Passport-free; `XTokenStrategy` is its adapter.
 */
export class XTokenManager {
  readonly idleTtlSec: number;
  readonly absoluteTtlSec: number;
  readonly store: Store;
  readonly #keys: readonly ResolvedKey[];
  readonly #cryptoKeys = new CryptoKeyCache();
  readonly #signingKey: ResolvedKey;
  /** The asymmetric keys' algorithms: the only ones a JWT X-Token may name. */
  readonly #jwtAlgorithms: string[];
  /** HMAC keys by the `<kid>` segment of their compact tokens. */
  readonly #macKeys: ReadonlyMap<string, ResolvedKey & { hash: string }>;
  /** What every MAC covers before the token's text: the format, issuer and audience. */
  readonly #macContext: string;
  readonly #issuer: string;
  readonly #audience: string | undefined;
  readonly #clockToleranceSec: number;
  readonly #graceMs: number;
  readonly #emit: (event: XTokenEvent) => void;

  constructor(options: XTokenOptions) {
    if (options === null || typeof options !== 'object') {
      throw new ConfigurationError(`${OWNER}: options are required ({ secret } or { keys }).`);
    }
    this.#keys = resolveKeys(options);
    this.#signingKey = this.#keys[0]!;
    if (!this.#signingKey.signKey) {
      throw new ConfigurationError(
        `${OWNER}: the first key in \`keys\` signs new tokens and needs a \`privateKey\`.`,
      );
    }
    this.#jwtAlgorithms = [...new Set(this.#keys.filter((key) => !key.hash).map((key) => key.alg))];
    this.#macKeys = new Map(
      this.#keys.flatMap((key) =>
        key.hash ? [[macKid(key.kid), key as ResolvedKey & { hash: string }]] : [],
      ),
    );
    this.idleTtlSec = positiveIntegerOption(options.idleTtlSec, 1800, 'idleTtlSec', OWNER);
    this.absoluteTtlSec = positiveIntegerOption(options.absoluteTtlSec, 43_200, 'absoluteTtlSec', OWNER);
    if (this.idleTtlSec > this.absoluteTtlSec) {
      throw new ConfigurationError(`${OWNER}: \`idleTtlSec\` cannot exceed \`absoluteTtlSec\`.`);
    }
    this.#issuer = stringOption(options.issuer, 'passport-factors', 'issuer', OWNER);
    this.#audience =
      options.audience === undefined ? undefined : stringOption(options.audience, '', 'audience', OWNER);
    // JSON: unambiguous however issuer and audience are spelled, and it ends before the token does.
    this.#macContext = JSON.stringify([MAC_FORMAT, this.#issuer, this.#audience ?? null]);
    this.#clockToleranceSec =
      options.clockToleranceSec === undefined
        ? 5
        : nonNegative(options.clockToleranceSec, 'clockToleranceSec');
    this.#graceMs = Math.round(
      (options.reuseGraceSec === undefined ? 5 : nonNegative(options.reuseGraceSec, 'reuseGraceSec')) * 1000,
    );
    this.#emit = auditHook<XTokenEvent>(options.onEvent, OWNER);
    if (options.store !== undefined) assertStore(options.store, OWNER);
    this.store = options.store ?? new MemoryStore();
  }

  /** Starts a NEW token family for `subject` (every login does, so no token survives a re-login). */
  async issue(subject: string): Promise<IssuedXToken> {
    if (typeof subject !== 'string' || subject === '') {
      throw new TypeError('XTokenManager.issue: the subject (user id) must be a non-empty string.');
    }
    const now = nowSec();
    const sid = randomBytes(16).toString('base64url');
    const jti = newJti();
    const ttlMs = this.absoluteTtlSec * 1000;
    // Parallel: one round trip of latency. The family's record names its current token (jti).
    const [issued] = await Promise.all([
      this.#sign({ sub: subject, sid, auth_time: now }, now, jti),
      setRolling(this.store, FAMILY_PREFIX + sid, subject, jti, ttlMs),
      addMember(this.store, USER_PREFIX + subject, sid, ttlMs),
    ]);
    return issued;
  }

  /**
   * Checks signature (algorithms pinned to the configured keys), type, issuer, audience, idle and
   * absolute expiry, and that the token is its family's current one, or a predecessor within
   * `reuseGraceSec`, in one store round trip. Does not rotate. A predecessor after its grace
   * revokes the family (`reuse_detected`). Throws `invalid_token` (401).
   */
  async verify(token: string): Promise<XTokenPayload> {
    const payload = await this.#verifySignedToken(token);
    await this.#roll(payload, undefined);
    return payload;
  }

  /**
   * `verify()` and `renew()` in ONE store round trip: checks the token and makes it the
   * predecessor of a new current token of its family (atomically, on every instance sharing the
   * store). A predecessor within `reuseGraceSec` is answered with the family's current token; one
   * after it revokes the family (`reuse_detected`). Throws `invalid_token` (401).
   */
  async verifyAndRenew(token: string): Promise<RenewedXToken> {
    if (this.#signingKey.hash && typeof token === 'string' && token.startsWith(MAC_PREFIX)) {
      // The hot path: check and sign are synchronous HMACs (microseconds, no thread-pool hop);
      // the store round trip is the only wait.
      const payload = this.#verifyMacToken(token);
      const jti = newJti();
      const current = await this.#roll(payload, jti);
      return { payload, renewed: this.#signMac(familyClaims(payload), nowSec(), current) };
    }
    const payload = await this.#verifySignedToken(token);
    const now = nowSec();
    const jti = newJti();
    // The successor is signed while the store decides: no round trip waits on the signature.
    const signing = this.#sign(familyClaims(payload), now, jti);
    signing.catch(() => undefined);
    const current = await this.#roll(payload, jti);
    const renewed = current === jti ? await signing : await this.#sign(familyClaims(payload), now, current);
    return { payload, renewed };
  }

  /**
   * A fresh token in the same family, signed with the current key: new idle expiry, same absolute
   * end. The payload's token (its `jti`) becomes a predecessor, as in `verifyAndRenew()`.
   */
  async renew(payload: XTokenPayload): Promise<IssuedXToken> {
    const jti = newJti();
    const current = await this.#roll(payload, jti);
    return this.#sign(familyClaims(payload), nowSec(), current);
  }

  /** Ends a token family: every token of it, past or future, is refused from now on. */
  async revoke(sid: string): Promise<void> {
    if (typeof sid !== 'string' || sid === '')
      throw new TypeError('XTokenManager.revoke: `sid` must be a string.');
    await this.store.delete(FAMILY_PREFIX + sid);
  }

  /**
   * Revokes every token family of one user in one call (password change, "log out everywhere"),
   * on every instance sharing the store; a token issued after the call works. Emits
   * `user_revoked`; answers how many live families were ended. A login running at the very same
   * moment may keep its new family.
   */
  async revokeUser(subject: string): Promise<number> {
    if (typeof subject !== 'string' || subject === '') {
      throw new TypeError('XTokenManager.revokeUser: the subject (user id) must be a non-empty string.');
    }
    const sids = await takeMembers(this.store, USER_PREFIX + subject);
    // take() rather than delete(): it tells which families were still live (logout ends some early).
    const ended = await Promise.all(sids.map((sid) => this.store.take(FAMILY_PREFIX + sid)));
    const families = ended.filter((value) => value !== undefined).length;
    this.#emit({ type: 'user_revoked', userId: subject, families });
    return families;
  }

  /**
   * Signature, type, issuer, audience, idle and absolute expiry: everything but the store. A
   * compact token goes to the MAC check; anything else is a JWT, accepted only from an
   * asymmetric key.
   */
  async #verifySignedToken(token: string): Promise<XTokenPayload> {
    if (typeof token !== 'string') throw INVALID();
    if (token.startsWith(MAC_PREFIX) || this.#jwtAlgorithms.length === 0) return this.#verifyMacToken(token);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header) => this.#verificationKey(header), {
        algorithms: this.#jwtAlgorithms,
        typ: TOKEN_TYPE,
        issuer: this.#issuer,
        ...(this.#audience !== undefined ? { audience: this.#audience } : {}),
        requiredClaims: ['sub', 'sid', 'jti', 'iat', 'exp', 'auth_time'],
        clockTolerance: this.#clockToleranceSec,
      }));
    } catch (err) {
      if (err instanceof joseErrors.JOSEError) throw INVALID();
      throw err;
    }
    if (!isXTokenPayload(payload)) throw INVALID();
    this.#checkTimes(payload, nowSec());
    return payload;
  }

  /**
   * A compact token of an HMAC key: the MAC over the exact text (so no byte of it can change),
   * compared in constant time, then the claims and their times. Synchronous. Everything but the
   * store; any fault is `invalid_token`.
   */
  #verifyMacToken(token: string): XTokenPayload {
    // Not a token of this format and version (a JWT reaches here only when no asymmetric key verifies).
    if (typeof token !== 'string' || !token.startsWith(MAC_PREFIX)) throw INVALID();
    const kidEnd = token.indexOf('.', MAC_PREFIX.length);
    const macStart = token.lastIndexOf('.') + 1;
    if (kidEnd < 0 || macStart <= kidEnd + 1) throw INVALID();
    const key = this.#macKeys.get(token.slice(MAC_PREFIX.length, kidEnd));
    if (!key) throw INVALID();
    const signed = token.slice(0, macStart - 1);
    const expected = Buffer.from(
      createHmac(key.hash, key.verifyKey).update(this.#macContext).update(signed).digest('base64url'),
    );
    const presented = Buffer.from(token.slice(macStart));
    if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw INVALID();
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(token.slice(kidEnd + 1, macStart - 1), 'base64url').toString('utf8'));
    } catch {
      throw INVALID();
    }
    if (!Array.isArray(claims) || claims.length !== 6) throw INVALID();
    const [sub, sid, authTime, iat, exp, jti] = claims as unknown[];
    const payload = { sub, sid, auth_time: authTime, iss: this.#issuer, iat, exp, jti } as XTokenPayload;
    if (this.#audience !== undefined) payload.aud = this.#audience;
    if (!isXTokenPayload(payload)) throw INVALID();
    const now = nowSec();
    if (payload.exp <= now - this.#clockToleranceSec) throw INVALID();
    this.#checkTimes(payload, now);
    return payload;
  }

  /** The family's absolute end, and a login time and issue time that are not in the future. */
  #checkTimes(payload: XTokenPayload, now: number): void {
    if (now - this.#clockToleranceSec >= payload.auth_time + this.absoluteTtlSec) throw INVALID();
    if (payload.auth_time > payload.iat || payload.iat > now + this.#clockToleranceSec) throw INVALID();
  }

  /**
   * One atomic store call: is the token its family's current one (then `next`, if given,
   * replaces it), a predecessor within the grace, or a reuse (the store has deleted the family)?
   * Answers the family's current jti.
   */
  async #roll(payload: XTokenPayload, next: string | undefined): Promise<string> {
    // A jti the store would refuse as a member is a forged token, not a store fault.
    if (!isMember(payload.jti)) throw INVALID();
    const result = await roll(this.store, FAMILY_PREFIX + payload.sid, payload.jti, next, this.#graceMs);
    if (result.data !== payload.sub) throw INVALID();
    if (result.status === 'reused') {
      this.#emit({ type: 'reuse_detected', userId: payload.sub, familyId: payload.sid });
      throw INVALID();
    }
    if (result.status === 'absent' || result.current === undefined) throw INVALID();
    return result.current;
  }

  async #sign(
    claims: { sub: string; sid: string; auth_time: number },
    now: number,
    jti: string,
  ): Promise<IssuedXToken> {
    if (this.#signingKey.hash) return this.#signMac(claims, now, jti);
    const absoluteExpiresAt = claims.auth_time + this.absoluteTtlSec;
    const exp = Math.min(now + this.idleTtlSec, absoluteExpiresAt);
    const key = this.#signingKey;
    const header: JWTHeaderParameters = { alg: key.alg, typ: TOKEN_TYPE };
    if (key.kid !== undefined) header.kid = key.kid;
    const jwt = new SignJWT({ sid: claims.sid, auth_time: claims.auth_time })
      .setProtectedHeader(header)
      .setJti(jti)
      .setSubject(claims.sub)
      .setIssuer(this.#issuer)
      .setIssuedAt(now)
      .setExpirationTime(exp);
    if (this.#audience !== undefined) jwt.setAudience(this.#audience);
    const token = await jwt.sign(await this.#cryptoKeys.forAlgorithm(key.signKey!, key.alg));
    const payload = tokenPayload(claims, this.#issuer, now, exp, jti);
    if (this.#audience !== undefined) payload.aud = this.#audience;
    return { token, payload, absoluteExpiresAt };
  }

  /** A compact token of the signing key (an HMAC key); synchronous. */
  #signMac(claims: { sub: string; sid: string; auth_time: number }, now: number, jti: string): IssuedXToken {
    const key = this.#signingKey as ResolvedKey & { hash: string };
    const absoluteExpiresAt = claims.auth_time + this.absoluteTtlSec;
    const exp = Math.min(now + this.idleTtlSec, absoluteExpiresAt);
    const body = Buffer.from(
      JSON.stringify([claims.sub, claims.sid, claims.auth_time, now, exp, jti]),
      'utf8',
    ).toString('base64url');
    const signed = `${MAC_PREFIX}${macKid(key.kid)}.${body}`;
    const mac = createHmac(key.hash, key.signKey!)
      .update(this.#macContext)
      .update(signed)
      .digest('base64url');
    const payload = tokenPayload(claims, this.#issuer, now, exp, jti);
    if (this.#audience !== undefined) payload.aud = this.#audience;
    return { token: `${signed}.${mac}`, payload, absoluteExpiresAt };
  }

  #verificationKey(header: JWTHeaderParameters): Promise<webcrypto.CryptoKey> {
    // A key answers only for its own algorithm, so a token cannot pair one key with another alg;
    // HMAC keys never verify a JWT (their tokens are the compact format).
    const key = this.#keys.find(
      (candidate) => !candidate.hash && candidate.kid === header.kid && candidate.alg === header.alg,
    );
    if (!key) throw new joseErrors.JWKSNoMatchingKey();
    return this.#cryptoKeys.forAlgorithm(key.verifyKey, key.alg);
  }
}

function resolveKeys(options: XTokenOptions): ResolvedKey[] {
  if (options.secret !== undefined && options.keys !== undefined) {
    throw new ConfigurationError(`${OWNER}: give either \`secret\` or \`keys\`, not both.`);
  }
  if (options.secret !== undefined) {
    return [hmacKey({ kid: undefined, alg: 'HS256', secret: options.secret }, 'secret')];
  }
  if (!Array.isArray(options.keys) || options.keys.length === 0) {
    throw new ConfigurationError(
      `${OWNER}: a \`secret\` (≥ 32 bytes) or a non-empty \`keys\` array is required.`,
    );
  }
  const seen = new Set<string>();
  return options.keys.map((key, index) => {
    const where = `keys[${index}]`;
    if (key === null || typeof key !== 'object' || typeof key.kid !== 'string' || key.kid === '') {
      throw new ConfigurationError(`${OWNER}: ${where} needs a non-empty string \`kid\`.`);
    }
    if (seen.has(key.kid)) throw new ConfigurationError(`${OWNER}: ${where} repeats kid "${key.kid}".`);
    seen.add(key.kid);
    if (key.alg in HMAC_MIN_BYTES) return hmacKey(key as Extract<XTokenKey, { secret: unknown }>, where);
    if (key.alg in ASYMMETRIC_KEY_TYPES)
      return asymmetricKey(key as Extract<XTokenKey, { publicKey: unknown }>, where);
    throw new ConfigurationError(
      `${OWNER}: ${where}.alg must be one of ${[...Object.keys(HMAC_MIN_BYTES), ...Object.keys(ASYMMETRIC_KEY_TYPES)].join(', ')}.`,
    );
  });
}

function hmacKey(
  key: { kid: string | undefined; alg: XTokenHmacAlg; secret: string | Uint8Array | KeyObject },
  where: string,
): ResolvedKey {
  let secret: KeyObject;
  try {
    secret =
      typeof key.secret === 'object' && 'type' in key.secret && !(key.secret instanceof Uint8Array)
        ? key.secret
        : createSecretKey(typeof key.secret === 'string' ? Buffer.from(key.secret, 'utf8') : key.secret);
  } catch {
    throw new ConfigurationError(`${OWNER}: ${where} must be a string, a Uint8Array or a secret KeyObject.`);
  }
  const minimum = HMAC_MIN_BYTES[key.alg];
  if (secret.type !== 'secret' || (secret.symmetricKeySize ?? 0) < minimum) {
    throw new ConfigurationError(
      `${OWNER}: ${where} must be a secret of at least ${minimum} bytes for ${key.alg}; generate one with crypto.randomBytes(${minimum}).`,
    );
  }
  return { kid: key.kid, alg: key.alg, verifyKey: secret, signKey: secret, hash: HMAC_HASH[key.alg] };
}

function asymmetricKey(
  key: { kid: string; alg: XTokenAsymmetricAlg; publicKey: KeyInput; privateKey?: KeyInput },
  where: string,
): ResolvedKey {
  const toKey = (input: KeyInput, kind: 'public' | 'private'): KeyObject => {
    try {
      if (typeof input === 'object' && 'asymmetricKeyType' in input && 'type' in input) {
        return kind === 'public' && input.type === 'private' ? createPublicKey(input) : (input as KeyObject);
      }
      const source =
        typeof input === 'string'
          ? input
          : { key: input as JWK & Record<string, unknown>, format: 'jwk' as const };
      return kind === 'public' ? createPublicKey(source) : createPrivateKey(source);
    } catch {
      throw new ConfigurationError(
        `${OWNER}: ${where}.${kind}Key is not a valid ${kind} key (KeyObject, PEM or JWK).`,
      );
    }
  };
  const verifyKey = toKey(key.publicKey, 'public');
  const signKey = key.privateKey === undefined ? undefined : toKey(key.privateKey, 'private');
  for (const candidate of [verifyKey, signKey]) {
    if (candidate && !ASYMMETRIC_KEY_TYPES[key.alg].includes(candidate.asymmetricKeyType ?? '')) {
      throw new ConfigurationError(
        `${OWNER}: ${where} is a ${candidate.asymmetricKeyType} key, which cannot be used with ${key.alg}.`,
      );
    }
  }
  return { kid: key.kid, alg: key.alg, verifyKey, signKey };
}

function isXTokenPayload(payload: JWTPayload): payload is XTokenPayload {
  return (
    typeof payload.sub === 'string' &&
    payload.sub !== '' &&
    typeof payload.sid === 'string' &&
    payload.sid !== '' &&
    Number.isSafeInteger(payload.auth_time) &&
    Number.isSafeInteger(payload.iat) &&
    Number.isSafeInteger(payload.exp) &&
    typeof payload.jti === 'string'
  );
}

function nonNegative(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ConfigurationError(`${OWNER}: \`${name}\` must be a number ≥ 0.`);
  }
  return value;
}

/** A token's id: 96 random bits. The family record names its current one; every renewal gets a new one. */
function newJti(): string {
  return randomBase64url(12);
}

/** The `<kid>` segment of a compact token: the key's id in base64url, empty for `secret`. */
function macKid(kid: string | undefined): string {
  return kid === undefined ? '' : Buffer.from(kid, 'utf8').toString('base64url');
}

/**
 * A token's claims as one object literal: spreading `claims` and then adding fields made V8 build
 * the object through its slow path, about 4 µs per token on the bench machine (a tenth of a
 * renewal).
 */
function tokenPayload(
  claims: { sub: string; sid: string; auth_time: number },
  iss: string,
  iat: number,
  exp: number,
  jti: string,
): XTokenPayload {
  return { sub: claims.sub, sid: claims.sid, auth_time: claims.auth_time, iss, iat, exp, jti };
}

function familyClaims(payload: XTokenPayload): { sub: string; sid: string; auth_time: number } {
  return { sub: payload.sub, sid: payload.sid, auth_time: payload.auth_time };
}

function nowSec(): number {
  return Math.floor(Date.now() / 1000);
}

import { createPrivateKey, type KeyObject } from 'node:crypto';
import {
  compactDecrypt,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type CompactJWEHeaderParameters,
  type JWK,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { AuthenticationFailure, ConfigurationError, VendorError } from '../errors.js';
import { CryptoKeyCache } from '../internal/crypto-keys.js';

const OWNER = 'IdTokenVerifier';

export type IdTokenSigningAlg =
  'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'PS256' | 'PS384' | 'PS512' | 'EdDSA';
export type IdTokenKeyManagementAlg =
  | 'RSA-OAEP'
  | 'RSA-OAEP-256'
  | 'RSA-OAEP-384'
  | 'RSA-OAEP-512'
  | 'ECDH-ES'
  | 'ECDH-ES+A128KW'
  | 'ECDH-ES+A192KW'
  | 'ECDH-ES+A256KW';
export type IdTokenContentEncryptionAlg =
  'A128CBC-HS256' | 'A192CBC-HS384' | 'A256CBC-HS512' | 'A128GCM' | 'A192GCM' | 'A256GCM';

/** A private key to decrypt id_tokens with: a KeyObject, a PKCS#8 PEM string, or a private JWK. */
export type DecryptionKeyInput = KeyObject | string | JWK | { kid?: string; key: KeyObject | string | JWK };

export interface IdTokenEncryption {
  /** Key management algorithm(s) accepted (never RSA1_5; PBES2 is not offered). */
  alg: IdTokenKeyManagementAlg | IdTokenKeyManagementAlg[];
  /** Content encryption algorithm(s) accepted (default `'A256CBC-HS512'`). */
  enc?: IdTokenContentEncryptionAlg | IdTokenContentEncryptionAlg[];
}

export interface IdTokenVerifierOptions {
  /** The issuer, compared exactly with `iss`. */
  issuer: string;
  /** Our client id: `aud` must contain it. */
  clientId: string;
  /** The provider's keys (`createRemoteJWKSet`); `jku`, `x5u` and embedded `jwk` headers are never used. */
  jwks: JWTVerifyGetKey;
  /** Signature algorithms accepted (default `['ES256', 'RS256']`); `none` and HMAC never are. */
  signingAlgs?: IdTokenSigningAlg[];
  /** When set, id_tokens MUST be encrypted (a plain JWS is refused). */
  encryption?: IdTokenEncryption;
  /** Our private keys for decryption, chosen by `kid` when the JWE names one (default none; required with `encryption`). */
  decryptionKeys?: DecryptionKeyInput[];
  /** Clock skew allowed for `exp`/`iat`, in seconds (default 30). */
  clockToleranceSec?: number;
  /** Oldest `iat` accepted, in seconds (default 600). */
  maxTokenAgeSec?: number;
  /** Other audiences a token may also name (default none: any extra audience is refused). */
  trustedAudiences?: string[];
  /** Longest token read, in characters (default 65536). */
  maxLength?: number;
}

export interface VerifyIdTokenOptions {
  /** The nonce sent with the authorization request; required to match when given. */
  nonce?: string;
}

const ALLOWED_SIGNING: readonly string[] = [
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'EdDSA',
];
const ALLOWED_KEY_MANAGEMENT: readonly string[] = [
  'RSA-OAEP',
  'RSA-OAEP-256',
  'RSA-OAEP-384',
  'RSA-OAEP-512',
  'ECDH-ES',
  'ECDH-ES+A128KW',
  'ECDH-ES+A192KW',
  'ECDH-ES+A256KW',
];
const ALLOWED_CONTENT: readonly string[] = [
  'A128CBC-HS256',
  'A192CBC-HS384',
  'A256CBC-HS512',
  'A128GCM',
  'A192GCM',
  'A256GCM',
];

const invalid = (reason: string): AuthenticationFailure =>
  new AuthenticationFailure('invalid_token', `The id_token was refused: ${reason}.`, 401);

/**
 * Checks an OpenID Connect id_token as OIDC Core §3.1.3.7 asks: a 5-part token is a JWE, decrypted
 * with our keys under an algorithm allowlist; the (inner) JWS signature is ALWAYS verified with the
 * provider's JWKS under pinned algorithms; then `iss`, `aud` (and `azp`), `exp`, `iat`, `sub` and
 * `nonce`. Passport-free; `XignInStrategy` is its adapter.
 */
export class IdTokenVerifier {
  private readonly options: Required<Pick<IdTokenVerifierOptions, 'issuer' | 'clientId' | 'jwks'>>;
  private readonly signingAlgs: string[];
  private readonly encryption: { keyManagement: string[]; content: string[] } | undefined;
  private readonly decryptionKeys: Array<{ kid: string | undefined; key: KeyObject }>;
  private readonly clockToleranceSec: number;
  private readonly maxTokenAgeSec: number;
  private readonly trustedAudiences: ReadonlySet<string>;
  private readonly maxLength: number;

  private readonly cryptoKeys = new CryptoKeyCache();

  constructor(options: IdTokenVerifierOptions) {
    this.options = { issuer: options.issuer, clientId: options.clientId, jwks: options.jwks };
    this.signingAlgs = options.signingAlgs ?? ['ES256', 'RS256'];
    for (const alg of this.signingAlgs) {
      if (!ALLOWED_SIGNING.includes(alg)) {
        throw new ConfigurationError(
          `${OWNER}: "${alg}" is not an accepted id_token signing algorithm (asymmetric only).`,
        );
      }
    }
    if (options.encryption) {
      const keyManagement = [options.encryption.alg].flat();
      const content = [options.encryption.enc ?? 'A256CBC-HS512'].flat();
      for (const alg of keyManagement) {
        if (!ALLOWED_KEY_MANAGEMENT.includes(alg))
          throw new ConfigurationError(
            `${OWNER}: "${alg}" is not an accepted JWE alg (RSA1_5 and PBES2 never are).`,
          );
      }
      for (const enc of content) {
        if (!ALLOWED_CONTENT.includes(enc))
          throw new ConfigurationError(`${OWNER}: "${enc}" is not an accepted JWE enc.`);
      }
      this.encryption = { keyManagement, content };
    }
    this.decryptionKeys = (options.decryptionKeys ?? []).map(privateKey);
    if (this.encryption && this.decryptionKeys.length === 0) {
      throw new ConfigurationError(`${OWNER}: encrypted id_tokens need \`decryptionKeys\`.`);
    }
    this.clockToleranceSec = options.clockToleranceSec ?? 30;
    this.maxTokenAgeSec = options.maxTokenAgeSec ?? 600;
    this.trustedAudiences = new Set(options.trustedAudiences ?? []);
    this.maxLength = options.maxLength ?? 65_536;
  }

  /** Answers the claims, or throws `AuthenticationFailure` (`invalid_token`, 401) or, for a JWKS fault, `VendorError`. */
  async verify(
    token: unknown,
    expected: VerifyIdTokenOptions = {},
  ): Promise<JWTPayload & { sub: string; iss: string }> {
    if (typeof token !== 'string' || token.length === 0 || token.length > this.maxLength)
      throw invalid('missing or too long');
    const parts = token.split('.').length;
    let jws: string;
    if (parts === 5) {
      if (!this.encryption) throw invalid('it is encrypted, and no decryption is configured');
      jws = await this.decrypt(token);
    } else if (parts === 3) {
      // O-UNENC: when encryption is configured, a plain JWS may be a downgrade.
      if (this.encryption) throw invalid('it is not encrypted, and encryption is required');
      jws = token;
    } else {
      throw invalid('it is neither a JWS nor a JWE');
    }

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(jws, this.options.jwks, {
        algorithms: this.signingAlgs,
        issuer: this.options.issuer,
        audience: this.options.clientId,
        clockTolerance: this.clockToleranceSec,
        maxTokenAge: this.maxTokenAgeSec,
        requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
      }));
    } catch (err) {
      throw translate(err);
    }
    if (typeof payload.sub !== 'string' || payload.sub === '') throw invalid('"sub" is missing');
    if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + this.clockToleranceSec) {
      throw invalid('"iat" is in the future');
    }
    const audiences = [payload.aud].flat();
    if (audiences.some((aud) => aud !== this.options.clientId && !this.trustedAudiences.has(aud!))) {
      throw invalid('"aud" names an audience that is not trusted');
    }
    // OIDC Core §3.1.3.7 (4, 5): with several audiences azp is required; when present it must be us.
    if ((audiences.length > 1 || payload.azp !== undefined) && payload.azp !== this.options.clientId) {
      throw invalid('"azp" is missing or not this client');
    }
    if (expected.nonce !== undefined && payload.nonce !== expected.nonce)
      throw invalid('"nonce" does not match');
    return payload as JWTPayload & { sub: string; iss: string };
  }

  /** The keys a JWE may be for: by its `kid` when it names one (read from the header only with several keys). */
  private candidateKeys(token: string): Array<{ kid: string | undefined; key: KeyObject }> {
    // With one key, jose reads the header anyway and a wrong kid fails decryption just the same.
    if (this.decryptionKeys.length === 1) return this.decryptionKeys;
    let header: CompactJWEHeaderParameters;
    try {
      header = decodeProtectedHeader(token) as CompactJWEHeaderParameters;
    } catch {
      throw invalid('its header cannot be read');
    }
    return header.kid === undefined
      ? this.decryptionKeys
      : this.decryptionKeys.filter((k) => k.kid === header.kid || k.kid === undefined);
  }

  private async decrypt(token: string): Promise<string> {
    const candidates = this.candidateKeys(token);
    if (candidates.length === 0) throw invalid('it is encrypted to a key we do not have');
    let lastError: unknown;
    for (const { key } of candidates) {
      try {
        // The header's alg is checked against the allowlist before this key function runs.
        const { plaintext } = await compactDecrypt(token, (h) => this.cryptoKeys.forAlgorithm(key, h.alg), {
          keyManagementAlgorithms: this.encryption!.keyManagement as never,
          contentEncryptionAlgorithms: this.encryption!.content as never,
          // J-ZIP: no compressed plaintext at all (an id_token needs none). J-P2C: PBES2 is never in
          // the allowlist above, so a huge p2c is refused before any key derivation.
          maxDecompressedLength: 0,
        });
        return STRICT_UTF8.decode(plaintext);
      } catch (err) {
        lastError = err;
      }
    }
    throw translate(lastError, 'it cannot be decrypted');
  }
}

const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true });

function translate(err: unknown, fallback?: string): Error {
  // Our JWKS fetch already named the vendor's fault.
  if (err instanceof VendorError) return err;
  if (
    err instanceof joseErrors.JWKSTimeout ||
    (err instanceof joseErrors.JOSEError && err.code === 'ERR_JWKS_INVALID')
  ) {
    return new VendorError(
      'XignIn',
      'ERR_VENDOR_BAD_RESPONSE',
      'The provider’s JWKS could not be fetched or read.',
      { cause: err },
    );
  }
  if (err instanceof joseErrors.JOSEError || err instanceof TypeError) {
    const reason =
      err instanceof joseErrors.JWTClaimValidationFailed
        ? `${err.message} (${err.claim})`
        : (fallback ?? err.message);
    return invalid(reason.replace(/[^\w "'().,:-]/g, ''));
  }
  if (err instanceof Error && /fetch|ECONN|socket/i.test(err.message)) {
    return new VendorError('XignIn', 'ERR_VENDOR_UNREACHABLE', 'The provider’s JWKS could not be fetched.', {
      cause: err,
    });
  }
  return err instanceof Error ? err : new Error(String(err));
}

function privateKey(input: DecryptionKeyInput, index: number): { kid: string | undefined; key: KeyObject } {
  const wrapped =
    typeof input === 'object' && input !== null && 'key' in input && !('kty' in input)
      ? input
      : { key: input };
  const raw = wrapped.key as KeyObject | string | JWK;
  let key: KeyObject;
  try {
    if (typeof raw === 'object' && 'asymmetricKeyType' in raw) key = raw as KeyObject;
    else if (typeof raw === 'string') key = createPrivateKey(raw);
    else key = createPrivateKey({ key: raw as JWK & Record<string, unknown>, format: 'jwk' });
  } catch {
    throw new ConfigurationError(
      `${OWNER}: decryptionKeys[${index}] is not a private key (KeyObject, PKCS#8 PEM or private JWK).`,
    );
  }
  if (key.type !== 'private')
    throw new ConfigurationError(`${OWNER}: decryptionKeys[${index}] must be a private key.`);
  const jwkKid = typeof raw === 'object' && raw !== null && 'kid' in raw ? (raw as JWK).kid : undefined;
  return { kid: (wrapped as { kid?: string }).kid ?? jwkKid, key };
}

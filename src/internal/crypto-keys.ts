import { webcrypto, type KeyObject } from 'node:crypto';
import { importJWK, type JWK } from 'jose';

type WebCryptoKey = webcrypto.CryptoKey;

/**
 * jose works on Web Crypto keys: given a Node `KeyObject`, it imports it again on every sign,
 * verify or decrypt. This imports each key once per algorithm and keeps the result, which took a
 * key import out of every X-Token request and every id_token check (see the README's Performance
 * section). Keys are held weakly: a dropped `KeyObject` drops its imports.
 */
export class CryptoKeyCache {
  private readonly imported = new WeakMap<KeyObject, Map<string, Promise<WebCryptoKey>>>();

  /** The key as a Web Crypto key for `alg` (a JWS or JWE algorithm). Rejects when they do not fit. */
  forAlgorithm(key: KeyObject, alg: string): Promise<WebCryptoKey> {
    let byAlg = this.imported.get(key);
    if (!byAlg) {
      byAlg = new Map();
      this.imported.set(key, byAlg);
    }
    let cryptoKey = byAlg.get(alg);
    if (!cryptoKey) {
      cryptoKey = importFor(key, alg);
      // A key that does not fit the algorithm is not cached: the caller's error says why.
      cryptoKey.catch(() => byAlg.delete(alg));
      byAlg.set(alg, cryptoKey);
    }
    return cryptoKey;
  }
}

async function importFor(key: KeyObject, alg: string): Promise<WebCryptoKey> {
  if (key.type === 'secret') {
    const hash = /^HS(256|384|512)$/.exec(alg)?.[1];
    if (!hash) throw new TypeError(`A secret key cannot be used with "${alg}".`);
    return webcrypto.subtle.importKey('raw', key.export(), { name: 'HMAC', hash: `SHA-${hash}` }, false, [
      'sign',
      'verify',
    ]);
  }
  const imported = await importJWK(key.export({ format: 'jwk' }) as JWK, alg);
  if (imported instanceof Uint8Array) throw new TypeError(`"${alg}" needs an asymmetric key.`);
  return imported as WebCryptoKey;
}

import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';

// A software authenticator for tests: ES256 keys from node:crypto, authenticatorData and
// clientDataJSON built as a browser and a CTAP2 authenticator would, attestation 'none' (its
// small CBOR map encoded with @simplewebauthn's own CBOR helper). It signs what it is told to, so
// tests can produce responses for the wrong origin, the wrong RP ID, without user verification,
// or with a counter that went back.

type CborValue = Parameters<typeof isoCBOR.encode>[0];

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_BE = 0x08;
const FLAG_BS = 0x10;
const FLAG_AT = 0x40;

export interface StoredKey {
  id: Buffer;
  privateKey: KeyObject;
  publicKey: KeyObject;
  rpId: string;
  userHandle: string;
  counter: number;
}

export interface AuthenticatorSettings {
  /** The origin the "browser" reports in clientDataJSON. */
  origin: string;
  /** Whether the user is verified (UV flag) (default true). */
  userVerified?: boolean;
  /** Whether keys are synced passkeys (BE/BS flags) (default false: device-bound). */
  backedUp?: boolean;
  /** Counter step per signature; 0 for an authenticator that keeps no counter (default 1). */
  counterStep?: number;
}

/** What one response may deviate in: the tests' attacks. */
export interface ResponseOverrides {
  origin?: string;
  rpId?: string;
  userVerified?: boolean;
  /** Signature counter to report instead of the key's next one. */
  counter?: number;
  /** Sign this challenge instead of the options' one. */
  challenge?: string;
  /**
   * The key to use (default: the first one the allow list names, or the first stored for the RP);
   * at registration, the id to give the new key (attestation 'none' signs nothing, so anyone can).
   */
  credentialId?: string;
  type?: string;
  /** The client data's `crossOrigin` (default false): true for a response made in a frame. */
  crossOrigin?: boolean;
  /** The client data's `topOrigin`: the top-level site embedding the frame (default absent). */
  topOrigin?: string;
  /** The assertion's `userHandle` instead of the key's. */
  userHandle?: string;
}

export class SoftwareAuthenticator {
  readonly keys = new Map<string, StoredKey>();
  readonly settings: Required<AuthenticatorSettings>;

  constructor(settings: AuthenticatorSettings) {
    this.settings = { userVerified: true, backedUp: false, counterStep: 1, ...settings };
  }

  /** `navigator.credentials.create()`: a new ES256 key and its attestation ('none'). */
  create(
    options: PublicKeyCredentialCreationOptionsJSON,
    overrides: ResponseOverrides = {},
  ): RegistrationResponseJSON {
    const rpId = overrides.rpId ?? options.rp.id ?? 'localhost';
    for (const excluded of options.excludeCredentials ?? []) {
      if (this.keys.has(excluded.id))
        throw new Error('InvalidStateError: this authenticator holds an excluded credential');
    }
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = overrides.credentialId ? Buffer.from(overrides.credentialId, 'base64url') : randomBytes(16);
    const key: StoredKey = { id, privateKey, publicKey, rpId, userHandle: options.user.id, counter: 0 };
    const counter = overrides.counter ?? (key.counter += this.settings.counterStep);
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = isoCBOR.encode(
      new Map<number, number | Uint8Array>([
        [1, 2], // kty: EC2
        [3, -7], // alg: ES256
        [-1, 1], // crv: P-256
        [-2, new Uint8Array(Buffer.from(jwk.x!, 'base64url'))],
        [-3, new Uint8Array(Buffer.from(jwk.y!, 'base64url'))],
      ]),
    );
    const idLength = Buffer.alloc(2);
    idLength.writeUInt16BE(id.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLength, id, Buffer.from(cose)]);
    const authData = this.authData(rpId, overrides, counter, FLAG_AT, attested);
    const clientDataJSON = this.clientData('webauthn.create', options.challenge, overrides);
    const attestationObject = isoCBOR.encode(
      new Map<string, CborValue>([
        ['fmt', 'none'],
        ['attStmt', new Map<string, CborValue>()],
        ['authData', new Uint8Array(authData)],
      ]),
    );
    this.keys.set(id.toString('base64url'), key);
    return {
      id: id.toString('base64url'),
      rawId: id.toString('base64url'),
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        attestationObject: Buffer.from(attestationObject).toString('base64url'),
        transports: ['internal'],
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** `navigator.credentials.get()`: an assertion signed with one of its keys. */
  get(
    options: PublicKeyCredentialRequestOptionsJSON,
    overrides: ResponseOverrides = {},
  ): AuthenticationResponseJSON {
    const allowed = (options.allowCredentials ?? []).map((c) => c.id);
    const id =
      overrides.credentialId ??
      (allowed.length > 0
        ? allowed.find((candidate) => this.keys.has(candidate))
        : [...this.keys.entries()].find(([, key]) => key.rpId === (options.rpId ?? 'localhost'))?.[0]);
    const key = id === undefined ? undefined : this.keys.get(id);
    if (!key || id === undefined) throw new Error('NotAllowedError: no credential for this request');
    const rpId = overrides.rpId ?? options.rpId ?? key.rpId;
    const counter = overrides.counter ?? (key.counter += this.settings.counterStep);
    const authData = this.authData(rpId, overrides, counter, 0);
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, overrides);
    const signature = sign(
      'sha256',
      Buffer.concat([authData, createHash('sha256').update(clientDataJSON).digest()]),
      key.privateKey,
    );
    return {
      id,
      rawId: id,
      type: 'public-key',
      response: {
        clientDataJSON: clientDataJSON.toString('base64url'),
        authenticatorData: authData.toString('base64url'),
        signature: signature.toString('base64url'),
        userHandle: overrides.userHandle ?? key.userHandle,
      },
      clientExtensionResults: {},
      authenticatorAttachment: 'platform',
    };
  }

  /** A copy of this authenticator's keys in another one: a cloned authenticator. */
  clone(): SoftwareAuthenticator {
    const copy = new SoftwareAuthenticator(this.settings);
    for (const [id, key] of this.keys) copy.keys.set(id, { ...key });
    return copy;
  }

  private authData(
    rpId: string,
    overrides: ResponseOverrides,
    counter: number,
    extraFlags: number,
    attested?: Buffer,
  ): Buffer {
    const userVerified = overrides.userVerified ?? this.settings.userVerified;
    const flags =
      FLAG_UP | (userVerified ? FLAG_UV : 0) | (this.settings.backedUp ? FLAG_BE | FLAG_BS : 0) | extraFlags;
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([
      createHash('sha256').update(rpId).digest(),
      Buffer.from([flags]),
      count,
      ...(attested ? [attested] : []),
    ]);
  }

  private clientData(type: string, challenge: string, overrides: ResponseOverrides): Buffer {
    return Buffer.from(
      JSON.stringify({
        type: overrides.type ?? type,
        challenge: overrides.challenge ?? challenge,
        origin: overrides.origin ?? this.settings.origin,
        crossOrigin: overrides.crossOrigin ?? false,
        ...(overrides.topOrigin !== undefined ? { topOrigin: overrides.topOrigin } : {}),
      }),
    );
  }
}

import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
// Types only: the library is an optional peer dependency, loaded when a ceremony first runs, so
// an app without passkeys installs none of it, and these declarations never name it.
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type * as SimpleWebAuthnServer from '@simplewebauthn/server';
import type * as SimpleWebAuthnHelpers from '@simplewebauthn/server/helpers';
import type { ClientDataJSON, ParsedAuthenticatorData } from '@simplewebauthn/server/helpers';
import { AuthenticationFailure, ConfigurationError, type FailureCode } from '../errors.js';
import { Binding, type GetSessionId } from '../internal/binding.js';
import type { FactorRequest as Request } from '../internal/http.js';
import {
  auditHook,
  functionOption,
  positiveIntegerOption,
  requireFunction,
  stringOption,
} from '../internal/options.js';
import { originCheck, originList, type OriginCheck } from '../internal/origin.js';
import { StartLimit, type StartLimitOptions } from '../internal/throttle.js';
import { userIdOf, type User } from '../internal/verify.js';
import { readRecord, WEBAUTHN_CHALLENGE } from '../internal/records.js';
import { MemoryStore } from '../stores/memory.js';
import { faultsAsStoreErrors } from '../stores/operations.js';
import { assertStore, type Store } from '../stores/store.js';

/** Option errors name the strategy: these are its options. */
const OWNER = 'WebAuthnStrategy';

/** The session key holding this session's binding id (the challenges themselves are in the store). */
const SESSION_KEY = 'passport-factors:webauthn';

/** Seconds a taken challenge's record outlives its expiry, so an expired one answers `expired`. */
const EXPIRED_GRACE_SECONDS = 600;

/** Longest base64url string accepted from the browser for one field (an attestation with certificates fits). */
const MAX_FIELD_LENGTH = 64 * 1024;

type Library = typeof SimpleWebAuthnServer;
type Helpers = typeof SimpleWebAuthnHelpers;
let loaded: Promise<{ server: Library; helpers: Helpers }> | undefined;

/** `@simplewebauthn/server`, imported once, on first use. */
function simpleWebAuthn(): Promise<{ server: Library; helpers: Helpers }> {
  loaded ??= Promise.all([import('@simplewebauthn/server'), import('@simplewebauthn/server/helpers')]).then(
    ([server, helpers]) => ({ server, helpers }),
  );
  return loaded;
}

/** Refuses, when the strategy is configured, an app that has not installed the peer dependency. */
function requireLibrary(): void {
  try {
    createRequire(import.meta.url).resolve('@simplewebauthn/server');
  } catch {
    throw new ConfigurationError(
      `${OWNER} needs @simplewebauthn/server, an optional peer dependency of passport-factors: npm install @simplewebauthn/server`,
    );
  }
}

/**
 * The options to hand to `navigator.credentials.create()` as JSON (WebAuthn's
 * `PublicKeyCredentialCreationOptionsJSON`): `PublicKeyCredential.parseCreationOptionsFromJSON()`
 * turns them into what the browser takes.
 */
export interface WebAuthnCreationOptionsJSON {
  rp: { name: string; id?: string };
  user: { id: string; name: string; displayName: string };
  challenge: string;
  pubKeyCredParams: Array<{ alg: number; type: 'public-key' }>;
  timeout?: number;
  excludeCredentials?: Array<{ id: string; type: 'public-key'; transports?: string[] }>;
  authenticatorSelection?: {
    authenticatorAttachment?: string;
    requireResidentKey?: boolean;
    residentKey?: string;
    userVerification?: string;
  };
  attestation?: string;
  [member: string]: unknown;
}

/**
 * The options to hand to `navigator.credentials.get()` as JSON (WebAuthn's
 * `PublicKeyCredentialRequestOptionsJSON`), for `PublicKeyCredential.parseRequestOptionsFromJSON()`.
 */
export interface WebAuthnRequestOptionsJSON {
  challenge: string;
  timeout?: number;
  rpId?: string;
  allowCredentials?: Array<{ id: string; type: 'public-key'; transports?: string[] }>;
  userVerification?: string;
  [member: string]: unknown;
}

/** How the authenticator is to verify the user (PIN, biometrics); WebAuthn's `UserVerificationRequirement`. */
export type UserVerification = 'required' | 'preferred' | 'discouraged';

/**
 * A passkey as the app stores it: everything needed to verify later assertions. The app owns the
 * storage (`saveCredential`, `findCredential`, `listCredentials`, `updateCredential`); the library
 * never keeps credentials.
 */
export interface WebAuthnCredentialRecord {
  /** The credential id, base64url: the key the app finds it by. */
  id: string;
  /** The id of the user it belongs to (`getUserId(user)` at registration). */
  userId: string;
  /** The WebAuthn user handle given to the authenticator at registration, base64url. */
  userHandle: string;
  /** The credential's COSE public key. */
  publicKey: Uint8Array;
  /** The signature counter last seen (0 for authenticators that keep none, as most passkeys). */
  counter: number;
  /** How the browser can reach the authenticator (`'internal'`, `'usb'`, `'hybrid'`, …), for allow lists. */
  transports?: string[];
  /** `'multiDevice'` for a synced passkey, `'singleDevice'` for one bound to its authenticator. */
  deviceType: 'singleDevice' | 'multiDevice';
  /** Whether the passkey is backed up (synced) now. */
  backedUp: boolean;
}

/** What `updateCredential` is handed after each successful login with a credential. */
export interface WebAuthnCredentialUpdate {
  /** The credential id, base64url. */
  id: string;
  /** The id of the user it belongs to. */
  userId: string;
  /** The signature counter the authenticator reported: store it, it is what the next one must exceed. */
  counter: number;
  /** The counter stored before this login, for a compare-and-set in the app's database. */
  previousCounter: number;
  /** `'multiDevice'` for a synced passkey, `'singleDevice'` for a device-bound one. */
  deviceType: 'singleDevice' | 'multiDevice';
  /** Whether the passkey is backed up (synced) now: it may change between logins. */
  backedUp: boolean;
}

/** Audit events; never a challenge or a key. */
export type WebAuthnEvent =
  | { type: 'registered'; userId: string; credentialId: string; deviceType: string; backedUp: boolean }
  | { type: 'registration_failed'; userId: string | undefined; code: FailureCode }
  | { type: 'authenticated'; userId: string; credentialId: string; userVerified: boolean }
  | { type: 'failed'; userId: string | undefined; credentialId: string | undefined; code: FailureCode }
  /**
   * A correctly signed assertion whose signature counter did not increase: two authenticators
   * hold the same key (a cloned authenticator). The login is refused; the app may disable the
   * credential.
   */
  | {
      type: 'counter_regression';
      userId: string;
      credentialId: string;
      storedCounter: number;
      presentedCounter: number;
    };

/** The options of `WebAuthnStrategy` that configure the ceremonies (all but its Passport ones). */
export interface WebAuthnOptions {
  /** The relying party id: the site's registrable domain or host, e.g. `'example.com'`. Required. */
  rpID: string;
  /** The site's name the authenticator shows when a passkey is created. Required. */
  rpName: string;
  /**
   * The origin(s) the browser's response must come from, e.g. `'https://example.com'` (scheme,
   * host and port only). Required.
   */
  origins: string | string[];
  /** Finds a stored credential by its id (base64url); `undefined` when there is none. Required. */
  findCredential: (
    id: string,
  ) => WebAuthnCredentialRecord | undefined | null | Promise<WebAuthnCredentialRecord | undefined | null>;
  /** The credentials of a user, for the exclude list at registration and the allow list of a second factor. Required. */
  listCredentials: (userId: string) => WebAuthnCredentialRecord[] | Promise<WebAuthnCredentialRecord[]>;
  /** Stores a newly registered credential for `user`. Required. */
  saveCredential: (credential: WebAuthnCredentialRecord, user: User) => void | Promise<void>;
  /** Stores the counter and backup state after a login with a credential. Required. */
  updateCredential: (update: WebAuthnCredentialUpdate) => void | Promise<void>;
  /** The user's id (default `String(user.id)`). */
  getUserId?: (user: User) => string;
  /** The account name the authenticator shows for a new passkey (default: the user id). */
  getUserName?: (user: User) => string;
  /** The display name the authenticator shows for a new passkey (default: the user name). */
  getUserDisplayName?: (user: User) => string;
  /**
   * Whether the authenticator must verify the user (PIN, biometrics) (default `'preferred'`).
   * `'required'` refuses a response without the UV flag with `user_verification_required`,
   * at registration and at login.
   */
  userVerification?: UserVerification;
  /**
   * Whether a new credential is to be discoverable (a passkey the browser can offer without a
   * user name) (default `'preferred'`). Passkey first-factor login needs discoverable credentials.
   */
  residentKey?: 'required' | 'preferred' | 'discouraged';
  /** Seconds a challenge stays valid; also the browser's timeout (default 300). */
  challengeTtlSeconds?: number;
  /**
   * Pending challenges (default: a new `MemoryStore`). Give the shared store (e.g. a
   * `RedisStore`) when several app instances serve one site.
   */
  store?: Store;
  /** The id of the session a challenge is bound to (default: a random id kept in `req.session`). */
  getSessionId?: GetSessionId;
  /**
   * Login options one client (`req.ip`) may ask for without being logged in, per window (default
   * `{ points: 30, durationSec: 60 }`): each stores a challenge, so a flood from one address is
   * refused with 429 `rate_limited` before it fills the store.
   */
  startLimit?: StartLimitOptions;
  /** The body field holding the browser's response, an object or its JSON text (default `'credential'`). */
  responseField?: string;
  /**
   * Origins whose pages may POST to the route handlers (default: the request's own origin); the
   * CSRF check of the options and registration routes.
   */
  allowedOrigins?: string[];
  /** Audit hook (default: none). */
  onEvent?: (event: WebAuthnEvent) => void;
}

/** What a verified login answers. */
export interface WebAuthnAssertion {
  /** The id of the user the passkey belongs to. */
  userId: string;
  /** The passkey, with the counter and backup state of this login. */
  credential: WebAuthnCredentialRecord;
  /** Whether the authenticator verified the user (PIN, biometrics): the UV flag. */
  userVerified: boolean;
  /** RFC 8176 `amr` value: `'hwk'` for a device-bound key, `'swk'` for a synced passkey. */
  amr: 'hwk' | 'swk';
}

/** A pending challenge as stored: who it is for (if anyone), when it expires, what it demands. */
interface ChallengeRecord {
  /** The user it was issued for (registration, second factor); absent for a passkey login. */
  u?: string;
  /** Expiry, ms since the epoch. */
  x: number;
  /** The user handle offered at registration. */
  h?: string;
}

type Ceremony = 'reg' | 'auth';

/**
 * The passport-free WebAuthn ceremonies on `@simplewebauthn/server`: options with a challenge bound
 * to the browser session in the store (single use: taken atomically before anything is checked;
 * expiring), verification of the browser's signed response, and the signature counter check.
 * Credential storage is the app's, through its callbacks.
 */
export class WebAuthnCeremonies {
  /** The relying party id (`rpID` option). */
  readonly rpID: string;
  /** The site's name shown by authenticators (`rpName` option). */
  readonly rpName: string;
  /** The origins a response may come from (`origins` option). */
  readonly origins: string[];
  /** The `userVerification` option. */
  readonly userVerification: UserVerification;
  /** Seconds a challenge stays valid (`challengeTtlSeconds` option). */
  readonly challengeTtlSeconds: number;
  /** The CSRF check of the route handlers. @internal */
  readonly checkOrigin: OriginCheck;
  /** The audit hook. @internal */
  readonly emit: (event: WebAuthnEvent) => void;
  /** The user's id, as the `getUserId` option reads it. */
  readonly getUserId: (user: User) => string;
  private readonly rpIdHash: Buffer;
  private readonly residentKey: 'required' | 'preferred' | 'discouraged';
  private readonly store: Store;
  private readonly binding: Binding;
  private readonly startLimit: StartLimit;
  private readonly responseField: string;
  private readonly findCredential: WebAuthnOptions['findCredential'];
  private readonly listCredentials: WebAuthnOptions['listCredentials'];
  private readonly saveCredential: WebAuthnOptions['saveCredential'];
  private readonly updateCredential: WebAuthnOptions['updateCredential'];
  private readonly getUserName: (user: User) => string;
  private readonly getUserDisplayName: (user: User) => string;

  constructor(options: WebAuthnOptions) {
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    requireLibrary();
    this.rpID = rpIdOption(options.rpID);
    this.rpIdHash = createHash('sha256').update(this.rpID).digest();
    this.rpName = stringOption(options.rpName, '', 'rpName', OWNER);
    if (this.rpName === '') throw new ConfigurationError(`${OWNER}: \`rpName\` is required.`);
    this.origins = originsOption(options.origins);
    for (const name of ['findCredential', 'listCredentials', 'saveCredential', 'updateCredential'] as const)
      requireFunction(options[name], name, OWNER);
    this.findCredential = options.findCredential;
    this.listCredentials = options.listCredentials;
    this.saveCredential = options.saveCredential;
    this.updateCredential = options.updateCredential;
    this.getUserId = functionOption(
      options.getUserId,
      (user: User) => userIdOf(user, OWNER),
      'getUserId',
      OWNER,
    );
    this.getUserName = functionOption(options.getUserName, this.getUserId, 'getUserName', OWNER);
    this.getUserDisplayName = functionOption(
      options.getUserDisplayName,
      this.getUserName,
      'getUserDisplayName',
      OWNER,
    );
    this.userVerification = enumOption(
      options.userVerification,
      'preferred',
      ['required', 'preferred', 'discouraged'],
      'userVerification',
    );
    this.residentKey = enumOption(
      options.residentKey,
      'preferred',
      ['required', 'preferred', 'discouraged'],
      'residentKey',
    );
    this.challengeTtlSeconds = positiveIntegerOption(
      options.challengeTtlSeconds,
      300,
      'challengeTtlSeconds',
      OWNER,
    );
    const store = options.store ?? new MemoryStore();
    assertStore(store, OWNER);
    this.store = store;
    this.binding = new Binding(OWNER, SESSION_KEY, options.getSessionId);
    this.startLimit = new StartLimit(store, 'webauthn:start-client', options.startLimit, OWNER);
    this.responseField = stringOption(options.responseField, 'credential', 'responseField', OWNER);
    this.checkOrigin = originCheck(options.allowedOrigins, OWNER);
    this.emit = auditHook<WebAuthnEvent>(options.onEvent, OWNER);
  }

  private get requireUserVerification(): boolean {
    return this.userVerification === 'required';
  }

  /**
   * Registration, step 1: creation options for `req.user` (its existing credentials excluded),
   * with a challenge bound to this session. 401 `missing_credentials` without a logged-in user.
   */
  async registrationOptions(req: Request): Promise<WebAuthnCreationOptionsJSON> {
    const user = req.user;
    if (!user) throw new AuthenticationFailure('missing_credentials', 'Log in before adding a passkey.', 401);
    const { server } = await simpleWebAuthn();
    const userId = this.getUserId(user);
    const existing = await this.listCredentials(userId);
    // The user handle must carry no personal data (WebAuthn §14.6.1): a random one, kept with the
    // credential, needs no secret shared by the instances either.
    const userHandle = randomBytes(32);
    const options: PublicKeyCredentialCreationOptionsJSON = await server.generateRegistrationOptions({
      rpName: this.rpName,
      rpID: this.rpID,
      userName: this.getUserName(user),
      userDisplayName: this.getUserDisplayName(user),
      userID: userHandle,
      challenge: randomBytes(32),
      timeout: this.challengeTtlSeconds * 1000,
      attestationType: 'none',
      excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports ?? [] })),
      authenticatorSelection: { residentKey: this.residentKey, userVerification: this.userVerification },
    });
    await this.issue(req, 'reg', options.challenge, { u: userId, h: userHandle.toString('base64url') });
    return options as WebAuthnCreationOptionsJSON;
  }

  /**
   * Registration, step 2: verifies the browser's attestation for `req.user` against this session's
   * challenge and hands the new credential to `saveCredential`.
   */
  async register(req: Request): Promise<WebAuthnCredentialRecord> {
    const user = req.user;
    const userId = user ? this.getUserId(user) : undefined;
    try {
      if (!user || userId === undefined)
        throw new AuthenticationFailure('missing_credentials', 'Log in before adding a passkey.', 401);
      const response = this.readResponse(req, 'attestationObject') as unknown as RegistrationResponseJSON;
      const { server, helpers } = await simpleWebAuthn();
      const clientData = decodeClientData(helpers, response.response.clientDataJSON, 'webauthn.create');
      const record = await this.redeem(req, 'reg', clientData.challenge);
      if (record.u !== userId || record.h === undefined)
        throw new AuthenticationFailure(
          'no_pending_challenge',
          'No passkey registration is pending. Start again.',
          401,
        );
      this.checkClientOrigin(clientData);
      let authData: ParsedAuthenticatorData;
      try {
        authData = helpers.parseAuthenticatorData(
          helpers
            .decodeAttestationObject(helpers.isoBase64URL.toBuffer(response.response.attestationObject))
            .get('authData'),
        );
      } catch {
        throw invalidResponse();
      }
      this.checkAuthenticatorData(authData);
      let verified;
      try {
        verified = await server.verifyRegistrationResponse({
          response,
          expectedChallenge: clientData.challenge,
          expectedOrigin: this.origins,
          expectedRPID: this.rpID,
          requireUserVerification: this.requireUserVerification,
        });
      } catch {
        throw invalidResponse();
      }
      if (!verified.verified) throw invalidResponse();
      const info = verified.registrationInfo;
      if (await this.findCredential(info.credential.id)) {
        throw new AuthenticationFailure('already_registered', 'This passkey is registered already.', 409);
      }
      const credential: WebAuthnCredentialRecord = {
        id: info.credential.id,
        userId,
        userHandle: record.h,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: transportsOf(response),
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
      };
      await this.saveCredential(credential, user);
      this.emit({
        type: 'registered',
        userId,
        credentialId: credential.id,
        deviceType: credential.deviceType,
        backedUp: credential.backedUp,
      });
      return credential;
    } catch (err) {
      if (err instanceof AuthenticationFailure)
        this.emit({ type: 'registration_failed', userId, code: err.code });
      throw err;
    }
  }

  /**
   * Login, step 1: request options with a challenge bound to this session. For a logged-in (or
   * pending) `req.user` the allow list names its credentials (a second factor); without one the
   * list is empty, so the browser offers the site's passkeys (first factor, also conditional UI).
   */
  async authenticationOptions(req: Request): Promise<WebAuthnRequestOptionsJSON> {
    const userId = req.user ? this.getUserId(req.user) : undefined;
    if (userId === undefined) await this.startLimit.consume(req);
    const { server } = await simpleWebAuthn();
    const allowCredentials =
      userId === undefined
        ? []
        : (await this.listCredentials(userId)).map((c) => ({ id: c.id, transports: c.transports ?? [] }));
    const options: PublicKeyCredentialRequestOptionsJSON = await server.generateAuthenticationOptions({
      rpID: this.rpID,
      allowCredentials,
      challenge: randomBytes(32),
      timeout: this.challengeTtlSeconds * 1000,
      userVerification: this.userVerification,
    });
    await this.issue(req, 'auth', options.challenge, userId === undefined ? {} : { u: userId });
    return options as WebAuthnRequestOptionsJSON;
  }

  /**
   * Login, step 2: verifies the browser's assertion against this session's challenge and the
   * credential `findCredential` answers, checks the signature counter, and hands the new counter
   * to `updateCredential`. With `req.user` (a second factor) the credential must be that user's.
   */
  async authenticate(req: Request): Promise<WebAuthnAssertion> {
    let userId = req.user ? this.getUserId(req.user) : undefined;
    let credentialId: string | undefined;
    try {
      const response = this.readResponse(req, 'authenticatorData') as unknown as AuthenticationResponseJSON;
      credentialId = response.id;
      const { server, helpers } = await simpleWebAuthn();
      const clientData = decodeClientData(helpers, response.response.clientDataJSON, 'webauthn.get');
      // Taken first, whatever follows: a challenge answers one response, right or wrong.
      const record = await this.redeem(req, 'auth', clientData.challenge);
      if (record.u !== undefined) {
        if (userId !== undefined && userId !== record.u)
          throw new AuthenticationFailure(
            'no_pending_challenge',
            'No passkey login is pending. Start again.',
            401,
          );
        userId = record.u;
      }
      this.checkClientOrigin(clientData);
      let authData: ParsedAuthenticatorData;
      try {
        authData = helpers.parseAuthenticatorData(
          helpers.isoBase64URL.toBuffer(response.response.authenticatorData),
        );
      } catch {
        throw invalidResponse();
      }
      this.checkAuthenticatorData(authData);
      const credential = await this.findCredential(response.id);
      if (
        !credential ||
        credential.id !== response.id ||
        (userId !== undefined && credential.userId !== userId) ||
        (typeof response.response.userHandle === 'string' &&
          response.response.userHandle !== '' &&
          response.response.userHandle !== credential.userHandle)
      ) {
        throw new AuthenticationFailure('unknown_credential', 'This passkey is not registered here.', 401);
      }
      userId = credential.userId;
      let verified;
      try {
        verified = await server.verifyAuthenticationResponse({
          response,
          expectedChallenge: clientData.challenge,
          expectedOrigin: this.origins,
          expectedRPID: this.rpID,
          // The counter is checked below, once the signature is known to be good: a regression
          // reported for an unsigned response would let anyone raise false clone alarms.
          credential: { id: credential.id, publicKey: new Uint8Array(credential.publicKey), counter: 0 },
          requireUserVerification: this.requireUserVerification,
        });
      } catch {
        throw invalidResponse();
      }
      if (!verified.verified) throw invalidResponse();
      const info = verified.authenticationInfo;
      if ((info.newCounter > 0 || credential.counter > 0) && info.newCounter <= credential.counter) {
        this.emit({
          type: 'counter_regression',
          userId,
          credentialId: credential.id,
          storedCounter: credential.counter,
          presentedCounter: info.newCounter,
        });
        throw new AuthenticationFailure(
          'counter_regression',
          'This passkey reported a signature counter it used before; it may have been copied. Contact support.',
          401,
        );
      }
      await this.updateCredential({
        id: credential.id,
        userId,
        counter: info.newCounter,
        previousCounter: credential.counter,
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
      });
      this.emit({
        type: 'authenticated',
        userId,
        credentialId: credential.id,
        userVerified: info.userVerified,
      });
      return {
        userId,
        credential: {
          ...credential,
          counter: info.newCounter,
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp,
        },
        userVerified: info.userVerified,
        amr: info.credentialDeviceType === 'singleDevice' ? 'hwk' : 'swk',
      };
    } catch (err) {
      if (err instanceof AuthenticationFailure && err.code !== 'counter_regression')
        this.emit({ type: 'failed', userId, credentialId: safeId(credentialId), code: err.code });
      throw err;
    }
  }

  /** Stores a challenge for this session; the session itself holds only its binding id. */
  private async issue(
    req: Request,
    ceremony: Ceremony,
    challenge: string,
    record: Omit<ChallengeRecord, 'x'>,
  ) {
    const binding = this.binding.ensure(req);
    const ttlMs = this.challengeTtlSeconds * 1000;
    const value: ChallengeRecord = { ...record, x: Date.now() + ttlMs };
    await faultsAsStoreErrors(
      this.store.set(
        challengeKey(ceremony, binding, challenge),
        JSON.stringify(value),
        ttlMs + EXPIRED_GRACE_SECONDS * 1000,
      ),
    );
  }

  /**
   * Takes this session's challenge named by the response, atomically: of concurrent submissions of
   * one response exactly one gets it. A challenge of another session names another key.
   */
  private async redeem(req: Request, ceremony: Ceremony, challenge: string): Promise<ChallengeRecord> {
    const binding = this.binding.current(req);
    const raw =
      binding === undefined || !/^[A-Za-z0-9_-]{16,128}$/.test(challenge)
        ? undefined
        : await faultsAsStoreErrors(this.store.take(challengeKey(ceremony, binding, challenge)));
    const record = readRecord<ChallengeRecord>(raw, WEBAUTHN_CHALLENGE);
    if (!record) {
      throw new AuthenticationFailure(
        'no_pending_challenge',
        'This passkey response answers no challenge pending in this browser (used, or never issued here). Start again.',
        401,
      );
    }
    if (record.x <= Date.now())
      throw new AuthenticationFailure('expired', 'The passkey request expired. Start again.', 401);
    return record;
  }

  private checkClientOrigin(clientData: ClientDataJSON): void {
    if (!this.origins.includes(clientData.origin)) {
      throw new AuthenticationFailure(
        'origin_mismatch',
        'This passkey response was made for another site (origin).',
        401,
      );
    }
    // A response from inside another site's frame is not one of ours.
    if (clientData.crossOrigin === true || clientData.topOrigin !== undefined) {
      throw new AuthenticationFailure(
        'origin_mismatch',
        'This passkey response came from a frame of another site.',
        401,
      );
    }
  }

  private checkAuthenticatorData(authData: ParsedAuthenticatorData): void {
    if (!this.rpIdHash.equals(authData.rpIdHash)) {
      throw new AuthenticationFailure(
        'rp_id_mismatch',
        'This passkey response was made for another site (RP ID).',
        401,
      );
    }
    if (this.requireUserVerification && !authData.flags.uv) {
      throw new AuthenticationFailure(
        'user_verification_required',
        'Unlock your passkey with your PIN, fingerprint or face to continue.',
        401,
      );
    }
  }

  /** The browser's response from the body: an object (or its JSON text) of the expected shape. */
  private readResponse(req: Request, dataField: 'attestationObject' | 'authenticatorData'): ResponseShape {
    let value: unknown = (req.body as Record<string, unknown> | undefined)?.[this.responseField];
    if (value === undefined || value === null || value === '') {
      throw new AuthenticationFailure(
        'missing_credentials',
        `Send the passkey response (field "${this.responseField}").`,
        400,
      );
    }
    if (typeof value === 'string') {
      if (value.length > 4 * MAX_FIELD_LENGTH) throw invalidResponse(400);
      try {
        value = JSON.parse(value);
      } catch {
        throw invalidResponse(400);
      }
    }
    const shaped = value as Partial<ResponseShape> | null;
    const inner = shaped?.response as Record<string, unknown> | undefined;
    const fields = [shaped?.id, shaped?.rawId, inner?.clientDataJSON, inner?.[dataField]];
    if (dataField === 'authenticatorData') fields.push(inner?.signature);
    if (
      shaped === null ||
      typeof shaped !== 'object' ||
      shaped.type !== 'public-key' ||
      shaped.id !== shaped.rawId ||
      inner === null ||
      typeof inner !== 'object' ||
      !fields.every(isBase64url) ||
      (inner.userHandle !== undefined && inner.userHandle !== null && typeof inner.userHandle !== 'string')
    ) {
      throw invalidResponse(400);
    }
    return { ...(shaped as ResponseShape), clientExtensionResults: shaped.clientExtensionResults ?? {} };
  }
}

interface ResponseShape {
  id: string;
  rawId: string;
  type: 'public-key';
  response: Record<string, unknown>;
  clientExtensionResults: Record<string, unknown>;
  authenticatorAttachment?: string;
}

function isBase64url(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_FIELD_LENGTH &&
    /^[A-Za-z0-9_-]+={0,2}$/.test(value)
  );
}

function invalidResponse(status = 401): AuthenticationFailure {
  return new AuthenticationFailure(
    'invalid_credentials',
    status === 400 ? 'The passkey response is malformed.' : 'The passkey response did not verify.',
    status,
  );
}

function decodeClientData(
  helpers: Helpers,
  encoded: unknown,
  type: 'webauthn.create' | 'webauthn.get',
): ClientDataJSON {
  let clientData: ClientDataJSON;
  try {
    clientData = helpers.decodeClientDataJSON(encoded as string);
  } catch {
    throw invalidResponse(400);
  }
  if (
    clientData === null ||
    typeof clientData !== 'object' ||
    clientData.type !== type ||
    typeof clientData.challenge !== 'string' ||
    typeof clientData.origin !== 'string'
  ) {
    throw invalidResponse(400);
  }
  return clientData;
}

function challengeKey(ceremony: Ceremony, binding: string, challenge: string): string {
  return `webauthn:${ceremony}:${binding}:${challenge}`;
}

function transportsOf(response: RegistrationResponseJSON): string[] | undefined {
  const transports: unknown = response.response.transports;
  return Array.isArray(transports) && transports.every((t) => typeof t === 'string')
    ? transports.slice(0, 8)
    : undefined;
}

/** A credential id fit for an audit event (it came from the request). */
function safeId(id: string | undefined): string | undefined {
  return typeof id === 'string' && isBase64url(id) && id.length <= 1024 ? id : undefined;
}

function rpIdOption(value: unknown): string {
  if (
    typeof value !== 'string' ||
    !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/.test(
      value,
    )
  ) {
    throw new ConfigurationError(
      `${OWNER}: \`rpID\` is required: the site's host name in lower case, e.g. "example.com" or "localhost".`,
    );
  }
  return value;
}

function originsOption(value: unknown): string[] {
  return originList(
    typeof value === 'string' ? [value] : value,
    () =>
      new ConfigurationError(
        `${OWNER}: \`origins\` is required: the site's origin(s) such as "https://example.com" (scheme, host and port only).`,
      ),
  );
}

function enumOption<T extends string>(value: unknown, fallback: T, allowed: readonly T[], name: string): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigurationError(
      `${OWNER}: \`${name}\` must be one of ${allowed.map((a) => `'${a}'`).join(', ')}.`,
    );
  }
  return value as T;
}

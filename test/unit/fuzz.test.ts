import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import fc from 'fast-check';
import { CompactEncrypt, createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { AuthenticationFailure, InvalidPhoneNumberError, VendorError } from '../../src/index.js';
import { decideSecSignState } from '../../src/core/secsign.js';
import { decryptRiscSnapshot } from '../../src/core/risc-snapshot.js';
import { IdTokenVerifier } from '../../src/exports/xignin.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { normalizeSecSignId, parseSecSignResponse } from '../../src/clients/secsign.js';
import { normalizeSmsNumber, OneTimeCodes } from '../../src/exports/sms-otp.js';
import { parseBasicAuthorization } from '../../src/core/basic-credentials.js';
import { SecSignClient, SecSignState } from '../../src/exports/secsign.js';
import { XTokenManager } from '../../src/exports/x-token.js';
import { fuzzParameters, hostileString, mutated, scaledRuns } from '../helpers/fuzz.js';
import { encryptSnapshotIndependently } from '../helpers/risc.js';

/**
 * Property-based tests of every parser and verifier that reads outside input. Each property says
 * what must hold for ANY input: the answer is a result or the documented typed error, never a
 * crash, and nothing mutated or random is ever accepted as genuine.
 */
const params = fuzzParameters();

/** Runs `action`; answers the error it threw, or undefined when it succeeded. */
async function outcome<T>(action: () => Promise<T> | T): Promise<{ value?: T; error?: unknown }> {
  try {
    return { value: await action() };
  } catch (error) {
    return { error };
  }
}

describe(`fuzzing parsers and verifiers (fast-check, ${params.numRuns} runs, seed ${params.seed})`, function () {
  this.timeout(120_000);

  describe('Basic header (parseBasicAuthorization)', () => {
    it('any header value: credentials, undefined, or a 400 missing_credentials, never another error', () =>
      fc.assert(
        fc.property(
          fc.oneof(
            hostileString(),
            hostileString(64).map((s) => `Basic ${s}`),
            hostileString(64).map((s) => `Basic ${Buffer.from(s, 'utf8').toString('base64')}`),
          ),
          (header) => {
            try {
              const parsed = parseBasicAuthorization(header);
              if (parsed) {
                expect(parsed.username).to.be.a('string').and.not.equal('');
                expect(parsed.username).to.not.include(':');
              }
            } catch (err) {
              expect(err).to.be.instanceOf(AuthenticationFailure);
              expect(err).to.include({ code: 'missing_credentials', status: 400 });
            }
          },
        ),
        params,
      ));

    it('round trip: any user-id without a colon or controls and any password come back as sent (NFC)', () =>
      fc.assert(
        fc.property(
          fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme' }).filter((u) => !/[:\p{Cc}]/u.test(u)),
          fc.string({ maxLength: 64, unit: 'grapheme' }).filter((p) => !/\p{Cc}/u.test(p)),
          (username, password) => {
            const header = `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
            expect(parseBasicAuthorization(header)).to.deep.equal({
              username: username.normalize('NFC'),
              password: password.normalize('NFC'),
            });
          },
        ),
        params,
      ));
  });

  describe('X-Tokens (XTokenManager.verify)', () => {
    let manager: XTokenManager;
    let genuine: string;
    before(async () => {
      manager = new XTokenManager({ secret: randomBytes(32), store: new MemoryStore() });
      genuine = (await manager.issue('user-1')).token;
    });

    it('random strings are refused as invalid_token (401)', () =>
      fc.assert(
        fc.asyncProperty(fc.oneof(hostileString(), fc.base64String({ maxLength: 400 })), async (token) => {
          const { error } = await outcome(() => manager.verify(token));
          expect(error).to.be.instanceOf(AuthenticationFailure);
          expect(error).to.include({ code: 'invalid_token', status: 401 });
        }),
        params,
      ));

    it('a mutated genuine token is refused, or decodes to exactly the genuine claims', () =>
      fc.assert(
        fc.asyncProperty(mutated(genuine), async (token) => {
          const original = await manager.verify(genuine);
          const { value, error } = await outcome(() => manager.verify(token));
          // base64url has spare bits in its last character: a change there decodes to the same bytes.
          if (value) expect(value).to.deep.equal(original);
          else expect(error).to.be.instanceOf(AuthenticationFailure).and.include({ code: 'invalid_token' });
        }),
        params,
      ));
  });

  describe('SecSign answers (parseSecSignResponse, and the client over HTTP)', () => {
    let server: Server;
    let nextBody = '';
    let client: SecSignClient;
    before(async () => {
      server = createServer((_req, res) =>
        res.writeHead(200, { 'content-type': 'text/plain' }).end(nextBody),
      );
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      client = new SecSignClient({ serverUrls: [`http://127.0.0.1:${port}`], timeoutMs: 2000 });
    });
    after(async () => {
      await client.close();
      server.close();
    });

    it('any body parses to fields or throws a VendorError, never another error', () =>
      fc.assert(
        fc.property(hostileString(), (body) => {
          try {
            const fields = parseSecSignResponse(body);
            for (const [key, value] of Object.entries(fields)) {
              expect(key).to.not.equal('');
              expect(value).to.be.a('string');
            }
          } catch (err) {
            expect(err).to.be.instanceOf(VendorError);
          }
        }),
        params,
      ));

    it('any body as the state answer: a known SecSign state or a VendorError; AUTHENTICATED only when it says 3', () =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(
            hostileString(200),
            fc
              .record({
                secsignid: fc.constantFrom('alice', 'mallory', ''),
                authsessionid: fc.constantFrom('sess-1', 'sess-2', ''),
                authsessionstate: fc.oneof(fc.integer({ min: -5, max: 20 }).map(String), hostileString(8)),
              })
              .map((f) =>
                Object.entries(f)
                  .map(([k, v]) => `${k}=${v}`)
                  .join('&'),
              ),
          ),
          async (body) => {
            nextBody = body;
            const { value, error } = await outcome(() =>
              client.getAuthSessionState({ secsignId: 'alice', authSessionId: 'sess-1', requestId: 'req-1' }),
            );
            if (error !== undefined) return void expect(error).to.be.instanceOf(VendorError);
            expect(Object.values(SecSignState)).to.include(value);
            if (value === SecSignState.AUTHENTICATED) {
              const fields = parseSecSignResponse(body);
              expect(fields.authsessionstate).to.equal('3');
              expect(fields.authsessionid).to.equal('sess-1');
            }
          },
        ),
        scaledRuns(params, 2),
      ));

    it('normalizeSecSignId: any input is an ID SecSign’s answer format can carry, or a TypeError (found by HTTP fuzzing)', () =>
      fc.assert(
        fc.property(fc.oneof(fc.anything(), hostileString(300), fc.constant('a&b')), (input) => {
          try {
            const id = normalizeSecSignId(input);
            // eslint-disable-next-line no-control-regex
            expect(id).to.not.match(/[&\u0000-\u001f\u007f]/);
            expect(id).to.equal(id.trim().toLowerCase());
            // Echoed unencoded by SecSign, it parses back to itself.
            expect(parseSecSignResponse(`secsignid=${id}&authsessionstate=1`).secsignid).to.equal(id);
          } catch (err) {
            expect(err).to.be.instanceOf(TypeError);
          }
        }),
        params,
      ));

    it('decideSecSignState: only AUTHENTICATED within the age limit logs in', () =>
      fc.assert(
        fc.property(
          fc.constantFrom(...Object.values(SecSignState)),
          fc.integer({ min: -1000, max: 10_000_000 }),
          fc.integer({ min: 1, max: 1_000_000 }),
          (state, age, maxAge) => {
            const decision = decideSecSignState(state, age, maxAge);
            expect(decision.outcome === 'authenticated').to.equal(
              state === SecSignState.AUTHENTICATED && age <= maxAge,
            );
          },
        ),
        params,
      ));
  });

  describe('RISC snapshots (decryptRiscSnapshot)', () => {
    const secret = randomBytes(32).toString('hex');
    const genuineResult = () => ({
      snapshot_id: randomUUID(),
      browser_id: 'b1',
      user_id: 'u1',
      date: new Date().toISOString(),
      score: 12,
      status: 'passed',
    });

    it('any snapshot value: a result or a 401 AuthenticationFailure, never another error', () =>
      fc.assert(
        fc.property(
          fc.oneof(
            hostileString(),
            fc.anything(),
            fc
              .record({ ix: fc.anything(), iv: fc.anything(), data: fc.anything() })
              .map((o) => JSON.stringify(o)),
            hostileString(300).map((plaintext) => encryptSnapshotIndependently(plaintext, secret)),
          ),
          (snapshot) => {
            try {
              const result = decryptRiscSnapshot(snapshot, secret);
              expect(result.user_id).to.be.a('string');
            } catch (err) {
              expect(err).to.be.instanceOf(AuthenticationFailure);
              expect((err as AuthenticationFailure).status).to.equal(401);
            }
          },
        ),
        params,
      ));

    it('a mutated genuine snapshot is refused, or decrypts to fields of the right types (validate decides)', () => {
      const genuine = encryptSnapshotIndependently(JSON.stringify(genuineResult()), secret);
      return fc.assert(
        fc.property(mutated(genuine), (snapshot) => {
          try {
            const result = decryptRiscSnapshot(snapshot, secret);
            expect(result.score).to.be.a('number');
            expect(['passed', 'risky', 'failed']).to.include(result.status);
          } catch (err) {
            expect(err).to.be.instanceOf(AuthenticationFailure);
          }
        }),
        params,
      );
    });
  });

  describe('id_tokens (IdTokenVerifier), random and mutated compact JWS and JWE', () => {
    const issuer = 'https://xign.example.test';
    const clientId = 'rp-fuzz';
    const nonce = 'n-0S6_WzA2Mj';
    let verifier: IdTokenVerifier;
    let plainVerifier: IdTokenVerifier;
    let jws: string;
    let jwe: string;

    before(async () => {
      const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const encryption = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwks = createLocalJWKSet({
        keys: [{ ...(await exportJWK(signing.publicKey)), kid: 'sig-1', alg: 'ES256', use: 'sig' }],
      });
      jws = await new SignJWT({ nonce })
        .setProtectedHeader({ alg: 'ES256', kid: 'sig-1' })
        .setIssuer(issuer)
        .setAudience(clientId)
        .setSubject('xign-7f3a1c')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(signing.privateKey);
      jwe = await new CompactEncrypt(new TextEncoder().encode(jws))
        .setProtectedHeader({ alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512', cty: 'JWT', kid: 'enc-1' })
        .encrypt(encryption.publicKey);
      plainVerifier = new IdTokenVerifier({ issuer, clientId, jwks });
      verifier = new IdTokenVerifier({
        issuer,
        clientId,
        jwks,
        encryption: { alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512' },
        decryptionKeys: [{ kid: 'enc-1', key: encryption.privateKey }],
      });
    });

    const refusedOrGenuine = async (target: () => IdTokenVerifier, token: unknown) => {
      const { value, error } = await outcome(() => target().verify(token, { nonce }));
      if (value) {
        expect(value).to.include({ sub: 'xign-7f3a1c', iss: issuer, nonce });
        return;
      }
      expect(error).to.be.instanceOf(AuthenticationFailure);
      expect(error).to.include({ code: 'invalid_token', status: 401 });
    };

    it('random values and random five- and three-part compact strings are refused as invalid_token', () =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(
            fc.anything(),
            hostileString(),
            fc
              .array(fc.base64String({ maxLength: 80 }), { minLength: 3, maxLength: 5 })
              .map((p) => p.join('.')),
          ),
          async (token) => {
            const { error } = await outcome(() => verifier.verify(token, { nonce }));
            expect(error).to.be.instanceOf(AuthenticationFailure).and.include({ code: 'invalid_token' });
            const plain = await outcome(() => plainVerifier.verify(token, { nonce }));
            expect(plain.error)
              .to.be.instanceOf(AuthenticationFailure)
              .and.include({ code: 'invalid_token' });
          },
        ),
        params,
      ));

    it('the genuine tokens verify (so the properties below are not vacuous)', async () => {
      expect(await verifier.verify(jwe, { nonce })).to.include({ sub: 'xign-7f3a1c' });
      expect(await plainVerifier.verify(jws, { nonce })).to.include({ sub: 'xign-7f3a1c' });
    });

    it('a mutated genuine JWE is refused, or decrypts to exactly the genuine claims', () =>
      fc.assert(
        fc.asyncProperty(mutated(jwe), (token) => refusedOrGenuine(() => verifier, token)),
        scaledRuns(params, 2),
      ));

    it('a mutated genuine JWS is refused, or verifies to exactly the genuine claims', () =>
      fc.assert(
        fc.asyncProperty(mutated(jws), (token) => refusedOrGenuine(() => plainVerifier, token)),
        params,
      ));

    it('segments of the JWE swapped or dropped are refused', () =>
      fc.assert(
        fc.asyncProperty(
          fc.shuffledSubarray(jwe.split('.'), { minLength: 1, maxLength: 5 }),
          async (segments) => {
            const token = segments.join('.');
            if (token === jwe) return;
            await refusedOrGenuine(() => verifier, token);
          },
        ),
        params,
      ));
  });

  describe('one-time codes (OneTimeCodes.redeem)', () => {
    it('any submitted string: only the issued code in the issuing session succeeds, and only once', () =>
      fc.assert(
        fc.asyncProperty(
          fc.oneof(
            hostileString(40),
            fc.stringMatching(/^\d{1,12}$/),
            fc.constantFrom(' 1 2 3 4 5 6 ', '１２３４５６'),
          ),
          fc.constantFrom('session-a', 'session-b'),
          async (submitted, binding) => {
            const codes = new OneTimeCodes({
              secret: randomBytes(32),
              store: new MemoryStore(),
              namespace: 'fuzz',
            });
            const issued = await codes.issue('u1', 'session-a');
            const { error } = await outcome(() => codes.redeem('u1', binding, submitted));
            const genuine = binding === 'session-a' && submitted.replace(/\s+/g, '') === issued.code;
            if (genuine) {
              expect(error).to.equal(undefined);
              const again = await outcome(() => codes.redeem('u1', binding, submitted));
              expect(again.error).to.be.instanceOf(AuthenticationFailure);
            } else {
              // Another session has no pending code of its own: codes are keyed by user and session.
              expect(error)
                .to.be.instanceOf(AuthenticationFailure)
                .and.include({
                  code: binding === 'session-a' ? 'invalid_code' : 'no_pending_challenge',
                  status: 401,
                });
            }
          },
        ),
        params,
      ));

    it('the issued code, submitted from the issuing session, succeeds (the property above is not vacuous)', async () => {
      const codes = new OneTimeCodes({
        secret: randomBytes(32),
        store: new MemoryStore(),
        namespace: 'fuzz',
      });
      const issued = await codes.issue('u1', 'session-a');
      await codes.redeem('u1', 'session-a', issued.code);
    });
  });

  describe('phone numbers (normalizeSmsNumber)', () => {
    it('any input: an E.164 mobile number or an InvalidPhoneNumberError, never another error', () =>
      fc.assert(
        fc.property(
          fc.oneof(
            fc.anything(),
            hostileString(40),
            fc.stringMatching(/^\+?[\d ()./-]{0,20}$/),
            fc.stringMatching(/^\+49 ?15\d{8,9}$/),
          ),
          (input) => {
            try {
              const e164 = normalizeSmsNumber(input);
              expect(e164).to.match(/^\+[1-9]\d{6,14}$/);
              // Normalising is idempotent: the answer is its own normal form.
              expect(normalizeSmsNumber(e164)).to.equal(e164);
            } catch (err) {
              expect(err).to.be.instanceOf(InvalidPhoneNumberError);
            }
          },
        ),
        params,
      ));
  });
});

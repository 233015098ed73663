import { webcrypto } from 'node:crypto';
import { expect } from 'chai';
import { exportJWK, type JWK } from 'jose';
import * as oidc from 'openid-client';
import request from 'supertest';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

/**
 * A certified relying party (openid-client v6) completes the code flow against the sandbox
 * XignIn manager, with id_tokens encrypted to the client (JWE) around a signed JWS, in both
 * shapes a code arrives in: the redirect to `redirect_uri?code=…&state=…`, and the JS-login
 * page's `onAuthentication(code)` (no state, no nonce, no PKCE).
 */
describe('interop: openid-client (certified RP) against the sandbox XignIn manager', function () {
  this.timeout(15_000);
  const SECRET = 'interop-client-secret-0123456789abcdef';
  const REDIRECT = 'http://rp.example.test/callback';
  let sandbox: Sandbox;

  const RPS = [
    {
      clientId: 'rp-interop-rsa',
      sig: 'RS256' as const,
      alg: 'RSA-OAEP-256' as const,
      enc: 'A256CBC-HS512' as const,
      generate: () =>
        webcrypto.subtle.generateKey(
          {
            name: 'RSA-OAEP',
            modulusLength: 2048,
            publicExponent: new Uint8Array([1, 0, 1]),
            hash: 'SHA-256',
          },
          true,
          ['decrypt', 'encrypt'],
        ),
    },
    {
      clientId: 'rp-interop-ec',
      sig: 'ES256' as const,
      alg: 'ECDH-ES+A256KW' as const,
      enc: 'A256CBC-HS512' as const,
      generate: () =>
        webcrypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']),
    },
  ];
  const keys = new Map<string, webcrypto.CryptoKey>();

  before(async () => {
    sandbox = await startSandbox();
    for (const rp of RPS) {
      const pair = (await rp.generate()) as webcrypto.CryptoKeyPair;
      keys.set(rp.clientId, pair.privateKey);
      const jwk: JWK = {
        ...(await exportJWK(pair.publicKey)),
        kid: `${rp.clientId}-enc`,
        use: 'enc',
        alg: rp.alg,
      };
      sandbox.xignin.registerClient({
        clientId: rp.clientId,
        clientSecret: SECRET,
        redirectUris: [REDIRECT],
        idTokenSignedResponseAlg: rp.sig,
        idTokenEncryptedResponseAlg: rp.alg,
        idTokenEncryptedResponseEnc: rp.enc,
        jwks: [jwk],
      });
    }
  });
  after(() => sandbox.close());

  async function configFor(rp: (typeof RPS)[number]): Promise<oidc.Configuration> {
    const config = await oidc.discovery(
      new URL(sandbox.xignin.issuer),
      rp.clientId,
      { id_token_signed_response_alg: rp.sig },
      oidc.ClientSecretBasic(SECRET),
      { execute: [oidc.allowInsecureRequests] }, // the sandbox is plain HTTP on loopback
    );
    oidc.enableDecryptingResponses(config, [rp.enc], {
      key: keys.get(rp.clientId)!,
      alg: rp.alg,
      kid: `${rp.clientId}-enc`,
    });
    return config;
  }

  /** The id_token the token endpoint answered was a JWE (5 parts), not a bare JWS. */
  function expectEncrypted(tokens: oidc.TokenEndpointResponse): void {
    expect(tokens.id_token!.split('.'), 'a compact JWE').to.have.length(5);
  }

  for (const rp of RPS) {
    it(`redirect shape: code + state, PKCE S256 and nonce; ${rp.alg} / ${rp.enc} around ${rp.sig}`, async () => {
      const config = await configFor(rp);
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const nonce = oidc.randomNonce();
      const authorize = oidc.buildAuthorizationUrl(config, {
        redirect_uri: REDIRECT,
        scope: 'openid',
        state,
        nonce,
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const page = await request(sandbox.url).get(`${authorize.pathname}${authorize.search}`);
      expect(page.status).to.equal(200);
      const loginId = /data-login="([^"]+)"/.exec(page.text)![1]!;
      sandbox.xignin.approve('alice', loginId);
      const wait = await request(sandbox.url).get(`/xignin/openid/authenticate/wait?login=${loginId}`);
      const callback = new URL(wait.body.redirect as string);
      expect(callback.searchParams.get('state')).to.equal(state);

      const tokens = await oidc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: verifier,
        expectedState: state,
        expectedNonce: nonce,
        idTokenExpected: true,
      });
      expectEncrypted(tokens);
      const claims = tokens.claims()!;
      expect(claims).to.include({ sub: sandbox.xignin.users.alice!.sub, aud: rp.clientId, nonce });
      expect(claims.iss).to.equal(sandbox.xignin.issuer);
    });

    it(`JS-login shape: onAuthentication(code), no state, nonce or PKCE; ${rp.alg} around ${rp.sig}`, async () => {
      const config = await configFor(rp);
      const qr = await request(sandbox.url)
        .post('/xignin/api/rp/qrcode')
        .send({ clientId: rp.clientId, redirectUri: REDIRECT });
      expect(qr.status, JSON.stringify(qr.body)).to.equal(200);
      sandbox.xignin.approve('alice', qr.body.loginId);
      const answer = await request(sandbox.url).get(`/xignin/api/rp/auth-response?login=${qr.body.loginId}`);
      expect(answer.body.status).to.equal('authenticated');
      // The page posts the code to the app, which redeems it at the redirect URI it registered.
      const tokens = await oidc.authorizationCodeGrant(
        config,
        new URL(`${REDIRECT}?code=${answer.body.code}`),
        {
          idTokenExpected: true,
        },
      );
      expectEncrypted(tokens);
      expect(tokens.claims()).to.include({ sub: sandbox.xignin.users.alice!.sub, aud: rp.clientId });
    });
  }
});

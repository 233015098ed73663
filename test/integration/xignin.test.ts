import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { expect } from 'chai';
import type { Express } from 'express';
import { exportJWK } from 'jose';
import sinon from 'sinon';
import request from 'supertest';
import { XignInStrategy } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { type XignInStrategyOptions, xignInHandlers } from '../../src/exports/xignin.js';
import {
  startSandbox,
  type Sandbox,
  type XignInClientRegistration,
  type XignInIdTokenFault,
} from '../../src/sandbox/index.js';
import { appWithPassport, decidingRoute, jsonErrors } from '../helpers/apps.js';

const REDIRECT = 'http://rp.example.test/callback';
const SECRET = 'sëcret:with/odd&chars=';

type Options = Partial<Omit<XignInStrategyOptions, 'passReqToCallback'>>;
type Agent = ReturnType<typeof request.agent>;

interface Rp {
  app: Express;
  strategy: XignInStrategy;
}

describe('XignInStrategy over HTTP against the sandbox manager', function () {
  let sandbox: Sandbox;
  let rsaEnc: { publicKey: KeyObject; privateKey: KeyObject };
  let ecEnc: { publicKey: KeyObject; privateKey: KeyObject };
  let assertion: { publicKey: KeyObject; privateKey: KeyObject };
  const strategies: XignInStrategy[] = [];

  before(async () => {
    sandbox = await startSandbox();
    rsaEnc = generateKeyPairSync('rsa', { modulusLength: 2048 });
    ecEnc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assertion = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const base = { clientSecret: SECRET, redirectUris: [REDIRECT] };
    const clients: XignInClientRegistration[] = [
      { clientId: 'rp-es256', ...base },
      { clientId: 'rp-rs256', ...base, idTokenSignedResponseAlg: 'RS256' },
      { clientId: 'rp-post', ...base, tokenEndpointAuthMethod: 'client_secret_post' },
      {
        clientId: 'rp-pkjwt',
        redirectUris: [REDIRECT],
        tokenEndpointAuthMethod: 'private_key_jwt',
        jwks: [{ ...(await exportJWK(assertion.publicKey)), alg: 'ES256', use: 'sig' }],
      },
      {
        clientId: 'rp-enc-rsa',
        ...base,
        idTokenEncryptedResponseAlg: 'RSA-OAEP',
        jwks: [{ ...(await exportJWK(rsaEnc.publicKey)), kid: 'enc-rsa', use: 'enc' }],
      },
      {
        clientId: 'rp-enc-ec',
        ...base,
        idTokenEncryptedResponseAlg: 'ECDH-ES+A256KW',
        jwks: [{ ...(await exportJWK(ecEnc.publicKey)), kid: 'enc-ec', use: 'enc' }],
      },
    ];
    for (const client of clients) sandbox.xignin.registerClient(client);
  });
  beforeEach(() => {
    sandbox.xignin.faults = {};
  });
  after(async () => {
    await Promise.all(strategies.map((s) => s.client.close()));
    await sandbox.close();
  });

  function rp(options: Options = {}): Rp {
    const { app, passport } = appWithPassport();
    const strategy = new XignInStrategy(
      {
        managerUrl: sandbox.xignin.issuer,
        clientId: 'rp-es256',
        clientSecret: SECRET,
        redirectUri: REDIRECT,
        store: new MemoryStore(),
        ...options,
      },
      (claims) => ({ id: `user-${claims.sub}`, email: claims.email }),
    );
    strategies.push(strategy);
    passport.use(strategy);
    app.get('/login', passport.authenticate('xignin'));
    app.get('/callback', decidingRoute(passport, 'xignin'));
    app.post('/callback', decidingRoute(passport, 'xignin'));
    app.get('/js-config', xignInHandlers(strategy, { passport }).jsLoginConfig);
    app.post('/push', xignInHandlers(strategy, { passport }).push);
    app.get('/push/status', xignInHandlers(strategy, { passport }).pushStatus);
    app.use(jsonErrors);
    return { app, strategy };
  }

  /** Starts a redirect login: answers the authorize URL's parameters. */
  async function startLogin(agent: Agent): Promise<URLSearchParams> {
    const res = await agent.get('/login');
    expect(res.status, 'redirect to XignIn').to.equal(302);
    const url = new URL(res.headers.location!);
    expect(`${url.origin}${url.pathname}`).to.equal(`${sandbox.xignin.issuer}/openid/authenticate`);
    return url.searchParams;
  }

  /** The browser at XignIn: the QR page opens, the phone answers, XignIn names the callback URL. */
  async function atXignIn(params: URLSearchParams, answer: (loginId: string) => void): Promise<URL> {
    const page = await request(sandbox.url).get(`/xignin/openid/authenticate?${params}`);
    expect(page.status, page.text).to.equal(200);
    const loginId = /data-login="([^"]+)"/.exec(page.text)![1]!;
    answer(loginId);
    const wait = await request(sandbox.url).get(`/xignin/openid/authenticate/wait?login=${loginId}`);
    return new URL(wait.body.redirect);
  }

  /** The whole redirect login, with `fault` set at XignIn; answers the callback's response. */
  async function redirectLogin(target: Rp, fault?: XignInIdTokenFault, agent = request.agent(target.app)) {
    const params = await startLogin(agent);
    const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
    if (fault) sandbox.xignin.faults = { idToken: fault };
    return agent.get(`/callback${callback.search}`);
  }

  const accepted = (res: request.Response) => {
    expect(res.status, JSON.stringify(res.body)).to.equal(200);
    expect(res.body.user).to.deep.include({ id: 'user-xign-7f3a1c', email: 'alice@example.test' });
    expect(res.body.info).to.include({ method: 'xignin', mode: 'redirect', sub: 'xign-7f3a1c' });
  };
  const refused = (res: request.Response, code = 'invalid_token') => {
    expect(res.status, JSON.stringify(res.body)).to.equal(401);
    expect(res.body.code).to.equal(code);
    expect(res.body).to.not.have.property('user');
  };

  describe('signatures', () => {
    it('rp-id_token-sig-es256: a valid ES256 id_token is accepted', async () =>
      accepted(await redirectLogin(rp())));
    it('rp-id_token-sig-rs256: a valid RS256 id_token is accepted', async () =>
      accepted(await redirectLogin(rp({ clientId: 'rp-rs256' }))));
    it('rp-id_token-bad-sig-es256: a tampered ES256 signature is refused', async () =>
      refused(await redirectLogin(rp(), 'bad-signature')));
    it('rp-id_token-bad-sig-rs256: a tampered RS256 signature is refused', async () =>
      refused(await redirectLogin(rp({ clientId: 'rp-rs256' }), 'bad-signature')));
    it('rp-id_token-sig-none: alg "none" is refused', async () =>
      refused(await redirectLogin(rp(), 'alg-none')));
    it('J-HS: HS256 MAC’d with the provider’s public key is refused (algorithms pinned)', async () =>
      refused(await redirectLogin(rp({ clientId: 'rp-rs256' }), 'hs256-with-public-key')));
    it('rp-id_token-kid-absent-single-jwks: no kid, one key for the alg: accepted', async () =>
      accepted(await redirectLogin(rp(), 'no-kid')));

    it('rp-key-rotation-op-sign-key: an unknown kid refetches the JWKS (after the cooldown) and is accepted; refetches are rate-limited', async () => {
      const clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
      try {
        const target = rp({ jwksCooldownSec: 30 });
        accepted(await redirectLogin(target));
        const fetchesBefore = sandbox.xignin.hits['openid/jwks'] ?? 0;
        clock.tick(31_000);
        accepted(await redirectLogin(target, 'rotate-keys'));
        expect(sandbox.xignin.hits['openid/jwks']! - fetchesBefore, 'one refetch').to.equal(1);
        // Rotated again within the cooldown: no refetch, so the new key is not trusted yet.
        refused(await redirectLogin(target, 'rotate-keys'));
        expect(sandbox.xignin.hits['openid/jwks']! - fetchesBefore, 'still one').to.equal(1);
      } finally {
        clock.restore();
      }
    });

    it('fetches discovery and the JWKS once for many logins (one JWKS instance per strategy)', async () => {
      const target = rp();
      const before = { ...sandbox.xignin.hits };
      for (let i = 0; i < 3; i++) accepted(await redirectLogin(target));
      expect((sandbox.xignin.hits['openid/jwks'] ?? 0) - (before['openid/jwks'] ?? 0)).to.equal(1);
      expect(
        (sandbox.xignin.hits['.well-known/openid-configuration'] ?? 0) -
          (before['.well-known/openid-configuration'] ?? 0),
      ).to.equal(1);
    });

    it('J-JKU: jku, x5u and embedded jwk headers are ignored, and nothing is fetched from them', async () => {
      refused(await redirectLogin(rp(), 'foreign-key-headers'));
      expect(sandbox.xignin.hits['attacker/jwks'] ?? 0).to.equal(0);
      expect(sandbox.xignin.hits['attacker/cert'] ?? 0).to.equal(0);
    });
  });

  describe('encryption', () => {
    const encrypted = (
      clientId: string,
      key: () => KeyObject,
      alg: 'RSA-OAEP' | 'ECDH-ES+A256KW',
    ): Options => ({
      clientId,
      decryptionKeys: [{ kid: clientId === 'rp-enc-rsa' ? 'enc-rsa' : 'enc-ec', key: key() }],
      idTokenEncryption: { alg, enc: 'A256CBC-HS512' },
    });

    it('rp-id_token-sig+enc: a JWE (RSA-OAEP, A256CBC-HS512) around a JWS is decrypted, verified, accepted', async () =>
      accepted(await redirectLogin(rp(encrypted('rp-enc-rsa', () => rsaEnc.privateKey, 'RSA-OAEP')))));
    it('rp-id_token-sig+enc: a JWE (ECDH-ES+A256KW, A256CBC-HS512) around a JWS is accepted', async () =>
      accepted(await redirectLogin(rp(encrypted('rp-enc-ec', () => ecEnc.privateKey, 'ECDH-ES+A256KW')))));
    it('decryption keys can be PKCS#8 PEM strings', async () =>
      accepted(
        await redirectLogin(
          rp({
            ...encrypted('rp-enc-rsa', () => rsaEnc.privateKey, 'RSA-OAEP'),
            decryptionKeys: [rsaEnc.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string],
          }),
        ),
      ));
    it('O-UNENC: a plain JWS is refused when encryption is configured', async () =>
      refused(
        await redirectLogin(rp(encrypted('rp-enc-rsa', () => rsaEnc.privateKey, 'RSA-OAEP')), 'unencrypted'),
      ));
    it('O-RSA15: a JWE with RSA1_5 is refused', async () =>
      refused(
        await redirectLogin(rp(encrypted('rp-enc-rsa', () => rsaEnc.privateKey, 'RSA-OAEP')), 'rsa1_5'),
      ));
    it('J-ZIP: a compressed JWE is refused at once', async () => {
      const started = performance.now();
      refused(await redirectLogin(rp(encrypted('rp-enc-rsa', () => rsaEnc.privateKey, 'RSA-OAEP')), 'zip'));
      expect(performance.now() - started).to.be.below(2000);
    });
    it('J-P2C: PBES2 with a huge p2c is refused without deriving any key', async () => {
      const target = rp(encrypted('rp-enc-rsa', () => rsaEnc.privateKey, 'RSA-OAEP'));
      const agent = request.agent(target.app);
      const params = await startLogin(agent);
      const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
      sandbox.xignin.faults = { idToken: 'pbes2-huge-p2c' };
      const started = performance.now();
      refused(await agent.get(`/callback${callback.search}`));
      // Two billion PBKDF2 rounds would take hours; refusal is immediate.
      expect(performance.now() - started).to.be.below(1000);
    });
  });

  describe('claims (OIDC Core §3.1.3.7)', () => {
    const cases: Array<[string, XignInIdTokenFault]> = [
      ['rp-id_token-issuer-mismatch: a wrong iss', 'wrong-issuer'],
      ['rp-id_token-aud: a missing aud', 'missing-aud'],
      ['rp-id_token-aud: a wrong aud', 'wrong-audience'],
      ['rp-id_token-aud: an untrusted extra audience (with azp)', 'extra-audience'],
      ['rp-id_token-iat: a missing iat', 'missing-iat'],
      ['rp-id_token-sub: a missing sub', 'missing-sub'],
      ['O-EXP: an expired exp', 'expired'],
      ['O-EXP: an iat far in the past', 'iat-far-past'],
      ['O-EXP: an iat far in the future', 'iat-future'],
      ['rp-nonce-invalid: a wrong nonce', 'wrong-nonce'],
      ['rp-nonce-invalid: a missing nonce', 'missing-nonce'],
    ];
    for (const [title, fault] of cases) {
      it(`${title} is refused`, async () => refused(await redirectLogin(rp(), fault)));
    }

    it('rp-id_token-aud: an extra audience that is configured as trusted is accepted (azp = us)', async () =>
      accepted(await redirectLogin(rp({ trustedAudiences: ['untrusted-client'] }), 'extra-audience')));
  });

  describe('state, PKCE and errors at the callback', () => {
    it('O-PKCE: the authorize request carries an S256 challenge, state, nonce and scope=openid', async () => {
      const params = await startLogin(request.agent(rp().app));
      expect(Object.fromEntries(params)).to.include({
        response_type: 'code',
        client_id: 'rp-es256',
        redirect_uri: REDIRECT,
        scope: 'openid',
        code_challenge_method: 'S256',
      });
      expect(params.get('code_challenge')).to.match(/^[A-Za-z0-9_-]{43}$/);
      expect(params.get('state')).to.have.length.greaterThan(30);
      expect(params.get('nonce')).to.have.length.greaterThan(30);
    });

    it('O-PKCE: a code redeemed without the right verifier is refused by XignIn', async () => {
      const target = rp();
      const agent = request.agent(target.app);
      const params = await startLogin(agent);
      // Forge the challenge as an attacker who injects their own code would.
      params.set('code_challenge', createHash('sha256').update('attacker-verifier').digest('base64url'));
      const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
      refused(await agent.get(`/callback${callback.search}`), 'invalid_code');
    });

    it('O-STATE: a missing, a wrong and a replayed state are refused', async () => {
      const target = rp();
      const agent = request.agent(target.app);
      const params = await startLogin(agent);
      const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
      const code = callback.searchParams.get('code')!;
      refused(await agent.get(`/callback?code=${code}`), 'state_mismatch');
      refused(await agent.get(`/callback?code=${code}&state=forged`), 'state_mismatch');
      accepted(await agent.get(`/callback${callback.search}`));
      refused(await agent.get(`/callback${callback.search}`), 'state_mismatch');
    });

    it('O-STATE: a state started in another browser is refused (login CSRF)', async () => {
      const target = rp();
      const attacker = request.agent(target.app);
      const params = await startLogin(attacker);
      const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
      refused(await request.agent(target.app).get(`/callback${callback.search}`), 'state_mismatch');
    });

    it('two tabs log in at once: each transaction is kept by its own state', async () => {
      const target = rp();
      const agent = request.agent(target.app);
      const first = await startLogin(agent);
      const second = await startLogin(agent);
      const firstBack = await atXignIn(first, (id) => sandbox.xignin.approve('alice', id));
      const secondBack = await atXignIn(second, (id) => sandbox.xignin.approve('bob', id));
      const bob = await agent.get(`/callback${secondBack.search}`);
      expect(bob.body.info.sub).to.equal('xign-92be44');
      // Passport regenerated the session at bob's login; keepSessionInfo is not set here, so
      // the other tab must start again. See the keepSessionInfo test below.
      refused(await agent.get(`/callback${firstBack.search}`), 'state_mismatch');
    });

    it('with keepSessionInfo, the other tab’s transaction survives Passport’s session regeneration', async () => {
      const { app, passport } = appWithPassport();
      const strategy = new XignInStrategy(
        {
          managerUrl: sandbox.xignin.issuer,
          clientId: 'rp-es256',
          clientSecret: SECRET,
          redirectUri: REDIRECT,
        },
        (claims) => ({ id: claims.sub }),
      );
      strategies.push(strategy);
      passport.use(strategy);
      app.get('/login', passport.authenticate('xignin'));
      app.get('/callback', passport.authenticate('xignin', { keepSessionInfo: true }), (req, res) =>
        res.json({ user: req.user }),
      );
      const agent = request.agent(app);
      const first = await startLogin(agent);
      const second = await startLogin(agent);
      const firstBack = await atXignIn(first, (id) => sandbox.xignin.approve('alice', id));
      const secondBack = await atXignIn(second, (id) => sandbox.xignin.approve('bob', id));
      expect((await agent.get(`/callback${secondBack.search}`)).body.user).to.deep.equal({
        id: 'xign-92be44',
      });
      expect((await agent.get(`/callback${firstBack.search}`)).body.user).to.deep.equal({
        id: 'xign-7f3a1c',
      });
    });

    it('O-ERR: error=access_denied fails as denied', async () => {
      const agent = request.agent(rp().app);
      const params = await startLogin(agent);
      const callback = await atXignIn(params, (id) => sandbox.xignin.deny(id));
      expect(callback.searchParams.get('error')).to.equal('access_denied');
      const res = await agent.get(`/callback${callback.search}`);
      refused(res, 'denied');
      expect(res.body.providerError).to.equal('access_denied');
    });

    it('O-ERR: a script in error= is never reflected', async () => {
      const agent = request.agent(rp().app);
      const params = await startLogin(agent);
      sandbox.xignin.faults = { callbackError: '<script>alert(1)</script>' };
      const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
      const res = await agent.get(`/callback${callback.search}`);
      refused(res, 'denied');
      expect(res.text).to.not.include('<script>').and.not.include('alert(1)');
    });
  });

  describe('client authentication at the token endpoint', () => {
    it('client_secret_basic form-urlencodes id and secret before base64 (RFC 6749 §2.3.1)', async () =>
      accepted(await redirectLogin(rp({ tokenEndpointAuthMethod: 'client_secret_basic' }))));
    it('client_secret_post', async () =>
      accepted(
        await redirectLogin(rp({ clientId: 'rp-post', tokenEndpointAuthMethod: 'client_secret_post' })),
      ));
    it('private_key_jwt', async () =>
      accepted(
        await redirectLogin(
          rp({
            clientId: 'rp-pkjwt',
            clientSecret: undefined,
            tokenEndpointAuthMethod: 'private_key_jwt',
            clientAssertionKey: { key: assertion.privateKey, alg: 'ES256' },
          }),
        ),
      ));
    it('a wrong secret is a fault (502), not a login', async () => {
      const res = await redirectLogin(rp({ clientSecret: 'wrong' }));
      expect(res.status).to.equal(502);
      expect(res.body.code).to.equal('ERR_XIGNIN_INVALID_CLIENT');
    });
  });

  describe('discovery and userinfo', () => {
    it('a discovery document naming another issuer is refused: the login errors instead of redirecting', async () => {
      sandbox.xignin.faults = { discoveryIssuer: 'https://evil.example' };
      const res = await request(rp().app).get('/login');
      expect(res.status).to.equal(502);
      expect(res.body.code).to.equal('ERR_XIGNIN_ISSUER_MISMATCH');
      expect(res.headers).to.not.have.property('location');
    });

    it('fetchUserInfo adds userinfo whose sub matches; another sub is refused', async () => {
      const ok = await redirectLogin(rp({ fetchUserInfo: true }));
      accepted(ok);
      const target = rp({ fetchUserInfo: true });
      const agent = request.agent(target.app);
      const params = await startLogin(agent);
      const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
      sandbox.xignin.faults = { userinfoOtherSub: true };
      refused(await agent.get(`/callback${callback.search}`));
    });

    it('a token endpoint fault reaches the error handler and logs nobody in', async () => {
      const target = rp();
      const agent = request.agent(target.app);
      const params = await startLogin(agent);
      const callback = await atXignIn(params, (id) => sandbox.xignin.approve('alice', id));
      sandbox.xignin.faults = { tokenStatus: 503 };
      const res = await agent.get(`/callback${callback.search}`);
      expect(res.status).to.equal(502);
      expect(res.body).to.not.have.property('user');
    });
  });

  describe('QR login hijacking (issue 12, point 10)', () => {
    it('redirect mode: a code approved for a QR the attacker fetched with the public client id is refused in the attacker’s session', async () => {
      const attacker = request.agent(rp().app);
      // The attacker's session holds a state of its own, started on our site.
      const own = await startLogin(attacker);
      // The QR the victim approves comes straight from the manager, with only public parameters.
      const direct = new URLSearchParams({
        response_type: 'code',
        client_id: 'rp-es256',
        redirect_uri: REDIRECT,
        scope: 'openid',
        state: 'attacker-state',
        nonce: 'attacker-nonce',
      });
      const hijacked = await atXignIn(direct, (id) => sandbox.xignin.approve('alice', id));
      const code = hijacked.searchParams.get('code')!;
      refused(
        await attacker.get(`/callback?${new URLSearchParams({ code, state: 'attacker-state' })}`),
        'state_mismatch',
      );
      // With the session's own state swapped in, the id_token's nonce is not the one our server
      // chose for that state: refused, and the code is gone.
      const swapped = await atXignIn(direct, (id) => sandbox.xignin.approve('alice', id));
      const res = await attacker.get(
        `/callback?${new URLSearchParams({ code: swapped.searchParams.get('code')!, state: own.get('state')! })}`,
      );
      refused(res, 'invalid_token');
    });
  });

  describe('JS-login mode (the manager’s QR script posts the code)', () => {
    async function qrCode(answer: (id: string) => void): Promise<string> {
      const created = await request(sandbox.url)
        .post('/xignin/api/rp/qrcode')
        .send({ clientId: 'rp-es256', redirectUri: REDIRECT });
      answer(created.body.loginId);
      const result = await request(sandbox.url).get(
        `/xignin/api/rp/auth-response?login=${created.body.loginId}`,
      );
      return result.body.code as string;
    }

    it('a posted code with the page’s token logs in', async () => {
      const agent = request.agent(rp().app);
      const config = (await agent.get('/js-config')).body;
      expect(config).to.include({
        managerUri: sandbox.xignin.issuer,
        clientId: 'rp-es256',
        redirectUri: REDIRECT,
        mode: 'PULL_TOKEN',
        tokenField: '_xignin',
      });
      const code = await qrCode((id) => sandbox.xignin.approve('alice', id));
      const res = await agent.post('/callback').send({ code, _xignin: config.token });
      expect(res.status).to.equal(200);
      expect(res.body.info).to.include({ mode: 'js', sub: 'xign-7f3a1c' });
    });

    it('a posted code without the page’s token (a cross-site post) is refused before redemption', async () => {
      const agent = request.agent(rp().app);
      await agent.get('/js-config');
      const code = await qrCode((id) => sandbox.xignin.approve('alice', id));
      refused(await agent.post('/callback').send({ code }), 'state_mismatch');
      refused(await agent.post('/callback').send({ code, _xignin: 'guess' }), 'state_mismatch');
    });
  });

  describe('push login', () => {
    it('push → the phone approves → pushStatus says authenticated → authenticate verifies the id_token', async () => {
      const agent = request.agent(rp().app);
      expect((await agent.post('/push').send({ identifier: 'alice@example.test' })).status).to.equal(202);
      expect((await agent.get('/push/status')).body).to.deep.equal({ state: 'pending' });
      sandbox.xignin.approve('alice');
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await agent.get('/push/status')).body).to.deep.equal({ state: 'authenticated' });
      const res = await agent.post('/callback').send({ push: 1 });
      expect(res.status).to.equal(200);
      expect(res.body.info).to.include({ mode: 'push', sub: 'xign-7f3a1c' });
      refused(await agent.post('/callback').send({ push: 1 }), 'no_pending_challenge');
    });

    it('a denied push is reported, and cannot complete', async () => {
      const agent = request.agent(rp().app);
      await agent.post('/push').send({ identifier: 'bob@example.test' });
      sandbox.xignin.deny();
      expect((await agent.get('/push/status')).body).to.deep.equal({ state: 'denied' });
      refused(await agent.post('/callback').send({ push: 1 }), 'no_pending_challenge');
    });

    it('pushes per identifier are limited (429)', async () => {
      const agent = request.agent(rp({ maxPushesPerIdentifier: 2 }).app);
      await agent.post('/push').send({ identifier: 'carol@example.test' });
      await agent.post('/push').send({ identifier: 'carol@example.test' });
      const res = await agent.post('/push').send({ identifier: 'CAROL@example.test' });
      expect(res.status).to.equal(429);
    });

    it('pushes are limited per resolved user: alice by e-mail and by sub shares one budget (the 6th is 429)', async () => {
      const { users } = sandbox.xignin;
      const resolvePushUser = (identifier: string, type: 'EMAIL' | 'SUB') =>
        Object.entries(users).find(([, u]) => (type === 'SUB' ? u.sub : u.email) === identifier)?.[0];
      const agent = request.agent(rp({ resolvePushUser }).app);
      const push = (identifier: string, type: 'EMAIL' | 'SUB') =>
        agent.post('/push').send({ identifier, type });
      const statuses = [];
      for (const [identifier, type] of [
        ['alice@example.test', 'EMAIL'],
        ['xign-7f3a1c', 'SUB'],
        ['alice@example.test', 'EMAIL'],
        ['xign-7f3a1c', 'SUB'],
        ['alice@example.test', 'EMAIL'],
        ['xign-7f3a1c', 'SUB'],
      ] as const)
        statuses.push((await push(identifier, type)).status);
      expect(statuses).to.deep.equal([202, 202, 202, 202, 202, 429]);
      expect(
        (await push('bob@example.test', 'EMAIL')).status,
        'another user has a budget of their own',
      ).to.equal(202);
      expect(() => rp({ resolvePushUser: 'alice' as never })).to.throw(/resolvePushUser/);
    });
  });

  it('refuses configurations that cannot be safe', () => {
    const verify = () => false;
    const base = {
      managerUrl: 'https://xign.example',
      clientId: 'c',
      clientSecret: 's',
      redirectUri: REDIRECT,
    };
    expect(() => new XignInStrategy({ ...base, idTokenEncryption: { alg: 'RSA-OAEP' } }, verify)).to.throw(
      /decryptionKeys/,
    );
    expect(() => new XignInStrategy({ ...base, clientSecret: undefined }, verify)).to.throw(/clientSecret/);
    expect(() => new XignInStrategy({ ...base, redirectUri: undefined as never }, verify)).to.throw(
      /redirectUri/,
    );
  });
});

import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import type { SandboxOperation, WireFaults, SandboxRouter } from './faults.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, Response } from 'express';
import { express } from './peers.js';
import {
  CompactEncrypt,
  SignJWT,
  UnsecuredJWT,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  type CryptoKey,
  type JWK,
  type JWTPayload,
} from 'jose';
import { QRCode } from './peers.js';

/** A relying party registered at the sandbox manager. */
export interface XignInClientRegistration {
  clientId: string;
  clientSecret?: string;
  redirectUris: string[];
  /** Default `'client_secret_basic'`. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';
  /** The client's public keys: for `private_key_jwt`, and to encrypt id_tokens to. */
  jwks?: JWK[];
  /** Default `'ES256'`. */
  idTokenSignedResponseAlg?: 'ES256' | 'RS256';
  /** When set, id_tokens are encrypted to the client's matching public key. */
  idTokenEncryptedResponseAlg?: 'RSA-OAEP' | 'RSA-OAEP-256' | 'ECDH-ES' | 'ECDH-ES+A256KW';
  /** Default `'A256CBC-HS512'`. */
  idTokenEncryptedResponseEnc?: 'A256CBC-HS512' | 'A128CBC-HS256' | 'A256GCM';
}

/** What `newClient()` answers: spread it into `XignInStrategy`'s options. */
export interface XignInSandboxClient {
  managerUrl: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  /** The client's private key, to decrypt the id_tokens the sandbox encrypts to it. */
  decryptionKeys: Array<{ kid: string; key: KeyObject }>;
  idTokenEncryption: { alg: 'ECDH-ES+A256KW'; enc: 'A256CBC-HS512' };
}

/** One switch per row of the security table: the next id_tokens misbehave this way. */
export type XignInIdTokenFault =
  | 'bad-signature'
  | 'alg-none'
  | 'hs256-with-public-key'
  | 'wrong-issuer'
  | 'missing-aud'
  | 'wrong-audience'
  | 'extra-audience'
  | 'missing-iat'
  | 'missing-sub'
  | 'expired'
  | 'iat-far-past'
  | 'iat-future'
  | 'wrong-nonce'
  | 'missing-nonce'
  | 'no-kid'
  | 'rotate-keys'
  | 'unencrypted'
  | 'rsa1_5'
  | 'zip'
  | 'pbes2-huge-p2c'
  | 'foreign-key-headers';

export interface XignInFaults {
  idToken?: XignInIdTokenFault;
  /** Discovery does not announce the push endpoints (no source names keys for them). */
  discoveryOmitsPush?: boolean;
  /** Discovery answers this issuer instead of the real one. */
  discoveryIssuer?: string;
  /** The authorize step ends with `error=<this>` instead of a code (e.g. `'<script>alert(1)</script>'`). */
  callbackError?: string;
  /** The token endpoint answers this status. */
  tokenStatus?: number;
  /** Userinfo answers another `sub`. */
  userinfoOtherSub?: boolean;
  latencyMs?: number;
}

export interface XignInUser {
  sub: string;
  email: string;
  name: string;
}

export interface XignInPendingLogin {
  id: string;
  kind: 'qr' | 'push';
  clientId: string;
  /** For push logins: who it was sent to. */
  user?: string;
  /** For redirect logins: the authorize request's `prompt`, `login_hint` and `acr_values`, when sent. */
  prompt?: string;
  loginHint?: string;
  acrValues?: string[];
}

export interface XignInSandbox {
  /** The manager URL and issuer, e.g. `http://127.0.0.1:4000/xignin`. */
  readonly issuer: string;
  readonly users: Record<string, XignInUser>;
  faults: XignInFaults;
  /**
   * Mint each id_token when the phone approves, not when the token endpoint is called (default
   * false). A provider that signs ahead answers its token endpoint faster, so a benchmark measures
   * the relying party; `faults.idToken` then applies at approval.
   */
  mintAtApproval: boolean;
  /**
   * The authentication context classes discovery announces as `acr_values_supported` (default
   * none: XignIn documents no acr values, so discovery names none unless a test sets some).
   */
  acrValuesSupported: string[];
  registerClient(client: XignInClientRegistration): void;
  /**
   * Registers a client in one call: a random id and secret, `redirectUri`, and a fresh P-256 key
   * the sandbox encrypts id_tokens to (ECDH-ES+A256KW, A256CBC-HS512). Answers the strategy
   * options for it: `new XignInStrategy({ ...sandbox.xignin.newClient({ redirectUri }) }, verify)`.
   */
  newClient(options: { redirectUri: string }): XignInSandboxClient;
  /** Replaces both signing keys; tokens then name a kid the client has not seen. */
  rotateKeys(): Promise<void>;
  /** Logins waiting for the phone. */
  pendingLogins(): XignInPendingLogin[];
  /** The phone approves the newest pending login (or `loginId`) as `username`. */
  approve(username: string, loginId?: string): void;
  /** The phone denies the newest pending login (or `loginId`). */
  deny(loginId?: string): void;
  /** Requests seen per endpoint (e.g. `jwks`), to prove rate limits and that nothing else is fetched. */
  readonly hits: Record<string, number>;
}

interface Login {
  id: string;
  kind: 'qr' | 'push';
  clientId: string;
  redirectUri?: string;
  state?: string;
  nonce?: string;
  codeChallenge?: string;
  pushUser?: string;
  pushToken?: string;
  prompt?: string;
  loginHint?: string;
  acrValues?: string[];
  result?: { code: string } | { error: string } | { idToken: string };
  createdAt: number;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string | undefined;
  nonce: string | undefined;
  codeChallenge: string | undefined;
  sub: string;
  expiresAt: number;
  used: boolean;
  /** Minted at approval when `mintAtApproval` is on. */
  idToken?: Promise<string>;
}

interface SigningKey {
  kid: string;
  alg: 'ES256' | 'RS256';
  privateKey: CryptoKey;
  publicJwk: JWK;
}

const XIGNIN_OPERATIONS: Record<string, SandboxOperation | undefined> = {
  'GET /.well-known/openid-configuration': 'xignin.discovery',
  'GET /openid/jwks': 'xignin.jwks',
  'POST /openid/token': 'xignin.token',
  'GET /openid/user': 'xignin.userinfo',
  'POST /api/push/authenticate': 'xignin.push',
  'POST /api/push/authenticate/status': 'xignin.pushStatus',
};

/** An OpenID provider of our own with XignIn's paths, QR login, JS-login script and push API. */
/** The sandbox's authorize page, styled from a file so its CSP needs no 'unsafe-inline'. */
const AUTHORIZE_CSS = `body { font-family: system-ui, sans-serif; margin: 0; color: #1b1f24; background: #f6f7f9; }
main { max-width: 28rem; margin: 3rem auto; padding: 2rem; text-align: center; background: #fff;
  border-radius: 12px; box-shadow: 0 1px 4px rgb(0 0 0 / 12%); }
h1 { font-size: 1.5rem; margin-top: 0; }
img { display: block; margin: 1.5rem auto; }
a { color: #0b57d0; }
#xignin-status { font-weight: 600; }
`;

export async function createXignInSandbox(
  baseUrl: string,
  wire?: WireFaults,
): Promise<{ router: SandboxRouter; control: XignInSandbox }> {
  const issuer = `${baseUrl}/xignin`;
  const clients = new Map<string, XignInClientRegistration>();
  const logins = new Map<string, Login>();
  const codes = new Map<string, IssuedCode>();
  const accessTokens = new Map<string, string>();
  const hits: Record<string, number> = {};
  let keys = await newSigningKeys();
  const users: Record<string, XignInUser> = {
    alice: { sub: 'xign-7f3a1c', email: 'alice@example.test', name: 'Alice Example' },
    bob: { sub: 'xign-92be44', email: 'bob@example.test', name: 'Bob Example' },
  };

  const newest = (loginId?: string): Login => {
    const login = loginId ? logins.get(loginId) : [...logins.values()].filter((l) => !l.result).at(-1);
    if (!login || login.result) throw new Error('The XignIn sandbox has no pending login.');
    return login;
  };
  const finish = (login: Login, username: string | undefined) => {
    const user = username ? users[username] : undefined;
    if (!user) {
      login.result = { error: 'access_denied' };
      return;
    }
    if (login.kind === 'push') {
      void mintIdToken(login.clientId, user, undefined).then((idToken) => (login.result = { idToken }));
      return;
    }
    const code = randomBytes(24).toString('base64url');
    const idToken = control.mintAtApproval ? mintIdToken(login.clientId, user, login.nonce) : undefined;
    // Awaited at the token endpoint; a code never redeemed must not leave an unhandled rejection.
    idToken?.catch(() => undefined);
    codes.set(code, {
      clientId: login.clientId,
      redirectUri: login.redirectUri,
      nonce: login.nonce,
      codeChallenge: login.codeChallenge,
      sub: user.sub,
      expiresAt: Date.now() + 60_000,
      used: false,
      ...(idToken ? { idToken } : {}),
    });
    login.result = { code };
  };

  const control: XignInSandbox = {
    issuer,
    users,
    faults: {},
    mintAtApproval: false,
    acrValuesSupported: [],
    hits,
    registerClient: (client) => clients.set(client.clientId, client),
    newClient: ({ redirectUri }) => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const clientId = `sandbox-client-${randomBytes(6).toString('hex')}`;
      const clientSecret = randomBytes(24).toString('base64url');
      const kid = `${clientId}-enc`;
      clients.set(clientId, {
        clientId,
        clientSecret,
        redirectUris: [redirectUri],
        idTokenEncryptedResponseAlg: 'ECDH-ES+A256KW',
        jwks: [{ ...publicKey.export({ format: 'jwk' }), kid, use: 'enc' }],
      });
      return {
        managerUrl: issuer,
        clientId,
        clientSecret,
        redirectUri,
        decryptionKeys: [{ kid, key: privateKey }],
        idTokenEncryption: { alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512' },
      };
    },
    rotateKeys: async () => {
      keys = await newSigningKeys();
    },
    pendingLogins: () =>
      [...logins.values()]
        .filter((l) => !l.result)
        .map((l) => ({
          id: l.id,
          kind: l.kind,
          clientId: l.clientId,
          ...(l.pushUser ? { user: l.pushUser } : {}),
          ...(l.prompt ? { prompt: l.prompt } : {}),
          ...(l.loginHint ? { loginHint: l.loginHint } : {}),
          ...(l.acrValues ? { acrValues: l.acrValues } : {}),
        })),
    approve: (username, loginId) => finish(newest(loginId), username),
    deny: (loginId) => finish(newest(loginId), undefined),
  };

  async function mintIdToken(clientId: string, user: XignInUser, nonce: string | undefined): Promise<string> {
    const client = clients.get(clientId)!;
    const fault = control.faults.idToken;
    if (fault === 'rotate-keys') keys = await newSigningKeys();
    const now = Math.floor(Date.now() / 1000);
    const claims: JWTPayload = {
      iss: issuer,
      sub: user.sub,
      aud: clientId,
      iat: now,
      exp: now + 300,
      auth_time: now,
      email: user.email,
      name: user.name,
    };
    if (nonce !== undefined) claims.nonce = nonce;
    switch (fault) {
      case 'wrong-issuer':
        claims.iss = 'https://evil.example';
        break;
      case 'missing-aud':
        delete claims.aud;
        break;
      case 'wrong-audience':
        claims.aud = 'another-client';
        break;
      case 'extra-audience':
        claims.aud = [clientId, 'untrusted-client'];
        claims.azp = clientId;
        break;
      case 'missing-iat':
        delete claims.iat;
        break;
      case 'missing-sub':
        delete claims.sub;
        break;
      case 'expired':
        claims.iat = now - 900;
        claims.exp = now - 600;
        break;
      case 'iat-far-past':
        claims.iat = now - 86_400;
        break;
      case 'iat-future':
        claims.iat = now + 3600;
        claims.exp = now + 7200;
        break;
      case 'wrong-nonce':
        claims.nonce = 'not-the-nonce';
        break;
      case 'missing-nonce':
        delete claims.nonce;
        break;
      default:
        break;
    }
    const key = keys.find((k) => k.alg === (client.idTokenSignedResponseAlg ?? 'ES256'))!;
    let jws: string;
    if (fault === 'alg-none') {
      jws = new UnsecuredJWT(claims).encode();
    } else if (fault === 'hs256-with-public-key') {
      // The classic algorithm confusion: MAC with the provider's PUBLIC key as the secret.
      const rsa = keys.find((k) => k.alg === 'RS256')!;
      const pem = createPublicKey({
        key: rsa.publicJwk as JWK & Record<string, unknown>,
        format: 'jwk',
      }).export({ type: 'spki', format: 'pem' });
      jws = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256', kid: rsa.kid })
        .sign(Buffer.from(pem));
    } else if (fault === 'foreign-key-headers') {
      // Signed by a key the provider never published, pointing at where to "find" it.
      const attacker = await generateKeyPair('ES256', { extractable: true });
      jws = await new SignJWT(claims)
        .setProtectedHeader({
          alg: 'ES256',
          kid: 'attacker',
          jku: `${baseUrl}/attacker/jwks`,
          x5u: `${baseUrl}/attacker/cert`,
          jwk: await exportJWK(attacker.publicKey),
        })
        .sign(attacker.privateKey);
    } else {
      jws = await new SignJWT(claims)
        .setProtectedHeader({ alg: key.alg, typ: 'JWT', ...(fault === 'no-kid' ? {} : { kid: key.kid }) })
        .sign(key.privateKey);
      if (fault === 'bad-signature') jws = tamper(jws);
    }
    if (!client.idTokenEncryptedResponseAlg || fault === 'unencrypted') return jws;
    const alg = client.idTokenEncryptedResponseAlg;
    const encKeyJwk = (client.jwks ?? []).find(
      (k) => k.use === 'enc' || (alg.startsWith('RSA') ? k.kty === 'RSA' : k.kty === 'EC'),
    );
    if (!encKeyJwk) throw new Error(`Client ${clientId} has no public key to encrypt to.`);
    const encKey = await importJWK(encKeyJwk, alg);
    const header = {
      alg,
      enc: client.idTokenEncryptedResponseEnc ?? 'A256CBC-HS512',
      cty: 'JWT',
      ...(encKeyJwk.kid ? { kid: encKeyJwk.kid } : {}),
    };
    const jwe = await new CompactEncrypt(new TextEncoder().encode(jws))
      .setProtectedHeader(fault === 'zip' ? { ...header, zip: 'DEF' } : header)
      .encrypt(encKey);
    // Header rewrites stand for tokens jose will not make: the RP must refuse on the header alone.
    if (fault === 'rsa1_5') return withHeader(jwe, { ...header, alg: 'RSA1_5' });
    if (fault === 'pbes2-huge-p2c') {
      return withHeader(jwe, {
        alg: 'PBES2-HS512+A256KW',
        enc: header.enc,
        p2c: 2_000_000_000,
        p2s: randomBytes(16).toString('base64url'),
      });
    }
    return jwe;
  }

  const router = express.Router();
  router.use(async (req, res, next) => {
    const name = req.path.split('/').filter(Boolean).join('/') || 'root';
    hits[name] = (hits[name] ?? 0) + 1;
    if (control.faults.latencyMs) await sleep(control.faults.latencyMs);
    const operation = XIGNIN_OPERATIONS[`${req.method} ${req.path}`];
    if (operation && wire?.serve(operation, req, res, 'application/json; charset=utf-8')) return;
    next();
  });

  router.get('/.well-known/openid-configuration', (_req, res) => {
    res.json({
      issuer: control.faults.discoveryIssuer ?? issuer,
      authorization_endpoint: `${issuer}/openid/authenticate`,
      token_endpoint: `${issuer}/openid/token`,
      jwks_uri: `${issuer}/openid/jwks`,
      userinfo_endpoint: `${issuer}/openid/user`,
      ...(control.faults.discoveryOmitsPush
        ? {}
        : {
            push_authentication_endpoint: `${issuer}/api/push/authenticate`,
            push_status_endpoint: `${issuer}/api/push/authenticate/status`,
          }),
      response_types_supported: ['code'],
      grant_types_supported: ['authorization_code'],
      subject_types_supported: ['pairwise'],
      scopes_supported: ['openid', 'email', 'profile'],
      code_challenge_methods_supported: ['S256'],
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
      id_token_encryption_alg_values_supported: ['RSA-OAEP', 'RSA-OAEP-256', 'ECDH-ES', 'ECDH-ES+A256KW'],
      id_token_encryption_enc_values_supported: ['A256CBC-HS512', 'A128CBC-HS256', 'A256GCM'],
      token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nonce', 'email', 'name'],
      ...(control.acrValuesSupported.length > 0 ? { acr_values_supported: control.acrValuesSupported } : {}),
    });
  });

  router.get('/openid/jwks', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json({ keys: keys.map((k) => ({ ...k.publicJwk, kid: k.kid, alg: k.alg, use: 'sig' })) });
  });

  // Authorization endpoint: the QR page. Bad client or redirect_uri never redirects.
  router.get('/openid/authenticate', async (req, res) => {
    const q = req.query as Record<string, string | undefined>;
    const client = q.client_id ? clients.get(q.client_id) : undefined;
    if (!client || !q.redirect_uri || !client.redirectUris.includes(q.redirect_uri)) {
      return res.status(400).type('text/plain').send('Unknown client_id or unregistered redirect_uri.');
    }
    const back = (params: Record<string, string>) =>
      `${q.redirect_uri}?${new URLSearchParams({ ...params, ...(q.state ? { state: q.state } : {}) })}`;
    if (q.response_type !== 'code') return res.redirect(303, back({ error: 'unsupported_response_type' }));
    if (!(q.scope ?? '').split(' ').includes('openid'))
      return res.redirect(303, back({ error: 'invalid_scope' }));
    if (q.code_challenge !== undefined && q.code_challenge_method !== 'S256')
      return res.redirect(303, back({ error: 'invalid_request' }));
    const login = newLogin('qr', client.clientId, {
      redirectUri: q.redirect_uri,
      state: q.state,
      nonce: q.nonce,
      codeChallenge: q.code_challenge,
      ...(q.prompt ? { prompt: q.prompt } : {}),
      ...(q.login_hint ? { loginHint: q.login_hint } : {}),
      ...(q.acr_values ? { acrValues: q.acr_values.split(' ') } : {}),
    });
    const qr = await QRCode.toDataURL(`xignin://login/${login.id}`, { margin: 1, width: 220 });
    // Everything the page uses comes from here (its style sheet and script) or is a data: URL
    // (the QR image, the icon): the policy holds with no console error.
    res.setHeader(
      'Content-Security-Policy',
      "default-src 'none'; img-src data:; style-src 'self'; script-src 'self'; connect-src 'self'",
    );
    res.type('html').send(`<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>XignIn login</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="${issuer}/css/authorize.css">
<main><h1>Log in with XignIn</h1>
<p>Scan this code with the XignIn app. In the sandbox, the app is the
<a href="${baseUrl}/phone" target="_blank" rel="noopener">phone page</a>: approve the login there.</p>
<img id="xignin-qr" alt="XignIn QR code for this login" src="${qr}" width="220" height="220">
<p id="xignin-status" role="status">Waiting for the phone…</p></main>
<script src="${issuer}/js/authorize-wait.js" data-login="${login.id}"></script></html>`);
  });

  router.get('/css/authorize.css', (_req, res) => {
    res.type('text/css').send(AUTHORIZE_CSS);
  });

  // The QR page polls here; the answer says where to send the browser once the phone decided.
  router.get('/openid/authenticate/wait', (req, res) => {
    const login = logins.get(String(req.query.login ?? ''));
    if (!login || login.kind !== 'qr') return res.status(404).json({ status: 'unknown' });
    if (!login.result) return res.json({ status: 'pending' });
    const error = control.faults.callbackError ?? ('error' in login.result ? login.result.error : undefined);
    const params = new URLSearchParams(error ? { error } : { code: (login.result as { code: string }).code });
    if (login.state) params.set('state', login.state);
    logins.delete(login.id);
    res.json({ status: 'done', redirect: `${login.redirectUri}?${params}` });
  });

  router.get('/js/authorize-wait.js', (_req, res) => {
    res.type('application/javascript').send(`(function () {
  var me = document.currentScript, login = me.getAttribute('data-login');
  function poll() {
    fetch(${JSON.stringify(issuer)} + '/openid/authenticate/wait?login=' + encodeURIComponent(login))
      .then(function (r) { return r.json(); })
      .then(function (a) {
        if (a.status !== 'done') return setTimeout(poll, 500);
        document.getElementById('xignin-status').textContent = 'The phone answered: taking you back…';
        location.assign(a.redirect);
      })
      .catch(function () { setTimeout(poll, 1000); });
  }
  poll();
})();`);
  });

  // The manager's QR login script, honouring the documented configuration.
  router.get('/js/xignqr-jslogin.umd.min.js', (_req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.type('application/javascript').send(JS_LOGIN_SCRIPT);
  });
  const cors = (res: Response) => res.setHeader('Access-Control-Allow-Origin', '*');
  router.options('/api/rp/{*rest}', (_req, res) => {
    cors(res);
    res.setHeader('Access-Control-Allow-Headers', 'content-type');
    res.status(204).end();
  });
  router.post('/api/rp/qrcode', express.json({ limit: '4kb' }), async (req, res) => {
    cors(res);
    const { clientId, redirectUri } = (req.body ?? {}) as { clientId?: string; redirectUri?: string };
    const client = clientId ? clients.get(clientId) : undefined;
    if (!client || !redirectUri || !client.redirectUris.includes(redirectUri))
      return res.status(400).json({ error: 'invalid_client' });
    const login = newLogin('qr', client.clientId, { redirectUri });
    res.json({
      loginId: login.id,
      qr: await QRCode.toDataURL(`xignin://login/${login.id}`, { margin: 1, width: 220 }),
    });
  });
  router.get('/api/rp/auth-response', (req, res) => {
    cors(res);
    const login = logins.get(String(req.query.login ?? ''));
    if (!login) return res.status(404).json({ status: 'unknown' });
    if (!login.result) return res.json({ status: 'pending' });
    logins.delete(login.id);
    res.json(
      'code' in login.result ? { status: 'authenticated', code: login.result.code } : { status: 'denied' },
    );
  });

  router.post('/openid/token', express.urlencoded({ extended: false, limit: '16kb' }), async (req, res) => {
    if (control.faults.tokenStatus)
      return res.status(control.faults.tokenStatus).json({ error: 'server_error' });
    if (!req.is('application/x-www-form-urlencoded'))
      return res.status(400).json({ error: 'invalid_request' });
    const body = req.body as Record<string, string | undefined>;
    const client = await authenticateClient(req, body);
    if (!client) return res.status(401).json({ error: 'invalid_client' });
    if (body.grant_type !== 'authorization_code')
      return res.status(400).json({ error: 'unsupported_grant_type' });
    const issued = body.code ? codes.get(body.code) : undefined;
    if (!issued || issued.used || issued.expiresAt < Date.now() || issued.clientId !== client.clientId) {
      if (issued) issued.used = true; // a replayed code burns it for good
      return res.status(400).json({ error: 'invalid_grant' });
    }
    issued.used = true;
    if (issued.redirectUri !== undefined && body.redirect_uri !== issued.redirectUri)
      return res.status(400).json({ error: 'invalid_grant' });
    if (issued.codeChallenge !== undefined) {
      const verifier = body.code_verifier ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (!safeEqual(challenge, issued.codeChallenge))
        return res.status(400).json({ error: 'invalid_grant' });
    }
    const user = Object.values(users).find((u) => u.sub === issued.sub)!;
    const accessToken = randomBytes(24).toString('base64url');
    accessTokens.set(accessToken, user.sub);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: 300,
      id_token: await (issued.idToken ?? mintIdToken(client.clientId, user, issued.nonce)),
    });
  });

  router.get('/openid/user', (req, res) => {
    const token = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    const sub = token ? accessTokens.get(token) : undefined;
    if (!sub) return res.status(401).json({ error: 'invalid_token' });
    const user = Object.values(users).find((u) => u.sub === sub)!;
    res.json({
      sub: control.faults.userinfoOtherSub ? 'xign-someone-else' : user.sub,
      email: user.email,
      name: user.name,
    });
  });

  // Push login (newer API): the RP authenticates with a Bearer JWT signed with its client secret.
  router.post('/api/push/authenticate', express.json({ limit: '4kb' }), async (req, res) => {
    const { type, identifier, clientId } = (req.body ?? {}) as Record<string, string | undefined>;
    const client = clientId ? clients.get(clientId) : undefined;
    const bearer = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (!client?.clientSecret || !bearer) return res.status(401).json({ error: 'invalid_client' });
    try {
      await jwtVerify(bearer, new TextEncoder().encode(client.clientSecret), {
        issuer: client.clientId,
        audience: issuer,
        algorithms: ['HS256'],
      });
    } catch {
      return res.status(401).json({ error: 'invalid_client' });
    }
    if ((type !== 'EMAIL' && type !== 'SUB') || !identifier)
      return res.status(400).json({ error: 'invalid_request' });
    const username = Object.entries(users).find(([, u]) =>
      type === 'EMAIL' ? u.email === identifier : u.sub === identifier,
    )?.[0];
    // An unknown identifier still gets a session that can only ever be denied: no enumeration.
    const login = newLogin('push', client.clientId, { pushUser: username ?? '(unknown)' });
    login.pushToken = randomBytes(24).toString('base64url');
    res.json({ loginSessionId: login.id, token: login.pushToken });
  });
  router.post('/api/push/authenticate/status', express.json({ limit: '4kb' }), (req, res) => {
    const { loginSessionId, token } = (req.body ?? {}) as Record<string, string | undefined>;
    const login = loginSessionId ? logins.get(loginSessionId) : undefined;
    if (!login || login.kind !== 'push' || !token || !safeEqual(token, login.pushToken ?? ''))
      return res.status(404).json({ error: 'unknown_session' });
    if (Date.now() - login.createdAt > 120_000) return res.status(410).json({ error: 'expired' });
    if (!login.result) return res.status(202).json({ status: 'pending' });
    logins.delete(login.id);
    if ('idToken' in login.result)
      return res.status(200).json({ status: 'authenticated', result: { id_token: login.result.idToken } });
    res.status(403).json({ status: 'denied' });
  });

  function newLogin(kind: Login['kind'], clientId: string, extra: Partial<Login>): Login {
    const login: Login = {
      id: randomBytes(12).toString('base64url'),
      kind,
      clientId,
      createdAt: Date.now(),
      ...extra,
    };
    logins.set(login.id, login);
    return login;
  }

  async function authenticateClient(
    req: Request,
    body: Record<string, string | undefined>,
  ): Promise<XignInClientRegistration | undefined> {
    const method = (c: XignInClientRegistration) => c.tokenEndpointAuthMethod ?? 'client_secret_basic';
    const basic = /^Basic (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (basic) {
      const [rawId, rawSecret] = Buffer.from(basic, 'base64').toString('utf8').split(':');
      // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
      const decode = (s: string | undefined) => decodeURIComponent((s ?? '').replace(/\+/g, ' '));
      const client = clients.get(decode(rawId));
      return client &&
        method(client) === 'client_secret_basic' &&
        safeEqual(decode(rawSecret), client.clientSecret ?? '')
        ? client
        : undefined;
    }
    const client = body.client_id ? clients.get(body.client_id) : undefined;
    if (!client) return undefined;
    if (method(client) === 'client_secret_post')
      return safeEqual(body.client_secret ?? '', client.clientSecret ?? '') ? client : undefined;
    if (
      method(client) === 'private_key_jwt' &&
      body.client_assertion_type === 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'
    ) {
      for (const jwk of (client.jwks ?? []).filter((k) => k.use !== 'enc')) {
        try {
          await jwtVerify(body.client_assertion ?? '', await importJWK(jwk, jwk.alg ?? 'ES256'), {
            issuer: client.clientId,
            subject: client.clientId,
            audience: [`${issuer}/openid/token`, issuer],
          });
          return client;
        } catch {
          // try the next key
        }
      }
    }
    return undefined;
  }

  return { router: router as unknown as SandboxRouter, control };
}

async function newSigningKeys(): Promise<SigningKey[]> {
  const made: SigningKey[] = [];
  for (const alg of ['ES256', 'RS256'] as const) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    made.push({
      kid: `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}`,
      alg,
      privateKey,
      publicJwk: await exportJWK(publicKey),
    });
  }
  return made;
}

function tamper(jws: string): string {
  const [header, payload, signature] = jws.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0]! ^= 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

function withHeader(compact: string, header: Record<string, unknown>): string {
  const parts = compact.split('.');
  parts[0] = Buffer.from(JSON.stringify(header)).toString('base64url');
  return parts.join('.');
}

function safeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The manager's QR login script (`XignQRLogin`), as documented: config in, a QR in the container, code out. */
const JS_LOGIN_SCRIPT = `(function (global) {
  var XignLoginMode = { PULL_TOKEN: 'PULL_TOKEN' };
  function XignQRLogin(config) {
    if (!config || !config.managerUri || !config.containerId || !config.clientId || !config.redirectUri) {
      throw new Error('XignQRLogin: managerUri, containerId, clientId and redirectUri are required.');
    }
    this.config = config;
  }
  XignQRLogin.prototype.start = function () {
    var c = this.config, base = c.managerUri.replace(/\\/+$/, '');
    return fetch(base + '/api/rp/qrcode', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clientId: c.clientId, redirectUri: c.redirectUri, mode: c.mode || XignLoginMode.PULL_TOKEN })
    }).then(function (r) { if (!r.ok) throw new Error('XignQRLogin: the manager refused the login.'); return r.json(); })
      .then(function (login) {
        var container = document.getElementById(c.containerId);
        var img = document.createElement('img');
        img.alt = 'XignIn QR code'; img.src = login.qr; img.className = 'xignin-qr';
        container.replaceChildren(img);
        (function poll() {
          fetch(base + '/api/rp/auth-response?login=' + encodeURIComponent(login.loginId))
            .then(function (r) { return r.json(); })
            .then(function (a) {
              if (a.status === 'authenticated') {
                if (typeof c.onAuthentication === 'function') c.onAuthentication(a.code);
                else location.assign(c.redirectUri + '?code=' + encodeURIComponent(a.code));
              } else if (a.status === 'denied') {
                container.textContent = 'The login was denied.';
              } else setTimeout(poll, 500);
            })
            .catch(function () { setTimeout(poll, 1000); });
        })();
      });
  };
  global.XignQRLogin = { XignQRLogin: XignQRLogin, XignLoginMode: XignLoginMode };
})(typeof window !== 'undefined' ? window : globalThis);`;

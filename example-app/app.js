// The example app: every flow of passport-factors on one Express 5 app. It imports only the
// package's public entry points ('passport-factors/sms-otp', ...), as an application would.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import express from 'express';
import session from 'express-session';
import { Passport } from 'passport';
import { BasicLoginStrategy } from 'passport-factors/basic-login';
import { PartialLogin, RememberedBrowsers } from 'passport-factors/partial-login';
import { RiscStrategy, RiskStepUp } from 'passport-factors/risc';
import { SecSignStrategy, secSignHandlers } from 'passport-factors/secsign';
import { SipgateSmsSender, SmsOtpStrategy, smsOtpHandlers } from 'passport-factors/sms-otp';
import { MemoryStore } from 'passport-factors/stores';
import { XignInStrategy, xignInHandlers } from 'passport-factors/xignin';
import { XTokenStrategy, xTokenHandlers } from 'passport-factors/x-token';
import { mountTotp } from './totp.js';
import { createUserDirectory, DEMO_USERS } from './users.js';
import { mountPasskeys } from './webauthn.js';

const publicDir = fileURLToPath(new URL('./public/', import.meta.url));

/**
 * sipgate credentials from the environment switch SMS to the real service; otherwise the sandbox.
 * @param {import('passport-factors/sandbox').Sandbox | undefined} sandbox
 */
/**
 * The XignIn client: XIGNIN_MANAGER_URL, XIGNIN_CLIENT_ID, XIGNIN_CLIENT_SECRET (and XIGNIN_DECRYPTION_KEY,
 * a PKCS#8 PEM, for encrypted id_tokens) switch to a real manager; otherwise a client registered at
 * the sandbox, with a fresh EC key so id_tokens arrive encrypted (ECDH-ES+A256KW, A256CBC-HS512).
 */
function xigninClient(sandbox, redirectUri) {
  const { XIGNIN_MANAGER_URL, XIGNIN_CLIENT_ID, XIGNIN_CLIENT_SECRET, XIGNIN_DECRYPTION_KEY } = process.env;
  if (XIGNIN_MANAGER_URL && XIGNIN_CLIENT_ID && XIGNIN_CLIENT_SECRET) {
    return {
      managerUrl: XIGNIN_MANAGER_URL,
      clientId: XIGNIN_CLIENT_ID,
      clientSecret: XIGNIN_CLIENT_SECRET,
      redirectUri,
      ...(XIGNIN_DECRYPTION_KEY
        ? {
            decryptionKeys: [XIGNIN_DECRYPTION_KEY],
            idTokenEncryption: { alg: ['RSA-OAEP', 'ECDH-ES', 'ECDH-ES+A256KW'], enc: 'A256CBC-HS512' },
          }
        : {}),
    };
  }
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clientSecret = randomBytes(24).toString('base64url');
  requireSandbox(sandbox).xignin.registerClient({
    clientId: 'passport-factors-demo',
    clientSecret,
    redirectUris: [redirectUri],
    idTokenEncryptedResponseAlg: 'ECDH-ES+A256KW',
    jwks: [{ ...publicKey.export({ format: 'jwk' }), kid: 'demo-enc', use: 'enc' }],
  });
  return {
    managerUrl: sandbox.xignin.issuer,
    clientId: 'passport-factors-demo',
    clientSecret,
    redirectUri,
    decryptionKeys: [{ kid: 'demo-enc', key: privateKey }],
    idTokenEncryption: { alg: 'ECDH-ES+A256KW', enc: 'A256CBC-HS512' },
  };
}

function requireSandbox(sandbox) {
  if (!sandbox)
    throw new Error('Give the example app a sandbox, or configure the real vendors (see README).');
  return sandbox;
}

function smsSender(sandbox) {
  const { SIPGATE_TOKEN_ID, SIPGATE_TOKEN, SIPGATE_SMS_ID, SIPGATE_BASE_URL } = process.env;
  if (SIPGATE_TOKEN_ID && SIPGATE_TOKEN) {
    return new SipgateSmsSender({
      tokenId: SIPGATE_TOKEN_ID,
      token: SIPGATE_TOKEN,
      smsId: SIPGATE_SMS_ID ?? 's0',
      ...(SIPGATE_BASE_URL ? { baseUrl: SIPGATE_BASE_URL } : {}),
    });
  }
  return new SipgateSmsSender(requireSandbox(sandbox).sipgate.credentials);
}

/**
 * @param {{
 *   sandbox?: import('passport-factors/sandbox').Sandbox,
 *   xTokenSecret?: string | Uint8Array,
 *   xTokenReuseGraceSec?: number,
 *   scryptCost?: number,
 *   store?: import('passport-factors').Store,
 *   sessionStore?: import('express-session').Store,
 *   otpSecret?: string | Uint8Array,
 *   totpSecret?: string | Uint8Array,
 *   xigninTransactionTtlSec?: number,
 *   secsignPollIntervalMs?: number,
 *   publicUrl?: string,
 *   onEvent?: (entry: AuditEntry) => void,
 * }} [options]
 */
export async function createExampleApp(options = {}) {
  const users = await createUserDirectory(DEMO_USERS, { cost: options.scryptCost });
  const store = options.store ?? new MemoryStore();
  // The sandbox phone's risk dial names the demo users (alice (u1)), before any check.
  for (const user of users.all()) options.sandbox?.lastwall.nameUser(user.id, user.username);

  // --- Audit events: every strategy's onEvent hook feeds one log, which the page shows (/events)
  // and `npm start` prints. The events never carry a token, a code or a secret.
  /** @type {AuditEntry[]} */
  const auditLog = [];
  const audit = (source) => (event) => {
    const entry = { at: new Date().toISOString(), source, ...auditFields(event) };
    auditLog.push(entry);
    if (auditLog.length > AUDIT_LOG_SIZE) auditLog.shift();
    options.onEvent?.(entry);
  };
  const passport = new Passport();
  passport.serializeUser((user, done) => done(null, user.id));
  passport.deserializeUser((id, done) => done(null, users.findById(id) ?? false));

  passport.use(
    new BasicLoginStrategy({ store }, (username, password) => users.checkPassword(username, password)),
  );

  // --- Rolling X-Token (the alt-seven client contract) ---
  const xToken = new XTokenStrategy(
    {
      secret: options.xTokenSecret ?? randomBytes(32),
      store,
      ...(options.xTokenReuseGraceSec === undefined ? {} : { reuseGraceSec: options.xTokenReuseGraceSec }),
      onEvent: audit('x-token'),
    },
    (payload) => users.findById(payload.sub) ?? false,
  );
  passport.use(xToken);

  // --- SMS one-time code as a second factor ---
  const smsOtp = new SmsOtpStrategy({
    sender: smsSender(options.sandbox),
    store,
    // Instances sharing a store must agree on the code hashes (required with RedisStore).
    ...(options.otpSecret ? { secret: options.otpSecret } : {}),
    getPhoneNumber: (user) => user.phone,
    serviceName: 'passport-factors demo',
    onEvent: audit('sms-otp'),
  });
  passport.use(smsOtp);

  // --- SecSign ID push login ---
  // SECSIGN_SERVER_URLS (comma-separated) names the servers, SECSIGN_USE_VENDOR=1 uses SecSign's
  // own; otherwise the sandbox.
  const secsign = new SecSignStrategy(
    {
      serviceName: 'passport-factors demo',
      serviceAddress: 'http://localhost',
      store,
      pollIntervalMs: options.secsignPollIntervalMs,
      onEvent: audit('secsign'),
      ...(process.env.SECSIGN_SERVER_URLS
        ? { serverUrls: process.env.SECSIGN_SERVER_URLS.split(',') }
        : process.env.SECSIGN_USE_VENDOR === '1'
          ? {}
          : { serverUrls: requireSandbox(options.sandbox).secsign.serverUrls }),
    },
    (secsignId) => users.findBySecSignId(secsignId) ?? false,
  );
  passport.use(secsign);

  // --- XignIn: OpenID Connect with encrypted + signed id_tokens ---
  const publicUrl = (options.publicUrl ?? `http://localhost:${process.env.PORT ?? 3000}`).replace(/\/+$/, '');
  const xigninSettings = xigninClient(options.sandbox, `${publicUrl}/xignin/callback`);
  const xignin = new XignInStrategy(
    {
      ...xigninSettings,
      store,
      ...(options.xigninTransactionTtlSec ? { transactionTtlSec: options.xigninTransactionTtlSec } : {}),
    },
    (claims) => users.findByXignInSub(claims.sub) ?? false,
  );
  passport.use(xignin);
  const managerOrigin = new URL(xigninSettings.managerUrl).origin;

  // --- Lastwall RISC: a risk check after the password, stepping up when it looks risky ---
  // LASTWALL_TOKEN and LASTWALL_SECRET switch to the real service; otherwise the sandbox.
  const { LASTWALL_TOKEN, LASTWALL_SECRET, LASTWALL_BASE_URL } = process.env;
  const risc = new RiscStrategy({
    ...(LASTWALL_TOKEN && LASTWALL_SECRET
      ? {
          token: LASTWALL_TOKEN,
          secret: LASTWALL_SECRET,
          ...(LASTWALL_BASE_URL ? { baseUrl: LASTWALL_BASE_URL } : {}),
        }
      : requireSandbox(options.sandbox).lastwall.credentials),
    store,
  });
  passport.use(risc);
  // Partial logins: a browser that finished the password step is NOT logged in (req.user stays
  // unset) until its journey's factors are done. Each card of the demo is its own policy.
  const journey = (name, requiredFactors) =>
    new PartialLogin({ passport, name, requiredFactors, onEvent: audit(`${name} login`) });
  const riskLogin = journey('risk', [['basic-login', 'risc']]);
  // "Remember this browser" on the SMS card: a remembered browser stands in for the code.
  const rememberedBrowsers = new RememberedBrowsers({ store, maxAgeDays: 30 });
  const smsLogin = new PartialLogin({
    passport,
    name: 'sms',
    requiredFactors: [
      ['basic-login', 'sms-otp'],
      ['basic-login', 'remembered-browser'],
    ],
    rememberBrowser: { browsers: rememberedBrowsers },
    onEvent: audit('sms login'),
  });
  const pushLogin = journey('push', [['secsign'], ['xignin']]);
  const stepUp = new RiskStepUp({
    login: riskLogin,
    risc,
    store,
    // The unlock link goes to the address on the account, never to one from the request.
    getEmail: (user) => user.email,
    onEvent: audit('risk step-up'),
  });
  const riscOrigin = new URL(risc.client.baseUrl).origin;

  const app = express();
  app.disable('x-powered-by');
  app.use((_req, res, next) => {
    res.setHeader(
      'Content-Security-Policy',
      `default-src 'self'; img-src 'self' data:; script-src 'self' ${managerOrigin} ${riscOrigin}; connect-src 'self' ${managerOrigin} ${riscOrigin}; frame-ancestors 'none'; base-uri 'none'`,
    );
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  app.use(express.json({ limit: '10kb' }));
  app.use(
    session({
      name: 'pf.sid',
      secret: process.env.SESSION_SECRET ?? randomBytes(32).toString('hex'),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', secure: 'auto' },
      ...(options.sessionStore ? { store: options.sessionStore } : {}),
    }),
  );
  app.use(passport.initialize());
  app.use(passport.session());

  // The X-Token API: no session, the token is the session.
  const api = xTokenHandlers(xToken, {
    passport,
    // "Log out everywhere" also forgets the user's remembered browsers.
    alsoRevoke: [rememberedBrowsers],
    publicUser: (user) => ({ id: user.id, username: user.username, name: user.name }),
  });
  app.post('/api/auth/login', api.login);
  app.get('/api/auth/refresh', api.refresh);
  app.post('/api/auth/logout', api.logout);
  // "Log out everywhere": every token family of the caller.
  app.post('/api/auth/logout-everywhere', api.logoutEverywhere);
  app.get('/api/secret', api.protect, (req, res) => {
    res.json({
      message: `Hello ${req.user.name}, this came from a secured API.`,
      at: new Date().toISOString(),
    });
  });

  // The audit log, newest first: what the page's event log shows (this demo's events, every browser's).
  app.get('/events', (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json([...auditLog].reverse());
  });

  // Password, then a code from an authenticator app (TOTP): example-app/totp.js.
  mountTotp(app, { passport, store, secret: options.totpSecret, publicUser, onEvent: audit('totp') });

  // Password, then SMS code: the password step leaves a partial login; the code completes it.
  const sms = smsOtpHandlers(smsOtp);
  const withName = { body: (outcome, user) => ({ ...outcome, user: publicUser(user) }) };
  app.post('/sms/login', smsLogin.step('basic-login', withName));
  app.post('/sms/send', smsLogin.pendingUser(), sms.send);
  app.post('/sms/verify', smsLogin.step('sms-otp', withName));
  app.get('/sms/me', smsLogin.requireFactors(), (req, res) => {
    res.json({ user: publicUser(req.user), factors: smsLogin.factors(req).map((done) => done.factor) });
  });
  app.post('/sms/logout', (req, res, next) =>
    req.logout((err) => (err ? next(err) : res.json({ success: true }))),
  );

  // SecSign ID: start → the page polls status → complete decides.
  const secsignRoutes = secSignHandlers(secsign, { passport });
  app.post('/secsign/start', secsignRoutes.start);
  app.get('/secsign/status', secsignRoutes.status);
  app.post('/secsign/cancel', secsignRoutes.cancel);
  app.post('/secsign/complete', pushLogin.step('secsign', withName));
  app.get('/secsign/me', pushLogin.requireFactors('secsign'), (req, res) =>
    res.json({ user: publicUser(req.user), method: 'secsign' }),
  );

  // XignIn: a redirect login, and the manager's QR script (JS-login) posting the code here.
  app.get('/xignin/login', passport.authenticate('xignin'));
  app.get('/xignin/js-config', xignInHandlers(xignin, { passport }).jsLoginConfig);
  const xigninDone = (req, res, next, answer) =>
    pushLogin.authenticate('xignin', req, res, next, (user, failure, info) => {
      if (failure)
        return answer(failure.status, { error: failure.challenge?.message, code: failure.challenge?.code });
      pushLogin.record(req, user, 'xignin').then(() => {
        req.session.xignin = { mode: info.mode, claims: info.claims };
        answer(200, { user: publicUser(user), mode: info.mode, claims: info.claims });
      }, next);
    });
  app.get('/xignin/callback', (req, res, next) =>
    xigninDone(req, res, next, (status, body) =>
      res.redirect(
        303,
        status === 200 ? '/#xignin' : `/?xignin_error=${encodeURIComponent(body.code)}#xignin`,
      ),
    ),
  );
  app.post('/xignin/callback', (req, res, next) =>
    xigninDone(req, res, next, (status, body) => res.status(status).json(body)),
  );
  app.get('/xignin/me', (req, res) => {
    if (!req.user || !req.session.xignin || !pushLogin.isComplete(req))
      return res.status(401).json({ error: 'Not logged in with XignIn.' });
    res.json({ user: publicUser(req.user), ...req.session.xignin });
  });

  // The main login: password → RISC check in the page → passed, or step up, or unlock by email.
  // Only a passed check (or a step-up after a risky one) logs the user in.
  app.post('/risk/login', riskLogin.step('basic-login', withName));
  app.get('/risk/script', riskLogin.pendingUser(), (req, res) => {
    if (!req.user) return res.status(409).json({ error: 'Log in with your password first.' });
    res.json({ scriptUrl: risc.client.scriptUrl(req.user.id) });
  });
  app.post('/risk/check', stepUp.check());
  // The step-up offers an authenticator code (TOTP) first, then SMS, then SecSign.
  app.post('/risk/step-up/totp', stepUp.completeWith('totp'));
  app.post('/risk/step-up/sms/send', riskLogin.pendingUser(), sms.send);
  app.post('/risk/step-up/sms', stepUp.completeWith('sms-otp'));
  app.post('/risk/step-up/secsign', stepUp.completeWith('secsign'));
  app.post('/risk/unlock', stepUp.sendUnlockEmail());
  app.get('/risk/me', stepUp.requireCleared(), (req, res) => res.json({ user: publicUser(req.user) }));
  app.post('/risk/logout', (req, res, next) =>
    req.logout((err) => (err ? next(err) : res.json({ success: true }))),
  );

  // Passkeys (WebAuthn): register after a login, log in with one, or step up with one (offered first).
  mountPasskeys({ app, passport, users, store, publicUrl, riskLogin, stepUp, withName, publicUser, audit });

  app.get('/config.json', (_req, res) => {
    res.json({ sandboxPhoneUrl: options.sandbox ? `${options.sandbox.url}/phone` : null });
  });
  app.use(express.static(publicDir, { index: 'index.html' }));
  app.use((err, _req, res, _next) => {
    // A fault after the answer went out (express-session saving or touching the session as the
    // response ends, while its store is failing over): the answer stands; nothing more to send.
    if (res.headersSent) {
      if (!res.writableEnded) res.destroy();
      return;
    }
    // Faults are answered without detail: the client learns nothing about internals. A full or
    // unreachable store (StoreError, 503) is a busy server, not a bug: the client may retry.
    const status = typeof err.status === 'number' && err.status >= 400 ? err.status : 500;
    if (status === 503) res.setHeader('Retry-After', '30');
    const error =
      status < 500
        ? err.message
        : status === 503
          ? 'The server is busy. Try again in a moment.'
          : 'Something went wrong. Try again.';
    res.status(status).json({ error });
  });
  return app;
}

function publicUser(user) {
  return { id: user.id, username: user.username, name: user.name };
}

const AUDIT_LOG_SIZE = 50;

/**
 * @typedef {{ at: string, source: string, type: string } & Record<string, unknown>} AuditEntry
 */

/** An event's fields as JSON can carry them: an error as its message. */
function auditFields(event) {
  return Object.fromEntries(
    Object.entries(event).map(([key, value]) => [key, value instanceof Error ? value.message : value]),
  );
}

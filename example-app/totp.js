// The TOTP card of the example app: set up an authenticator app (QR + otpauth:// URI, confirmed by
// a first code), log in with password then a code from it, recovery codes, and the routes the RISC
// step-up uses. Wired into app.js by mountTotp().
import { randomBytes } from 'node:crypto';
import { PartialLogin } from 'passport-factors/partial-login';
import { TotpStrategy, totpHandlers } from 'passport-factors/totp';
import { createTotpRecords } from './totp-records.js';

/**
 * @param {import('express').Express} app
 * @param {{
 *   passport: import('passport').PassportStatic,
 *   store: import('passport-factors').Store,
 *   secret?: string | Uint8Array,
 *   publicUser: (user: any) => object,
 * }} options
 */
export function mountTotp(app, { passport, store, secret, publicUser, onEvent }) {
  // The app's user database would hold these; the library only ever sees sealed secrets and HMACs.
  const records = createTotpRecords();
  const totp = new TotpStrategy({
    issuer: 'passport-factors demo',
    // Seals the secrets at rest (a JWE, A256GCM) and keys the recovery-code HMACs: keep it out of the
    // user database, the same on every instance (TOTP_SECRET in a real deployment).
    secret: secret ?? randomBytes(32),
    store,
    ...records,
    ...(onEvent ? { onEvent } : {}),
  });
  passport.use(totp);
  const routes = totpHandlers(totp);
  const totpLogin = new PartialLogin({
    passport,
    name: 'totp',
    requiredFactors: [['basic-login', 'totp']],
    ...(onEvent ? { onEvent } : {}),
  });
  const withName = { body: (outcome, user) => ({ ...outcome, user: publicUser(user) }) };

  // Setting up: an account without an authenticator has no second factor to prove, so its password
  // step is enough to add one. Replacing one needs the complete login, code included: a password
  // alone must never be able to swap the victim's authenticator for the attacker's.
  const mayEnroll = (req, res, next) => {
    if (!req.user)
      return res.status(401).json({ error: 'Log in with your password first.', code: 'missing_credentials' });
    const provedTotp =
      totpLogin.isComplete(req) && totpLogin.factors(req).some((done) => done.factor === 'totp');
    if (records.isEnrolled(req.user) && !provedTotp)
      return res.status(403).json({
        error: 'An authenticator app is already set up: log in with a code from it to replace it.',
        code: 'factors_required',
      });
    next();
  };

  app.post(
    '/totp/login',
    totpLogin.step('basic-login', {
      body: (outcome, user) => ({ ...outcome, user: publicUser(user), enrolled: records.isEnrolled(user) }),
    }),
  );
  app.post('/totp/enroll', totpLogin.pendingUser(), mayEnroll, routes.enroll);
  app.post('/totp/enroll/confirm', totpLogin.pendingUser(), mayEnroll, routes.confirm);
  app.post('/totp/verify', totpLogin.step('totp', withName));
  app.post('/totp/recovery-codes', totpLogin.requireFactors('totp'), routes.recoveryCodes);
  app.get('/totp/me', totpLogin.requireFactors('totp'), (req, res) => {
    res.json({ user: publicUser(req.user), factors: totpLogin.factors(req).map((done) => done.factor) });
  });
  app.post('/totp/logout', (req, res, next) =>
    req.logout((err) => (err ? next(err) : res.json({ success: true }))),
  );
  return totp;
}

// Passkeys in the example app: registration after a complete login, passkey login as the first
// factor (also offered by the browser's autofill: conditional UI), and the passkey as the first
// step-up choice of the risky RISC journey. Credentials live in an in-memory table, the reference
// for what an app's own database has to do behind the four callbacks.
import { PartialLogin } from 'passport-factors/partial-login';
import { WebAuthnStrategy, webauthnHandlers } from 'passport-factors/webauthn';

/**
 * The app's passkey table: one row per credential, found by its id and listed per user. A real app
 * keeps these rows in its user database (the public key is not a secret; the counter must be
 * written back after each login).
 */
export class InMemoryCredentialRepository {
  /** @type {Map<string, import('passport-factors/webauthn').WebAuthnCredentialRecord>} */
  #rows = new Map();

  /** @param {string} id */
  find(id) {
    return this.#rows.get(id);
  }

  /** @param {string} userId */
  list(userId) {
    return [...this.#rows.values()].filter((row) => row.userId === userId);
  }

  /** @param {import('passport-factors/webauthn').WebAuthnCredentialRecord} credential */
  save(credential) {
    this.#rows.set(credential.id, { ...credential });
  }

  /** @param {import('passport-factors/webauthn').WebAuthnCredentialUpdate} update */
  update(update) {
    const row = this.#rows.get(update.id);
    // Compare-and-set on the counter, as a database UPDATE … WHERE counter = previousCounter would.
    if (!row || row.counter !== update.previousCounter) return;
    this.#rows.set(update.id, {
      ...row,
      counter: update.counter,
      backedUp: update.backedUp,
      deviceType: update.deviceType,
    });
  }

  /** The four callbacks WebAuthnStrategy takes. */
  callbacks() {
    return {
      findCredential: (id) => this.find(id),
      listCredentials: (userId) => this.list(userId),
      saveCredential: (credential) => this.save(credential),
      updateCredential: (update) => this.update(update),
    };
  }
}

/**
 * The relying party for the app's public URL. WebAuthn accepts host names only, so the demo on
 * `http://127.0.0.1:PORT` serves passkeys as `localhost` (a secure context too) at `http://localhost:PORT`.
 * @param {string} publicUrl
 */
export function relyingParty(publicUrl) {
  const url = new URL(publicUrl);
  const loopback = url.hostname === '127.0.0.1' || url.hostname === '[::1]' || url.hostname === 'localhost';
  if (!loopback) return { rpID: url.hostname, origins: [url.origin] };
  const local = new URL(url.origin);
  local.hostname = 'localhost';
  return { rpID: 'localhost', origins: [local.origin] };
}

/**
 * Mounts the passkey routes on `app`.
 * @param {{
 *   app: import('express').Express,
 *   passport: import('passport').PassportStatic,
 *   users: { findById(id: string): any },
 *   store: import('passport-factors').Store,
 *   publicUrl: string,
 *   riskLogin: PartialLogin,
 *   stepUp: import('passport-factors/risc').RiskStepUp,
 *   withName: { body: (outcome: any, user: any) => any },
 *   publicUser: (user: any) => any,
 *   audit: (source: string) => (event: any) => void,
 * }} setup
 */
export function mountPasskeys({
  app,
  passport,
  users,
  store,
  publicUrl,
  riskLogin,
  stepUp,
  withName,
  publicUser,
  audit,
}) {
  const credentials = new InMemoryCredentialRepository();
  const webauthn = new WebAuthnStrategy(
    {
      ...relyingParty(publicUrl),
      rpName: 'passport-factors demo',
      store,
      ...credentials.callbacks(),
      getUserName: (user) => user.username,
      getUserDisplayName: (user) => user.name,
      // Passkeys: discoverable credentials, so the browser can offer them without a user name.
      residentKey: 'required',
      onEvent: audit('webauthn'),
    },
    (userId) => users.findById(userId) ?? false,
  );
  passport.use(webauthn);
  const passkeys = webauthnHandlers(webauthn);
  // A passkey alone is a complete login (it is phishing-resistant and, with UV, two factors in one).
  const passkeyLogin = new PartialLogin({
    passport,
    name: 'passkey',
    requiredFactors: [['webauthn']],
    onEvent: audit('passkey login'),
  });

  // Adding a passkey needs a complete login (req.user); a partial one is not enough.
  app.post('/passkeys/register/options', passkeys.registrationOptions);
  app.post('/passkeys/register', passkeys.register);
  app.get('/passkeys/mine', (req, res) => {
    if (!req.user) return res.status(401).json({ error: 'Log in first.' });
    res.json({
      user: publicUser(req.user),
      passkeys: credentials
        .list(req.user.id)
        .map(({ id, deviceType, backedUp }) => ({ id, deviceType, backedUp })),
    });
  });

  // Passkey login (first factor): options with an empty allow list, then the signed assertion.
  app.post('/passkeys/login/options', passkeys.authenticationOptions);
  app.post('/passkeys/login', passkeyLogin.step('webauthn', withName));
  app.get('/passkeys/me', passkeyLogin.requireFactors('webauthn'), (req, res) =>
    res.json({ user: publicUser(req.user), method: 'webauthn' }),
  );

  // The risky RISC journey: the pending user's passkeys are the allow list.
  app.post('/risk/step-up/passkey/options', riskLogin.pendingUser(), passkeys.authenticationOptions);
  app.post('/risk/step-up/passkey', stepUp.completeWith('webauthn'));
  return { webauthn, credentials };
}

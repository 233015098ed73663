// The in-memory reference implementation of the app callbacks TotpStrategy needs (the example app
// and the tests use it). A real app keeps the sealed secret and the recovery-code hashes in its
// user database.

/**
 * Where the app keeps each user's TOTP secret (an opaque, encrypted string the library seals) and
 * recovery-code HMACs. `consumeRecoveryCode` is atomic as the library requires: `Set#delete` both
 * checks and removes in one synchronous step (in SQL: `DELETE … WHERE user_id = ? AND hash = ?`).
 */
export function createTotpRecords() {
  /** @type {Map<string, string>} */
  const secrets = new Map();
  /** @type {Map<string, Set<string>>} */
  const recoveryCodes = new Map();
  /** @param {unknown} user */
  const idOf = (user) => /** @type {{ id: string }} */ (user).id;
  return {
    /** @param {unknown} user */
    loadSecret: (user) => secrets.get(idOf(user)),
    /** @param {unknown} user @param {string} sealed */
    saveSecret: (user, sealed) => {
      secrets.set(idOf(user), sealed);
    },
    /** @param {unknown} user @param {string[]} hashes */
    saveRecoveryCodes: (user, hashes) => {
      recoveryCodes.set(idOf(user), new Set(hashes));
    },
    /** @param {unknown} user @param {string} hash */
    consumeRecoveryCode: (user, hash) => recoveryCodes.get(idOf(user))?.delete(hash) ?? false,
    /** @param {unknown} user */
    isEnrolled: (user) => secrets.has(idOf(user)),
  };
}

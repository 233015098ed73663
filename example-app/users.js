// The demo user directory: passwords hashed with scrypt (Node's built-in memory-hard KDF), never
// returned. Unknown usernames are checked against a dummy hash so they take as long as known ones.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scryptAsync = promisify(scrypt);
const KEY_LENGTH = 32;

/**
 * @typedef {{ id: string, username: string, name: string, email?: string, phone?: string, secsignId?: string, xigninSub?: string }} DemoUser
 * @typedef {{ username: string, name: string, password: string, email?: string, phone?: string, secsignId?: string, xigninSub?: string }} DemoUserSeed
 */

/**
 * @param {DemoUserSeed[]} seeds
 * @param {{ cost?: number }} [options] scrypt cost N (default 2^15, OWASP's minimum; tests use less)
 */
export async function createUserDirectory(seeds, options = {}) {
  const params = { N: options.cost ?? 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
  const hash = async (password, salt) =>
    /** @type {Buffer} */ (await scryptAsync(password.normalize('NFC'), salt, KEY_LENGTH, params));

  /** @type {Map<string, { user: DemoUser, salt: Buffer, hash: Buffer }>} */
  const byUsername = new Map();
  /** @type {Map<string, DemoUser>} */
  const byId = new Map();
  for (const [index, seed] of seeds.entries()) {
    const salt = randomBytes(16);
    const user = {
      id: `u${index + 1}`,
      username: seed.username,
      name: seed.name,
      ...(seed.email ? { email: seed.email } : {}),
      ...(seed.phone ? { phone: seed.phone } : {}),
      ...(seed.secsignId ? { secsignId: seed.secsignId } : {}),
      ...(seed.xigninSub ? { xigninSub: seed.xigninSub } : {}),
    };
    byUsername.set(seed.username.toLowerCase(), { user, salt, hash: await hash(seed.password, salt) });
    byId.set(user.id, user);
  }
  const dummySalt = randomBytes(16);
  const dummyHash = await hash(randomBytes(16).toString('hex'), dummySalt);

  return {
    /** @returns {Promise<DemoUser | false>} the user when the password matches, else false */
    async checkPassword(username, password) {
      const record = byUsername.get(String(username).toLowerCase());
      const candidate = await hash(password, record ? record.salt : dummySalt);
      const matches = timingSafeEqual(candidate, record ? record.hash : dummyHash);
      return record && matches ? record.user : false;
    },
    /** @returns {DemoUser[]} every user, in seed order */
    all() {
      return [...byId.values()];
    },
    /** @returns {DemoUser | undefined} */
    findById(id) {
      return byId.get(id);
    },
    /** @returns {DemoUser | undefined} */
    findBySecSignId(secsignId) {
      return [...byId.values()].find((user) => user.secsignId === secsignId);
    },
    /** @returns {DemoUser | undefined} the user linked to this XignIn identity (the id_token's sub) */
    findByXignInSub(sub) {
      return [...byId.values()].find((user) => user.xigninSub === sub);
    },
  };
}

/** The seeded demo accounts; their passwords are shown on the example app's login page. */
export const DEMO_USERS = [
  {
    username: 'alice',
    name: 'Alice Example',
    password: 'correct horse battery staple',
    email: 'alice@example.test',
    phone: '+4915790000001',
    secsignId: 'alice',
    xigninSub: 'xign-7f3a1c',
  },
  {
    username: 'bob',
    name: 'Bob Example',
    password: 'pa:ss with a colon',
    email: 'bob@example.test',
    phone: '+4915790000002',
    secsignId: 'bob',
    xigninSub: 'xign-92be44',
  },
];

import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Secret, TOTP, URI } from 'otpauth';
import sinon from 'sinon';
import { createTotpRecords } from '../../example-app/totp-records.js';
import {
  AuthenticationFailure,
  ConfigurationError,
  PassportFactorsError,
  StoreError,
} from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { TotpFactor, TotpStrategy, type TotpEvent, type TotpOptions } from '../../src/exports/totp.js';
import { rejectionOf } from '../helpers/assert.js';

const failureOf = (promise: Promise<unknown>) => rejectionOf(promise, AuthenticationFailure);
/** 2026-01-01T00:00:01Z: one second into a 30 s time step. */
const T0 = Date.UTC(2026, 0, 1, 0, 0, 1);
const alice = { id: 'u1', username: 'alice', email: 'alice@example.test' };
const bob = { id: 'u2', username: 'bob' };

/** The code the user's app shows at `at` (ms) for an enrollment URI. */
function codeAt(uri: string, at: number): string {
  const totp = URI.parse(uri) as TOTP;
  return totp.generate({ timestamp: at });
}

describe('TotpFactor (the passport-free TOTP core)', () => {
  let clock: sinon.SinonFakeTimers;
  let store: MemoryStore;
  let records: ReturnType<typeof createTotpRecords>;
  let events: TotpEvent[];
  const key = randomBytes(32);
  const make = (options: Partial<TotpOptions> = {}) =>
    new TotpFactor({
      issuer: 'Example',
      secret: key,
      store,
      ...records,
      onEvent: (event) => events.push(event),
      ...options,
    });

  /**
   * Enrolls `user` and answers the URI; the clock is left two steps after the confirming code's,
   * so every code of the window around it is unused.
   */
  async function enrolled(factor: TotpFactor, user: Express.User = alice): Promise<string> {
    const { uri } = await factor.startEnrollment(user);
    await factor.confirmEnrollment(user, codeAt(uri, Date.now()));
    clock.tick(60_000);
    return uri;
  }

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: T0, toFake: ['Date'] });
    store = new MemoryStore();
    records = createTotpRecords();
    events = [];
  });
  afterEach(async () => {
    clock.restore();
    await store.close();
  });

  describe('enrollment', () => {
    it('gives an otpauth:// URI (issuer, account label, 160-bit secret, SHA1, 6 digits, 30 s), a PNG QR and the base32 key', async () => {
      const enrollment = await make().startEnrollment(alice);
      const url = new URL(enrollment.uri);
      expect(url.protocol).to.equal('otpauth:');
      expect(url.host).to.equal('totp');
      expect(decodeURIComponent(url.pathname)).to.equal('/Example:alice@example.test');
      expect(url.searchParams.get('issuer')).to.equal('Example');
      expect(url.searchParams.get('algorithm')).to.equal('SHA1');
      expect(url.searchParams.get('digits')).to.equal('6');
      expect(url.searchParams.get('period')).to.equal('30');
      expect(url.searchParams.get('secret')).to.equal(enrollment.manualEntryKey);
      expect(Secret.fromBase32(enrollment.manualEntryKey).bytes.length).to.be.at.least(20);
      expect(enrollment.qr).to.match(/^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
      expect(enrollment.expiresIn).to.equal(600);
      expect(events).to.deep.equal([{ type: 'enrollment_started', userId: 'u1' }]);
    });

    it('each enrollment draws a new secret; qrCode: false leaves the image out', async () => {
      const factor = make({ qrCode: false });
      const first = await factor.startEnrollment(alice);
      const second = await factor.startEnrollment(alice);
      expect(first.manualEntryKey).to.not.equal(second.manualEntryKey);
      expect(first).to.not.have.property('qr');
    });

    it('the secret counts only after the first code confirms it, and is saved sealed (never in the clear)', async () => {
      const factor = make();
      const saved = sinon.spy(records, 'saveSecret');
      const factorWithSpy = make({ saveSecret: saved });
      const { uri, manualEntryKey } = await factorWithSpy.startEnrollment(alice);
      expect(await factor.isEnrolled(alice)).to.equal(false);
      expect((await failureOf(factor.verify(alice, codeAt(uri, Date.now())))).code).to.equal('not_enrolled');
      await factorWithSpy.confirmEnrollment(alice, codeAt(uri, Date.now()));
      expect(await factor.isEnrolled(alice)).to.equal(true);
      const sealed = saved.firstCall.args[1];
      const hex = Buffer.from(Secret.fromBase32(manualEntryKey).bytes).toString('hex');
      for (const form of [manualEntryKey, hex, Buffer.from(hex, 'hex').toString('base64url')])
        expect(sealed.toLowerCase()).to.not.include(form.toLowerCase());
      expect(sealed).to.match(/^[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/); // a compact JWE, dir: no encrypted key
      expect(events.map((e) => e.type)).to.deep.equal(['enrollment_started', 'enrolled']);
    });

    it('a wrong first code does not enroll; an expired enrollment cannot be confirmed', async () => {
      const factor = make({ enrollmentTtlSeconds: 60 });
      const { uri } = await factor.startEnrollment(alice);
      const right = codeAt(uri, Date.now());
      const wrong = right === '000000' ? '111111' : '000000';
      expect((await failureOf(factor.confirmEnrollment(alice, wrong))).code).to.equal('invalid_code');
      expect(await factor.isEnrolled(alice)).to.equal(false);
      clock.tick(61_000);
      expect((await failureOf(factor.confirmEnrollment(alice, codeAt(uri, Date.now())))).code).to.equal(
        'no_pending_challenge',
      );
      expect(await factor.isEnrolled(alice)).to.equal(false);
    });

    it('a confirmed enrollment cannot be confirmed twice; the confirming code cannot log in', async () => {
      const factor = make();
      const { uri } = await factor.startEnrollment(alice);
      const code = codeAt(uri, Date.now());
      await factor.confirmEnrollment(alice, code);
      expect((await failureOf(factor.confirmEnrollment(alice, code))).code).to.equal('no_pending_challenge');
      expect((await failureOf(factor.verify(alice, code))).code).to.equal('replayed');
    });
  });

  describe('verification', () => {
    it('TOTP window: codes of the previous, current and next 30 s step are accepted (window 1)', async () => {
      const factor = make();
      const uri = await enrolled(factor);
      const now = Date.now();
      // Increasing steps: each is newer than the last accepted one.
      expect(await factor.verify(alice, codeAt(uri, now - 30_000))).to.deep.equal({ method: 'totp' });
      expect(await factor.verify(alice, codeAt(uri, now))).to.deep.equal({ method: 'totp' });
      expect(await factor.verify(alice, codeAt(uri, now + 30_000))).to.deep.equal({ method: 'totp' });
    });

    it('TOTP window: codes two steps away (±60 s) are refused as wrong', async () => {
      const factor = make();
      const uri = await enrolled(factor);
      const now = Date.now();
      for (const at of [now - 60_000, now + 60_000]) {
        const failure = await failureOf(factor.verify(alice, codeAt(uri, at)));
        expect(failure.code).to.equal('invalid_code');
        expect(failure.status).to.equal(401);
      }
    });

    it('TOTP window: window 0 accepts only the current step', async () => {
      const factor = make({ window: 0 });
      const uri = await enrolled(factor);
      expect((await failureOf(factor.verify(alice, codeAt(uri, Date.now() - 30_000)))).code).to.equal(
        'invalid_code',
      );
      expect(await factor.verify(alice, codeAt(uri, Date.now()))).to.deep.equal({ method: 'totp' });
    });

    it('TOTP replay: an accepted code is refused the second time (401 replayed), and so is an older step after a newer one', async () => {
      const factor = make();
      const uri = await enrolled(factor);
      const now = Date.now();
      const code = codeAt(uri, now);
      await factor.verify(alice, code);
      const replay = await failureOf(factor.verify(alice, code));
      expect(replay.code).to.equal('replayed');
      expect(replay.status).to.equal(401);
      // Still within the window, but a step before the one accepted: refused too.
      expect((await failureOf(factor.verify(alice, codeAt(uri, now - 30_000)))).code).to.equal('replayed');
      clock.tick(30_000);
      expect(await factor.verify(alice, codeAt(uri, Date.now()))).to.deep.equal({ method: 'totp' });
    });

    it('TOTP replay: 20 concurrent submissions of one right code succeed exactly once', async () => {
      const factor = make({ maxAttempts: 30 });
      const uri = await enrolled(factor);
      const code = codeAt(uri, Date.now());
      const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => factor.verify(alice, code)));
      expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
      const codes = outcomes.map((o) =>
        o.status === 'rejected' ? (o.reason as AuthenticationFailure).code : 'ok',
      );
      expect(codes.filter((c) => c === 'replayed')).to.have.length(19);
    });

    it('one user’s used step does not block another user', async () => {
      const factor = make();
      const aliceUri = await enrolled(factor, alice);
      const bobUri = await enrolled(factor, bob);
      await factor.verify(alice, codeAt(aliceUri, Date.now()));
      expect(await factor.verify(bob, codeAt(bobUri, Date.now()))).to.deep.equal({ method: 'totp' });
    });

    it('TOTP lockout: wrong codes count down attemptsRemaining, the last one locks (429 with retryAfter), even the right code is refused until the window ends', async () => {
      const factor = make({ maxAttempts: 3, lockoutSeconds: 300 });
      const uri = await enrolled(factor);
      const right = codeAt(uri, Date.now());
      const wrong = right === '000000' ? '111111' : '000000';
      const first = await failureOf(factor.verify(alice, wrong));
      expect(first.toChallenge()).to.include({ code: 'invalid_code', attemptsRemaining: 2 });
      expect((await failureOf(factor.verify(alice, 'garbage'))).toChallenge()).to.include({
        code: 'invalid_code',
        attemptsRemaining: 1,
      });
      const third = await failureOf(factor.verify(alice, wrong));
      expect(third.code).to.equal('locked');
      expect(third.status).to.equal(429);
      expect(third.retryAfter).to.be.within(299, 300);
      const refused = await failureOf(factor.verify(alice, right));
      expect(refused.code).to.equal('locked');
      expect(await factor.lockedFor(alice)).to.be.within(1, 300);
      clock.tick(301_000);
      expect(await factor.lockedFor(alice)).to.equal(undefined);
      expect(await factor.verify(alice, codeAt(uri, Date.now()))).to.deep.equal({ method: 'totp' });
      expect(events.filter((e) => e.type === 'locked')).to.have.length(2);
    });

    it('TOTP lockout: replays count as wrong attempts; a success forgets the count', async () => {
      const factor = make({ maxAttempts: 3 });
      const uri = await enrolled(factor);
      const code = codeAt(uri, Date.now());
      await factor.verify(alice, code);
      expect((await failureOf(factor.verify(alice, code))).toChallenge()).to.include({
        code: 'replayed',
        attemptsRemaining: 2,
      });
      clock.tick(30_000);
      await factor.verify(alice, codeAt(uri, Date.now()));
      const wrong = codeAt(uri, Date.now()) === '000000' ? '111111' : '000000';
      expect((await failureOf(factor.verify(alice, wrong))).toChallenge()).to.include({
        attemptsRemaining: 2,
      });
    });

    it('TOTP lockout: 40 parallel wrong codes reach the check at most maxAttempts times', async () => {
      const checked = sinon.spy(TOTP, 'validate');
      try {
        const factor = make({ maxAttempts: 5 });
        await enrolled(factor);
        checked.resetHistory();
        const outcomes = await Promise.allSettled(
          Array.from({ length: 40 }, () => factor.verify(alice, '999999')),
        );
        expect(outcomes.every((o) => o.status === 'rejected')).to.equal(true);
        expect(checked.callCount).to.be.at.most(5);
        const codes = outcomes.map(
          (o) => ((o as PromiseRejectedResult).reason as AuthenticationFailure).code,
        );
        expect(codes.filter((c) => c === 'locked')).to.have.length.at.least(35);
      } finally {
        checked.restore();
      }
    });

    it('answers missing_credentials (400) for no code and refuses an over-long one without checking it', async () => {
      const factor = make();
      await enrolled(factor);
      for (const missing of [undefined, '', '   ', 123456, ['123456']]) {
        const failure = await failureOf(factor.verify(alice, missing));
        expect(failure.code).to.equal('missing_credentials');
        expect(failure.status).to.equal(400);
      }
      expect((await failureOf(factor.verify(alice, '1'.repeat(65)))).status).to.equal(400);
    });

    it('accepts a code typed with spaces ("123 456")', async () => {
      const factor = make();
      const uri = await enrolled(factor);
      const code = codeAt(uri, Date.now());
      expect(await factor.verify(alice, ` ${code.slice(0, 3)} ${code.slice(3)} `)).to.deep.equal({
        method: 'totp',
      });
    });

    it('a sealed secret copied to another user, or read with another key, is an error (never a login)', async () => {
      const factor = make();
      const uri = await enrolled(factor, alice);
      const sealed = records.loadSecret(alice)!;
      records.saveSecret(bob, sealed);
      const err = await rejectionOf(factor.verify(bob, codeAt(uri, Date.now())), PassportFactorsError);
      expect(err.code).to.equal('ERR_TOTP_SECRET');
      const otherKey = make({ secret: randomBytes(32) });
      const err2 = await rejectionOf(otherKey.verify(alice, codeAt(uri, Date.now())), PassportFactorsError);
      expect(err2.code).to.equal('ERR_TOTP_SECRET');
      records.saveSecret(alice, sealed.slice(0, -3) + (sealed.endsWith('A') ? 'BBB' : 'AAA'));
      expect((await rejectionOf(factor.verify(alice, '123456'), PassportFactorsError)).code).to.equal(
        'ERR_TOTP_SECRET',
      );
    });
  });

  it('fails closed on a store fault: a StoreError (503), never a login', async () => {
    const factor = make();
    const uri = await enrolled(factor);
    const broken = sinon.stub(store, 'compareAndSet').rejects(new Error('connection lost'));
    const err = await rejectionOf(factor.verify(alice, codeAt(uri, Date.now())), StoreError);
    expect(err.status).to.equal(503);
    broken.restore();
    sinon.stub(store, 'consume').rejects(new Error('connection lost'));
    expect((await rejectionOf(factor.verify(alice, codeAt(uri, Date.now())), StoreError)).status).to.equal(
      503,
    );
  });

  describe('recovery codes', () => {
    it('generates 10 distinct 80-bit codes, stores only their HMACs, each works once (method recovery_code)', async () => {
      const saved = sinon.spy(records, 'saveRecoveryCodes');
      const factor = make({ saveRecoveryCodes: saved });
      await enrolled(factor);
      const codes = await factor.generateRecoveryCodes(alice);
      expect(codes).to.have.length(10);
      expect(new Set(codes).size).to.equal(10);
      for (const code of codes) expect(code).to.match(/^[A-HJ-NP-Z2-9]{4}(-[A-HJ-NP-Z2-9]{4}){3}$/);
      const hashes = saved.firstCall.args[1];
      expect(hashes).to.have.length(10);
      for (const code of codes) {
        expect(JSON.stringify(hashes)).to.not.include(code);
        expect(JSON.stringify(hashes)).to.not.include(code.replace(/-/g, ''));
      }
      expect(await factor.verify(alice, codes[0]!)).to.deep.equal({ method: 'recovery_code' });
      // Lower case, without dashes: the same code.
      expect(await factor.verify(alice, codes[1]!.replace(/-/g, '').toLowerCase())).to.deep.equal({
        method: 'recovery_code',
      });
      expect(
        events.filter((e) => e.type === 'verified').map((e) => (e as { method: string }).method),
      ).to.deep.equal(['recovery_code', 'recovery_code']);
    });

    it('TOTP recovery-code single use: a used recovery code is refused; regenerating voids the old ones', async () => {
      const factor = make();
      await enrolled(factor);
      const [first, second] = await factor.generateRecoveryCodes(alice);
      await factor.verify(alice, first!);
      expect((await failureOf(factor.verify(alice, first!))).code).to.equal('invalid_code');
      await factor.generateRecoveryCodes(alice);
      expect((await failureOf(factor.verify(alice, second!))).code).to.equal('invalid_code');
    });

    it('TOTP recovery-code single use: 20 concurrent uses of one recovery code succeed once', async () => {
      const factor = make({ maxAttempts: 30 });
      await enrolled(factor);
      const [code] = await factor.generateRecoveryCodes(alice);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 20 }, () => factor.verify(alice, code!)),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).to.have.length(1);
    });

    it('wrong recovery codes count toward the same lockout', async () => {
      const factor = make({ maxAttempts: 2 });
      const uri = await enrolled(factor);
      await factor.generateRecoveryCodes(alice);
      expect((await failureOf(factor.verify(alice, 'AAAA-BBBB-CCCC-DDDD'))).code).to.equal('invalid_code');
      expect((await failureOf(factor.verify(alice, 'AAAA-BBBB-CCCC-DDDE'))).code).to.equal('locked');
      expect((await failureOf(factor.verify(alice, codeAt(uri, Date.now())))).code).to.equal('locked');
    });

    it('a recovery code of another user does not work (the HMAC binds the user)', async () => {
      const factor = make();
      await enrolled(factor, alice);
      await enrolled(factor, bob);
      const [aliceCode] = await factor.generateRecoveryCodes(alice);
      expect((await failureOf(factor.verify(bob, aliceCode!))).code).to.equal('invalid_code');
    });
  });

  it('never puts the secret, a code or a recovery code into events or failure messages', async () => {
    const factor = make({ maxAttempts: 50 });
    const { uri, manualEntryKey } = await factor.startEnrollment(alice);
    const code = codeAt(uri, Date.now());
    const failures: AuthenticationFailure[] = [];
    failures.push(await failureOf(factor.confirmEnrollment(alice, code === '000000' ? '111111' : '000000')));
    await factor.confirmEnrollment(alice, code);
    failures.push(await failureOf(factor.verify(alice, code)));
    const [recovery] = await factor.generateRecoveryCodes(alice);
    await factor.verify(alice, recovery!);
    failures.push(await failureOf(factor.verify(alice, recovery!)));
    const seen = JSON.stringify([events, failures.map((f) => ({ ...f.toChallenge(), message: f.message }))]);
    for (const secret of [manualEntryKey, code, recovery!, recovery!.replace(/-/g, '')])
      expect(seen).to.not.include(secret);
    expect(seen).to.not.include('otpauth');
  });

  describe('options', () => {
    const base = (): TotpOptions => ({ issuer: 'Example', secret: key, ...createTotpRecords() });

    it('refuses a missing or bad issuer, a short secret, missing secret callbacks', () => {
      expect(() => new TotpFactor(undefined as never)).to.throw(ConfigurationError, /options are required/);
      expect(() => new TotpFactor({ ...base(), issuer: '' })).to.throw(ConfigurationError, /issuer/);
      expect(() => new TotpFactor({ ...base(), issuer: 'a:b' })).to.throw(ConfigurationError, /issuer/);
      expect(() => new TotpFactor({ ...base(), secret: 'short' })).to.throw(ConfigurationError, /32 bytes/);
      expect(() => new TotpFactor({ ...base(), secret: undefined as never })).to.throw(
        ConfigurationError,
        /32 bytes/,
      );
      expect(() => new TotpFactor({ ...base(), loadSecret: undefined as never })).to.throw(/loadSecret/);
      expect(() => new TotpFactor({ ...base(), saveSecret: 'x' as never })).to.throw(/saveSecret/);
    });

    it('refuses one recovery callback without the other', () => {
      const { saveRecoveryCodes, consumeRecoveryCode, ...rest } = base();
      expect(() => new TotpFactor({ ...rest, saveRecoveryCodes })).to.throw(ConfigurationError, /both/);
      expect(() => new TotpFactor({ ...rest, consumeRecoveryCode })).to.throw(ConfigurationError, /both/);
      const without = new TotpFactor(rest);
      expect(without.recoveryCodesEnabled).to.equal(false);
      return rejectionOf(without.generateRecoveryCodes(alice), ConfigurationError);
    });

    it('validates window, counts, TTLs, qrCode, store and the callbacks’ types', () => {
      for (const window of [-1, 4, 1.5, '1'])
        expect(() => new TotpFactor({ ...base(), window: window as never })).to.throw(
          ConfigurationError,
          /window/,
        );
      expect(new TotpFactor({ ...base(), window: 3 }).window).to.equal(3);
      for (const [name, value] of [
        ['maxAttempts', 0],
        ['lockoutSeconds', -5],
        ['recoveryCodeCount', 101],
        ['recoveryCodeCount', 2.5],
        ['enrollmentTtlSeconds', 0],
        ['qrCode', 'yes'],
        ['getUserId', 'id'],
        ['getAccountName', 1],
        ['onEvent', {}],
      ] as const)
        expect(() => new TotpFactor({ ...base(), [name]: value } as TotpOptions), name).to.throw(
          ConfigurationError,
          name,
        );
      expect(() => new TotpFactor({ ...base(), store: {} as never })).to.throw(ConfigurationError, /Store/);
      const defaults = new TotpFactor(base());
      expect([
        defaults.window,
        defaults.maxAttempts,
        defaults.recoveryCodeCount,
        defaults.enrollmentTtlSeconds,
      ]).to.deep.equal([1, 5, 10, 600]);
    });

    it('TotpStrategy: name totp by default, its own name, codeField and verify validated', () => {
      expect(new TotpStrategy(base()).name).to.equal('totp');
      expect(new TotpStrategy({ ...base(), name: 'authenticator' }).name).to.equal('authenticator');
      expect(() => new TotpStrategy({ ...base(), name: ' x' })).to.throw(ConfigurationError, /name/);
      expect(() => new TotpStrategy({ ...base(), codeField: '' })).to.throw(ConfigurationError, /codeField/);
      expect(() => new TotpStrategy(base(), 'verify' as never)).to.throw(ConfigurationError, /verify/);
      expect(() => new TotpStrategy({ ...base(), allowedOrigins: ['not an origin'] })).to.throw(
        ConfigurationError,
      );
    });
  });
});

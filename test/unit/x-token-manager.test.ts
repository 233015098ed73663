import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { SignJWT, UnsecuredJWT, decodeProtectedHeader } from 'jose';
import sinon from 'sinon';
import { AuthenticationFailure, ConfigurationError } from '../../src/index.js';
import { MemoryStore } from '../../src/exports/stores.js';
import { XTokenManager } from '../../src/exports/x-token.js';
import { rejectionOf } from '../helpers/assert.js';
import { decodeXToken, mintXToken, xTokenKid } from '../helpers/x-token.js';

const secret = randomBytes(32);

async function refusal(promise: Promise<unknown>): Promise<AuthenticationFailure> {
  const failure = await rejectionOf(promise, AuthenticationFailure);
  expect(failure).to.include({ code: 'invalid_token', status: 401 });
  return failure;
}

describe('XTokenManager', () => {
  let clock: sinon.SinonFakeTimers;
  let store: MemoryStore;
  const start = Date.UTC(2026, 10, 22, 9, 0, 0);

  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: start, toFake: ['Date'] });
    store = new MemoryStore();
  });
  afterEach(async () => {
    clock.restore();
    await store.close();
  });

  it('issues a token whose claims name the user, a fresh family and the login time', async () => {
    const tokens = new XTokenManager({ secret, store });
    const { token, payload } = await tokens.issue('alice');
    const verified = await tokens.verify(token);
    expect(verified).to.include({
      sub: 'alice',
      sid: payload.sid,
      auth_time: start / 1000,
      iss: 'passport-factors',
    });
    expect(verified.exp - verified.iat).to.equal(1800);
    // The compact format of HMAC keys: no kid for `secret`, base64url claims, an HS256 MAC.
    expect(token).to.match(/^xt1\.\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    expect(decodeXToken(token)).to.deep.equal({
      sub: 'alice',
      sid: payload.sid,
      auth_time: start / 1000,
      iat: start / 1000,
      exp: start / 1000 + 1800,
      jti: payload.jti,
    });
  });

  it('the hot path costs ONE store call: verifyAndRenew() checks and rotates with a single roll()', async () => {
    const tokens = new XTokenManager({ secret, store });
    const { token } = await tokens.issue('alice');
    const calls = ['get', 'set', 'take', 'delete', 'roll', 'setRolling', 'addMember', 'takeMembers'].map(
      (method) => [method, sinon.spy(store, method as keyof MemoryStore)] as const,
    );
    const { payload, renewed } = await tokens.verifyAndRenew(token);
    const counted = Object.fromEntries(calls.map(([method, spy]) => [method, spy.callCount]));
    expect(counted).to.deep.equal({
      get: 0,
      set: 0,
      take: 0,
      delete: 0,
      roll: 1,
      setRolling: 0,
      addMember: 0,
      takeMembers: 0,
    });
    expect(renewed.payload).to.include({ sid: payload.sid, sub: 'alice', auth_time: payload.auth_time });
    expect(renewed.payload.jti).to.not.equal(payload.jti);
    for (const [, spy] of calls) spy.restore();
  });

  it('verify() checks without rotating; renew() rotates; a predecessor past the grace revokes the family', async () => {
    const events: unknown[] = [];
    const tokens = new XTokenManager({ secret, store, reuseGraceSec: 2, onEvent: (e) => events.push(e) });
    const { token } = await tokens.issue('alice');
    const payload = await tokens.verify(token);
    await tokens.verify(token);
    const renewed = await tokens.renew(payload);
    // Within the grace (fake clock: nothing has passed) the predecessor still verifies.
    await tokens.verify(token);
    clock.tick(2001);
    await refusal(tokens.verify(token));
    await refusal(tokens.verify(renewed.token));
    expect(events).to.deep.equal([{ type: 'reuse_detected', userId: 'alice', familyId: payload.sid }]);
  });

  it('an onEvent hook that throws changes nothing', async () => {
    const tokens = new XTokenManager({
      secret,
      store,
      onEvent: () => {
        throw new Error('audit sink down');
      },
    });
    await tokens.issue('alice');
    expect(await tokens.revokeUser('alice')).to.equal(1);
  });

  it('B1: a secret shorter than 32 bytes is refused at construction', () => {
    expect(() => new XTokenManager({ secret: 'too-short' })).to.throw(
      ConfigurationError,
      /at least 32 bytes/,
    );
    expect(() => new XTokenManager({ secret: randomBytes(31) })).to.throw(ConfigurationError);
    expect(() => new XTokenManager({ keys: [{ kid: 'k', alg: 'HS512', secret: randomBytes(32) }] })).to.throw(
      ConfigurationError,
      /64 bytes/,
    );
  });

  it('B1: family ids carry 128 random bits and every login gets a new one', async () => {
    const tokens = new XTokenManager({ secret, store });
    const sids = new Set<string>();
    for (let i = 0; i < 200; i++) sids.add((await tokens.issue('alice')).payload.sid);
    expect(sids.size).to.equal(200);
    for (const sid of sids) expect(Buffer.from(sid, 'base64url')).to.have.length(16);
  });

  it('B1: a token forged by changing its payload is refused', async () => {
    const tokens = new XTokenManager({ secret, store });
    const { token } = await tokens.issue('alice');
    const [prefix, kid, body, mac] = token.split('.');
    const forged = JSON.parse(Buffer.from(body!, 'base64url').toString());
    forged[0] = 'admin';
    await refusal(
      tokens.verify(`${prefix}.${kid}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${mac}`),
    );
  });

  describe('B1 / B9: the compact MAC format', () => {
    let tokens: XTokenManager;
    let token: string;
    let claims: unknown[];
    beforeEach(async () => {
      tokens = new XTokenManager({ secret, store });
      token = (await tokens.issue('alice')).token;
      const c = decodeXToken(token);
      claims = [c.sub, c.sid, c.auth_time, c.iat, c.exp, c.jti];
      // The genuine token and a faithful re-mint pass: each refusal below is for its one change.
      expect(mintXToken(claims, { secret })).to.equal(token);
      expect((await tokens.verify(token)).sub).to.equal('alice');
    });

    it('B1: a tampered MAC (any one character), a truncated, an extended or a missing MAC is refused', async () => {
      const macAt = token.lastIndexOf('.') + 1;
      const mac = token.slice(macAt);
      for (let i = 0; i < mac.length; i++) {
        const flipped = mac[i] === 'A' ? 'B' : 'A';
        await refusal(
          tokens.verify(`${token.slice(0, macAt)}${mac.slice(0, i)}${flipped}${mac.slice(i + 1)}`),
        );
      }
      for (const candidate of [
        token.slice(0, -1),
        token.slice(0, macAt + 22),
        `${token}A`,
        `${token}=`,
        token.slice(0, macAt),
        token.slice(0, macAt - 1),
        `${token.slice(0, macAt)}${Buffer.from(mac, 'base64url').toString('base64')}`,
        token.slice(0, 20),
        'xt1.',
        'xt1...',
      ]) {
        await refusal(tokens.verify(candidate));
      }
    });

    it('B1: a flipped character anywhere in the token is refused', async () => {
      for (let i = 0; i < token.length; i++) {
        const flipped = token[i] === 'A' ? 'B' : 'A';
        await refusal(tokens.verify(`${token.slice(0, i)}${flipped}${token.slice(i + 1)}`));
      }
    });

    it('B9: a token of another key (same format, same claims) is refused', async () => {
      await refusal(tokens.verify(mintXToken(claims, { secret: randomBytes(32) })));
    });

    it('B9: another format version, or a kid the manager does not have, is refused', async () => {
      await refusal(tokens.verify(mintXToken(claims, { secret, prefix: 'xt2' })));
      await refusal(tokens.verify(mintXToken(claims, { secret, prefix: 'xt0' })));
      await refusal(tokens.verify(token.replace(/^xt1/, 'XT1')));
      await refusal(tokens.verify(mintXToken(claims, { secret, kid: 'k1' })));
    });

    it("B9: a token MAC'd for another issuer or audience is refused", async () => {
      await refusal(tokens.verify(mintXToken(claims, { secret, issuer: 'another-app' })));
      await refusal(tokens.verify(mintXToken(claims, { secret, audience: 'api' })));
      const withAudience = new XTokenManager({ secret, store, audience: 'api' });
      await refusal(withAudience.verify(token));
      const issued = await withAudience.issue('alice');
      expect(await withAudience.verify(issued.token)).to.include({ aud: 'api', sub: 'alice' });
      await refusal(tokens.verify(issued.token));
    });

    it('B9: an expired token is refused even with a valid MAC; so are claims in the future or malformed', async () => {
      const now = start / 1000;
      const [sub, sid, , , , jti] = claims;
      const cases: Array<[string, unknown[]]> = [
        ['expired', [sub, sid, now - 600, now - 600, now - 60]],
        ['issued in the future', [sub, sid, now, now + 60, now + 600]],
        ['login after issue', [sub, sid, now + 1, now, now + 600]],
        ['past the absolute lifetime', [sub, sid, now - 43_300, now - 10, now + 600]],
        ['exp a string', [sub, sid, now, now, String(now + 600)]],
        ['empty subject', ['', sid, now, now, now + 600]],
        ['a number as subject', [7, sid, now, now, now + 600]],
        ['fractional time', [sub, sid, now + 0.5, now, now + 600]],
      ];
      for (const [what, forged] of cases) {
        const failure = await rejectionOf(
          tokens.verify(mintXToken([...forged, jti], { secret })),
          AuthenticationFailure,
        );
        expect(failure.code, what).to.equal('invalid_token');
      }
      // Valid MAC over a body that is not the six-claim array.
      for (const body of [claims.slice(0, 5), [...claims, 'extra'], { sub: 'alice' }, 'alice']) {
        await refusal(tokens.verify(mintXToken(body as unknown[], { secret })));
      }
      const notJson = `xt1..${Buffer.from('[oops').toString('base64url')}`;
      const mac = (await import('node:crypto'))
        .createHmac('sha256', secret)
        .update(JSON.stringify(['xtoken/v1', 'passport-factors', null]))
        .update(notJson)
        .digest('base64url');
      await refusal(tokens.verify(`${notJson}.${mac}`));
    });

    it('B9: a JWT is refused when only HMAC keys are configured, also one signed with the secret itself', async () => {
      const jwt = await new SignJWT({ sid: claims[1] as string, auth_time: claims[2] as number })
        .setProtectedHeader({ alg: 'HS256', typ: 'xtoken+jwt' })
        .setJti(claims[5] as string)
        .setSubject('alice')
        .setIssuer('passport-factors')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(secret);
      await refusal(tokens.verify(jwt));
    });
  });

  it('B9: alg "none", a wrong key, an HS256 token signed with a valid-length other secret are refused', async () => {
    const tokens = new XTokenManager({ secret, store });
    const { payload } = await tokens.issue('alice');
    const unsecured = new UnsecuredJWT({ sid: payload.sid, auth_time: payload.auth_time })
      .setSubject('alice')
      .setIssuer('passport-factors')
      .setIssuedAt()
      .setExpirationTime('10m')
      .encode();
    await refusal(tokens.verify(unsecured));
    const otherKey = await new SignJWT({ sid: payload.sid, auth_time: payload.auth_time })
      .setProtectedHeader({ alg: 'HS256', typ: 'xtoken+jwt' })
      .setSubject('alice')
      .setIssuer('passport-factors')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(randomBytes(32));
    await refusal(tokens.verify(otherKey));
  });

  it('B9: a JWT of another type (no typ: xtoken+jwt) signed with the secret is refused', async () => {
    const tokens = new XTokenManager({ secret, store });
    const { payload } = await tokens.issue('alice');
    const untyped = await new SignJWT({ sid: payload.sid, auth_time: payload.auth_time })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('alice')
      .setIssuer('passport-factors')
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(secret);
    await refusal(tokens.verify(untyped));
  });

  it('B9 / B3: a token is refused once its idle lifetime has passed without renewal', async () => {
    const tokens = new XTokenManager({ secret, store, idleTtlSec: 600 });
    const { token } = await tokens.issue('alice');
    clock.tick(599_000);
    await tokens.verify(token);
    clock.tick(7_000); // past 600 s plus the 5 s clock tolerance
    await refusal(tokens.verify(token));
  });

  it('renewal slides the idle expiry within the same family', async () => {
    const tokens = new XTokenManager({ secret, store, idleTtlSec: 600 });
    const first = await tokens.issue('alice');
    clock.tick(500_000);
    const renewed = await tokens.renew(await tokens.verify(first.token));
    expect(renewed.payload.sid).to.equal(first.payload.sid);
    expect(renewed.payload.exp).to.equal(first.payload.exp + 500);
    clock.tick(400_000); // 900 s after login: the first token has idled out, the renewed one has not
    await refusal(tokens.verify(first.token));
    expect((await tokens.verify(renewed.token)).sub).to.equal('alice');
  });

  it('B3: rolling never extends a family past its absolute lifetime', async () => {
    const tokens = new XTokenManager({ secret, store, idleTtlSec: 1800, absoluteTtlSec: 7200 });
    let current = await tokens.issue('alice');
    const absoluteEnd = current.absoluteExpiresAt;
    // An active client renews every 10 minutes, forever.
    for (let minute = 10; minute < 120; minute += 10) {
      clock.tick(600_000);
      current = await tokens.renew(await tokens.verify(current.token));
      expect(current.payload.exp).to.be.at.most(absoluteEnd);
    }
    expect(current.payload.exp).to.equal(absoluteEnd);
    clock.tick(600_000 + 6_000);
    await refusal(tokens.verify(current.token));
  });

  it('B3: shortening absoluteTtlSec in the configuration applies at once to families already issued', async () => {
    const before = new XTokenManager({ secret, store, idleTtlSec: 1800, absoluteTtlSec: 7200 });
    const first = await before.issue('alice');
    clock.tick(1_500_000);
    const renewed = await before.renew(await before.verify(first.token)); // idle-valid until t = 3300 s
    clock.tick(1_600_000); // t = 3100 s
    expect((await before.verify(renewed.token)).sub).to.equal('alice');
    const shorter = new XTokenManager({ secret, store, idleTtlSec: 1800, absoluteTtlSec: 3000 });
    await refusal(shorter.verify(renewed.token));
  });

  it('B4: a revoked family is refused, also for tokens renewed before the revocation', async () => {
    const tokens = new XTokenManager({ secret, store });
    const first = await tokens.issue('alice');
    const renewed = await tokens.renew(await tokens.verify(first.token));
    await tokens.revoke(first.payload.sid);
    await refusal(tokens.verify(first.token));
    await refusal(tokens.verify(renewed.token));
  });

  it('a family whose store entry names another subject is refused', async () => {
    const tokens = new XTokenManager({ secret, store });
    const { token, payload } = await tokens.issue('alice');
    await store.set(`x-token:family:${payload.sid}`, 'mallory', 60_000);
    await refusal(tokens.verify(token));
  });

  describe('key rotation', () => {
    const k1 = { kid: 'k1', alg: 'HS256' as const, secret: randomBytes(32) };
    const k2 = { kid: 'k2', alg: 'HS256' as const, secret: randomBytes(32) };

    it('accepts tokens of a retiring key and renews them under the new one', async () => {
      const before = new XTokenManager({ keys: [k1], store });
      const { token } = await before.issue('alice');
      const during = new XTokenManager({ keys: [k2, k1], store });
      const renewed = await during.renew(await during.verify(token));
      expect(xTokenKid(token)).to.equal('k1');
      expect(xTokenKid(renewed.token)).to.equal('k2');
    });

    it("a kid is bound to its own hash: a token naming k1 MAC'd with HS384 (with k1's secret) is refused", async () => {
      const tokens = new XTokenManager({ keys: [k1], store });
      const { token } = await tokens.issue('alice');
      const c = decodeXToken(token);
      const claims = [c.sub, c.sid, c.auth_time, c.iat, c.exp, c.jti];
      expect(mintXToken(claims, { secret: k1.secret, kid: 'k1' })).to.equal(token);
      await refusal(tokens.verify(mintXToken(claims, { secret: k1.secret, kid: 'k1', hash: 'sha384' })));
      await refusal(tokens.verify(mintXToken(claims, { secret: k2.secret, kid: 'k1' })));
    });

    it("rotates between HMAC and asymmetric keys both ways: the old key's tokens verify and renew under the new", async () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const ec = { kid: 'ec1', alg: 'ES256' as const, publicKey, privateKey };
      const hmacToken = (await new XTokenManager({ keys: [k1], store }).issue('alice')).token;
      const toEc = new XTokenManager({ keys: [ec, k1], store });
      const renewedAsJwt = (await toEc.verifyAndRenew(hmacToken)).renewed.token;
      expect(decodeProtectedHeader(renewedAsJwt)).to.include({ alg: 'ES256', kid: 'ec1', typ: 'xtoken+jwt' });
      const backToHmac = new XTokenManager({ keys: [k2, ec], store });
      const renewed = (await backToHmac.verifyAndRenew(renewedAsJwt)).renewed.token;
      expect(xTokenKid(renewed)).to.equal('k2');
      expect((await backToHmac.verify(renewed)).sub).to.equal('alice');
      // The HMAC key that was dropped no longer verifies its tokens.
      await refusal(backToHmac.verify(hmacToken));
    });

    it('refuses a token signed by a key that was rotated out', async () => {
      const { token } = await new XTokenManager({ keys: [k1], store }).issue('alice');
      await refusal(new XTokenManager({ keys: [k2], store }).verify(token));
    });

    it('refuses a token that names a known kid with another algorithm', async () => {
      const tokens = new XTokenManager({ keys: [k1], store });
      const { payload } = await tokens.issue('alice');
      const mismatched = await new SignJWT({ sid: payload.sid, auth_time: payload.auth_time })
        .setProtectedHeader({ alg: 'HS384', kid: 'k1', typ: 'xtoken+jwt' })
        .setSubject('alice')
        .setIssuer('passport-factors')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(k1.secret);
      await refusal(tokens.verify(mismatched));
    });

    it('signs with an asymmetric key (ES256) and verifies with its public half', async () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const signer = new XTokenManager({
        keys: [{ kid: 'ec1', alg: 'ES256', publicKey, privateKey }],
        store,
      });
      const { token } = await signer.issue('alice');
      const verifierOnly = new XTokenManager({ keys: [k1, { kid: 'ec1', alg: 'ES256', publicKey }], store });
      expect((await verifierOnly.verify(token)).sub).to.equal('alice');
    });
  });

  describe('configuration errors', () => {
    const { publicKey: rsaPublic } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const cases: Array<[string, () => unknown, RegExp]> = [
      ['no key at all', () => new XTokenManager({}), /secret/],
      ['both secret and keys', () => new XTokenManager({ secret, keys: [] }), /either/],
      [
        'a repeated kid',
        () =>
          new XTokenManager({
            keys: [
              { kid: 'a', alg: 'HS256', secret },
              { kid: 'a', alg: 'HS256', secret },
            ],
          }),
        /repeats/,
      ],
      [
        'a first key without a private key',
        () => new XTokenManager({ keys: [{ kid: 'r', alg: 'RS256', publicKey: rsaPublic }] }),
        /privateKey/,
      ],
      [
        'an RSA key for ES256',
        () => new XTokenManager({ keys: [{ kid: 'r', alg: 'ES256', publicKey: rsaPublic }] }),
        /cannot be used/,
      ],
      [
        'an unknown algorithm',
        () => new XTokenManager({ keys: [{ kid: 'n', alg: 'none' as 'HS256', secret }] }),
        /alg must be one of/,
      ],
      [
        'idle longer than absolute',
        () => new XTokenManager({ secret, idleTtlSec: 100, absoluteTtlSec: 50 }),
        /cannot exceed/,
      ],
      ['a zero idle TTL', () => new XTokenManager({ secret, idleTtlSec: 0 }), /idleTtlSec/],
      ['a negative reuse grace', () => new XTokenManager({ secret, reuseGraceSec: -1 }), /reuseGraceSec/],
      [
        'an onEvent that is not a function',
        () => new XTokenManager({ secret, onEvent: 'log' as never }),
        /onEvent/,
      ],
    ];
    for (const [what, build, message] of cases) {
      it(`refuses ${what}`, () => {
        expect(build).to.throw(ConfigurationError, message);
      });
    }
  });
});

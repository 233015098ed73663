import { expect } from 'chai';
import { invokeVerify, userIdOf, type VerifyDone } from '../../src/internal/verify.js';

describe('invokeVerify (done-style and promise-style verify functions)', () => {
  const alice = { id: 'alice' };

  it('done-style: passes the user and info through', async () => {
    const outcome = await invokeVerify(
      (name: string, done: VerifyDone) => done(null, { id: name }, { hint: 1 }),
      ['alice'],
    );
    expect(outcome).to.deep.equal({ user: alice, info: { hint: 1 } });
  });

  it('done-style: done(null, false) is "no user"', async () => {
    const outcome = await invokeVerify((_n: string, done: VerifyDone) => done(null, false), ['x']);
    expect(outcome.user).to.equal(false);
  });

  it('done-style: done(err) rejects with that error', async () => {
    const boom = new Error('db down');
    const result = await invokeVerify((_n: string, done: VerifyDone) => done(boom), ['x']).catch((e) => e);
    expect(result).to.equal(boom);
  });

  it('done-style in an async function waits for done even when the promise resolves first', async () => {
    const verify = async (_n: string, done: VerifyDone) => {
      setTimeout(() => done(null, alice), 10);
    };
    expect((await invokeVerify(verify, ['alice'])).user).to.deep.equal(alice);
  });

  it('done-style: a second done() call is ignored', async () => {
    const outcome = await invokeVerify(
      (_n: string, done: VerifyDone) => {
        done(null, alice);
        done(new Error('late'));
      },
      ['alice'],
    );
    expect(outcome.user).to.deep.equal(alice);
  });

  it('promise-style: resolves to the user; false, null and undefined are "no user"', async () => {
    expect((await invokeVerify(async () => alice, ['alice'])).user).to.deep.equal(alice);
    for (const none of [false, null, undefined]) {
      expect((await invokeVerify(async () => none, ['x'])).user).to.equal(false);
    }
  });

  it('promise-style: a rejection or a synchronous throw becomes a rejection', async () => {
    const rejected = await invokeVerify(async () => Promise.reject(new Error('nope')), []).catch((e) => e);
    expect(rejected).to.be.instanceOf(Error).with.property('message', 'nope');
    const thrown = await invokeVerify(() => {
      throw new Error('sync');
    }, []).catch((e) => e);
    expect(thrown).to.have.property('message', 'sync');
  });

  it('a non-Error throw is wrapped into an Error', async () => {
    const thrown = await invokeVerify(() => {
      throw 'a string';
    }, []).catch((e) => e);
    expect(thrown).to.be.instanceOf(Error).with.property('code', 'ERR_NON_ERROR_THROWN');
  });

  it('a synchronous verify that returns the user works too', async () => {
    expect((await invokeVerify(() => alice, [])).user).to.deep.equal(alice);
  });
});

describe('userIdOf (the default user id of every strategy)', () => {
  it('answers string and number ids as strings', () => {
    expect(userIdOf({ id: 'u1' } as Express.User, 'Test')).to.equal('u1');
    expect(userIdOf({ id: 0 } as Express.User, 'Test')).to.equal('0');
  });

  it('refuses a missing, empty or non-finite id instead of answering "undefined" for everyone', () => {
    for (const user of [{}, { id: '' }, { id: Number.NaN }, { id: { nested: 1 } }, null]) {
      expect(() => userIdOf(user as Express.User, 'Test')).to.throw(
        TypeError,
        /Test: the user has no string or number `id`/,
      );
    }
  });
});

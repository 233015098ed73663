import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import sinon from 'sinon';
import { AuthenticationFailure } from '../../src/index.js';
import { decryptRiscSnapshot } from '../../src/core/risc-snapshot.js';
import { type RiscResult } from '../../src/exports/risc.js';
import { encryptSnapshotIndependently } from '../helpers/risc.js';

const secret = randomBytes(32).toString('hex');
const fresh = (): RiscResult => ({
  snapshot_id: 'snap-1',
  browser_id: 'browser-1',
  user_id: 'u1',
  date: new Date().toISOString(),
  score: 12,
  status: 'passed',
});

const encrypt = (plaintext: string, ix = 7, key = secret): string =>
  encryptSnapshotIndependently(plaintext, key, ix);

function failure(snapshot: unknown): AuthenticationFailure {
  try {
    decryptRiscSnapshot(snapshot, secret);
  } catch (err) {
    expect(err).to.be.instanceOf(AuthenticationFailure);
    return err as AuthenticationFailure;
  }
  throw new Error('expected the snapshot to be refused');
}

describe('decryptRiscSnapshot', () => {
  it('decrypts with the key window of the doubled secret at ix, for every ix from 0 to 63', () => {
    for (let ix = 0; ix < 64; ix++) {
      const result = fresh();
      expect(decryptRiscSnapshot(encrypt(JSON.stringify(result), ix), secret)).to.deep.equal(result);
    }
  });

  it('R1: a bit-flipped ciphertext does not yield a passed result', () => {
    const snapshot = JSON.parse(encrypt(JSON.stringify(fresh()))) as { data: string };
    const bytes = Buffer.from(snapshot.data, 'base64');
    bytes[bytes.length - 1]! ^= 0x01;
    expect(failure(JSON.stringify({ ...snapshot, data: bytes.toString('base64') })).code).to.equal(
      'failed_risk',
    );
  });

  it('R2: a snapshot older than maxAgeSec is refused', () => {
    const clock = sinon.useFakeTimers({ now: Date.now(), toFake: ['Date'] });
    try {
      const snapshot = encrypt(JSON.stringify(fresh()));
      clock.tick(601_000);
      expect(failure(snapshot).code).to.equal('failed_risk');
    } finally {
      clock.restore();
    }
  });

  it('R3: missing, empty and garbage snapshots fail (failed_risk), never count as score 0', () => {
    for (const garbage of [
      undefined,
      '',
      'not json',
      '{}',
      '{"ix":99,"iv":"00","data":"AA=="}',
      42,
      encrypt('"a string"'),
    ]) {
      expect(failure(garbage).code).to.equal('failed_risk');
    }
  });

  it('R4: a padding error, a parse error, a wrong key and a bad field all give the same failure', () => {
    const padding = (() => {
      const s = JSON.parse(encrypt(JSON.stringify(fresh()))) as { data: string };
      return JSON.stringify({
        ...s,
        data: Buffer.from(Buffer.from(s.data, 'base64').subarray(0, 16)).toString('base64'),
      });
    })();
    const cases = [
      padding,
      encrypt('{ not json'),
      encrypt(JSON.stringify(fresh()), 7, randomBytes(32).toString('hex')),
      encrypt(JSON.stringify({ ...fresh(), score: 101 })),
      encrypt(JSON.stringify({ ...fresh(), status: 'fine' })),
    ];
    const seen = cases.map((c) => {
      const f = failure(c);
      return JSON.stringify([f.code, f.status, f.message]);
    });
    expect(new Set(seen).size, seen.join('\n')).to.equal(1);
  });
});

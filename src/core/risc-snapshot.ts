import { createDecipheriv } from 'node:crypto';
import { AuthenticationFailure } from '../errors.js';

/** A RISC snapshot's result, as the browser script encrypted it. */
export interface RiscResult {
  snapshot_id: string;
  browser_id: string;
  user_id: string;
  /** ISO 8601. */
  date: string;
  /** 0–100, lower is safer. */
  score: number;
  status: 'passed' | 'risky' | 'failed';
}

/** Longest snapshot read, in characters. */
const MAX_SNAPSHOT_LENGTH = 16_384;
const HEX_IV = /^[0-9a-f]{32}$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Every problem reading a snapshot (JSON, key window, padding, UTF-8, fields, age) is this one
 * failure: which step failed is never told, so a forger learns nothing (no padding oracle).
 */
function unreadable(): AuthenticationFailure {
  return new AuthenticationFailure('failed_risk', 'The risk check could not be completed. Try again.', 401);
}

/**
 * Decrypts a Lastwall RISC snapshot as the vendor's module does: `{ ix, iv, data }`; the key is the
 * 32 hex characters of `secret + secret` at offset `ix`; AES-128-CBC with the hex IV over base64
 * data; UTF-8 JSON inside. Then checks fields, types and that `date` is within `maxAgeSec` of now.
 *
 * CBC has no MAC: a decrypted result is NOT proof of anything until `api/validate` agrees with it.
 */
export function decryptRiscSnapshot(snapshot: unknown, secret: string, maxAgeSec = 600): RiscResult {
  if (typeof snapshot !== 'string' || snapshot.length === 0 || snapshot.length > MAX_SNAPSHOT_LENGTH)
    throw unreadable();
  let plaintext: string;
  try {
    const { ix, iv, data } = JSON.parse(snapshot) as { ix?: unknown; iv?: unknown; data?: unknown };
    if (!Number.isInteger(ix) || (ix as number) < 0 || (ix as number) > 63) throw unreadable();
    if (typeof iv !== 'string' || !HEX_IV.test(iv) || typeof data !== 'string' || !BASE64.test(data))
      throw unreadable();
    const key = Buffer.from((secret + secret).substring(ix as number, (ix as number) + 32), 'hex');
    if (key.length !== 16) throw unreadable();
    const decipher = createDecipheriv('aes-128-cbc', key, Buffer.from(iv, 'hex'));
    const bytes = Buffer.concat([decipher.update(Buffer.from(data, 'base64')), decipher.final()]);
    plaintext = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw unreadable();
  }
  let result: Partial<RiscResult>;
  try {
    result = JSON.parse(plaintext) as Partial<RiscResult>;
  } catch {
    throw unreadable();
  }
  const { snapshot_id, browser_id, user_id, date, score, status } = result;
  const when = typeof date === 'string' ? Date.parse(date) : Number.NaN;
  if (
    typeof snapshot_id !== 'string' ||
    snapshot_id === '' ||
    typeof browser_id !== 'string' ||
    browser_id === '' ||
    typeof user_id !== 'string' ||
    !Number.isFinite(when) ||
    Math.abs(Date.now() - when) > maxAgeSec * 1000 ||
    typeof score !== 'number' ||
    !Number.isInteger(score) ||
    score < 0 ||
    score > 100 ||
    (status !== 'passed' && status !== 'risky' && status !== 'failed')
  ) {
    throw unreadable();
  }
  return { snapshot_id, browser_id, user_id, date: date as string, score, status };
}

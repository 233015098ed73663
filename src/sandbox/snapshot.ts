import { createCipheriv, randomBytes, randomInt } from 'node:crypto';
import type { RiscResult } from '../core/risc-snapshot.js';

/** Encrypts a result in the snapshot format: `{ ix, iv, data }`, key window of the doubled secret at `ix`. */
export function encryptSnapshot(result: RiscResult, secret: string): string {
  const ix = randomInt(0, 64);
  const key = Buffer.from((secret + secret).substring(ix, ix + 32), 'hex');
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(result), 'utf8'), cipher.final()]).toString(
    'base64',
  );
  return JSON.stringify({ ix, iv: iv.toString('hex'), data });
}

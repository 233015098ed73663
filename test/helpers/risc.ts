import { createCipheriv, randomBytes } from 'node:crypto';

/**
 * Encrypts a plaintext in the RISC snapshot format of PROTOCOLS.md §4, written here independently
 * of the sandbox's code so the verifier is not tested against itself.
 */
export function encryptSnapshotIndependently(plaintext: string, secret: string, ix = 7): string {
  const key = Buffer.from((secret + secret).slice(ix, ix + 32), 'hex');
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-128-cbc', key, iv);
  const data = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
  return JSON.stringify({ ix, iv: iv.toString('hex'), data });
}

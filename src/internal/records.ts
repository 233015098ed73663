/**
 * Reading back what a strategy wrote to its store. A store is shared (other apps, older versions
 * of this library, an operator's hand), so a record is checked field by field before use: one that
 * is not valid JSON or lacks a field of the right type is "no state", never a crash and never a
 * success.
 */

/** A field's type: `'string'` a non-empty string, `'number'` a finite number; `?` when optional. */
type FieldType = 'string' | 'number' | 'string?' | 'number?';

export type RecordShape<T> = { readonly [K in keyof T]-?: FieldType };

/** The record in `raw`, or `undefined` when `raw` is absent or not a record of this shape. */
export function readRecord<T>(raw: string | undefined, shape: RecordShape<T>): T | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  for (const [name, type] of Object.entries(shape) as Array<[string, FieldType]>) {
    const field = record[name];
    if (field === undefined && type.endsWith('?')) continue;
    if (type.startsWith('string') ? typeof field !== 'string' || field === '' : !Number.isFinite(field)) {
      return undefined;
    }
  }
  return record as T;
}

/** XignIn: a push login in flight (the strategy's `PushRecord`). */
export const XIGNIN_PUSH_RECORD = { loginSessionId: 'string', token: 'string', idToken: 'string?' } as const;

/** XignIn: an authorization code transaction (the strategy's `Transaction`). */
export const XIGNIN_TRANSACTION = {
  nonce: 'string',
  verifier: 'string',
  createdAt: 'number',
  redirectUri: 'string?',
} as const;

/** SecSign ID: a pending request (the strategy's `PendingRequest`). */
export const SECSIGN_PENDING = {
  secsignId: 'string',
  authSessionId: 'string',
  requestId: 'string',
  startedAt: 'number',
} as const;

/** WebAuthn: a pending challenge (the ceremonies' `ChallengeRecord`). */
export const WEBAUTHN_CHALLENGE = { x: 'number', u: 'string?', h: 'string?' } as const;

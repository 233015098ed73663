import { ConfigurationError } from '../errors.js';

/** A positive whole number option, or its default when absent. */
export function positiveIntegerOption(value: unknown, fallback: number, name: string, owner: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(
      `${owner}: \`${name}\` must be a positive whole number, got ${String(value)}.`,
    );
  }
  return value;
}

/** A function option, or its default when absent. */
export function functionOption<F extends (...args: never[]) => unknown>(
  value: unknown,
  fallback: F,
  name: string,
  owner: string,
): F {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') throw new ConfigurationError(`${owner}: \`${name}\` must be a function.`);
  return value as F;
}

/** A non-empty string option, or its default when absent. */
export function stringOption(value: unknown, fallback: string, name: string, owner: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value === '') {
    throw new ConfigurationError(`${owner}: \`${name}\` must be a non-empty string.`);
  }
  return value;
}

export function requireFunction(value: unknown, name: string, owner: string): void {
  if (typeof value !== 'function')
    throw new ConfigurationError(`${owner}: \`${name}\` is required and must be a function.`);
}

/** An audit hook that can never change an outcome: whatever it throws is ignored. */
export function auditHook<E>(value: unknown, owner: string): (event: E) => void {
  const hook = functionOption(value, (_event: E) => {}, 'onEvent', owner);
  return (event) => {
    try {
      hook(event);
    } catch {
      // An audit hook must never change the outcome of an authentication.
    }
  };
}

/**
 * A strategy's `name` option: the name Passport registers it under when `passport.use(strategy)`
 * is called without one, and the name its route handlers authenticate with by default.
 */
export function nameOption(value: unknown, fallback: string, owner: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.trim() === '' || value !== value.trim()) {
    throw new ConfigurationError(`${owner}: \`name\` must be a non-empty string without surrounding spaces.`);
  }
  return value;
}

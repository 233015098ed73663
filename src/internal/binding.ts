import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ConfigurationError } from '../errors.js';
import { requireFunction } from './options.js';
import { sessionOf } from './session.js';

/**
 * The `getSessionId(req)` option of every multi-step strategy: the id of the browser (or client)
 * a pending login is bound to, carried by the app in a cookie or a header of its own.
 */
export type GetSessionId = (req: IncomingMessage) => string | undefined;

/** Longest binding id accepted from `getSessionId(req)`. */
const MAX_BINDING_LENGTH = 1024;

/**
 * What a pending login is bound to: by default a random id kept in `req.session` (so a session
 * middleware is needed); with `getSessionId(req)`, the id the app carries. Store keys hold only a
 * digest of it, so whoever reads the store cannot replay a binding id, and another id names
 * other keys: it can neither read nor complete nor cancel this binding's state.
 */
export class Binding {
  private readonly custom: GetSessionId | undefined;

  constructor(
    private readonly owner: string,
    private readonly sessionKey: string,
    getSessionId: unknown,
  ) {
    if (getSessionId !== undefined) requireFunction(getSessionId, 'getSessionId', owner);
    this.custom = getSessionId as GetSessionId | undefined;
  }

  /** This request's binding, as a store-key digest; `undefined` when it has none yet. */
  current(req: IncomingMessage): string | undefined {
    if (this.custom) {
      const id = this.custom(req);
      return typeof id === 'string' && id !== '' && id.length <= MAX_BINDING_LENGTH ? digest(id) : undefined;
    }
    const state = sessionOf(req, this.owner)[this.sessionKey] as { binding?: unknown } | undefined;
    return typeof state?.binding === 'string' && state.binding !== '' ? digest(state.binding) : undefined;
  }

  /**
   * This request's binding, created in the session when it has none. With `getSessionId`, an
   * id is required here: a request that starts a login without one is the app's fault.
   */
  ensure(req: IncomingMessage): string {
    if (this.custom) {
      const id = this.custom(req);
      if (typeof id !== 'string' || id === '' || id.length > MAX_BINDING_LENGTH) {
        throw new ConfigurationError(
          `${this.owner}: getSessionId(req) returned no session id (a string of 1 to ${MAX_BINDING_LENGTH} characters).`,
        );
      }
      return digest(id);
    }
    const existing = this.current(req);
    if (existing !== undefined) return existing;
    const binding = randomBytes(16).toString('base64url');
    sessionOf(req, this.owner)[this.sessionKey] = { binding };
    return digest(binding);
  }
}

/** What a store key holds for a secret id (a binding, a cookie): its SHA-256, base64url. */
export function digest(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

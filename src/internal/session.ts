import type { IncomingMessage } from 'node:http';
import { ConfigurationError } from '../errors.js';

/**
 * The request's session (express-session or compatible), where strategies keep the pointer to
 * their pending server-side state. Throws a `ConfigurationError` naming `owner` when there is none.
 */
export function sessionOf(req: IncomingMessage, owner: string): Record<string, unknown> {
  const session = (req as { session?: Record<string, unknown> }).session;
  if (session === undefined || session === null || typeof session !== 'object') {
    throw new ConfigurationError(
      `${owner}: pending state is bound to the session, and req.session is missing. Mount express-session (or another session middleware) before the strategy's routes.`,
    );
  }
  return session;
}

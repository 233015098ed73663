import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson, type PassportLike } from '../internal/http.js';

/**
 * How a route handler writes its answer: the status and the JSON-ready body the README documents
 * for that route. The default writes it as JSON with plain Node APIs (Express and Connect alike);
 * an app that wants another envelope, HTML or its own headers passes its own.
 */
export type Respond = (
  res: ServerResponse,
  status: number,
  body: Record<string, unknown>,
  req: IncomingMessage,
) => void;

/** The default `Respond`: `Content-Type: application/json`, the body as given. */
export const respondJson: Respond = (res, status, body) => sendJson(res, status, body);

/** What every handler factory takes besides its strategy. */
export interface HandlerFactoryOptions {
  /** The Passport `Authenticator` the strategy is registered with (`passport` itself satisfies it). */
  passport: PassportLike;
  /**
   * The name the strategy was registered under with `passport.use(name, strategy)` (default: the
   * strategy's own `name`, which its `name` option sets).
   */
  name?: string;
  /** How answers are written (default `respondJson`). */
  respond?: Respond;
}

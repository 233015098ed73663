import type { Handler } from '../internal/http.js';
import { secSignParts, type SecSignStrategy } from '../strategies/secsign.js';
import type { HandlerFactoryOptions } from './respond.js';
import { completeHandler, handlerOptions, route } from './shared.js';

/** The routes of a SecSign ID login, as `secSignHandlers()` makes them. */
export interface SecSignHandlers {
  /**
   * `POST` with `{ secsignid }`: pushes a login request to the phone, replacing (and canceling)
   * this browser's previous one. 200 `{ state: 'pending', accessPass, pollIntervalMs }`; 400 for a
   * missing id or a request SecSign refuses (`secsign_refused`, with its code); 429
   * `rate_limited`; 403 `cross_origin` for another site's request.
   */
  start: Handler;
  /**
   * `GET`: the pending request's state as a lower-case name (`pending`, `fetched`,
   * `authenticated`, `denied`, `canceled`, `expired`, …). A final state forgets the request (and
   * cancels it at SecSign where the vendor's plugin does). 404 `no_pending_challenge` when there is none.
   */
  status: Handler;
  /** `POST`: withdraws the pending request here and at SecSign. `{ state: 'canceled' }`; 404 when none; 403 `cross_origin`. */
  cancel: Handler;
  /**
   * `POST`: `passport.authenticate` with the registered name. On success the user is logged in
   * (into the session when there is one) and `next()` runs, so your next handler answers; a
   * failure is answered with its status: 202 `pending`, 401 `denied`, `canceled`, `expired`,
   * `no_pending_challenge`, `invalid_credentials`.
   */
  complete: Handler;
}

/**
 * The route handlers of a `SecSignStrategy`:
 * `const { start, status, cancel, complete } = secSignHandlers(secsign, { passport })`.
 */
export function secSignHandlers(strategy: SecSignStrategy, options: HandlerFactoryOptions): SecSignHandlers {
  const { logins, binding, checkOrigin } = secSignParts(strategy);
  const resolved = handlerOptions(options, strategy.name, 'secSignHandlers');
  const { respond } = resolved;
  return {
    start: route(respond, async (req, res) => {
      checkOrigin(req);
      const body = (req as { body?: unknown }).body as Record<string, unknown> | undefined;
      const started = await logins.start(req, binding.ensure(req), body?.[logins.idField]);
      if (!started.started) {
        return respond(
          res,
          400,
          { error: started.message, code: 'secsign_refused', secsignCode: started.secsignCode },
          req,
        );
      }
      respond(
        res,
        200,
        { state: 'pending', accessPass: started.accessPass, pollIntervalMs: started.pollIntervalMs },
        req,
      );
    }),
    status: route(respond, async (req, res) => {
      respond(res, 200, { state: await logins.status(binding.current(req)) }, req);
    }),
    cancel: route(respond, async (req, res) => {
      checkOrigin(req);
      await logins.cancel(binding.current(req));
      respond(res, 200, { state: 'canceled' }, req);
    }),
    complete: completeHandler(resolved),
  };
}

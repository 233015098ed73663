import { AuthenticationFailure } from '../errors.js';
import type { Handler } from '../internal/http.js';
import { xignInParts, type XignInStrategy } from '../strategies/xignin.js';
import type { HandlerFactoryOptions } from './respond.js';
import { completeHandler, handlerOptions, route } from './shared.js';

/** The routes of an XignIn login, as `xignInHandlers()` makes them. */
export interface XignInHandlers {
  /**
   * `GET`: what the page with the manager's QR script needs, as JSON: `{ managerUri, clientId,
   * redirectUri, mode: 'PULL_TOKEN', tokenField, token }`. The page posts the code with
   * `[tokenField]: token` to the route that completes the login.
   */
  jsLoginConfig: Handler;
  /**
   * `POST { identifier, type? = 'EMAIL' }`: sends a push login to the user's phone. 202 `{ state:
   * 'pending' }`; 429 `rate_limited`; 403 `cross_origin` for another site's request.
   */
  push: Handler;
  /**
   * `GET`: polls the push login: `{ state: 'pending' | 'authenticated' | 'denied' | 'expired' }`;
   * 404 `no_pending_challenge`. On `authenticated`, post `{ push: 1 }` to the route that completes the login.
   */
  pushStatus: Handler;
  /**
   * `passport.authenticate` with the registered name, for the JS-login post and the push
   * completion (and a JSON callback). On success the user is logged in (into the session when
   * there is one) and `next()` runs, so your next handler answers; a failure is answered with its
   * status and `{ error, code }` (401 `state_mismatch`, `no_pending_challenge`, `invalid_token`, …).
   */
  complete: Handler;
}

/**
 * The route handlers of an `XignInStrategy`:
 * `const { jsLoginConfig, push, pushStatus, complete } = xignInHandlers(xignin, { passport })`.
 * The redirect login itself is `passport.authenticate(name)` (it answers a redirect).
 */
export function xignInHandlers(strategy: XignInStrategy, options: HandlerFactoryOptions): XignInHandlers {
  const { logins, binding, checkOrigin } = xignInParts(strategy);
  const resolved = handlerOptions(options, strategy.name, 'xignInHandlers');
  const { respond } = resolved;
  return {
    jsLoginConfig: route(respond, async (req, res) => {
      const token = logins.jsToken(binding.ensure(req));
      res.setHeader('Cache-Control', 'no-store');
      respond(
        res,
        200,
        {
          managerUri: logins.client.managerUrl,
          clientId: logins.client.clientId,
          redirectUri: logins.redirectUri,
          mode: 'PULL_TOKEN',
          tokenField: logins.jsTokenField,
          token,
        },
        req,
      );
    }),
    push: route(respond, async (req, res) => {
      checkOrigin(req);
      const body = ((req as { body?: unknown }).body ?? {}) as Record<string, unknown>;
      const identifier = typeof body.identifier === 'string' ? body.identifier.trim() : '';
      const type = body.type === 'SUB' ? 'SUB' : 'EMAIL';
      if (identifier === '' || identifier.length > 320) {
        throw new AuthenticationFailure('missing_credentials', 'Enter your email address.', 400);
      }
      await logins.push(req, binding.ensure(req), identifier, type);
      respond(res, 202, { state: 'pending' }, req);
    }),
    pushStatus: route(respond, async (req, res) => {
      respond(res, 200, { state: await logins.pushStatus(binding.current(req)) }, req);
    }),
    complete: completeHandler(resolved),
  };
}

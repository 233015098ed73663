import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigurationError, toError } from '../errors.js';
import { logInForRequest, readFailure, type Handler, type NextFunction } from '../internal/http.js';
import { functionOption, stringOption } from '../internal/options.js';
import { userIdOf, type User } from '../internal/verify.js';
import { XTokenStrategy, authInfo, setTokenHeaders, type XTokenInfo } from '../strategies/x-token.js';
import type { HandlerFactoryOptions } from './respond.js';
import { handlerOptions } from './shared.js';

const OWNER = 'xTokenHandlers';
const NOT_AUTHORIZED = 'Not authorized.';

/** Options of `xTokenHandlers(xToken, options)`. */
export interface XTokenHandlerOptions extends HandlerFactoryOptions {
  /**
   * The registered name of the strategy that checks the password in `login` (default
   * `'basic-login'`).
   */
  loginStrategy?: string;
  /** The user's id, written as the token's `sub` at login (default `String(user.id)`). */
  getSubject?: (user: User) => string;
  /** What `login` answers as `user` (default `{ id }` only, so nothing private leaks by default). */
  publicUser?: (user: User) => unknown;
  /**
   * What else `logoutEverywhere` revokes for the user, each through its `revokeUser(userId)`
   * (default none), e.g. `[rememberedBrowsers]`: "log out everywhere" then forgets every
   * remembered browser too.
   */
  alsoRevoke?: Array<{ revokeUser(userId: string): Promise<unknown> }>;
}

/** The alt-seven routes over one `XTokenStrategy`; mount them on the paths you choose. */
export interface XTokenHandlers {
  /**
   * `POST /api/auth/login`: runs the password strategy, then starts a NEW token family.
   * Success: `X-Token` header and `{ user, success: true }`. Failure: `{ success: false, error, code }`
   * with the strategy's status (400 malformed, 401 wrong credentials, 429 throttled) and no
   * `WWW-Authenticate`, so browsers show the page's message instead of their own dialog.
   */
  login: Handler;
  /** `GET /api/auth/refresh`: `{ success: true, authenticated: true }` with a renewed `X-Token`. */
  refresh: Handler;
  /** `POST /api/auth/logout`: revokes the whole token family; `{ success: true }`, no new token. */
  logout: Handler;
  /**
   * `POST /api/auth/logout-everywhere`: revokes every token family of the token's user (all
   * devices, this one included), and whatever `alsoRevoke` names; `{ success: true, families }`,
   * no new token. The same as `xToken.tokens.revokeUser(userId)` for a user who asks for it.
   */
  logoutEverywhere: Handler;
  /**
   * Guards a secured route: on a valid token sets `req.user`/`req.authInfo` and calls `next()`;
   * otherwise answers 401 `{ "error": "Not authorized." }` as the alt-seven client expects.
   */
  protect: Handler;
}

/**
 * The route handlers of the alt-seven token session. Each authenticates with
 * `passport.authenticate(name, { session: false }, …)`, where `name` is `options.name` or the
 * strategy's own `name`, and writes its answer through `options.respond` (default JSON).
 *
 * ```ts
 * passport.use('api-token', xToken);
 * const auth = xTokenHandlers(xToken, { passport, name: 'api-token' });
 * app.post('/api/auth/login', auth.login);
 * app.get('/api/items', auth.protect, listItems);
 * ```
 */
export function xTokenHandlers(xToken: XTokenStrategy, options: XTokenHandlerOptions): XTokenHandlers {
  if (!(xToken instanceof XTokenStrategy)) {
    throw new ConfigurationError(`${OWNER}: the first argument must be an XTokenStrategy.`);
  }
  const { passport, name, respond } = handlerOptions(options, xToken.name, OWNER);
  const loginStrategy = stringOption(options.loginStrategy, 'basic-login', 'loginStrategy', OWNER);
  const getSubject = functionOption(
    options.getSubject,
    (user: User) => userIdOf(user, OWNER, 'getSubject'),
    'getSubject',
    OWNER,
  );
  const publicUser = functionOption(
    options.publicUser,
    (user: User) => ({ id: getSubject(user) }),
    'publicUser',
    OWNER,
  );
  const alsoRevoke = options.alsoRevoke ?? [];
  if (!Array.isArray(alsoRevoke) || alsoRevoke.some((other) => typeof other?.revokeUser !== 'function'))
    throw new ConfigurationError(
      `${OWNER}: \`alsoRevoke\` must be a list of objects with revokeUser(userId).`,
    );

  const answerFailure = (
    req: IncomingMessage,
    res: ServerResponse,
    info: unknown,
    rawStatus: unknown,
    base: Record<string, unknown>,
    message?: string,
  ): void => {
    const { challenge, status } = readFailure(info, rawStatus);
    const error = message ?? challenge?.message ?? NOT_AUTHORIZED;
    respond(res, status, { ...base, error, ...(challenge ? { code: challenge.code } : {}) }, req);
  };

  const startSession = async (
    req: IncomingMessage,
    res: ServerResponse,
    user: User,
    next: NextFunction,
  ): Promise<void> => {
    const issued = await xToken.tokens.issue(getSubject(user));
    logInForRequest(req, user, authInfo(issued), (err) => {
      if (err) return next(err);
      setTokenHeaders(res, issued.token);
      respond(res, 200, { user: publicUser(user), success: true }, req);
    });
  };

  const withToken =
    (
      failureBody: Record<string, unknown>,
      onSuccess: (req: IncomingMessage, res: ServerResponse, next: NextFunction) => void,
    ): Handler =>
    (req, res, next) => {
      const authenticate = passport.authenticate(name, { session: false }, (err, user, info, status) => {
        if (err) return next(err);
        if (!user) return answerFailure(req, res, info, status, failureBody, NOT_AUTHORIZED);
        logInForRequest(req, user, info, (loginErr) =>
          loginErr ? next(loginErr) : onSuccess(req, res, next),
        );
      });
      (authenticate as unknown as Handler)(req, res, next);
    };

  const infoOf = (req: IncomingMessage): XTokenInfo =>
    (req as IncomingMessage & { authInfo: XTokenInfo }).authInfo;

  return {
    login: (req, res, next) => {
      const authenticate = passport.authenticate(
        loginStrategy,
        { session: false },
        (err, user, info, status) => {
          if (err) return next(err);
          if (!user) {
            // A Basic challenge on a script's request makes browsers open their own password
            // dialog over the page: the JSON login route answers without it.
            res.removeHeader('WWW-Authenticate');
            return answerFailure(req, res, info, status, { success: false });
          }
          startSession(req, res, user as User, next).catch((error: unknown) => next(toError(error)));
        },
      );
      (authenticate as unknown as Handler)(req, res, next);
    },
    refresh: withToken({ success: false, authenticated: false }, (req, res) => {
      respond(res, 200, { success: true, authenticated: true }, req);
    }),
    logout: withToken({ success: false }, (req, res, next) => {
      xToken.tokens.revoke(infoOf(req).sid).then(() => {
        res.removeHeader('X-Token');
        respond(res, 200, { success: true }, req);
      }, next);
    }),
    logoutEverywhere: withToken({ success: false }, (req, res, next) => {
      const userId = infoOf(req).sub;
      Promise.all([
        xToken.tokens.revokeUser(userId),
        ...alsoRevoke.map((other) => other.revokeUser(userId)),
      ]).then(([families]) => {
        res.removeHeader('X-Token');
        respond(res, 200, { success: true, families }, req);
      }, next);
    }),
    protect: withToken({}, (_req, _res, next) => next()),
  };
}

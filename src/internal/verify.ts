import type { FactorRequest as Request } from './http.js';
import { toError } from '../errors.js';

declare global {
  // Passport's own user type (`@types/passport` declares it too; declarations merge), declared
  // here as well so these types stand without any `@types/*` package. Augment it to narrow it.
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    interface User {}
  }
}

/** The user type Passport puts on `req.user`; augment `Express.User` to narrow it. */
export type User = Express.User;

/** Passport's classic verify callback: `done(err)`, `done(null, false, info?)`, `done(null, user, info?)`. */
export type VerifyDone<U = User> = (err: unknown, user?: U | false | null, info?: unknown) => void;

/** What a promise-style verify resolves to: the user, or `false`/`null`/`undefined` for "no user". */
export type VerifyResult<U = User> = U | false | null | undefined;

/**
 * A verify function in either style, as one signature so TypeScript infers every parameter:
 * done-style declares the trailing `done` and calls it; promise-style leaves `done` out and
 * returns (or resolves to) the user.
 */
export type VerifyFunction<Args extends unknown[], U = User> = (
  ...args: [...Args, done: VerifyDone<U>]
) => void | VerifyResult<U> | PromiseLike<VerifyResult<U> | void>;

/** The same, with the request first (`passReqToCallback: true`). */
export type VerifyFunctionWithRequest<Args extends unknown[], U = User> = {
  // Checked as a method (bivariantly), so a verify written for the app's own request type
  // (`express.Request` of Express 4 or 5, which extends this one) is accepted as well.
  bivarianceHack(
    ...args: [req: Request, ...Args, done: VerifyDone<U>]
  ): void | VerifyResult<U> | PromiseLike<VerifyResult<U> | void>;
}['bivarianceHack'];

export interface VerifyOutcome<U = User> {
  user: U | false;
  info: unknown;
}

/**
 * Calls a verify function in whichever style it was written and settles once.
 *
 * The style is read from the function's declared arity, as openid-client's Passport strategy does:
 * a function that declares more parameters than the arguments it is given takes `done`. That is
 * unambiguous where "use the returned promise unless done was called" is not: an `async` function
 * that calls `done` later from a callback resolves `undefined` first.
 */
export function invokeVerify<U = User>(
  verify: (...args: never[]) => unknown,
  args: readonly unknown[],
): Promise<VerifyOutcome<U>> {
  return new Promise<VerifyOutcome<U>>((resolve, reject) => {
    let settled = false;
    const settle = (err: unknown, user?: U | false | null, info?: unknown): void => {
      if (settled) return;
      settled = true;
      if (err) reject(toError(err));
      else resolve({ user: user ?? false, info });
    };
    const takesDone = verify.length > args.length;
    let returned: unknown;
    try {
      returned = (verify as (...a: unknown[]) => unknown)(...args, ...(takesDone ? [settle] : []));
    } catch (err) {
      settle(err ?? new Error('verify threw a falsy value'));
      return;
    }
    if (isThenable(returned)) {
      returned.then(
        (value) => {
          if (!takesDone) settle(null, value as VerifyResult<U>);
        },
        (err: unknown) => settle(err ?? new Error('verify rejected with a falsy value')),
      );
    } else if (!takesDone) {
      settle(null, returned as VerifyResult<U>);
    }
  });
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

/** The success info: what verify passed along (when an object), with the strategy's own fields on top. */
export function successInfo(fromVerify: unknown, own: object): Record<string, unknown> {
  return { ...(fromVerify !== null && typeof fromVerify === 'object' ? fromVerify : {}), ...own };
}

/**
 * The user's id as a non-empty string, from `user.id` (string or finite number). Anything else is a
 * TypeError naming `owner` and its option: a missing id must never turn into the string "undefined",
 * which two different users would share.
 */
export function userIdOf(user: User, owner: string, option = 'getUserId'): string {
  const id = (user as { id?: unknown } | null | undefined)?.id;
  if ((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id)))
    return String(id);
  throw new TypeError(
    `${owner}: the user has no string or number \`id\`; pass \`${option}(user)\` to say which field identifies it.`,
  );
}

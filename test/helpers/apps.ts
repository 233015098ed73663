import express, { type ErrorRequestHandler, type Express, type RequestHandler } from 'express';
import session from 'express-session';
import { Passport } from 'passport';
import { createUserDirectory, DEMO_USERS } from '../../example-app/users.js';

export type UserDirectory = Awaited<ReturnType<typeof createUserDirectory>>;

let directory: Promise<UserDirectory> | undefined;
/** The example app's user directory, with a cheap scrypt cost so tests stay fast. */
export function testUsers(): Promise<UserDirectory> {
  directory ??= createUserDirectory(DEMO_USERS, { cost: 2 ** 10 });
  return directory;
}

/** Answers errors that reach Express as JSON, as an app's error handler would. */
export const jsonErrors: ErrorRequestHandler = (err, _req, res, _next) => {
  const status = typeof err.status === 'number' ? err.status : 500;
  res.status(status).json({ error: status === 500 ? 'internal' : err.message, code: err.code });
};

export interface TestAppOptions {
  /** Share one session store between app instances, as a Redis session store would. */
  sessionStore?: session.Store;
  /** Restores the user from the session (default `{ id }`). */
  deserialize?: (id: string) => Express.User | undefined;
  /** Mount passport.session(), so req.user comes back on later requests (default false). */
  sessions?: boolean;
}

/** An Express app with its own Passport instance (so tests never share strategies) and sessions. */
export function appWithPassport(options: TestAppOptions = {}): {
  app: Express;
  passport: InstanceType<typeof Passport>;
} {
  const app = express();
  const passport = new Passport();
  app.use(express.urlencoded({ extended: false }));
  app.use(express.json());
  app.use(
    session({
      secret: 'test-session-secret-test-session-secret',
      resave: false,
      saveUninitialized: false,
      ...(options.sessionStore ? { store: options.sessionStore } : {}),
    }),
  );
  app.use(passport.initialize());
  if (options.sessions) app.use(passport.session());
  const deserialize = options.deserialize ?? ((id: string) => ({ id }));
  passport.serializeUser((user: Express.User, done) => done(null, (user as { id: string }).id));
  passport.deserializeUser((id: string, done) => done(null, deserialize(id) ?? false));
  return { app, passport };
}

/**
 * A route that runs `strategy` through `passport.authenticate` with a custom callback, as apps with
 * JSON front ends do: success logs in (`req.logIn`) and answers `{ user, info }`; a failure answers
 * the challenge with its status; an error goes to the error handler.
 */
export function decidingRoute(passport: InstanceType<typeof Passport>, strategy: string): RequestHandler {
  return (req, res, next) =>
    passport.authenticate(
      strategy,
      (err: unknown, user: Express.User | false, info: unknown, status: number) => {
        if (err) return next(err);
        if (!user) return res.status(status).json(info);
        req.logIn(user, (loginErr) => (loginErr ? next(loginErr) : res.json({ user, info })));
      },
    )(req, res, next);
}

export const basicHeader = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;

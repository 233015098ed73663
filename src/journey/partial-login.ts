import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConfigurationError, toError, type FailureChallenge } from '../errors.js';
import {
  readFailure,
  sendJson,
  type Handler,
  type NextFunction,
  type PassportLike,
} from '../internal/http.js';
import { auditHook, functionOption, positiveIntegerOption, stringOption } from '../internal/options.js';
import { sessionOf } from '../internal/session.js';
import type { User } from '../internal/verify.js';

const OWNER = 'PartialLogin';
/** Passport keeps the logged-in user's serialized form at `req.session.passport.user`. */
const PASSPORT_SESSION_KEY = 'passport';

/** One factor a browser completed in this journey (like an `amr` value, with its time). */
export interface FactorRecord {
  /** The factor's name: by default the name the strategy is registered under (`'basic-login'`, …). */
  factor: string;
  /** When it was completed, in whole seconds since the epoch. */
  at: number;
}

/** What a journey step came to, as `record()` resolves and `step()` answers it. */
export interface StepOutcome {
  /** `'complete'`: the required factors are done and the user is logged in; `'partial'`: more to do. */
  status: 'complete' | 'partial';
  /** The factors completed so far, oldest first. */
  factors: string[];
  /** While partial: the factor sets that would complete the login, less what is done already. */
  remaining: string[][];
}

/** Options of `step()`. */
export interface StepOptions {
  /** The factor's name in the journey (default: the strategy's registered name). */
  factor?: string;
  /**
   * The success body (default: the `StepOutcome` alone). E.g. `(outcome, user) => ({ ...outcome,
   * user: { name: user.name } })`; never put the whole user record in it.
   */
  body?: (outcome: StepOutcome, user: User) => unknown;
}

/**
 * The slice of a Passport `Authenticator` a journey uses (`passport` itself satisfies it). Passport
 * runs its serializer chain when `serializeUser(user, req, done)` is called with a user instead of
 * a function; its published types only describe the registering form, hence the loose signatures.
 */
export interface JourneyPassport extends PassportLike {
  serializeUser(...args: never[]): unknown;
  deserializeUser(...args: never[]): unknown;
}

type SerializerChain = (value: unknown, req: unknown, done: (err: unknown, result?: unknown) => void) => void;

/** Audit events of a journey, for `onEvent`. Never carries credentials. */
export type PartialLoginEvent =
  | { type: 'login.factor'; factor: string; complete: boolean; user: unknown }
  | { type: 'login.complete'; factors: string[]; user: unknown };

export interface PartialLoginOptions {
  /** Your Passport `Authenticator`, with `serializeUser` and `deserializeUser` set up. */
  passport: JourneyPassport;
  /**
   * The journey's name, for an app that offers several login policies side by side: each keeps its
   * own factors in the session (default `'login'`).
   */
  name?: string;
  /**
   * The factor sets that make a complete login: the login completes when every factor of ANY one
   * set is done for the same user, e.g. `[['basic-login', 'risc'], ['xignin']]`. Required.
   */
  requiredFactors: string[][];
  /**
   * How long a partial login waits for its next factor, in seconds, counted from its first factor
   * (default 600). After that the browser starts again with the first factor.
   */
  maxAgeSec?: number;
  /** Audit hook, called after each recorded factor and each completed login (default: none). */
  onEvent?: (event: PartialLoginEvent) => void;
}

interface JourneyState {
  /** The user the factors were proven for, as `passport.serializeUser` serialized them. */
  user: unknown;
  factors: FactorRecord[];
  complete: boolean;
  startedAt: number;
  /** Data of journeys built on this one (e.g. RiskStepUp's pending browser), reset with the state. */
  data: Record<string, unknown>;
}

type SessionLike = Record<string, unknown> & {
  regenerate(done: (err?: unknown) => void): void;
  save(done: (err?: unknown) => void): void;
};

type JourneyRequest = IncomingMessage & {
  session: SessionLike;
  user?: unknown;
  isAuthenticated?: () => boolean;
  logIn?: (user: unknown, options: { keepSessionInfo: boolean }, done: (err?: unknown) => void) => void;
  logout?: (options: { keepSessionInfo: boolean }, done: (err?: unknown) => void) => void;
};

/**
 * An explicit partial login, shared by every multi-step journey. The factors a browser has
 * completed (and when) live in the session apart from Passport's user: `req.user` is set, and
 * `req.isAuthenticated()` is true, only once one of the `requiredFactors` sets is done for one
 * user. Until then the half-authenticated user exists only for the journey's own step routes
 * (`step()`, and handlers behind `pendingUser()`). The session id changes at every recorded
 * factor, so no id seen before an elevation is worth anything after it.
 */
export class PartialLogin {
  readonly passport: JourneyPassport;
  readonly name: string;
  /** Where the journey lives in the session, apart from Passport's own `passport.user`. */
  private readonly sessionKey: string;
  private readonly requiredSets: string[][];
  private readonly maxAgeMs: number;
  private readonly emit: (event: PartialLoginEvent) => void;

  constructor(options: PartialLoginOptions) {
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    const passport = options.passport as Partial<JourneyPassport> | undefined;
    if (
      !passport ||
      typeof passport.authenticate !== 'function' ||
      typeof passport.serializeUser !== 'function' ||
      typeof passport.deserializeUser !== 'function'
    ) {
      throw new ConfigurationError(
        `${OWNER}: \`passport\` must be your Passport Authenticator (authenticate, serializeUser, deserializeUser).`,
      );
    }
    this.passport = options.passport;
    this.name = stringOption(options.name, 'login', 'name', OWNER);
    this.sessionKey = `passport-factors:${this.name}`;
    this.requiredSets = factorSets(options.requiredFactors);
    this.maxAgeMs = positiveIntegerOption(options.maxAgeSec, 600, 'maxAgeSec', OWNER) * 1000;
    this.emit = auditHook<PartialLoginEvent>(options.onEvent, OWNER);
  }

  /**
   * A route handler for one step: runs `strategy` (for a pending user, as `req.user`), records the
   * factor, and answers `200 { status: 'complete' | 'partial', factors, remaining }`. A failure
   * answers the strategy's status with `{ error, code, …challenge }`; errors go to `next`.
   * `WWW-Authenticate` is removed: these routes answer page scripts, and browsers would open their
   * own password dialog on it.
   */
  step(strategy: string, options: StepOptions = {}): Handler {
    if (typeof strategy !== 'string' || strategy === '')
      throw new ConfigurationError(`${OWNER}: step() needs the strategy's registered name.`);
    const factor = stringOption(options.factor, strategy, 'factor', OWNER);
    const body = functionOption<NonNullable<StepOptions['body']>>(
      options.body,
      (outcome) => outcome,
      'body',
      OWNER,
    );
    return (req, res, next) => {
      this.authenticate(strategy, req, res, next, (user, failure) => {
        if (failure) return answerFailure(res, failure.challenge, failure.status);
        this.record(req, user, factor).then(
          (outcome) => sendJson(res, 200, body(outcome, user as User)),
          (err: unknown) => next(toError(err)),
        );
      });
    };
  }

  /**
   * Records that `user` completed `factor` (or several) in this browser; for custom callbacks. A
   * factor for another user than the pending one starts a new journey (factors of two users never
   * add up). Rotates the session id; logs the user in (`req.logIn`) once a required set is done.
   */
  async record(req: IncomingMessage, user: unknown, factor: string | string[]): Promise<StepOutcome> {
    const request = journeyRequest(req);
    const factors = Array.isArray(factor) ? factor : [factor];
    if (factors.length === 0 || factors.some((name) => typeof name !== 'string' || name === ''))
      throw new ConfigurationError(`${OWNER}: record() needs the factor's name.`);
    const serialized = await this.serialize(user, req);
    const now = Date.now();
    let state = this.liveState(request, now);
    if (!state || !sameSerialized(state.user, serialized)) {
      // A previous journey, or a full login, of someone else ends here.
      // (req.user may be the pending user here: only Passport's session says who is logged in.)
      const loggedInUser = passportUserOf(request);
      if (loggedInUser !== undefined && !sameSerialized(loggedInUser, serialized)) {
        await promisify((done) => request.logout!({ keepSessionInfo: true }, done));
      }
      state = { user: serialized, factors: [], complete: false, startedAt: now, data: {} };
    }
    const at = Math.floor(now / 1000);
    for (const name of factors) {
      state.factors = state.factors.filter((done) => done.factor !== name);
      state.factors.push({ factor: name, at });
    }
    const names = state.factors.map((done) => done.factor);
    const completes = this.requiredSets.some((set) => set.every((name) => names.includes(name)));
    const loggedIn = sameSerialized(passportUserOf(request), serialized);
    if (completes && !loggedIn) {
      state.complete = true;
      request.session[this.sessionKey] = state;
      // Passport's logIn regenerates the session; keepSessionInfo carries this journey over.
      await promisify((done) => request.logIn!(user, { keepSessionInfo: true }, done));
    } else {
      state.complete = state.complete || completes;
      request.session[this.sessionKey] = state;
      await rotateSessionId(request);
    }
    for (const name of factors)
      this.emit({ type: 'login.factor', factor: name, complete: state.complete, user: serialized });
    if (completes && !loggedIn) this.emit({ type: 'login.complete', factors: names, user: serialized });
    return this.outcome(state);
  }

  /**
   * Middleware for a journey's step routes that are not `step()` (sending a code, starting a push):
   * while a partial login is pending and nobody is fully logged in, `req.user` is the pending user
   * for this request only. Mount it on those routes alone: behind it, `req.isAuthenticated()` is true.
   */
  pendingUser(): Handler {
    return (req, _res, next) => {
      this.loadPendingUser(req).then(
        () => next(),
        (err: unknown) => next(toError(err)),
      );
    };
  }

  /**
   * A guard: lets the request on only when the user is fully logged in through this journey and has
   * completed every named factor (within `withinSec` seconds, when given: a fresh step-up for a
   * sensitive route). With no factors, it asks for a complete login. Otherwise 401
   * `{ code: 'factors_required', missing }`.
   */
  requireFactors(factors: string | string[] = [], options: { withinSec?: number } = {}): Handler {
    const wanted = Array.isArray(factors) ? factors : [factors];
    const withinMs =
      options.withinSec === undefined
        ? undefined
        : positiveIntegerOption(options.withinSec, 1, 'withinSec', OWNER) * 1000;
    return (req, res, next) => {
      const request = journeyRequest(req);
      const state = this.liveState(request, Date.now());
      const loggedIn = request.isAuthenticated?.() === true && passportUserOf(request) !== undefined;
      const valid =
        loggedIn && state?.complete === true && sameSerialized(passportUserOf(request), state.user);
      const fresh = (done: FactorRecord) => withinMs === undefined || Date.now() - done.at * 1000 <= withinMs;
      const missing = wanted.filter(
        (name) => !valid || !state!.factors.some((done) => done.factor === name && fresh(done)),
      );
      if (valid && missing.length === 0) return next();
      sendJson(res, 401, {
        error: 'Finish logging in first.',
        code: 'factors_required',
        missing: valid ? missing : (this.outcome(state).remaining[0] ?? wanted),
      });
    };
  }

  /** The factors this browser completed in its current journey (empty when none is live). */
  factors(req: IncomingMessage): FactorRecord[] {
    return [...(this.liveState(journeyRequest(req), Date.now())?.factors ?? [])];
  }

  /** Whether this browser's journey is complete (the user is logged in through it). */
  isComplete(req: IncomingMessage): boolean {
    return this.liveState(journeyRequest(req), Date.now())?.complete === true;
  }

  /**
   * Logs the pending user in now, whatever factors are missing: for an app that decides itself
   * (e.g. a trusted network). Resolves `false` when no partial login is pending.
   */
  async complete(req: IncomingMessage): Promise<boolean> {
    const request = journeyRequest(req);
    const state = this.liveState(request, Date.now());
    if (!state) return false;
    const user = await this.deserialize(state.user, req);
    if (!user) return false;
    state.complete = true;
    request.session[this.sessionKey] = state;
    await promisify((done) => request.logIn!(user, { keepSessionInfo: true }, done));
    this.emit({ type: 'login.complete', factors: state.factors.map((f) => f.factor), user: state.user });
    return true;
  }

  /** Forgets this browser's journey (not Passport's login: use `req.logout` for that). */
  reset(req: IncomingMessage): void {
    delete journeyRequest(req).session[this.sessionKey];
  }

  /** Data a journey built on this one keeps with the current state; gone when a new journey starts. */
  journeyData<T>(req: IncomingMessage, key: string): T | undefined {
    return this.liveState(journeyRequest(req), Date.now())?.data[key] as T | undefined;
  }

  /** Stores `value` with the current state (no-op when no journey is live). */
  setJourneyData(req: IncomingMessage, key: string, value: unknown): void {
    const request = journeyRequest(req);
    const state = this.liveState(request, Date.now());
    if (!state) return;
    state.data[key] = value;
    request.session[this.sessionKey] = state;
  }

  /**
   * The user this journey is about: the fully logged-in user, or the pending one (deserialized).
   * `undefined` when there is neither.
   */
  async currentUser(req: IncomingMessage): Promise<User | undefined> {
    await this.loadPendingUser(req);
    return journeyRequest(req).user as User | undefined;
  }

  /** Runs `strategy` through Passport for the pending user, handing the outcome to `then`. */
  authenticate(
    strategy: string,
    req: IncomingMessage,
    res: ServerResponse,
    next: NextFunction,
    then: (
      user: unknown,
      failure: { challenge: FailureChallenge | undefined; status: number } | undefined,
      info?: unknown,
    ) => void,
  ): void {
    this.loadPendingUser(req).then(
      () => {
        const middleware = this.passport.authenticate(
          strategy,
          { session: false },
          (err, user, info, status) => {
            if (err) return next(err);
            if (!user) return then(undefined, readFailure(info, status));
            then(user, undefined, info);
          },
        );
        (middleware as unknown as Handler)(req, res, next);
      },
      (err: unknown) => next(toError(err)),
    );
  }

  private async loadPendingUser(req: IncomingMessage): Promise<void> {
    const request = journeyRequest(req);
    if (request.user !== undefined && request.user !== null) return;
    const state = this.liveState(request, Date.now());
    if (!state) return;
    const user = await this.deserialize(state.user, req);
    if (user) request.user = user;
  }

  private liveState(request: JourneyRequest, now: number): JourneyState | undefined {
    const state = readState(request.session[this.sessionKey]);
    if (!state) return undefined;
    // A complete journey lives as long as the login; a partial one only `maxAgeSec`.
    if (!state.complete && now - state.startedAt > this.maxAgeMs) {
      delete request.session[this.sessionKey];
      return undefined;
    }
    return state;
  }

  private outcome(state: JourneyState | undefined): StepOutcome {
    const names = state?.factors.map((done) => done.factor) ?? [];
    return {
      status: state?.complete ? 'complete' : 'partial',
      factors: names,
      remaining: state?.complete
        ? []
        : this.requiredSets.map((set) => set.filter((name) => !names.includes(name))),
    };
  }

  private serialize(user: unknown, req: IncomingMessage): Promise<unknown> {
    const chain = this.passport.serializeUser.bind(this.passport) as unknown as SerializerChain;
    return promisify<unknown>((done) => chain(user, req, done));
  }

  private deserialize(serialized: unknown, req: IncomingMessage): Promise<unknown> {
    const chain = this.passport.deserializeUser.bind(this.passport) as unknown as SerializerChain;
    return promisify<unknown>((done) => chain(serialized, req, done));
  }
}

function factorSets(value: unknown): string[][] {
  const valid =
    Array.isArray(value) &&
    value.length > 0 &&
    value.every(
      (set) =>
        Array.isArray(set) && set.length > 0 && set.every((name) => typeof name === 'string' && name !== ''),
    );
  if (!valid) {
    throw new ConfigurationError(
      `${OWNER}: \`requiredFactors\` must be a non-empty list of non-empty factor lists, e.g. [['basic-login', 'risc']].`,
    );
  }
  return (value as string[][]).map((set) => [...set]);
}

function journeyRequest(req: IncomingMessage): JourneyRequest {
  const session = sessionOf(req, OWNER) as SessionLike;
  if (typeof session.regenerate !== 'function' || typeof session.save !== 'function') {
    throw new ConfigurationError(
      `${OWNER}: the session must support regenerate() and save() (express-session does): the session id changes at every factor.`,
    );
  }
  return req as JourneyRequest;
}

/** A state read back from a session store is validated: anything else counts as no journey. */
function readState(value: unknown): JourneyState | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const state = value as Partial<JourneyState>;
  if (
    !Array.isArray(state.factors) ||
    typeof state.complete !== 'boolean' ||
    typeof state.startedAt !== 'number' ||
    state.data === null ||
    typeof state.data !== 'object' ||
    !state.factors.every((done) => typeof done?.factor === 'string' && typeof done.at === 'number')
  ) {
    return undefined;
  }
  return state as JourneyState;
}

function passportUserOf(request: JourneyRequest): unknown {
  const passport = request.session[PASSPORT_SESSION_KEY] as { user?: unknown } | undefined;
  return passport?.user;
}

function sameSerialized(a: unknown, b: unknown): boolean {
  return a !== undefined && b !== undefined && JSON.stringify(a) === JSON.stringify(b);
}

/** A new session id with the same contents, as Passport's logIn does with `keepSessionInfo`. */
async function rotateSessionId(request: JourneyRequest): Promise<void> {
  const contents = Object.fromEntries(Object.entries(request.session).filter(([key]) => key !== 'cookie'));
  await promisify((done) => request.session.regenerate(done));
  Object.assign(request.session, contents);
  await promisify((done) => request.session.save(done));
}

function answerFailure(res: ServerResponse, challenge: FailureChallenge | undefined, status: number): void {
  res.removeHeader('WWW-Authenticate');
  const { message, code, ...details } = challenge ?? { message: 'Authentication failed.', code: undefined };
  sendJson(res, status, { error: message, code, ...details });
}

function promisify<T = void>(run: (done: (err?: unknown, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, value) => (err ? reject(err) : resolve(value as T))));
}

import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AuthenticationFailure, ConfigurationError, toError, type FailureChallenge } from '../errors.js';
import {
  readFailure,
  sendJson,
  type Handler,
  type NextFunction,
  type PassportLike,
} from '../internal/http.js';
import {
  auditHook,
  functionOption,
  positiveIntegerOption,
  requireFunction,
  stringOption,
} from '../internal/options.js';
import { digest } from '../internal/binding.js';
import { sessionOf } from '../internal/session.js';
import type { User } from '../internal/verify.js';
import { assertStore, type Store } from '../stores/store.js';
import { RememberedBrowsers } from './remembered-browsers.js';

const OWNER = 'PartialLogin';
/** Passport keeps the logged-in user's serialized form at `req.session.passport.user`. */
const PASSPORT_SESSION_KEY = 'passport';
/** Longest journey id accepted from `binding.get(req)`; a longer one counts as none. */
const MAX_BINDING_LENGTH = 1024;

/**
 * Where a session-less journey's id travels: the app carries it in a cookie or a header of its
 * own. The journey issues every id itself (256 random bits, base64url) and hands it out through
 * `set`; ids the request brings are only ever looked up, never adopted.
 */
export interface JourneyBinding {
  /** The journey id this request carries (e.g. from a cookie or a header); `undefined` for none. */
  get(req: IncomingMessage): string | undefined;
  /**
   * Hands a new journey id to the client (e.g. `res.cookie(...)` or `res.setHeader(...)`), valid
   * for `maxAgeSec` seconds. Called at every recorded factor: the previous id is worth nothing after.
   */
  set(res: ServerResponse, id: string, maxAgeSec: number): void;
  /** Tells the client to forget its journey id, when the journey completes or is reset (optional). */
  clear?(res: ServerResponse): void;
}

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
  /** With the `rememberBrowser` option: `true` when this step remembered the browser. */
  rememberedBrowser?: boolean;
}

/** Options of `step()`. */
export interface StepOptions {
  /** The factor's name in the journey (default: the strategy's registered name). */
  factor?: string;
  /**
   * The success body (default: the `StepOutcome` alone). E.g. `(outcome, user) => ({ ...outcome,
   * user: { name: user.name } })`; never put the whole user record in it. It may be async: without
   * a session, the completing step is where the app issues its own token.
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
  /**
   * Without express-session: where the journey id travels (default: none, so the partial state
   * lives in `req.session`). Give it together with `store`. See `JourneyBinding`.
   */
  binding?: JourneyBinding;
  /**
   * With `binding`: where the partial state lives, under a digest of the journey id (default: none).
   * Share it between instances (a `RedisStore`).
   */
  store?: Store;
  /**
   * "Remember this browser" (default: off). A step for a user whose browser `browsers` remembers
   * also records `factor` (default `'remembered-browser'`), so `requiredFactors` may accept it in
   * place of a second factor, e.g. `[['basic-login', 'sms-otp'], ['basic-login',
   * 'remembered-browser']]`. A step that completes the login by another set remembers the browser
   * when `when(req)` says so (default: the JSON body's `rememberBrowser` is `true`), and answers
   * `rememberedBrowser: true`.
   */
  rememberBrowser?: RememberBrowserOptions;
}

/** The `rememberBrowser` option of `PartialLogin`. */
export interface RememberBrowserOptions {
  /** The remembered browsers (cookie and store). Required. */
  browsers: RememberedBrowsers;
  /** The factor a remembered browser counts as (default `'remembered-browser'`). */
  factor?: string;
  /** Whether the user asked to remember this browser (default: `req.body.rememberBrowser === true`). */
  when?: (req: IncomingMessage) => boolean;
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

/** What a session-less journey knows about one request: the state it loaded and where it lives. */
interface StoredContext {
  loaded: boolean;
  /** The store key of the state this request holds now (after a rotation, the new one). */
  key: string | undefined;
  state: JourneyState | undefined;
  res: ServerResponse | undefined;
}

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
  private readonly binding: JourneyBinding | undefined;
  private readonly store: Store | undefined;
  private readonly contexts = new WeakMap<IncomingMessage, StoredContext>();
  private readonly rememberBrowser: Required<RememberBrowserOptions> | undefined;

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
    this.binding = bindingOption(options.binding);
    this.store = storeOption(options.store, this.binding !== undefined);
    this.rememberBrowser = rememberBrowserOption(options.rememberBrowser);
  }

  /** Whether the journey lives in `store` under an id `binding` carries, instead of the session. */
  get sessionless(): boolean {
    return this.binding !== undefined;
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
        this.stepFactors(req, user, factor)
          .then((factors) => this.record(req, user, factors))
          .then((outcome) => this.rememberAfter(req, res, user, outcome))
          .then((outcome) => body(outcome, user as User))
          .then(
            (answer) => sendJson(res, 200, answer),
            (err: unknown) =>
              err instanceof AuthenticationFailure
                ? answerFailure(res, err.toChallenge(), err.status)
                : next(toError(err)),
          );
      });
    };
  }

  /** The step's factor, and the remembered browser's when this browser is remembered for `user`. */
  private async stepFactors(req: IncomingMessage, user: unknown, factor: string): Promise<string[]> {
    const remember = this.rememberBrowser;
    if (!remember || factor === remember.factor) return [factor];
    return (await remember.browsers.isRemembered(req, user)) ? [factor, remember.factor] : [factor];
  }

  /** A login completed by a real second factor remembers the browser when the user asked. */
  private async rememberAfter(
    req: IncomingMessage,
    res: ServerResponse,
    user: unknown,
    outcome: StepOutcome,
  ): Promise<StepOutcome> {
    const remember = this.rememberBrowser;
    if (!remember || outcome.status !== 'complete' || outcome.factors.includes(remember.factor))
      return outcome;
    if (!remember.when(req)) return outcome;
    await remember.browsers.remember(req, res, user);
    return { ...outcome, rememberedBrowser: true };
  }

  /**
   * Records that `user` completed `factor` (or several) in this browser; for custom callbacks. A
   * factor for another user than the pending one starts a new journey (factors of two users never
   * add up). Rotates the session id; logs the user in (`req.logIn`) once a required set is done.
   */
  async record(req: IncomingMessage, user: unknown, factor: string | string[]): Promise<StepOutcome> {
    const factors = Array.isArray(factor) ? factor : [factor];
    if (factors.length === 0 || factors.some((name) => typeof name !== 'string' || name === ''))
      throw new ConfigurationError(`${OWNER}: record() needs the factor's name.`);
    if (this.binding) return this.recordStored(req, user, factors);
    const request = journeyRequest(req);
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
    const names = addFactors(state, factors, Math.floor(now / 1000));
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
   * `record()` without a session. The state read under the request's id is consumed (`take`) and
   * the factors go on under a NEW id the journey issues: an id planted by someone else never
   * carries an elevation, an id seen before a factor is worth nothing after it, and of concurrent
   * steps on one id exactly one goes on (the others answer 409 `no_pending_challenge`).
   */
  private async recordStored(req: IncomingMessage, user: unknown, factors: string[]): Promise<StepOutcome> {
    const serialized = await this.serialize(user, req);
    const now = Date.now();
    const loaded = await this.loadStored(req);
    let state: JourneyState | undefined;
    if (loaded) {
      if (!(await this.consumeStored(req))) throw noPending();
      // Factors of two users never add up: another user's state ends here.
      if (sameSerialized(loaded.user, serialized)) state = loaded;
    }
    state ??= { user: serialized, factors: [], complete: false, startedAt: now, data: {} };
    const names = addFactors(state, factors, Math.floor(now / 1000));
    const completes = this.requiredSets.some((set) => set.every((name) => names.includes(name)));
    if (completes) {
      state.complete = true;
      this.forgetStored(req, state);
      await logInWithoutSession(req, user);
    } else {
      await this.saveStored(req, state);
    }
    for (const name of factors)
      this.emit({ type: 'login.factor', factor: name, complete: completes, user: serialized });
    if (completes) this.emit({ type: 'login.complete', factors: names, user: serialized });
    return this.outcome(state);
  }

  /**
   * Middleware for a journey's step routes that are not `step()` (sending a code, starting a push):
   * while a partial login is pending and nobody is fully logged in, `req.user` is the pending user
   * for this request only. Mount it on those routes alone: behind it, `req.isAuthenticated()` is true.
   */
  pendingUser(): Handler {
    return (req, res, next) => {
      this.remember(req, res);
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
   *
   * Without a session (`binding`), a complete login is your app's own (e.g. the token it issued),
   * so this guards the journey's later steps instead: it lets the request on while the pending
   * journey has every named factor, with the pending user as `req.user` for this request only.
   * Factor names are required there.
   */
  requireFactors(factors: string | string[] = [], options: { withinSec?: number } = {}): Handler {
    const wanted = Array.isArray(factors) ? factors : [factors];
    const withinMs =
      options.withinSec === undefined
        ? undefined
        : positiveIntegerOption(options.withinSec, 1, 'withinSec', OWNER) * 1000;
    const fresh = (done: FactorRecord) => withinMs === undefined || Date.now() - done.at * 1000 <= withinMs;
    if (this.binding) {
      if (wanted.length === 0 || wanted.some((name) => typeof name !== 'string' || name === '')) {
        throw new ConfigurationError(
          `${OWNER}: without a session, requireFactors() needs the factor names the pending journey must have; guard a complete login with your own token.`,
        );
      }
      return (req, res, next) => {
        this.remember(req, res);
        const run = async () => {
          const state = await this.loadStored(req);
          const missing = wanted.filter(
            (name) => !state?.factors.some((done) => done.factor === name && fresh(done)),
          );
          if (missing.length === 0) {
            await this.loadPendingUser(req);
            if ((req as JourneyRequest).user) return next();
          }
          sendJson(res, 401, { error: 'Finish logging in first.', code: 'factors_required', missing });
        };
        run().catch((err: unknown) => next(toError(err)));
      };
    }
    return (req, res, next) => {
      const request = journeyRequest(req);
      const state = this.liveState(request, Date.now());
      const loggedIn = request.isAuthenticated?.() === true && passportUserOf(request) !== undefined;
      const valid =
        loggedIn && state?.complete === true && sameSerialized(passportUserOf(request), state.user);
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

  /**
   * The factors this browser completed in its current journey (empty when none is live). Without
   * a session: of the state this request loaded (behind `pendingUser()` or a step).
   */
  factors(req: IncomingMessage): FactorRecord[] {
    return [...(this.currentState(req)?.factors ?? [])];
  }

  /**
   * Whether this browser's journey is complete (the user is logged in through it). Without a
   * session the state is deleted when it completes, so this is `true` only in the completing request.
   */
  isComplete(req: IncomingMessage): boolean {
    return this.currentState(req)?.complete === true;
  }

  /**
   * Logs the pending user in now, whatever factors are missing: for an app that decides itself
   * (e.g. a trusted network). Resolves `false` when no partial login is pending. Without a session
   * the state is consumed and `req.user` is set for this request (`req.login(user, { session: false })`).
   */
  async complete(req: IncomingMessage): Promise<boolean> {
    if (this.binding) {
      const state = await this.loadStored(req);
      if (!state || !(await this.consumeStored(req))) return false;
      const user = await this.deserialize(state.user, req);
      this.forgetStored(req, user ? { ...state, complete: true } : undefined);
      if (!user) return false;
      await logInWithoutSession(req, user);
      this.emit({ type: 'login.complete', factors: state.factors.map((f) => f.factor), user: state.user });
      return true;
    }
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

  /**
   * Forgets this browser's journey (not Passport's login: use `req.logout` for that). Without a
   * session it deletes the stored state and calls `binding.clear`.
   */
  async reset(req: IncomingMessage): Promise<void> {
    if (this.binding) {
      await this.loadStored(req);
      await this.consumeStored(req);
      this.forgetStored(req);
      return;
    }
    delete journeyRequest(req).session[this.sessionKey];
  }

  /**
   * Data a journey built on this one keeps with the current state; gone when a new journey starts.
   * Without a session: of the state this request loaded (behind `pendingUser()`, `currentUser()`).
   */
  journeyData<T>(req: IncomingMessage, key: string): T | undefined {
    return this.currentState(req)?.data[key] as T | undefined;
  }

  /**
   * Stores `value` with the current state (no-op when no journey is live). Without a session this
   * is a write like a factor's: the state moves to a new id (handed out through `binding.set`), and
   * it rejects with a 409 `no_pending_challenge` `AuthenticationFailure` when a concurrent step
   * consumed the state first.
   */
  async setJourneyData(req: IncomingMessage, key: string, value: unknown): Promise<void> {
    if (this.binding) {
      const state = await this.loadStored(req);
      if (!state) return;
      if (!(await this.consumeStored(req))) throw noPending();
      state.data = { ...state.data, [key]: value };
      await this.saveStored(req, state);
      return;
    }
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
    return (req as JourneyRequest).user as User | undefined;
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
    this.remember(req, res);
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
    const request = req as JourneyRequest;
    // Without a session the state is loaded in any case: journeyData() reads it afterwards.
    const stored = this.binding ? await this.loadStored(req) : undefined;
    if (!this.binding) journeyRequest(req);
    if (request.user !== undefined && request.user !== null) return;
    const state = this.binding ? stored : this.liveState(journeyRequest(req), Date.now());
    if (!state) return;
    const user = await this.deserialize(state.user, req);
    if (user) request.user = user;
  }

  /** The state as this request knows it, without reading the store. */
  private currentState(req: IncomingMessage): JourneyState | undefined {
    if (this.binding) return this.contexts.get(req)?.state;
    return this.liveState(journeyRequest(req), Date.now());
  }

  private context(req: IncomingMessage): StoredContext {
    let context = this.contexts.get(req);
    if (!context) {
      context = { loaded: false, key: undefined, state: undefined, res: undefined };
      this.contexts.set(req, context);
    }
    return context;
  }

  /** Keeps the response of a journey route, where `binding.set` hands out the next id. */
  private remember(req: IncomingMessage, res: ServerResponse): void {
    if (this.binding) this.context(req).res = res;
  }

  private storeKey(id: string): string {
    return `partial-login:${this.name}:${digest(id)}`;
  }

  /** The live state under the id the request carries (read once per request); else `undefined`. */
  private async loadStored(req: IncomingMessage): Promise<JourneyState | undefined> {
    const context = this.context(req);
    if (context.loaded) return context.state;
    context.loaded = true;
    const id = this.binding!.get(req);
    if (typeof id !== 'string' || id === '' || id.length > MAX_BINDING_LENGTH) return undefined;
    const key = this.storeKey(id);
    const raw = await this.store!.get(key);
    const state = raw === undefined ? undefined : parseStored(raw, this.name);
    if (!state) return undefined;
    if (Date.now() - state.startedAt > this.maxAgeMs) {
      await this.store!.delete(key);
      return undefined;
    }
    context.key = key;
    context.state = state;
    return state;
  }

  /** Consumes the loaded state; `false` when a concurrent request took it first. */
  private async consumeStored(req: IncomingMessage): Promise<boolean> {
    const context = this.context(req);
    const key = context.key;
    context.key = undefined;
    context.state = undefined;
    if (key === undefined) return false;
    return (await this.store!.take(key)) !== undefined;
  }

  /** Saves `state` under a new id of its own and hands the id out through `binding.set`. */
  private async saveStored(req: IncomingMessage, state: JourneyState): Promise<void> {
    const context = this.context(req);
    const res = context.res ?? (req as { res?: ServerResponse }).res;
    if (!res) {
      throw new ConfigurationError(
        `${OWNER}: without a session, the journey hands out its id on the response: call it from its own handlers or from Express (req.res).`,
      );
    }
    const ttlMs = Math.max(1, state.startedAt + this.maxAgeMs - Date.now());
    const id = randomBytes(32).toString('base64url');
    const key = this.storeKey(id);
    await this.store!.set(key, JSON.stringify({ journey: this.name, ...state }), ttlMs);
    context.key = key;
    context.state = state;
    this.binding!.set(res, id, Math.max(1, Math.ceil(ttlMs / 1000)));
  }

  /**
   * The journey is over for this client: `binding.clear`. Nothing is stored any more; this request
   * still sees the `completed` state (for `isComplete()` and `factors()`), under no key.
   */
  private forgetStored(req: IncomingMessage, completed?: JourneyState): void {
    const context = this.context(req);
    context.key = undefined;
    context.state = completed;
    const res = context.res ?? (req as { res?: ServerResponse }).res;
    if (res) this.binding!.clear?.(res);
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

/** Records `factors` as done at `at` (a factor done again moves to the end); answers the names done. */
function addFactors(state: JourneyState, factors: string[], at: number): string[] {
  for (const name of factors) {
    state.factors = state.factors.filter((done) => done.factor !== name);
    state.factors.push({ factor: name, at });
  }
  return state.factors.map((done) => done.factor);
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

function bindingOption(value: unknown): JourneyBinding | undefined {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object')
    throw new ConfigurationError(
      `${OWNER}: \`binding\` must be an object with get(req) and set(res, id, maxAgeSec).`,
    );
  const binding = value as Partial<JourneyBinding>;
  requireFunction(binding.get, 'binding.get', OWNER);
  requireFunction(binding.set, 'binding.set', OWNER);
  if (binding.clear !== undefined) requireFunction(binding.clear, 'binding.clear', OWNER);
  return binding as JourneyBinding;
}

function storeOption(value: unknown, sessionless: boolean): Store | undefined {
  if (!sessionless) {
    if (value !== undefined)
      throw new ConfigurationError(
        `${OWNER}: \`store\` is for the session-less mode: give \`binding\` with it.`,
      );
    return undefined;
  }
  if (value === undefined) {
    throw new ConfigurationError(
      `${OWNER}: \`store\` is required with \`binding\`: a Store (MemoryStore, RedisStore) that keeps the partial state.`,
    );
  }
  assertStore(value, OWNER);
  return value;
}

/** A record read from the store: anything but this journey's own state counts as none. */
function parseStored(raw: string, journey: string): JourneyState | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const record = value as { journey?: unknown; user?: unknown } | null;
  if (
    record === null ||
    typeof record !== 'object' ||
    record.journey !== journey ||
    record.user === undefined
  )
    return undefined;
  const state = readState(value);
  if (!state || state.complete) return undefined;
  const { user, factors, startedAt, data } = state;
  return { user, factors, complete: false, startedAt, data };
}

function noPending(): AuthenticationFailure {
  return new AuthenticationFailure(
    'no_pending_challenge',
    'This login step was already used by another request: start again.',
    409,
  );
}

/** Passport's `req.login(user, { session: false })`: `req.user` for this request, no session. */
function logInWithoutSession(req: IncomingMessage, user: unknown): Promise<void> {
  const login = (
    req as { login?: (user: unknown, options: { session: false }, done: (err?: unknown) => void) => void }
  ).login;
  if (typeof login !== 'function') {
    throw new ConfigurationError(
      `${OWNER}: req.login is missing: mount passport.initialize() before the journey.`,
    );
  }
  return promisify((done) => login.call(req, user, { session: false }, done));
}

function rememberBrowserOption(value: unknown): Required<RememberBrowserOptions> | undefined {
  if (value === undefined) return undefined;
  const option = value as Partial<RememberBrowserOptions> | null;
  if (option === null || typeof option !== 'object' || !(option.browsers instanceof RememberedBrowsers))
    throw new ConfigurationError(`${OWNER}: \`rememberBrowser.browsers\` must be a RememberedBrowsers.`);
  return {
    browsers: option.browsers,
    factor: stringOption(option.factor, 'remembered-browser', 'rememberBrowser.factor', OWNER),
    when: functionOption(
      option.when,
      (req: IncomingMessage) =>
        (req as { body?: { rememberBrowser?: unknown } }).body?.rememberBrowser === true,
      'rememberBrowser.when',
      OWNER,
    ),
  };
}

import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { SmsSender } from '../clients/sipgate.js';
import { AuthenticationFailure, ConfigurationError, InvalidPhoneNumberError, toError } from '../errors.js';
import type { FactorRequest as Request } from '../internal/http.js';
import {
  auditHook,
  functionOption,
  positiveIntegerOption,
  requireFunction,
  stringOption,
} from '../internal/options.js';
import { originCheck, type OriginCheck } from '../internal/origin.js';
import { sessionOf as requireSession } from '../internal/session.js';
import { consumeOrThrow, createLimiter } from '../internal/throttle.js';
import { userIdOf, type User } from '../internal/verify.js';
import { MemoryStore } from '../stores/memory.js';
import type { Store } from '../stores/store.js';
import { OneTimeCodes, secretBytes } from './one-time-code.js';
import {
  allowedCountriesOption,
  maskPhoneNumber,
  normalizeSmsNumber,
  sampleSmsNumber,
  type PhoneNumberRules,
} from './phone-number.js';

/** Option errors name the strategy: these are its options. */
const OWNER = 'SmsOtpStrategy';

/** Passwordless mode: who a send request is for, looked up by what the user typed. */
export interface SmsOtpIdentify {
  /**
   * Reads the identifier the user typed (an email, a phone number, a username) and finds the
   * user. Answer `{ identifier, user: undefined }` for an unknown one: the response is the same.
   */
  fromRequest(
    req: Request,
  ):
    | Promise<{ identifier: string; user?: User | false | null | undefined }>
    | { identifier: string; user?: User | false | null | undefined };
  /** Loads the user back by the id `getUserId` gave, when the code is verified. */
  byId(id: string): Promise<User | false | null | undefined> | User | false | null | undefined;
}

/** What `message(code, context)` is given to write the text. */
export interface SmsOtpMessageContext {
  serviceName: string;
  ttlSeconds: number;
  webOtpDomain: string | undefined;
  /**
   * The language the text should be written in, as a canonical BCP 47 tag (e.g. `'de-DE'`): the
   * send handler's `locale` option, fixed or read from the request. `undefined` when none is set.
   * The default text is English whatever it says.
   */
  locale: string | undefined;
}

/** Audit events; never the code, never the full number. */
export type SmsOtpEvent =
  | { type: 'sent'; userId: string | undefined; phone: string }
  | { type: 'send_failed'; userId: string | undefined; phone: string; error: Error }
  | { type: 'verified'; userId: string }
  | { type: 'failed'; userId: string | undefined; code: string }
  | { type: 'locked'; userId: string | undefined }
  | { type: 'throttled'; userId: string | undefined; retryAfter: number | undefined };

/** The options of `SmsOtpStrategy` that configure codes, sending and binding (all but its Passport ones). */
export interface SmsOtpOptions extends PhoneNumberRules {
  /** Delivers the texts: `SipgateSmsSender` or any `{ send(to, text) }`. Required. */
  sender: SmsSender;
  /** The user's phone number (E.164, or national with `defaultCountry`). Required. */
  getPhoneNumber: (user: User) => string | undefined | null | Promise<string | undefined | null>;
  /** The user's id (default `String(user.id)`). */
  getUserId?: (user: User) => string;
  /** Passwordless mode (default: off; the code is a second factor for `req.user`). */
  identify?: SmsOtpIdentify;
  /**
   * HMAC key for stored code hashes and key names, ≥ 32 bytes (default: random per process, which
   * only works with the default `MemoryStore`; required with any other store).
   */
  secret?: string | Uint8Array;
  /** Pending codes, attempt counters, send limits (default: a new `MemoryStore`). */
  store?: Store;
  /** Digits per code, 6 to 10 (default 6). */
  codeLength?: number;
  /** Seconds a code stays valid (default 300). */
  ttlSeconds?: number;
  /**
   * Tries per pending code, i.e. per user and browser session, before that session is locked
   * (default 5). A resend from the same session never resets the count.
   */
  maxAttempts?: number;
  /**
   * Tries per user over all sessions within `lockoutSeconds` before every session of the user is
   * locked (default 30). With the default send limits a stranger can produce at most
   * `maxSendsPerWindow` × `maxAttempts` = 25 wrong codes for one user per hour, so cannot reach it;
   * it still caps an online guesser at 30 tries (1 in 33,000 for 6 digits) per window.
   */
  maxAttemptsPerUser?: number;
  /** Seconds attempts are counted over, so the longest lock (default 900). */
  lockoutSeconds?: number;
  /** Seconds between two sends to one user (default 30). */
  resendCooldownSeconds?: number;
  /** Sends per user, and per phone number, per window (default 5). */
  maxSendsPerWindow?: number;
  /** The send-limit window, in seconds (default 3600). */
  sendWindowSeconds?: number;
  /**
   * Send requests per client address per `sendWindowSeconds` (default 30), against SMS pumping
   * from one address. Every send request counts, refused ones included.
   */
  maxSendsPerClient?: number;
  /** The client address for `maxSendsPerClient` (default `req.ip`, which honours Express's `trust proxy`). */
  getClientIp?: (req: Request) => string | undefined;
  /** The body field holding the code (default `'code'`). */
  codeField?: string;
  /** Named in the default text (default `'your account'`). */
  serviceName?: string;
  /** When set, the default text ends with the WebOTP line `@domain #code`, so phones can fill the code in. */
  webOtpDomain?: string;
  /**
   * Writes the text (default: "123456 is your <serviceName> code. It expires in 5 minutes. …").
   * `context.locale` is the send handler's `locale`, for texts in the user's language.
   */
  message?: (code: string, context: SmsOtpMessageContext) => string;
  /**
   * The id of the session a code is bound to (default: a random id kept in `req.session`, so
   * express-session or another session middleware is needed). Not with `identify`.
   */
  getSessionId?: (req: Request) => string | undefined;
  /**
   * Origins whose pages may POST to the send handler (default: the request's own origin). Another site's
   * request is refused with 403 `cross_origin` before anything is sent; see the README's Origin rule.
   */
  allowedOrigins?: string[];
  /**
   * Audit hook (default none): sent, send_failed, verified, failed, locked, throttled. Errors it
   * throws are ignored. In passwordless mode a delivery failure is reported only here: the answer
   * has already been sent.
   */
  onEvent?: (event: SmsOtpEvent) => void;
}

/** What `sms-otp` keeps in the session: the binding id, and in passwordless mode who the code is for. */
interface SessionState {
  binding: string;
  subject?: string;
}
const SESSION_KEY = 'passport-factors:sms-otp';

interface Target {
  subject: string;
  /** Keys the per-user send limits: the user id, or in passwordless mode the typed identifier. */
  throttleKey: string;
  /** Keys the per-number send limit: the number, or a stand-in derived from the identifier. */
  numberKey: string;
  user: User | undefined;
  phone: string | undefined;
}

/** What a send comes to, for the route handler to answer. */
export interface SmsOtpSent {
  /** Seconds the code stays valid. */
  expiresIn: number;
  /** Seconds before another code may be asked for. */
  retryAfter: number;
  /**
   * Passwordless mode only: delivers the text. Call it once the answer is written, so nothing
   * about delivery shows in the answer's timing; it never rejects (failures go to `onEvent`).
   */
  deliverAfterAnswer?: () => void;
}

/**
 * The passport-free SMS one-time-code flow behind `SmsOtpStrategy` and `smsOtpHandlers`: send
 * limits, who a code is for, binding it to the browser session, texting it, and redeeming it.
 * @internal
 */
export class SmsOtpFlow {
  readonly codes: OneTimeCodes;
  readonly codeField: string;
  readonly identify: SmsOtpIdentify | undefined;
  readonly emit: (event: SmsOtpEvent) => void;
  readonly checkOrigin: OriginCheck;
  private readonly sender: SmsSender;
  private readonly getPhoneNumber: SmsOtpOptions['getPhoneNumber'];
  private readonly getUserId: (user: User) => string;
  private readonly numberRules: PhoneNumberRules;
  /**
   * Parsed in passwordless mode for an identifier with no user, so that a known and an unknown
   * identifier do the same parse work (timing does not tell them apart). Never texted.
   */
  private readonly decoyNumber: string;
  private readonly keySecret: Buffer;
  private readonly cooldown: RateLimiterAbstract;
  private readonly sendsPerUser: RateLimiterAbstract;
  private readonly sendsPerNumber: RateLimiterAbstract;
  private readonly sendsPerClient: RateLimiterAbstract;
  private readonly getClientIp: (req: Request) => string | undefined;
  private readonly resendCooldownSeconds: number;
  private readonly messageContext: Omit<SmsOtpMessageContext, 'locale'>;
  private readonly writeMessage: (code: string, context: SmsOtpMessageContext) => string;
  private readonly customSessionId: ((req: Request) => string | undefined) | undefined;

  constructor(options: SmsOtpOptions) {
    if (options === null || typeof options !== 'object')
      throw new ConfigurationError(`${OWNER}: options are required.`);
    if (!options.sender || typeof options.sender.send !== 'function') {
      throw new ConfigurationError(
        `${OWNER}: \`sender\` must be an object with send(to, text), e.g. a SipgateSmsSender.`,
      );
    }
    requireFunction(options.getPhoneNumber, 'getPhoneNumber', OWNER);
    if (options.identify !== undefined) {
      requireFunction(options.identify?.fromRequest, 'identify.fromRequest', OWNER);
      requireFunction(options.identify?.byId, 'identify.byId', OWNER);
    }
    const store = options.store ?? new MemoryStore();
    if (options.secret === undefined && !(store instanceof MemoryStore)) {
      throw new ConfigurationError(
        `${OWNER}: give \`secret\` (≥ 32 bytes) so every instance sharing the store agrees on code hashes.`,
      );
    }
    const secret = options.secret ?? randomBytes(32);
    this.keySecret = secretBytes(secret, OWNER);
    this.codes = new OneTimeCodes({
      secret,
      store,
      namespace: 'sms-otp',
      codeLength: options.codeLength,
      ttlSeconds: options.ttlSeconds,
      maxAttempts: options.maxAttempts,
      maxAttemptsPerUser: options.maxAttemptsPerUser,
      lockoutSeconds: options.lockoutSeconds,
    });
    this.sender = options.sender;
    this.getPhoneNumber = options.getPhoneNumber;
    this.getUserId = functionOption(
      options.getUserId,
      (user: User) => userIdOf(user, OWNER),
      'getUserId',
      OWNER,
    );
    this.identify = options.identify;
    this.numberRules = {
      defaultCountry: options.defaultCountry,
      allowedNumberTypes: options.allowedNumberTypes,
      allowedCountries: allowedCountriesOption(options.allowedCountries, OWNER),
    };
    this.decoyNumber = sampleSmsNumber(this.numberRules);

    this.resendCooldownSeconds = positiveIntegerOption(
      options.resendCooldownSeconds,
      30,
      'resendCooldownSeconds',
      OWNER,
    );
    const maxSends = positiveIntegerOption(options.maxSendsPerWindow, 5, 'maxSendsPerWindow', OWNER);
    const window = positiveIntegerOption(options.sendWindowSeconds, 3600, 'sendWindowSeconds', OWNER);
    this.cooldown = createLimiter(store, {
      keyPrefix: 'sms-otp:cooldown',
      points: 1,
      durationSec: this.resendCooldownSeconds,
    });
    this.sendsPerUser = createLimiter(store, {
      keyPrefix: 'sms-otp:sends-user',
      points: maxSends,
      durationSec: window,
    });
    this.sendsPerNumber = createLimiter(store, {
      keyPrefix: 'sms-otp:sends-number',
      points: maxSends,
      durationSec: window,
    });
    this.sendsPerClient = createLimiter(store, {
      keyPrefix: 'sms-otp:sends-client',
      points: positiveIntegerOption(options.maxSendsPerClient, 30, 'maxSendsPerClient', OWNER),
      durationSec: window,
    });
    this.getClientIp = functionOption(options.getClientIp, defaultClientIp, 'getClientIp', OWNER);

    this.codeField = stringOption(options.codeField, 'code', 'codeField', OWNER);
    this.messageContext = {
      serviceName: stringOption(options.serviceName, 'your account', 'serviceName', OWNER),
      ttlSeconds: this.codes.ttlSeconds,
      webOtpDomain: options.webOtpDomain === undefined ? undefined : webOtpDomain(options.webOtpDomain),
    };
    this.writeMessage = functionOption(options.message, defaultMessage, 'message', OWNER);
    if (options.getSessionId !== undefined) {
      requireFunction(options.getSessionId, 'getSessionId', OWNER);
      // Passwordless mode remembers who the code is for in the session itself.
      if (options.identify)
        throw new ConfigurationError(`${OWNER}: \`identify\` needs req.session; drop \`getSessionId\`.`);
    }
    this.customSessionId = options.getSessionId;
    this.emit = auditHook<SmsOtpEvent>(options.onEvent, OWNER);
    this.checkOrigin = originCheck(options.allowedOrigins, OWNER);
  }

  /**
   * Issues a code for this request's user (or, in passwordless mode, whoever `identify` finds)
   * bound to its session, and texts it. Second-factor mode texts it before resolving (a delivery
   * failure rejects); passwordless mode hands the delivery back to be run after the answer.
   * Throws `AuthenticationFailure` for what the route answers as a failure (401, 429).
   */
  async send(req: Request, locale: string | undefined): Promise<SmsOtpSent> {
    const target = await this.resolveTarget(req);
    const userId = target.user === undefined ? undefined : target.subject;
    // A locked session (or user) hears "locked" (and when it ends) before any send limit is spent.
    const lockedFor = await this.codes.lockedFor(target.subject, this.sessionState(req)?.binding);
    if (lockedFor !== undefined) {
      throw new AuthenticationFailure('locked', 'Too many wrong codes. Wait, then ask for a new code.', 429, {
        retryAfter: lockedFor,
      });
    }
    try {
      // The client's budget first: a pumping script that is refused must not also spend the
      // per-user and per-number budgets of the people it targets.
      await consumeOrThrow(
        this.sendsPerClient,
        this.key('client', this.getClientIp(req) ?? 'unknown'),
        'Too many codes asked for from this address. Try again later.',
      );
      await consumeOrThrow(
        this.cooldown,
        this.key('user', target.throttleKey),
        'Wait before asking for another code.',
      );
      await consumeOrThrow(
        this.sendsPerUser,
        this.key('user', target.throttleKey),
        'Too many codes asked for. Try again later.',
      );
      // Also for an unknown identifier (on a stand-in key): the same limiter work for both, so timing does not tell them apart.
      await consumeOrThrow(
        this.sendsPerNumber,
        this.key('number', target.numberKey),
        'Too many codes asked for. Try again later.',
      );
    } catch (err) {
      if (err instanceof AuthenticationFailure)
        this.emit({ type: 'throttled', userId, retryAfter: err.retryAfter });
      throw err;
    }
    const binding = this.ensureSessionState(req, this.identify ? target.subject : undefined);
    let delivery: (() => Promise<void>) | undefined;
    if (target.user === undefined || target.phone === undefined) {
      await this.codes.issueDecoy(target.subject, binding);
    } else {
      const { code } = await this.codes.issue(target.subject, binding);
      const phone = target.phone;
      delivery = () =>
        this.deliver(
          target.subject,
          binding,
          phone,
          this.writeMessage(code, { ...this.messageContext, locale }),
        );
    }
    const sent: SmsOtpSent = { expiresIn: this.codes.ttlSeconds, retryAfter: this.resendCooldownSeconds };
    if (!this.identify) {
      if (delivery) await delivery();
      return sent;
    }
    // Passwordless: the text goes out only once the answer is written, so nothing about
    // delivery (building the text, the HTTP request, its latency) can tell a known identifier
    // from an unknown one. A failure is reported through onEvent by deliver().
    return {
      ...sent,
      deliverAfterAnswer: () => {
        delivery?.().catch(() => {});
      },
    };
  }

  /**
   * Checks the submitted code for this request's pending challenge and consumes it. Answers the
   * user it was for and the subject; throws `AuthenticationFailure` for a missing, wrong,
   * expired or locked code or when none is pending.
   */
  async redeem(req: Request): Promise<{ user: User; subject: string }> {
    const submitted: unknown = (req.body as Record<string, unknown> | undefined)?.[this.codeField];
    if (typeof submitted !== 'string' || submitted.trim() === '') {
      throw new AuthenticationFailure(
        'missing_credentials',
        `Enter the code (field "${this.codeField}").`,
        400,
      );
    }
    if (submitted.length > 64)
      throw new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 400);
    const state = this.sessionState(req);
    const subject = this.identify ? state?.subject : this.currentUserId(req);
    if (subject === undefined || state === undefined) {
      throw new AuthenticationFailure('no_pending_challenge', 'No code is pending. Ask for a new code.', 401);
    }
    const userId = this.identify && subject.startsWith('unknown:') ? undefined : subject;
    try {
      await this.codes.redeem(subject, state.binding, submitted);
    } catch (err) {
      if (err instanceof AuthenticationFailure) {
        this.emit(
          err.code === 'locked' ? { type: 'locked', userId } : { type: 'failed', userId, code: err.code },
        );
      }
      throw err;
    }
    this.clearSessionState(req);
    const found = this.identify ? await this.identify.byId(subject) : req.user;
    if (!found)
      throw new AuthenticationFailure('invalid_code', 'The code is wrong or was already used.', 401);
    return { user: found, subject };
  }

  private async deliver(subject: string, binding: string, phone: string, text: string): Promise<void> {
    try {
      await this.sender.send(phone, text);
      this.emit({ type: 'sent', userId: subject, phone: maskPhoneNumber(phone) });
    } catch (err) {
      await this.codes.cancel(subject, binding);
      this.emit({ type: 'send_failed', userId: subject, phone: maskPhoneNumber(phone), error: toError(err) });
      throw err;
    }
  }

  private async resolveTarget(req: Request): Promise<Target> {
    if (!this.identify) {
      const subject = this.currentUserId(req);
      if (subject === undefined || !req.user) {
        throw new AuthenticationFailure('missing_credentials', 'Log in with your password first.', 401);
      }
      const phone = normalizeSmsNumber(await this.getPhoneNumber(req.user), this.numberRules);
      return { subject, throttleKey: subject, numberKey: phone, user: req.user, phone };
    }
    const { identifier, user } = await this.identify.fromRequest(req);
    if (typeof identifier !== 'string' || identifier.trim() === '') {
      throw new AuthenticationFailure(
        'missing_credentials',
        'Say who you are (e.g. your email address).',
        400,
      );
    }
    const throttleKey = identifier.trim().toLowerCase();
    // Known or not, the same work, so timing does not tell them apart: one number parsed with the
    // same rules, and the stand-in subject's MAC computed (used only for an unknown identifier).
    const standIn = `unknown:${this.key('identifier', throttleKey)}`;
    const number = await (user ? this.getPhoneNumber(user) : this.decoyNumber);
    let phone: string | undefined;
    try {
      phone = normalizeSmsNumber(number, this.numberRules);
    } catch (err) {
      // A known user without a usable number answers exactly like an unknown one.
      if (!(err instanceof InvalidPhoneNumberError)) throw err;
    }
    if (user && phone !== undefined) {
      return { subject: this.getUserId(user), throttleKey, numberKey: phone, user, phone };
    }
    return {
      subject: standIn,
      throttleKey,
      numberKey: `unknown:${throttleKey}`,
      user: undefined,
      phone: undefined,
    };
  }

  private currentUserId(req: Request): string | undefined {
    return req.user ? this.getUserId(req.user) : undefined;
  }

  /** Store keys never hold raw phone numbers or identifiers. */
  private key(kind: string, value: string): string {
    return createHmac('sha256', this.keySecret).update(`${kind}\0${value}`).digest('base64url');
  }

  /** This session's pending state: its binding id and, in passwordless mode, who the code is for. */
  private sessionState(req: Request): SessionState | undefined {
    if (this.customSessionId) {
      const binding = this.customSessionId(req);
      return typeof binding === 'string' && binding !== '' ? { binding } : undefined;
    }
    return sessionOf(req)[SESSION_KEY] as SessionState | undefined;
  }

  /**
   * Binds the code to this session and answers the binding. The binding id is kept for the
   * session's life (until a code is redeemed): it names the pending challenge together with the
   * user, so a resend from this session replaces this session's code and keeps its attempt count,
   * while a send from any other session leaves it alone.
   */
  private ensureSessionState(req: Request, subject: string | undefined): string {
    if (this.customSessionId) {
      const binding = this.customSessionId(req);
      if (typeof binding !== 'string' || binding === '') {
        throw new ConfigurationError(`${OWNER}: getSessionId(req) returned no session id.`);
      }
      return binding;
    }
    const existing = sessionOf(req)[SESSION_KEY] as SessionState | undefined;
    const state: SessionState = {
      binding:
        typeof existing?.binding === 'string' && existing.binding !== ''
          ? existing.binding
          : randomBytes(16).toString('base64url'),
      ...(subject ? { subject } : {}),
    };
    sessionOf(req)[SESSION_KEY] = state;
    return state.binding;
  }

  private clearSessionState(req: Request): void {
    if (!this.customSessionId) delete sessionOf(req)[SESSION_KEY];
  }
}

function sessionOf(req: IncomingMessage): Record<string, unknown> {
  return requireSession(req, OWNER);
}

function defaultClientIp(req: Request): string | undefined {
  return req.ip ?? req.socket?.remoteAddress;
}

export function defaultMessage(code: string, context: SmsOtpMessageContext): string {
  const minutes = Math.max(1, Math.round(context.ttlSeconds / 60));
  const text = `${code} is your ${context.serviceName} code. It expires in ${minutes} minute${minutes === 1 ? '' : 's'}. Never share it.`;
  // WebOTP (https://wicg.github.io/sms-one-time-codes/): the last line names the origin and the code.
  return context.webOtpDomain ? `${text}\n\n@${context.webOtpDomain} #${code}` : text;
}

function webOtpDomain(domain: unknown): string {
  if (
    typeof domain !== 'string' ||
    !/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i.test(
      domain,
    )
  ) {
    throw new ConfigurationError(
      `${OWNER}: \`webOtpDomain\` must be a bare host name such as "example.com".`,
    );
  }
  return domain.toLowerCase();
}

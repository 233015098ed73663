import type { ServerResponse } from 'node:http';
import { finished } from 'node:stream';
import { AuthenticationFailure, ConfigurationError, InvalidPhoneNumberError, toError } from '../errors.js';
import type { FactorRequest as Request, Handler } from '../internal/http.js';
import { functionOption } from '../internal/options.js';
import { SmsOtpStrategy } from '../strategies/sms-otp.js';
import { respondJson, type Respond } from './respond.js';
import { respondFailure } from './shared.js';

const OWNER = 'smsOtpHandlers';

/**
 * Options of `smsOtpHandlers(smsOtp, options)`. No `passport` or `name`: sending a code
 * authenticates nobody; `passport.authenticate(name)` is the step that checks it.
 */
export interface SmsOtpHandlerOptions {
  /** How answers are written (default `respondJson`). */
  respond?: Respond;
  /**
   * The language of the text, handed to the strategy's `message(code, context)` as
   * `context.locale` (default none): a BCP 47 tag for every text this handler sends (one route per
   * language), or `locale(req)` answering the tag for this request (the user's setting, the
   * page's language) or `undefined`. A value that is not a language tag is refused: at once when
   * fixed, as a `ConfigurationError` to the app's error handler (nothing sent) when `locale(req)`
   * answers one.
   */
  locale?: string | ((req: Request) => string | undefined);
}

/** The routes of one `SmsOtpStrategy`. */
export interface SmsOtpHandlers {
  /**
   * The send step (`POST`, body parsed by the app): issues a code bound to this user and session
   * and texts it. 202 `{ sent: true, expiresIn, retryAfter }`; 429 `{ error, code: 'rate_limited' |
   * 'locked', retryAfter }` with `Retry-After`; 401 without a first factor (second-factor mode);
   * 400 for a phone number that cannot receive SMS or is outside `allowedCountries`. A delivery
   * failure reaches the app's error handler; in passwordless mode the text is sent after the
   * answer, and a failure is reported through `onEvent` only. 403 `cross_origin` for another
   * site's request.
   */
  send: Handler;
}

/**
 * The route handlers of the SMS one-time code: `send` issues and texts a code.
 *
 * ```ts
 * const sms = smsOtpHandlers(smsOtp, { locale: (req) => req.user?.language });
 * app.post('/sms/send', sms.send);
 * app.post('/sms/verify', passport.authenticate('sms-otp'), done);
 * ```
 */
export function smsOtpHandlers(smsOtp: SmsOtpStrategy, options: SmsOtpHandlerOptions = {}): SmsOtpHandlers {
  if (!(smsOtp instanceof SmsOtpStrategy)) {
    throw new ConfigurationError(`${OWNER}: the first argument must be an SmsOtpStrategy.`);
  }
  if (options === null || typeof options !== 'object') {
    throw new ConfigurationError(`${OWNER}: options must be an object.`);
  }
  const respond = functionOption<Respond>(options.respond, respondJson, 'respond', OWNER);
  const localeOf = localeOption(options.locale);
  const flow = smsOtp.flow;

  const send = async (req: Request, res: ServerResponse): Promise<void> => {
    flow.checkOrigin(req);
    const locale = localeOf(req);
    const sent = await flow.send(req, locale);
    res.setHeader('Cache-Control', 'no-store');
    respond(res, 202, { sent: true, expiresIn: sent.expiresIn, retryAfter: sent.retryAfter }, req);
    const deliver = sent.deliverAfterAnswer;
    if (deliver) finished(res, () => deliver());
  };

  return {
    send: (req, res, next) => {
      send(req as Request, res).catch((err: unknown) => {
        if (err instanceof AuthenticationFailure) return respondFailure(respond, req, res, err);
        if (err instanceof InvalidPhoneNumberError)
          return respond(res, 400, { error: err.message, code: err.code }, req);
        next(toError(err));
      });
    },
  };
}

function localeOption(value: unknown): (req: Request) => string | undefined {
  if (value === undefined) return () => undefined;
  if (typeof value === 'string') {
    const fixed = canonicalLocale(value);
    if (fixed === undefined) {
      throw new ConfigurationError(
        `${OWNER}: \`locale\` must be a BCP 47 language tag such as "de" or "pt-BR".`,
      );
    }
    return () => fixed;
  }
  if (typeof value !== 'function') {
    throw new ConfigurationError(`${OWNER}: \`locale\` must be a language tag or a function of the request.`);
  }
  const read = value as (req: Request) => unknown;
  return (req) => {
    const answered = read(req);
    if (answered === undefined || answered === null) return undefined;
    const locale = typeof answered === 'string' ? canonicalLocale(answered) : undefined;
    if (locale === undefined) {
      throw new ConfigurationError(
        `${OWNER}: \`locale(req)\` must answer a BCP 47 language tag such as "de" or "pt-BR", or undefined.`,
      );
    }
    return locale;
  };
}

function canonicalLocale(tag: string): string | undefined {
  if (tag === '') return undefined;
  try {
    return Intl.getCanonicalLocales(tag)[0];
  } catch {
    return undefined;
  }
}

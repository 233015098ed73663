import { ConfigurationError, VendorError } from '../errors.js';
import { positiveIntegerOption } from '../internal/options.js';
import { allowedCountriesOption, normalizeSmsNumber, type PhoneNumberRules } from '../core/phone-number.js';
import { VendorHttp, type VendorResponse } from './http.js';

const OWNER = 'SipgateSmsSender';
const VENDOR = 'sipgate';

/**
 * What `SmsOtpStrategy` needs to deliver a code: any object with this method works (another
 * SMS provider, a queue, a test double). `to` is E.164 (`+4915…`); resolve when the provider has
 * accepted the message, reject with an Error when it has not.
 */
export interface SmsSender {
  send(to: string, text: string): Promise<unknown>;
}

export interface SipgateSmsSenderOptions extends PhoneNumberRules {
  /** Personal access token id, `token-` and six letters or digits. Give it with `token` (required unless `accessToken` is given). */
  tokenId?: string;
  /** Personal access token (a UUID) with the `sessions:sms:write` scope (required with `tokenId`). */
  token?: string;
  /** OAuth access token, or a function that returns a current one (called per send). Instead of tokenId/token (default none). */
  accessToken?: string | (() => string | Promise<string>);
  /** The SMS extension id, `s0`, `s1`, … (default `'s0'`). */
  smsId?: string;
  /** API base URL (default `'https://api.sipgate.com/v2'`); the sandbox's `sipgate.baseUrl` for local runs. */
  baseUrl?: string;
  /** Whole-request deadline in ms (default 10000). */
  timeoutMs?: number;
  /** Largest response body read, in bytes (default 65536). */
  maxResponseBytes?: number;
}

export interface SendSmsOptions {
  /** Deliver later: a time in the future, at most 30 days ahead (sipgate's limit). Default: now. */
  sendAt?: Date;
}

const TOKEN_ID = /^token-[a-zA-Z\d]{6}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SMS_ID = /^s(0|[1-9][0-9]*)$/;
const MAX_SEND_AT_MS = 30 * 24 * 3600 * 1000;

/** What each sipgate status means, and what to do about it. */
const STATUS_ERRORS: Record<number, [code: string, message: string]> = {
  400: [
    'ERR_SIPGATE_BAD_REQUEST',
    'sipgate refused the request as malformed (400): check the recipient and the message.',
  ],
  401: [
    'ERR_SIPGATE_UNAUTHORIZED',
    'sipgate refused the credentials (401): check tokenId and token, or the access token.',
  ],
  402: [
    'ERR_SIPGATE_INSUFFICIENT_BALANCE',
    'sipgate: insufficient balance (402): top up the sipgate account.',
  ],
  403: [
    'ERR_SIPGATE_FORBIDDEN',
    'sipgate refused (403): the token lacks the sessions:sms:write scope, SMS is not booked, or the smsId is wrong.',
  ],
  404: ['ERR_SIPGATE_NOT_FOUND', 'sipgate answered 404: check baseUrl (it should end in /v2).'],
  405: ['ERR_SIPGATE_METHOD_NOT_ALLOWED', 'sipgate answered 405 (method not allowed): check baseUrl.'],
  415: ['ERR_SIPGATE_UNSUPPORTED_MEDIA_TYPE', 'sipgate answered 415: the request was not sent as JSON.'],
};

/** Sends SMS through sipgate.io's REST API (`POST /sessions/sms`). */
export class SipgateSmsSender implements SmsSender {
  private readonly http: VendorHttp;
  private readonly path: string;
  private readonly smsId: string;
  private readonly authorization: () => Promise<string>;
  private readonly numberRules: PhoneNumberRules;

  constructor(options: SipgateSmsSenderOptions) {
    if (options === null || typeof options !== 'object') {
      throw new ConfigurationError(`${OWNER}: options are required.`);
    }
    this.authorization = authorizationFrom(options);
    this.smsId = options.smsId ?? 's0';
    if (typeof this.smsId !== 'string' || !SMS_ID.test(this.smsId)) {
      throw new ConfigurationError(
        `${OWNER}: \`smsId\` must look like s0, s1, … (got "${String(this.smsId)}").`,
      );
    }
    const baseUrl = options.baseUrl ?? 'https://api.sipgate.com/v2';
    this.http = new VendorHttp(baseUrl, {
      vendor: VENDOR,
      timeoutMs: positiveIntegerOption(options.timeoutMs, 10_000, 'timeoutMs', OWNER),
      maxResponseBytes: positiveIntegerOption(options.maxResponseBytes, 65_536, 'maxResponseBytes', OWNER),
    });
    this.path = `${new URL(baseUrl).pathname.replace(/\/+$/, '')}/sessions/sms`;
    this.numberRules = {
      defaultCountry: options.defaultCountry,
      allowedNumberTypes: options.allowedNumberTypes,
      allowedCountries: allowedCountriesOption(options.allowedCountries, OWNER),
    };
  }

  /** The recipient in E.164, or `InvalidPhoneNumberError` (see `normalizeSmsNumber`). */
  normalizeRecipient(input: string): string {
    return normalizeSmsNumber(input, this.numberRules);
  }

  async send(to: string, text: string, options: SendSmsOptions = {}): Promise<{ recipient: string }> {
    const recipient = this.normalizeRecipient(to);
    if (typeof text !== 'string' || text.trim() === '')
      throw new TypeError(`${OWNER}: the message is empty.`);
    // Key order as sipgateio builds it, so both send the same bytes (test/integration/interop-sipgateio).
    const body: Record<string, unknown> = { smsId: this.smsId, message: text, recipient };
    if (options.sendAt !== undefined) body.sendAt = sendAtSeconds(options.sendAt);

    const response = await this.http.request({
      method: 'POST',
      path: this.path,
      headers: {
        accept: 'application/json',
        'content-type': 'application/json',
        authorization: await this.authorization(),
      },
      body: JSON.stringify(body),
      // A POST that may have reached sipgate is never repeated (the text could go out twice);
      // one that never left this machine is.
      retryIfNotSent: true,
    });
    if (response.status >= 200 && response.status < 300) {
      // sipgate answers 204 with no body; a 2xx page from a gateway means the text may not have gone out.
      if (response.body.length > 0) requireJsonBody(response);
      return { recipient };
    }
    const known = STATUS_ERRORS[response.status];
    if (known) throw new VendorError(VENDOR, known[0], known[1], { vendorStatus: response.status });
    if (response.status >= 500) {
      throw new VendorError(
        VENDOR,
        'ERR_SIPGATE_SERVER',
        `sipgate had a server error (${response.status}): try again later.`,
        {
          vendorStatus: response.status,
        },
      );
    }
    throw new VendorError(
      VENDOR,
      'ERR_SIPGATE_UNEXPECTED_STATUS',
      `sipgate answered an unexpected ${response.status}.`,
      {
        vendorStatus: response.status,
      },
    );
  }

  /** Closes the keep-alive connections. */
  async close(): Promise<void> {
    await this.http.close();
  }
}

function authorizationFrom(options: SipgateSmsSenderOptions): () => Promise<string> {
  const { tokenId, token, accessToken } = options;
  if (accessToken !== undefined) {
    if (tokenId !== undefined || token !== undefined) {
      throw new ConfigurationError(`${OWNER}: give either tokenId/token or accessToken, not both.`);
    }
    if (typeof accessToken === 'string') {
      if (accessToken === '') throw new ConfigurationError(`${OWNER}: \`accessToken\` is empty.`);
      return async () => `Bearer ${accessToken}`;
    }
    if (typeof accessToken !== 'function') {
      throw new ConfigurationError(`${OWNER}: \`accessToken\` must be a string or a function returning one.`);
    }
    return async () => {
      const current = await accessToken();
      if (typeof current !== 'string' || current === '') {
        throw new ConfigurationError(`${OWNER}: the \`accessToken\` provider returned no token.`);
      }
      return `Bearer ${current}`;
    };
  }
  if (typeof tokenId !== 'string' || !TOKEN_ID.test(tokenId)) {
    throw new ConfigurationError(
      `${OWNER}: \`tokenId\` must look like "token-" and six letters or digits (or give \`accessToken\`).`,
    );
  }
  if (typeof token !== 'string' || !UUID.test(token)) {
    throw new ConfigurationError(`${OWNER}: \`token\` must be the personal access token, a UUID.`);
  }
  const header = `Basic ${Buffer.from(`${tokenId}:${token}`, 'utf8').toString('base64')}`;
  return async () => header;
}

function sendAtSeconds(sendAt: Date): number {
  const at = sendAt instanceof Date ? sendAt.getTime() : Number.NaN;
  const now = Date.now();
  if (!Number.isFinite(at) || at <= now || at - now > MAX_SEND_AT_MS) {
    throw new TypeError(`${OWNER}: \`sendAt\` must be a Date in the future, at most 30 days ahead.`);
  }
  return Math.floor(at / 1000);
}

/**
 * A 2xx body from sipgate must be JSON, or it did not come from sipgate. Its Content-Type is not
 * checked: sipgateio (axios) never reads it; the body's shape refuses a gateway page.
 */
function requireJsonBody(response: VendorResponse): void {
  try {
    JSON.parse(response.body.toString('utf8'));
  } catch {
    throw new VendorError(
      VENDOR,
      'ERR_SIPGATE_BAD_RESPONSE',
      `sipgate answered ${response.status} with a body that is not JSON.`,
      {
        vendorStatus: response.status,
      },
    );
  }
}

import { createHmac, randomUUID } from 'node:crypto';
import { ConfigurationError, VendorError } from '../errors.js';
import { positiveIntegerOption } from '../internal/options.js';
import type { RiscResult } from '../core/risc-snapshot.js';
import { VendorHttp } from './http.js';

const OWNER = 'LastwallClient';
const VENDOR = 'Lastwall';

/**
 * The order the digest signature concatenates its parts in. The vendor's module signs
 * url + requestId + timestamp; its API.md says url + timestamp + requestId. We follow the module,
 * which is what the server accepts from every deployed integration.
 */
export const LASTWALL_SIGNATURE_ORDER = ['url', 'requestId', 'timestamp'] as const;

export interface LastwallClientOptions {
  /** API token: `LWK…`, at least 67 characters. */
  token: string;
  /** API secret: at least 64 hex characters. */
  secret: string;
  /** Default `'https://risc.lastwall.com/'`. TLS certificates are always checked. */
  baseUrl?: string;
  /** `'digest'` (default: signed headers) or `'basic'` (token:secret). */
  auth?: 'digest' | 'basic';
  /** Per-request deadline in ms (default 5000, the vendor's socket timeout). */
  timeoutMs?: number;
  /** Largest response read, in bytes (default 65536). */
  maxResponseBytes?: number;
}

/** Lastwall RISC's API: verify, validate, preauth and save_email, signed per request. */
export class LastwallClient {
  readonly baseUrl: string;
  private readonly token: string;
  private readonly secret: string;
  private readonly auth: 'digest' | 'basic';
  private readonly http: VendorHttp;
  private readonly basePath: string;
  private readonly signedBase: string;

  constructor(options: LastwallClientOptions) {
    if (typeof options?.token !== 'string' || !/^LWK\S{64,}$/.test(options.token)) {
      throw new ConfigurationError(
        `${OWNER}: \`token\` must be the API token: "LWK" and at least 64 more characters.`,
      );
    }
    if (typeof options.secret !== 'string' || !/^[0-9a-f]{64,}$/i.test(options.secret)) {
      throw new ConfigurationError(
        `${OWNER}: \`secret\` must be the API secret: at least 64 hex characters.`,
      );
    }
    this.token = options.token;
    this.secret = options.secret;
    this.auth = options.auth ?? 'digest';
    if (this.auth !== 'digest' && this.auth !== 'basic')
      throw new ConfigurationError(`${OWNER}: \`auth\` must be 'digest' or 'basic'.`);
    this.baseUrl = (options.baseUrl ?? 'https://risc.lastwall.com/').replace(/\/*$/, '/');
    this.http = new VendorHttp(this.baseUrl, {
      vendor: VENDOR,
      timeoutMs: positiveIntegerOption(options.timeoutMs, 5000, 'timeoutMs', OWNER),
      maxResponseBytes: positiveIntegerOption(options.maxResponseBytes, 65_536, 'maxResponseBytes', OWNER),
    });
    const url = new URL(this.baseUrl);
    this.basePath = url.pathname;
    // The signed URL has no port and no query, as the module builds it.
    this.signedBase = `${url.protocol}//${url.hostname}${url.pathname}`;
  }

  /** The browser script for a user: `…/risc/script/<token>/<url-encoded user id>`. */
  scriptUrl(userId: string): string {
    return `${this.baseUrl}risc/script/${this.token}/${encodeURIComponent(userId)}`;
  }

  /** `GET api/verify`: true when the API key works. */
  async verifyApiKey(): Promise<boolean> {
    return (await this.call('GET', 'verify', {})).status === 'OK';
  }

  /** `GET api/validate`: does Lastwall's record of this snapshot match what we decrypted? */
  async validate(result: RiscResult): Promise<boolean> {
    const answer = await this.call(
      'GET',
      'validate',
      {
        snapshot_id: result.snapshot_id,
        browser_id: result.browser_id,
        date: result.date,
        score: String(result.score),
        status: result.status,
      },
      { mismatchIs400: true },
    );
    return answer.status === 'OK';
  }

  /** `POST api/preauth`: the next snapshot from this browser scores 0 (after a second factor). */
  async preAuthenticate(userId: string, browserId: string): Promise<void> {
    refuseErrorStatus(
      await this.call('POST', 'preauth', { user_id: userId, browser_id: browserId }),
      'preauth',
    );
  }

  /** `POST api/save_email`: emails the user an unlock link for this browser. */
  async emailAuthenticate(userId: string, browserId: string, email?: string): Promise<void> {
    const answer = await this.call('POST', 'save_email', {
      user_id: userId,
      browser_id: browserId,
      ...(email ? { email } : {}),
    });
    refuseErrorStatus(answer, 'save_email');
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async call(
    method: 'GET' | 'POST',
    name: string,
    params: Record<string, string>,
    options: { mismatchIs400?: boolean } = {},
  ): Promise<{ status?: unknown; error?: unknown }> {
    // As the module does: parameters url-encoded in the body, even on GET, and the module's header
    // set (no Accept). Its Content-Length is the string length; undici sends the byte length.
    const body = formEncode(params);
    const response = await this.http.request({
      method,
      path: `${this.basePath}api/${name}`,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...this.authHeaders(name),
      },
      body,
    });
    // No Content-Type check: the module never reads the header. A body that is
    // not a JSON object is what refuses a gateway's page.
    let answer: { status?: unknown; error?: unknown } | undefined;
    try {
      const parsed: unknown = JSON.parse(response.body.toString('utf8'));
      answer =
        parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
          ? (parsed as { status?: unknown; error?: unknown })
          : undefined;
    } catch {
      answer = undefined;
    }
    // Any 2xx is success for the module; API.md names 200.
    const ok = response.status >= 200 && response.status < 300;
    if (ok && answer) return answer;
    if (ok) {
      throw new VendorError(
        VENDOR,
        'ERR_LASTWALL_BAD_RESPONSE',
        `Lastwall answered ${response.status} to api/${name} with a body that is not a JSON object.`,
        { vendorStatus: response.status },
      );
    }
    if (response.status === 400 && options.mismatchIs400 && answer?.status === 'Error') return answer;
    const detail = typeof answer?.error === 'string' ? `: ${answer.error.slice(0, 200)}` : '';
    const code =
      response.status === 401
        ? 'ERR_LASTWALL_UNAUTHORIZED'
        : response.status >= 500
          ? 'ERR_LASTWALL_SERVER'
          : 'ERR_LASTWALL_REQUEST';
    const advice =
      response.status === 401 ? ' Check the API token and secret, and the server clock (±5 min).' : '';
    throw new VendorError(
      VENDOR,
      code,
      `Lastwall answered ${response.status} to api/${name}${detail}.${advice}`,
      { vendorStatus: response.status },
    );
  }

  private authHeaders(name: string): Record<string, string> {
    if (this.auth === 'basic') {
      return { authorization: `Basic ${Buffer.from(`${this.token}:${this.secret}`).toString('base64')}` };
    }
    const parts = {
      url: `${this.signedBase}api/${name}`,
      requestId: randomUUID(),
      timestamp: String(Math.floor(Date.now() / 1000)),
    };
    const signature = createHmac('sha1', this.secret)
      .update(LASTWALL_SIGNATURE_ORDER.map((part) => parts[part]).join(''))
      .digest('base64');
    return {
      'x-lastwall-token': this.token,
      'x-lastwall-timestamp': parts.timestamp,
      'x-lastwall-request-id': parts.requestId,
      'x-lastwall-signature': signature,
    };
  }
}

/**
 * A JSON answer may say `"status": "Error"` with a 200 (API.md shows one); the module reads no
 * field of these answers, so a missing `status` is fine, but an error is never taken as done.
 */
function refuseErrorStatus(answer: { status?: unknown; error?: unknown }, name: string): void {
  if (answer.status !== 'Error') return;
  const detail = typeof answer.error === 'string' ? `: ${answer.error.slice(0, 200)}` : '';
  throw new VendorError(VENDOR, 'ERR_LASTWALL_REQUEST', `Lastwall refused api/${name}${detail}.`);
}

/** `key=value&…` encoded as the module's `qs.stringify` does (RFC 3986: `%20` for a space). */
function formEncode(params: Record<string, string>): string {
  const encode = (value: string) =>
    encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return Object.entries(params)
    .map(([key, value]) => `${encode(key)}=${encode(value)}`)
    .join('&');
}

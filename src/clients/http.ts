import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { ConfigurationError, VendorError } from '../errors.js';

export interface VendorHttpOptions {
  /** The vendor's name, for error messages and `VendorError.vendor`. */
  vendor: string;
  /** Whole-request deadline in ms, connection to last body byte. */
  timeoutMs: number;
  /** Largest response body read, in bytes; a larger one is refused without buffering it. */
  maxResponseBytes: number;
  /** Most sockets kept open to the origin (default 8). */
  connections?: number;
}

export interface VendorRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
  /**
   * Retry once when the connection could not be made (refused, or no TCP connection before the
   * connect timeout): nothing reached the vendor, so even a non-idempotent request is safe to send
   * again. Anything that fails after the request may have been sent is never retried.
   */
  retryIfNotSent?: boolean;
}

export interface VendorResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Media types a JSON API answers with: `application/json` and `application/*+json`. */
export const JSON_MEDIA_TYPE = { pattern: /^application\/([\w.-]+\+)?json$/, name: 'JSON' };

/** The response's media type, lower-cased, without parameters (`''` when there is none). */
export function mediaTypeOf(response: VendorResponse): string {
  const header = response.headers['content-type'];
  const value = Array.isArray(header) ? header[0] : header;
  return (value ?? '').split(';')[0]!.trim().toLowerCase();
}

/**
 * Refuses an answer that is not labelled as the vendor labels it: an HTML page from a gateway,
 * a proxy or a captive portal must never be read as the vendor's answer.
 */
export function requireMediaType(
  response: VendorResponse,
  accepted: { pattern: RegExp; name: string },
  vendor: string,
): void {
  const mediaType = mediaTypeOf(response);
  if (accepted.pattern.test(mediaType)) return;
  throw new VendorError(
    vendor,
    'ERR_VENDOR_CONTENT_TYPE',
    `${vendor} answered HTTP ${response.status} as "${mediaType.slice(0, 100) || 'no content type'}", not ${accepted.name}: refused.`,
    { vendorStatus: response.status },
  );
}

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'UND_ERR_CONNECT_TIMEOUT', 'ENOTFOUND', 'EAI_AGAIN']);

/** One keep-alive undici pool per vendor origin, with a deadline and a response-size cap. */
export class VendorHttp {
  readonly origin: string;
  private readonly pool: Pool;
  private readonly options: VendorHttpOptions;

  constructor(baseUrl: string, options: VendorHttpOptions) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch {
      throw new ConfigurationError(`${options.vendor}: the base URL "${baseUrl}" is not a valid URL.`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new ConfigurationError(`${options.vendor}: the base URL must be http(s), got ${url.protocol}`);
    }
    this.origin = url.origin;
    this.options = options;
    this.pool = new Pool(url.origin, {
      connections: options.connections ?? 8,
      connect: { timeout: Math.min(options.timeoutMs, 10_000) },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      keepAliveTimeout: 30_000,
    });
  }

  async request(req: VendorRequest): Promise<VendorResponse> {
    try {
      return await this.once(req);
    } catch (err) {
      if (req.retryIfNotSent && notSent(err))
        return await this.once(req).catch((retryErr) => this.fail(retryErr));
      return this.fail(err);
    }
  }

  /** Closes the pool's sockets. */
  async close(): Promise<void> {
    await this.pool.close();
  }

  private async once(req: VendorRequest): Promise<VendorResponse> {
    const response = await this.pool.request({
      method: req.method,
      path: req.path,
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(this.options.timeoutMs),
    });
    const body = await readCapped(response, this.options.maxResponseBytes, this.options.vendor);
    return { status: response.statusCode, headers: response.headers, body };
  }

  private fail(err: unknown): never {
    const vendor = this.options.vendor;
    if (err instanceof VendorError) throw err;
    if (notSent(err)) {
      throw new VendorError(
        vendor,
        'ERR_VENDOR_UNREACHABLE',
        `${vendor} could not be reached at ${this.origin}.`,
        {
          cause: err,
        },
      );
    }
    if (isTimeout(err)) {
      throw new VendorError(
        vendor,
        'ERR_VENDOR_TIMEOUT',
        `${vendor} did not answer within ${this.options.timeoutMs} ms.`,
        {
          status: 504,
          cause: err,
        },
      );
    }
    throw new VendorError(
      vendor,
      'ERR_VENDOR_CONNECTION',
      `The connection to ${vendor} failed mid-request.`,
      {
        cause: err,
      },
    );
  }
}

async function readCapped(
  response: Dispatcher.ResponseData,
  maxBytes: number,
  vendor: string,
): Promise<Buffer> {
  const declared = Number(response.headers['content-length']);
  const tooLarge = () =>
    new VendorError(
      vendor,
      'ERR_VENDOR_RESPONSE_TOO_LARGE',
      `${vendor} answered more than ${maxBytes} bytes.`,
    );
  if (Number.isFinite(declared) && declared > maxBytes) {
    response.body.destroy();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      response.body.destroy();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, size);
}

function errorCode(err: unknown): string | undefined {
  const { code, cause } = (err ?? {}) as { code?: unknown; cause?: { code?: unknown } };
  if (typeof code === 'string') return code;
  return typeof cause?.code === 'string' ? cause.code : undefined;
}

function notSent(err: unknown): boolean {
  return err instanceof undiciErrors.ConnectTimeoutError || NOT_SENT_CODES.has(errorCode(err) ?? '');
}

function isTimeout(err: unknown): boolean {
  return (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))
  );
}

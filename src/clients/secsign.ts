import { ConfigurationError, VendorError } from '../errors.js';
import { positiveIntegerOption, stringOption } from '../internal/options.js';
import { isSecSignState, type SecSignState } from '../core/secsign.js';
import { VendorHttp } from './http.js';

const OWNER = 'SecSignClient';
const VENDOR = 'SecSign';

export interface SecSignClientOptions {
  /**
   * SecSign ID servers, tried in order (default `['https://httpapi.secsign.com',
   * 'https://httpapi2.secsign.com']`, the vendor's own primary and fallback).
   */
  serverUrls?: string[];
  /** Whole-request deadline per server, in ms (default 15000, as the vendor's libraries use). */
  timeoutMs?: number;
  /** Largest response read, in bytes (default 262144: the access pass image is in it). */
  maxResponseBytes?: number;
  /** Sent as `apimethod`, the name of the calling library (default `'passport-factors'`). */
  apiMethod?: string;
}

/** Identifies an auth session at SecSign. Keep it server-side: whoever holds it can poll or cancel it. */
export interface SecSignSessionRef {
  secsignId: string;
  authSessionId: string;
  requestId: string;
}

export interface SecSignAuthSession extends SecSignSessionRef {
  serviceName: string;
  serviceAddress: string;
  /** The access pass to show the user: a `data:image/png;base64,…` URL. */
  accessPass: string;
}

export interface RequestAuthSessionInput {
  secsignId: string;
  /** Shown on the user's phone. */
  serviceName: string;
  /** URL or IP of the site. */
  serviceAddress: string;
  pluginName?: string;
  showAccessPass?: boolean;
}

/** SecSign answered `error=<code>&errormsg=<text>`: a refusal, not a transport fault. */
export class SecSignError extends VendorError {
  /** The vendor's numeric error code, as sent. */
  readonly secsignCode: string;
  /** The vendor's error text, as sent. */
  readonly secsignMessage: string;

  constructor(secsignCode: string, secsignMessage: string) {
    super(
      VENDOR,
      'ERR_SECSIGN_REFUSED',
      `SecSign refused the request (error ${secsignCode}): ${secsignMessage || 'no message'}.`,
    );
    this.secsignCode = secsignCode;
    this.secsignMessage = secsignMessage;
  }
}

/**
 * Parses SecSign's `key=value&key=value` answer as the vendor's libraries do: split on `&`, then
 * at the FIRST `=` of each pair, key and value trimmed, no url-decoding (base64 padding `=`
 * survives). Stricter than they are in one way, on purpose: every pair must be `word=…`, so a
 * gateway's HTML page is refused by its shape whatever its Content-Type.
 */
export function parseSecSignResponse(body: string): Record<string, string> {
  const fields: Record<string, string> = Object.create(null);
  for (const pair of body.trim().split('&')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    const key = at < 0 ? '' : pair.slice(0, at).trim();
    if (!FIELD_NAME.test(key)) throw badResponse('a field that is not "key=value"');
    fields[key] = pair.slice(at + 1).trim();
  }
  return fields;
}

type FallbackPolicy = 'when-not-sent' | 'on-any-fault';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
const MAX_SECSIGN_ID_LENGTH = 255;

/** SecSign ID's HTTP API: the four requests of an auth session, over keep-alive pools. */
export class SecSignClient {
  private readonly servers: Array<{ http: VendorHttp; path: string }>;
  private readonly apiMethod: string;

  constructor(options: SecSignClientOptions = {}) {
    const urls = options.serverUrls ?? ['https://httpapi.secsign.com', 'https://httpapi2.secsign.com'];
    if (!Array.isArray(urls) || urls.length === 0) {
      throw new ConfigurationError(`${OWNER}: \`serverUrls\` must list at least one server.`);
    }
    const timeoutMs = positiveIntegerOption(options.timeoutMs, 15_000, 'timeoutMs', OWNER);
    const maxResponseBytes = positiveIntegerOption(
      options.maxResponseBytes,
      262_144,
      'maxResponseBytes',
      OWNER,
    );
    this.servers = urls.map((url) => {
      const http = new VendorHttp(url, { vendor: VENDOR, timeoutMs, maxResponseBytes });
      return { http, path: new URL(url).pathname.replace(/\/*$/, '/') };
    });
    this.apiMethod = stringOption(options.apiMethod, 'passport-factors', 'apiMethod', OWNER);
  }

  /** `ReqRequestAuthSession`: pushes a login request to the SecSign ID's phone. */
  async requestAuthSession(input: RequestAuthSessionInput): Promise<SecSignAuthSession> {
    const secsignId = normalizeSecSignId(input.secsignId);
    const params: Record<string, string> = {
      secsignid: secsignId,
      servicename: input.serviceName,
      serviceaddress: input.serviceAddress,
    };
    if (input.pluginName !== undefined) params.pluginname = input.pluginName;
    if (input.showAccessPass !== undefined) params.showaccesspass = String(input.showAccessPass);
    // Not repeated on the fallback once the primary may have processed it: the phone would get two pushes.
    const fields = await this.call('ReqRequestAuthSession', params, 'when-not-sent');
    // Required: what every vendor library reads (docs/protocols.md). The PHP API also requires the
    // echoed secsignid, servicename and serviceaddress; we know them already, so their absence is
    // tolerated, and an echoed SecSign ID that names someone else is refused.
    const { authsessionid, requestid, authsessionicondata } = fields;
    if (!authsessionid || !requestid || !authsessionicondata || !BASE64.test(authsessionicondata)) {
      throw badResponse('no auth session id, request id or access pass image');
    }
    if (fields.secsignid !== undefined && fields.secsignid.toLowerCase() !== secsignId)
      throw sessionMismatch();
    return {
      secsignId,
      authSessionId: authsessionid,
      requestId: requestid,
      serviceName: input.serviceName,
      serviceAddress: input.serviceAddress,
      accessPass: `data:image/png;base64,${authsessionicondata}`,
    };
  }

  /** `ReqGetAuthSessionState`. An unknown state number is an error, never "pending". */
  async getAuthSessionState(session: SecSignSessionRef): Promise<SecSignState> {
    // A read: safe to ask the fallback whatever happened on the primary.
    const fields = await this.call('ReqGetAuthSessionState', sessionParams(session), 'on-any-fault');
    requireSameSession(fields, session);
    const { authsessionstate } = fields;
    // The one field every vendor library reads from a state answer; without it the answer decides nothing.
    if (authsessionstate === undefined) throw badResponse('no authsessionstate');
    const state = Number(authsessionstate);
    if (!/^\d+$/.test(authsessionstate) || !isSecSignState(state)) {
      throw new VendorError(
        VENDOR,
        'ERR_SECSIGN_UNKNOWN_STATE',
        `SecSign answered an unknown session state "${String(authsessionstate).slice(0, 20)}".`,
      );
    }
    return state;
  }

  /** `ReqCancelAuthSession`. Cancelling twice is harmless, so the fallback may repeat it. */
  async cancelAuthSession(session: SecSignSessionRef): Promise<void> {
    requireSameSession(
      await this.call('ReqCancelAuthSession', sessionParams(session), 'on-any-fault'),
      session,
    );
  }

  /** `ReqReleaseAuthSession`: frees the session at the vendor after use. Idempotent like cancel. */
  async releaseAuthSession(session: SecSignSessionRef): Promise<void> {
    requireSameSession(
      await this.call('ReqReleaseAuthSession', sessionParams(session), 'on-any-fault'),
      session,
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((server) => server.http.close()));
  }

  private async call(
    request: string,
    params: Record<string, string>,
    fallback: FallbackPolicy,
  ): Promise<Record<string, string>> {
    // Field order as the vendor's PHP API (1.47) builds it: apimethod, the session's ids, request.
    const body = new URLSearchParams(
      request === 'ReqRequestAuthSession'
        ? { apimethod: this.apiMethod, request, ...params }
        : { apimethod: this.apiMethod, ...params, request },
    ).toString();
    let lastError: unknown;
    for (const server of this.servers) {
      try {
        const response = await server.http.request({
          method: 'POST',
          path: server.path,
          headers: {
            // As both vendor libraries send it: no charset parameter (the body is ASCII after url-encoding).
            'content-type': 'application/x-www-form-urlencoded',
            // The byte length, not the string length as the vendor's Node library sends.
            'content-length': String(Buffer.byteLength(body)),
          },
          body,
        });
        if (response.status !== 200) {
          throw new VendorError(
            VENDOR,
            response.status >= 500 ? 'ERR_SECSIGN_SERVER' : 'ERR_SECSIGN_HTTP_STATUS',
            `SecSign answered HTTP ${response.status}.`,
            {
              vendorStatus: response.status,
            },
          );
        }
        // No Content-Type check: no SecSign library reads the header; the body's
        // shape is what refuses a gateway's page.
        const fields = parseSecSignResponse(response.body.toString('utf8'));
        if (fields.error !== undefined) throw new SecSignError(fields.error, fields.errormsg ?? '');
        return fields;
      } catch (err) {
        lastError = err;
        if (!mayFallBack(err, fallback)) throw err;
      }
    }
    throw lastError;
  }
}

/**
 * Whether a failed request may go to the next server. SecSign's own answer (`error=…`) is final.
 * A request that never left (connection refused) or that the server refused to take on (503
 * Service Unavailable) goes on for every request type; any other fault (timeout, dropped
 * connection, other 5xx, garbage) may follow processing, so only idempotent requests go on.
 */
function mayFallBack(err: unknown, policy: FallbackPolicy): boolean {
  if (!(err instanceof VendorError) || err instanceof SecSignError) return false;
  if (err.code === 'ERR_VENDOR_UNREACHABLE' || err.vendorStatus === 503) return true;
  return policy === 'on-any-fault';
}

function sessionParams(session: SecSignSessionRef): Record<string, string> {
  return {
    secsignid: normalizeSecSignId(session.secsignId),
    authsessionid: session.authSessionId,
    requestid: session.requestId,
  };
}

/**
 * No vendor source says whether SecSign echoes the session's ids in a state, cancel or release
 * answer, and no vendor library reads them: their absence is tolerated, but an
 * answer that names a different session is refused.
 */
function requireSameSession(fields: Record<string, string>, session: SecSignSessionRef): void {
  const { authsessionid, requestid, secsignid } = fields;
  if (
    (authsessionid !== undefined && authsessionid !== session.authSessionId) ||
    (requestid !== undefined && requestid !== session.requestId) ||
    (secsignid !== undefined && secsignid.toLowerCase() !== normalizeSecSignId(session.secsignId))
  ) {
    throw sessionMismatch();
  }
}

function sessionMismatch(): VendorError {
  return new VendorError(
    VENDOR,
    'ERR_SECSIGN_SESSION_MISMATCH',
    'SecSign answered for another auth session or SecSign ID: refused.',
  );
}

/** Trimmed and lower-cased, as every vendor library sends it. Throws `TypeError` for an unusable id. */
export function normalizeSecSignId(input: unknown): string {
  const id = typeof input === 'string' ? input.trim().toLowerCase() : '';
  // SecSign echoes the ID unencoded in its `key=value&…` answer: an "&" there would break the answer.
  // eslint-disable-next-line no-control-regex
  if (id === '' || id.length > MAX_SECSIGN_ID_LENGTH || /[\u0000-\u001f\u007f&]/.test(id)) {
    throw new TypeError(
      'A SecSign ID must be a non-empty string of at most 255 characters without control characters or "&".',
    );
  }
  return id;
}

function badResponse(what: string): VendorError {
  return new VendorError(
    VENDOR,
    'ERR_SECSIGN_BAD_RESPONSE',
    `SecSign answered something unreadable: ${what}.`,
  );
}

import { createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { SignJWT, type JWK } from 'jose';
import { AuthenticationFailure, ConfigurationError, VendorError } from '../errors.js';
import { positiveIntegerOption, stringOption } from '../internal/options.js';
import { JSON_MEDIA_TYPE, requireMediaType, VendorHttp, type VendorResponse } from './http.js';

const OWNER = 'XignInClient';
const VENDOR = 'XignIn';

export type TokenEndpointAuthMethod = 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt';

/** The endpoints used; each may be given to override discovery. */
export interface XignInEndpoints {
  authorization: string;
  token: string;
  jwks: string;
  userinfo?: string;
  push?: string;
  pushStatus?: string;
}

export interface XignInClientOptions {
  /** The XignIn Manager URL; it is the issuer, and discovery's `issuer` must equal it exactly. */
  managerUrl: string;
  /** Our client id at XignIn. Required. */
  clientId: string;
  /** Required for `client_secret_basic`, `client_secret_post` and push login. */
  clientSecret?: string;
  /** Default `'client_secret_basic'`. */
  tokenEndpointAuthMethod?: TokenEndpointAuthMethod;
  /** For `private_key_jwt`: the key the client assertion is signed with (required with that method, default none). */
  clientAssertionKey?: {
    key: KeyObject | string | JWK;
    alg: 'ES256' | 'RS256' | 'PS256' | 'EdDSA';
    kid?: string;
  };
  /** Endpoint overrides (default: from discovery). */
  endpoints?: Partial<XignInEndpoints>;
  /** Per-request deadline in ms (default 10000). */
  timeoutMs?: number;
  /** Largest response read, in bytes (default 262144). */
  maxResponseBytes?: number;
}

export interface TokenResponse {
  idToken: string;
  accessToken: string | undefined;
}

export type PushStatus =
  | { state: 'pending' }
  | { state: 'authenticated'; idToken: string }
  | { state: 'denied' }
  | { state: 'expired' };

/** XignIn Manager's HTTP API as a relying party sees it: discovery, token, userinfo, push. */
export class XignInClient {
  readonly managerUrl: string;
  readonly clientId: string;
  private readonly clientSecret: string | undefined;
  private readonly authMethod: TokenEndpointAuthMethod;
  private readonly assertionKey: { key: KeyObject; alg: string; kid?: string } | undefined;
  private readonly overrides: Partial<XignInEndpoints>;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly pools = new Map<string, VendorHttp>();
  private discovery: Promise<XignInEndpoints> | undefined;
  private announcedAcrValues: string[] | undefined;

  constructor(options: XignInClientOptions) {
    this.managerUrl = stringOption(options.managerUrl, '', 'managerUrl', OWNER);
    this.clientId = stringOption(options.clientId, '', 'clientId', OWNER);
    this.clientSecret = options.clientSecret;
    this.authMethod = options.tokenEndpointAuthMethod ?? 'client_secret_basic';
    if (!['client_secret_basic', 'client_secret_post', 'private_key_jwt'].includes(this.authMethod)) {
      throw new ConfigurationError(
        `${OWNER}: \`tokenEndpointAuthMethod\` must be client_secret_basic, client_secret_post or private_key_jwt.`,
      );
    }
    if (this.authMethod !== 'private_key_jwt' && !this.clientSecret) {
      throw new ConfigurationError(`${OWNER}: \`clientSecret\` is required for ${this.authMethod}.`);
    }
    if (this.authMethod === 'private_key_jwt') {
      const input = options.clientAssertionKey;
      if (!input) throw new ConfigurationError(`${OWNER}: private_key_jwt needs \`clientAssertionKey\`.`);
      try {
        const key =
          typeof input.key === 'object' && 'asymmetricKeyType' in input.key
            ? (input.key as KeyObject)
            : createPrivateKey(
                typeof input.key === 'string'
                  ? input.key
                  : { key: input.key as JWK & Record<string, unknown>, format: 'jwk' },
              );
        this.assertionKey = { key, alg: input.alg, ...(input.kid ? { kid: input.kid } : {}) };
      } catch {
        throw new ConfigurationError(`${OWNER}: \`clientAssertionKey.key\` is not a private key.`);
      }
    }
    this.overrides = options.endpoints ?? {};
    this.timeoutMs = positiveIntegerOption(options.timeoutMs, 10_000, 'timeoutMs', OWNER);
    this.maxResponseBytes = positiveIntegerOption(
      options.maxResponseBytes,
      262_144,
      'maxResponseBytes',
      OWNER,
    );
    this.http(this.managerUrl); // validates the URL now
  }

  /**
   * The endpoints: discovery (`/.well-known/openid-configuration`, cached once it succeeded) with
   * the overrides on top. A discovery document whose `issuer` is not exactly `managerUrl` is refused.
   */
  async endpoints(): Promise<XignInEndpoints> {
    const { authorization, token, jwks } = this.overrides;
    if (authorization && token && jwks) return { authorization, token, jwks, ...this.overrides };
    this.discovery ??= this.discover().catch((err: unknown) => {
      this.discovery = undefined; // a failed discovery is tried again on the next request
      throw err;
    });
    return { ...(await this.discovery), ...stripUndefined(this.overrides) };
  }

  /**
   * The authentication context classes discovery announces (`acr_values_supported`), or
   * `undefined` when it announces none or every endpoint is overridden (discovery is not read).
   */
  async acrValuesSupported(): Promise<string[] | undefined> {
    await this.endpoints();
    return this.announcedAcrValues;
  }

  /** Redeems an authorization code (RFC 6749 §4.1.3 / OIDC Core §3.1.3.1). */
  async redeemCode(input: {
    code: string;
    redirectUri: string;
    codeVerifier?: string;
  }): Promise<TokenResponse> {
    const { token } = await this.endpoints();
    const form: Record<string, string> = {
      grant_type: 'authorization_code',
      code: input.code,
      redirect_uri: input.redirectUri,
    };
    if (input.codeVerifier !== undefined) form.code_verifier = input.codeVerifier;
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (this.authMethod === 'client_secret_basic') {
      // RFC 6749 §2.3.1: id and secret are form-urlencoded BEFORE base64.
      const encode = (value: string) => new URLSearchParams({ v: value }).toString().slice(2);
      headers.authorization = `Basic ${Buffer.from(`${encode(this.clientId)}:${encode(this.clientSecret!)}`).toString('base64')}`;
    } else if (this.authMethod === 'client_secret_post') {
      form.client_id = this.clientId;
      form.client_secret = this.clientSecret!;
    } else {
      form.client_id = this.clientId;
      form.client_assertion_type = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
      form.client_assertion = await this.clientAssertion(token);
    }
    const response = await this.send(token, 'POST', headers, new URLSearchParams(form).toString());
    const body = json(response);
    if (response.status === 400 && body?.error === 'invalid_grant') {
      throw new AuthenticationFailure(
        'invalid_code',
        'XignIn refused the authorization code (expired, used, or not ours). Log in again.',
        401,
      );
    }
    if (response.status === 401 || body?.error === 'invalid_client') {
      throw new VendorError(
        VENDOR,
        'ERR_XIGNIN_INVALID_CLIENT',
        'XignIn refused our client authentication: check clientId, clientSecret or the assertion key.',
        {
          vendorStatus: response.status,
        },
      );
    }
    if (response.status !== 200 || typeof body?.id_token !== 'string') {
      throw new VendorError(
        VENDOR,
        response.status >= 500 ? 'ERR_XIGNIN_SERVER' : 'ERR_XIGNIN_TOKEN',
        `XignIn's token endpoint answered ${response.status} without an id_token.`,
        {
          vendorStatus: response.status,
        },
      );
    }
    return {
      idToken: body.id_token,
      accessToken: typeof body.access_token === 'string' ? body.access_token : undefined,
    };
  }

  /** The userinfo endpoint with the access token. */
  async userinfo(accessToken: string): Promise<Record<string, unknown>> {
    const { userinfo } = await this.endpoints();
    if (!userinfo)
      throw new VendorError(VENDOR, 'ERR_XIGNIN_NO_USERINFO', 'XignIn announced no userinfo endpoint.');
    const response = await this.send(userinfo, 'GET', {
      authorization: `Bearer ${accessToken}`,
      accept: 'application/json',
    });
    const body = json(response);
    if (response.status !== 200 || !body) {
      throw new VendorError(
        VENDOR,
        'ERR_XIGNIN_USERINFO',
        `XignIn's userinfo endpoint answered ${response.status}.`,
        { vendorStatus: response.status },
      );
    }
    return body;
  }

  /**
   * Starts a push login (the newer API). The Bearer JWT is HS256 over the client secret, with our
   * client id as `iss` and the manager as `aud`: the docs ask for "a Bearer JWT" without more.
   */
  async startPush(input: {
    type: 'EMAIL' | 'SUB';
    identifier: string;
  }): Promise<{ loginSessionId: string; token: string }> {
    const { push } = await this.endpoints();
    if (!push) throw new VendorError(VENDOR, 'ERR_XIGNIN_NO_PUSH', 'XignIn announced no push endpoint.');
    if (!this.clientSecret) throw new ConfigurationError(`${OWNER}: push login needs \`clientSecret\`.`);
    const bearer = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(this.clientId)
      .setAudience(this.managerUrl)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(randomBytes(12).toString('base64url'))
      .sign(new TextEncoder().encode(this.clientSecret));
    const response = await this.send(
      push,
      'POST',
      { authorization: `Bearer ${bearer}`, 'content-type': 'application/json', accept: 'application/json' },
      JSON.stringify({ type: input.type, identifier: input.identifier, clientId: this.clientId }),
    );
    const body = json(response, { pushApi: true });
    if (
      response.status !== 200 ||
      typeof body?.loginSessionId !== 'string' ||
      typeof body.token !== 'string'
    ) {
      throw new VendorError(
        VENDOR,
        'ERR_XIGNIN_PUSH',
        `XignIn's push endpoint answered ${response.status}.`,
        { vendorStatus: response.status },
      );
    }
    return { loginSessionId: body.loginSessionId, token: body.token };
  }

  /** Polls a push login; the outcome is carried by the HTTP status. */
  async pushStatus(session: { loginSessionId: string; token: string }): Promise<PushStatus> {
    const { pushStatus } = await this.endpoints();
    if (!pushStatus)
      throw new VendorError(VENDOR, 'ERR_XIGNIN_NO_PUSH', 'XignIn announced no push status endpoint.');
    const response = await this.send(
      pushStatus,
      'POST',
      { 'content-type': 'application/json', accept: 'application/json' },
      JSON.stringify(session),
    );
    const body = json(response, { pushApi: true });
    switch (response.status) {
      case 202:
        return { state: 'pending' };
      case 200: {
        const idToken = (body?.result as { id_token?: unknown } | undefined)?.id_token;
        if (typeof idToken !== 'string')
          throw new VendorError(
            VENDOR,
            'ERR_XIGNIN_PUSH',
            'XignIn finished a push login without an id_token.',
          );
        return { state: 'authenticated', idToken };
      }
      case 403:
        return { state: 'denied' };
      case 404:
      case 410:
        return { state: 'expired' };
      default:
        throw new VendorError(
          VENDOR,
          'ERR_XIGNIN_PUSH',
          `XignIn's push status answered ${response.status}.`,
          { vendorStatus: response.status },
        );
    }
  }

  /** A fetch for jose's `createRemoteJWKSet`, over the same capped keep-alive pools. */
  readonly jwksFetch = async (url: string): Promise<Response> => {
    const response = await this.send(url, 'GET', { accept: 'application/json' });
    // A JWKS that cannot be had is XignIn's fault, not a bad id_token: say so before jose reads it.
    if (response.status !== 200) {
      throw new VendorError(VENDOR, 'ERR_XIGNIN_JWKS', `XignIn's JWKS answered ${response.status}.`, {
        vendorStatus: response.status,
      });
    }
    if (!Array.isArray(json(response)?.keys)) {
      throw new VendorError(VENDOR, 'ERR_VENDOR_BAD_RESPONSE', "XignIn's JWKS is not a JSON key set.", {
        vendorStatus: response.status,
      });
    }
    return new Response(new Uint8Array(response.body), {
      status: response.status,
      headers: { 'content-type': 'application/json' },
    });
  };

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((pool) => pool.close()));
  }

  private async discover(): Promise<XignInEndpoints> {
    const base = this.managerUrl.replace(/\/+$/, '');
    const url = `${base}/.well-known/openid-configuration`;
    const response = await this.send(url, 'GET', { accept: 'application/json' });
    const doc = json(response);
    if (response.status !== 200 || !doc) {
      throw new VendorError(VENDOR, 'ERR_XIGNIN_DISCOVERY', `XignIn discovery answered ${response.status}.`, {
        vendorStatus: response.status,
      });
    }
    if (doc.issuer !== this.managerUrl) {
      throw new VendorError(
        VENDOR,
        'ERR_XIGNIN_ISSUER_MISMATCH',
        `XignIn discovery names the issuer "${String(doc.issuer).slice(0, 200)}", not "${this.managerUrl}": the configuration is refused.`,
      );
    }
    const endpoint = (name: string) => (typeof doc[name] === 'string' ? (doc[name] as string) : undefined);
    const acr = doc.acr_values_supported;
    this.announcedAcrValues =
      Array.isArray(acr) && acr.every((value) => typeof value === 'string' && value !== '')
        ? (acr as string[])
        : undefined;
    const authorization = endpoint('authorization_endpoint');
    const token = endpoint('token_endpoint');
    const jwks = endpoint('jwks_uri');
    if (!authorization || !token || !jwks) {
      throw new VendorError(
        VENDOR,
        'ERR_XIGNIN_DISCOVERY',
        'XignIn discovery lacks the authorization, token or jwks endpoint.',
      );
    }
    return {
      authorization,
      token,
      jwks,
      ...stripUndefined({
        userinfo: endpoint('userinfo_endpoint'),
        // No source names discovery keys for the push API: announced ones are used, else the
        // documented paths on the manager URL.
        push: endpoint('push_authentication_endpoint') ?? `${base}/api/push/authenticate`,
        pushStatus: endpoint('push_status_endpoint') ?? `${base}/api/push/authenticate/status`,
      }),
    };
  }

  private async clientAssertion(audience: string): Promise<string> {
    const { key, alg, kid } = this.assertionKey!;
    return new SignJWT({})
      .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
      .setIssuer(this.clientId)
      .setSubject(this.clientId)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key);
  }

  private http(url: string): VendorHttp {
    const origin = new URL(url).origin;
    let pool = this.pools.get(origin);
    if (!pool) {
      pool = new VendorHttp(url, {
        vendor: VENDOR,
        timeoutMs: this.timeoutMs,
        maxResponseBytes: this.maxResponseBytes,
      });
      this.pools.set(origin, pool);
    }
    return pool;
  }

  private async send(
    url: string,
    method: 'GET' | 'POST',
    headers: Record<string, string>,
    body?: string,
  ): Promise<VendorResponse> {
    const target = new URL(url);
    return this.http(url).request({
      method,
      path: `${target.pathname}${target.search}`,
      headers,
      ...(body === undefined ? {} : { body }),
    });
  }
}

/**
 * The JSON object of an answer, or undefined when it has none. A 2xx OpenID answer that is not
 * labelled JSON is refused outright: OIDC Discovery §4.2, RFC 6749 §5.1 and OIDC Core §5.3.2 say
 * `application/json`, and openid-client checks it too. The push API's docs name no content type,
 * so there only the body's shape counts.
 */
function json(
  response: VendorResponse,
  { pushApi = false }: { pushApi?: boolean } = {},
): Record<string, unknown> | undefined {
  if (!pushApi && response.status >= 200 && response.status < 300)
    requireMediaType(response, JSON_MEDIA_TYPE, VENDOR);
  try {
    const parsed: unknown = JSON.parse(response.body.toString('utf8'));
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

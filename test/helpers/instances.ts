import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../src/sandbox/index.js';
import { closedPort } from './ports.js';
import { REDIS_URL, redisOrSkip } from './redis.js';

const SERVER = fileURLToPath(new URL('../../example-app/server.js', import.meta.url));

export interface Instance {
  name: string;
  url: string;
  process: ChildProcess;
  /** Everything it printed, for a failing test's message. */
  output: () => string;
  stop(): Promise<void>;
}

/**
 * The environment that makes example-app instances share one Redis and one sandbox (as real
 * vendors would be configured): the same secrets, the same vendor credentials and URLs.
 */
export function sharedEnvironment(sandbox: Sandbox, redisUrl: string, publicUrl: string): NodeJS.ProcessEnv {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const clientId = `multi-${randomUUID()}`;
  const clientSecret = randomBytes(24).toString('base64url');
  sandbox.xignin.registerClient({
    clientId,
    clientSecret,
    redirectUris: [`${publicUrl}/xignin/callback`],
    idTokenEncryptedResponseAlg: 'ECDH-ES+A256KW',
    jwks: [{ ...publicKey.export({ format: 'jwk' }), kid: 'multi-enc', use: 'enc' }],
  });
  const secret = () => randomBytes(32).toString('hex');
  const lastwall = sandbox.lastwall.credentials;
  return {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: `pf-multi-${randomUUID()}:`,
    SESSION_SECRET: secret(),
    X_TOKEN_SECRET: secret(),
    OTP_SECRET: secret(),
    PUBLIC_URL: publicUrl,
    HOST: '127.0.0.1',
    SIPGATE_TOKEN_ID: sandbox.sipgate.credentials.tokenId,
    SIPGATE_TOKEN: sandbox.sipgate.credentials.token,
    SIPGATE_BASE_URL: sandbox.sipgate.credentials.baseUrl,
    SECSIGN_SERVER_URLS: sandbox.secsign.serverUrls.join(','),
    XIGNIN_MANAGER_URL: sandbox.xignin.issuer,
    XIGNIN_CLIENT_ID: clientId,
    XIGNIN_CLIENT_SECRET: clientSecret,
    XIGNIN_DECRYPTION_KEY: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    LASTWALL_TOKEN: lastwall.token,
    LASTWALL_SECRET: lastwall.secret,
    LASTWALL_BASE_URL: lastwall.baseUrl,
  };
}

/** Starts `node example-app/server.js` as its own process on `port`, and waits until it listens. */
export async function startInstance(name: string, port: number, env: NodeJS.ProcessEnv): Promise<Instance> {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, ...env, PORT: String(port), NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 20_000;
  while (!output.includes('example app: http://')) {
    if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not start within 20 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    name,
    url: `http://127.0.0.1:${port}`,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export const freePort = closedPort;

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
}

/**
 * One browser: a cookie jar (cookies are per host, not per port, so one session cookie reaches
 * every instance on 127.0.0.1) and requests to whichever instance the test names.
 */
export class Browser {
  private cookie = '';
  constructor(private readonly dispatcher: Agent) {}

  async send(
    instance: Instance,
    method: 'GET' | 'POST',
    path: string,
    options: { json?: unknown; headers?: Record<string, string> } = {},
  ): Promise<Answer> {
    const headers: Record<string, string> = { ...options.headers };
    if (this.cookie) headers.cookie = this.cookie;
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    const response = await request(`${instance.url}${path}`, {
      method,
      headers,
      body: options.json === undefined ? undefined : JSON.stringify(options.json),
      dispatcher: this.dispatcher,
    });
    const setCookie = response.headers['set-cookie'];
    const first = Array.isArray(setCookie) ? setCookie[0] : setCookie;
    if (first) this.cookie = first.split(';')[0]!;
    const text = await response.body.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Not JSON: keep the text.
    }
    return { status: response.statusCode, headers: response.headers, body, text };
  }
}

/** What `twoInstancesBehindOneRedis()` hands a suite once its `before` hook ran. */
export interface TwoInstances {
  sandbox: Sandbox;
  a: Instance;
  b: Instance;
  /** A new browser (its own cookie jar) talking to either instance. */
  browser(): Browser;
}

/** Where the instances' Redis is, when it is not the standalone test Redis at REDIS_URL. */
export interface RedisBackend {
  /** The example app's environment for it (REDIS_CLUSTER, REDIS_SENTINELS, maybe REDIS_PREFIX). */
  environment(ctx: Mocha.Context): Promise<NodeJS.ProcessEnv>;
  /** Removes what the instances wrote under `prefix`. */
  cleanup(prefix: string): Promise<void>;
}

/**
 * Registers the suite's hooks: one sandbox, two example-app processes sharing one Redis (skipped
 * with a message on a laptop without Redis, required under CI=true), each instance's output
 * printed when a test fails, and every key the instances wrote removed afterwards. `backend`
 * puts them on another Redis (a cluster, Sentinel) instead of the standalone one.
 */
export function twoInstancesBehindOneRedis(
  sandboxOptions: SandboxOptions = {},
  backend?: RedisBackend,
): TwoInstances {
  const env = {} as TwoInstances;
  let dispatcher: Agent | undefined;
  let prefix = '';
  before(async function () {
    let redisEnv: NodeJS.ProcessEnv = {};
    if (backend) redisEnv = await backend.environment(this);
    else await (await redisOrSkip(this)).quit();
    env.sandbox = await startSandbox(sandboxOptions);
    const [portA, portB] = [await freePort(), await freePort()];
    // XignIn knows one redirect URI; the callback may still land on either instance.
    const shared = {
      ...sharedEnvironment(env.sandbox, REDIS_URL, `http://127.0.0.1:${portA}`),
      ...redisEnv,
    };
    prefix = shared.REDIS_PREFIX!;
    [env.a, env.b] = await Promise.all([
      startInstance('A', portA, shared),
      startInstance('B', portB, shared),
    ]);
    const agent = new Agent({ connections: 256 });
    dispatcher = agent;
    env.browser = () => new Browser(agent);
  });
  after(async function () {
    await Promise.all([env.a?.stop(), env.b?.stop()]);
    await dispatcher?.close();
    await env.sandbox?.close();
    // Leave nothing behind in the shared Redis.
    if (prefix && backend) await backend.cleanup(prefix);
    else if (prefix) {
      const redis = await redisOrSkip(this);
      for await (const keys of redis.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 }))
        if (keys.length > 0) await redis.del(keys);
      await redis.quit();
    }
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      process.stdout.write(`--- instance A:\n${env.a?.output()}\n--- instance B:\n${env.b?.output()}\n`);
    }
  });
  return env;
}

// `npm start`: the example app on the built-in sandbox, on http://localhost:3000 (PORT to change),
// listening on 127.0.0.1 only (HOST to change). Under NODE_ENV=production it refuses to start
// the sandbox: every vendor must then be configured for real (see README).
//
// REDIS_URL puts the sessions (connect-redis) and the strategies' state (RedisStore) on Redis, so
// several instances behind one load balancer share logins, codes and limits. Those instances must
// also share SESSION_SECRET, X_TOKEN_SECRET and OTP_SECRET (each at least 32 characters).
import { RedisStore as RedisSessionStore } from 'connect-redis';
import { ConfigurationError, RedisStore } from 'passport-factors';
import { startSandbox } from 'passport-factors/sandbox';
import { createClient } from 'redis';
import { createExampleApp } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const publicUrl = process.env.PUBLIC_URL ?? `http://localhost:${port}`;
const env = process.env;
// The sandbox is started only for a vendor the environment does not configure.
const allVendorsConfigured =
  Boolean(env.SIPGATE_TOKEN_ID && env.SIPGATE_TOKEN) &&
  Boolean(env.SECSIGN_SERVER_URLS || env.SECSIGN_USE_VENDOR === '1') &&
  Boolean(env.XIGNIN_MANAGER_URL && env.XIGNIN_CLIENT_ID && env.XIGNIN_CLIENT_SECRET) &&
  Boolean(env.LASTWALL_TOKEN && env.LASTWALL_SECRET);
let sandbox;
if (!allVendorsConfigured) {
  try {
    sandbox = await startSandbox({ port: Number(env.SANDBOX_PORT ?? 0) });
  } catch (err) {
    if (!(err instanceof ConfigurationError)) throw err;
    console.error(
      `${err.message}\nThe example app needs a vendor sandbox for every vendor without credentials in the environment.`,
    );
    process.exit(1);
  }
}

let redis;
const shared = {};
if (process.env.REDIS_URL) {
  redis = createClient({ url: process.env.REDIS_URL });
  redis.on('error', (err) => console.error(`Redis: ${err.message}`));
  await redis.connect();
  const prefix = process.env.REDIS_PREFIX ?? 'pf-demo:';
  shared.store = new RedisStore({ client: redis, prefix: `${prefix}state:` });
  shared.sessionStore = new RedisSessionStore({ client: redis, prefix: `${prefix}sess:` });
  for (const name of ['SESSION_SECRET', 'X_TOKEN_SECRET', 'OTP_SECRET']) {
    if ((process.env[name] ?? '').length < 32) {
      console.error(`With REDIS_URL, set ${name} (at least 32 characters), the same on every instance.`);
      process.exit(2);
    }
  }
}
if (process.env.X_TOKEN_SECRET) shared.xTokenSecret = process.env.X_TOKEN_SECRET;
if (process.env.OTP_SECRET) shared.otpSecret = process.env.OTP_SECRET;

const app = await createExampleApp({ sandbox, publicUrl, ...shared });
const listening = () => {
  console.log(`passport-factors example app: http://localhost:${server.address().port}`);
  if (sandbox) {
    console.log(`vendor sandbox:               ${sandbox.url}`);
    console.log(`sandbox phone (texts):        ${sandbox.url}/phone`);
  }
  if (redis) console.log(`state and sessions on:        ${process.env.REDIS_URL}`);
};
// Loopback by default: the demo users' passwords are published. HOST=0.0.0.0 opens it up.
const server = app.listen(port, process.env.HOST || '127.0.0.1', listening);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    server.close();
    server.closeAllConnections();
    await sandbox?.close();
    await redis?.quit();
  });
}

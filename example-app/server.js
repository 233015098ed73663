// `npm start`: the example app on the built-in sandbox, on http://localhost:3000 (PORT to change).
//
// REDIS_URL puts the sessions (connect-redis) and the strategies' state (RedisStore) on Redis, so
// several instances behind one load balancer share logins, codes and limits. Those instances must
// also share SESSION_SECRET, X_TOKEN_SECRET and OTP_SECRET (each at least 32 characters).
import { RedisStore as RedisSessionStore } from 'connect-redis';
import { RedisStore } from 'passport-factors';
import { startSandbox } from 'passport-factors/sandbox';
import { createClient } from 'redis';
import { createExampleApp } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const publicUrl = process.env.PUBLIC_URL ?? `http://localhost:${port}`;
const sandbox = await startSandbox({ port: Number(process.env.SANDBOX_PORT ?? 0) });

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
  console.log(`vendor sandbox:               ${sandbox.url}`);
  console.log(`sandbox phone (texts):        ${sandbox.url}/phone`);
  if (redis) console.log(`state and sessions on:        ${process.env.REDIS_URL}`);
};
// HOST (e.g. 127.0.0.1) limits where it listens; by default, every interface, as Express does.
const server = process.env.HOST ? app.listen(port, process.env.HOST, listening) : app.listen(port, listening);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    server.close();
    server.closeAllConnections();
    await sandbox.close();
    await redis?.quit();
  });
}

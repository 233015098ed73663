// `npm start`: the example app on the built-in sandbox, on http://localhost:3000 (PORT to change),
// listening on 127.0.0.1 only (HOST to change). Under NODE_ENV=production it refuses to start
// the sandbox: every vendor must then be configured for real (see README).
//
// REDIS_URL puts the sessions (connect-redis) and the strategies' state (RedisStore) on Redis, so
// several instances behind one load balancer share logins, codes and limits. Those instances must
// also share SESSION_SECRET, X_TOKEN_SECRET and OTP_SECRET (each at least 32 characters).
// Instead of REDIS_URL: REDIS_CLUSTER=host:port,host:port (any nodes of a Redis Cluster), or
// REDIS_SENTINELS=host:port,... with REDIS_SENTINEL_NAME (the master's name, default `mymaster`).
import { RedisStore as RedisSessionStore } from 'connect-redis';
import { ConfigurationError, StoreError } from 'passport-factors';
import { RedisStore } from 'passport-factors/stores';
import { startSandbox } from 'passport-factors/sandbox';
import { createClient, createCluster, createSentinel } from 'redis';
import { createExampleApp } from './app.js';
import { DEMO_USERS } from './users.js';

/**
 * connect-redis, with its faults answered like the strategies' own store faults: a StoreError
 * (503, "busy, try again"), not a 500, while Redis is unreachable or failing over.
 */
class SessionStore extends RedisSessionStore {
  get(sid, done) {
    super.get(sid, (err, value) => done(sessionFault(err), value));
  }
  set(sid, sess, done) {
    super.set(sid, sess, (err) => done?.(sessionFault(err)));
  }
  // A touch only extends the session's lifetime, as the answer goes out: when it fails the session
  // keeps its old expiry, and the answer stands (express-session would otherwise hand the error on
  // after the response has ended, and Express would reset the connection).
  touch(sid, sess, done) {
    super.touch(sid, sess, () => done?.());
  }
  destroy(sid, done) {
    super.destroy(sid, (err) => done?.(sessionFault(err)));
  }
}
const sessionFault = (err) =>
  err ? new StoreError('The session store failed; check that Redis is reachable.', { cause: err }) : err;

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

const nodes = (list) =>
  list.split(',').map((address) => {
    const [host, port] = address.trim().split(':');
    return { host, port: Number(port) };
  });
let redis;
let redisName;
const shared = {};
if (env.REDIS_CLUSTER) {
  redisName = `Redis Cluster ${env.REDIS_CLUSTER}`;
  redis = createCluster({
    rootNodes: nodes(env.REDIS_CLUSTER).map(({ host, port }) => ({ url: `redis://${host}:${port}` })),
  });
} else if (env.REDIS_SENTINELS) {
  redisName = `Sentinel ${env.REDIS_SENTINELS}`;
  redis = createSentinel({
    name: env.REDIS_SENTINEL_NAME ?? 'mymaster',
    sentinelRootNodes: nodes(env.REDIS_SENTINELS),
  });
} else if (env.REDIS_URL) {
  redisName = env.REDIS_URL;
  redis = createClient({ url: env.REDIS_URL });
}
if (redis) {
  redis.on('error', (err) => console.error(`Redis: ${err.message}`));
  await redis.connect();
  const prefix = process.env.REDIS_PREFIX ?? 'pf-demo:';
  // Behind Sentinel the master replicates asynchronously: every write waits for the replica, so a
  // failover cannot lose a renewal or a used code the old master answered (README: Running at scale).
  const waitForReplicas = env.REDIS_SENTINELS ? { replicas: 1, timeoutMs: 500 } : undefined;
  shared.store = new RedisStore({
    client: redis,
    prefix: `${prefix}state:`,
    ...(waitForReplicas ? { waitForReplicas } : {}),
  });
  shared.sessionStore = new SessionStore({ client: redis, prefix: `${prefix}sess:` });
  for (const name of ['SESSION_SECRET', 'X_TOKEN_SECRET', 'OTP_SECRET']) {
    if ((process.env[name] ?? '').length < 32) {
      console.error(`With Redis, set ${name} (at least 32 characters), the same on every instance.`);
      process.exit(2);
    }
  }
}
// A renewal in flight at a Sentinel switch is answered 503 (its replica did not confirm it), yet the
// new master may hold it: its client then returns with the replaced token once writes are accepted
// again, about 11 s later with one replica. The reuse grace must outlast that, or such clients are
// logged out (README: Running at scale).
if (env.X_TOKEN_REUSE_GRACE_SEC) shared.xTokenReuseGraceSec = Number(env.X_TOKEN_REUSE_GRACE_SEC);
else if (env.REDIS_SENTINELS) shared.xTokenReuseGraceSec = 20;
if (process.env.X_TOKEN_SECRET) shared.xTokenSecret = process.env.X_TOKEN_SECRET;
if (process.env.OTP_SECRET) shared.otpSecret = process.env.OTP_SECRET;

// What happens, as it happens: every audit event the strategies emit, one line each.
const onEvent = ({ at, source, type, ...details }) =>
  console.log(`${at.slice(11, 19)} ${source}: ${type} ${JSON.stringify(details)}`);
const app = await createExampleApp({ sandbox, publicUrl, onEvent, ...shared });
const listening = () => {
  console.log(`passport-factors example app: http://localhost:${server.address().port}`);
  if (sandbox) {
    console.log(`vendor sandbox:               ${sandbox.url}`);
    console.log(`sandbox phone (texts):        ${sandbox.url}/phone`);
  }
  console.log(
    `state and sessions on:        ${redis ? redisName : 'this process (MemoryStore): set REDIS_URL to share them'}`,
  );
  console.log('demo accounts (password / SMS number / SecSign ID):');
  for (const user of DEMO_USERS)
    console.log(
      `  ${user.username.padEnd(6)} ${user.password} / ${user.phone ?? '-'} / ${user.secsignId ?? '-'}`,
    );
  console.log('audit events appear below as they happen.');
};
// Loopback by default: the demo users' passwords are published. HOST=0.0.0.0 opens it up.
const server = app.listen(port, process.env.HOST || '127.0.0.1', listening);

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, async () => {
    server.close();
    server.closeAllConnections();
    await sandbox?.close();
    await redis?.close();
  });
}

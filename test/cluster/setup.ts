import { missingTools, startTopologies, type Topologies } from './servers.js';

/**
 * Mocha global fixtures for `npm run test:cluster`: one Redis Cluster and one Sentinel setup for
 * the whole run. Under CI=true a missing `redis-server` fails the run; on a laptop the suites
 * are skipped with a message saying what they need.
 */
let topologies: Topologies | undefined;
let skipReason: string | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  const missing = missingTools();
  if (missing) {
    if (process.env.CI === 'true') throw new Error(`The cluster suites need Redis under CI=true: ${missing}`);
    skipReason = missing;
    return;
  }
  const started = Date.now();
  topologies = await startTopologies();
  process.stdout.write(
    `  Redis Cluster (3 masters, 3 replicas) on 7000-7005 and Sentinel (master 7100, replica 7101, sentinels 26379-26381) up in ${Date.now() - started} ms\n`,
  );
}

export async function mochaGlobalTeardown(): Promise<void> {
  await topologies?.stop();
}

/** The running topologies; skips the calling suite with a message when this machine has no Redis. */
export function topologiesOrSkip(ctx: Mocha.Context): Topologies {
  if (topologies) return topologies;
  console.warn(`      ⚠ SKIPPED: the cluster suites need redis-server and redis-cli: ${skipReason}`);
  ctx.skip();
  throw new Error('skipped');
}

import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

/**
 * Real local Redis topologies for the cluster suites, from Debian's `redis-server` and `redis-cli`:
 * a Redis Cluster of three masters and three replicas, and a Sentinel setup of one master, one
 * replica and three sentinels. Loopback only, in a temp dir, on ports away from 6379 (which the
 * other suites share).
 */
export const CLUSTER_PORTS = [7000, 7001, 7002, 7003, 7004, 7005];
export const SENTINEL_DATA_PORTS = [7100, 7101];
export const SENTINEL_PORTS = [26379, 26380, 26381];
export const SENTINEL_NAME = 'pf-master';
const HOST = '127.0.0.1';
/** Cluster nodes also listen on their port + 10000 (the cluster bus). */
const BUS_OFFSET = 10_000;

const run = promisify(execFile);

export interface Topologies {
  /** `host:port` of every cluster node, masters and replicas. */
  clusterNodes: { host: string; port: number }[];
  /** `host:port` of the three sentinels. */
  sentinels: { host: string; port: number }[];
  sentinelName: string;
  stop(): Promise<void>;
}

/** What is missing on this machine to run the cluster suites, or `undefined` when nothing is. */
export function missingTools(): string | undefined {
  for (const tool of ['redis-server', 'redis-cli']) {
    const probe = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0)
      return `${tool} is not installed (Debian/Ubuntu: apt-get install redis-server; it brings redis-cli).`;
  }
  return undefined;
}

/** `redis-cli -p port args...`, its answer trimmed. */
export async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: 15_000 });
  return stdout.trim();
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // Not yet.
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await sleep(100);
  }
}

/** Starts the cluster and the Sentinel setup; `stop()` kills every process it started and removes the dir. */
export async function startTopologies(): Promise<Topologies> {
  const ports = [
    ...CLUSTER_PORTS,
    ...CLUSTER_PORTS.map((port) => port + BUS_OFFSET),
    ...SENTINEL_DATA_PORTS,
    ...SENTINEL_PORTS,
  ];
  const taken = [];
  for (const port of ports) if (await listening(port)) taken.push(port);
  if (taken.length > 0)
    throw new Error(`The cluster suites need ports ${ports.join(', ')} free; in use: ${taken.join(', ')}.`);

  const dir = mkdtempSync(join(tmpdir(), 'pf-cluster-'));
  const children: ChildProcess[] = [];
  let output = '';
  const server = (name: string, args: string[]) => {
    const child = spawn('redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (chunk: Buffer) => (output += `[${name}] ${chunk.toString()}`));
    child.stderr!.on('data', (chunk: Buffer) => (output += `[${name}] ${chunk.toString()}`));
    children.push(child);
  };
  const killAll = () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  // If the test process dies without its teardown, its servers go with it.
  process.once('exit', killAll);
  const stop = async () => {
    await Promise.all(
      children.map(async (child) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }),
    );
    process.removeListener('exit', killAll);
    rmSync(dir, { recursive: true, force: true });
  };
  // A replica (re)joining syncs at once, not after the default 5 s wait for more replicas.
  const common = [
    '--bind',
    HOST,
    '--save',
    '',
    '--appendonly',
    'no',
    '--protected-mode',
    'no',
    '--repl-diskless-sync-delay',
    '0',
  ];
  try {
    // Redis Cluster: six nodes, then `redis-cli --cluster create` assigns slots and replicas.
    for (const port of CLUSTER_PORTS) {
      server(`cluster ${port}`, [
        ...common,
        '--port',
        String(port),
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        `nodes-${port}.conf`,
        '--cluster-node-timeout',
        '3000',
        '--dbfilename',
        `dump-${port}.rdb`,
      ]);
    }
    // Sentinel: the master and its replica refuse writes while they have no replica in sync, so an
    // old master cut off by a failover stops acknowledging writes the new one will never see.
    const [masterPort, replicaPort] = SENTINEL_DATA_PORTS as [number, number];
    const safety = ['--min-replicas-to-write', '1', '--min-replicas-max-lag', '2'];
    server(`master ${masterPort}`, [
      ...common,
      ...safety,
      '--port',
      String(masterPort),
      '--dbfilename',
      'm.rdb',
    ]);
    server(`replica ${replicaPort}`, [
      ...common,
      ...safety,
      '--port',
      String(replicaPort),
      '--dbfilename',
      'r.rdb',
      '--replicaof',
      HOST,
      String(masterPort),
    ]);
    for (const port of [...CLUSTER_PORTS, masterPort, replicaPort])
      await until(`redis-server on ${port}`, async () => (await cli(port, 'PING')) === 'PONG');

    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...CLUSTER_PORTS.map((port) => `${HOST}:${port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 60_000 },
    );
    for (const port of CLUSTER_PORTS)
      await until(`cluster_state:ok on ${port}`, async () =>
        (await cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'),
      );
    for (const port of CLUSTER_PORTS) {
      await until(`${port} in sync`, async () => {
        const info = await cli(port, 'INFO', 'replication');
        return info.includes('role:master')
          ? /connected_slaves:1/.test(info)
          : /master_link_status:up/.test(info);
      });
    }

    for (const port of SENTINEL_PORTS) {
      const file = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${SENTINEL_NAME} ${HOST} ${masterPort} 2`,
          `sentinel down-after-milliseconds ${SENTINEL_NAME} 2000`,
          `sentinel failover-timeout ${SENTINEL_NAME} 10000`,
          `sentinel parallel-syncs ${SENTINEL_NAME} 1`,
          '',
        ].join('\n'),
      );
      server(`sentinel ${port}`, [file, '--sentinel']);
    }
    await until(`the replica in sync with ${masterPort}`, async () =>
      /master_link_status:up/.test(await cli(replicaPort, 'INFO', 'replication')),
    );
    for (const port of SENTINEL_PORTS) {
      await until(`sentinel ${port} to know the replica and the other sentinels`, async () => {
        const info = await cli(port, 'INFO', 'sentinel');
        return new RegExp(`name=${SENTINEL_NAME},status=ok,.*slaves=1,sentinels=3`).test(info);
      });
    }
  } catch (err) {
    killAll();
    await stop();
    throw new Error(`${(err as Error).message}\n--- server output:\n${output.slice(-4000)}`, { cause: err });
  }
  return {
    clusterNodes: CLUSTER_PORTS.map((port) => ({ host: HOST, port })),
    sentinels: SENTINEL_PORTS.map((port) => ({ host: HOST, port })),
    sentinelName: SENTINEL_NAME,
    stop,
  };
}

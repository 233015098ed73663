import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { ConfigurationError } from '../../src/index.js';
import { startSandbox } from '../../src/sandbox/index.js';
import { rejectionOf } from '../helpers/assert.js';

const SERVER = fileURLToPath(new URL('../../example-app/server.js', import.meta.url));

/** The environment without any vendor credentials, Redis or HOST: the example app then needs the sandbox. */
function bareEnvironment(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(SIPGATE_|SECSIGN_|XIGNIN_|LASTWALL_|REDIS_|HOST$|PORT$|NODE_ENV$)/.test(name)) env[name] = value;
  }
  return { ...env, PORT: '0', ...extra };
}

/** Runs the example server until it prints its URL or exits; answers what happened. */
async function runExampleServer(env: NodeJS.ProcessEnv): Promise<{
  exitCode: number | null;
  output: string;
  port?: number;
  stop: () => Promise<void>;
}> {
  const child = spawn(process.execPath, [SERVER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 15_000;
  while (child.exitCode === null && !/example app: http:\/\/\S+:(\d+)/.test(output)) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the example server neither started nor exited:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const port = /example app: http:\/\/\S+:(\d+)/.exec(output)?.[1];
  return { exitCode: child.exitCode, output, stop, ...(port ? { port: Number(port) } : {}) };
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

describe('U6: the sandbox under NODE_ENV=production', function () {
  this.timeout(30_000);

  it('U6: startSandbox() refuses NODE_ENV=production with a ConfigurationError saying why and how, unless allowInProduction', async () => {
    const saved = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      // A sandbox that did start is closed, so a failing run still ends.
      const err = await startSandbox().then(
        async (started) => started.close(),
        (thrown: unknown) => thrown,
      );
      expect(err).to.be.instanceOf(ConfigurationError);
      if (!(err instanceof ConfigurationError)) return;
      expect(err.code).to.equal('ERR_INVALID_OPTION');
      expect(err.message).to.match(/NODE_ENV=production/);
      expect(err.message).to.match(/allowInProduction: true/);
      const forced = await startSandbox({ allowInProduction: true });
      await forced.close();
    } finally {
      if (saved === undefined) delete process.env.NODE_ENV;
      else process.env.NODE_ENV = saved;
    }
    await rejectionOf(startSandbox({ allowInProduction: 'yes' as never }), ConfigurationError);
  });

  it('U6: the example server under NODE_ENV=production without vendor credentials exits non-zero with the reason', async () => {
    const run = await runExampleServer(bareEnvironment({ NODE_ENV: 'production' }));
    await run.stop();
    expect(run.port, `it must not start:\n${run.output}`).to.equal(undefined);
    expect(run.exitCode).to.not.equal(0);
    expect(run.output).to.match(/refusing to start under NODE_ENV=production/);
    expect(run.output).to.match(/Configure the real vendors/);
  });

  it("U6: the example server listens on 127.0.0.1 by default, not on the machine's other addresses", async function () {
    const external = Object.values(networkInterfaces())
      .flat()
      .find((address) => address && !address.internal && address.family === 'IPv4');
    const run = await runExampleServer(bareEnvironment({}));
    try {
      expect(run.port, run.output).to.be.a('number');
      expect(await canConnect('127.0.0.1', run.port!)).to.equal(true);
      if (!external) {
        console.warn('      ⚠ no non-loopback IPv4 address here: only the loopback half was checked.');
        return;
      }
      expect(await canConnect(external.address, run.port!), `reachable on ${external.address}`).to.equal(
        false,
      );
    } finally {
      await run.stop();
    }
  });
});

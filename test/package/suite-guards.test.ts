import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MOCHA = fileURLToPath(new URL('../../node_modules/mocha/bin/mocha.js', import.meta.url));

/** Runs mocha as the suite does (same setup file, no --exit) on one fixture; answers its exit. */
async function mochaOn(fixture: string): Promise<{ code: number | null; output: string; ms: number }> {
  const started = Date.now();
  const child = spawn(
    process.execPath,
    [
      MOCHA,
      '--no-config',
      '--node-option',
      'import=tsx',
      '--require',
      'test/helpers/setup.ts',
      `test/fixtures/guards/${fixture}`,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, output, ms: Date.now() - started };
}

describe('the test suite’s own guards', function () {
  this.timeout(40_000);

  it('a run with an unhandled rejection fails, even when every test passed', async () => {
    const run = await mochaOn('unhandled-rejection.fixture.ts');
    expect(run.code, run.output).to.not.equal(0);
    expect(run.output).to.include('leaked rejection');
  });

  it('a run with an uncaught exception fails, even when every test passed', async () => {
    const run = await mochaOn('uncaught-exception.fixture.ts');
    expect(run.code, run.output).to.not.equal(0);
    expect(run.output).to.include('thrown from a timer');
  });

  it('a clean run passes and mocha exits by itself, without --exit', async () => {
    const run = await mochaOn('clean.fixture.ts');
    expect(run.code, run.output).to.equal(0);
    expect(run.output).to.include('1 passing');
  });
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));
const PUBLIC_NAMES = [
  'BasicLoginStrategy',
  'XTokenStrategy',
  'XTokenManager',
  'MemoryStore',
  'RedisStore',
  'AuthenticationFailure',
];

/** Runs a snippet in a separate Node process from the package root, resolving `passport-factors` by name. */
async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return stdout.trim();
}

describe('the built package (dist/) by its public name', () => {
  before(function () {
    if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
      throw new Error('dist/ is missing: `npm test` builds first; run `npm run build` before mocha alone.');
    }
  });

  const load = {
    import: "const m = await import('passport-factors'); const s = await import('passport-factors/sandbox');",
    require: "const m = require('passport-factors'); const s = require('passport-factors/sandbox');",
  };
  for (const [how, loadBoth] of Object.entries(load)) {
    it(`loads with ${how}: every public entry, the sandbox included`, async () => {
      const report = `console.log(JSON.stringify({ names: ${JSON.stringify(PUBLIC_NAMES)}.filter((n) => typeof m[n] === 'function'), sandbox: typeof s.startSandbox }));`;
      const out = await node([
        ...(how === 'import' ? ['--input-type=module'] : []),
        '-e',
        `${loadBoth}\n${report}`,
      ]);
      expect(JSON.parse(out)).to.deep.equal({ names: PUBLIC_NAMES, sandbox: 'function' });
    });
  }

  it('a required strategy works with Passport: registers under its name', async () => {
    const out = await node([
      '-e',
      `const passport = require('passport');
       const { XTokenStrategy, BasicLoginStrategy } = require('passport-factors');
       passport.use(new XTokenStrategy({ secret: 'x'.repeat(32) }, (p) => ({ id: p.sub })));
       passport.use(new BasicLoginStrategy(() => false));
       console.log(Object.keys(passport._strategies).sort().join(','));`,
    ]);
    expect(out).to.equal('basic-login,session,x-token');
  });

  it('ships type declarations for both entries', () => {
    expect(existsSync(new URL('../../dist/index.d.ts', import.meta.url))).to.equal(true);
    expect(existsSync(new URL('../../dist/sandbox/index.d.ts', import.meta.url))).to.equal(true);
  });
});

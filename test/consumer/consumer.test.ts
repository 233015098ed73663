import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { readSnippets } from '../../scripts/readme-snippets.mjs';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixture/', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const NPX = process.platform === 'win32' ? 'npx.cmd' : 'npx';

/**
 * The package as users get it: `npm pack`, installed into a fresh project from the tarball (its
 * dependencies from the registry), then loaded, type-checked and run there, far from this repo.
 */
describe('the packed tarball, installed into a fresh project', function () {
  this.timeout(600_000);
  let project = '';
  let packed: { filename: string; files: Array<{ path: string }> };

  const run = async (file: string, args: string[] = []) => {
    const { stdout } = await exec(file, args, { cwd: project, env: { ...process.env, NODE_OPTIONS: '' } });
    return stdout.trim();
  };

  before(async () => {
    if (!existsSync(join(ROOT, 'dist/index.js')))
      throw new Error('dist/ is missing: run `npm run build` first.');
    project = mkdtempSync(join(tmpdir(), 'pf-consumer-'));
    const { stdout } = await exec(NPM, ['pack', '--json', '--pack-destination', project], { cwd: ROOT });
    packed = (JSON.parse(stdout) as Array<typeof packed>)[0]!;
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'pf-consumer', private: true, type: 'module' }, null, 2),
    );
    cpSync(FIXTURE, project, { recursive: true });
    await exec(
      NPM,
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        join(project, packed.filename),
        'express@^5',
        'express4@npm:express@^4',
        'express-session@^1',
        'passport@^0.7',
        'pngjs@^7',
        'qrcode@^1.5.4',
        'typescript@~5.9',
        '@types/node@^20',
        '@types/express@^5',
        '@types/passport@^1',
        '@types/express-session@^1',
      ],
      { cwd: project },
    );
  });
  after(() => {
    if (project) rmSync(project, { recursive: true, force: true });
  });

  it('npm pack holds only what users need: dist (code and types), README, LICENSE, package.json', () => {
    const paths = packed.files.map((f) => f.path);
    const strays = paths.filter((p) => !/^(dist\/.+\.(js|d\.ts)|README\.md|LICENSE|package\.json)$/.test(p));
    expect(strays, 'files that should not ship').to.deep.equal([]);
    for (const needed of [
      'dist/index.js',
      'dist/index.d.ts',
      'dist/sandbox/index.js',
      'dist/sandbox/index.d.ts',
      'dist/exports/x-token.js',
      'dist/exports/x-token.d.ts',
      'dist/exports/stores.js',
      'dist/exports/stores.d.ts',
    ])
      expect(paths).to.include(needed);
  });

  it('imports every public entry point (ESM)', async () => {
    expect(await run(process.execPath, ['entries.mjs'])).to.match(/^import ok: 12 entries, \d+ exports$/);
  });

  it('requires every public entry point (CommonJS, through require(esm))', async () => {
    expect(await run(process.execPath, ['entries.cjs'])).to.match(/^require ok: 12 entries, \d+ exports$/);
  });

  it('a TypeScript consumer using every strategy’s options and verify signatures type-checks under strict', async () => {
    await run(process.execPath, [join(project, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json']);
  });

  it('Express 4: password, then an SMS code from the sandbox, logs in', async () => {
    expect(await run(process.execPath, ['express4-sms.mjs'])).to.match(/^express 4\.\d+\.\d+ sms ok$/);
  });

  it('Express 5: a SecSign ID push login against the sandbox logs in', async () => {
    expect(await run(process.execPath, ['express5-secsign.mjs'])).to.match(
      /^express 5\.\d+\.\d+ secsign ok$/,
    );
  });

  it('the README’s `npx … passport-factors-sandbox`, in an empty folder, serves every vendor and stops on Ctrl-C', async () => {
    const snippet = readSnippets(readFileSync(join(ROOT, 'README.md'), 'utf8')).find(
      (s: { name: string }) => s.name === 'sandbox-standalone',
    ) as { code: string };
    const words = snippet.code.trim().split(/\s+/);
    expect(words[0]).to.equal('npx');
    // As written, with two substitutions: this tarball for the registry's package, a free port.
    const args = words.slice(1).map((word, i, all) => {
      if (word === 'passport-factors' && all[i - 1] === '-p') return join(project, packed.filename);
      if (all[i - 1] === '--port') return '0';
      return word;
    });
    const empty = mkdtempSync(join(tmpdir(), 'pf-npx-'));
    // Its own process group, so that SIGINT reaches npx and the sandbox as Ctrl-C in a terminal would.
    const child = spawn(NPX, args, {
      cwd: empty,
      detached: true,
      env: { ...process.env, NODE_OPTIONS: '', npm_config_yes: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      const deadline = Date.now() + 300_000;
      while (!output.includes('# Ctrl-C stops the sandbox.')) {
        if (child.exitCode !== null || Date.now() > deadline)
          expect.fail(`npx did not start the sandbox:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const manager = /^XIGNIN_MANAGER_URL=(.+)$/m.exec(output)![1]!;
      const discovery = await fetch(`${manager}/.well-known/openid-configuration`);
      expect(discovery.status).to.equal(200);
      expect(((await discovery.json()) as { issuer: string }).issuer).to.equal(manager);
      process.kill(-child.pid!, 'SIGINT');
      const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
      // npm re-raises the signal its command ended on; the sandbox itself said it stopped.
      expect(code === 0 || signal === 'SIGINT', `exit ${code} ${signal}`).to.equal(true);
      expect(output).to.include('# passport-factors sandbox stopped (SIGINT).');
      const refused = await fetch(`${manager}/.well-known/openid-configuration`).catch((err: Error) => err);
      expect(refused).to.be.instanceOf(Error);
    } finally {
      if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it('--omit=dev into an app that has passport and express: at most 12 packages more, no second express; the sandbox names its missing peers; strict tsc with no @types/express', async () => {
    const app = mkdtempSync(join(tmpdir(), 'pf-footprint-'));
    try {
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'pf-footprint', private: true, type: 'module' }),
      );
      const npm = (args: string[]) => exec(NPM, args, { cwd: app });
      const install = ['install', '--no-audit', '--no-fund', '--loglevel=error', '--omit=dev'];
      const listed = async () => {
        const { stdout } = await npm(['ls', '--all', '--parseable', '--omit=dev']);
        return new Set(stdout.trim().split('\n').slice(1));
      };
      await npm([...install, 'express@^4', 'passport@^0.7']);
      const before = await listed();
      await npm([...install, join(project, packed.filename)]);
      const added = [...(await listed())].filter((path) => !before.has(path));
      expect(added.length, added.join('\n')).to.be.at.most(12);
      const expressCopies = [...(await listed())].filter((path) => /node_modules\/express$/.test(path));
      expect(expressCopies, 'one Express: the app’s own 4.x').to.have.length(1);
      const failed = await exec(
        process.execPath,
        ['-e', "await import('passport-factors/sandbox')", '--input-type=module'],
        {
          cwd: app,
        },
      ).then(
        () => expect.fail('the sandbox loaded without pngjs and qrcode'),
        (err: { stderr: string }) => err.stderr,
      );
      expect(failed).to.include('ConfigurationError');
      expect(failed).to.include('needs pngjs, qrcode');
      expect(failed).to.include('npm install --save-dev express pngjs qrcode');
      // The main entry needs none of them.
      const { stdout } = await exec(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "const m = await import('passport-factors'); console.log(typeof m.SmsOtpStrategy)",
        ],
        { cwd: app },
      );
      expect(stdout.trim()).to.equal('function');
      // Strict TypeScript with no @types/express (nor @types/passport): the declarations stand alone.
      await npm([
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        'typescript@~5.9',
        '@types/node@^20',
      ]);
      writeFileSync(
        join(app, 'no-express-types.ts'),
        [
          "import { createServer } from 'node:http';",
          "import { BasicLoginStrategy, jsonErrors, SmsOtpStrategy, XTokenStrategy } from 'passport-factors';",
          "import type { Sandbox } from 'passport-factors/sandbox';",
          "import { smsOtpHandlers, type SmsOtpStrategyOptions } from 'passport-factors/sms-otp';",
          "import { xTokenHandlers } from 'passport-factors/x-token';",
          "import type { RedisStoreOptions } from 'passport-factors/stores';",
          'declare global { namespace Express { interface User { id: string; phone: string } } }',
          'const basic = new BasicLoginStrategy(async (username, password) => (password ? { id: username, phone: "" } : false));',
          'const sms = new SmsOtpStrategy({ sender: { send: async () => {} }, getPhoneNumber: (user) => user.phone });',
          "const xToken = new XTokenStrategy({ secret: 'x'.repeat(32), passReqToCallback: true }, async (req, payload) => ({ id: payload.sub, phone: String(req.ip) }));",
          'const onError = jsonErrors();',
          'export const used: unknown[] = [basic.name, smsOtpHandlers(sms, { locale: (req) => req.headers["accept-language"]?.split(",")[0] }).send, xTokenHandlers(xToken, { passport: { authenticate: () => () => undefined } }).login, onError, createServer];',
          'export type S = Sandbox;',
          'export type O = [SmsOtpStrategyOptions, RedisStoreOptions];',
        ].join('\n'),
      );
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'ES2022',
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            strict: true,
            exactOptionalPropertyTypes: true,
            skipLibCheck: false,
            noEmit: true,
            types: ['node'],
          },
          files: ['no-express-types.ts'],
        }),
      );
      expect(existsSync(join(app, 'node_modules/@types/express')), 'no @types/express here').to.equal(false);
      await exec(process.execPath, [join(app, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
        cwd: app,
      }).catch((err: { stdout?: string }) =>
        expect.fail(`tsc without @types/express:\n${err.stdout ?? String(err)}`),
      );
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
});

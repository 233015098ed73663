import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import ts from 'typescript';
import { readSnippets } from '../../scripts/readme-snippets.mjs';

const exec = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HERE = fileURLToPath(new URL('./snippets/', import.meta.url));
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Snippet {
  name: string;
  kind: 'app' | 'module' | 'types' | 'shell' | 'html';
  attrs: Record<string, string>;
  lang: string;
  code: string;
  line: number;
}
const snippets = readSnippets(readFileSync(join(ROOT, 'README.md'), 'utf8')) as Snippet[];
const runnable = snippets.filter((s) => s.kind === 'app' || s.kind === 'module');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  peerDependencies: Record<string, string>;
};

interface Project {
  label: string;
  type: 'commonjs' | 'module';
  typescript: boolean;
  deps: string[];
  dir: string;
}
const COMMON = [
  'express-session@^1',
  'passport@^0.7',
  'redis@^5',
  'pngjs@^7',
  'qrcode@^1.5.4',
  '@simplewebauthn/server@^14',
];
const TYPES = ['typescript@~5.9', '@types/node@^20', '@types/passport@^1', '@types/express-session@^1'];
const projects: Project[] = [
  {
    label: 'Express 4 + CommonJS',
    type: 'commonjs',
    typescript: false,
    deps: ['express@^4', ...COMMON],
    dir: '',
  },
  { label: 'Express 5 + ESM', type: 'module', typescript: false, deps: ['express@^5', ...COMMON], dir: '' },
  {
    label: 'strict TypeScript, @types/express@4',
    type: 'module',
    typescript: true,
    deps: ['express@^4', ...COMMON, ...TYPES, '@types/express@^4'],
    dir: '',
  },
  {
    label: 'strict TypeScript, @types/express@5',
    type: 'module',
    typescript: true,
    deps: ['express@^5', ...COMMON, ...TYPES, '@types/express@^5'],
    dir: '',
  },
];

/** What a snippet module hands the driver: the app it builds and the sandbox it started. */
function exportsOf(snippet: Snippet): string[] {
  return ['app', 'sandbox'].filter((name) => new RegExp(`\\bconst ${name}\\b`).test(snippet.code));
}

function toJs(code: string, module: ts.ModuleKind): string {
  return ts.transpileModule(code, {
    compilerOptions: { module, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  }).outputText;
}

/** Writes the snippets into a project as that project's users would: CommonJS, ESM or TypeScript. */
function writeProject(project: Project): void {
  const users = readFileSync(join(HERE, 'users.ts'), 'utf8');
  copyFileSync(join(HERE, 'driver.mjs'), join(project.dir, 'driver.mjs'));
  if (project.typescript) {
    writeFileSync(join(project.dir, 'users.ts'), users);
    const types = snippets.find((s) => s.name === 'express-user')!;
    writeFileSync(join(project.dir, 'express-user.d.ts'), types.code);
    for (const s of runnable)
      writeFileSync(join(project.dir, `${s.name}.ts`), `${s.code}\nexport { ${exportsOf(s).join(', ')} };\n`);
    writeFileSync(
      join(project.dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          exactOptionalPropertyTypes: true,
          skipLibCheck: false,
          outDir: 'out',
          types: ['node'],
        },
        include: ['*.ts'],
      }),
    );
  } else if (project.type === 'module') {
    writeFileSync(join(project.dir, 'users.js'), toJs(users, ts.ModuleKind.ESNext));
    for (const s of runnable)
      writeFileSync(
        join(project.dir, `${s.name}.js`),
        `${toJs(s.code, ts.ModuleKind.ESNext)}\nexport { ${exportsOf(s).join(', ')} };\n`,
      );
  } else {
    writeFileSync(join(project.dir, 'users.js'), toJs(users, ts.ModuleKind.CommonJS));
    // CommonJS has no top-level await: the module's body runs in an async function, as an app would.
    for (const s of runnable)
      writeFileSync(
        join(project.dir, `${s.name}.cjs`),
        `module.exports = (async () => {\n${toJs(s.code, ts.ModuleKind.CommonJS)}\nreturn { ${exportsOf(s).join(', ')} };\n})();\n`,
      );
  }
}

describe('every README code block, run in consumer projects that install the packed tarball', function () {
  this.timeout(600_000);
  let work = '';
  const env = {
    ...process.env,
    NODE_OPTIONS: '',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    X_TOKEN_SECRET: randomBytes(32).toString('hex'),
    OTP_SECRET: randomBytes(32).toString('hex'),
    TOTP_SECRET: randomBytes(32).toString('hex'),
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: `pf-snippets-${randomBytes(6).toString('hex')}:`,
  };

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'pf-snippets-'));
    const { stdout } = await exec(NPM, ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
    const tarball = join(work, (JSON.parse(stdout) as Array<{ filename: string }>)[0]!.filename);
    // Two installs at a time: the machine has two cores.
    for (let i = 0; i < projects.length; i += 2)
      await Promise.all(
        projects.slice(i, i + 2).map(async (project, j) => {
          project.dir = join(work, `project-${i + j}`);
          mkdirSync(project.dir);
          writeFileSync(
            join(project.dir, 'package.json'),
            JSON.stringify({ name: `pf-snippets-${i + j}`, private: true, type: project.type }),
          );
          await exec(
            NPM,
            ['install', '--no-audit', '--no-fund', '--loglevel=error', tarball, ...project.deps],
            {
              cwd: project.dir,
            },
          );
          writeProject(project);
        }),
      );
  });
  after(() => {
    if (work && !process.env.KEEP_SNIPPET_PROJECTS) rmSync(work, { recursive: true, force: true });
  });

  it('every code block carries a marker, and every app snippet has a scenario in the driver', () => {
    expect(snippets.length).to.be.greaterThan(10);
    const driver = readFileSync(join(HERE, 'driver.mjs'), 'utf8');
    for (const s of snippets.filter((x) => x.kind === 'app'))
      expect(driver, `a scenario for ${s.name}`).to.match(new RegExp(`['\\s]${s.name}'?\\(call`));
  });

  it('shell blocks name only scripts that package.json has, and packages this package declares', () => {
    for (const s of snippets.filter((x) => x.kind === 'shell'))
      for (const command of s.code
        .split(/&&|\n/)
        .map((c) => c.trim())
        .filter(Boolean)) {
        const words = command.split(/\s+/).filter((w) => !/^[A-Z_]+=/.test(w));
        // npx only for this package's own command, which consumer.test.ts runs as written.
        if (words[0] === 'npx') {
          expect(words, `README.md:${s.line}: ${command}`).to.include('passport-factors-sandbox');
          continue;
        }
        expect(words[0], `README.md:${s.line}: ${command}`).to.equal('npm');
        const [, verb, ...rest] = words;
        if (verb === 'run') expect(pkg.scripts, `README.md:${s.line}`).to.have.property(rest[0]!);
        else if (verb === 'start' || verb === 'test') expect(pkg.scripts).to.have.property(verb);
        else if (verb === 'install')
          for (const name of rest.filter((w) => !w.startsWith('-')))
            expect(
              name === 'passport-factors' || name in pkg.peerDependencies || name === 'express-session',
              `README.md:${s.line}: ${name} is neither this package nor a peer`,
            ).to.equal(true);
        else expect.fail(`README.md:${s.line}: unknown npm command ${command}`);
      }
  });

  it('HTML blocks fetch only routes their app snippet mounts', () => {
    for (const s of snippets.filter((x) => x.kind === 'html')) {
      const app = snippets.find((x) => x.name === s.attrs.routes);
      expect(app, `README.md:${s.line}: routes=${s.attrs.routes}`).to.not.equal(undefined);
      const paths = [...s.code.matchAll(/fetch\('([^']+)'/g)].map((m) => m[1]!);
      expect(paths, `README.md:${s.line}: no fetch()`).to.not.be.empty;
      for (const path of paths) expect(app!.code, `README.md:${s.line}: ${path}`).to.include(`'${path}'`);
    }
  });

  for (const project of projects) {
    describe(project.label, () => {
      if (project.typescript)
        it('the snippets type-check under strict (skipLibCheck: false)', async () => {
          await exec(process.execPath, [join(project.dir, 'node_modules/typescript/bin/tsc'), '-p', '.'], {
            cwd: project.dir,
          }).catch((err: { stdout?: string }) => {
            throw new Error(`tsc failed:\n${err.stdout ?? String(err)}`);
          });
        });
      for (const s of runnable)
        it(`${s.name} (README.md:${s.line}) runs as written${s.kind === 'app' ? ': one login, one refusal' : ''}`, async () => {
          const file = project.typescript
            ? join('out', `${s.name}.js`)
            : `${s.name}.${project.type === 'commonjs' ? 'cjs' : 'js'}`;
          const { stdout } = await exec(
            process.execPath,
            ['driver.mjs', join(project.dir, file), s.name, s.kind],
            {
              cwd: project.dir,
              // Each project its own keys: the projects' limits (an SMS resend cooldown) never meet.
              env: { ...env, REDIS_PREFIX: `${env.REDIS_PREFIX}${projects.indexOf(project)}:` },
              timeout: 60_000,
            },
          );
          expect(stdout.trim()).to.equal(`${s.name} ok`);
        });
    });
  }
});

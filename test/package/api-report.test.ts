import { execFile } from 'node:child_process';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** `node scripts/api-report.mjs --check --only stores` in `dir`: its exit code and everything it printed. */
function check(dir: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(dir, 'scripts/api-report.mjs'), '--check', '--only', 'stores'],
      { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
    );
  });
}

/**
 * `npm run api:check` (CI) catches a change to the public surface: run on a copy of the built
 * package and its checked-in report, it passes as is and fails once the declarations change.
 */
describe('the API report check (api/, npm run api:check)', function () {
  this.timeout(180_000);
  let copy = '';

  before(() => {
    if (!existsSync(join(ROOT, 'dist/exports/stores.d.ts')))
      throw new Error('dist/ is missing: `npm test` builds first; run `npm run build` before mocha alone.');
    copy = mkdtempSync(join(tmpdir(), 'pf-api-report-'));
    for (const path of ['package.json', 'api', 'dist', 'scripts/api-report.mjs'])
      cpSync(join(ROOT, path), join(copy, path), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
  });
  after(() => {
    if (copy) rmSync(copy, { recursive: true, force: true });
  });

  it('passes while the declarations match the report', async () => {
    const { code, output } = await check(copy);
    expect(output).to.include('API report up to date');
    expect(code).to.equal(0);
  });

  it('fails on a new export and on a changed option type, shows the diff and says to run `npm run api`', async () => {
    appendFileSync(
      join(copy, 'dist/exports/stores.d.ts'),
      '\nexport declare function leakedHelper(): void;\n',
    );
    const memory = join(copy, 'dist/stores/memory.d.ts');
    const declarations = readFileSync(memory, 'utf8');
    expect(declarations).to.include('maxEntries?: number;');
    writeFileSync(memory, declarations.replace('maxEntries?: number;', 'maxEntries?: number | string;'));

    const { code, output } = await check(copy);
    expect(code).to.equal(1);
    expect(output).to.match(/^\+export function leakedHelper\(\): void;$/m);
    expect(output).to.match(/^\+ +maxEntries\?: number \| string;$/m);
    expect(output).to.include('The public API differs from the API report in api/ (stores)');
    expect(output).to.include('Run `npm run api` to update the report');
  });
});

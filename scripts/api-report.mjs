// The API report: one `api/<entry>.api.md` per entry point in package.json's `exports`, written by
// @microsoft/api-extractor from the built declarations (dist/**/*.d.ts). It pins the public
// surface: every exported name with its full type, so a change to it shows in review.
//
//   node scripts/api-report.mjs           writes the reports (`npm run api`, after a build)
//   node scripts/api-report.mjs --check   fails if a report differs from the code (`npm run api:check`)
//   --only <entry>                        one entry's report, e.g. `--only x-token`
//
// Entries come from package.json, so adding an entry point there adds its report here.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Extractor, ExtractorConfig } from '@microsoft/api-extractor';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const check = process.argv.includes('--check');
const reportFolder = join(ROOT, 'api');
const tempFolder = join(tmpdir(), `pf-api-report-${process.pid}`);
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

/** `{ name, types }` for each entry: '.' is `passport-factors`, './x-token' is `x-token`. */
const allEntries = Object.entries(pkg.exports)
  .filter(([, target]) => typeof target === 'object' && target.types)
  .map(([subpath, target]) => ({
    name: subpath === '.' ? pkg.name : subpath.slice(2).replaceAll('/', '-'),
    types: join(ROOT, target.types),
  }));
// `--only <name>`: one entry's report (the test of this script uses it to stay quick).
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const entries = only ? allEntries.filter(({ name }) => name === only) : allEntries;
if (entries.length === 0) {
  console.error(`No entry point named ${only}: ${allEntries.map(({ name }) => name).join(', ')}.`);
  process.exit(2);
}

for (const { types } of entries) {
  if (!existsSync(types)) {
    console.error(`${relative(ROOT, types)} is missing: run \`npm run build\` first.`);
    process.exit(2);
  }
}

const quiet = { logLevel: 'none', addToApiReportFile: false };
mkdirSync(reportFolder, { recursive: true });
mkdirSync(tempFolder, { recursive: true });
const changed = [];
const problems = [];
try {
  for (const { name, types } of entries) {
    const config = ExtractorConfig.prepare({
      configObject: {
        projectFolder: ROOT,
        mainEntryPointFilePath: types,
        bundledPackages: [],
        compiler: {
          overrideTsconfig: {
            compilerOptions: {
              target: 'ES2022',
              lib: ['ES2023'],
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              strict: true,
              skipLibCheck: true,
              types: ['node'],
            },
            include: [relative(ROOT, types)],
          },
        },
        apiReport: {
          enabled: true,
          reportFileName: name,
          reportFolder,
          reportTempFolder: tempFolder,
          includeForgottenExports: false,
        },
        docModel: { enabled: false },
        dtsRollup: { enabled: false },
        tsdocMetadata: { enabled: false },
        newlineKind: 'lf',
        messages: {
          compilerMessageReporting: { default: { logLevel: 'warning' } },
          extractorMessageReporting: {
            default: { logLevel: 'warning' },
            // A type that lives in another entry point (a strategy's options, `PartialLogin` for
            // `RiskStepUp`) is not "forgotten": each entry's report pins its own names.
            'ae-forgotten-export': quiet,
            // No @public/@beta tags: everything an entry exports is public.
            'ae-missing-release-tag': quiet,
            // Documentation is checked by typedoc and check-option-docs (`npm run docs`).
            'ae-undocumented': quiet,
          },
          // TSDoc style is typedoc's business (`npm run docs`), not the surface's.
          tsdocMessageReporting: { default: quiet },
        },
      },
      configObjectFullPath: undefined,
      packageJsonFullPath: join(ROOT, 'package.json'),
    });
    const result = Extractor.invoke(config, {
      localBuild: !check,
      showVerboseMessages: false,
      messageCallback: (message) => {
        // Progress notes ("Analysis will use the bundled TypeScript version …": declarations
        // read the same) are noise; warnings and errors fail the run.
        // Its own notes on the report file (created, copied, "please copy") are replaced by ours.
        const aboutReport = message.messageId.startsWith('console-api-report-');
        if (!aboutReport && (message.logLevel === 'warning' || message.logLevel === 'error')) {
          problems.push(`${name}: ${message.text}`);
        }
        message.handled = true;
      },
    });
    if (result.apiReportChanged) changed.push(name);
    if (result.errorCount > 0) problems.push(`${name}: api-extractor reported ${result.errorCount} error(s)`);
  }

  // A report whose entry point is gone is a change too.
  const expected = new Set(allEntries.map(({ name }) => `${name}.api.md`));
  const stale = readdirSync(reportFolder).filter((file) => file.endsWith('.api.md') && !expected.has(file));
  for (const file of stale) {
    if (check) changed.push(`${file} (no such entry point any more)`);
    else rmSync(join(reportFolder, file));
  }

  if (problems.length) {
    console.error(`api-extractor found problems:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  }
  if (check && changed.length) {
    for (const name of changed) {
      const fresh = join(tempFolder, `${name}.api.md`);
      if (!existsSync(fresh)) continue;
      try {
        execFileSync(
          'git',
          ['diff', '--no-index', '--no-color', join(reportFolder, `${name}.api.md`), fresh],
          {
            stdio: 'inherit',
          },
        );
      } catch {
        // git diff exits 1 when the files differ: that is what we print it for.
      }
    }
    console.error(
      `\nThe public API differs from the API report in api/ (${changed.join(', ')}).\n` +
        'Run `npm run api` to update the report, review the diff of api/ (every added, removed or ' +
        'changed name is a change for users: a breaking one needs a CHANGELOG line), and commit it.',
    );
    process.exitCode = 1;
  } else if (!problems.length) {
    console.log(
      check
        ? `API report up to date: ${entries.length} entry points.`
        : `API report written: ${entries.map(({ name }) => `api/${name}.api.md`).join(', ')}.${changed.length ? ` Changed: ${changed.join(', ')}.` : ''}`,
    );
  }
} finally {
  rmSync(tempFolder, { recursive: true, force: true });
}

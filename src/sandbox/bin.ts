#!/usr/bin/env node
// The `passport-factors-sandbox` command (see cli.ts).
import type * as Cli from './cli.js';

// The sandbox's packages are optional peers: without them, loading it fails with an error that
// names them, shown here as one line, with the one command that brings them along.
let cli: typeof Cli;
try {
  cli = await import('./cli.js');
} catch (error) {
  if ((error as Error)?.name !== 'ConfigurationError') throw error;
  process.stderr.write(
    `passport-factors-sandbox: ${(error as Error).message}\n` +
      'Or, in any folder: npx -p passport-factors -p express -p pngjs -p qrcode passport-factors-sandbox\n',
  );
  process.exit(1);
}

const started = await cli.main(
  process.argv.slice(2),
  (line) => process.stdout.write(`${line}\n`),
  (line) => process.stderr.write(`${line}\n`),
);
if (typeof started === 'number') {
  process.exitCode = started;
} else {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    started.close().then(
      () => {
        process.stdout.write(`# passport-factors sandbox stopped (${signal}).\n`);
        process.exitCode = 0;
      },
      (error: unknown) => {
        process.stderr.write(`passport-factors-sandbox: ${String(error)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

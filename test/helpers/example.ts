import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createExampleApp } from '../../example-app/app.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';

/** The example app on the sandbox, on free loopback ports, as `npm start` runs it. */
export async function startExample(): Promise<{
  baseUrl: string;
  sandbox: Sandbox;
  close: () => Promise<void>;
}> {
  const sandbox = await startSandbox();
  let app;
  try {
    app = await createExampleApp({ sandbox, scryptCost: 2 ** 12, secsignPollIntervalMs: 300 });
  } catch (err) {
    // A sandbox left listening would keep mocha from ever exiting.
    await sandbox.close();
    throw err;
  }
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sandbox,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await sandbox.close();
    },
  };
}

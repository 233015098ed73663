import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { createExampleApp } from '../../example-app/app.js';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.js';
import { launchOrSkip } from './browser.js';

/** The example app on the sandbox, on free loopback ports, as `npm start` runs it. */
export async function startExample(): Promise<{
  baseUrl: string;
  sandbox: Sandbox;
  close: () => Promise<void>;
}> {
  const sandbox = await startSandbox();
  // Listen first: the app registers its XignIn redirect URI, which names its port.
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const app = await createExampleApp({
      sandbox,
      publicUrl: baseUrl,
      scryptCost: 2 ** 12,
      secsignPollIntervalMs: 300,
    });
    server.on('request', app);
  } catch (err) {
    // A sandbox or server left listening would keep mocha from ever exiting.
    server.close();
    await sandbox.close();
    throw err;
  }
  return {
    baseUrl,
    sandbox,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await sandbox.close();
    },
  };
}

export type RunningExample = Awaited<ReturnType<typeof startExample>>;

/**
 * For a browser suite: registers hooks that launch Chromium (or skip, see launchOrSkip) and start
 * the example app before the suite, and close both after. Call inside `describe`.
 */
export function exampleInBrowser(): { readonly browser: Browser; readonly example: RunningExample } {
  const env = {} as { browser: Browser; example: RunningExample };
  before(async function () {
    env.browser = await launchOrSkip(this);
    env.example = await startExample();
  });
  after(async () => {
    await env.browser?.close();
    await env.example?.close();
  });
  return env;
}

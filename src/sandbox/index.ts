import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import express from 'express';

export interface SandboxOptions {
  /** Port to listen on (default 0: pick a free one). */
  port?: number;
  /** Address to listen on (default `'127.0.0.1'`: the sandbox is never reachable from elsewhere). */
  host?: string;
}

export interface Sandbox {
  /** Base URL, e.g. `http://127.0.0.1:43121`; each vendor is mounted under its own path. */
  url: string;
  /** Stops the server and closes its connections. */
  close(): Promise<void>;
}

/**
 * Starts one local HTTP server that speaks each vendor's wire protocol, so every flow can be tried
 * without a vendor account. Vendors are mounted under path prefixes (`/sipgate/v2`, …) as they are
 * added; the landing page lists them.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const { port = 0, host = '127.0.0.1' } = options;
  const app = express();
  app.disable('x-powered-by');
  app.get('/', (_req, res) => {
    res
      .type('html')
      .send('<!doctype html><title>passport-factors sandbox</title><h1>passport-factors sandbox</h1>');
  });
  const server: Server = createServer(app);
  server.listen(port, host);
  await once(server, 'listening');
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${hostForUrl}:${address.port}`,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** The request target as sent: a path, or an absolute URL when the client spoke to a proxy. */
  target: string;
  /** The target's path and query. */
  path: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RecordingServer {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * A loopback HTTP server that records every request byte for byte, then lets `answer` respond
 * (forward it, or answer a scripted body). It also serves as a plain HTTP proxy: a client that
 * sends an absolute-form target (`POST https://api.example/v2/…`) is recorded the same way.
 */
export async function startRecordingServer(
  answer: (recorded: RecordedRequest, res: ServerResponse, req: IncomingMessage) => void | Promise<void>,
): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const target = req.url ?? '/';
      const parsed = new URL(target, 'http://recorder.invalid');
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        target,
        path: `${parsed.pathname}${parsed.search}`,
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      requests.push(recorded);
      Promise.resolve(answer(recorded, res, req)).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

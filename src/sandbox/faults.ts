import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * A vendor's router as the sandbox's declarations describe it: a Connect-style handler, so the
 * published types name no `express` type (they check with @types/express 4, 5, or none).
 */
export type SandboxRouter = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/**
 * What a broken or hostile vendor does on the wire, for one operation:
 * - `no-answer`: reads the request and never answers (the client's deadline must end it);
 * - `stalled-body`: sends the headers and the first bytes of the body, then nothing;
 * - `server-error`: `500` with an error page;
 * - `bad-format`: `200` with the right content type, but a body that is not the expected format;
 * - `truncated`: announces a `content-length`, sends half of it, then closes the connection;
 * - `huge`: `200` with a body of 8 MiB, streamed without a `content-length`;
 * - `wrong-content-type`: the genuine answer, labelled `text/html` (SecSign's server may label its
 *   `key=value` answers so: a client works where no vendor source checks the header);
 * - `gateway-page`: `200` with an HTML page labelled `text/html` (a gateway or captive portal):
 *   every client refuses it, by its shape where the vendor's sources check no header.
 *
 * A refused connection is not served by a running server: take the sandbox down with
 * `sandbox.goOffline()`, or with `wireFaults.goOfflineAfter(operation)` right after an answer.
 */
export type WireFault =
  | 'no-answer'
  | 'stalled-body'
  | 'server-error'
  | 'bad-format'
  | 'truncated'
  | 'huge'
  | 'wrong-content-type'
  | 'gateway-page';

export const WIRE_FAULTS: readonly WireFault[] = [
  'no-answer',
  'stalled-body',
  'server-error',
  'bad-format',
  'truncated',
  'huge',
  'wrong-content-type',
  'gateway-page',
];

/** The sandbox's operations, by vendor: what `WireFaults.arm` takes. */
export const SANDBOX_OPERATIONS = [
  'sipgate.send',
  'secsign.requestAuthSession',
  'secsign.getAuthSessionState',
  'secsign.cancelAuthSession',
  'secsign.releaseAuthSession',
  'xignin.discovery',
  'xignin.jwks',
  'xignin.token',
  'xignin.userinfo',
  'xignin.push',
  'xignin.pushStatus',
  'lastwall.verifyApiKey',
  'lastwall.validate',
  'lastwall.preAuthenticate',
  'lastwall.emailAuthenticate',
] as const;
export type SandboxOperation = (typeof SANDBOX_OPERATIONS)[number];

export const HUGE_BODY_BYTES = 8 * 1024 * 1024;

/** Per-operation wire faults: armed ones are served instead of the genuine answer until disarmed. */
export class WireFaults {
  private readonly armed = new Map<SandboxOperation, WireFault>();
  /** Answers left hanging (`no-answer`, `stalled-body`), ended when the sandbox closes. */
  private readonly hanging = new Set<ServerResponse>();
  private offlineAfter: SandboxOperation | undefined;

  /** `stopListening` is how the sandbox refuses new connections (see `goOfflineAfter`). */
  constructor(private readonly stopListening: () => void = () => undefined) {}

  /**
   * The vendor goes down right after answering `operation`: that answer closes its connection,
   * and from then on connections are refused (until `sandbox.goOnline()`). This refuses exactly
   * the operation that follows, e.g. the JWKS fetch after a token request.
   */
  goOfflineAfter(operation: SandboxOperation | undefined): void {
    this.offlineAfter = operation;
  }

  arm(operation: SandboxOperation, fault: WireFault): void {
    if (!SANDBOX_OPERATIONS.includes(operation))
      throw new TypeError(`Unknown sandbox operation "${operation}".`);
    if (!WIRE_FAULTS.includes(fault)) throw new TypeError(`Unknown wire fault "${fault}".`);
    this.armed.set(operation, fault);
  }

  /** Disarms one operation, or all. */
  disarm(operation?: SandboxOperation): void {
    if (operation === undefined) this.armed.clear();
    else this.armed.delete(operation);
  }

  faultOf(operation: SandboxOperation): WireFault | undefined {
    return this.armed.get(operation);
  }

  /**
   * Serves the fault armed for `operation`, if any. Answers true when it took over the response
   * (the route must stop), false when the route answers; `wrong-content-type` lets the route answer
   * and relabels what it sends.
   */
  serve(
    operation: SandboxOperation,
    req: IncomingMessage,
    res: ServerResponse,
    contentType: string,
  ): boolean {
    if (this.offlineAfter === operation) {
      this.offlineAfter = undefined;
      res.setHeader('connection', 'close');
      res.on('finish', () => this.stopListening());
    }
    const fault = this.armed.get(operation);
    if (fault === undefined) return false;
    // A client that gives up closes its socket: the sandbox must not write into it afterwards.
    res.on('error', () => undefined);
    switch (fault) {
      case 'no-answer':
        this.hang(res);
        return true;
      case 'stalled-body':
        res.writeHead(200, { 'content-type': contentType, 'content-length': '4096' });
        res.write(contentType.includes('json') ? '{"status":"' : 'authsessionstate=');
        this.hang(res);
        return true;
      case 'server-error':
        res.writeHead(500, { 'content-type': 'text/html' });
        res.end('<html><body><h1>500 Internal Server Error</h1></body></html>');
        return true;
      case 'bad-format':
        res.writeHead(200, { 'content-type': contentType });
        res.end('<html><body>Not what you asked for</body></html>');
        return true;
      case 'truncated': {
        const body = contentType.includes('json')
          ? '{"status":"OK","padding":"' + 'x'.repeat(200)
          : 'a=b&'.repeat(60);
        res.writeHead(200, { 'content-type': contentType, 'content-length': String(body.length * 2) });
        res.write(body, () => req.socket.destroy());
        return true;
      }
      case 'huge':
        res.writeHead(200, { 'content-type': contentType });
        writeHuge(res, HUGE_BODY_BYTES);
        return true;
      case 'gateway-page':
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<html lang="en"><body><a href="/login?next=1">Welcome to the network</a></body></html>');
        return true;
      case 'wrong-content-type': {
        // A genuine answer without a body (sipgate's 204) has no Content-Type to relabel.
        const setHeader = res.setHeader.bind(res);
        res.setHeader = (name, value) =>
          setHeader(name, name.toLowerCase() === 'content-type' ? 'text/html; charset=utf-8' : value);
        return false;
      }
    }
  }

  /** Ends the answers left hanging. */
  release(): void {
    for (const res of this.hanging) res.destroy();
    this.hanging.clear();
  }

  private hang(res: ServerResponse): void {
    this.hanging.add(res);
    res.on('close', () => this.hanging.delete(res));
  }
}

/** Streams `bytes` of padding, honouring back-pressure, until done or the client hangs up. */
function writeHuge(res: ServerResponse, bytes: number): void {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let left = bytes;
  const pump = () => {
    while (left > 0 && !res.destroyed) {
      left -= chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
}

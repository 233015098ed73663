import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, Response } from 'express';
import { express } from './peers.js';
import { readBody } from './body.js';
import type { WireFaults, SandboxRouter } from './faults.js';
import type { SandboxInbox, SandboxMessage } from './inbox.js';

export interface SipgateSandboxOptions {
  /** Personal access token id the sandbox accepts (default `'token-SANDBX'`). */
  tokenId?: string;
  /** Its token (default: a random UUID per sandbox start). */
  token?: string;
  /** OAuth bearer tokens the sandbox accepts (default: none). */
  accessTokens?: string[];
  /** SMS extension ids that exist (default `['s0']`); others answer 403 as sipgate does. */
  smsIds?: string[];
}

/** Switches that make the sandbox misbehave, for tests. All off by default. */
export interface SipgateFaults {
  /** Answer 402 "insufficient balance". */
  insufficientBalance?: boolean;
  /** Answer this status instead of sending (e.g. 500, 503). */
  failWithStatus?: number;
  /** Wait this long before answering, in ms. */
  latencyMs?: number;
  /** Close the connection without answering. */
  dropConnection?: boolean;
}

export interface SipgateSandbox {
  /** Where a `SipgateSmsSender` points: `${sandbox.url}/sipgate/v2`. */
  readonly baseUrl: string;
  /** Credentials the sandbox accepts, ready for `new SipgateSmsSender(...)`. */
  readonly credentials: { tokenId: string; token: string; smsId: string; baseUrl: string };
  /** The current faults; assign to change them. */
  faults: SipgateFaults;
  /** Requests the sandbox received, valid or not (method, path, status answered). */
  readonly requests: Array<{
    method: string;
    path: string;
    status: number | 'dropped' | 'faulted' | 'pending';
  }>;
  /** The texts sipgate accepted, oldest first. */
  readonly messages: readonly SandboxMessage[];
  /** Resolves with the newest text to `to`, waiting for one to arrive if there is none yet. */
  waitForMessage(to: string, options?: { timeoutMs?: number; since?: Date }): Promise<SandboxMessage>;
}

const E164 = /^\+[1-9]\d{6,14}$/;
const MAX_SEND_AT_S = 30 * 24 * 3600;

/** The sipgate.io REST API's SMS endpoint, with sipgate's own checks and statuses. */
export function createSipgateSandbox(
  baseUrl: string,
  inbox: SandboxInbox,
  options: SipgateSandboxOptions = {},
  wire?: WireFaults,
): { router: SandboxRouter; control: SipgateSandbox } {
  const tokenId = options.tokenId ?? 'token-SANDBX';
  const token = options.token ?? randomUUID();
  const basic = `Basic ${Buffer.from(`${tokenId}:${token}`).toString('base64')}`;
  const bearers = new Set((options.accessTokens ?? []).map((t) => `Bearer ${t}`));
  const smsIds = new Set(options.smsIds ?? ['s0']);
  const control: SipgateSandbox = {
    baseUrl,
    credentials: { tokenId, token, smsId: [...smsIds][0] ?? 's0', baseUrl },
    faults: {},
    requests: [],
    get messages() {
      return inbox.messages.filter((m) => m.channel === 'sms');
    },
    waitForMessage: (to, waitOptions) => inbox.waitFor(to, waitOptions),
  };

  const router = express.Router();
  /** Logs a request on arrival (so a slow answer never lands in a later test's log); answers it later. */
  const arrive = (req: Request) => {
    const logged: SipgateSandbox['requests'][number] = {
      method: req.method,
      path: req.path,
      status: 'pending',
    };
    control.requests.push(logged);
    return {
      logged,
      answer: (res: Response, status: number, message?: string) => {
        logged.status = status;
        if (message === undefined) res.status(status).end();
        else res.status(status).json({ status, message });
      },
    };
  };

  router.all('/sessions/sms', async (req, res) => {
    const faults = control.faults;
    const { logged, answer } = arrive(req);
    if (faults.latencyMs) await sleep(faults.latencyMs);
    if (faults.dropConnection) {
      logged.status = 'dropped';
      req.socket.destroy();
      return;
    }
    if (wire?.serve('sipgate.send', req, res, 'application/json')) return void (logged.status = 'faulted');
    if (req.method !== 'POST') return answer(res, 405, 'Method not allowed');
    const authorization = req.get('authorization') ?? '';
    if (authorization !== basic && !bearers.has(authorization)) return answer(res, 401, 'Unauthorized');
    if (!req.is('application/json')) return answer(res, 415, 'Unsupported media type: send application/json');
    if (faults.failWithStatus) return answer(res, faults.failWithStatus, 'Sandbox fault');

    let body: unknown;
    try {
      body = JSON.parse(await readBody(req, 64 * 1024));
    } catch {
      return answer(res, 400, 'Body is not JSON');
    }
    const { smsId, recipient, message, sendAt } = (body ?? {}) as Record<string, unknown>;
    if (typeof smsId !== 'string' || typeof recipient !== 'string' || typeof message !== 'string') {
      return answer(res, 400, 'smsId, recipient and message are required strings');
    }
    if (!smsIds.has(smsId)) return answer(res, 403, `Invalid SMS extension ${smsId}`);
    if (!E164.test(recipient)) return answer(res, 400, 'recipient must be an E.164 number');
    if (message.trim() === '') return answer(res, 400, 'message is empty');
    if (sendAt !== undefined) {
      const now = Math.floor(Date.now() / 1000);
      if (typeof sendAt !== 'number' || sendAt <= now || sendAt - now > MAX_SEND_AT_S) {
        return answer(res, 400, 'sendAt must be a future Unix time at most 30 days ahead');
      }
    }
    if (faults.insufficientBalance) return answer(res, 402, 'Insufficient balance');
    inbox.add({
      channel: 'sms',
      to: recipient,
      text: message,
      meta: { smsId, ...(sendAt ? { sendAt } : {}) },
    });
    answer(res, 204);
  });
  router.all('/{*rest}', (req, res) => arrive(req).answer(res, 404, 'Not found'));
  return { router: router as unknown as SandboxRouter, control };
}

import { EventEmitter, once } from 'node:events';

/** A message the sandbox delivered: an SMS, and in later flows an email. */
export interface SandboxMessage {
  /** `'sms'` for texts, `'email'` for mails (RISC unlock links). */
  channel: 'sms' | 'email';
  /** The recipient: E.164 for SMS, an address for email. */
  to: string;
  text: string;
  /** When the sandbox accepted it. */
  receivedAt: Date;
  /** Vendor details (e.g. sipgate's `smsId`, `sendAt`). */
  meta: Record<string, unknown>;
}

/** Everything the sandbox "delivered", newest last; tests read it, the phone page shows it. */
export class SandboxInbox {
  readonly messages: SandboxMessage[] = [];
  private readonly events = new EventEmitter();

  add(message: Omit<SandboxMessage, 'receivedAt'>): SandboxMessage {
    const delivered = { ...message, receivedAt: new Date() };
    this.messages.push(delivered);
    this.events.emit('message', delivered);
    return delivered;
  }

  /** Messages to one recipient, newest first. */
  to(recipient: string): SandboxMessage[] {
    return this.messages.filter((m) => m.to === recipient).reverse();
  }

  /** Resolves with the next message to `recipient` that arrives (or the newest one already there after `since`). */
  async waitFor(
    recipient: string,
    options: { timeoutMs?: number; since?: Date } = {},
  ): Promise<SandboxMessage> {
    const { timeoutMs = 5000, since } = options;
    const already = this.to(recipient).find((m) => since === undefined || m.receivedAt >= since);
    if (already) return already;
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      for (;;) {
        const [message] = (await once(this.events, 'message', { signal })) as [SandboxMessage];
        if (message.to === recipient) return message;
      }
    } catch (err) {
      if ((err as Error).name === 'AbortError') {
        throw new Error(`No message to ${recipient} arrived within ${timeoutMs} ms.`);
      }
      throw err;
    }
  }

  clear(): void {
    this.messages.length = 0;
  }
}

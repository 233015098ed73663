/**
 * A passwordless SMS app and its sandbox in a child process, for the S11 timing test. The text is
 * sent after the answer; on a real server that work cannot delay an answer already on the wire to
 * a remote prober. Here client and server share two (busy) cores, so the server runs at a lower
 * priority: its post-answer work then yields to the client reading the answer, as it would on
 * separate machines, instead of being timed as part of that answer.
 */
import type { AddressInfo } from 'node:net';
import type { RequestHandler } from 'express';
import { SmsOtpStrategy } from '../../src/index.js';
import { SipgateSmsSender, smsOtpHandlers, type SmsOtpStrategyOptions } from '../../src/exports/sms-otp.js';
import { startSandbox } from '../../src/sandbox/index.js';
import { appWithPassport, jsonErrors } from './apps.js';

export interface PasswordlessServerData {
  /** Known users: `k<i>` with phone `phones[i]`. */
  phones: string[];
  options?: Partial<Omit<SmsOtpStrategyOptions, 'passReqToCallback'>>;
}

/**
 * `settle`: answers once the text to `phone` (if given) has arrived and the server has been idle
 * for a few ms, so no request is timed while the previous one's delivery is still running.
 */
export type ServerRequest = { id: number; type: 'settle'; phone?: string } | { id: number; type: 'close' };

const { phones, options } = JSON.parse(process.env.PASSWORDLESS_SERVER_DATA!) as PasswordlessServerData;
const reply = (message: object) => process.send!(message);
const sandbox = await startSandbox();
const sender = new SipgateSmsSender(sandbox.sipgate.credentials);
const users = new Map(phones.map((phone, i) => [`k${i}`, { id: `k${i}`, phone }]));

const { app, passport } = appWithPassport({ deserialize: (id) => users.get(id) });
const sms = new SmsOtpStrategy({
  sender,
  getPhoneNumber: (user) => (user as { phone?: string }).phone,
  identify: {
    fromRequest: (req) => {
      const identifier = String(req.body?.username ?? '');
      return { identifier, user: users.get(identifier) };
    },
    byId: (id) => users.get(id),
  },
  ...options,
});
passport.use(sms);
app.post('/send', smsOtpHandlers(sms).send);
app.post('/verify', passport.authenticate('sms-otp', { failWithError: true }) as RequestHandler, (req, res) =>
  res.json({ user: req.user }),
);
app.use(jsonErrors);
const server = app.listen(0, '127.0.0.1');
await new Promise((resolve) => server.once('listening', resolve));

process.on('message', (message: ServerRequest) => {
  void (async () => {
    if (message.type === 'settle') {
      if (message.phone !== undefined) await sandbox.inbox.waitFor(message.phone);
      await new Promise((resolve) => setTimeout(resolve, 3));
      reply({ id: message.id });
    } else {
      server.closeAllConnections();
      server.close();
      await sender.close();
      await sandbox.close();
      reply({ id: message.id });
      process.disconnect();
    }
  })();
});
reply({ port: (server.address() as AddressInfo).port });

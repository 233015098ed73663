import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Agent, request } from 'undici';
import { main } from '../../src/sandbox/cli.js';
import { Browser, freePort, startInstance, type Instance } from '../helpers/instances.js';

const BIN = fileURLToPath(new URL('../../dist/sandbox/bin.js', import.meta.url));
const ALICE = {
  authorization: `Basic ${Buffer.from('alice:correct horse battery staple').toString('base64')}`,
};

/** `passport-factors-sandbox` as its own process: what it printed so far, and its exit. */
function startBin(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, exited, stdout: () => stdout, stderr: () => stderr };
}

/** Waits until the CLI has printed its environment, and reads it as a dotenv file would. */
async function environmentOf(bin: ReturnType<typeof startBin>): Promise<Record<string, string>> {
  const deadline = Date.now() + 15_000;
  while (!bin.stdout().includes('# Ctrl-C stops the sandbox.')) {
    if (bin.child.exitCode !== null) throw new Error(`the CLI exited: ${bin.stderr()}`);
    if (Date.now() > deadline) throw new Error(`the CLI printed no environment: ${bin.stdout()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const env: Record<string, string> = {};
  for (const [, name, quoted, plain] of bin.stdout().matchAll(/^([A-Z_]+)=(?:"([^"]*)"|(.*))$/gm))
    env[name!] = quoted ?? plain!;
  return env;
}

describe('passport-factors-sandbox (the standalone sandbox command)', function () {
  this.timeout(60_000);
  const children: ChildProcess[] = [];
  const instances: Instance[] = [];
  after(async () => {
    for (const instance of instances) await instance.stop();
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('refuses bad arguments with exit code 2 and says which; --help prints the usage', async () => {
    const cases: [string[], RegExp][] = [
      [['--port', 'x'], /--port must be a whole number from 0 to 65535, not "x"/],
      [['--port', '70000'], /--port must be a whole number/],
      [['--redirect-uri', 'ftp://example.test/cb'], /--redirect-uri must be an http\(s\) URL/],
      [['--nope'], /Unknown option '--nope'/],
    ];
    for (const [args, message] of cases) {
      const errors: string[] = [];
      expect(
        await main(
          args,
          () => undefined,
          (line) => errors.push(line),
        ),
        args.join(' '),
      ).to.equal(2);
      expect(errors.join('\n')).to.match(message);
    }
    const printed: string[] = [];
    expect(
      await main(
        ['--help'],
        (line) => printed.push(line),
        () => undefined,
      ),
    ).to.equal(0);
    expect(printed.join('\n')).to.match(/^Usage: passport-factors-sandbox/);
  });

  it('serves every vendor to an app configured only by the environment it prints, and stops on SIGINT', async () => {
    const appPort = await freePort();
    const publicUrl = `http://127.0.0.1:${appPort}`;
    const bin = startBin(['--port', '0', '--redirect-uri', `${publicUrl}/xignin/callback`]);
    children.push(bin.child);
    const printed = await environmentOf(bin);
    const sandboxUrl = /sandbox: (http:\/\/127\.0\.0\.1:\d+)/.exec(bin.stdout())![1]!;
    expect(Object.keys(printed).sort()).to.deep.equal(
      [
        'LASTWALL_BASE_URL',
        'LASTWALL_SECRET',
        'LASTWALL_TOKEN',
        'SECSIGN_SERVER_URLS',
        'SIPGATE_BASE_URL',
        'SIPGATE_SMS_ID',
        'SIPGATE_TOKEN',
        'SIPGATE_TOKEN_ID',
        'XIGNIN_CLIENT_ID',
        'XIGNIN_CLIENT_SECRET',
        'XIGNIN_DECRYPTION_KEY',
        'XIGNIN_MANAGER_URL',
      ].sort(),
    );
    expect(printed.XIGNIN_DECRYPTION_KEY).to.match(
      /^-----BEGIN PRIVATE KEY-----\n[\s\S]+\n-----END PRIVATE KEY-----$/,
    );
    // Saved, the output is a shell script that sets exactly these variables.
    const sourced = spawnSync('bash', ['-c', 'set -a; eval "$OUTPUT"; env -0'], {
      env: { PATH: process.env.PATH, OUTPUT: bin.stdout() },
      encoding: 'utf8',
    });
    expect(sourced.status, sourced.stderr).to.equal(0);
    const shellEnv = Object.fromEntries(
      sourced.stdout
        .split('\0')
        .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
    );
    for (const [name, value] of Object.entries(printed)) expect(shellEnv[name], name).to.equal(value);

    // The example app with every vendor configured starts no sandbox of its own.
    const secret = 'a-session-secret-of-at-least-32-characters';
    const app = await startInstance('app', appPort, {
      ...printed,
      PUBLIC_URL: publicUrl,
      SESSION_SECRET: secret,
      X_TOKEN_SECRET: secret,
      OTP_SECRET: secret,
    });
    instances.push(app);
    expect(app.output()).not.to.include('vendor sandbox:');

    // SMS: the text goes through the standalone sandbox's sipgate API to its phone.
    const dispatcher = new Agent();
    const browser = new Browser(dispatcher);
    expect((await browser.send(app, 'POST', '/sms/login', { headers: ALICE })).status).to.equal(200);
    expect((await browser.send(app, 'POST', '/sms/send', { json: {} })).status).to.equal(202);
    const inbox = await request(`${sandboxUrl}/phone/messages?to=%2B4915790000001`);
    const texts = (await inbox.body.json()) as { text: string }[];
    const code = /\b(\d{6})\b/.exec(texts.at(-1)!.text)![1]!;
    const verified = await browser.send(app, 'POST', '/sms/verify', { json: { code } });
    expect(verified.status, verified.text).to.equal(200);

    // XignIn: the app sends the browser to the standalone manager, as the printed client.
    const login = await browser.send(app, 'GET', '/xignin/login');
    expect(login.status).to.equal(302);
    const authorize = new URL(String(login.headers.location));
    expect(authorize.href.startsWith(printed.XIGNIN_MANAGER_URL!)).to.equal(true);
    expect(authorize.searchParams.get('client_id')).to.equal(printed.XIGNIN_CLIENT_ID);
    await dispatcher.close();

    bin.child.kill('SIGINT');
    const [exitCode] = await bin.exited;
    expect(exitCode).to.equal(0);
    expect(bin.stdout()).to.include('# passport-factors sandbox stopped (SIGINT).');
    const refused = await request(`${sandboxUrl}/phone/messages`).catch((err: Error) => err);
    expect(refused).to.be.instanceOf(Error);
  });

  it('a taken port is exit code 1 with the reason', async () => {
    const first = startBin(['--port', '0']);
    children.push(first.child);
    await environmentOf(first);
    const port = /127\.0\.0\.1:(\d+)/.exec(first.stdout())![1]!;
    const second = startBin(['--port', port]);
    children.push(second.child);
    const [exitCode] = await second.exited;
    expect(exitCode).to.equal(1);
    expect(second.stderr()).to.match(/EADDRINUSE/);
    first.child.kill('SIGTERM');
    expect((await first.exited)[0]).to.equal(0);
  });
});

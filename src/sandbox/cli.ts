/**
 * `passport-factors-sandbox`: every vendor's sandbox as a standalone server, for apps in any
 * language. It prints the environment an app needs (the names the example app reads) and stops
 * cleanly on SIGINT or SIGTERM.
 */
import { parseArgs } from 'node:util';
import { ConfigurationError } from '../errors.js';
import { startSandbox, type Sandbox } from './index.js';

const USAGE = `Usage: passport-factors-sandbox [options]

Serves sipgate.io, SecSign ID, XignIn and Lastwall RISC on one local port, and the phone page
(/phone) where texts arrive and logins are approved. Prints the environment an app needs.

Options:
  --port <n>           port to listen on (default 4000; 0 picks a free one)
  --host <address>     address to listen on (default 127.0.0.1)
  --redirect-uri <url> the app's XignIn callback, registered for the printed client
                       (default http://localhost:3000/xignin/callback)
  -h, --help           this text`;

/**
 * Runs the CLI on `argv`: answers an exit code when it does not start (0 for `--help`, 2 for a
 * usage error, 1 when the port is taken), or the running sandbox.
 */
export async function main(
  argv: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<number | Sandbox> {
  let values: { port?: string; host?: string; 'redirect-uri'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        'redirect-uri': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    err(`passport-factors-sandbox: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const port = values.port === undefined ? 4000 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    err(`passport-factors-sandbox: --port must be a whole number from 0 to 65535, not "${values.port}".`);
    return 2;
  }
  const redirectUri = values['redirect-uri'] ?? 'http://localhost:3000/xignin/callback';
  if (!URL.canParse(redirectUri) || !/^https?:$/.test(new URL(redirectUri).protocol)) {
    err(`passport-factors-sandbox: --redirect-uri must be an http(s) URL, not "${redirectUri}".`);
    return 2;
  }

  let sandbox: Sandbox;
  try {
    sandbox = await startSandbox({ port, host: values.host ?? '127.0.0.1' });
  } catch (error) {
    if (error instanceof ConfigurationError || (error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      err(`passport-factors-sandbox: ${(error as Error).message}`);
      return 1;
    }
    throw error;
  }
  const client = sandbox.xignin.newClient({ redirectUri });
  const decryptionKey = client.decryptionKeys[0]!.key.export({ type: 'pkcs8', format: 'pem' }) as string;
  const { sipgate, lastwall } = sandbox;
  // Every line is a comment or NAME=value: the output, saved, is a dotenv file and a shell script.
  out(`# passport-factors sandbox: ${sandbox.url} (phone page: ${sandbox.url}/phone)`);
  out('# The environment for your app (the names the example app reads):');
  out(`SIPGATE_BASE_URL=${sipgate.credentials.baseUrl}`);
  out(`SIPGATE_TOKEN_ID=${sipgate.credentials.tokenId}`);
  out(`SIPGATE_TOKEN=${sipgate.credentials.token}`);
  out(`SIPGATE_SMS_ID=${sipgate.credentials.smsId}`);
  out(`SECSIGN_SERVER_URLS=${sandbox.secsign.serverUrls.join(',')}`);
  out(`XIGNIN_MANAGER_URL=${client.managerUrl}`);
  out(`XIGNIN_CLIENT_ID=${client.clientId}`);
  out(`XIGNIN_CLIENT_SECRET=${client.clientSecret}`);
  out(`# (the XignIn client accepts the redirect URI ${redirectUri} only)`);
  // A PEM spans lines: quoted, as dotenv files and `set -a; . file` in a shell both read it.
  out(`XIGNIN_DECRYPTION_KEY="${decryptionKey.trim()}"`);
  out(`LASTWALL_BASE_URL=${lastwall.credentials.baseUrl}`);
  out(`LASTWALL_TOKEN=${lastwall.credentials.token}`);
  out(`LASTWALL_SECRET=${lastwall.credentials.secret}`);
  out('# Ctrl-C stops the sandbox.');
  return sandbox;
}

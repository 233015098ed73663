import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Every runtime export of every entry point, in full: a name added or removed here is a change to
 * the public surface (the API report in `api/` pins the types the same way: `npm run api:check`).
 */
const ENTRIES: Record<string, string[]> = {
  'passport-factors': [
    'AuthenticationFailure',
    'BasicLoginStrategy',
    'ConfigurationError',
    'InvalidPhoneNumberError',
    'PassportFactorsError',
    'RiscStrategy',
    'SecSignStrategy',
    'SmsOtpStrategy',
    'StoreError',
    'TotpStrategy',
    'VendorError',
    'WebAuthnStrategy',
    'XTokenStrategy',
    'XignInStrategy',
    'jsonErrors',
    'respondJson',
  ],
  'passport-factors/basic-login': ['BasicLoginStrategy'],
  'passport-factors/x-token': ['XTokenManager', 'XTokenStrategy', 'xTokenHandlers'],
  'passport-factors/sms-otp': [
    'OneTimeCodes',
    'SipgateSmsSender',
    'SmsOtpStrategy',
    'normalizeSmsNumber',
    'smsOtpHandlers',
  ],
  'passport-factors/totp': ['TotpFactor', 'TotpStrategy', 'totpHandlers'],
  'passport-factors/secsign': [
    'SecSignClient',
    'SecSignError',
    'SecSignState',
    'SecSignStrategy',
    'secSignHandlers',
  ],
  'passport-factors/xignin': ['IdTokenVerifier', 'XignInClient', 'XignInStrategy', 'xignInHandlers'],
  'passport-factors/risc': ['LastwallClient', 'RiscStrategy', 'RiskStepUp'],
  'passport-factors/partial-login': ['PartialLogin', 'RememberedBrowsers'],
  'passport-factors/webauthn': ['WebAuthnCeremonies', 'WebAuthnStrategy', 'webauthnHandlers'],
  'passport-factors/stores': ['MemoryStore', 'RedisStore'],
  'passport-factors/sandbox': [
    'SANDBOX_OPERATIONS',
    'SandboxInbox',
    'WIRE_FAULTS',
    'WireFaults',
    'startSandbox',
  ],
};

/** Internals that were public once: parsers, wire constants, decisions the strategies make for you. */
const INTERNALS = [
  'LASTWALL_SIGNATURE_ORDER',
  'parseSecSignResponse',
  'decideSecSignState',
  'secSignStateName',
  'isSecSignState',
  'decryptRiscSnapshot',
  'normalizeSecSignId',
  'DEFAULT_SMS_NUMBER_TYPES',
  'parseBasicAuthorization',
  'MAX_BASIC_HEADER_LENGTH',
  'maskPhoneNumber',
  'sampleSmsNumber',
  'allowedCountriesOption',
  'secretBytes',
  'FactorStrategy',
  'setHeaders',
  'VendorHttp',
  'CryptoKeyCache',
  'FailureThrottle',
  'StartLimit',
  'toError',
  'sendJson',
  'nameOption',
  'originCheck',
  'sessionOf',
  'invokeVerify',
  'assertKey',
  'ROLLING_MAX_PREDECESSORS',
  'HUGE_BODY_BYTES',
  'encryptSnapshot',
  'SmsOtpFlow',
  'SecSignLogins',
  'XignInLogins',
  'secSignParts',
  'xignInParts',
  'setTokenHeaders',
  'authInfo',
  'createLimiter',
  'readRecord',
];

/** Runs a snippet in a separate Node process from the package root, resolving `passport-factors` by name. */
async function node(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, args, {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return stdout.trim();
}

/** Each entry's export names, loaded by `import` or by `require` in a fresh process. */
async function exportsBy(how: 'import' | 'require'): Promise<Record<string, string[]>> {
  const names = JSON.stringify(Object.keys(ENTRIES));
  const load = how === 'import' ? 'await import(name)' : 'require(name)';
  const script = `const out = {}; for (const name of ${names}) out[name] = Object.keys(${load}).sort(); console.log(JSON.stringify(out));`;
  return JSON.parse(
    await node([...(how === 'import' ? ['--input-type=module'] : []), '-e', script]),
  ) as Record<string, string[]>;
}

describe('the built package (dist/) by its public names', () => {
  before(function () {
    if (!existsSync(new URL('../../dist/index.js', import.meta.url))) {
      throw new Error('dist/ is missing: `npm test` builds first; run `npm run build` before mocha alone.');
    }
  });

  it('package.json maps exactly these entry points, each to built code and declarations', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
    };
    const subpaths = Object.keys(ENTRIES).map((name) => name.replace(/^passport-factors/, '.'));
    expect(Object.keys(pkg.exports).sort()).to.deep.equal([...subpaths, './package.json'].sort());
    for (const subpath of subpaths) {
      const target = pkg.exports[subpath] as { types: string; default: string };
      expect(Object.keys(target), subpath).to.deep.equal(['types', 'default']);
      expect(existsSync(new URL(`../../${target.types}`, import.meta.url)), target.types).to.equal(true);
      expect(existsSync(new URL(`../../${target.default}`, import.meta.url)), target.default).to.equal(true);
    }
  });

  for (const how of ['import', 'require'] as const) {
    it(`${how}: every entry exports exactly its public names, and no internal anywhere`, async () => {
      const loaded = await exportsBy(how);
      const expected = Object.fromEntries(
        Object.entries(ENTRIES).map(([name, list]) => [name, [...list].sort()]),
      );
      expect(loaded).to.deep.equal(expected);
      const leaked = Object.entries(loaded).flatMap(([name, list]) =>
        list.filter((n) => INTERNALS.includes(n)).map((n) => `${name}: ${n}`),
      );
      expect(leaked).to.deep.equal([]);
    });
  }

  it('an internal module is not reachable by a deep import', async () => {
    const out = await node([
      '--input-type=module',
      '-e',
      `for (const deep of ['passport-factors/dist/clients/secsign.js', 'passport-factors/core/secsign', 'passport-factors/dist/index.js'])
         await import(deep).then(() => console.log('loaded ' + deep), (err) => console.log(err.code));`,
    ]);
    expect(out.split('\n')).to.deep.equal([
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
      'ERR_PACKAGE_PATH_NOT_EXPORTED',
    ]);
  });

  it('a strategy is one class whichever entry it comes from (instanceof holds across entries)', async () => {
    const out = await node([
      '--input-type=module',
      '-e',
      `const rootEntry = await import('passport-factors');
       const pairs = [['XTokenStrategy', 'x-token'], ['BasicLoginStrategy', 'basic-login'], ['SmsOtpStrategy', 'sms-otp'],
         ['SecSignStrategy', 'secsign'], ['XignInStrategy', 'xignin'], ['RiscStrategy', 'risc']];
       const same = [];
       for (const [name, entry] of pairs) same.push((await import('passport-factors/' + entry))[name] === rootEntry[name]);
       const { SecSignError } = await import('passport-factors/secsign');
       console.log(JSON.stringify({ same, vendorError: SecSignError.prototype instanceof rootEntry.VendorError }));`,
    ]);
    expect(JSON.parse(out)).to.deep.equal({ same: [true, true, true, true, true, true], vendorError: true });
  });

  it('the example app and the benchmarks use the package only through its entry points', () => {
    const entries = new Set(Object.keys(ENTRIES));
    const offenders: string[] = [];
    for (const dir of ['example-app', 'bench']) {
      for (const file of readdirSync(new URL(`../../${dir}/`, import.meta.url)).filter((f) =>
        f.endsWith('.js'),
      )) {
        const text = readFileSync(new URL(`../../${dir}/${file}`, import.meta.url), 'utf8');
        for (const [, specifier] of text.matchAll(/(?:from |import\()'([^']+)'/g)) {
          const ours = specifier!.startsWith('passport-factors') && !entries.has(specifier!);
          const inside = /^\.\.?\/.*\b(src|dist)\//.test(specifier!);
          if (ours || inside) offenders.push(`${dir}/${file}: ${specifier}`);
        }
      }
    }
    expect(offenders).to.deep.equal([]);
  });

  it('a required strategy works with Passport: registers under its name', async () => {
    const out = await node([
      '-e',
      `const passport = require('passport');
       const { XTokenStrategy } = require('passport-factors/x-token');
       const { BasicLoginStrategy } = require('passport-factors/basic-login');
       passport.use(new XTokenStrategy({ secret: 'x'.repeat(32) }, (p) => ({ id: p.sub })));
       passport.use(new BasicLoginStrategy(() => false));
       console.log(Object.keys(passport._strategies).sort().join(','));`,
    ]);
    expect(out).to.equal('basic-login,session,x-token');
  });
});

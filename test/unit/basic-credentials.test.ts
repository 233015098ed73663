import { expect } from 'chai';
import { AuthenticationFailure } from '../../src/index.js';
import { parseBasicAuthorization } from '../../src/core/basic-credentials.js';

const basic = (raw: string | Buffer) => `Basic ${Buffer.from(raw).toString('base64')}`;

function failureOf(header: string): AuthenticationFailure {
  try {
    parseBasicAuthorization(header);
  } catch (err) {
    expect(err).to.be.instanceOf(AuthenticationFailure);
    return err as AuthenticationFailure;
  }
  throw new Error(`expected ${JSON.stringify(header)} to be refused`);
}

describe('parseBasicAuthorization (RFC 7617)', () => {
  it('B8: splits at the FIRST colon, so passwords may contain colons', () => {
    expect(parseBasicAuthorization(basic('user:pa:ss'))).to.deep.equal({
      username: 'user',
      password: 'pa:ss',
    });
  });

  it('reads the scheme case-insensitively and allows an empty password', () => {
    expect(parseBasicAuthorization(`bAsIc ${Buffer.from('bob:').toString('base64')}`)).to.deep.equal({
      username: 'bob',
      password: '',
    });
  });

  it('decodes UTF-8 and NFC-normalises both parts', () => {
    // "é" written as e + combining acute accent (NFD) comes out as the single code point (NFC).
    const parsed = parseBasicAuthorization(basic('Jose\u0301:pässwörd€'));
    expect(parsed).to.deep.equal({ username: 'Jos\u00e9', password: 'pässwörd€' });
  });

  it('answers undefined for no header or another scheme, so other strategies may try', () => {
    expect(parseBasicAuthorization(undefined)).to.equal(undefined);
    expect(parseBasicAuthorization('')).to.equal(undefined);
    expect(parseBasicAuthorization('Bearer abc.def.ghi')).to.equal(undefined);
  });

  const malformed: Array<[string, string]> = [
    ['"Basic" without a token', 'Basic'],
    ['bad base64 characters', 'Basic !!!!'],
    ['base64 without padding', `Basic ${Buffer.from('a:b').toString('base64').replace(/=+$/, '')}x`],
    ['no colon', basic('justauser')],
    ['an empty user-id', basic(':password')],
    ['a NUL byte', basic('us\u0000er:pw')],
    ['a newline in the password', basic('user:pa\nss')],
    ['a DEL character', basic('user:pa\u007fss')],
    ['a C1 control', basic('user:pa\u0085ss')],
    ['invalid UTF-8', basic(Buffer.from([0x75, 0x3a, 0xff, 0xfe]))],
    ['an oversized header', `Basic ${'A'.repeat(5000)}`],
  ];
  for (const [what, header] of malformed) {
    it(`B8: refuses ${what} with 400 missing_credentials, never a crash`, () => {
      const failure = failureOf(header);
      expect(failure.code).to.equal('missing_credentials');
      expect(failure.status).to.equal(400);
    });
  }
});

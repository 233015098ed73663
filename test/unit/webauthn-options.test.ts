import { expect } from 'chai';
import { ConfigurationError, WebAuthnStrategy } from '../../src/index.js';
import { webauthnHandlers, type WebAuthnStrategyOptions } from '../../src/exports/webauthn.js';

const callbacks = {
  findCredential: () => undefined,
  listCredentials: () => [],
  saveCredential: () => {},
  updateCredential: () => {},
};
const valid: Omit<WebAuthnStrategyOptions, 'passReqToCallback'> = {
  rpID: 'example.com',
  rpName: 'Example',
  origins: 'https://example.com',
  ...callbacks,
};
const verify = (userId: string) => ({ id: userId });

function refused(options: unknown, message: RegExp): void {
  expect(() => new WebAuthnStrategy(options as typeof valid, verify))
    .to.throw(ConfigurationError)
    .with.property('message')
    .that.matches(message);
}

describe('WebAuthnStrategy options', () => {
  it('defaults: name webauthn, userVerification preferred, challenges valid 300 s', () => {
    const strategy = new WebAuthnStrategy(valid, verify);
    expect(strategy.name).to.equal('webauthn');
    expect(strategy.ceremonies.userVerification).to.equal('preferred');
    expect(strategy.ceremonies.challengeTtlSeconds).to.equal(300);
    expect(strategy.ceremonies.origins).to.deep.equal(['https://example.com']);
    expect(new WebAuthnStrategy({ ...valid, name: 'passkey' }, verify).name).to.equal('passkey');
  });

  it('requires rpID (a host name), rpName and origins (scheme, host, port only)', () => {
    refused({ ...valid, rpID: undefined }, /`rpID` is required/);
    refused({ ...valid, rpID: 'https://example.com' }, /`rpID`/);
    refused({ ...valid, rpName: undefined }, /`rpName`/);
    refused({ ...valid, origins: undefined }, /`origins` is required/);
    refused({ ...valid, origins: [] }, /`origins`/);
    refused({ ...valid, origins: ['https://example.com/login'] }, /`origins`/);
    refused({ ...valid, origins: ['ftp://example.com'] }, /`origins`/);
    expect(
      new WebAuthnStrategy(
        { ...valid, origins: ['https://example.com', 'https://m.example.com:8443'] },
        verify,
      ).ceremonies.origins,
    ).to.deep.equal(['https://example.com', 'https://m.example.com:8443']);
  });

  it('requires the four credential callbacks and the verify function', () => {
    for (const name of ['findCredential', 'listCredentials', 'saveCredential', 'updateCredential'])
      refused({ ...valid, [name]: undefined }, new RegExp(`\`${name}\` is required`));
    expect(() => new WebAuthnStrategy(valid, undefined as never)).to.throw(ConfigurationError, /`verify`/);
  });

  it('refuses unknown userVerification / residentKey values, a bad TTL, and a store without the Store methods', () => {
    refused({ ...valid, userVerification: 'always' }, /`userVerification` must be one of/);
    refused({ ...valid, residentKey: true }, /`residentKey` must be one of/);
    refused({ ...valid, challengeTtlSeconds: 0 }, /`challengeTtlSeconds`/);
    refused({ ...valid, store: { get() {} } }, /`store` must implement the Store interface/);
    refused({ ...valid, onEvent: 'log' }, /`onEvent`/);
    refused(null, /options are required/);
  });

  it('webauthnHandlers takes only a WebAuthnStrategy', () => {
    expect(() => webauthnHandlers({} as never)).to.throw(ConfigurationError, /WebAuthnStrategy/);
    expect(() => webauthnHandlers(new WebAuthnStrategy(valid, verify), { respond: 1 as never })).to.throw(
      ConfigurationError,
      /`respond`/,
    );
  });
});

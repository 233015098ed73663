import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { exampleInBrowser } from '../helpers/example.js';

// WebAuthn needs a host name (an IP address is no RP ID) in a secure context: the example app on
// loopback is served as http://localhost, which browsers treat as secure.
describe('example app in Chromium: passkeys with the DevTools virtual authenticator', function () {
  const env = exampleInBrowser();
  const siteUrl = () => env.example.baseUrl.replace('127.0.0.1', 'localhost');

  /** A page with a platform authenticator that holds passkeys and verifies the user (a fingerprint). */
  async function pageWithAuthenticator(context: BrowserContext) {
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    const credentials = async () =>
      (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
    return { page, credentials };
  }

  async function passwordLogin(page: Page) {
    await page.goto(siteUrl());
    await page.fill('#risk-username', 'alice');
    await page.fill('#risk-password', 'correct horse battery staple');
    await page.click('#risk-login');
  }

  async function logout(page: Page) {
    const status = await page.evaluate(async () => (await fetch('/risk/logout', { method: 'POST' })).status);
    expect(status).to.equal(200);
  }

  it('registers a passkey after the password login, logs in with it alone, and steps up a risky login with it', async () => {
    const { sandbox } = env.example;
    sandbox.lastwall.setRisk('u1', 'passed');
    const context = await env.browser.newContext();
    const { page, credentials } = await pageWithAuthenticator(context);

    await passwordLogin(page);
    await page.waitForSelector('text=Logged in: the risk check passed');
    await page.click('#passkey-register');
    await page.waitForSelector('text=Passkey added. You can log in with it now.');
    const stored = await credentials();
    expect(stored).to.have.length(1);
    expect(stored[0]!.isResidentCredential, 'a discoverable credential: a passkey').to.equal(true);
    expect(stored[0]!.rpId).to.equal('localhost');

    // First factor: no user name, the browser offers the site's passkey.
    await logout(page);
    await page.goto(siteUrl());
    await page.click('#passkey-login');
    await page.waitForSelector('text=Logged in with a passkey as Alice Example.');
    const me = await page.evaluate(async () => {
      const response = await fetch('/passkeys/me');
      return { status: response.status, body: await response.json() };
    });
    expect(me).to.deep.equal({
      status: 200,
      body: { user: { id: 'u1', username: 'alice', name: 'Alice Example' }, method: 'webauthn' },
    });
    expect((await credentials())[0]!.signCount, 'the authenticator signed twice').to.be.greaterThan(0);

    // Risky: the passkey is the first step-up offered, and it completes the login.
    await logout(page);
    sandbox.lastwall.setRisk('u1', 'risky');
    await passwordLogin(page);
    await page.waitForSelector('text=This login looks unusual. Confirm it with a second factor.');
    const firstOffer = await page.locator('#risk-step-up .actions button').first().getAttribute('id');
    expect(firstOffer).to.equal('risk-passkey');
    await page.click('#risk-passkey');
    await page.waitForSelector('text=Logged in after a second factor.');
    const cleared = await page.evaluate(async () => (await fetch('/risk/me')).status);
    expect(cleared).to.equal(200);
    await page.screenshot({ path: '.e2e-artifacts/webauthn-step-up.png' });
    await context.close();
  });
});

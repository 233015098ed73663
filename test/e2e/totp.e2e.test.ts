import { expect } from 'chai';
import { URI, type TOTP } from 'otpauth';
import type { Page } from 'playwright-core';
import { exampleInBrowser } from '../helpers/example.js';

/** What the user's authenticator app shows, `offsetSec` from now, for the URI the page offered. */
function appCode(uri: string, offsetSec = 0): string {
  return (URI.parse(uri) as TOTP).generate({ timestamp: Date.now() + offsetSec * 1000 });
}

describe('example app in Chromium: an authenticator app (TOTP)', function () {
  const env = exampleInBrowser();

  async function passwordStep(page: Page, username: string, password: string) {
    await page.goto(env.example.baseUrl);
    await page.fill('#totp-username', username);
    await page.fill('#totp-password', password);
    await page.click('#totp-login');
  }

  /** Sets up the app for this account in the TOTP card; answers the otpauth:// URI the page showed. */
  async function enroll(page: Page, username: string, password: string): Promise<string> {
    await passwordStep(page, username, password);
    await page.waitForSelector('text=Scan the QR code with your authenticator app');
    const qrWidth = await page.$eval(
      '#totp-qr',
      (img) => (img as unknown as { naturalWidth: number }).naturalWidth,
    );
    expect(qrWidth, 'the QR image loaded').to.be.greaterThan(0);
    const uri = (await page.getAttribute('#totp-uri', 'href'))!;
    expect(uri).to.match(/^otpauth:\/\/totp\/passport-factors%20demo:/);
    const key = (await page.textContent('#totp-key'))!.replace(/\s+/g, '');
    expect(new URL(uri).searchParams.get('secret')).to.equal(key);
    await page.fill('#totp-confirm-code', appCode(uri));
    await page.click('#totp-confirm');
    await page.waitForSelector('text=Authenticator app set up.');
    return uri;
  }

  it('enrolls with the QR/URI, logs in with a code computed by the test, then a recovery code works once', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    const uri = await enroll(page, 'alice', 'correct horse battery staple');
    await page.screenshot({ path: '.e2e-artifacts/totp-enrolled.png' });
    // The confirming code is used up; the app's next code (30 s on, within the ±1 step window) logs in.
    const next = appCode(uri, 30);
    await page.fill('#totp-code', next);
    await page.click('#totp-verify');
    await page.waitForSelector('text=Logged in as Alice Example with password and authenticator code.');
    const me = await page.evaluate(async () => (await fetch('/totp/me')).json());
    expect(me).to.deep.include({ factors: ['basic-login', 'totp'] });

    await page.click('#totp-recovery');
    await page.waitForSelector('text=Recovery codes: write them down now');
    const recoveryCodes = (await page.textContent('#totp-recovery-codes'))!.split('\n');
    expect(recoveryCodes).to.have.length(10);
    await page.screenshot({ path: '.e2e-artifacts/totp-logged-in.png' });
    await context.close();

    // Another browser: the same code again is refused as used; a recovery code logs in, once.
    const other = await env.browser.newContext();
    const page2 = await other.newPage();
    await passwordStep(page2, 'alice', 'correct horse battery staple');
    await page2.waitForSelector('text=Enter the code from your authenticator app.');
    await page2.fill('#totp-code', next);
    await page2.click('#totp-verify');
    await page2.waitForSelector('text=That code was already used.');
    await page2.fill('#totp-code', recoveryCodes[0]!);
    await page2.click('#totp-verify');
    await page2.waitForSelector('text=Logged in as Alice Example with password and authenticator code.');
    await other.close();

    const third = await env.browser.newContext();
    const page3 = await third.newPage();
    await passwordStep(page3, 'alice', 'correct horse battery staple');
    await page3.waitForSelector('text=Enter the code from your authenticator app.');
    await page3.fill('#totp-code', recoveryCodes[0]!);
    await page3.click('#totp-verify');
    await page3.waitForSelector('text=That code is wrong.');
    const me3 = await page3.evaluate(async () => (await fetch('/totp/me')).status);
    expect(me3, 'the password alone is no login').to.equal(401);
    await third.close();
  });

  it('RISC risky: the step-up accepts a code from the authenticator app; a password alone cannot replace it', async () => {
    const { sandbox } = env.example;
    const context = await env.browser.newContext();
    const page = await context.newPage();
    const uri = await enroll(page, 'bob', 'pa:ss with a colon');
    sandbox.lastwall.setRisk('u2', 'risky');
    await page.fill('#risk-username', 'bob');
    await page.fill('#risk-password', 'pa:ss with a colon');
    await page.click('#risk-login');
    await page.waitForSelector('text=This login looks unusual. Confirm it with a second factor.');
    await page.fill('#risk-totp-code', appCode(uri, 30));
    await page.click('#risk-totp-verify');
    await page.waitForSelector('text=Logged in after a second factor (authenticator code).');
    expect(await page.evaluate(async () => (await fetch('/risk/me')).status)).to.equal(200);
    await context.close();

    // Someone with bob's password only, in another browser: no new authenticator for them.
    const attacker = await env.browser.newContext();
    const page2 = await attacker.newPage();
    await passwordStep(page2, 'bob', 'pa:ss with a colon');
    await page2.waitForSelector('text=Enter the code from your authenticator app.');
    const res = await page2.evaluate(async () => {
      const response = await fetch('/totp/enroll', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: '{}',
      });
      return { status: response.status, code: ((await response.json()) as { code?: string }).code };
    });
    expect(res).to.deep.equal({ status: 403, code: 'factors_required' });
    await attacker.close();
  });
});

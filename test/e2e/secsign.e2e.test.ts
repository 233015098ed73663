import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { exampleInBrowser } from '../helpers/example.js';

describe('example app in Chromium: Sign in with SecSign ID', function () {
  const env = exampleInBrowser();

  /** Starts a SecSign login in one tab and opens the sandbox phone in a second; answers the access pass. */
  async function startAndOpenPhone(
    context: BrowserContext,
    secsignId: string,
  ): Promise<{ page: Page; phone: Page; accessPass: string }> {
    const page = await context.newPage();
    await page.goto(env.example.baseUrl);
    await page.fill('#secsign-id', secsignId);
    await page.click('#secsign-start');
    await page.waitForSelector('#secsign-access-pass', { state: 'visible' });
    const accessPass = (await page.getAttribute('#secsign-access-pass', 'src'))!;
    expect(accessPass).to.match(/^data:image\/png;base64,/);
    const phone = await context.newPage();
    await phone.goto((await page.getAttribute('.sandbox-phone-link', 'href'))!);
    await phone.waitForSelector(`form[data-secsignid="${secsignId}"]`);
    return { page, phone, accessPass };
  }

  it('start, pick the matching symbol on the sandbox phone, and the first tab lands logged in', async () => {
    const context = await env.browser.newContext();
    const { page, phone, accessPass } = await startAndOpenPhone(context, 'alice');
    await page.waitForSelector('text=Your phone has the request. Pick the matching symbol.');
    await phone.screenshot({ path: '.e2e-artifacts/secsign-phone.png' });
    await phone.click(`form[data-secsignid="alice"] button.symbol:has(img[src="${accessPass}"])`);
    await page.waitForSelector('text=Logged in as Alice Example with SecSign ID.');
    await page.screenshot({ path: '.e2e-artifacts/secsign-logged-in.png' });
    await context.close();
  });

  it('driven through the control API (sandbox.secsign.approve) instead of the phone page', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await page.goto(env.example.baseUrl);
    await page.fill('#secsign-id', 'bob');
    await page.click('#secsign-start');
    await page.waitForSelector('#secsign-access-pass', { state: 'visible' });
    env.example.sandbox.secsign.approve('bob');
    await page.waitForSelector('text=Logged in as Bob Example with SecSign ID.');
    await context.close();
  });

  it('picking a wrong symbol shows "denied"', async () => {
    const context = await env.browser.newContext();
    const { page, phone, accessPass } = await startAndOpenPhone(context, 'bob');
    const wrong = phone
      .locator(`form[data-secsignid="bob"] button.symbol:not(:has(img[src="${accessPass}"]))`)
      .first();
    await wrong.click();
    await page.waitForSelector('text=The login was denied on your phone.');
    const me = await page.evaluate(async () => (await fetch('/sms/me')).status);
    expect(me, 'nobody is logged in').to.equal(401);
    await context.close();
  });
});

import { expect } from 'chai';
import type { BrowserContext } from 'playwright-core';
import { exampleInBrowser } from '../helpers/example.js';

/**
 * Every page a newcomer opens, loaded fresh in Chromium: nothing in the console (no failed
 * request, no CSP violation, no script error), and a screenshot kept under .e2e-artifacts/.
 */
describe('every page in Chromium loads with zero console errors', function () {
  const env = exampleInBrowser();

  async function errorsOf(context: BrowserContext, url: string, screenshot: string): Promise<string[]> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`${message.location().url}: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('requestfailed', (request) => errors.push(`${request.url()}: ${request.failure()?.errorText}`));
    await page.goto(url, { waitUntil: 'networkidle' });
    await page.screenshot({ path: `.e2e-artifacts/${screenshot}.png`, fullPage: true });
    await page.close();
    return errors;
  }

  it('the example app, the sandbox start page and the sandbox phone', async () => {
    const context = await env.browser.newContext();
    // Something on the phone: a SecSign request and a named user on the risk dial.
    env.example.sandbox.lastwall.nameUser('u1', 'alice');
    const pages: [string, string][] = [
      [env.example.baseUrl, 'example-app'],
      [env.example.sandbox.url, 'sandbox-start'],
      [`${env.example.sandbox.url}/phone`, 'sandbox-phone-empty'],
    ];
    for (const [url, name] of pages)
      expect(await errorsOf(context, url, name), `${name} (${url})`).to.deep.equal([]);
    await context.close();
  });
});

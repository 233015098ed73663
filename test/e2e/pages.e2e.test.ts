import { AxeBuilder } from '@axe-core/playwright';
import { expect } from 'chai';
import type { BrowserContext } from 'playwright-core';
import { SecSignClient } from '../../src/exports/secsign.js';
import { SipgateSmsSender } from '../../src/exports/sms-otp.js';
import { exampleInBrowser } from '../helpers/example.js';

/**
 * Every page a newcomer opens, loaded fresh in Chromium: nothing in the console (no failed
 * request, no CSP violation, no script error), no serious or critical axe-core violation, and a
 * screenshot kept under .e2e-artifacts/.
 */
describe('every page in Chromium loads with zero console errors and no serious accessibility violation', function () {
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
    // axe-core (WCAG 2.1 A and AA rules): no serious or critical violation.
    const { violations } = await new AxeBuilder({ page })
      .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'])
      .analyze();
    for (const violation of violations.filter((v) => v.impact === 'serious' || v.impact === 'critical'))
      errors.push(
        `axe ${violation.id} (${violation.impact}): ${violation.help}: ${violation.nodes.map((n) => n.target.join(' ')).join(', ')}`,
      );
    await page.close();
    return errors;
  }

  it('the example app, the sandbox start page, the phone (empty and busy), the XignIn authorize page', async () => {
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

    // The phone with something on every app, and the XignIn authorize page.
    const { sandbox } = env.example;
    const secsign = new SecSignClient({ serverUrls: sandbox.secsign.serverUrls });
    await secsign.requestAuthSession({
      secsignId: 'alice',
      serviceName: 'Shop',
      serviceAddress: 'https://shop.test',
    });
    await secsign.close();
    await new SipgateSmsSender(sandbox.sipgate.credentials).send('+4915790000001', 'Your code: 123456');
    const client = sandbox.xignin.newClient({ redirectUri: `${env.example.baseUrl}/xignin/callback` });
    const authorize = `${client.managerUrl}/openid/authenticate?${new URLSearchParams({
      client_id: client.clientId,
      redirect_uri: client.redirectUri,
      response_type: 'code',
      scope: 'openid',
    })}`;
    expect(await errorsOf(context, authorize, 'xignin-authorize-page'), 'the authorize page').to.deep.equal(
      [],
    );
    expect(
      await errorsOf(context, `${sandbox.url}/phone`, 'sandbox-phone-busy'),
      'the busy phone',
    ).to.deep.equal([]);
    await context.close();
  });
});

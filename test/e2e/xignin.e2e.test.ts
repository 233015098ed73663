import { expect } from 'chai';
import type { BrowserContext, Page } from 'playwright-core';
import { exampleInBrowser } from '../helpers/example.js';

describe('example app in Chromium: Log in with XignIn', function () {
  const env = exampleInBrowser();

  /** The sandbox phone in a second tab: approve the pending XignIn login as `user`. */
  async function approveOnPhone(context: BrowserContext, kind: 'qr', user: string): Promise<Page> {
    const phone = await context.newPage();
    await phone.goto(`${env.example.sandbox.url}/phone`);
    await phone.click(`form.xignin[data-kind="${kind}"] button[value="${user}"]`);
    return phone;
  }

  it('QR flow: the page shows the manager’s QR code, the phone approves, the page is logged in with the claims', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(env.example.baseUrl);
    await page.click('#xignin-show-qr');
    await page.waitForSelector('#xignin-qr-container img.xignin-qr');
    expect(await page.getAttribute('#xignin-qr-container img.xignin-qr', 'src')).to.match(
      /^data:image\/png;base64,/,
    );
    await page.screenshot({ path: '.e2e-artifacts/xignin-qr.png' });
    await approveOnPhone(context, 'qr', 'alice');
    await page.waitForSelector('text=Logged in as Alice Example with XignIn (QR code).');
    const claims = JSON.parse((await page.textContent('#xignin-claims'))!);
    expect(claims).to.include({
      sub: 'xign-7f3a1c',
      iss: env.example.sandbox.xignin.issuer,
      aud: 'passport-factors-demo',
    });
    expect(errors).to.deep.equal([]);
    await context.close();
  });

  it('QR flow: a denial on the phone shows in the card’s status line, not "scan the QR code"', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await page.goto(env.example.baseUrl);
    await page.click('#xignin-show-qr');
    await page.waitForSelector('#xignin-qr-container img.xignin-qr');
    await approveOnPhone(context, 'qr', 'deny');
    await page.waitForSelector('#xignin-message:has-text("XignIn: The login was denied.")');
    await context.close();
  });

  it('redirect flow: the link goes to XignIn, the phone approves, the browser comes back logged in', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    // What the sandbox's own pages (the authorize page, the phone) log as errors: nothing.
    const sandboxErrors: string[] = [];
    context.on('console', (message) => {
      if (message.type() === 'error' && message.location().url.startsWith(env.example.sandbox.url))
        sandboxErrors.push(`${message.location().url}: ${message.text()}`);
    });
    context.on('weberror', (error) => sandboxErrors.push(error.error().message));
    await page.goto(env.example.baseUrl);
    await page.click('#xignin-redirect');
    await page.waitForURL(`${env.example.sandbox.xignin.issuer}/openid/authenticate?**`);
    await page.waitForSelector('#xignin-qr');
    // Styled by its own style sheet under its CSP (an inline style was blocked: Times, unstyled).
    expect(await page.evaluate('getComputedStyle(document.body).fontFamily')).to.match(/system-ui/);
    expect(await page.getAttribute('a[href$="/phone"]', 'href')).to.equal(`${env.example.sandbox.url}/phone`);
    await page.screenshot({ path: '.e2e-artifacts/xignin-authorize.png' });
    const phone = await approveOnPhone(context, 'qr', 'bob');
    await phone.screenshot({ path: '.e2e-artifacts/sandbox-phone.png' });
    await page.waitForURL(`${env.example.baseUrl}/#xignin`);
    await page.waitForSelector('text=Logged in as Bob Example with XignIn (redirect).');
    await page.screenshot({ path: '.e2e-artifacts/xignin-redirect.png' });
    expect(sandboxErrors).to.deep.equal([]);
    await context.close();
  });

  it('redirect flow driven through the control API (sandbox.xignin.approve) instead of the phone page', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await page.goto(env.example.baseUrl);
    await page.click('#xignin-redirect');
    await page.waitForSelector('#xignin-qr');
    const [login] = env.example.sandbox.xignin.pendingLogins();
    env.example.sandbox.xignin.approve('alice', login!.id);
    await page.waitForURL(`${env.example.baseUrl}/#xignin`);
    await page.waitForSelector('text=Logged in as Alice Example with XignIn (redirect).');
    await context.close();
  });

  it('redirect flow: a denial on the phone comes back as a clear message, nobody logged in', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await page.goto(env.example.baseUrl);
    await page.click('#xignin-redirect');
    await page.waitForSelector('#xignin-qr');
    const phone = await context.newPage();
    await phone.goto(`${env.example.sandbox.url}/phone`);
    await phone.click('form.xignin[data-kind="qr"] button[value="deny"]');
    await page.waitForSelector('text=The login was denied in XignIn.');
    expect(await page.evaluate(async () => (await fetch('/xignin/me')).status)).to.equal(401);
    await context.close();
  });
});

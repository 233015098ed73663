import { expect } from 'chai';
import type { Page } from 'playwright-core';
import { exampleInBrowser } from '../helpers/example.js';

/** The SMS card's first step, then "Send code". */
async function passwordThenCode(page: Page, baseUrl: string, username: string, password: string) {
  await page.goto(baseUrl);
  await page.fill('#sms-username', username);
  await page.fill('#sms-password', password);
  await page.click('#sms-login');
  await page.waitForSelector('text=Step 2: ask for a code.');
  await page.click('#sms-send');
  await page.waitForSelector('text=Code sent.');
}

describe('example app in Chromium: password, then a code by SMS', function () {
  const env = exampleInBrowser();

  const passwordStep = (page: Page, username: string, password: string) =>
    passwordThenCode(page, env.example.baseUrl, username, password);

  it('logs in, sends the code, reads it on the sandbox phone page, enters it, and lands logged in', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await passwordStep(page, 'alice', 'correct horse battery staple');

    // The sandbox phone, opened from the link on the page, in a second tab.
    const phoneUrl = await page.getAttribute('#sandbox-phone', 'href');
    expect(phoneUrl).to.equal(`${env.example.sandbox.url}/phone`);
    const phone = await context.newPage();
    await phone.goto(`${phoneUrl}?to=${encodeURIComponent('+4915790000001')}`);
    const newest = await phone
      .locator('section[data-number="+4915790000001"] .sms .text')
      .first()
      .textContent();
    const code = /\b(\d{6})\b/.exec(newest ?? '')?.[1];
    expect(code, `a code in "${newest}"`).to.be.a('string');
    await phone.screenshot({ path: '.e2e-artifacts/sandbox-phone.png' });

    await page.fill('#sms-code', code!);
    await page.click('#sms-verify');
    await page.waitForSelector('text=Logged in as Alice Example with password and SMS code.');
    const me = await page.evaluate(async () => (await fetch('/sms/me')).json());
    expect(me).to.deep.include({ factors: ['basic-login', 'sms-otp'] });
    // The page's event log shows the strategies' audit events as they happen, masked number included.
    await page.waitForSelector('#event-log li:has-text("sms-otp: verified")');
    expect(await page.textContent('#event-log')).to.include('phone=+49*********01');
    await page.screenshot({ path: '.e2e-artifacts/sms-logged-in.png', fullPage: true });
    await context.close();
  });

  it('a wrong code five times shows the locked message', async () => {
    const context = await env.browser.newContext();
    const page = await context.newPage();
    await passwordStep(page, 'bob', 'pa:ss with a colon');
    const sent = await env.example.sandbox.inbox.waitFor('+4915790000002');
    const code = /\b(\d{6})\b/.exec(sent.text)![1]!;
    const wrong = code === '000000' ? '111111' : '000000';
    for (let attempt = 1; attempt <= 4; attempt++) {
      await page.fill('#sms-code', wrong);
      await page.click('#sms-verify');
      await page.waitForSelector(
        `text=That code is wrong. ${5 - attempt} attempt${5 - attempt === 1 ? '' : 's'} left.`,
      );
    }
    await page.fill('#sms-code', wrong);
    await page.click('#sms-verify');
    await page.waitForSelector('text=Too many wrong codes: locked.');
    // Locked means locked: the right code no longer works either.
    await page.fill('#sms-code', code);
    await page.click('#sms-verify');
    await page.waitForSelector('text=Too many wrong codes: locked.');
    const me = await page.evaluate(async () => {
      const response = await fetch('/sms/me');
      return { status: response.status, body: (await response.json()) as { code?: string } };
    });
    expect(me, 'the password alone is no login').to.deep.include({ status: 401 });
    expect(me.body.code).to.equal('factors_required');
    await context.close();
  });
});

describe('example app in Chromium: "remember this browser" on the SMS card', function () {
  // Its own app: a fresh store, so the other tests' codes (one per user per 30 s) do not interfere.
  const remember = exampleInBrowser();

  const passwordStep = (page: Page, username: string, password: string) =>
    passwordThenCode(page, remember.example.baseUrl, username, password);

  it('"remember this browser": the same browser later logs in with the password alone; another browser still needs the code', async () => {
    const context = await remember.browser.newContext();
    const page = await context.newPage();
    const since = new Date();
    await passwordStep(page, 'bob', 'pa:ss with a colon');
    const code = /\b(\d{6})\b/.exec(
      (await remember.example.sandbox.inbox.waitFor('+4915790000002', { since })).text,
    )![1]!;
    await page.fill('#sms-code', code);
    await page.check('#sms-remember');
    await page.click('#sms-verify');
    await page.waitForSelector('text=This browser is remembered for 30 days.');
    const remembered = (await context.cookies()).find((cookie) => cookie.name === 'pf_remembered')!;
    expect(remembered).to.include({ httpOnly: true, sameSite: 'Lax' });

    // The same browser on another day: a fresh session, only the remembered cookie kept.
    const later = await remember.browser.newContext();
    await later.addCookies([remembered]);
    const again = await later.newPage();
    await again.goto(remember.example.baseUrl);
    await again.fill('#sms-username', 'bob');
    await again.fill('#sms-password', 'pa:ss with a colon');
    await again.click('#sms-login');
    await again.waitForSelector('text=Logged in as Bob Example with the password, in a remembered browser.');
    const me = await again.evaluate(async () => (await fetch('/sms/me')).json());
    expect(me).to.deep.include({ factors: ['basic-login', 'remembered-browser'] });

    // Another browser: the password alone is a partial login; the code is still needed.
    const other = await remember.browser.newContext();
    const third = await other.newPage();
    await third.goto(remember.example.baseUrl);
    await third.fill('#sms-username', 'bob');
    await third.fill('#sms-password', 'pa:ss with a colon');
    await third.click('#sms-login');
    await third.waitForSelector('text=Step 2: ask for a code.');
    expect(await third.evaluate(async () => (await fetch('/sms/me')).status)).to.equal(401);
    for (const open of [context, later, other]) await open.close();
  });
});

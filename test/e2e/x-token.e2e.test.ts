import { expect } from 'chai';
import { exampleInBrowser } from '../helpers/example.js';

describe('example app in Chromium: Basic login + rolling X-Token', function () {
  const env = exampleInBrowser();

  it('logs in, sees the user, calls the secured API, logs out, and sees the secured call refused', async () => {
    const page = await env.browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(env.example.baseUrl);
    // Before any login: not "your session has ended", and no token shown.
    await page.click('#call-api');
    await page.waitForSelector('text=You are not logged in. Log in first.');
    expect(await page.isHidden('#xtoken-rolling')).to.equal(true);

    await page.fill('#username', 'alice');
    await page.fill('#password', 'correct horse battery staple');
    const loginResponse = page.waitForResponse('**/api/auth/login');
    await page.click('#login');
    const loginToken = await (await loginResponse).headerValue('x-token');
    await page.waitForSelector('text=Logged in as Alice Example');
    expect(await page.textContent('#api-result'), 'the refusal before the login is gone').to.equal('');
    expect(await page.textContent('#xtoken-current')).to.equal(
      `${loginToken!.slice(0, 12)}…${loginToken!.slice(-8)}`,
    );

    const apiResponse = page.waitForResponse('**/api/secret');
    await page.click('#call-api');
    const renewedToken = await (await apiResponse).headerValue('x-token');
    await page.waitForSelector('#api-result:has-text("Hello Alice Example")');
    expect(renewedToken, 'the secured call renews the token').to.be.a('string').and.not.equal(loginToken);
    // The page shows the token rolling.
    await page.waitForSelector('#xtoken-renewals:has-text("1")');
    expect(await page.textContent('#xtoken-current')).to.equal(
      `${renewedToken!.slice(0, 12)}…${renewedToken!.slice(-8)}`,
    );

    await page.click('#logout');
    await page.waitForSelector('text=You are logged out.');
    await page.click('#call-api');
    await page.waitForSelector('#api-result:has-text("Refused (401)")');
    await page.waitForSelector('text=You are not logged in. Log in first.');

    // The server revoked the family: even a token the page no longer sends is refused.
    for (const token of [loginToken, renewedToken]) {
      const status = await page.evaluate(
        async (t) => (await fetch('/api/secret', { headers: { 'X-Token': t! } })).status,
        token,
      );
      expect(status).to.equal(401);
    }
    expect(pageErrors).to.deep.equal([]);
    await page.close();
  });

  it('shows a clear message for a wrong password, and logs in a password containing a colon', async () => {
    const page = await env.browser.newPage();
    await page.goto(env.example.baseUrl);
    await page.fill('#username', 'alice');
    await page.fill('#password', 'wrong');
    await page.click('#login');
    await page.waitForSelector('text=Invalid username or password.');
    await page.fill('#username', 'bob');
    await page.fill('#password', 'pa:ss with a colon');
    await page.click('#login');
    await page.waitForSelector('text=Logged in as Bob Example');
    await page.screenshot({ path: '.e2e-artifacts/x-token.png' });
    await page.close();
  });
});

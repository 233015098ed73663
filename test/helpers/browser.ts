import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Launches Debian's headless Chromium; Playwright gives every launch a fresh temporary profile. On a laptop without it the suite is
 * skipped with a message; under CI=true a missing browser fails the suite instead.
 */
export async function launchOrSkip(ctx: Mocha.Context): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    if (process.env.CI === 'true')
      throw new Error(`Chromium is required under CI=true but ${CHROMIUM_PATH} is missing.`);
    console.warn(
      `      ⚠ SKIPPED: no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH).`,
    );
    ctx.skip();
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

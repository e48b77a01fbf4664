import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';
import { eventually } from './tasks-app';

/** Debian's chromium (`apt-get install chromium`, which .ci/run does), or CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export interface TestBrowser {
  browser: Browser;
  close(): Promise<void>;
}

/**
 * Starts headless chromium (Playwright gives it a fresh profile of its own), bounded: a missing browser fails at once
 * with what to install, and one that does not start fails within 20 s, never hangs.
 */
export async function launchChromium(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `no browser at ${CHROMIUM_PATH}: the dashboard's browser tests need Debian's chromium ` +
        `(apt-get install -y chromium; .ci/run installs it) or CHROMIUM_PATH set to a Chromium binary`,
    );
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    timeout: 20_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
    },
  };
}

/**
 * A new page in a context of its own (1280×800), accepting every confirm dialog as an operator
 * would: each dashboard action asks first.
 */
export async function openPage(browser: TestBrowser): Promise<Page> {
  const context = await browser.browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => void dialog.accept());
  return page;
}

/** Fills the dashboard's sign-in form with `token` and the user name `ada`, and sends it. */
export async function signIn(page: Page, token: string): Promise<void> {
  await page.locator('#login input[name=token]').fill(token);
  await page.locator('#login input[name=user]').fill('ada');
  await page.locator('#login button[type=submit]').click();
}

/** Waits until the locator's text (whitespace folded) matches `pattern`, for up to 10 s. */
export async function expectText(locator: Locator, pattern: RegExp): Promise<void> {
  await eventually(
    async () => pattern.test(((await locator.first().textContent()) ?? '').replace(/\s+/g, ' ')),
    10_000,
    `${pattern}`,
  );
}

// The dashboard README's screenshots: written to packages/dashboard/docs when
// DASHBOARD_SCREENSHOTS=1, else to a temporary folder (taken either way, so the step is tested).
const SHOTS = process.env.DASHBOARD_SCREENSHOTS
  ? join(__dirname, '..', '..', 'packages', 'dashboard', 'docs')
  : join(tmpdir(), 'conveyor-dashboard-shots');

/** Saves a full-page screenshot as `<name>.png` (see above for where). */
export async function shoot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

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

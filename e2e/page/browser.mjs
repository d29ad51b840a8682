// What every page check shares: Debian's Chromium (headless) at a laptop's size, and the
// screenshot and printed PDF kept beside each other.
import { chromium } from 'playwright-core';

/** Runs `check(page)` in a fresh browser, closed however it ends. */
export async function withPage(options, check) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 }, ...options });
    return await check(page);
  } finally {
    await browser.close();
  }
}

/** Keeps the page as a full screenshot and as printed on A4 (same name, .pdf). */
export async function keep(page, screenshot) {
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.emulateMedia({ media: 'print' });
  await page.pdf({ path: screenshot.replace(/\.png$/, '.pdf'), format: 'A4' });
}

// Opens Colo's report page in Debian's Chromium (headless) and prints what a reader sees as
// JSON: the "as of" time, and per agency row the figures by column. Saves a screenshot and a
// printed PDF beside it.   node check.mjs URL SCREENSHOT.png
import { chromium } from 'playwright-core';

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  // A laptop screen.
  const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
  const response = await page.goto(url, { waitUntil: 'load' });
  const seen = await page.evaluate(() => {
    const rows = {};
    for (const tr of document.querySelectorAll('#agencies tbody tr[data-agency]')) {
      const cells = {};
      for (const td of tr.querySelectorAll('td[data-field]')) cells[td.dataset.field] = td.textContent.trim();
      rows[tr.dataset.agency] = cells;
    }
    return {
      title: document.title,
      asOf: document.querySelector('#as-of')?.textContent,
      demo: document.querySelector('#demo')?.textContent ?? null,
      rows,
      chartBars: document.querySelectorAll('svg rect.shared').length,
      assumptions: [...document.querySelectorAll('#assumptions li')].map((li) => li.textContent),
      externalRequests: [...document.querySelectorAll('script[src], link[href^=http], img[src^=http]')].length,
      overflowsLaptop: document.documentElement.scrollWidth > window.innerWidth,
    };
  });
  seen.status = response.status();
  await page.screenshot({ path: screenshot, fullPage: true });
  await page.emulateMedia({ media: 'print' });
  await page.pdf({ path: screenshot.replace(/\.png$/, '.pdf'), format: 'A4' });
  console.log(JSON.stringify(seen));
} finally {
  await browser.close();
}

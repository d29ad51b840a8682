// Opens Colo's report page in Debian's Chromium (headless) and prints what a reader sees as
// JSON: the "as of" time, and per agency row the figures by column. Saves a screenshot and a
// printed PDF beside it.   node check.mjs URL SCREENSHOT.png
// COLO_TOKEN: sent as `Authorization: Bearer` on every request, as a sign-in proxy does.
// COLO_SIGN_IN_TOKEN: pasted into the page's sign-in form instead (kept in a cookie).
import { keep, withPage } from './browser.mjs';

const [url, screenshot] = process.argv.slice(2);
const headers = process.env.COLO_TOKEN ? { Authorization: `Bearer ${process.env.COLO_TOKEN}` } : {};
await withPage({ extraHTTPHeaders: headers }, async (page) => {
  let response = await page.goto(url, { waitUntil: 'load' });
  let signIn = null;
  if (process.env.COLO_SIGN_IN_TOKEN) {
    signIn = { status: response.status(), why: await page.locator('#why').textContent() };
    await page.fill('#token', process.env.COLO_SIGN_IN_TOKEN);
    [response] = await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type=submit]')]);
  }
  const seen = await page.evaluate(() => {
    const rows = {};
    for (const tr of document.querySelectorAll('#agencies tbody tr[data-agency]')) {
      const cells = {};
      for (const td of tr.querySelectorAll('td[data-field]')) cells[td.dataset.field] = td.textContent.trim();
      rows[tr.dataset.agency] = cells;
    }
    return {
      title: document.title,
      reader: document.querySelector('#reader')?.textContent ?? null,
      estateLines: document.querySelector('#spare, #estate-energy') !== null,
      why: document.querySelector('#why')?.textContent ?? null,
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
  seen.signIn = signIn;
  await keep(page, screenshot);
  console.log(JSON.stringify(seen));
});

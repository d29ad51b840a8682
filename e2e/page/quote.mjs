// Signs in to Colo's report site in Debian's Chromium (headless), opens the quote page, pastes
// an inventory (or, with `upload`, chooses its file, and fills the CSV's settings given as
// JSON), submits it and prints what the printed quote shows as JSON; saves a screenshot and a
// PDF beside it.
//   COLO_SIGN_IN_TOKEN=… node quote.mjs BASE_URL INVENTORY_FILE [upload [SETTINGS]] SCREENSHOT.png
import { readFileSync } from 'node:fs';
import { keep, withPage } from './browser.mjs';

const args = process.argv.slice(2);
const screenshot = args.pop();
const [base, inventoryFile, how = 'paste', settings = '{}'] = args;
await withPage({}, async (page) => {
  await page.goto(`${base}/quote`, { waitUntil: 'load' });
  await page.fill('#token', process.env.COLO_SIGN_IN_TOKEN);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('button[type=submit]')]);
  const form = await page.goto(`${base}/quote`, { waitUntil: 'load' });
  if (how === 'upload') {
    await page.setInputFiles('#inventory-file', inventoryFile);
  } else {
    await page.fill('#inventory', readFileSync(inventoryFile, 'utf8'));
  }
  for (const [name, value] of Object.entries(JSON.parse(settings))) {
    await page.fill(`input[name=${name}]`, value);
  }
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.click('button[type=submit]'),
  ]);
  const seen = await page.evaluate(() => {
    const fields = {};
    for (const el of document.querySelectorAll('[data-field]')) fields[el.dataset.field] = Number(el.textContent.trim());
    return {
      agency: document.querySelector('#agency')?.textContent ?? null,
      verdict: document.querySelector('#verdict')?.textContent ?? null,
      why: document.querySelector('#why')?.textContent ?? null,
      fields,
      assumptions: document.querySelectorAll('#assumptions li').length,
      scripts: document.querySelectorAll('script').length,
      overflowsLaptop: document.documentElement.scrollWidth > window.innerWidth,
    };
  });
  seen.formStatus = form.status();
  seen.status = response.status();
  await keep(page, screenshot);
  console.log(JSON.stringify(seen));
});

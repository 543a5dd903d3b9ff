// Drive bundle pages in headless Chromium (the system's /usr/bin/chromium; nothing is downloaded).
//   node test/browser_check.mjs JOB.json > RESULT.json
// JOB: {"chromium": "/usr/bin/chromium",
//       "pages": [{"url": "http://127.0.0.1:PORT/qa/index.html?selftest=1",
//                  "form"?: {FIELD: "..." | ["...", ...], ..., "button"?: "generate"}: the bundle's
//                           request fields (manifest.json spec.request names), each input filled by id
//                           (a list one item per line), then #run (or the button named) clicked,
//                  "screenshot"?: "/path/page.png", "threads"?: true}]}
// A file:// url is only checked for the page's own "must be served" message (#status in error).
// RESULT: per page {"selftest": line, "answer", "detail", "json" (the form's result, when a form
// was given), "status" (the #status line), "visible_forms": [ids of the forms a person sees, at the
// end], "visible_fields": [ids of the inputs and textareas a person sees, in page order], "failed_requests": [...], "errors": [...], "requests": [paths fetched]}; with "threads": also
// "isolated" (the page's crossOriginIsolated), "wasm_threads" (onnxruntime-web's env.wasm.numThreads
// after the session started) and "workers" (how many Web Workers the page started).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';


// Playwright adds --headless itself (headless: true); the rest keeps a fresh profile quiet and offline.
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

const job = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const TIMEOUT_MS = job.timeout_ms ?? 60_000; // a base-size model loads and self-tests for minutes
const profile = mkdtempSync(join(tmpdir(), 'prelnedge-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: job.chromium ?? '/usr/bin/chromium', headless: true, args: ARGS,
});
const results = [];
try {
  for (const spec of job.pages) results.push(await check(spec));
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(JSON.stringify(results));

async function check(spec) {
  const page = await context.newPage();
  const result = { url: spec.url, requests: [], failed_requests: [], errors: [] };
  page.on('request', (r) => result.requests.push(new URL(r.url()).pathname));
  page.on('requestfailed', (r) => result.failed_requests.push(`${r.url()}: ${r.failure()?.errorText}`));
  page.on('response', (r) => { if (r.status() >= 400) result.failed_requests.push(`${r.url()}: HTTP ${r.status()}`); });
  page.on('pageerror', (e) => result.errors.push(String(e)));
  let workers = 0;
  page.on('worker', () => { workers += 1; });
  page.on('console', (m) => { if (m.type() === 'error') result.errors.push(m.text()); });
  try {
    await page.goto(spec.url);
    if (spec.url.startsWith('file:')) {
      await page.waitForSelector('#status[data-state="error"]', { timeout: 10_000 });
    }
    if (new URL(spec.url).searchParams.get('selftest') === '1') {
      await page.waitForSelector('#selftest[data-state="pass"], #selftest[data-state="fail"]', { timeout: TIMEOUT_MS });
      result.selftest = (await page.textContent('#selftest')).trim();
    }
    if (spec.form) {
      await page.waitForSelector('#status[data-state="ready"]', { timeout: TIMEOUT_MS });
      for (const [name, value] of Object.entries(spec.form)) {
        if (name !== 'button') await page.fill(`#${name}`, Array.isArray(value) ? value.join('\n') : value);
      }
      await page.click(`#${spec.form.button ?? 'run'}`); // button: 'generate' for a causal LM's Generate
      await page.waitForSelector('#output[data-state="done"], #output[data-state="error"]', { timeout: TIMEOUT_MS });
      result.state = await page.getAttribute('#output', 'data-state');
      result.answer = await page.textContent('#answer');
      result.detail = await page.textContent('#answer-detail');
      result.json = await page.textContent('#json');
    }
  } catch (err) {
    result.errors.push(`driver: ${err.message}`);
  }
  result.status = await page.textContent('#status').catch(() => null);
  if (spec.threads) {
    result.isolated = await page.evaluate(() => globalThis.crossOriginIsolated);
    // the page's own module instance (same URL): what the session was created with
    result.wasm_threads = await page.evaluate(async () => (await import(new URL('ort/ort.wasm.min.mjs', location.href)))
      .env.wasm.numThreads).catch((err) => `driver: ${err.message}`);
    result.workers = workers;
  }
  // what a person sees: the element renders (display, visibility, and every ancestor)
  result.visible_forms = await page.$$eval('form', (forms) => forms.filter((f) => f.checkVisibility()).map((f) => f.id))
    .catch((err) => [`driver: ${err.message}`]);
  result.visible_fields = await page.$$eval('input, textarea', (inputs) => inputs.filter((i) => i.checkVisibility()).map((i) => i.id))
    .catch((err) => [`driver: ${err.message}`]);
  if (spec.screenshot) await page.screenshot({ path: spec.screenshot, fullPage: true });
  await page.close();
  return result;
}

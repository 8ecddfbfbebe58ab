// Shared helpers for the browser tests: Debian's Chromium driven by playwright-core, each
// person in a separate browser context (own storage, own IndexedDB), as two colleagues
// on two machines would be.
import assert from 'node:assert/strict';
import { join as joinPath } from 'node:path';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';
import { startServer } from './server.mjs';

export const WAIT_MS = 20_000;
export const ARTIFACTS = process.env.PAIRPAD_ARTIFACTS ?? joinPath(import.meta.dirname, '..', '..', 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

export function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/**
 * A server and a browser for the test file: started before its tests, stopped after.
 * `env.server` and `env.browser` are set once the tests run.
 */
export function serverAndBrowser() {
  const env = { server: null, browser: null };
  before(async () => {
    env.server = await startServer();
    env.browser = await launchBrowser();
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/**
 * Opens a page of `url` in `context` that fails the test on page errors, reports console
 * errors under `name`, and dismisses dialogs, recording their messages in `alerts`.
 */
export async function openPage(context, name, url, alerts = []) {
  const page = await context.newPage();
  page.on('dialog', (dialog) => {
    alerts.push(dialog.message());
    dialog.dismiss();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') console.error(`[${name}'s tab] ${message.text()}`);
  });
  page.on('pageerror', (error) => assert.fail(`page error in ${name}'s tab: ${error.message}`));
  const response = await page.goto(url);
  assert.equal(response.status(), 200);
  return page;
}

/**
 * Opens room `roomId` as a new person: a fresh context (`contextOptions` added), the name
 * asked by the page's dialog.
 */
export async function joinAs(browser, base, roomId, name, contextOptions = {}) {
  return joinAt(browser, `${base}/r/${roomId}`, name, contextOptions);
}

/** As [`joinAs`], at any address of a room (`/v/{viewId}` for a viewer). */
export async function joinAt(browser, url, name, contextOptions = {}) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 560 }, ...contextOptions });
  const alerts = [];
  const page = await openPage(context, name, url, alerts);
  await page.locator('#name-dialog[open]').waitFor({ timeout: WAIT_MS });
  await page.fill('#name-input', name);
  await page.click('#name-dialog button[value=save]');
  await connected(page);
  return { context, page, alerts, name };
}

/** Waits until the page's status badge says it is connected and synced. */
export async function connected(page) {
  await page.waitForFunction(
    () => document.getElementById('status')?.dataset.status === 'connected',
    null,
    { timeout: WAIT_MS },
  );
}

/** The text in the person's editor, as they see it. */
export const textOf = (page) => page.evaluate(() => window.pairpad.view.state.doc.toString());

/**
 * Waits until the page's editor text contains every string of `has` and none of `lacks`.
 * (The page's CSP forbids eval, so the condition travels as data, not as code.)
 */
export async function untilText(page, what, { has = [], lacks = [] }) {
  await page
    .waitForFunction(
      ({ has, lacks }) => {
        const text = window.pairpad.view.state.doc.toString();
        return has.every((s) => text.includes(s)) && !lacks.some((s) => text.includes(s));
      },
      { has, lacks },
      { timeout: WAIT_MS },
    )
    .catch(async (error) => {
      throw new Error(`${what}: ${error.message}\ntext was: ${JSON.stringify(await textOf(page))}`);
    });
}

/** Waits until every page's editor passes `condition` and all hold the same text. */
export async function converged(pages, condition) {
  await Promise.all(pages.map((page) => untilText(page, 'converging', condition)));
  const texts = await Promise.all(pages.map(textOf));
  for (const text of texts) assert.equal(text, texts[0], 'editors hold the same text');
  return texts[0];
}

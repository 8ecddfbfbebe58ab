// The browser editor in a real browser: Debian's Chromium driven by playwright-core,
// against the real pairpad-server binary. Each person is a separate browser context
// (own storage, own IndexedDB), as two colleagues on two machines would be.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { createRoom, startServer } from './server.mjs';
import { ARTIFACTS, WAIT_MS, connected, converged, joinAs, serverAndBrowser, textOf, untilText } from './browser.mjs';

const env = serverAndBrowser();

/** Opens a room as a new person in their own browser context. */
const join = (roomId, name, base = env.server.base) => joinAs(env.browser, base, roomId, name);

/** Puts the cursor at the end of line `n` (1-based) and types `text`. */
async function typeAtLine(page, n, text) {
  await page.evaluate((line) => {
    const view = window.pairpad.view;
    const pos = view.state.doc.line(line).to;
    view.focus();
    view.dispatch({ selection: { anchor: pos } });
  }, n);
  await page.keyboard.type(text, { delay: 5 });
}

async function seed(page, text) {
  await page.locator('.cm-content').click();
  await page.keyboard.insertText(text);
}

test('two people type at the same time and end with the same text holding both', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Pairing', language: 'javascript' });
  const ada = await join(roomId, 'Ada');
  const bob = await join(roomId, 'Bob');
  await seed(ada.page, 'function ada() {\n}\nfunction bob() {\n}\n');
  await untilText(bob.page, 'Bob sees the seed', { has: ['function bob'] });

  const adaLine = ' // typed by Ada while Bob types';
  const bobLine = ' // typed by Bob while Ada types';
  await Promise.all([typeAtLine(ada.page, 1, adaLine), typeAtLine(bob.page, 3, bobLine)]);
  const text = await converged([ada.page, bob.page], { has: [adaLine, bobLine] });
  assert.equal(text, `function ada() {${adaLine}\n}\nfunction bob() {${bobLine}\n}\n`);

  // Each sees the other's cursor with their name on it, and both in the people list.
  const label = bob.page.locator('.cm-ySelectionInfo', { hasText: 'Ada' });
  await label.waitFor({ state: 'visible', timeout: WAIT_MS });
  await ada.page.locator('.cm-ySelectionInfo', { hasText: 'Bob' }).waitFor({ state: 'visible', timeout: WAIT_MS });
  await ada.page.locator('#people .person', { hasText: 'Bob' }).waitFor({ timeout: WAIT_MS });
  await ada.page.waitForFunction(() => document.getElementById('status').textContent.includes('2 people'));

  // Share offers the edit link and the view-only link; each copies to the clipboard.
  await ada.context.grantPermissions(['clipboard-read', 'clipboard-write']);
  await ada.page.click('#share');
  await ada.page.locator('#share-dialog[open]').waitFor();
  await ada.page.click('#share-edit-copy');
  await ada.page.locator('#toast', { hasText: 'Link copied' }).waitFor();
  assert.equal(await ada.page.evaluate(() => navigator.clipboard.readText()), `${env.server.base}/r/${roomId}`);
  const { viewId } = await (await fetch(`${env.server.base}/api/rooms/${roomId}`)).json();
  await ada.page.click('#share-view-copy');
  await ada.page.waitForFunction(async (url) => (await navigator.clipboard.readText()) === url, `${env.server.base}/v/${viewId}`);
  // The room was made through the API, not in this browser: no owner key, no owner controls.
  assert.equal(await ada.page.locator('#owner-controls').isVisible(), false);
  await ada.page.keyboard.press('Escape');

  mkdirSync(ARTIFACTS, { recursive: true });
  await ada.page.screenshot({ path: joinPath(ARTIFACTS, 'editor-two-people.png') });

  const room = await (await fetch(`${env.server.base}/api/rooms/${roomId}`)).json();
  assert.equal(room.activeUsers, 2);
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('undo takes back only your own edits, never a colleague\'s', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Undo', language: 'python' });
  const ada = await join(roomId, 'Ada');
  const bob = await join(roomId, 'Bob');
  // Bob writes the starting text, so everything Ada can undo is her one edit.
  await seed(bob.page, 'first\nsecond\n');
  await untilText(ada.page, 'seed arrives', { has: ['first\nsecond\n'] });
  await typeAtLine(ada.page, 1, ' alpha');
  await typeAtLine(bob.page, 2, ' beta');
  await converged([ada.page, bob.page], { has: ['alpha', 'beta'] });

  await ada.page.keyboard.press('Control+z');
  const text = await converged([ada.page, bob.page], { lacks: ['alpha'] });
  assert.equal(text, 'first\nsecond beta\n', 'Ada\'s undo removed her edit and nothing of Bob\'s');

  // Bob's own undo removes his edit; redo brings it back.
  await bob.page.locator('.cm-content').click();
  await bob.page.keyboard.press('Control+z');
  await converged([ada.page, bob.page], { lacks: ['beta'] });
  await bob.page.keyboard.press('Control+Shift+KeyZ');
  await converged([ada.page, bob.page], { has: ['beta'] });
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('a language switch by one person changes highlighting for the other', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Lang', language: 'plaintext' });
  const ada = await join(roomId, 'Ada');
  const bob = await join(roomId, 'Bob');
  await seed(ada.page, 'def greet(name):\n    return "hi " + name\n');
  await untilText(bob.page, 'code arrives', { has: ['def greet'] });
  const highlightedDef = (page) =>
    page.evaluate(() =>
      [...document.querySelectorAll('.cm-line span')].some((s) => s.textContent === 'def' && s.className),
    );
  assert.equal(await highlightedDef(bob.page), false, 'plain text has no keyword highlighting');

  await ada.page.selectOption('#language', 'python');
  await bob.page.waitForFunction(() => document.getElementById('language').value === 'python', null, { timeout: WAIT_MS });
  await bob.page.waitForFunction(
    () => [...document.querySelectorAll('.cm-line span')].some((s) => s.textContent === 'def' && s.className),
    null,
    { timeout: WAIT_MS },
  );
  const room = await (await fetch(`${env.server.base}/api/rooms/${roomId}`)).json();
  assert.equal(room.language, 'python');
  // The file takes the language's extension, for everyone.
  await bob.page.locator('#tree .tree-name:text-is("notes.py")').waitFor({ timeout: WAIT_MS });

  // The download is named after the title with the language's extension.
  const [download] = await Promise.all([bob.page.waitForEvent('download'), bob.page.click('#download')]);
  assert.equal(download.suggestedFilename(), 'Lang.py');
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('typing offline survives a reload and merges when the connection returns', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Offline', language: 'rust' });
  const ada = await join(roomId, 'Ada');
  const bob = await join(roomId, 'Bob');
  await seed(ada.page, 'fn main() {\n}\n');
  await untilText(bob.page, 'seed arrives', { has: ['fn main'] });
  // The page's offline copy (service worker) must be in place before the network goes.
  await ada.page.evaluate(() => navigator.serviceWorker.ready);

  await ada.context.setOffline(true);
  await ada.page.waitForFunction(() => document.getElementById('status').dataset.status === 'offline', null, { timeout: WAIT_MS });
  await typeAtLine(ada.page, 1, ' // written offline');
  await typeAtLine(bob.page, 2, ' // written online');
  await ada.page.evaluate(() => window.pairpad.connection.saveLocally());

  await ada.page.reload();
  await untilText(ada.page, 'offline text is back after the reload', { has: ['written offline'] });
  assert.ok(!(await textOf(ada.page)).includes('written online'), 'Ada is really offline');

  await ada.context.setOffline(false);
  await connected(ada.page);
  const text = await converged([ada.page, bob.page], { has: ['written offline', 'written online'] });
  assert.equal(text, 'fn main() { // written offline\n} // written online\n');
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('a document over the server\'s size limit is told so, not retried in a loop, and syncs once shortened', async () => {
  const small = await startServer(['--max-document-bytes', '60000']);
  try {
    const roomId = await createRoom(small.base, { title: 'Big', language: 'plaintext' });
    const ada = await join(roomId, 'Ada', small.base);
    const bob = await join(roomId, 'Bob', small.base);
    let sockets = 0;
    ada.page.on('websocket', () => { sockets += 1; });
    await seed(ada.page, 'keep me\n');
    await untilText(bob.page, 'the first line', { has: ['keep me'] });

    await ada.page.keyboard.insertText('x'.repeat(80_000));
    await ada.page.waitForFunction(() => document.getElementById('status').dataset.status === 'too-large', null, { timeout: WAIT_MS });
    const badge = await ada.page.locator('#status').textContent();
    assert.match(badge, /too large/i);
    // A window in which a reconnect loop would open several sockets (it retries within
    // 200 ms to 5 s); a told editor opens none.
    const before = sockets;
    await new Promise((resolve) => setTimeout(resolve, 6000));
    assert.equal(sockets, before, 'no reconnect while the document is too large');
    assert.equal(await ada.page.locator('#status').getAttribute('data-status'), 'too-large');
    assert.ok((await textOf(ada.page)).length > 80_000, 'the text stays on Ada\'s screen');

    // Ada removes the paste: the editor reconnects by itself and the rooms agree.
    await ada.page.evaluate(() => {
      const view = window.pairpad.view;
      const text = view.state.doc.toString();
      const from = text.indexOf('x');
      view.dispatch({ changes: { from, to: text.lastIndexOf('x') + 1, insert: 'short' } });
    });
    await connected(ada.page);
    const text = await converged([ada.page, bob.page], { has: ['keep me\nshort'] });
    assert.equal(text, 'keep me\nshort');
    await Promise.all([ada.context.close(), bob.context.close()]);
  } finally {
    await small.stop();
  }
});

test('a display name full of markup is shown as text, never run', async () => {
  const roomId = await createRoom(env.server.base, { title: 'XSS', language: 'html' });
  const evil = '<img src=x onerror=alert(1)>';
  const ada = await join(roomId, 'Ada');
  const mallory = await join(roomId, evil);
  await mallory.page.locator('.cm-content').click();
  await mallory.page.keyboard.type('hello');
  await ada.page.locator('#people .person', { hasText: evil }).waitFor({ timeout: WAIT_MS });
  await ada.page.locator('.cm-ySelectionInfo', { hasText: evil }).waitFor({ state: 'visible', timeout: WAIT_MS });
  for (const person of [ada, mallory]) {
    // CodeMirror's own cursor-widget buffers are <img class="cm-widgetBuffer"> and the
    // invite dialog has its QR code; any other <img> could only come from a name parsed
    // as markup.
    const images = await person.page.locator('img:not(.cm-widgetBuffer):not(#invite-qr)').count();
    assert.equal(images, 0, `no <img> made from the name in ${person.name}'s page`);
    assert.deepEqual(person.alerts, [], 'no script ran');
  }
  assert.equal(await mallory.page.textContent('#name'), evil);

  // A new name reaches the others' people list and cursor label.
  await mallory.page.click('#name');
  await mallory.page.fill('#name-input', 'Mallory');
  await mallory.page.click('#name-dialog button[value=save]');
  await ada.page.locator('.cm-ySelectionInfo', { hasText: 'Mallory' }).waitFor({ state: 'visible', timeout: WAIT_MS });
  await ada.page.locator('#people .person', { hasText: 'Mallory' }).waitFor({ timeout: WAIT_MS });
  await Promise.all([ada.context.close(), mallory.context.close()]);
});

test('the completion popup shows suggestions only the server gives, and typing survives a failing server', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Complete', language: 'rust' });
  const ada = await join(roomId, 'Ada');
  await seed(ada.page, 'struct Point { x: i32 }\n\n');
  await ada.page.keyboard.type('imp');
  const option = ada.page.locator('.cm-tooltip-autocomplete li', { hasText: 'impl' }).first();
  await option.waitFor({ timeout: WAIT_MS });
  // CodeMirror's Rust grammar brings no completions, and `impl` is not in the text.
  await ada.page.keyboard.press('Escape');

  // With the server failing, typing goes on and the document's own words are offered.
  await ada.page.route('**/api/autocomplete', (route) => route.fulfill({ status: 500, body: '{}' }));
  await ada.page.keyboard.press('Enter');
  await ada.page.keyboard.type('Poi');
  await ada.page.locator('.cm-tooltip-autocomplete li', { hasText: 'Point' }).first().waitFor({ timeout: WAIT_MS });
  await ada.page.keyboard.type('nt');
  await untilText(ada.page, 'typing continues', { has: ['imp\nPoint'] });
  await ada.context.close();
});

test('pages: unknown room, landing page create and recent rooms', async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const missing = await page.goto(`${env.server.base}/r/00000000-0000-4000-8000-000000000000`);
  assert.equal(missing.status(), 404);
  await page.getByRole('heading', { name: 'Room not found' }).waitFor();
  await page.getByRole('link', { name: 'Go to the start page' }).click();

  await page.waitForURL(`${env.server.base}/`);
  await page.fill('#new-title', 'From the landing page');
  await page.selectOption('#new-language', 'go');
  await page.click('#create button[type=submit]');
  await page.waitForURL(/\/r\/[0-9a-f-]{36}$/);
  await page.fill('#name-input', 'Ada');
  await page.click('#name-dialog button[value=save]');
  // A room just created offers to invite the partner; later.
  await page.click('#invite-dialog button[value=close]');
  await connected(page);
  assert.equal(await page.inputValue('#title'), 'From the landing page');
  assert.equal(await page.inputValue('#language'), 'go');
  const roomUrl = page.url();

  // The theme button cycles auto → light → dark, for the page and the editor.
  const theme = () => page.evaluate(() => document.documentElement.dataset.theme);
  await page.click('#theme');
  assert.equal(await theme(), 'light');
  await page.click('#theme');
  assert.equal(await theme(), 'dark');
  assert.ok(await page.locator('.cm-editor').evaluate((e) => getComputedStyle(e).backgroundColor !== 'rgb(255, 255, 255)'));

  await page.goto(`${env.server.base}/`);
  const recent = page.locator('#recent a', { hasText: 'From the landing page' });
  await recent.waitFor();
  await page.fill('#join-link', roomUrl);
  await page.click('#join button[type=submit]');
  await page.waitForURL(roomUrl);
  await connected(page);
  await context.close();
});

// Who may do what, in a real browser: a viewer who cannot type and says so, and an owner
// who made the room in this browser and keeps control of it (view-only for everyone
// else, a new edit link, deleting the room).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { createRoomFull } from './server.mjs';
import { WAIT_MS, connected, joinAs, joinAt, serverAndBrowser, textOf, untilText } from './browser.mjs';

const env = serverAndBrowser();

const statusOf = (page) => page.evaluate(() => document.getElementById('status').dataset.status);

test('a view link opens the room read-only: the text and everyone are there, typing changes nothing', async () => {
  const room = await createRoomFull(env.server.base, { title: 'Demo', language: 'rust' });
  const ada = await joinAs(env.browser, env.server.base, room.roomId, 'Ada');
  await ada.page.locator('.cm-content').click();
  await ada.page.keyboard.type('fn main() {}\n', { delay: 10 });

  const vera = await joinAt(env.browser, `${env.server.base}/v/${room.viewId}`, 'Vera');
  await untilText(vera.page, 'the viewer sees the text', { has: ['fn main() {}'] });
  assert.equal(await vera.page.locator('#view-badge').isVisible(), true, 'the "View only" badge shows');
  assert.equal(await vera.page.locator('#view-badge').textContent(), 'View only');
  assert.equal(await vera.page.locator('#new-file').isVisible(), false);
  assert.equal(await vera.page.locator('#title').getAttribute('readonly'), '');

  // Vera clicks into the text and types, at a person's pace: nothing changes, here or there.
  await vera.page.locator('.cm-line').first().click();
  await vera.page.keyboard.type('let x = 1;', { delay: 30 });
  await vera.page.keyboard.press('Enter');
  await vera.page.keyboard.press('Backspace');
  assert.equal(await textOf(vera.page), 'fn main() {}\n');
  assert.equal(await statusOf(vera.page), 'connected', 'still connected: nothing was sent');
  // No completions to pick, and no change made in the page by any other means takes.
  await vera.page.keyboard.press('Control+Space');
  await vera.page.keyboard.type('ma', { delay: 30 });
  assert.equal(await vera.page.locator('.cm-tooltip-autocomplete').count(), 0, 'no completion popup');
  await vera.page.evaluate(() => window.pairpad.view.dispatch({ changes: { from: 0, insert: 'injected ' } }));
  assert.equal(await textOf(vera.page), 'fn main() {}\n');
  assert.equal(await statusOf(vera.page), 'connected');
  // Nothing of the room is kept on a viewer's device: a reload shows the room as it is.
  const stores = await vera.page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  assert.ok(!stores.some((name) => name.startsWith('pairpad:')), stores.join(', '));

  // Ada sees her in the people list as viewing, and her cursor with her name.
  await ada.page.locator('#people .person', { hasText: 'Vera' }).locator('.person-viewing').waitFor({ timeout: WAIT_MS });
  await ada.page.locator('.cm-ySelectionInfo', { hasText: 'Vera' }).waitFor({ state: 'attached', timeout: WAIT_MS });
  // And Ada's edits reach Vera live.
  await ada.page.keyboard.type('// more\n', { delay: 10 });
  await untilText(vera.page, 'live edits reach the viewer', { has: ['// more'] });
  assert.equal(await textOf(ada.page), await textOf(vera.page));

  // The share dialog of a viewer offers the view link only.
  await vera.page.click('#share');
  assert.equal(await vera.page.locator('#share-edit').isVisible(), false);
  assert.equal(await vera.page.inputValue('#share-view-link'), `${env.server.base}/v/${room.viewId}`);
  await vera.page.keyboard.press('Escape');

  // The server holds Ada's text only.
  const code = (await (await fetch(`${env.server.base}/api/rooms/${room.roomId}`)).json()).code;
  assert.equal(code, await textOf(ada.page));
  await Promise.all([ada.context.close(), vera.context.close()]);
});

test('the owner keeps control: view-only for everyone else, a new edit link, deleting the room', async () => {
  // Ada makes the room on the start page: this browser holds its owner key.
  const context = await env.browser.newContext({ viewport: { width: 1100, height: 640 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => assert.fail(`page error in Ada's tab: ${error.message}`));
  const ownerSockets = [];
  page.on('websocket', (socket) => ownerSockets.push(socket.url()));
  await page.goto(`${env.server.base}/`);
  await page.fill('#new-title', 'Mine');
  await page.click('#create button[type=submit]');
  await page.waitForURL(/\/r\/[0-9a-f-]{36}$/);
  await page.fill('#name-input', 'Ada');
  await page.click('#name-dialog button[value=save]');
  await page.click('#invite-dialog button[value=close]');
  await connected(page);
  const roomId = page.url().split('/r/')[1];
  await page.locator('.cm-content').click();
  await page.keyboard.type('owner text', { delay: 10 });

  const bob = await joinAs(env.browser, env.server.base, roomId, 'Bob');
  await untilText(bob.page, 'Bob sees the text', { has: ['owner text'] });
  assert.equal(await bob.page.locator('#view-badge').isVisible(), false);

  // Only Ada sees the owner's controls; she makes the room view-only for everyone else.
  await page.click('#share');
  await page.locator('#owner-controls').waitFor();
  await page.check('#owner-view-only');
  await page.locator('#toast', { hasText: 'Only you can edit now' }).waitFor({ timeout: WAIT_MS });
  await page.keyboard.press('Escape');
  // Bob's page learns it at once, and becomes read-only; it stays connected, and what he
  // tries to type goes nowhere.
  await bob.page.waitForFunction(() => !document.getElementById('view-badge').hidden, null, { timeout: WAIT_MS });
  await connected(bob.page);
  await bob.page.locator('.cm-content').click();
  await bob.page.keyboard.type('bob was here', { delay: 20 });
  assert.ok(!(await textOf(bob.page)).includes('bob was here'));
  assert.equal(await statusOf(bob.page), 'connected');
  // Ada still edits, and Bob follows.
  await page.locator('.cm-content').click();
  await page.keyboard.press('End');
  await page.keyboard.type(' and more', { delay: 10 });
  await untilText(bob.page, 'the owner still edits', { has: ['owner text and more'] });

  // Back to everyone: Bob's page learns it too, and he edits again.
  await page.click('#share');
  await page.uncheck('#owner-view-only');
  await page.keyboard.press('Escape');
  await bob.page.waitForFunction(() => document.getElementById('view-badge').hidden, null, { timeout: WAIT_MS });
  await connected(bob.page);
  await bob.page.locator('.cm-content').click();
  await bob.page.keyboard.press('Control+End');
  await bob.page.keyboard.type(' + bob', { delay: 20 });
  await untilText(page, 'Bob edits again', { has: ['owner text and more + bob'] });
  assert.ok(!(await textOf(page)).includes('bob was here'), 'nothing typed while read-only arrives');
  // The owner key never travels in a WebSocket address.
  assert.ok(ownerSockets.length > 0 && ownerSockets.every((url) => !url.includes('owner')), ownerSockets.join(' '));

  // A new edit link: Ada's page moves to it; Bob's old link no longer works, and he is told.
  await page.click('#share');
  await page.click('#owner-new-edit');
  await page.click('#confirm-yes');
  await page.waitForURL((url) => url.pathname.startsWith('/r/') && !url.pathname.endsWith(roomId), { timeout: WAIT_MS });
  await bob.page.waitForFunction(() => document.getElementById('status').dataset.status === 'gone', null, { timeout: WAIT_MS });
  assert.match(await bob.page.locator('#banner').textContent(), /no longer opens the room/);
  // His editor takes no more typing: nothing is typed that would go nowhere.
  const before = await textOf(bob.page);
  await bob.page.locator('.cm-content').click();
  await bob.page.keyboard.type('lost?', { delay: 20 });
  assert.equal(await textOf(bob.page), before);
  // Nor do undo and redo, which would change the shared text behind the editor's back.
  await bob.page.keyboard.press('Control+z');
  await bob.page.keyboard.press('Control+z');
  await bob.page.keyboard.press('Control+y');
  assert.equal(await textOf(bob.page), before);
  assert.equal(await bob.page.locator('#language').isDisabled(), true);
  await connected(page);
  const freshId = page.url().split('/r/')[1];
  // What this device keeps goes by the room's own id, so the new link found it.
  const { fileId } = await (await fetch(`${env.server.base}/api/rooms/${freshId}`)).json();
  const kept = await page.evaluate(async () => (await indexedDB.databases()).map((d) => d.name));
  assert.ok(kept.includes(`pairpad:${fileId}`), kept.join(', '));
  assert.ok(!kept.some((name) => name.includes(roomId) || name.includes(freshId)), kept.join(', '));
  await untilText(page, 'the room is the same behind the new link', { has: ['owner text and more'] });
  assert.equal((await fetch(`${env.server.base}/api/rooms/${roomId}`)).status, 404);

  // Deleting the room, once confirmed: Ada goes back to the start page.
  await page.click('#share');
  await page.click('#owner-delete');
  await page.click('#confirm-yes');
  await page.waitForURL(`${env.server.base}/`, { timeout: WAIT_MS });
  assert.equal((await fetch(`${env.server.base}/api/rooms/${freshId}`)).status, 404);
  await Promise.all([context.close(), bob.context.close()]);
});

test('a title change the room puts back is never announced, nor shown as news', async () => {
  const room = await createRoomFull(env.server.base, { title: 'Demo', language: 'rust' });
  const ada = await joinAs(env.browser, env.server.base, room.roomId, 'Ada');
  await ada.page.evaluate(() => {
    window.toastsSeen = [];
    const box = document.getElementById('toast');
    new MutationObserver(() => window.toastsSeen.push(box.textContent)).observe(box, { childList: true, characterData: true, subtree: true });
  });

  // Mallory, a stock client with the edit link but no owner key, renames the room in the
  // document; the room puts the title back.
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(env.server.base.replace('http', 'ws') + '/ws', room.roomId, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
  });
  const meta = doc.getMap('meta');
  try {
    await new Promise((resolve) => provider.on('sync', (synced) => synced && resolve()));
    provider.awareness.setLocalStateField('user', { name: 'Mallory' });
    meta.set('title', 'PHISHING: sign in again at evil.example');
    await new Promise((resolve) => {
      const back = () => meta.get('title') === 'Demo' && resolve();
      meta.observe(back);
      back();
    });

    // Then the owner renames it for real, which is news.
    const renamed = await fetch(`${env.server.base}/api/rooms/${room.roomId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', 'pairpad-owner-key': room.ownerKey },
      body: JSON.stringify({ title: 'Legit' }),
    });
    assert.equal(renamed.status, 200);
    await ada.page.locator('#toast', { hasText: 'renamed the room to “Legit”' }).waitFor({ timeout: WAIT_MS });
    const seen = await ada.page.evaluate(() => window.toastsSeen);
    assert.ok(!seen.some((text) => text.includes('PHISHING')), seen.join(' | '));
    assert.equal(await ada.page.inputValue('#title'), 'Legit');
  } finally {
    provider.destroy();
    provider.awareness.destroy();
    doc.destroy();
    await ada.context.close();
  }
});

// Editor norms in Chromium: the header at 1024 px and on a phone, the title cleared, the
// theme button telling its mode, search with a match count, Ctrl-H, Ctrl-G and F1, the
// cursor kept across a reload, and partners' cursors: labels that fade, edge markers
// and the people list that lead to them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, createRoomFull } from './server.mjs';
import { WAIT_MS, connected, joinAs, joinAt, serverAndBrowser } from './browser.mjs';

const env = serverAndBrowser();

/** The header's height and whether all its visible items sit on one row. */
const header = (page) => page.evaluate(() => {
  const bar = document.querySelector('.bar');
  const tops = [...bar.children]
    .filter((c) => c.getBoundingClientRect().width > 0)
    .map((c) => Math.round(c.getBoundingClientRect().top + c.getBoundingClientRect().height / 2));
  return {
    height: bar.getBoundingClientRect().height,
    rows: new Set(tops.map((t) => Math.round(t / 20))).size,
    editor: document.getElementById('editor').getBoundingClientRect().height,
  };
});

test('the header fits one row at 1024 px and leaves a phone its screen; your name once; the title clears', async () => {
  const { roomId, ownerKey } = await createRoomFull(env.server.base, { title: 'A room with a fairly long title', language: 'javascript' });
  // Ada owns the room (only the owner renames it): her key comes in the address, as the
  // desktop app hands it to its host.
  const ada = await joinAt(env.browser, `${env.server.base}/r/${roomId}#owner=${ownerKey}`, 'Ada Lovelace', { viewport: { width: 1024, height: 700 } });
  const bob = await joinAs(env.browser, env.server.base, roomId, 'Bob Builder', { viewport: { width: 375, height: 667 } });
  await ada.page.waitForFunction(() => document.getElementById('status').textContent.includes('2 people'));
  const wide = await header(ada.page);
  assert.equal(wide.rows, 1, `one row at 1024 px: ${JSON.stringify(wide)}`);
  const phone = await header(bob.page);
  assert.ok(phone.rows <= 2 && phone.editor >= 0.8 * 667 - 1, `a phone keeps the screen for code: ${JSON.stringify(phone)}`);

  // Your own name appears once, on the button that changes it.
  assert.deepEqual(await ada.page.locator('#people .person-name').allTextContents(), ['Bob Builder']);
  assert.equal(await ada.page.textContent('#name'), 'Ada Lovelace');

  // The title can be cleared: empty for everyone, shown as "Untitled".
  await ada.page.fill('#title', '');
  await ada.page.press('#title', 'Enter');
  await bob.page.waitForFunction(() => document.getElementById('title').value === '' && document.title === 'Untitled · Pairpad');
  assert.equal(await bob.page.getAttribute('#title', 'placeholder'), 'Untitled');

  // The theme button shows which of auto, light and dark is chosen.
  const choice = () => ada.page.evaluate(() => [document.getElementById('theme').dataset.choice, document.getElementById('theme').textContent]);
  assert.deepEqual(await choice(), ['auto', '◐']);
  await ada.page.click('#theme');
  assert.deepEqual(await choice(), ['light', '☀']);
  await ada.page.click('#theme');
  assert.deepEqual(await choice(), ['dark', '☾']);
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('search counts matches, Ctrl-H replaces, Ctrl-G goes to a line, F1 lists shortcuts, a reload keeps the cursor', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Keys', language: 'python' });
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada');
  const { page } = ada;
  await page.locator('.cm-content').click();
  await page.keyboard.insertText('total = 1\nprint(total)\n\n\nreturn total\n');
  await page.keyboard.press('Control+f');
  await page.keyboard.type('total');
  await page.keyboard.press('Enter');
  await page.locator('.cm-search-count', { hasText: /of 3 matches/ }).waitFor({ timeout: WAIT_MS });
  await page.keyboard.press('Escape');

  await page.keyboard.press('Control+h');
  await page.waitForFunction(() => document.activeElement?.getAttribute('name') === 'replace');
  await page.keyboard.press('Escape');

  await page.locator('.cm-content').click();
  await page.keyboard.press('Control+g');
  const line = page.locator('.cm-gotoLine input, .cm-panel input[name=line]').first();
  await line.waitFor({ timeout: WAIT_MS });
  await line.fill('5');
  await line.press('Enter');
  await page.waitForFunction(() => {
    const { state } = window.pairpad.view;
    return state.doc.lineAt(state.selection.main.head).number === 5;
  });

  await page.keyboard.press('F1');
  await page.locator('#help-dialog[open]', { hasText: 'Go to line' }).waitFor({ timeout: WAIT_MS });
  await page.keyboard.press('Escape');

  // The cursor goes to line 2, column 3; after a reload it is there again.
  await page.evaluate(() => {
    const view = window.pairpad.view;
    view.dispatch({ selection: { anchor: view.state.doc.line(2).from + 3 } });
  });
  await page.reload();
  await connected(page);
  await page.waitForFunction(() => {
    const { state } = window.pairpad.view;
    return state.selection.main.head === state.doc.line(2).from + 3;
  }, null, { timeout: WAIT_MS });
  await ada.context.close();
});

test('a partner\'s label shows while their cursor moves and fades; off-screen cursors get a marker that leads to them', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Cursors', language: 'rust' });
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada');
  const bob = await joinAs(env.browser, env.server.base, roomId, 'Bob');
  const lines = Array.from({ length: 200 }, (_, i) => `// line ${i + 1}`).join('\n');
  await ada.page.locator('.cm-content').click();
  await ada.page.keyboard.insertText(lines);
  await bob.page.waitForFunction(() => window.pairpad.view.state.doc.lines === 200);

  // Bob moves to line 3: Ada sees his label, then it fades.
  await bob.page.evaluate(() => {
    const view = window.pairpad.view;
    view.focus();
    view.dispatch({ selection: { anchor: view.state.doc.line(3).from }, scrollIntoView: true });
  });
  await ada.page.evaluate(() => window.pairpad.view.dispatch({ selection: { anchor: 0 }, scrollIntoView: true }));
  const opacity = () => ada.page.evaluate(() => {
    const label = document.querySelector('.cm-ySelectionInfo');
    return label ? Number(getComputedStyle(label).opacity) : null;
  });
  await ada.page.waitForFunction(() => {
    const label = document.querySelector('.cm-ySelectionInfo');
    return label && Number(getComputedStyle(label).opacity) === 1;
  }, null, { timeout: WAIT_MS });
  await ada.page.waitForFunction(() => {
    const label = document.querySelector('.cm-ySelectionInfo');
    return label && Number(getComputedStyle(label).opacity) === 0;
  }, null, { timeout: WAIT_MS });
  assert.equal(await opacity(), 0);

  // Bob goes to line 190, below what Ada sees: a marker at the bottom edge names him.
  await bob.page.evaluate(() => {
    const view = window.pairpad.view;
    view.dispatch({ selection: { anchor: view.state.doc.line(190).from }, scrollIntoView: true });
  });
  const marker = ada.page.locator('.cm-edge-marker.below', { hasText: 'Bob' });
  await marker.waitFor({ timeout: WAIT_MS });
  await marker.click();
  await ada.page.locator('.cm-edge-marker').waitFor({ state: 'detached', timeout: WAIT_MS });
  await ada.page.locator('.cm-line', { hasText: '// line 190' }).waitFor({ state: 'visible', timeout: WAIT_MS });

  // Bob types at the end of a line, which moves his cursor without re-anchoring it: his
  // label shows on Ada's screen all the while.
  await bob.page.evaluate(() => {
    const view = window.pairpad.view;
    view.dispatch({ selection: { anchor: view.state.doc.line(190).to } });
  });
  await ada.page.waitForFunction(() => {
    const label = document.querySelector('.cm-ySelectionInfo');
    return label && Number(getComputedStyle(label).opacity) === 0;
  }, null, { timeout: WAIT_MS });
  await bob.page.keyboard.type(' and Bob keeps typing here for a while', { delay: 100 });
  assert.equal(await opacity(), 1, 'label shown while Bob types');

  // Back at the top, clicking Bob in the people list goes to his cursor too.
  await ada.page.evaluate(() => window.pairpad.view.dispatch({ effects: [], scrollIntoView: true, selection: { anchor: 0 } }));
  await ada.page.locator('.cm-edge-marker.below').waitFor({ timeout: WAIT_MS });
  await ada.page.click('#people .person', { hasText: 'Bob' });
  await ada.page.locator('.cm-edge-marker').waitFor({ state: 'detached', timeout: WAIT_MS });

  // Two partners below the view: two markers, one above the other.
  const cy = await joinAs(env.browser, env.server.base, roomId, 'Cy');
  await cy.page.evaluate(() => {
    const view = window.pairpad.view;
    view.dispatch({ selection: { anchor: view.state.doc.line(150).from }, scrollIntoView: true });
  });
  await ada.page.evaluate(() => window.pairpad.view.dispatch({ scrollIntoView: true, selection: { anchor: 0 } }));
  await ada.page.locator('.cm-edge-marker.below', { hasText: 'Cy' }).waitFor({ timeout: WAIT_MS });
  await ada.page.locator('.cm-edge-marker.below', { hasText: 'Bob' }).waitFor({ timeout: WAIT_MS });
  const tops = await ada.page.locator('.cm-edge-marker.below').evaluateAll((ms) => ms.map((m) => Math.round(m.getBoundingClientRect().top)));
  assert.equal(new Set(tops).size, 2, `markers apart: ${tops}`);
  await Promise.all([ada.context.close(), bob.context.close(), cy.context.close()]);
});

test('people who do not fit in the header are counted, not cut off', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Crowd', language: 'go' });
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada', { viewport: { width: 1024, height: 700 } });
  const others = [];
  for (const name of ['Barbara Liskov', 'Charles Babbage', 'Donald Knuth', 'Edsger Dijkstra', 'Frances Allen']) {
    others.push(await joinAs(env.browser, env.server.base, roomId, name));
  }
  await ada.page.waitForFunction(() => document.getElementById('status').textContent.includes('6 people'));
  await ada.page.waitForFunction(() => {
    const shown = [...document.querySelectorAll('#people .person:not(.more):not([hidden])')];
    const more = document.querySelector('#people .more');
    const list = document.getElementById('people');
    const fits = shown.every((c) => c.getBoundingClientRect().right <= list.getBoundingClientRect().right + 1);
    return more && fits && shown.length + Number(more.textContent.slice(1)) === 5;
  }, null, { timeout: WAIT_MS });
  assert.equal((await header(ada.page)).rows, 1);
  await Promise.all([ada.context.close(), ...others.map((o) => o.context.close())]);
});


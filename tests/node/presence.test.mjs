// Presence that tells the truth, and the notices around it, in Chromium: a partner whose
// network is cut disappears, two tabs are one person, three people get three colours,
// someone else's language or title change is announced, and the status says what happens
// to edits while the server is away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRoom, createRoomFull, startServer } from './server.mjs';
import { WAIT_MS, connected, joinAs, joinAt, serverAndBrowser, openPage } from './browser.mjs';

const env = serverAndBrowser();

const peopleOf = (page) => page.locator('#people .person-name').allTextContents();

async function untilPeople(page, what, check, timeout = WAIT_MS) {
  await page
    .waitForFunction(
      (names) => {
        const shown = [...document.querySelectorAll('#people .person-name')].map((e) => e.textContent);
        return names.every((n) => shown.includes(n)) && shown.length === names.length;
      },
      check,
      { timeout },
    )
    .catch(async (error) => {
      throw new Error(`${what}: ${error.message}; shown: ${JSON.stringify(await peopleOf(page))}`);
    });
}

test('a partner whose network is cut disappears from the people list and the editor within 10 s', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Cut', language: 'python' });
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada');
  const bob = await joinAs(env.browser, env.server.base, roomId, 'Bob');
  await bob.page.locator('.cm-content').click();
  await bob.page.keyboard.type('x = 1');
  await untilPeople(ada.page, 'Bob arrives', ['Bob']);
  await ada.page.locator('.cm-ySelectionCaret').first().waitFor({ state: 'attached', timeout: WAIT_MS });

  const cut = Date.now();
  await bob.context.setOffline(true);
  await untilPeople(ada.page, 'Bob leaves', []);
  await ada.page.locator('.cm-ySelectionCaret').waitFor({ state: 'detached', timeout: WAIT_MS });
  const seconds = (Date.now() - cut) / 1000;
  console.log(`a partner cut off was gone from the other's screen after ${seconds.toFixed(1)} s`);
  assert.ok(seconds <= 10, `gone after ${seconds} s`);
  // Bob's own screen says he is offline and that his edits are kept.
  await bob.page.locator('#status', { hasText: 'Offline' }).waitFor({ timeout: WAIT_MS });
  await bob.page.locator('#banner', { hasText: 'Your edits are kept on this device and will sync when you\'re back online' }).waitFor({ timeout: WAIT_MS });
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('two tabs of one person are one entry; three people get three colours', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Tabs', language: 'go' });
  // Everyone's browser saved the same colour last time.
  const sameColor = { storageState: { cookies: [], origins: [{ origin: env.server.base, localStorage: [{ name: 'pairpad.color', value: '#d63f3f' }] }] } };
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada', sameColor);
  const second = await openPage(ada.context, 'Ada (2nd tab)', `${env.server.base}/r/${roomId}`);
  await connected(second);
  const bob = await joinAs(env.browser, env.server.base, roomId, 'Bob', sameColor);
  const cy = await joinAs(env.browser, env.server.base, roomId, 'Cy', sameColor);
  await untilPeople(bob.page, 'Ada once, with her tabs', ['Ada · 2 tabs', 'Cy']);
  // Your own name is the name button, once.
  await untilPeople(second, 'Ada\'s second tab lists the others', ['Bob', 'Cy']);
  assert.equal(await bob.page.textContent('#name'), 'Bob');
  await bob.page.waitForFunction(() => document.getElementById('status').textContent.includes('3 people'));

  const colors = async (page) => page.waitForFunction(() => {
    const dots = [...document.querySelectorAll('#people .dot, #name .dot')].map((d) => d.style.background);
    return dots.length === 3 && new Set(dots).size === 3 ? dots : null;
  }, null, { timeout: WAIT_MS }).then((h) => h.jsonValue());
  const seen = await colors(cy.page);
  assert.equal(new Set(seen).size, 3, `three colours: ${seen}`);

  // Ada closes her second tab: she is one tab again for the others at once, not after
  // her closed tab's presence expires.
  await second.close();
  await untilPeople(bob.page, 'Ada down to one tab', ['Ada', 'Cy'], 3000);
  await Promise.all([ada.context.close(), bob.context.close(), cy.context.close()]);
});

test('a language or title change by someone else is announced with who and what', async () => {
  const { roomId, ownerKey } = await createRoomFull(env.server.base, { title: 'Notices', language: 'plaintext' });
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada');
  // Bob owns the room: only the owner renames it.
  const bob = await joinAt(env.browser, `${env.server.base}/r/${roomId}#owner=${ownerKey}`, 'Bob');
  await bob.page.selectOption('#language', 'python');
  await ada.page.locator('#toast', { hasText: 'Bob changed the language to Python' }).waitFor({ timeout: WAIT_MS });
  await bob.page.fill('#title', 'Renamed by Bob');
  await bob.page.press('#title', 'Enter');
  await ada.page.locator('#toast', { hasText: 'Bob renamed the room to “Renamed by Bob”' }).waitFor({ timeout: WAIT_MS });
  // Bob's own changes are not announced to him.
  assert.ok(!(await bob.page.locator('#toast').textContent()).includes('Bob changed'));
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('a new room offers an invite, remembers its language, and a lost server is explained', async () => {
  const own = await startServer();
  const context = await env.browser.newContext();
  const page = await openPage(context, 'Ada', `${own.base}/`);
  await page.selectOption('#new-language', 'rust');
  await page.click('#create button[type=submit]');
  await page.waitForURL(/\/r\/[0-9a-f-]{36}$/);
  await page.fill('#name-input', 'Ada');
  await page.click('#name-dialog button[value=save]');
  await page.locator('#invite-dialog[open]').waitFor({ timeout: WAIT_MS });
  assert.equal(await page.inputValue('#invite-link'), page.url());
  assert.ok((await page.getAttribute('#invite-qr', 'src')).startsWith('data:image/svg+xml'));
  await page.click('#invite-dialog button[value=close]');
  await connected(page);
  // The next keys go to the code.
  await page.keyboard.type('pack');
  await page.waitForFunction(() => window.pairpad.view.state.doc.toString() === 'pack');

  // The landing page starts from the language chosen last.
  const landing = await openPage(context, 'Ada', `${own.base}/`);
  assert.equal(await landing.inputValue('#new-language'), 'rust');
  await landing.close();

  // The server goes away: the status says the edits are kept and will sync.
  await own.kill();
  await page.locator('#status', { hasText: 'Server unreachable' }).waitFor({ timeout: WAIT_MS });
  await page.locator('#banner', { hasText: "Can't reach the server. Your edits are kept on this device and will sync when it's back." }).waitFor({ timeout: WAIT_MS });
  await context.close();
});

test('Cancel in the name dialog keeps the name, Enter saves it; a first visitor who cancels gets a guest name', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Names', language: 'go' });
  const context = await env.browser.newContext();
  const page = await openPage(context, 'Newcomer', `${env.server.base}/r/${roomId}`);
  await page.locator('#name-dialog[open]').waitFor({ timeout: WAIT_MS });
  await page.click('#name-dialog button[value=cancel]');
  await page.waitForFunction(() => /^Guest \d{4}$/.test(document.getElementById('name').textContent));
  const guest = await page.textContent('#name');
  await page.click('#name');
  await page.fill('#name-input', 'Typo Name');
  await page.click('#name-dialog button[value=cancel]');
  await page.locator('#name-dialog[open]').waitFor({ state: 'detached', timeout: WAIT_MS }).catch(() => {});
  await page.waitForFunction(() => !document.getElementById('name-dialog').open);
  assert.equal(await page.textContent('#name'), guest);
  // Enter saves what was typed (Cancel, the form's first button, is not the one it presses).
  await page.click('#name');
  await page.fill('#name-input', 'Entered Name');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('name').textContent === 'Entered Name');
  await context.close();
});

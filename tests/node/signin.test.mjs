// Sign-in in a real browser: a server that asks for tokens, a page that gets its token
// from the address once (as a company portal or an identity proxy hands it over), keeps
// it for the tab, never puts it in a WebSocket address, and shows the verified name.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startServer } from './server.mjs';
import { WAIT_MS, connected, launchBrowser } from './browser.mjs';

const SECRET = 'the secret of the browser sign-in test, 32+ bytes';
const env = { server: null, browser: null };
before(async () => {
  env.server = await startServer(['--jwt-secret', SECRET]);
  env.browser = await launchBrowser();
});
after(async () => {
  await env.browser?.close();
  await env.server?.stop();
});

const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An HS256 token for `claims` (an hour from now unless they say otherwise). */
function token(claims) {
  const body = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url({ exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

async function createRoomFull(bearer) {
  const response = await fetch(`${env.server.base}/api/rooms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${bearer}` },
    body: JSON.stringify({ title: 'Signed in', language: 'python' }),
  });
  assert.equal(response.status, 201);
  return response.json();
}
const createRoom = async (bearer) => (await createRoomFull(bearer)).roomId;

/** A page in its own context that records the WebSocket addresses it opens. */
async function open(url) {
  const context = await env.browser.newContext({ viewport: { width: 1100, height: 600 } });
  const page = await context.newPage();
  const sockets = [];
  page.on('websocket', (socket) => sockets.push(socket.url()));
  page.on('pageerror', (error) => assert.fail(`page error: ${error.message}`));
  await page.goto(url);
  return { context, page, sockets };
}

test('a signed-in person is let in by the token from the address, and shown by its name', async () => {
  const roomId = await createRoom(token({ name: 'Owner' }));

  // No token: the page says sign-in is needed, and connects nowhere.
  const stranger = await open(`${env.server.base}/r/${roomId}`);
  await stranger.page.waitForFunction(() => document.getElementById('status').dataset.status === 'signed-out', null, { timeout: WAIT_MS });
  assert.match(await stranger.page.locator('#banner').textContent(), /sign-in page/);
  assert.deepEqual(stranger.sockets, []);
  // A token pasted into the address of that page afterwards lets them in; a name in
  // any script is shown as the server shows it.
  await stranger.page.evaluate((t) => { location.hash = `token=${t}`; }, token({ name: 'José Ñúñez 李\u200b' }));
  await connected(stranger.page);
  assert.equal(await stranger.page.locator('#name .me').textContent(), 'José Ñúñez 李');
  assert.ok(!stranger.page.url().includes('token'));
  await stranger.context.close();

  // With one: in, without being asked a name; the name is the token's, and fixed.
  const ada = await open(`${env.server.base}/r/${roomId}#token=${token({ name: 'Ada Lovelace', email: 'ada@example.com' })}`);
  await connected(ada.page);
  assert.equal(await ada.page.locator('#name-dialog[open]').count(), 0, 'no name asked');
  assert.equal(await ada.page.locator('#name .me').textContent(), 'Ada Lovelace');
  assert.ok(!ada.page.url().includes('token'), 'the token left the address');
  assert.ok(ada.sockets.length > 0 && ada.sockets.every((url) => !url.includes('token')), ada.sockets.join(' '));

  // Bob's page claims another name for him in its storage: Ada sees the token's.
  const bob = await open(`${env.server.base}/`);
  await bob.page.evaluate(() => localStorage.setItem('pairpad.name', 'Not Bob'));
  await bob.page.goto(`${env.server.base}/r/${roomId}#token=${token({ name: 'Bob Verified' })}`);
  await connected(bob.page);
  await ada.page.locator('#people .person', { hasText: 'Bob Verified' }).waitFor({ timeout: WAIT_MS });
  assert.equal(await ada.page.locator('#people .person', { hasText: 'Not Bob' }).count(), 0);

  // Typing works, and a reload keeps the sign-in for the tab.
  await ada.page.locator('.cm-content').click();
  await ada.page.keyboard.type('print("signed")', { delay: 10 });
  await bob.page.waitForFunction(() => window.pairpad.view.state.doc.toString().includes('signed'), null, { timeout: WAIT_MS });
  await ada.page.reload();
  await connected(ada.page);
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('an owner key and a token handed over together are both kept', async () => {
  const { roomId, ownerKey } = await createRoomFull(token({ name: 'Owner' }));
  const owner = await open(`${env.server.base}/r/${roomId}#owner=${ownerKey}&token=${token({ name: 'Olga Owner' })}`);
  await connected(owner.page);
  assert.equal(new URL(owner.page.url()).hash, '', 'both left the address');
  assert.equal(await owner.page.locator('#name .me').textContent(), 'Olga Owner');
  await owner.page.click('#share');
  await owner.page.locator('#owner-controls').waitFor({ timeout: WAIT_MS });
  await owner.context.close();
});

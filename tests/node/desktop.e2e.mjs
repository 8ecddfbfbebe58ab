// The desktop app end to end, under Xvfb: tauri-driver + WebKitWebDriver drive the real
// pairpad-desktop binary. It hosts a session; a second person opens the LAN URL the app
// shows in Chromium; both type, and both texts converge. Then it shares a folder: the
// guest edits a file, the edit lands on disk, and a change on disk reaches the guest.
// Run by scripts/test with PAIRPAD_DESKTOP_BIN set, inside xvfb-run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const WAIT_MS = 30_000;
const ARTIFACTS = process.env.PAIRPAD_ARTIFACTS ?? join(import.meta.dirname, '..', '..', 'test-artifacts');
const app = process.env.PAIRPAD_DESKTOP_BIN;
const driverBin = process.env.TAURI_DRIVER ?? 'tauri-driver';
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

let driver;
let driverUrl;
let session;
/** The start page's window. */
let main;
let browser;
let home;

const freePort = () =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** One W3C WebDriver call; throws with the driver's message on error. */
async function wd(method, path, body) {
  const response = await fetch(`${driverUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(`${method} ${path}: ${JSON.stringify(answer.value ?? answer)}`);
  return answer.value;
}
const s = (path) => `/session/${session}${path}`;
const run = (script, ...args) => wd('POST', s('/execute/sync'), { script, args });
const find = async (css) => {
  const found = await wd('POST', s('/element'), { using: 'css selector', value: css });
  assert.ok(found?.[ELEMENT], `no element ${css}: ${JSON.stringify(found)} at ${await wd('GET', s('/url'))}`);
  return found[ELEMENT];
};

/** Polls `probe` until it returns a truthy value; the deadline makes a hang a failure. */
async function until(what, probe) {
  const deadline = Date.now() + WAIT_MS;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error.message;
    }
    if (Date.now() > deadline) assert.fail(`timed out: ${what} (last: ${JSON.stringify(last)})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

before(async () => {
  assert.ok(app, 'PAIRPAD_DESKTOP_BIN must point at the pairpad-desktop binary');
  home = mkdtempSync(join(tmpdir(), 'pairpad-desktop-'));
  const hostPort = await freePort();
  writeFileSync(join(home, 'settings.json'), JSON.stringify({
    displayName: 'Desk',
    port: hostPort,
    databaseUrl: `sqlite://${join(home, 'rooms.db')}`,
  }));
  const port = await freePort();
  driverUrl = `http://127.0.0.1:${port}`;
  driver = spawn(driverBin, ['--port', String(port), '--native-port', String(await freePort())], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: {
      ...process.env,
      PAIRPAD_CONFIG_DIR: home,
      XDG_DATA_HOME: join(home, 'data'),
      WEBKIT_DISABLE_DMABUF_RENDERER: '1',
    },
  });
  await until('tauri-driver listens', () => fetch(`${driverUrl}/status`).then((r) => r.ok).catch(() => false));
  const created = await wd('POST', '/session', {
    capabilities: { alwaysMatch: { browserName: 'wry', 'tauri:options': { application: app } } },
  });
  session = created.sessionId;
  main = await wd('GET', s('/window'));
  await wd('POST', s('/timeouts'), { implicit: 10_000, script: 20_000 });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  if (session) await wd('DELETE', s('')).catch(() => {});
  driver?.kill('SIGTERM');
  if (home) rmSync(home, { recursive: true, force: true });
});

test('host a session in the app, join it from a browser over the LAN URL, type in both', async () => {
  await wd('POST', s(`/element/${await find('#host')}/click`), {});
  const urls = await until('the app shows LAN URLs', () =>
    run("return [...document.querySelectorAll('#host-urls code')].map((e) => e.textContent)").then((u) => u.length && u),
  );
  const lanUrl = urls.find((u) => !u.includes('[')) ?? urls[0];
  assert.match(lanUrl, /^http:\/\/(\d+\.){3}\d+:\d+\/r\/[0-9a-f-]{36}$/);
  assert.ok(!lanUrl.includes('127.0.0.1'), 'a LAN address, not loopback');

  // The room opened in a window of its own.
  const roomWindow = await until('the room window opens', async () =>
    (await wd('GET', s('/window/handles'))).find((h) => h !== main),
  );
  mkdirSync(ARTIFACTS, { recursive: true });
  writeFileSync(join(ARTIFACTS, 'desktop-host.png'), Buffer.from(await wd('GET', s('/screenshot')), 'base64'));

  // A colleague opens the LAN URL in a browser.
  const bob = await browser.newPage();
  await bob.goto(lanUrl);
  await bob.fill('#name-input', 'Bob');
  await bob.click('#name-dialog button[value=save]');
  await bob.waitForFunction(() => document.getElementById('status')?.dataset.status === 'connected', null, { timeout: WAIT_MS });

  await wd('POST', s('/window'), { handle: roomWindow });
  await until('the editor is connected in the app', () =>
    run("return document.getElementById('status')?.dataset.status === 'connected'"),
  );
  // The app handed its display name to the editor: no name dialog, "Desk" in the list.
  assert.equal(await run("return document.getElementById('name').textContent"), 'Desk');
  // The room page is remote content: no Tauri IPC reaches it.
  const ipc = await wd('POST', s('/execute/async'), {
    script: `const done = arguments[arguments.length - 1];
      const internals = window.__TAURI_INTERNALS__;
      if (!internals || typeof internals.invoke !== 'function') return done('no ipc');
      internals.invoke('get_settings').then(() => done('ipc answered'), (e) => done('refused: ' + e));`,
    args: [],
  });
  assert.notEqual(ipc, 'ipc answered');

  // Bob writes two lines; then each types at the end of their own line, at once.
  await bob.locator('.cm-content').click();
  await bob.keyboard.insertText('// app:\n// browser:');
  const appText = () => run('return window.pairpad.view.state.doc.toString()');
  await until('the app sees Bob\'s lines', async () => (await appText()).includes('// browser:'));
  const endOfLine = (n) => `const v = window.pairpad.view; v.focus();
    v.dispatch({ selection: { anchor: v.state.doc.line(${n}).to } });`;
  await run(endOfLine(1));
  await bob.evaluate(new Function(endOfLine(2)));
  const content = await find('.cm-content');
  await Promise.all([
    wd('POST', s(`/element/${content}/value`), { text: ' typed in the app' }),
    bob.keyboard.type(' typed in the browser', { delay: 5 }),
  ]);
  const bobText = () => bob.evaluate(() => window.pairpad.view.state.doc.toString());
  const text = await until('both texts converge', async () => {
    const [a, b] = await Promise.all([appText(), bobText()]);
    if (a === b && a === '// app: typed in the app\n// browser: typed in the browser') return a;
    throw new Error(`app: ${JSON.stringify(a)}, browser: ${JSON.stringify(b)}`);
  });
  assert.ok(text);
  await bob.locator('.cm-ySelectionInfo', { hasText: 'Desk' }).waitFor({ state: 'visible', timeout: WAIT_MS });
  writeFileSync(join(ARTIFACTS, 'desktop-room.png'), Buffer.from(await wd('GET', s('/screenshot')), 'base64'));

  // Stop hosting from the start page: the server closes, the page offers Host again.
  await wd('POST', s('/window'), { handle: main });
  await wd('POST', s(`/element/${await find('#host-stop')}/click`), {});
  await until('the start page shows Host again', () =>
    run("return !document.getElementById('host-idle').hidden"),
  );
  await until('the server is gone', () => fetch(lanUrl).then(() => false, () => true));
  await bob.waitForFunction(() => document.getElementById('status').dataset.status !== 'connected', null, { timeout: WAIT_MS });
});

test('share a folder from the app; a guest edits a file, the edit lands on disk, a disk change reaches the guest', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'pairpad-shared-'));
  mkdirSync(join(folder, 'src'));
  writeFileSync(join(folder, 'README.md'), '# Shared\n');
  writeFileSync(join(folder, 'src', 'app.js'), 'export function start() {\n}\n');
  writeFileSync(join(folder, '.gitignore'), 'secret.txt\n');
  writeFileSync(join(folder, 'secret.txt'), 'not for the room\n');
  writeFileSync(join(folder, 'logo.png'), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0x0d]));
  const appJs = join(folder, 'src', 'app.js');

  await wd('POST', s('/window'), { handle: main });
  await find('#host-folder');
  // The button asks the system's picker for a folder, then shares it the same way.
  await run('window.pairpadDesktop.shareFolder(arguments[0]); return true;', folder);
  const urls = await until('the app shows the shared session', () =>
    run(`return document.getElementById('host-shared').hidden ? null
      : [...document.querySelectorAll('#host-urls code')].map((e) => e.textContent)`).then((u) => u?.length && u),
  );
  assert.equal(await run("return document.getElementById('host-folder-path').textContent"), folder);
  const skipped = await run("return document.getElementById('host-skipped-list').textContent");
  assert.match(skipped, /logo\.png/, 'the binary file is listed as left out');
  const lanUrl = urls.find((u) => !u.includes('[')) ?? urls[0];

  const guest = await browser.newPage();
  await guest.goto(lanUrl);
  await guest.fill('#name-input', 'Guest');
  await guest.click('#name-dialog button[value=save]');
  await guest.waitForFunction(() => document.getElementById('status')?.dataset.status === 'connected', null, { timeout: WAIT_MS });
  const names = await guest.locator('#tree .tree-name').allTextContents();
  assert.deepEqual(names.sort(), ['.gitignore', 'README.md', 'src'], 'ignored and binary files are not in the tree');

  // The guest opens src/app.js and types in it: the file on disk gets the edit.
  await guest.locator('#tree .tree-name', { hasText: 'src' }).click();
  await guest.locator('#tree .tree-name', { hasText: 'app.js' }).click();
  await guest.waitForFunction(() => window.pairpad.view.state.doc.toString().startsWith('export function start'), null, { timeout: WAIT_MS });
  await guest.evaluate(() => {
    const view = window.pairpad.view;
    view.focus();
    view.dispatch({ selection: { anchor: view.state.doc.line(1).to } });
  });
  await guest.keyboard.type('\nconsole.log("from the guest");', { delay: 10 });
  await until('the edit is on disk', () => readFileSync(appJs, 'utf8').includes('console.log("from the guest");'));

  // The host's own editor saves the file with a line added at the top: the guest sees it,
  // and keeps their own line.
  const onDisk = readFileSync(appJs, 'utf8');
  writeFileSync(appJs, `// saved on the host\n${onDisk}`);
  await guest.waitForFunction(() => {
    const text = window.pairpad.view.state.doc.toString();
    return text.startsWith('// saved on the host\n') && text.includes('from the guest');
  }, null, { timeout: WAIT_MS });
  await guest.keyboard.type(' // and more', { delay: 10 });

  // Stopping writes every edit before the start page says it stopped.
  await wd('POST', s(`/element/${await find('#host-stop')}/click`), {});
  await until('the start page shows Host again', () => run("return !document.getElementById('host-idle').hidden"));
  assert.equal(await run("return document.getElementById('host-error').hidden"), true);
  assert.equal(
    readFileSync(appJs, 'utf8'),
    '// saved on the host\nexport function start() {\n    console.log("from the guest"); // and more\n}\n',
  );
  await guest.close();
  rmSync(folder, { recursive: true, force: true });
});

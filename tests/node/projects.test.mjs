// Projects in the browser editor: the file tree, tabs, each person's file, jumping to a
// partner in another file, and files created, renamed and deleted by one person reaching
// the other. Real server, real Chromium, each person in their own browser context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { createRoom, mainFileOf } from './server.mjs';
import { ARTIFACTS, WAIT_MS, joinAs, serverAndBrowser, textOf, untilText } from './browser.mjs';
import { languageOfPath } from '../../ui/src/languages.js';

const env = serverAndBrowser();
const join = (roomId, name) => joinAs(env.browser, env.server.base, roomId, name);

async function addFile(roomId, path, text = '') {
  const response = await fetch(`${env.server.base}/api/rooms/${roomId}/files`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ path, text }),
  });
  assert.equal(response.status, 201, `create ${path}`);
  return (await response.json()).fileId;
}

const listFiles = async (roomId) =>
  (await (await fetch(`${env.server.base}/api/rooms/${roomId}/files`)).json()).files;

/** The tree row of `name` (a file or folder name) in `page`. */
const row = (page, name) => page.locator('#tree [role=treeitem]', { has: page.locator(`.tree-name:text-is("${name}")`) });

/** Puts the cursor at the end of the editor in front, focused. */
const toEnd = (page) => page.evaluate(() => {
  const view = window.pairpad.view;
  view.focus();
  view.dispatch({ selection: { anchor: view.state.doc.length } });
});

/** The path of the file in front in `page`. */
const activePath = (page) => page.evaluate(() => {
  const { workspace } = window.pairpad;
  return workspace.path(workspace.active.fileId);
});

async function untilActive(page, path) {
  await page.waitForFunction(
    (want) => {
      const { workspace } = window.pairpad;
      return workspace.active && workspace.path(workspace.active.fileId) === want;
    },
    path,
    { timeout: WAIT_MS },
  );
}

test('two people in different files see each other in the tree, jump to each other, and see a new file appear', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Project', language: 'python' });
  await addFile(roomId, 'src/main.rs', 'fn main() {\n}\n');
  await addFile(roomId, 'docs/notes.md', '# Notes\n\n');
  const ada = await join(roomId, 'Ada');
  const bob = await join(roomId, 'Bob');

  // The tree lists the project: folders first, closed; the first file at the top level.
  await row(ada.page, 'src').waitFor({ timeout: WAIT_MS });
  const rows = await ada.page.locator('#tree .tree-name').allTextContents();
  assert.deepEqual(rows, ['docs', 'src', 'main.py']);

  // Ada opens src/main.rs with the mouse and types in it.
  await row(ada.page, 'src').click();
  await row(ada.page, 'main.rs').click();
  await untilActive(ada.page, 'src/main.rs');
  await untilText(ada.page, 'main.rs loaded', { has: ['fn main()'] });
  await ada.page.waitForFunction(() => document.body.dataset.language === 'rust', null, { timeout: WAIT_MS });
  assert.equal(await ada.page.locator('#language').isDisabled(), true, 'the language follows the extension');
  await ada.page.evaluate(() => window.pairpad.view.dispatch({ selection: { anchor: 11 } }));
  // Rust's indentation: the new line inside the braces is indented by the editor.
  await ada.page.keyboard.type('\nprintln!("ada");', { delay: 15 });

  // Bob opens docs/notes.md with the keyboard only: into the tree, down, open, down, Enter.
  await bob.page.locator('#tree [role=treeitem][tabindex="0"]').focus();
  await bob.page.keyboard.press('Home');
  await bob.page.keyboard.press('ArrowRight');
  await bob.page.keyboard.press('ArrowDown');
  await bob.page.keyboard.press('Enter');
  await untilActive(bob.page, 'docs/notes.md');
  await untilText(bob.page, 'notes loaded', { has: ['# Notes'] });
  await toEnd(bob.page);
  await bob.page.keyboard.type('Bob writes here', { delay: 15 });

  // Each sees where the other is: a dot on the file's row, and the file in the people list.
  await ada.page.locator('#people .person', { hasText: 'Bob' }).locator('.person-file', { hasText: 'notes.md' })
    .waitFor({ timeout: WAIT_MS });
  await row(ada.page, 'docs').click();
  await row(ada.page, 'notes.md').locator('.tree-people .dot[title="Bob"]').waitFor({ timeout: WAIT_MS });
  await bob.page.locator('#people .person', { hasText: 'Ada' }).locator('.person-file', { hasText: 'main.rs' })
    .waitFor({ timeout: WAIT_MS });

  // Ada clicks Bob: his file opens for her, with his cursor in view.
  await ada.page.locator('#people .person', { hasText: 'Bob' }).click();
  await untilActive(ada.page, 'docs/notes.md');
  await untilText(ada.page, 'Ada sees Bob\'s words', { has: ['Bob writes here'] });
  await ada.page.locator('.pane:not([hidden]) .cm-ySelectionCaret').waitFor({ timeout: WAIT_MS });
  // Both files stay open as tabs; her own cursor left main.rs with her.
  assert.deepEqual(await ada.page.locator('#tabs .tab-label').allTextContents(), ['main.py', 'main.rs', 'notes.md']);

  // Bob jumps back to Ada, who went back to main.rs.
  await ada.page.locator('#tabs .tab', { hasText: 'main.rs' }).click();
  await bob.page.locator('#people .person', { hasText: 'Ada' }).locator('.person-file', { hasText: 'main.rs' })
    .waitFor({ timeout: WAIT_MS });
  await bob.page.locator('#people .person', { hasText: 'Ada' }).click();
  await untilActive(bob.page, 'src/main.rs');
  await untilText(bob.page, 'Bob sees Ada\'s line', { has: ['println!("ada");'] });

  // Bob creates a file; it opens for him, and appears in Ada's tree.
  await bob.page.click('#new-file');
  assert.equal(await bob.page.inputValue('#path-input'), 'src/', 'a new file starts in the folder of the file in front');
  await bob.page.keyboard.type('util.rs');
  await bob.page.keyboard.press('Enter');
  await untilActive(bob.page, 'src/util.rs');
  await bob.page.keyboard.type('pub fn helper() {}', { delay: 10 });
  await row(ada.page, 'util.rs').waitFor({ timeout: WAIT_MS });
  await row(ada.page, 'util.rs').click();
  await untilActive(ada.page, 'src/util.rs');
  await untilText(ada.page, 'Ada sees the new file', { has: ['pub fn helper() {}'] });

  mkdirSync(ARTIFACTS, { recursive: true });
  await ada.page.screenshot({ path: joinPath(ARTIFACTS, 'project-two-people.png') });

  // The server holds what both typed.
  const files = await listFiles(roomId);
  const main = files.find((f) => f.path === 'src/main.rs');
  const text = await (await fetch(`${env.server.base}/api/rooms/${roomId}/files/${main.fileId}`)).text();
  assert.equal(text, 'fn main() {\n    println!("ada");\n}\n');
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('rename and delete reach the other person; the server\'s refusals are shown in the dialog', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Renames', language: 'plaintext' });
  await addFile(roomId, 'lib/a.md', 'alpha\n');
  await addFile(roomId, 'lib/b.md', 'beta\n');
  const ada = await join(roomId, 'Ada');
  const bob = await join(roomId, 'Bob');
  await row(bob.page, 'lib').click();
  await row(bob.page, 'a.md').click();
  await untilText(bob.page, 'a.md open', { has: ['alpha'] });

  // Ada renames a.md with F2; a name taken, then a bad one, are refused in the dialog.
  await row(ada.page, 'lib').click();
  await row(ada.page, 'a.md').focus();
  await ada.page.keyboard.press('F2');
  const input = ada.page.locator('#path-input');
  assert.equal(await input.inputValue(), 'lib/a.md');
  assert.equal(await ada.page.evaluate(() => {
    const field = document.getElementById('path-input');
    return field.value.slice(field.selectionStart, field.selectionEnd);
  }), 'a', 'the name is selected, not the extension');
  await ada.page.keyboard.type('B');
  await ada.page.keyboard.press('Enter');
  await ada.page.locator('#path-error', { hasText: /taken|exists|clash/i }).waitFor({ timeout: WAIT_MS });
  await input.fill('lib/../../etc/passwd');
  await ada.page.keyboard.press('Enter');
  await ada.page.locator('#path-error', { hasText: '..' }).waitFor({ timeout: WAIT_MS });
  await input.fill('lib/a?.md');
  await ada.page.keyboard.press('Enter');
  await ada.page.locator('#path-error:not(:empty)').waitFor({ timeout: WAIT_MS });
  assert.ok(await ada.page.locator('#path-dialog[open]').isVisible(), 'the dialog stays open on a refusal');
  await input.fill('lib/alpha.py');
  await ada.page.keyboard.press('Enter');
  await ada.page.locator('#path-dialog[open]').waitFor({ state: 'detached', timeout: WAIT_MS });

  // Bob's open tab follows: new name, new language, same text.
  await bob.page.locator('#tabs .tab-label', { hasText: 'alpha.py' }).waitFor({ timeout: WAIT_MS });
  await bob.page.waitForFunction(() => document.body.dataset.language === 'python', null, { timeout: WAIT_MS });
  assert.equal(await activePath(bob.page), 'lib/alpha.py');

  // The first file cannot be deleted: its row has no delete button.
  assert.equal(await row(ada.page, 'notes.txt').locator('.tree-action[aria-label^="Delete"]').count(), 0);

  // Ada deletes the file Bob has open: his tab closes and he is told.
  await row(ada.page, 'alpha.py').hover();
  await row(ada.page, 'alpha.py').locator('.tree-action[aria-label^="Delete"]').click();
  await ada.page.locator('#confirm-dialog[open]').waitFor();
  await ada.page.click('#confirm-yes');
  await bob.page.locator('#toast', { hasText: 'lib/alpha.py was deleted' }).waitFor({ timeout: WAIT_MS });
  await row(bob.page, 'alpha.py').waitFor({ state: 'detached', timeout: WAIT_MS });
  assert.deepEqual(await bob.page.locator('#tabs .tab-label').allTextContents(), ['notes.txt']);
  assert.deepEqual((await listFiles(roomId)).map((f) => f.path).sort(), ['lib/b.md', 'notes.txt']);

  // A rename chosen while someone else moved the file is refused, not undoing their move.
  const bId = (await listFiles(roomId)).find((f) => f.path === 'lib/b.md').fileId;
  await row(ada.page, 'b.md').focus();
  await ada.page.keyboard.press('F2');
  await ada.page.locator('#path-dialog[open]').waitFor();
  const moved = await fetch(`${env.server.base}/api/rooms/${roomId}/files/${bId}`, {
    method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: 'lib/moved.md' }),
  });
  assert.equal(moved.status, 200);
  await input.fill('lib/mine.md');
  await ada.page.keyboard.press('Enter');
  await ada.page.locator('#path-error', { hasText: 'moved or renamed meanwhile' }).waitFor({ timeout: WAIT_MS });
  await ada.page.keyboard.press('Escape');
  assert.ok((await listFiles(roomId)).some((f) => f.path === 'lib/moved.md'));

  // Deleting a folder asks once and deletes every file in it.
  await row(ada.page, 'lib').hover();
  await row(ada.page, 'lib').locator('.tree-action[aria-label^="Delete"]').click();
  await ada.page.locator('#confirm-text', { hasText: 'its 1 file' }).waitFor();
  await ada.page.click('#confirm-yes');
  await row(bob.page, 'lib').waitFor({ state: 'detached', timeout: WAIT_MS });
  await Promise.all([ada.context.close(), bob.context.close()]);
});

test('a reload brings back the open files, a link opens the file it names, and the project downloads as a zip', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Reload', language: 'javascript' });
  const deep = await addFile(roomId, 'a/b/c/deep.js', 'export const deep = 1;\n');
  await addFile(roomId, 'top.css', 'body {}\n');
  const ada = await join(roomId, 'Ada');
  await row(ada.page, 'top.css').click();
  await untilText(ada.page, 'top.css open', { has: ['body {}'] });
  await ada.page.reload();
  await untilActive(ada.page, 'top.css');
  assert.deepEqual(await ada.page.locator('#tabs .tab-label').allTextContents(), ['main.js', 'top.css']);

  // A link to a file deep in folders opens it, with its folders open in the tree.
  const page = await ada.context.newPage();
  await page.goto(`${env.server.base}/r/${roomId}#file=${deep}`);
  await untilActive(page, 'a/b/c/deep.js');
  await untilText(page, 'deep.js open', { has: ['export const deep'] });
  await row(page, 'deep.js').waitFor({ timeout: WAIT_MS });
  assert.equal(await row(page, 'deep.js').getAttribute('aria-selected'), 'true');

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-zip')]);
  assert.match(download.suggestedFilename(), /\.zip$/);

  // The first file renamed to another extension takes that language, the room's too.
  await row(page, 'main.js').focus();
  await page.keyboard.press('F2');
  await page.fill('#path-input', 'index.ts');
  await page.keyboard.press('Enter');
  await row(page, 'index.ts').click();
  await page.waitForFunction(() => document.body.dataset.language === 'typescript', null, { timeout: WAIT_MS });
  assert.equal(await page.inputValue('#language'), 'typescript');
  const deadline = Date.now() + WAIT_MS;
  while ((await (await fetch(`${env.server.base}/api/rooms/${roomId}`)).json()).language !== 'typescript') {
    assert.ok(Date.now() < deadline, 'the room\'s language follows');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await ada.context.close();
});

test('the editor\'s language for a path is the server\'s', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Languages', language: 'plaintext' });
  const names = [
    'a.js', 'b.mjs', 'c.tsx', 'd.py', 'e.pyi', 'f.rs', 'g.go', 'h.java', 'i.c', 'j.h', 'k.hpp', 'l.cs', 'm.php',
    'n.HTML', 'o.css', 'p.json', 'q.markdown', 'r.sql', 's.yml', 't.zsh', 'Dockerfile', 'Makefile', 'justfile',
    '.bashrc', 'noext', 'u.unknown', 'v.tar.gz', 'W.Rs',
  ];
  for (const name of names) await addFile(roomId, `x/${name}`);
  for (const file of await listFiles(roomId)) {
    assert.equal(languageOfPath(file.path), file.language, file.path);
  }
});

test('typed offline in a file then closed, the edit still reaches the server; a deleted file takes no more keystrokes; links and dialogs behave', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Edges', language: 'javascript' });
  const offlineId = await addFile(roomId, 'f.js', 'let f = 1;\n');
  const doomedId = await addFile(roomId, 'doomed.js', 'let d = 1;\n');
  const ada = await join(roomId, 'Ada');
  const text = async (fileId) =>
    (await fetch(`${env.server.base}/api/rooms/${roomId}/files/${fileId}`)).text();

  // Offline: type in f.js, close its tab, come back online: the edit is on the server.
  await row(ada.page, 'f.js').click();
  await untilText(ada.page, 'f.js open', { has: ['let f'] });
  await ada.context.setOffline(true);
  await ada.page.locator('#status[data-status="offline"]').waitFor({ timeout: WAIT_MS });
  await toEnd(ada.page);
  await ada.page.keyboard.type('// typed offline\n', { delay: 20 });
  await ada.page.locator('#tabs .tab', { hasText: 'f.js' }).locator('.tab-close').click();
  await ada.context.setOffline(false);
  const deadline = Date.now() + WAIT_MS;
  while (!(await text(offlineId)).includes('// typed offline')) {
    assert.ok(Date.now() < deadline, 'the offline edit reached the server');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  // Closed offline and opened again before the connection came back: the same document,
  // and this person is in its presence again (cursor label, people in the file).
  await row(ada.page, 'f.js').click();
  await untilText(ada.page, 'f.js open again', { has: ['// typed offline'] });
  await ada.context.setOffline(true);
  await ada.page.locator('#status[data-status="offline"]').waitFor({ timeout: WAIT_MS });
  await toEnd(ada.page);
  await ada.page.keyboard.type('// again\n', { delay: 20 });
  await ada.page.locator('#tabs .tab', { hasText: 'f.js' }).locator('.tab-close').click();
  await row(ada.page, 'f.js').click();
  await untilText(ada.page, 'the lingering text is back', { has: ['// again'] });
  assert.equal(
    await ada.page.evaluate(() => window.pairpad.workspace.active.connection.awareness.getLocalState()?.user?.name),
    'Ada',
  );
  await ada.context.setOffline(false);

  // A file deleted while its tab is in front: the next keys land nowhere, not in main.js.
  await row(ada.page, 'doomed.js').click();
  await untilText(ada.page, 'doomed.js open', { has: ['let d'] });
  await ada.page.keyboard.type('x', { delay: 20 });
  assert.equal((await fetch(`${env.server.base}/api/rooms/${roomId}/files/${doomedId}`, { method: 'DELETE' })).status, 204);
  await ada.page.locator('#toast', { hasText: 'doomed.js was deleted' }).waitFor({ timeout: WAIT_MS });
  await ada.page.keyboard.type('stray keys', { delay: 20 });
  assert.ok(!(await text(await mainFileOf(env.server.base, roomId))).includes('stray'), 'the first file got no stray keys');
  assert.ok(!(await textOf(ada.page)).includes('stray'));

  // A link to another file pasted into the address bar of the open room opens it.
  await ada.page.evaluate((id) => { location.hash = `file=${id}`; }, offlineId);
  await untilActive(ada.page, 'f.js');

  // A path ending in a slash is a folder, not a file name; Escape goes back to the tree row.
  await ada.page.click('#new-file');
  await ada.page.fill('#path-input', 'newfolder/');
  await ada.page.keyboard.press('Enter');
  await ada.page.locator('#path-error', { hasText: 'Type a file name after the folder' }).waitFor();
  await ada.page.keyboard.press('Escape');
  // The dialog's close event comes a task later and puts the focus back in the editor.
  await ada.page.waitForFunction(() => document.activeElement?.closest('.cm-editor'));
  await row(ada.page, 'f.js').focus();
  await ada.page.keyboard.press('F2');
  await ada.page.locator('#path-dialog[open]').waitFor();
  await ada.page.keyboard.press('Escape');
  await ada.page.waitForFunction(() => document.activeElement?.getAttribute('role') === 'treeitem');
  await ada.context.close();
});

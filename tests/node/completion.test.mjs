// Completion as a person meets it: typing real programs key by key with a pause at the end
// of each line before Enter (the popup must never change what was typed), member lists
// of well-known objects, keyword snippets, and the keys that accept.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRoom } from './server.mjs';
import { WAIT_MS, joinAs, serverAndBrowser, textOf } from './browser.mjs';

const env = serverAndBrowser();

/** page.route, which watches and delays completion requests, does not see what a
 * service worker fetches: these people's browsers run without one. */
const NO_WORKER = { serviceWorkers: 'block' };
/** How long a person stops at the end of a line before pressing Enter. */
const PAUSE_MS = 500;
/** How long a person stops after a word now and then. */
const WORD_PAUSE_MS = 300;
/** Delay between keys: about 300 characters a minute. */
const KEY_MS = 35;

const PROGRAMS = {
  python: `import os
from pathlib import Path

def area(w, h):
    total = w * h
    value = total
    return value

class Shape:
    def __init__(self, name):
        self.name = name
    def describe(self):
        count = len(self.name)
        return count

for item in range(3):
    print(area(item, 2))
if __name__ == "__main__":
    print(os.getcwd())`,
  javascript: `const total = 0;
function area(w, h) {
const value = w * h;
return value;
}
switch (total) {
case "a":
console.log(total);
break;
default:
return;
}
const count = total + 1;
export default area;`,
  yaml: `name: ci
on:
push:
branches: [main]
jobs:
test:
runs-on: ubuntu-latest
steps:
- uses: actions/checkout@v4
- run: make test`,
  rust: `use std::collections::HashMap;
fn main() {
let mut counts = HashMap::new();
let total = 1;
counts.insert("a", total);
for value in counts.values() {
println!("{}", value);
}
}`,
  go: `package main
import "fmt"
func area(w int, h int) int {
total := w * h
return total
}
func main() {
value := area(2, 3)
fmt.Println(value)
}`,
};

/** A line a person does not type because the editor closed the bracket already. */
const closers = /^[\s})\]]+[;,]?$/;

/**
 * Types `program` into an empty editor as a person would: key by key, the indentation
 * left to the editor, a pause at each line's end before Enter, and a closing bracket the
 * editor already inserted stepped over instead of typed again.
 */
async function typeLikeAPerson(page, program) {
  await page.locator('.cm-content').click();
  const lines = program.split('\n');
  for (const [i, line] of lines.entries()) {
    const below = await page.evaluate(() => {
      const { state } = window.pairpad.view;
      const here = state.doc.lineAt(state.selection.main.head);
      return here.number < state.doc.lines ? state.doc.line(here.number + 1).text : null;
    });
    if (closers.test(line) && below !== null && below.trim() === line.trim()) {
      await page.keyboard.press('ArrowDown');
      await page.keyboard.press('End');
      continue;
    }
    if (i > 0) {
      await sleep(PAUSE_MS);
      await page.keyboard.press('Enter');
    }
    // The editor indents; what is already there (after Enter) is not typed again. A
    // person stops now and then inside a line too: after every second word here.
    const parts = line.trimStart().split(/(\s+)/);
    let words = 0;
    for (const [p, part] of parts.entries()) {
      await page.keyboard.type(part, { delay: KEY_MS });
      if (/\w$/.test(part) && p < parts.length - 1 && words++ % 2 === 0) await sleep(WORD_PAUSE_MS);
    }
  }
  await sleep(PAUSE_MS);
}

const normalize = (text) => text.split('\n').map((l) => l.trim()).join('\n').trim();

for (const slow of [false, true]) {
  test(`typing real programs with pauses before Enter leaves exactly what was typed${slow ? ' (slow completion server)' : ''}`, async () => {
    const damaged = [];
    for (const [language, program] of Object.entries(PROGRAMS)) {
      const roomId = await createRoom(env.server.base, { title: `Replay ${language}`, language });
      const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada', NO_WORKER);
      let popups = 0;
      await ada.page.route('**/api/autocomplete', async (route) => {
        popups += 1;
        if (slow) await sleep(700);
        await route.continue().catch(() => {});
      });
      await typeLikeAPerson(ada.page, program);
      const text = await textOf(ada.page);
      if (normalize(text) !== normalize(program)) damaged.push({ language, text });
      assert.ok(popups > 0, `${language}: completion was asked while typing`);
      await ada.context.close();
    }
    assert.deepEqual(damaged, [], 'every program is exactly what was typed');
  });
}

/** A person's reaction to a popup that just appeared (CodeMirror also ignores keys for
 * its first 75 ms, so that a key pressed as it opens is not taken as a choice). */
const REACTION_MS = 200;

/** The labels in the open completion popup, once it shows `expect` and has been seen. */
async function popupLabels(page, expect) {
  await page.locator('.cm-tooltip-autocomplete li', { hasText: expect }).first().waitFor({ timeout: WAIT_MS });
  await sleep(REACTION_MS);
  return page.locator('.cm-tooltip-autocomplete li .cm-completionLabel').allTextContents();
}

test('well-known objects offer their real members, once each, and keywords their snippets', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Members', language: 'javascript' });
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada', NO_WORKER);
  await ada.page.locator('.cm-content').click();
  await ada.page.keyboard.insertText('other.unrelatedMember();\n');
  await ada.page.keyboard.type('console.', { delay: KEY_MS });
  let labels = await popupLabels(ada.page, 'log');
  for (const member of ['log', 'error', 'warn']) assert.ok(labels.includes(member), `console.${member} in ${labels}`);
  assert.ok(!labels.includes('unrelatedMember'), `no members of other objects: ${labels}`);
  assert.equal(new Set(labels).size, labels.length, `no entry twice: ${labels}`);
  await ada.page.keyboard.type('log(1);', { delay: KEY_MS });
  await ada.page.keyboard.press('Enter');
  await ada.page.keyboard.type('Math.fl', { delay: KEY_MS });
  labels = await popupLabels(ada.page, 'floor');
  assert.equal(labels[0], 'floor');
  // Tab accepts the highlighted entry.
  await ada.page.keyboard.press('Tab');
  await ada.page.waitForFunction(() => window.pairpad.view.state.doc.toString().endsWith('Math.floor'));
  await ada.context.close();

  const py = await createRoom(env.server.base, { title: 'Snippets', language: 'python' });
  const bob = await joinAs(env.browser, env.server.base, py, 'Bob', NO_WORKER);
  await bob.page.locator('.cm-content').click();
  await bob.page.keyboard.type('print(1)\nimport os\nos.pa', { delay: KEY_MS });
  labels = await popupLabels(bob.page, 'path');
  assert.equal(labels[0], 'path');
  await bob.page.keyboard.type('th', { delay: KEY_MS });
  await bob.page.keyboard.press('Enter');
  await bob.page.keyboard.type('def', { delay: KEY_MS });
  labels = await popupLabels(bob.page, 'def');
  assert.equal(labels[0], 'def', `the keyword first: ${labels}`);
  assert.equal(labels.filter((l) => l === 'def').length, 1, `once: ${labels}`);
  // Enter on the untouched list makes a new line; moving to the entry and Enter takes it.
  await bob.page.keyboard.press('Enter');
  await bob.page.waitForFunction(() => window.pairpad.view.state.doc.toString().endsWith('def\n'));
  await bob.page.keyboard.press('Backspace');
  await bob.page.keyboard.press('Control+Space');
  await popupLabels(bob.page, 'def');
  await bob.page.keyboard.press('ArrowDown');
  await bob.page.keyboard.press('ArrowUp');
  await bob.page.keyboard.press('Enter');
  await bob.page.waitForFunction(() => /def name\(args\):/.test(window.pairpad.view.state.doc.toString()));
  const text = await textOf(bob.page);
  assert.ok(text.startsWith('print(1)\nimport os\nos.path\ndef name(args):'), JSON.stringify(text));
  await bob.context.close();
});

test('a partner typing elsewhere does not undo the entry you moved to; no popup after a number or a sentence', async () => {
  const roomId = await createRoom(env.server.base, { title: 'Choice', language: 'javascript' });
  const ada = await joinAs(env.browser, env.server.base, roomId, 'Ada', NO_WORKER);
  const bob = await joinAs(env.browser, env.server.base, roomId, 'Bob', NO_WORKER);
  await ada.page.locator('.cm-content').click();
  await ada.page.keyboard.insertText('// notes\n');
  await bob.page.waitForFunction(() => window.pairpad.view.state.doc.toString().includes('notes'));
  await ada.page.keyboard.type('Math.', { delay: KEY_MS });
  const labels = await popupLabels(ada.page, 'abs');
  await ada.page.keyboard.press('ArrowDown');
  await ada.page.keyboard.press('ArrowDown');
  // Bob types on the first line meanwhile.
  await bob.page.evaluate(() => {
    const view = window.pairpad.view;
    view.focus();
    view.dispatch({ selection: { anchor: view.state.doc.line(1).to } });
  });
  await bob.page.keyboard.type(' by Bob', { delay: KEY_MS });
  await ada.page.waitForFunction(() => window.pairpad.view.state.doc.toString().includes('by Bob'));
  await ada.page.keyboard.press('Enter');
  await ada.page.waitForFunction((want) => window.pairpad.view.state.doc.toString().endsWith(`Math.${want}`), labels[2]);

  // A decimal point, and a full stop in prose, open nothing.
  let asked = 0;
  await ada.page.route('**/api/autocomplete', async (route) => {
    asked += 1;
    await route.continue().catch(() => {});
  });
  await ada.page.keyboard.press('Enter');
  await ada.page.keyboard.type('const ratio = 0.', { delay: KEY_MS });
  const before = asked;
  await sleep(PAUSE_MS * 2);
  assert.equal(asked, before, 'no request after "0."');
  assert.equal(await ada.page.locator('.cm-tooltip-autocomplete').count(), 0);
  await Promise.all([ada.context.close(), bob.context.close()]);

  const md = await createRoom(env.server.base, { title: 'Prose', language: 'markdown' });
  const cy = await joinAs(env.browser, env.server.base, md, 'Cy', NO_WORKER);
  await cy.page.locator('.cm-content').click();
  await cy.page.keyboard.type('This is a sentence.', { delay: KEY_MS });
  await sleep(PAUSE_MS * 2);
  assert.equal(await cy.page.locator('.cm-tooltip-autocomplete').count(), 0, 'no popup after a full stop');
  await cy.context.close();
});

// The real npm yjs + y-websocket client against the real pairpad-server binary:
// several clients edit at once and converge; a late joiner receives the identical document;
// presence and the room's `meta` map come through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';

const WAIT_MS = 20_000;
const bin = process.env.PAIRPAD_BIN;
assert.ok(bin, 'PAIRPAD_BIN must point at the pairpad-server binary');

let server;
let base;
let dataDir;
const providers = [];

before(async () => {
  dataDir = mkdtempSync(joinPath(tmpdir(), 'pairpad-node-'));
  server = spawn(bin, ['--bind', '127.0.0.1:0', '--database-url', `sqlite://${joinPath(dataDir, 'p.db')}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  base = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: server.stdout });
    lines.on('line', (line) => {
      const match = /^listening on (http:\/\/\S+)$/.exec(line);
      if (match) resolve(match[1]);
    });
    server.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
});

after(async () => {
  for (const provider of providers) {
    provider.destroy();
    provider.awareness.destroy(); // stops the awareness timer that keeps Node alive
    provider.doc.destroy();
  }
  const exited = new Promise((resolve) => server.once('exit', (code) => resolve(code)));
  server.kill('SIGTERM');
  assert.equal(await exited, 0, 'server exits 0 on SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Resolves when `check()` holds, re-checking on every event of `emitters`. */
function until(what, check, emitters) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS);
    const listeners = [];
    const done = () => {
      if (!check()) return;
      clearTimeout(timer);
      for (const [emitter, event, fn] of listeners) emitter.off(event, fn);
      resolve();
    };
    for (const [emitter, event] of emitters) {
      emitter.on(event, done);
      listeners.push([emitter, event, done]);
    }
    done();
  });
}

async function createRoom(title) {
  const response = await fetch(`${base}/api/rooms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title, language: 'javascript' }),
  });
  assert.equal(response.status, 201);
  return (await response.json()).roomId;
}

async function join(roomId) {
  const doc = new Y.Doc();
  const provider = new WebsocketProvider(base.replace('http', 'ws') + '/ws', roomId, doc, {
    WebSocketPolyfill: WebSocket,
    disableBc: true,
  });
  providers.push(provider);
  await until('initial sync', () => provider.synced, [[provider, 'sync']]);
  return { doc, provider, text: doc.getText('code') };
}

test('several clients edit concurrently, converge, and a late joiner gets the same document', async () => {
  const roomId = await createRoom('Node test');
  const clients = await Promise.all([join(roomId), join(roomId), join(roomId)]);
  assert.equal(clients[0].doc.getMap('meta').get('title'), 'Node test');
  assert.equal(clients[0].doc.getMap('meta').get('language'), 'javascript');

  // Each client makes 60 edits at pseudo-random positions, all at once.
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const tokens = [];
  for (let round = 0; round < 60; round++) {
    clients.forEach(({ text }, i) => {
      const token = `<${i}:${round}>`;
      tokens.push(token);
      text.insert(Math.floor(random() * (text.length + 1)), token);
    });
  }
  const total = tokens.join('').length;
  for (const { doc, text } of clients) {
    await until('all edits arrive', () => text.length === total, [[doc, 'update']]);
  }
  const final = clients[0].text.toString();
  for (const { text } of clients) assert.equal(text.toString(), final);
  // Inserts at random positions split each other, so compare characters, not tokens.
  const sorted = (s) => [...s].sort().join('');
  assert.equal(sorted(final), sorted(tokens.join('')), 'every typed character is kept');

  const late = await join(roomId);
  await until('late joiner has everything', () => late.text.toString() === final, [[late.doc, 'update']]);
  assert.deepEqual(Y.encodeStateVector(late.doc), Y.encodeStateVector(clients[0].doc));

  const live = await (await fetch(`${base}/api/rooms/${roomId}`)).json();
  assert.equal(live.code, final);
  assert.equal(live.activeUsers, 4);
});

test('presence travels between y-websocket clients and leaves with them', async () => {
  const roomId = await createRoom('Presence');
  const ada = await join(roomId);
  const bob = await join(roomId);
  const names = (client) =>
    [...client.provider.awareness.getStates().entries()]
      .filter(([id]) => id !== client.doc.clientID)
      .map(([, state]) => state.user?.name)
      .filter(Boolean);
  ada.provider.awareness.setLocalStateField('user', { name: 'Ada', color: '#f00' });
  await until('Bob sees Ada', () => names(bob).includes('Ada'), [[bob.provider.awareness, 'change']]);
  ada.provider.disconnect();
  await until('Ada gone for Bob', () => names(bob).length === 0, [[bob.provider.awareness, 'change']]);
});

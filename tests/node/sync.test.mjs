// The real npm yjs + y-websocket client against the real pairpad-server binary:
// several clients edit at once and converge; a late joiner receives the identical document;
// presence and the room's `meta` map come through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { createRoom as createServerRoom, startServer, until as untilWithin } from './server.mjs';

const WAIT_MS = 20_000;

let server;
let base;
const providers = [];

before(async () => {
  server = await startServer();
  base = server.base;
});

after(async () => {
  for (const provider of providers) {
    provider.destroy();
    provider.awareness.destroy(); // stops the awareness timer that keeps Node alive
    provider.doc.destroy();
  }
  await server.stop();
});


const until = (what, check, emitters) => untilWithin(what, check, emitters, WAIT_MS);

const createRoom = (title) => createServerRoom(base, { title, language: 'javascript' });

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

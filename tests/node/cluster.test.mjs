// Several pairpad-server processes sharing rooms through Redis and PostgreSQL, with the
// stock npm yjs + y-websocket client: clients spread over three servers type at once and
// converge, a late joiner on each server gets the identical document, and presence
// crosses between servers and goes with its connection. Needs the test PostgreSQL server
// (PAIRPAD_TEST_POSTGRES_URL) and Debian's redis-server, which scripts/test provides.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import * as Y from 'yjs';
import { WebsocketProvider } from 'y-websocket';
import { createRoom, startServer, until as untilWithin } from './server.mjs';

const WAIT_MS = 20_000;
const postgres = process.env.PAIRPAD_TEST_POSTGRES_URL;
const redisBinary = process.env.PAIRPAD_REDIS_SERVER ?? 'redis-server';
const haveRedis = spawnSync(redisBinary, ['--version']).status === 0;
const missing = !postgres ? 'PAIRPAD_TEST_POSTGRES_URL is not set' : !haveRedis ? 'redis-server is not installed' : null;
if (missing && process.env.CI) throw new Error(`${missing}; scripts/test provides it`);

let redis;
let redisDir;
const servers = [];
const providers = [];

function freePort() {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

before(async () => {
  if (missing) return;
  const port = await freePort();
  redisDir = mkdtempSync(join(tmpdir(), 'pairpad-redis-'));
  redis = spawn(redisBinary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir], { stdio: 'ignore' });
  const deadline = Date.now() + WAIT_MS;
  while (!(await accepts(port))) {
    assert.ok(Date.now() < deadline, 'redis-server starts');
    await new Promise((r) => setTimeout(r, 20));
  }
  for (let i = 0; i < 3; i++) {
    servers.push(await startServer(['--redis-url', `redis://127.0.0.1:${port}/0`], { databaseUrl: postgres }));
  }
});

after(async () => {
  for (const provider of providers) {
    provider.destroy();
    provider.awareness.destroy();
    provider.doc.destroy();
  }
  for (const server of servers) await server.stop();
  redis?.kill('SIGKILL');
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
});

function connectTo(server, room) {
  const doc = new Y.Doc();
  const url = server.base.replace(/^http/, 'ws') + '/ws';
  const provider = new WebsocketProvider(url, room, doc, { WebSocketPolyfill: WebSocket });
  providers.push(provider);
  return provider;
}

/** Resolves when `check()` holds, re-checking on every update or presence change. */
function until(what, check, providers) {
  const emitters = providers.flatMap((p) => [[p.doc, 'update'], [p.awareness, 'change'], [p, 'sync']]);
  return untilWithin(what, check, emitters, WAIT_MS);
}

const text = (provider) => provider.doc.getText('code').toString();
const names = (provider) => [...provider.awareness.getStates().entries()]
  .filter(([id]) => id !== provider.doc.clientID)
  .map(([, state]) => state.user?.name)
  .filter(Boolean);

test('stock clients spread over three servers converge and see each other', { skip: missing ?? false }, async () => {
  const room = await createRoom(servers[0].base, { title: 'cluster', language: 'rust' });
  const clients = servers.flatMap((server) => [connectTo(server, room), connectTo(server, room)]);
  await until('everyone synced', () => clients.every((c) => c.synced), clients);
  const chunks = [];
  for (let round = 0; round < 20; round++) {
    clients.forEach((client, i) => {
      const chunk = `<${i}.${round}>`;
      const code = client.doc.getText('code');
      code.insert(round % 2 ? code.length : 0, chunk);
      chunks.push(chunk);
    });
    await new Promise((r) => setImmediate(r));
  }
  await until('every chunk everywhere, one text', () => {
    const first = text(clients[0]);
    return chunks.every((c) => first.includes(c)) && clients.every((c) => text(c) === first);
  }, clients);
  const expected = Y.encodeStateVector(clients[0].doc);
  for (const server of servers) {
    const late = connectTo(server, room);
    await until('the late joiner synced', () => late.synced && text(late) === text(clients[0]), [late]);
    assert.deepEqual(Y.encodeStateVector(late.doc), expected);
  }
  clients[0].awareness.setLocalStateField('user', { name: 'Ada', color: '#30bced' });
  await until('Ada seen on the third server', () => names(clients[5]).includes('Ada'), [clients[5]]);
  clients[0].destroy();
  await until('Ada gone from the third server', () => !names(clients[5]).includes('Ada'), [clients[5]]);
});

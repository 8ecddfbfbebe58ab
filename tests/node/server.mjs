// Starts the real pairpad-server binary (PAIRPAD_BIN) on a free port with a throwaway
// SQLite file, for the Node and browser tests.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * A running server with `extraArgs` (on the database at `databaseUrl`, a throwaway SQLite
 * file by default): `base` is its http URL; `stop()` sends SIGTERM and
 * checks exit 0, `kill()` sends SIGKILL.
 */
export async function startServer(extraArgs = [], { databaseUrl } = {}) {
  const bin = process.env.PAIRPAD_BIN;
  assert.ok(bin, 'PAIRPAD_BIN must point at the pairpad-server binary');
  const dataDir = mkdtempSync(join(tmpdir(), 'pairpad-node-'));
  const database = databaseUrl ?? `sqlite://${join(dataDir, 'p.db')}`;
  const child = spawn(bin, ['--bind', '127.0.0.1:0', '--database-url', database, ...extraArgs], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  const base = await new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const match = /^listening on (http:\/\/\S+)$/.exec(line);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited early (${code})`)));
  });
  return {
    base,
    /** Stops the server at once (SIGKILL), as a crash or a pulled plug would. */
    async kill() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
      rmSync(dataDir, { recursive: true, force: true });
    },
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, 'server exits 0 on SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Creates a room through the REST API and returns its id (its edit link's). */
export async function createRoom(base, body) {
  return (await createRoomFull(base, body)).roomId;
}

/** Creates a room through the REST API: `{roomId, url, viewId, viewUrl, ownerKey}`. */
export async function createRoomFull(base, body) {
  const response = await fetch(`${base}/api/rooms`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 201);
  return response.json();
}

/** The id of room `roomId`'s first file (the room's own, which is no link). */
export async function mainFileOf(base, roomId) {
  return (await (await fetch(`${base}/api/rooms/${roomId}`)).json()).fileId;
}

/**
 * Resolves when `check()` holds, re-checking on every event of `emitters` (`[emitter,
 * event]` pairs); rejects after `waitMs`.
 */
export function until(what, check, emitters, waitMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), waitMs);
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

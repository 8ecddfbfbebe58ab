// Soak: hostile frames while people type.
//
// Attacks a running y-websocket-protocol server with --frames random, mutated and
// hostile-but-valid frames over several connections, while --honest stock Yjs clients
// (yjs + y-websocket's WebsocketProvider over `ws`) type about 5 characters a second each
// into the same room. At the end it asserts that the server is alive (and answers
// --health), that the honest clients converged to one text that a freshly connected
// stock client also sees, with every honest keystroke in it, and that the server's peak
// RSS (VmHWM) stayed under --rss-bound-mb. Exit status 1 when an assertion fails, 2 on
// bad usage. The last lines are `SOAK {json}` and a human summary.
//
//   node soak.mjs --ws ws://127.0.0.1:PORT/ws --rooms-api http://127.0.0.1:PORT \
//        --pid PID --health http://127.0.0.1:PORT/health --rss-bound-mb 512 --name pairpad
//   node soak.mjs --ws ws://127.0.0.1:PORT --pid PID --rss-bound-mb 512 --name y-websocket
//
// Every frame an attacker sends is a function of --seed: each connection draws from its
// own seeded generator, and the mutation corpus is a seeded rehearsal of the honest
// clients' typing, framed exactly as WebsocketProvider frames it. Only resends (frames a
// closed connection may have lost) depend on timing. The honest clients run on the main
// thread; the attackers run on a worker thread, so that attack work does not sit in the
// event loop that timestamps the honest edits.
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import WebSocket from 'ws';
import * as Y from 'yjs';
import * as encoding from 'lib0/encoding';

// ---------------------------------------------------------------------------------------
// Client id ranges. Honest clients get ids from their own range, and no attacker ever
// writes a struct under an id from it: a struct that claims a live client's next clock
// would make that client diverge from everyone else, which no server can prevent.
const HONEST_BASE = 0x0100_0000; // + seeded offset, < 0x0200_0000
const POOL_BASE = 0x1000_0000; // conflict-pile writers: + attacker * 0x10000 + index
const OWNER_BASE = 0x2000_0000; // one owner per attacker (anchors, nested values, meta)
const SHADOW_BASE = 0x3000_0000; // the rehearsal corpus' writers
const FRESH_BASE = 0x4000_0000; // one-off writers of values nested too deep
const AWARENESS_BASE = 0x5000_0000; // attackers' own presence ids
const GHOST_BIT = 0x8000_0000; // presence ids made up by the attackers: [2^31, 2^32)
const MAX_PILE = 0x10000;

// Message types of the y-websocket protocol.
const MSG_SYNC = 0;
const MSG_AWARENESS = 1;
const MSG_AUTH = 2;
const MSG_QUERY_AWARENESS = 3;
const SYNC_STEP1 = 0;
const SYNC_STEP2 = 1;
const SYNC_UPDATE = 2;

// ---------------------------------------------------------------------------------------
// Seeded randomness: sfc32, seeded through splitmix32 from (seed, stream).

function splitmix32(seed) {
  let a = seed | 0;
  return () => {
    a = (a + 0x9e3779b9) | 0;
    let t = a ^ (a >>> 16);
    t = Math.imul(t, 0x21f0aaad);
    t ^= t >>> 15;
    t = Math.imul(t, 0x735a2d97);
    return (t ^ (t >>> 15)) >>> 0;
  };
}

class Rng {
  constructor(seed, stream) {
    const sm = splitmix32(Math.imul(seed | 0, 0x85ebca6b) ^ Math.imul(stream | 0, 0xc2b2ae35) ^ 0x5eed);
    this.a = sm(); this.b = sm(); this.c = sm(); this.d = sm();
    for (let i = 0; i < 12; i++) this.u32();
  }
  u32() {
    let { a, b, c, d } = this;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    this.a = a; this.b = b; this.c = c; this.d = d;
    return t >>> 0;
  }
  float() { return this.u32() / 4294967296; }
  int(n) { return Math.floor(this.float() * n); }
  range(lo, hi) { return lo + this.int(hi - lo + 1); }
  chance(p) { return this.float() < p; }
  pick(array) { return array[this.int(array.length)]; }
  /** An integer in [lo, hi], uniform in its logarithm: mostly small, sometimes large. */
  logRange(lo, hi) { return Math.min(hi, Math.floor(Math.exp(Math.log(lo) + this.float() * (Math.log(hi + 1) - Math.log(lo))))); }
  bytes(n) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.u32();
      out[i] = v; if (i + 1 < n) out[i + 1] = v >>> 8; if (i + 2 < n) out[i + 2] = v >>> 16; if (i + 3 < n) out[i + 3] = v >>> 24;
    }
    return out;
  }
  weighted(table) {
    let total = 0;
    for (const [, w] of table) total += w;
    let x = this.float() * total;
    for (const [k, w] of table) { if ((x -= w) < 0) return k; }
    return table[table.length - 1][0];
  }
}

// ---------------------------------------------------------------------------------------
// Small helpers shared by both threads.

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function frame(build) {
  const e = encoding.createEncoder();
  build(e);
  return encoding.toUint8Array(e);
}

const syncFrame = (kind, payload) => frame((e) => {
  encoding.writeVarUint(e, MSG_SYNC);
  encoding.writeVarUint(e, kind);
  encoding.writeVarUint8Array(e, payload);
});

const awarenessFrame = (entries) => frame((e) => {
  encoding.writeVarUint(e, MSG_AWARENESS);
  encoding.writeVarUint8Array(e, frame((a) => {
    encoding.writeVarUint(a, entries.length);
    for (const [client, clock, json] of entries) {
      encoding.writeVarUint(a, client);
      encoding.writeVarUint(a, clock);
      encoding.writeVarString(a, json);
    }
  }));
});

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

/** The next clock `client` has in `doc` (how many of its structs the doc integrated). */
function stateOf(doc, client) {
  const structs = doc.store.clients.get(client);
  if (!structs || structs.length === 0) return 0;
  const last = structs[structs.length - 1];
  return last.id.clock + last.length;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const round1 = (x) => (x == null ? null : Math.round(x * 10) / 10);

function bump(counts, key, n = 1) { counts[key] = (counts[key] || 0) + n; }

// ---------------------------------------------------------------------------------------
// The attack mix. Each kind belongs to one of an attacker's three connections:
//   doc      valid messages a server must accept (conflict piles, sync requests, floods
//            of presence queries, replays, nested values); a close here is a finding,
//            but for 1013 when a query flood outruns this reader (the documented queue)
//   hostile  valid framing that breaks a documented limit or is merely odd (presence
//            states of tens of KB, thousands of presence entries, values nested too deep,
//            empty and text frames): Pairpad is expected to close it
//   garbage  random bytes, mutated real frames, and a handful of frames over the limit
// Weights are shares of --frames.
const KINDS = {
  // doc
  'query-flood': ['doc', 24],
  'awareness-own': ['doc', 4],
  'sync1-random-sv': ['doc', 1.5],
  'sync1-empty': ['doc', 0.3],
  'empty-update': ['doc', 3],
  auth: ['doc', 2],
  custom: ['doc', 3], // message types 4..255, which servers skip
  replay: ['doc', 4],
  pile: ['doc', 5], // only on pile attackers (every fourth); the others' weights renormalize
  nested: ['doc', 2],
  'meta-vandal': ['doc', 0.2],
  // hostile
  'awareness-null': ['hostile', 4],
  'awareness-many': ['hostile', 1.2],
  'awareness-large': ['hostile', 0.6],
  'awareness-weird': ['hostile', 0.4],
  'nested-too-deep': ['hostile', 0.3],
  'empty-frame': ['hostile', 0.4],
  'text-frame': ['hostile', 0.4],
  'custom-big-type': ['hostile', 0.3], // a message type of 256 or more: still a valid varuint
  // garbage
  random: ['garbage', 8],
  mutate: ['garbage', 15],
};
const ROLES = ['doc', 'hostile', 'garbage'];
// Frames in flight (sent, not yet known to be read) per connection. A frame on a hostile
// or garbage connection may be the one that closes it, so those send one at a time and
// wait for the server's pong to the ping behind each frame: every frame they count was
// read by the server, none is lost behind a fatal one.
const WINDOW = { doc: 8, hostile: 1, garbage: 1 };
// How far (a share of its quota) a connection may run ahead of the slowest one.
const LOCKSTEP_SLACK = 0.002;

// ---------------------------------------------------------------------------------------
// The mutation corpus: a seeded rehearsal of four people typing, with the frames their
// WebsocketProviders would send (sync step 1 and 2, updates, presence with cursors).

function rehearsalCorpus(seed) {
  const rng = new Rng(seed, 0xc0ffee);
  const docs = [0, 1, 2, 3].map((i) => {
    const doc = new Y.Doc();
    doc.clientID = SHADOW_BASE + i * 0x100000 + rng.int(0x100000);
    return doc;
  });
  const frames = [];
  const inbox = docs.map(() => []);
  docs.forEach((doc, i) => {
    doc.on('update', (update, origin) => {
      if (origin === 'remote') return;
      frames.push(syncFrame(SYNC_UPDATE, update));
      docs.forEach((_, j) => { if (j !== i) inbox[j].push(update); });
    });
    frames.push(syncFrame(SYNC_STEP1, Y.encodeStateVector(doc)));
  });
  const meta = docs[0].getMap('meta');
  docs[0].transact(() => { meta.set('title', 'Rehearsal'); meta.set('language', 'javascript'); });
  const presenceClock = docs.map(() => 0);
  const alphabet = 'abcdefghijklmnopqrstuvwxyz(){};=. \n';
  for (let round = 0; round < 480; round++) {
    const i = round % docs.length;
    const doc = docs[i];
    // Deliver some of what others wrote, so that edits are concurrent now and then.
    while (inbox[i].length && rng.chance(0.7)) Y.applyUpdate(doc, inbox[i].shift(), 'remote');
    const text = doc.getText('code');
    const action = rng.float();
    if (action < 0.82 || text.length < 4) {
      text.insert(rng.int(text.length + 1), rng.pick(alphabet));
    } else if (action < 0.9) {
      let word = '';
      for (let n = rng.range(3, 16); n > 0; n--) word += rng.pick(alphabet);
      text.insert(rng.int(text.length + 1), word);
    } else if (action < 0.98) {
      const at = rng.int(text.length - 1);
      text.delete(at, Math.min(rng.range(1, 3), text.length - at));
    } else {
      doc.getMap('meta').set('language', rng.pick(['rust', 'python', 'go', 'javascript']));
    }
    if (round % 6 === 0) {
      const anchor = Y.createRelativePositionFromTypeIndex(text, rng.int(text.length + 1));
      const head = Y.createRelativePositionFromTypeIndex(text, rng.int(text.length + 1));
      const state = {
        user: { name: `Rehearsal ${i}`, color: `#${(0x404040 + i * 0x302010).toString(16)}` },
        cursor: { anchor: Y.relativePositionToJSON(anchor), head: Y.relativePositionToJSON(head) },
      };
      frames.push(awarenessFrame([[doc.clientID, ++presenceClock[i], JSON.stringify(state)]]));
    }
    if (round % 40 === 39) {
      const other = docs[(i + 1) % docs.length];
      const sv = Y.encodeStateVector(other);
      frames.push(syncFrame(SYNC_STEP1, sv));
      frames.push(syncFrame(SYNC_STEP2, Y.encodeStateAsUpdate(doc, sv)));
    }
  }
  docs.forEach((doc, i) => frames.push(awarenessFrame([[doc.clientID, ++presenceClock[i], 'null']])));
  return frames;
}

// ---------------------------------------------------------------------------------------
// Mutations of real frames.

const HUGE = [2 ** 32, 2 ** 53 - 1, 2 ** 53, 2 ** 31, 2 ** 32 - 1, 2 ** 63, 2 ** 64 - 1, 2 ** 35];

/** The LEB128 bytes of `value` (up to 2^64 - 1; doubles above 2^53 are written exactly). */
function varintBytes(value) {
  let v = BigInt(value);
  if (v > 0xffffffffffffffffn) v = 0xffffffffffffffffn;
  const out = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return Uint8Array.from(out);
}

function mutate(rng, corpus) {
  let b = Uint8Array.from(rng.pick(corpus));
  const ops = [];
  const count = rng.chance(0.25) ? rng.range(2, 4) : 1;
  for (let k = 0; k < count; k++) {
    const op = rng.weighted([['flip', 4], ['truncate', 2], ['duplicate', 1.5], ['splice', 2], ['huge-varint', 3], ['insert', 1], ['zero', 0.5]]);
    ops.push(op);
    switch (op) {
      case 'flip':
        for (let n = rng.range(1, 4); n > 0 && b.length; n--) b[rng.int(b.length)] ^= rng.range(1, 255);
        break;
      case 'truncate':
        b = b.slice(0, rng.int(b.length) || 1);
        break;
      case 'duplicate':
        if (rng.chance(0.5)) b = concat(b, b);
        else {
          const from = rng.int(b.length), to = from + rng.int(b.length - from + 1), at = rng.int(b.length + 1);
          b = concat(b.slice(0, at), b.slice(from, to), b.slice(at));
        }
        break;
      case 'splice': {
        const other = rng.pick(corpus);
        b = concat(b.slice(0, rng.int(b.length + 1)), other.slice(rng.int(other.length + 1)));
        if (b.length === 0) b = Uint8Array.of(0);
        break;
      }
      case 'huge-varint': {
        // A varint near the front is the message type or a length; elsewhere, a count,
        // client id, clock or length inside the payload.
        let at = rng.chance(0.35) ? rng.int(Math.min(4, b.length)) : rng.int(b.length);
        let end = at;
        while (end < b.length && b[end] & 0x80 && end - at < 9) end++;
        end = Math.min(end + 1, b.length);
        b = concat(b.slice(0, at), varintBytes(rng.pick(HUGE)), b.slice(end));
        break;
      }
      case 'insert': {
        const at = rng.int(b.length + 1);
        b = concat(b.slice(0, at), rng.bytes(rng.range(1, 16)), b.slice(at));
        break;
      }
      case 'zero': {
        const from = rng.int(b.length), to = Math.min(b.length, from + rng.range(1, 32));
        b.fill(0, from, to);
        break;
      }
    }
  }
  return { bytes: b, ops };
}

// ---------------------------------------------------------------------------------------
// Hand-made updates (Yjs update format v1): single characters by many writers at one spot.

/**
 * An update with one item per writer: `text[0]` by client `client` at `clock`, between
 * `left` and `right` (both [client, clock]). Writers are given in ascending id order.
 */
function pileUpdate(writers, left, right) {
  return frame((e) => {
    encoding.writeVarUint(e, writers.length);
    for (const [client, clock, ch] of writers) {
      encoding.writeVarUint(e, 1); // structs
      encoding.writeVarUint(e, client);
      encoding.writeVarUint(e, clock);
      encoding.writeUint8(e, 0x80 | 0x40 | 4); // origin, right origin, ContentString
      encoding.writeVarUint(e, left[0]);
      encoding.writeVarUint(e, left[1]);
      encoding.writeVarUint(e, right[0]);
      encoding.writeVarUint(e, right[1]);
      encoding.writeVarString(e, ch);
    }
    encoding.writeVarUint(e, 0); // empty delete set
  });
}

/** An update deleting one struct of length 1 at `clock` for each of `clients`. */
function deleteUpdate(clients, clock) {
  return frame((e) => {
    encoding.writeVarUint(e, 0); // no structs
    encoding.writeVarUint(e, clients.length);
    for (const client of clients) {
      encoding.writeVarUint(e, client);
      encoding.writeVarUint(e, 1);
      encoding.writeVarUint(e, clock);
      encoding.writeVarUint(e, 1);
    }
  });
}

function nestedValue(rng, depth, types) {
  let value = rng.chance(0.5) ? 'leaf' : rng.int(1000);
  for (let d = 0; d < depth; d++) {
    if (types) {
      if (rng.chance(0.5)) { const m = new Y.Map(); m.set('k', value); value = m; }
      else { const a = new Y.Array(); a.push([value]); value = a; }
    } else {
      value = rng.chance(0.5) ? { k: value } : [value];
    }
  }
  return value;
}

// ---------------------------------------------------------------------------------------
// Attacker side (worker thread).

class Attacker {
  constructor(index, cfg, corpus, stats) {
    this.index = index;
    this.cfg = cfg;
    this.corpus = corpus;
    this.stats = stats;
    this.piles = index % 4 === 0 && cfg.pileSize > 0;
    // The owner: this attacker's own document, for the values it sets and the anchors
    // of its conflict piles. Whatever the owner wrote is sent again (as one sync step 2)
    // whenever the doc connection reconnects, so that nothing later depends on a lost
    // update. Its updates are queued in `outbox`.
    this.owner = new Y.Doc();
    this.owner.clientID = OWNER_BASE + index;
    this.outbox = [];
    this.owner.on('update', (update) => this.outbox.push(update));
    this.pile = null;
    this.pileNumber = 0;
    this.codePiles = 0;
    this.replayable = [];
    this.fresh = FRESH_BASE + index * 0x100000;
  }

  startPile(rng) {
    const n = this.pileNumber++;
    const inCode = this.codePiles < this.cfg.codePiles && n % 2 === 1;
    let left;
    if (inCode) {
      this.codePiles++;
      const code = this.owner.getText('code');
      this.owner.transact(() => code.insert(0, '<>'));
      const anchor = code._start && findLive(code._start);
      left = [anchor.id.client, anchor.id.clock];
    } else {
      const soak = this.owner.getMap('soak');
      this.owner.transact(() => soak.set(`pile-${this.index}`, new Y.Text('<>')));
      const text = soak.get(`pile-${this.index}`);
      left = [text._start.id.client, text._start.id.clock];
    }
    this.pile = { n, inCode, next: 0, left, right: [left[0], left[1] + 1] };
  }

  endPile() {
    const { n, inCode } = this.pile;
    if (inCode) {
      const clients = [];
      for (let i = 0; i < this.cfg.pileSize; i++) clients.push(POOL_BASE + this.index * MAX_PILE + i);
      this.outbox.push(deleteUpdate(clients, n));
      const code = this.owner.getText('code');
      this.owner.transact(() => code.delete(0, code.length));
    } else {
      const soak = this.owner.getMap('soak');
      this.owner.transact(() => soak.delete(`pile-${this.index}`));
    }
    this.pile = null;
  }

  /** The next frame of the doc connection: { bytes, kind, resend, text }. */
  docFrame(rng, kind) {
    if (this.outbox.length) {
      const update = this.outbox.shift();
      return { bytes: syncFrame(SYNC_UPDATE, update), kind: 'owner-update', resend: true };
    }
    switch (kind) {
      case 'pile': {
        if (!this.pile) this.startPile(rng);
        if (this.outbox.length) return this.docFrame(rng, kind);
        const p = this.pile;
        const many = rng.chance(0.15) ? rng.range(2, 32) : 1;
        const writers = [];
        for (let k = 0; k < many && p.next < this.cfg.pileSize; k++, p.next++) {
          writers.push([POOL_BASE + this.index * MAX_PILE + p.next, p.n, rng.pick('abcdefghijklmnopqrstuvwxyz')]);
        }
        const bytes = syncFrame(rng.chance(0.5) ? SYNC_UPDATE : SYNC_STEP2, pileUpdate(writers, p.left, p.right));
        if (p.next >= this.cfg.pileSize) this.endPile();
        this.remember(bytes);
        return { bytes, kind, resend: true };
      }
      case 'nested': {
        const soak = this.owner.getMap('soak');
        const key = `n-${this.index}-${rng.int(16)}`;
        const types = rng.chance(0.5);
        const depth = rng.range(1, types ? 40 : 32);
        this.owner.transact(() => soak.set(key, nestedValue(rng, depth, types)));
        const bytes = syncFrame(SYNC_UPDATE, this.outbox.shift());
        this.remember(bytes);
        return { bytes, kind, resend: true };
      }
      case 'meta-vandal': {
        const meta = this.owner.getMap('meta');
        const junk = rng.pick([
          () => 'x'.repeat(rng.range(201, 5000)),
          () => 'not a language!',
          () => rng.int(1e6),
          () => ({ title: 'object' }),
          () => '\u0000\u0007bell',
        ])();
        this.owner.transact(() => meta.set(rng.pick(['title', 'language']), junk));
        const bytes = syncFrame(SYNC_UPDATE, this.outbox.shift());
        return { bytes, kind, resend: true };
      }
      case 'replay':
        if (this.replayable.length) return { bytes: rng.pick(this.replayable), kind, resend: false };
        return { bytes: syncFrame(SYNC_UPDATE, Y.encodeStateAsUpdate(this.owner)), kind, resend: false };
      case 'query-flood': {
        const n = rng.chance(0.6) ? 1 : rng.logRange(2, 64);
        return { bytes: new Uint8Array(n).fill(MSG_QUERY_AWARENESS), kind, resend: false };
      }
      case 'awareness-own': {
        this.presenceClock = (this.presenceClock || 0) + 1;
        const state = { user: { name: `attacker ${this.index}`, color: '#ff0000' }, cursor: null, n: this.presenceClock };
        return { bytes: awarenessFrame([[AWARENESS_BASE + this.index, this.presenceClock, JSON.stringify(state)]]), kind, resend: false };
      }
      case 'sync1-random-sv': {
        const n = rng.logRange(1, 256);
        const sv = frame((e) => {
          encoding.writeVarUint(e, n);
          for (let i = 0; i < n; i++) {
            const client = rng.weighted([
              [() => rng.u32(), 3],
              [() => POOL_BASE + rng.int(8) * MAX_PILE + rng.int(this.cfg.pileSize || 1), 2],
              [() => OWNER_BASE + rng.int(8), 1],
              [() => SHADOW_BASE + rng.int(4) * 0x100000 + rng.int(0x100000), 1],
              [() => rng.int(128), 1],
            ])();
            const clock = rng.weighted([[() => rng.int(16), 3], [() => rng.u32(), 1], [() => 2 ** 53 - 1, 1]])();
            encoding.writeVarUint(e, client);
            encoding.writeVarUint(e, clock);
          }
        });
        return { bytes: syncFrame(SYNC_STEP1, sv), kind, resend: false };
      }
      case 'sync1-empty':
        return { bytes: syncFrame(SYNC_STEP1, Uint8Array.of(0)), kind, resend: false };
      case 'empty-update':
        return { bytes: syncFrame(rng.chance(0.5) ? SYNC_UPDATE : SYNC_STEP2, Uint8Array.of(0, 0)), kind, resend: false };
      case 'auth':
        return {
          bytes: rng.chance(0.5)
            ? frame((e) => { encoding.writeVarUint(e, MSG_AUTH); encoding.writeVarUint(e, 0); encoding.writeVarString(e, 'permission denied'.repeat(rng.range(1, 50))); })
            : Uint8Array.of(MSG_AUTH, rng.range(1, 127)),
          kind, resend: false,
        };
      case 'custom':
        return {
          bytes: frame((e) => {
            encoding.writeVarUint(e, rng.chance(0.8) ? rng.range(4, 127) : rng.range(128, 255));
            encoding.writeVarUint8Array(e, rng.bytes(rng.logRange(1, 1024) - 1));
          }),
          kind, resend: false,
        };
      default:
        throw new Error(`not a doc kind: ${kind}`);
    }
  }

  remember(bytes) {
    if (this.replayable.length < 256) this.replayable.push(bytes);
    else this.replayable[(this.replayIndex = ((this.replayIndex || 0) + 1) % 256)] = bytes;
  }

  hostileFrame(rng, kind) {
    switch (kind) {
      case 'awareness-null': {
        const n = rng.logRange(1, 2000);
        const entries = [];
        for (let i = 0; i < n; i++) entries.push([(rng.u32() | GHOST_BIT) >>> 0, rng.range(1, 2 ** 31), 'null']);
        return { bytes: awarenessFrame(entries), kind };
      }
      case 'awareness-many': {
        // Mostly removals of ids never seen, and some live states: past 16 ids a
        // connection may not speak for, past 4096 entries a message may not carry.
        const n = rng.logRange(100, 6000);
        const entries = [];
        for (let i = 0; i < n; i++) {
          const live = rng.chance(0.01);
          entries.push([(rng.u32() | GHOST_BIT) >>> 0, rng.range(1, 1000), live ? JSON.stringify({ user: { name: `ghost ${i}` } }) : 'null']);
        }
        return { bytes: awarenessFrame(entries), kind };
      }
      case 'awareness-large': {
        const size = rng.range(10_000, 60_000);
        const state = rng.chance(0.5)
          ? { user: { name: 'x'.repeat(size), color: '#000' } }
          : { user: { name: 'big' }, blob: Array.from({ length: size / 8 }, (_, i) => i) };
        this.bigClock = (this.bigClock || 0) + 1;
        return { bytes: awarenessFrame([[AWARENESS_BASE + 0x1000 + this.index, this.bigClock, JSON.stringify(state)]]), kind };
      }
      case 'awareness-weird': {
        const json = rng.pick(['"a string"', '42', '[1,2,3]', 'true', '{"unterminated":', '', '{"user":{"name":null}}', 'nul', '{"a":1}{"b":2}']);
        this.weirdClock = (this.weirdClock || 0) + 1;
        return { bytes: awarenessFrame([[AWARENESS_BASE + 0x2000 + this.index, this.weirdClock, json]]), kind };
      }
      case 'nested-too-deep': {
        const doc = new Y.Doc();
        doc.clientID = this.fresh++;
        const value = nestedValue(rng, rng.range(33, 40), false);
        doc.getMap('soak').set(`deep-${this.index}`, value);
        return { bytes: syncFrame(SYNC_UPDATE, Y.encodeStateAsUpdate(doc)), kind };
      }
      case 'empty-frame':
        return { bytes: new Uint8Array(0), kind };
      case 'custom-big-type':
        return {
          bytes: frame((e) => {
            encoding.writeVarUint(e, rng.range(256, 2 ** 31));
            encoding.writeVarUint8Array(e, rng.bytes(rng.range(0, 64)));
          }),
          kind,
        };
      case 'text-frame':
        return { bytes: rng.pick(['hello', '{"type":"sync"}', '\u0000\u0001', 'x'.repeat(rng.range(1, 4096))]), kind, text: true };
      default:
        throw new Error(`not a hostile kind: ${kind}`);
    }
  }

  garbageFrame(rng, kind) {
    switch (kind) {
      case 'random':
        return { bytes: rng.bytes(rng.range(1, 2048)), kind };
      case 'mutate': {
        const { bytes, ops } = mutate(rng, this.corpus);
        for (const op of ops) bump(this.stats.mutations, op);
        return { bytes, kind };
      }
      case 'oversize': {
        // A sync update header declaring the whole rest, then filler: over the limit.
        const size = this.cfg.oversizeBytes;
        const head = frame((e) => { encoding.writeVarUint(e, MSG_SYNC); encoding.writeVarUint(e, SYNC_UPDATE); encoding.writeVarUint(e, size - 8); });
        const bytes = new Uint8Array(size);
        bytes.set(head);
        bytes.fill(0xa5, head.length);
        return { bytes, kind };
      }
      default:
        throw new Error(`not a garbage kind: ${kind}`);
    }
  }
}

function findLive(item) {
  while (item && item.deleted) item = item.right;
  return item;
}

/** One connection of one attacker. */
class Conn {
  constructor(attacker, role, cfg, stats, quota, oversizeAt) {
    this.attacker = attacker;
    this.role = role;
    this.cfg = cfg;
    this.stats = stats;
    this.quota = quota;
    this.oversizeAt = oversizeAt; // frame numbers (of this connection) that are oversize
    this.rng = new Rng(cfg.seed, 1000 + attacker.index * 8 + ROLES.indexOf(role));
    this.kinds = Object.entries(KINDS)
      .filter(([kind, [role]]) => role === this.role && (kind !== 'pile' || attacker.piles) && (!cfg.kinds || cfg.kinds.includes(kind)))
      .map(([kind, [, weight]]) => [kind, weight]);
    this.window = WINDOW[role];
    this.ws = null;
    this.inflight = []; // frames sent and not yet acknowledged by a pong, in order
    this.resends = [];
    this.pending = null; // the next frame, made but not yet sent
    this.made = 0;
    this.waiters = [];
    this.stopped = false;
    this.failures = 0;
    this.recent = []; // the last frames sent, for a dump when the server dies
  }

  wake() { const w = this.waiters; this.waiters = []; for (const f of w) f(); }
  waitEvent(ms) { return new Promise((resolve) => { this.waiters.push(resolve); if (ms) setTimeout(resolve, ms); }); }

  open() {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.cfg.url, { perMessageDeflate: false, maxPayload: 1 << 30, handshakeTimeout: 10_000 });
      this.ws = ws;
      this.stats.connects++;
      let opened = false;
      ws.on('open', () => { opened = true; this.sentHere = 0; resolve(true); });
      ws.on('unexpected-response', (_req, res) => {
        bump(this.stats.refused, `http ${res.statusCode}`);
        res.resume();
      });
      ws.on('error', (error) => {
        if (!opened) bump(this.stats.refused, error.code || error.message.slice(0, 40));
      });
      // Each frame is followed by a ping carrying its sequence number. A server answers
      // pings in order, after reading what came before, but may answer several with one
      // pong (the last), so a pong acknowledges every frame up to the number it carries.
      ws.on('pong', (data) => {
        if (data.length !== 4) return;
        const seq = data.readUInt32LE(0);
        while (this.inflight.length && this.inflight[0].seq <= seq) {
          this.inflight.shift();
          this.stats.acked++;
        }
        this.wake();
      });
      ws.on('message', () => {});
      ws.on('close', (code, reason) => {
        if (!opened) { resolve(false); return; }
        if (!this.stopping) {
          const key = String(code);
          bump(this.stats.closes, key);
          const byRole = (this.stats.closesByRole[this.role] ||= {});
          bump(byRole, key);
          const why = reason.toString().slice(0, 80);
          const reasons = (this.stats.reasons[key] ||= {});
          if (Object.keys(reasons).length < 6 || reasons[why]) bump(reasons, why);
          // What was in flight may not have been read: the first is likely what the
          // server refused; valid updates among the rest go again after reconnecting.
          if (this.inflight.length) {
            bump(this.stats.closedAfter, this.inflight[0].kind);
            this.stats.unacked += this.inflight.length;
            for (const f of this.inflight) if (f.resend) this.resends.push(f);
          }
        }
        // Closed before it could send anything (a room turning everyone away): back off.
        this.failures = this.sentHere ? 0 : this.failures + 1;
        this.inflight = [];
        this.ws = null;
        this.wake();
      });
    });
  }

  async ensureOpen() {
    while (!this.stopped && (!this.ws || this.ws.readyState !== WebSocket.OPEN)) {
      if (this.ws && this.ws.readyState !== WebSocket.CLOSED) { await this.waitEvent(50); continue; }
      if (this.failures) await sleep(Math.min(1000, 5 * 2 ** Math.min(this.failures, 8)));
      if (this.stopped) return;
      if (await this.open()) {
        if (this.role === 'doc') {
          // Everything the owner wrote, again: later updates may build on it.
          const whole = Y.encodeStateAsUpdate(this.attacker.owner);
          this.resends.unshift({ bytes: syncFrame(SYNC_STEP2, whole), kind: 'owner-state', resend: false });
        }
        return;
      }
      this.failures++;
    }
  }

  next() {
    const n = this.made++;
    if (this.oversizeAt.includes(n)) return this.attacker.garbageFrame(this.rng, 'oversize');
    const kind = this.rng.weighted(this.kinds);
    if (this.role === 'doc') return this.attacker.docFrame(this.rng, kind);
    if (this.role === 'hostile') return this.attacker.hostileFrame(this.rng, kind);
    return this.attacker.garbageFrame(this.rng, kind);
  }

  send(f) {
    const ws = this.ws;
    const seq = (this.seq = ((this.seq || 0) + 1) >>> 0);
    const ping = Buffer.alloc(4);
    ping.writeUInt32LE(seq, 0);
    try {
      ws.send(f.bytes, { binary: !f.text });
      ws.ping(ping);
    } catch {
      return false;
    }
    this.inflight.push({ ...f, seq });
    this.sentHere++;
    this.stats.sent++;
    this.stats.bytes += f.bytes.length;
    bump(this.stats.kinds, f.kind);
    if (this.recent.length >= 8) this.recent.shift();
    this.recent.push({ kind: f.kind, frame: this.made, text: !!f.text, hex: Buffer.from(f.bytes.slice(0, 4096)).toString('hex'), length: f.bytes.length });
    return true;
  }

  /**
   * Sends this connection's quota, paced two ways: no faster than --rate overall (each
   * connection at its share), and no further ahead of the slowest connection than
   * LOCKSTEP_SLACK of its run. Garbage connections are the slow ones (most of their
   * frames cost a reconnect), so without the second rule the valid traffic would be
   * over long before the garbage is, and the mix would not be the same throughout.
   */
  async run(startedAt, seconds, floor) {
    const spacing = (seconds * 1000) / Math.max(1, this.quota);
    this.sentNew = 0;
    while (!this.stopped && (this.sentNew < this.quota || this.resends.length)) {
      await this.ensureOpen();
      if (this.stopped) break;
      const limit = this.window;
      while (this.ws && this.inflight.length >= limit) await this.waitEvent(1000);
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) continue;
      if (this.resends.length) {
        const f = this.resends.shift();
        if (!this.send(f.kind === 'owner-state' ? f : { ...f, kind: 'resend' })) this.resends.unshift(f);
        continue;
      }
      if (this.sentNew >= this.quota) break;
      const due = startedAt + this.sentNew * spacing;
      const wait = due - performance.now();
      if (wait > 1) { await sleep(wait); continue; }
      if (this.sentNew / this.quota > floor() + LOCKSTEP_SLACK) { await sleep(10); continue; }
      this.pending ||= this.next();
      if (this.send(this.pending)) { this.pending = null; this.sentNew++; }
    }
    // Wait for the last frames to be read, then leave.
    const deadline = performance.now() + 5000;
    while (!this.stopped && this.ws && this.inflight.length && performance.now() < deadline) await this.waitEvent(200);
    this.close();
  }

  close() {
    this.stopping = true;
    this.stopped = true;
    if (this.ws) this.ws.terminate();
    this.wake();
  }
}

function newStats() {
  return {
    sent: 0, acked: 0, unacked: 0, bytes: 0, connects: 0,
    kinds: {}, mutations: {}, closes: {}, closesByRole: {}, reasons: {}, closedAfter: {}, refused: {},
  };
}

/** The attackers and their connections, each with its quota of frames. */
function buildConnections(cfg, stats) {
  const corpus = rehearsalCorpus(cfg.seed);
  stats.corpusFrames = corpus.length;
  const attackers = Array.from({ length: cfg.attackers }, (_, i) => new Attacker(i, cfg, corpus, stats));
  // Frames per role (by the weights of its kinds), then shared by the connections of
  // that role that have a kind to send. Oversize frames are extra, on garbage connections.
  const roleWeight = {};
  for (const [kind, [role, w]] of Object.entries(KINDS)) {
    if (!cfg.kinds || cfg.kinds.includes(kind)) roleWeight[role] = (roleWeight[role] || 0) + w;
  }
  const totalWeight = Object.values(roleWeight).reduce((a, b) => a + b, 0);
  const conns = [];
  const garbageConns = [];
  let assigned = 0;
  const weightedRoles = ROLES.filter((role) => roleWeight[role] > 0);
  for (const role of ROLES) {
    const r = weightedRoles.indexOf(role);
    const roleFrames = r < 0 ? 0
      : r === weightedRoles.length - 1 ? cfg.frames - assigned
      : Math.round((cfg.frames * roleWeight[role]) / totalWeight);
    assigned += roleFrames;
    const roleConns = attackers.map((attacker) => new Conn(attacker, role, cfg, stats, 0, []));
    const eligible = roleConns.filter((c) => c.kinds.length > 0);
    eligible.forEach((conn, i) => {
      conn.quota = Math.floor(roleFrames / eligible.length) + (i < roleFrames % eligible.length ? 1 : 0);
    });
    if (role === 'garbage') garbageConns.push(...roleConns);
    conns.push(...roleConns);
  }
  // Spread over the garbage connections, each at an even place in its own run.
  const perConn = Math.ceil(cfg.oversize / garbageConns.length);
  for (let j = 0; j < cfg.oversize; j++) {
    const conn = garbageConns[j % garbageConns.length];
    const nth = Math.floor(j / garbageConns.length);
    const plain = conn.quota;
    conn.oversizeAt.push(Math.floor((plain * (nth + 1)) / (perConn + 1)) + nth);
  }
  for (const conn of garbageConns) conn.quota += conn.oversizeAt.length;
  return { attackers, conns };
}

async function attackerThread() {
  const cfg = workerData;
  const stats = newStats();
  const { attackers, conns } = buildConnections(cfg, stats);
  parentPort.on('message', (message) => {
    if (message === 'stop') for (const c of conns) c.close();
    if (message === 'dump') {
      parentPort.postMessage({ type: 'dump', recent: conns.map((c) => ({ attacker: c.attacker.index, role: c.role, recent: c.recent })) });
    }
  });
  const report = setInterval(() => parentPort.postMessage({ type: 'stats', stats }), 1000);
  const startedAt = performance.now();
  // The share of its quota the slowest connection has sent, worked out at most every 5 ms.
  let floorAt = 0, floorValue = 0;
  const floor = () => {
    const now = performance.now();
    if (now - floorAt > 5) {
      floorAt = now;
      floorValue = 1;
      for (const c of conns) if (c.quota > 0) floorValue = Math.min(floorValue, (c.sentNew || 0) / c.quota);
    }
    return floorValue;
  };
  await Promise.all(conns.map((c) => c.run(startedAt, cfg.seconds, floor)));
  clearInterval(report);
  stats.piles = attackers.reduce((n, a) => n + a.pileNumber, 0);
  parentPort.postMessage({ type: 'done', stats });
}

// ---------------------------------------------------------------------------------------
// Main thread: arguments, the honest clients, the server's health, the verdict.

function parseArgs(argv) {
  const spec = {
    ws: 'string', 'rooms-api': 'string', pid: 'int', frames: 'int', attackers: 'int', honest: 'int',
    'rss-bound-mb': 'int', name: 'string', health: 'string', seed: 'int', rate: 'int', 'pile-size': 'int',
    'code-piles': 'int', 'settle-seconds': 'int', 'progress-seconds': 'int', 'max-seconds': 'int',
    oversize: 'int', 'oversize-bytes': 'int', 'dump-dir': 'string', room: 'string', kinds: 'string',
  };
  const opts = {
    frames: 1_000_000, attackers: 8, honest: 4, seed: 1, rate: 4000, 'pile-size': 1500, 'code-piles': 3,
    'settle-seconds': 60, 'progress-seconds': 30, name: 'server', 'oversize-bytes': 17 * 1024 * 1024,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') usage(0);
    const key = arg.startsWith('--') ? arg.slice(2) : null;
    if (!key || !(key in spec) || i + 1 >= argv.length) usage(2, `bad argument: ${arg}`);
    const value = argv[++i];
    if (spec[key] === 'int') {
      if (!/^\d+$/.test(value)) usage(2, `--${key} takes a whole number`);
      opts[key] = Number(value);
    } else opts[key] = value;
  }
  if (!opts.ws) usage(2, '--ws is required');
  if (opts.pid == null) usage(2, '--pid is required');
  if (opts['rss-bound-mb'] == null) usage(2, '--rss-bound-mb is required');
  if (opts['pile-size'] > MAX_PILE) usage(2, `--pile-size is at most ${MAX_PILE}`);
  if (opts.honest < 2) usage(2, '--honest must be at least 2 (round trips need a receiver)');
  if (opts.attackers < 1) usage(2, '--attackers must be at least 1');
  if (opts.kinds) {
    opts.kinds = opts.kinds.split(',').filter(Boolean);
    for (const k of opts.kinds) if (!(k in KINDS) && k !== 'oversize') usage(2, `unknown kind ${k} (kinds: ${Object.keys(KINDS).join(', ')}, oversize)`);
  }
  opts.oversize ??= opts.kinds && !opts.kinds.includes('oversize') ? 0 : Math.max(1, Math.round(opts.frames / 250_000));
  return opts;
}

function usage(code, message) {
  if (message) console.error(`soak: ${message}`);
  console.error(`usage: node soak.mjs --ws URL --pid N --rss-bound-mb N [--rooms-api URL] [--health URL]
       [--name LABEL] [--frames N (1000000)] [--attackers N (8)] [--honest N (4)] [--seed N (1)]
       [--rate FRAMES_PER_S (4000)] [--pile-size N (1500)] [--code-piles N (3)] [--oversize N]
       [--settle-seconds N (60)] [--max-seconds N] [--progress-seconds N (30)] [--dump-dir DIR] [--room NAME]
       [--kinds K1,K2,... (only these frame kinds, to narrow down a finding)]`);
  process.exit(code);
}

/** The server process: alive (not gone, not a zombie), VmRSS and VmHWM in KiB. */
function procStatus(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return { alive: false };
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (name) => Number((new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status) || [])[1] || 0);
    return { alive: true, rss: kib('VmRSS'), hwm: kib('VmHWM') };
  } catch {
    return { alive: false };
  }
}

async function httpStatus(url, timeoutMs = 5000) {
  const started = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return { status: response.status, ms: performance.now() - started };
  } catch (error) {
    return { status: 0, error: String(error.cause?.code || error.name || error), ms: performance.now() - started };
  }
}

async function createRoom(api) {
  const response = await fetch(`${api}/api/rooms`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}',
  });
  if (response.status !== 201) throw new Error(`POST ${api}/api/rooms answered ${response.status}`);
  return (await response.json()).roomId;
}

async function until(check, ms, step = 50) {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    if (check()) return true;
    await sleep(step);
  }
  return check();
}

// Updates a stock client could not apply: y-protocols catches the error and logs it, so
// the log is intercepted to count them and keep the frames (hex) that caused the first few.
const clientErrors = { count: 0, kinds: {}, frames: [] };
let lastClientMessage = null;

/** `ws`, remembering the last message any stock client received. */
// The people type from another address than the attackers (127.0.0.2 against a server
// on 127.0.0.1), as they would from other machines: Pairpad keeps some budgets per
// client address, and people behind the attackers' address would share them.
const HONEST_ADDRESS = process.env.SOAK_HONEST_ADDRESS ?? '127.0.0.2';

class RecordingWebSocket extends WebSocket {
  constructor(url, protocols) {
    super(url, protocols ?? [], { localAddress: HONEST_ADDRESS });
    this.lastSent = [];
    this.addEventListener('message', (event) => { lastClientMessage = event.data; });
  }

  send(data, ...rest) {
    if (this.lastSent.length >= 4) this.lastSent.shift();
    this.lastSent.push(Buffer.from(data));
    return super.send(data, ...rest);
  }
}

// The last frames a stock client sent before the server closed it for what it sent
// (1002, 1003, 1007, 1008, 1009): a stock client should never be refused.
const refused = [];
const REFUSAL_CODES = new Set([1002, 1003, 1007, 1008, 1009]);

const hexOf = (bytes, max = 1024) =>
  bytes.length <= max ? bytes.toString('hex') : `${bytes.subarray(0, max).toString('hex')}… (${bytes.length} bytes)`;

function interceptClientErrors() {
  const original = console.error;
  console.error = (...args) => {
    if (String(args[0]).startsWith('Caught error while handling a Yjs update')) {
      clientErrors.count++;
      const error = args[1] || {};
      const where = String(error.stack || '').split('\n').slice(1, 4).map((l) => l.trim().replace(/^at /, '').replace(/ \(.*\)$/, '')).join(' < ');
      bump(clientErrors.kinds, `${String(error.message || error).slice(0, 80)} (${where})`);
      if (clientErrors.frames.length < 5 && lastClientMessage) clientErrors.frames.push(Buffer.from(lastClientMessage));
      if (clientErrors.count === 1) original('[soak] a stock client could not apply an update the server sent (counted; later ones are not printed):', error);
      return;
    }
    original(...args);
  };
}

/** A stock client: Y.Doc + WebsocketProvider over `ws`. */
async function stockClient(WebsocketProvider, wsBase, room, clientID, onClose) {
  const doc = new Y.Doc();
  if (clientID != null) doc.clientID = clientID;
  const provider = new WebsocketProvider(wsBase, room, doc, { WebSocketPolyfill: RecordingWebSocket, disableBc: true });
  provider.on('connection-close', (event) => {
    if (!event) return onClose && onClose('none', '');
    const reason = String(event.reason || '');
    if (REFUSAL_CODES.has(event.code) && refused.filter((r) => r.code === event.code && r.reason === reason).length < 2) {
      refused.push({ code: event.code, reason, at: Math.round(performance.now()), lastSent: (event.target?.lastSent || []).slice() });
    }
    return onClose && onClose(event.code, reason);
  });
  return { doc, provider, text: doc.getText('code') };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const { WebsocketProvider } = await import('y-websocket');
  interceptClientErrors();
  const name = opts.name;
  const log = (line) => console.log(`[soak ${name}] ${line}`);
  const failures = [];
  const started = performance.now();

  // The room.
  const room = opts.room || (opts['rooms-api'] ? await createRoom(opts['rooms-api']) : `soak-${opts.seed}-${Date.now().toString(36)}`);
  const url = `${opts.ws.replace(/\/$/, '')}/${room}`;
  const seconds = opts.frames / opts.rate;
  const maxSeconds = opts['max-seconds'] ?? Math.ceil(seconds * 4 + 300);
  log(`room ${room}: ${opts.frames} frames from ${opts.attackers} attackers (3 connections each) over ~${Math.round(seconds)} s, ${opts.honest} people typing, seed ${opts.seed}`);

  // Watch the server: alive, RSS, and (when given) health.
  let crashedAt = null;
  let lastStatus = procStatus(opts.pid);
  if (!lastStatus.alive) { console.error(`soak: no live process ${opts.pid}`); process.exit(2); }
  const rssStartKiB = lastStatus.rss;
  let rssMaxKiB = lastStatus.rss;
  const rssTrace = [];
  const onCrash = [];
  const watch = setInterval(() => {
    const s = procStatus(opts.pid);
    if (!s.alive) {
      if (crashedAt == null) {
        crashedAt = (performance.now() - started) / 1000;
        log(`SERVER PROCESS ${opts.pid} IS GONE at ${crashedAt.toFixed(1)} s`);
        for (const f of onCrash) f();
      }
      return;
    }
    lastStatus = s;
    rssMaxKiB = Math.max(rssMaxKiB, s.rss);
  }, 200);
  const health = { checks: 0, failures: 0, maxMs: 0, errors: {} };
  let healthTimer = null;
  if (opts.health) {
    const probe = async () => {
      const r = await httpStatus(opts.health);
      health.checks++;
      health.maxMs = Math.max(health.maxMs, r.ms);
      if (r.status !== 200) { health.failures++; bump(health.errors, r.status || r.error); }
      healthTimer = setTimeout(probe, 2000);
    };
    healthTimer = setTimeout(probe, 2000);
  }

  // The honest clients.
  const honestRng = new Rng(opts.seed, 7);
  const honestCloses = {};
  const honestCloseReasons = {};
  const people = [];
  for (let i = 0; i < opts.honest; i++) {
    const id = HONEST_BASE + i * 0x10000 + honestRng.int(0x10000);
    people.push(await stockClient(WebsocketProvider, opts.ws.replace(/\/$/, ''), room, id, (code, reason) => {
      bump(honestCloses, String(code));
      bump(honestCloseReasons, `${code} ${reason.slice(0, 80)}`);
    }));
  }
  people.forEach((p, i) => {
    p.ids = new Set([p.doc.clientID]);
    p.rng = new Rng(opts.seed, 100 + i);
    p.typed = 0;
    p.chars = 0;
    p.provider.awareness.setLocalStateField('user', { name: `Person ${i}`, color: `#${(0x3070a0 + i * 0x201008).toString(16)}` });
  });
  if (!(await until(() => people.every((p) => p.provider.synced), 30_000))) {
    console.error('soak: the honest clients could not sync with the server');
    process.exit(1);
  }
  log('people connected and synced');

  // Round trips: each keystroke is (sender id, clock); a receiver has it once its state
  // for the sender passes that clock.
  const samples = [];
  const waiting = people.map(() => people.map(() => []));
  people.forEach((receiver, r) => {
    receiver.doc.on('update', () => {
      const now = performance.now();
      people.forEach((sender, s) => {
        const queue = waiting[r][s];
        if (s === r || queue.length === 0) return;
        while (queue.length && queue[0].clock < stateOf(receiver.doc, queue[0].client)) samples.push(now - queue.shift().at);
      });
    });
  });
  const alphabet = 'abcdefghijklmnopqrstuvwxyz       \n';
  let typing = true;
  let clientIdChanges = 0;
  const typeOnce = (p, i) => {
    if (!typing) return;
    // Yjs gives a client a new id when a remote update advances its own (it takes it
    // for another client using the same id); keep every id a person typed under.
    const client = p.doc.clientID;
    if (!p.ids.has(client)) {
      p.ids.add(client);
      clientIdChanges++;
      log(`person ${i} now types as client ${client}: Yjs changed its id after a remote update wrote under it`);
    }
    const clock = stateOf(p.doc, client);
    p.typed++;
    const marker = p.typed % 50 === 0;
    const insert = marker ? `⟦${i}:${p.typed}⟧` : p.rng.pick(alphabet);
    const at = performance.now();
    p.text.insert(p.rng.int(p.text.length + 1), insert);
    p.chars += insert.length;
    people.forEach((_, r) => { if (r !== i) waiting[r][i].push({ client, clock, at }); });
    if (p.typed % 10 === 0) {
      const cursor = Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(p.text, p.rng.int(p.text.length + 1)));
      p.provider.awareness.setLocalStateField('cursor', { anchor: cursor, head: cursor });
    }
    setTimeout(() => typeOnce(p, i), 150 + p.rng.int(100)); // 5 a second on average
  };
  people.forEach((p, i) => setTimeout(() => typeOnce(p, i), p.rng.int(200)));

  // The attackers.
  const worker = new Worker(fileURLToPath(import.meta.url), {
    workerData: {
      url, seed: opts.seed, frames: opts.frames, attackers: opts.attackers, seconds,
      pileSize: opts['pile-size'], codePiles: opts['code-piles'], oversize: opts.oversize, oversizeBytes: opts['oversize-bytes'],
      kinds: opts.kinds || null,
    },
  });
  let attack = null;
  let dump = null;
  const attackDone = new Promise((resolve, reject) => {
    worker.on('message', (m) => {
      if (m.type === 'stats') attack = m.stats;
      if (m.type === 'dump') dump = m.recent;
      if (m.type === 'done') { attack = m.stats; resolve('done'); }
    });
    worker.on('error', reject);
    worker.on('exit', (code) => resolve(`exit ${code}`));
  });
  const crashed = new Promise((resolve) => onCrash.push(() => { worker.postMessage('dump'); resolve('crash'); }));
  const timedOut = sleep(maxSeconds * 1000).then(() => 'timeout');
  let lastSent = 0, lastAt = performance.now();
  const progress = setInterval(() => {
    if (!attack) return;
    const now = performance.now();
    const rate = ((attack.sent - lastSent) * 1000) / (now - lastAt);
    lastSent = attack.sent; lastAt = now;
    const sorted = samples.slice(-2000).sort((a, b) => a - b);
    const closes = Object.entries(attack.closes).map(([c, n]) => `${c}:${n}`).join(' ');
    log(`${attack.sent}/${opts.frames} frames (${Math.round(rate)}/s), closes ${closes || 'none'}, ` +
      `rss ${(lastStatus.rss / 1024).toFixed(0)} MiB, recent round trip p50 ${round1(percentile(sorted, 50))} p99 ${round1(percentile(sorted, 99))} ms`);
    rssTrace.push([Math.round((now - started) / 1000), Math.round(lastStatus.rss / 1024)]);
  }, opts['progress-seconds'] * 1000);
  const outcome = await Promise.race([attackDone, crashed, timedOut]);
  clearInterval(progress);
  const attackSeconds = (performance.now() - started) / 1000;
  if (outcome !== 'done') {
    if (outcome === 'timeout') failures.push(`attack did not finish within --max-seconds ${maxSeconds}`);
    worker.postMessage('stop');
    if (outcome === 'crash') await sleep(500);
    await Promise.race([attackDone, sleep(5000)]);
  }
  await worker.terminate();
  typing = false;
  log(`attack over after ${attackSeconds.toFixed(0)} s (${outcome}); settling`);

  // Settle: every person has everyone's keystrokes and the same text.
  const undelivered = () => waiting.reduce((n, row) => n + row.reduce((m, q) => m + q.length, 0), 0);
  const sameText = () => people.every((p) => p.text.toString() === people[0].text.toString());
  const settled = crashedAt == null && await until(() => undelivered() === 0 && sameText() && people.every((p) => p.provider.wsconnected), opts['settle-seconds'] * 1000, 100);
  const settleSeconds = (performance.now() - started) / 1000 - attackSeconds;
  const finalText = people[0].text.toString();
  const converged = settled && sameText();
  if (!converged) {
    const distinct = new Set(people.map((p) => p.text.toString())).size;
    failures.push(`honest clients did not converge within ${opts['settle-seconds']} s (${distinct} distinct texts, ${undelivered()} keystrokes undelivered)`);
  }

  // Every honest keystroke is in the text.
  const kept = honestCharsIn(people[0].doc, new Set(people.flatMap((p) => [...p.ids])));
  const typedChars = people.reduce((n, p) => n + p.chars, 0);
  if (converged && kept !== typedChars) failures.push(`the text keeps ${kept} of the ${typedChars} characters people typed`);

  // A newcomer sees the same text.
  let freshMatches = false;
  if (crashedAt == null) {
    const fresh = await stockClient(WebsocketProvider, opts.ws.replace(/\/$/, ''), room, null);
    const synced = await until(() => fresh.provider.synced, 30_000);
    freshMatches = synced && await until(() => fresh.text.toString() === finalText, 15_000);
    if (!synced) failures.push('a fresh stock client could not sync');
    else if (!freshMatches) failures.push(`a fresh stock client sees a different text (${fresh.text.length} vs ${finalText.length} characters)`);
    fresh.provider.destroy();
  } else {
    failures.push('no fresh client: the server is gone');
  }

  // Alive, answering, and within its memory bound.
  clearInterval(watch);
  if (healthTimer) clearTimeout(healthTimer);
  const end = procStatus(opts.pid);
  if (!end.alive && crashedAt == null) crashedAt = (performance.now() - started) / 1000;
  if (crashedAt != null) failures.push(`the server process died at ${crashedAt.toFixed(1)} s`);
  // Still accepting connections (for a server without a health endpoint, this and the
  // process being there are what "alive" means).
  const acceptsWebSocket = end.alive && await new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => { ws.terminate(); resolve(false); }, 5000);
    ws.on('open', () => { clearTimeout(timer); ws.terminate(); resolve(true); });
    ws.on('error', () => { clearTimeout(timer); resolve(false); });
  });
  if (end.alive && !acceptsWebSocket) failures.push('the server no longer accepts a WebSocket');
  let finalHealth = null;
  if (opts.health && end.alive) {
    finalHealth = await httpStatus(opts.health);
    if (finalHealth.status !== 200) failures.push(`GET ${opts.health} answered ${finalHealth.status || finalHealth.error}`);
  }
  const hwmKiB = end.alive ? end.hwm : lastStatus.hwm;
  const rssEndKiB = end.alive ? end.rss : null;
  const rssPeakMiB = Math.max(hwmKiB, rssMaxKiB) / 1024;
  if (rssPeakMiB > opts['rss-bound-mb']) failures.push(`peak RSS ${rssPeakMiB.toFixed(1)} MiB is over the bound of ${opts['rss-bound-mb']} MiB`);

  // Whole frames behind the findings, for a reproduction: the attack's last frames when
  // the server died, updates the stock clients could not apply, and what the server
  // refused from a stock client.
  let dumpFile = null;
  if (crashedAt != null || clientErrors.count || refused.length) {
    if (crashedAt != null) await until(() => dump != null, 2000);
    const dir = opts['dump-dir'] || join(tmpdir(), 'pairpad-soak');
    mkdirSync(dir, { recursive: true });
    dumpFile = join(dir, `soak-${name}-seed${opts.seed}-frames.json`);
    writeFileSync(dumpFile, JSON.stringify({
      seed: opts.seed, url, crashedAt,
      lastAttackFrames: crashedAt != null ? dump : null,
      updatesClientsCouldNotApply: clientErrors.frames.map((b) => b.toString('hex')),
      refusedFromStockClients: refused.map((r) => ({ ...r, lastSent: r.lastSent.map((b) => b.toString('hex')) })),
    }, null, 1));
  }

  const sorted = samples.slice().sort((a, b) => a - b);
  const a = attack || { sent: 0, kinds: {}, closes: {}, mutations: {} };
  const result = {
    name, seed: opts.seed, room, passed: failures.length === 0, failures,
    frames: a.sent, framesTarget: opts.frames, framesAcked: a.acked, framesUnacked: a.unacked, bytesSent: a.bytes,
    framesByKind: a.kinds, mutations: a.mutations, corpusFrames: a.corpusFrames,
    attackers: opts.attackers, attackConnections: opts.attackers * 3, connects: a.connects, refusedConnects: a.refused,
    closesByCode: a.closes, closesByRole: a.closesByRole, closeReasons: a.reasons, closedAfterKind: a.closedAfter,
    crashes: crashedAt == null ? 0 : 1, crashedAtS: crashedAt, dumpFile, acceptsWebSocket,
    rssStartMiB: round1(rssStartKiB / 1024), rssPeakMiB: round1(rssPeakMiB), rssEndMiB: rssEndKiB == null ? null : round1(rssEndKiB / 1024),
    rssBoundMiB: opts['rss-bound-mb'], rssTraceMiB: rssTrace,
    honest: {
      clients: opts.honest, keystrokes: people.reduce((n, p) => n + p.typed, 0), roundTrips: sorted.length,
      p50Ms: round1(percentile(sorted, 50)), p90Ms: round1(percentile(sorted, 90)), p99Ms: round1(percentile(sorted, 99)),
      maxMs: round1(sorted[sorted.length - 1] ?? null), closesByCode: honestCloses, closeReasons: honestCloseReasons,
      undelivered: undelivered(), clientIdChanges, yjsErrors: clientErrors.count, yjsErrorKinds: clientErrors.kinds,
      yjsErrorFrames: clientErrors.frames.map((b) => hexOf(b, 256)),
      refusedFrames: refused.map((r) => ({ code: r.code, reason: r.reason, lastSent: r.lastSent.map((b) => hexOf(b, 256)) })),
    },
    converged, freshClientMatches: freshMatches, textLength: finalText.length, honestCharsTyped: typedChars, honestCharsKept: kept,
    health: opts.health ? { ...health, maxMs: round1(health.maxMs), final: finalHealth && finalHealth.status } : null,
    piles: a.piles, attackSeconds: round1(attackSeconds), settleSeconds: round1(settleSeconds),
  };
  console.log(`SOAK ${JSON.stringify(result)}`);
  const closes = Object.entries(result.closesByCode).sort().map(([c, n]) => `${c}×${n}`).join(', ') || 'none';
  console.log(`
soak ${name}: ${result.passed ? 'PASSED' : 'FAILED'} (seed ${opts.seed})
  attack      ${result.frames} frames (${result.framesUnacked} unacknowledged at a close) in ${result.attackSeconds} s, ${result.connects} connections opened
  closes      ${closes}
  crashes     ${result.crashes}${crashedAt != null ? ` at ${crashedAt.toFixed(1)} s` : ''}${dumpFile ? `\n  frames      behind the findings: ${dumpFile}` : ''}
  RSS         ${result.rssStartMiB} MiB at start, peak ${result.rssPeakMiB} MiB (bound ${opts['rss-bound-mb']}), ${result.rssEndMiB ?? '-'} MiB at end
  people      ${result.honest.keystrokes} keystrokes, round trip p50 ${result.honest.p50Ms} ms, p99 ${result.honest.p99Ms} ms, max ${result.honest.maxMs} ms; their closes ${JSON.stringify(honestCloses)}
  converged   ${converged}, fresh client sees the same text: ${freshMatches}, ${kept}/${typedChars} typed characters kept
  health      ${opts.health ? `${health.checks} checks, ${health.failures} failed, slowest ${round1(health.maxMs)} ms, final ${finalHealth ? finalHealth.status : '-'}` : 'not checked'}${failures.length ? `\n  FAILURES    ${failures.join('\n              ')}` : ''}`);
  for (const p of people) {
    try { p.provider.destroy(); } catch { /* a provider whose doc changed its client id cannot say goodbye */ }
  }
  process.exit(failures.length ? 1 : 0);
}

/** Characters of live (not deleted) text items written by `clients`. */
function honestCharsIn(doc, clients) {
  let n = 0;
  for (let item = doc.getText('code')._start; item; item = item.right) {
    if (!item.deleted && clients.has(item.id.client)) n += item.length;
  }
  return n;
}

/**
 * --emit-frames N: print the first N frames of every attack connection as JSON lines
 * ({conn, n, kind, text, hex}) without connecting anywhere, to replay or bisect a finding.
 * Frames resent after a close are not included (they repeat earlier ones).
 */
function emitFrames(argv) {
  const i = argv.indexOf('--emit-frames');
  const count = Number(argv[i + 1]);
  const rest = argv.slice(0, i).concat(argv.slice(i + 2));
  const opts = parseArgs(['--ws', 'ws://unused', '--pid', '0', '--rss-bound-mb', '0', ...rest]);
  const cfg = {
    seed: opts.seed, frames: opts.frames, attackers: opts.attackers, pileSize: opts['pile-size'],
    codePiles: opts['code-piles'], oversize: opts.oversize, oversizeBytes: opts['oversize-bytes'], kinds: opts.kinds || null,
  };
  const { conns } = buildConnections(cfg, newStats());
  for (const conn of conns) {
    for (let n = 0; n < Math.min(count, conn.quota); n++) {
      const f = conn.next();
      const bytes = f.text ? Buffer.from(f.bytes) : Buffer.from(f.bytes.buffer, f.bytes.byteOffset, f.bytes.length);
      process.stdout.write(`${JSON.stringify({ conn: `${conn.attacker.index}/${conn.role}`, n, kind: f.kind, text: !!f.text, hex: bytes.toString('hex') })}\n`);
    }
  }
}

if (isMainThread && process.argv.includes('--emit-frames')) {
  emitFrames(process.argv.slice(2));
} else if (isMainThread) {
  main().catch((error) => { console.error(error); process.exit(1); });
} else {
  attackerThread().catch((error) => { console.error(error); process.exit(1); });
}

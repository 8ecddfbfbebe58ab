// The room's shared document and how it reaches the server: y-websocket for sync and
// awareness, y-indexeddb so typed text survives a reload while offline.

import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import { IndexeddbPersistence, storeState } from "y-indexeddb";
import { socketProtocols, tokenExpired } from "./session.js";

/** How the server starts the reason when it closes a connection because an edit would
 * make the document larger than it accepts (close code 1009). */
const TOO_LARGE_REASON = "document too large";
/** How long after an edit a refused editor tries again. */
const RETRY_AFTER_EDIT_MS = 1500;

const tooLarge = (event) => event?.code === 1009 && String(event.reason ?? "").startsWith(TOO_LARGE_REASON);

/** Close codes on which reconnecting cannot help (see the server's `close_code`;
 * y-websocket 3.1 and later stop on the whole 4400 range by themselves): an edit from a
 * connection that may only view (4403), a link that no longer opens the room or a room
 * that was deleted (4404), a person the host took out of the session (4410), and a
 * sign-in that expired (4401). */
const FINAL_CODES = new Set([4401, 4403, 4404, 4410]);
/** 4401: the sign-in expired (what is typed next stays here, and syncs once the person is
 * back with a new token). */
const ENDED_STATUS = { 4401: "signed-out", 4403: "read-only", 4404: "gone", 4410: "removed" };
/** The room's owner changed who may edit: the page must ask again what it may do. */
export const ACCESS_CHANGED = 4001;

/**
 * One open document, the room's own (its first file, title, language and list of files)
 * or another file of its project: the doc, its sync provider and local copy, and a status that is always
 * one of "connecting", "connected", "reconnecting", "unreachable" (an attempt to reach
 * the server failed: edits are kept here until it answers), "offline" or "too-large" (the server
 * refused an edit that would make the document larger than it accepts: edits stay on
 * this device, and the next edit tries again, since it may have shortened the text).
 */
export class Connection {
  /**
   * @param {{link: string, path: string, mainId: string}} room the room by the link this
   * page came by (see session.js), and its first file's id
   * @param {string} [fileId] another file of the room's project; the room's own document
   * (its first file) when left out
   * @param {{readOnly?: boolean}} [options] with `readOnly` (this page may only view),
   * no copy is kept on the device: it would hold nothing of this person's, and any
   * change in it (a last keystroke as the room became view-only) would be refused on
   * every load
   */
  constructor(room, fileId = room.mainId, { readOnly = false } = {}) {
    /** The room's link, as the server's completion takes it. */
    this.link = room.link;
    this.fileId = fileId;
    this.doc = new Y.Doc();
    // The document's layout; the server's side of it is server/src/sync/document.rs.
    this.text = this.doc.getText("code");
    this.meta = this.doc.getMap("meta");
    const name = fileId === room.mainId ? room.path : `${room.path}/${fileId}`;
    // The device's copy goes by the room's own id, not by the link: a new link finds what
    // was typed here before it (a room made before links has its id as its link).
    const kept = fileId === room.mainId ? room.mainId : `${room.mainId}/${fileId}`;
    this.local = readOnly ? null : new IndexeddbPersistence(`pairpad:${kept}`, this.doc);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.provider = new WebsocketProvider(`${scheme}//${location.host}/ws`, name, this.doc, {
      connect: navigator.onLine,
      maxBackoffTime: 5000,
      protocols: socketProtocols(),
      // Each tab talks to the server only. Over a BroadcastChannel, tabs of one browser
      // passed each other's presence on to the server, and a closed tab lingered as a
      // ghost for everyone until its presence expired.
      disableBc: true,
      // Reconnecting would send the same edit and be refused again, in a loop.
      shouldReconnect: (event) => !tooLarge(event) && !FINAL_CODES.has(event?.code),
    });
    /** The server's reason while it refuses this document as too large. */
    this.refusal = null;
    /** Why the server closed this connection for good (`{code, reason}`), or null. */
    this.ended = null;
    this.retryTimer = 0;
    this.provider.on("closed", (event) => {
      if (FINAL_CODES.has(event?.code)) {
        this.ended = { code: event.code, reason: String(event.reason ?? "") };
        this.emit();
        return;
      }
      if (!tooLarge(event)) return;
      this.refusal = event.reason;
      this.emit();
    });
    this.doc.on("update", (_update, origin) => {
      if (this.refusal === null || origin === this.provider || (this.local && origin === this.local)) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.refusal = null;
        if (navigator.onLine) this.provider.connect();
        this.emit();
      }, RETRY_AFTER_EDIT_MS);
    });
    /** Resolves once the document holds what this device kept of it, or (with no copy
     * kept) once it first synced with the server. */
    this.whenLoaded = this.local
      ? this.local.whenSynced
      : new Promise((resolve) => {
        const synced = (yes) => {
          if (!yes) return;
          this.provider.off("sync", synced);
          resolve();
        };
        this.provider.on("sync", synced);
      });
    this.awareness = this.provider.awareness;
    this.listeners = new Set();
    this.everConnected = false;
    /** Connection attempts that failed since the last sync. */
    this.failures = 0;
    this.provider.on("status", () => this.emit());
    this.provider.on("connection-close", (event) => {
      this.failures += 1;
      if (event?.code === ACCESS_CHANGED) this.onAccessChanged();
      this.emit();
    });
    /** Called when the server says the room's access changed (room.js reloads). */
    this.onAccessChanged = () => {};
    this.provider.on("sync", (synced) => {
      if (synced) {
        this.everConnected = true;
        this.failures = 0;
      }
      this.emit();
    });
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("online", this.onOnline);
  }

  onOffline = () => {
    // The socket may linger half-open; drop it so the status tells the truth at once.
    this.provider.disconnect();
    this.emit();
  };

  onOnline = () => {
    if (this.refusal === null && this.ended === null) this.provider.connect();
    this.emit();
  };

  /** "connected" only once the server's state has been merged in. */
  get status() {
    if (this.ended) return ENDED_STATUS[this.ended.code];
    if (!navigator.onLine) return "offline";
    if (this.failures > 0 && tokenExpired()) return "signed-out";
    if (this.refusal !== null) return "too-large";
    if (this.provider.wsconnected && this.provider.synced) return "connected";
    if (this.failures > 1 || (this.failures > 0 && !this.everConnected)) return "unreachable";
    return this.everConnected ? "reconnecting" : "connecting";
  }

  /** Calls `listener(status)` now and on every change. */
  onStatus(listener) {
    this.listeners.add(listener);
    listener(this.status);
  }

  emit() {
    const status = this.status;
    for (const listener of this.listeners) listener(status);
  }

  /** Resolves once everything typed so far is in this browser's IndexedDB copy. */
  async saveLocally() {
    if (!this.local) return;
    await this.local.whenSynced;
    await storeState(this.local, true);
  }

  /** Closes the document and forgets this device's copy of it (the file was deleted). */
  async forget() {
    const cleared = this.local?.clearData();
    this.destroy();
    try {
      await cleared;
    } catch {
      // Storage gone already: nothing to forget.
    }
  }

  destroy() {
    clearTimeout(this.retryTimer);
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("online", this.onOnline);
    this.provider.destroy();
    this.local?.destroy();
    this.doc.destroy();
  }
}

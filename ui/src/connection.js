// The room's shared document and how it reaches the server: y-websocket for sync and
// awareness, y-indexeddb so typed text survives a reload while offline.

import * as Y from "yjs";
import { WebsocketProvider } from "y-websocket";
import { IndexeddbPersistence, storeState } from "y-indexeddb";

/**
 * One open room: the doc, its sync provider and local copy, and a status that is always
 * one of "connecting", "connected", "reconnecting" or "offline".
 */
export class Connection {
  /** @param {string} roomId */
  constructor(roomId) {
    this.roomId = roomId;
    this.doc = new Y.Doc();
    this.text = this.doc.getText("code");
    this.meta = this.doc.getMap("meta");
    this.local = new IndexeddbPersistence(`pairpad:${roomId}`, this.doc);
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    this.provider = new WebsocketProvider(`${scheme}//${location.host}/ws`, roomId, this.doc, {
      connect: navigator.onLine,
      maxBackoffTime: 5000,
    });
    this.awareness = this.provider.awareness;
    this.listeners = new Set();
    this.everConnected = false;
    this.provider.on("status", () => this.emit());
    this.provider.on("sync", (synced) => {
      if (synced) this.everConnected = true;
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
    this.provider.connect();
    this.emit();
  };

  /** "connected" only once the server's state has been merged in. */
  get status() {
    if (!navigator.onLine) return "offline";
    if (this.provider.wsconnected && this.provider.synced) return "connected";
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
    await this.local.whenSynced;
    await storeState(this.local, true);
  }

  destroy() {
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("online", this.onOnline);
    this.provider.destroy();
    this.local.destroy();
    this.doc.destroy();
  }
}

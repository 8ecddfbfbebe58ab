// The open files: a tab and an editor for each, the one in front shown. The first file is
// the room's own document; every other file opened gets its own document and connection,
// closed with its tab. Each keeps its editor (selection, scroll, undo) while in the
// background, and its partners' cursors stay live.

import * as Y from "yjs";
import { EditorView } from "@codemirror/view";
import { Connection } from "./connection.js";
import { createEditor, editorTheme, editorThemeFor, languageSlot, setWritable } from "./editor.js";
import { languageOfPath, loadLanguage } from "./languages.js";
import { el } from "./dom.js";
import { baseName, tabLabels } from "./files.js";

/** Open files beyond this close the one least recently shown (its edits are kept). */
export const MAX_OPEN = 16;
/** How long a closed file's connection stays after it synced again, for its last edits
 * to reach the server. */
const LINGER_MS = 1000;
const TABS_KEY = (roomId) => `pairpad.tabs.${roomId}`;
const CURSOR_KEY = (roomId, fileId) => `pairpad.cursor.${roomId}.${fileId}`;

export class Workspace {
  /**
   * `room` is the room's connection and `site` the room as session.js names it, with its
   * first file's id (`mainId`); `pathOf(fileId)` the file's path (null if the project
   * does not list it); `onActivate(tab)` is told which file is in front. With
   * `readOnly`, no editor takes typing.
   */
  constructor({ room, site, readOnly = false, presence, strip, panes, theme, onHelp, pathOf, onActivate, onLanguage }) {
    this.room = room;
    this.site = site;
    this.readOnly = readOnly;
    /** The first file's id: its document is the room's own. */
    this.mainId = site.mainId;
    /** What this page's saved tabs and cursors are kept under. */
    this.roomId = site.link;
    this.presence = presence;
    this.strip = strip;
    this.panes = panes;
    this.theme = theme;
    this.onHelp = onHelp;
    this.pathOf = pathOf;
    this.onActivate = onActivate;
    this.onLanguage = onLanguage;
    /** fileId -> tab, in the order the strip shows them. */
    this.tabs = new Map();
    this.active = null;
    /** Paths learnt before the room's list shows them (a file just created here). */
    this.known = new Map();
    /** Closed files whose edits have not reached the server yet (typed offline): their
     * connections stay until they have, by file id. */
    this.lingering = new Map();
    this.shown = 0;
    strip.setAttribute("role", "tablist");
    strip.setAttribute("aria-label", "Open files");
    strip.addEventListener("keydown", (event) => this.onStripKey(event));
    window.addEventListener("pagehide", () => this.saveAll());
  }

  /** The file's path, as the project lists it or as learnt here. */
  path(fileId) {
    return this.pathOf(fileId) ?? this.known.get(fileId) ?? null;
  }

  /** Brings `fileId` to the front, opening it first if needed; returns its tab. */
  open(fileId, { focus = true } = {}) {
    let tab = this.tabs.get(fileId);
    if (!tab) {
      tab = this.create(fileId);
      this.tabs.set(fileId, tab);
      this.labels();
    }
    this.activate(tab, focus);
    this.evict();
    return tab;
  }

  create(fileId) {
    const isRoom = fileId === this.mainId;
    const connection = isRoom
      ? this.room
      : this.unlinger(fileId) ?? new Connection(this.site, fileId, { readOnly: this.readOnly });
    const pane = el("div", { className: "pane", hidden: true, "attr:role": "tabpanel" });
    this.panes.append(pane);
    const tab = { fileId, connection, pane, language: null, languageRequest: 0, isRoom, shownAt: 0, listed: false };
    const { view, undoManager } = createEditor(pane, connection, {
      currentLanguage: () => tab.language ?? "plaintext",
      theme: this.theme,
      onHelp: this.onHelp,
      readOnly: this.readOnly,
    });
    tab.view = view;
    tab.undoManager = undoManager;
    tab.detach = isRoom ? () => {} : this.presence.attach(connection.awareness);
    tab.onMeta = () => this.showLanguage(tab);
    connection.meta.observe(tab.onMeta);
    tab.button = el(
      "div",
      { className: "tab", "attr:role": "tab", "on:click": () => this.open(fileId), "on:auxclick": (event) => {
        if (event.button === 1) this.close(fileId);
      } },
      el("span", { className: "tab-label" }),
      el("button", {
        type: "button", className: "tab-close", tabIndex: -1, title: "Close", "attr:aria-label": "Close",
        "on:click": (event) => {
          event.stopPropagation();
          this.close(fileId);
        },
      }, "×"),
    );
    this.strip.append(tab.button);
    this.showLanguage(tab);
    this.restoreCursor(tab);
    return tab;
  }

  activate(tab, focus) {
    const previous = this.active;
    if (previous && previous !== tab) {
      // A file in the background shows no cursor of yours to the others.
      previous.connection.awareness.setLocalStateField("cursor", null);
      previous.pane.hidden = true;
      previous.button.setAttribute("aria-selected", "false");
      previous.button.tabIndex = -1;
    }
    this.active = tab;
    tab.shownAt = ++this.shown;
    tab.pane.hidden = false;
    tab.button.setAttribute("aria-selected", "true");
    tab.button.tabIndex = 0;
    tab.button.scrollIntoView({ block: "nearest", inline: "nearest" });
    tab.view.requestMeasure();
    if (focus) tab.view.focus();
    this.saveTabs();
    this.onActivate?.(tab);
  }

  /** Closes the tab of `fileId`; the room's own file closes only its tab, never its document. */
  close(fileId, { forget = false, focus = true } = {}) {
    const tab = this.tabs.get(fileId);
    if (!tab) return;
    this.saveCursor(tab);
    this.tabs.delete(fileId);
    tab.connection.meta.unobserve(tab.onMeta);
    tab.detach();
    tab.view.destroy();
    // The room's document outlives its tab: its undo history must stop watching it.
    tab.undoManager.destroy();
    tab.pane.remove();
    tab.button.remove();
    if (tab.isRoom) tab.connection.awareness.setLocalStateField("cursor", null);
    else if (forget) tab.connection.forget();
    else if (tab.connection.status === "connected") tab.connection.destroy();
    else this.linger(tab.connection);
    if (this.active === tab) {
      this.active = null;
      const next = [...this.tabs.values()].sort((a, b) => b.shownAt - a.shownAt)[0];
      if (next) this.activate(next, focus);
      else this.open(this.mainId, { focus });
    } else {
      this.saveTabs();
    }
    this.labels();
  }

  /**
   * Keeps a closed file's connection until it is connected and synced again: what was
   * typed in it offline then reaches the server, as the page promised, even though no
   * tab shows the file any more.
   */
  linger(connection) {
    connection.awareness.setLocalState(null);
    connection.lingerTimer = 0;
    this.lingering.set(connection.fileId, connection);
    connection.onStatus((status) => {
      if (status !== "connected" || connection.lingerTimer || this.lingering.get(connection.fileId) !== connection) return;
      connection.lingerTimer = setTimeout(() => {
        if (this.lingering.get(connection.fileId) !== connection) return;
        this.lingering.delete(connection.fileId);
        connection.destroy();
      }, LINGER_MS);
    });
  }

  /** A lingering connection to `fileId`, taken back for a tab that opens it again. */
  unlinger(fileId) {
    const connection = this.lingering.get(fileId);
    if (!connection) return null;
    this.lingering.delete(fileId);
    clearTimeout(connection.lingerTimer);
    connection.lingerTimer = 0;
    // Presence was withdrawn when it lingered; an empty state takes the person again.
    connection.awareness.setLocalState({});
    return connection;
  }

  /** Keeps at most [`MAX_OPEN`] files open. */
  evict() {
    while (this.tabs.size > MAX_OPEN) {
      const oldest = [...this.tabs.values()].filter((t) => t !== this.active).sort((a, b) => a.shownAt - b.shownAt)[0];
      if (!oldest) return;
      this.close(oldest.fileId);
    }
  }

  /**
   * Follows the project's list: tabs are relabelled, and a file that was listed and is
   * not any more (deleted) is closed, with `onGone(path)` told. With `settled` (the room
   * has synced), a file opened from a link or a reload that the project lacks is closed too.
   */
  refresh({ settled = false, onGone } = {}) {
    for (const tab of [...this.tabs.values()]) {
      const listed = this.pathOf(tab.fileId) !== null;
      if (listed) {
        tab.listed = true;
        this.known.delete(tab.fileId);
      } else if (!tab.isRoom && (tab.listed || (settled && !this.known.has(tab.fileId)))) {
        const path = this.known.get(tab.fileId) ?? tab.lastPath ?? null;
        // Typing goes nowhere rather than into the file that comes to the front.
        this.close(tab.fileId, { forget: tab.listed, focus: false });
        onGone?.(path);
      }
    }
    for (const [fileId, connection] of this.lingering) {
      if (settled && this.pathOf(fileId) === null) {
        this.lingering.delete(fileId);
        connection.forget();
      }
    }
    for (const tab of this.tabs.values()) this.showLanguage(tab);
    this.labels();
  }

  labels() {
    const paths = [...this.tabs.values()].map((t) => this.path(t.fileId) ?? "…");
    const labels = tabLabels([...new Set(paths)]);
    for (const tab of this.tabs.values()) {
      const path = this.path(tab.fileId);
      if (path) tab.lastPath = path;
      const label = path ? labels.get(path) : "…";
      tab.button.querySelector(".tab-label").textContent = label;
      tab.button.title = path ?? "Loading…";
      tab.button.querySelector(".tab-close").setAttribute("aria-label", `Close ${label}`);
      tab.pane.setAttribute("aria-label", path ?? "");
    }
  }

  /**
   * The language of a tab's file. For the first file, its extension's when it names one,
   * else the room's choice (a file with no extension, or `.txt`); for the others what
   * the server set from the extension, or the extension itself until it has.
   */
  languageOf(tab) {
    const byPath = languageOfPath(this.path(tab.fileId) ?? "");
    if (tab.isRoom && byPath !== "plaintext") return byPath;
    const language = tab.connection.meta.get("language");
    if (typeof language === "string") return language;
    return byPath;
  }

  async showLanguage(tab) {
    const id = this.languageOf(tab);
    if (id === tab.language) return;
    tab.language = id;
    const request = ++tab.languageRequest;
    if (tab === this.active) this.onLanguage?.(tab);
    const extension = await loadLanguage(id);
    // A newer switch wins over a grammar chunk that loads late.
    if (request !== tab.languageRequest || !this.tabs.has(tab.fileId)) return;
    tab.view.dispatch({ effects: languageSlot.reconfigure(extension) });
    if (tab === this.active) document.body.dataset.language = id;
  }

  /** Makes every editor, open now or later, take no more typing: the server stopped
   * taking this page's edits (its link was replaced, the room deleted, the person
   * removed). */
  lock() {
    this.readOnly = true;
    for (const tab of this.tabs.values()) {
      setWritable(tab.view, false);
      // Undo and redo change the shared text itself, past the editor's lock.
      tab.undoManager.clear();
    }
  }

  setTheme(theme) {
    this.theme = theme;
    for (const tab of this.tabs.values()) {
      tab.view.dispatch({ effects: editorTheme.reconfigure(editorThemeFor(theme)) });
    }
  }

  onStripKey(event) {
    const tabs = [...this.tabs.values()];
    const index = tabs.indexOf(this.active);
    const move = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (move) {
      const next = tabs[(index + move + tabs.length) % tabs.length];
      this.activate(next, false);
      next.button.focus();
    } else if (event.key === "Delete") {
      this.close(this.active.fileId);
      this.active?.button.focus();
    } else if (event.key === "Enter") {
      this.active?.view.focus();
    } else {
      return;
    }
    event.preventDefault();
  }

  /** Remembers the open tabs, and the one in front, for a reload. */
  saveTabs() {
    try {
      sessionStorage.setItem(TABS_KEY(this.roomId), JSON.stringify({
        open: [...this.tabs.keys()], active: this.active?.fileId ?? null,
      }));
    } catch {
      // Storage full or disabled: a reload opens the first file.
    }
  }

  /** The tabs a reload of this page had open: `{open: [...], active}`. */
  savedTabs() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(TABS_KEY(this.roomId)) ?? "null");
      const ids = Array.isArray(saved?.open) ? saved.open.filter((id) => typeof id === "string") : [];
      return { open: ids.slice(0, MAX_OPEN), active: typeof saved?.active === "string" ? saved.active : null };
    } catch {
      return { open: [], active: null };
    }
  }

  saveAll() {
    for (const tab of this.tabs.values()) this.saveCursor(tab);
    this.saveTabs();
  }

  // A reload puts each cursor back: it is kept as a position relative to the shared text,
  // so edits made meanwhile by others do not move it to the wrong place.
  saveCursor(tab) {
    const { anchor, head } = tab.view.state.selection.main;
    const text = tab.connection.text;
    const rel = (pos) => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(text, pos));
    try {
      sessionStorage.setItem(CURSOR_KEY(this.roomId, tab.fileId), JSON.stringify({ anchor: rel(anchor), head: rel(head) }));
    } catch {
      // Storage full or disabled: the cursor starts at the top.
    }
  }

  restoreCursor(tab) {
    tab.connection.whenLoaded.then(() => {
      if (!this.tabs.has(tab.fileId)) return;
      let saved = null;
      try {
        saved = JSON.parse(sessionStorage.getItem(CURSOR_KEY(this.roomId, tab.fileId)) ?? "null");
      } catch {
        saved = null;
      }
      if (!saved) return;
      const abs = (json) => {
        try {
          const at = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), tab.connection.doc);
          return at && at.type === tab.connection.text ? Math.min(at.index, tab.view.state.doc.length) : null;
        } catch {
          return null;
        }
      };
      const anchor = abs(saved.anchor);
      const head = abs(saved.head);
      if (anchor === null || head === null) return;
      tab.view.dispatch({ selection: { anchor, head }, effects: EditorView.scrollIntoView(head, { y: "center" }) });
    });
  }

  /** The name to save a tab's file under: its own name. */
  fileName(tab) {
    return baseName(this.path(tab.fileId) ?? "file.txt");
  }
}

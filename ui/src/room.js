// The editor page, `/r/{roomId}`: wires the shared document to the editor, header and
// presence.

import { Connection } from "./connection.js";
import { createEditor, editorTheme, editorThemeFor, languageSlot } from "./editor.js";
import { LANGUAGES, languageById, loadLanguage } from "./languages.js";
import { Presence } from "./presence.js";
import { byId, el, toast } from "./dom.js";
import { rememberRoom, saveLanguageChoice } from "./storage.js";
import { setupTheme } from "./theme.js";
import { copyText, registerServiceWorker } from "./page.js";
import { cursorOf } from "./cursors.js";
import qrcode from "qrcode-generator";
import * as Y from "yjs";
import { EditorView } from "@codemirror/view";

const MAX_TITLE_CHARS = 200;
const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  unreachable: "Server unreachable",
  offline: "Offline",
  "too-large": "Too large to sync",
};
/** What a status means for your edits, said plainly under the header. */
const STATUS_EXPLAINED = {
  unreachable: "Can't reach the server. Your edits are kept on this device and will sync when it's back.",
  offline: "You're offline. Your edits are kept on this device and will sync when you're back online.",
  "too-large": "The document is larger than the server accepts. Your edits are kept on this device; shorten it to sync again.",
};

const roomId = decodeURIComponent(location.pathname.split("/")[2] ?? "");
const connection = new Connection(roomId);
const meta = connection.meta;
const presence = new Presence(connection.awareness, {
  list: byId("people"),
  nameButton: byId("name"),
  dialog: byId("name-dialog"),
  onJump: (clientIds) => jumpTo(clientIds),
});

let view;
setupTheme(byId("theme"), (theme) => {
  view?.dispatch({ effects: editorTheme.reconfigure(editorThemeFor(theme)) });
});
const showHelp = () => byId("help-dialog").showModal();
byId("help").addEventListener("click", showHelp);
({ view } = createEditor(byId("editor"), connection, {
  currentLanguage: () => currentLanguage(),
  theme: document.documentElement.dataset.theme,
  onHelp: showHelp,
}));

// A reload puts the cursor back: it is kept as a position relative to the shared text,
// so edits made meanwhile by others do not move it to the wrong place.
const CURSOR_KEY = `pairpad.cursor.${roomId}`;
window.addEventListener("pagehide", () => {
  const { anchor, head } = view.state.selection.main;
  const rel = (pos) => Y.relativePositionToJSON(Y.createRelativePositionFromTypeIndex(connection.text, pos));
  try {
    sessionStorage.setItem(CURSOR_KEY, JSON.stringify({ anchor: rel(anchor), head: rel(head) }));
  } catch {
    // Storage full or disabled: the cursor starts at the top.
  }
});
connection.local.whenSynced.then(() => {
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(CURSOR_KEY) ?? "null");
  } catch {
    saved = null;
  }
  if (!saved) return;
  const abs = (json) => {
    try {
      const at = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(json), connection.doc);
      return at && at.type === connection.text ? Math.min(at.index, view.state.doc.length) : null;
    } catch {
      return null;
    }
  };
  const anchor = abs(saved.anchor);
  const head = abs(saved.head);
  if (anchor === null || head === null) return;
  view.dispatch({ selection: { anchor, head }, effects: EditorView.scrollIntoView(head, { y: "center" }) });
});

function currentLanguage() {
  const language = meta.get("language");
  return typeof language === "string" ? language : "plaintext";
}

/** The shared title as it is, "" when cleared or unset. */
function sharedTitle() {
  const title = meta.get("title");
  return typeof title === "string" ? title : "";
}

/** The title to show: "Untitled" when there is none. */
function currentTitle() {
  return sharedTitle() || "Untitled";
}

// Language: the select writes meta.language; every change to it, local or remote,
// swaps the grammar. A newer switch wins over a grammar chunk that loads late.
const languageSelect = byId("language");
languageSelect.replaceChildren(...LANGUAGES.map((l) => el("option", { value: l.id }, l.label)));
languageSelect.addEventListener("change", () => {
  meta.set("language", languageSelect.value);
  saveLanguageChoice(languageSelect.value);
});
let languageRequest = 0;
async function showLanguage(id) {
  const request = ++languageRequest;
  if (![...languageSelect.options].some((o) => o.value === id)) {
    languageSelect.append(el("option", { value: id }, languageById(id).label));
  }
  languageSelect.value = id;
  const extension = await loadLanguage(id);
  if (request !== languageRequest) return;
  view.dispatch({ effects: languageSlot.reconfigure(extension) });
  document.body.dataset.language = id;
}

// Title: edited in place, shared through meta.title.
const titleInput = byId("title");
titleInput.maxLength = MAX_TITLE_CHARS;
// Cleared, the title is empty for everyone, and shows as "Untitled".
const saveTitle = () => {
  const title = titleInput.value.replace(/\s+/g, " ").trim().slice(0, MAX_TITLE_CHARS);
  if (title !== sharedTitle()) meta.set("title", title);
  titleInput.value = title;
};
titleInput.addEventListener("change", saveTitle);
titleInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") titleInput.blur();
  if (event.key === "Escape") {
    titleInput.value = sharedTitle();
    titleInput.blur();
  }
});
function showTitle() {
  if (document.activeElement !== titleInput) titleInput.value = sharedTitle();
  document.title = `${currentTitle()} · Pairpad`;
}

// A title or language changed by someone else is announced: who, and to what. Changes
// that arrive while joining (the room as it was) are not news.
function announce(event, txn) {
  if (txn.origin !== connection.provider || !connection.provider.synced) return;
  for (const key of ["language", "title"]) {
    if (!event.keysChanged.has(key)) continue;
    const who = authorOf(key);
    toast(key === "language"
      ? `${who} changed the language to ${languageById(currentLanguage()).label}`
      : `${who} renamed the room to “${currentTitle()}”`);
  }
}

/** The name of whoever wrote `meta[key]` last, from the writing client's presence. */
function authorOf(key) {
  const client = meta._map.get(key)?.id?.client;
  const user = connection.awareness.getStates().get(client)?.user;
  return typeof user?.name === "string" ? user.name : "Someone";
}

let shownLanguage = null;
meta.observe((event, txn) => {
  announce(event, txn);
  showTitle();
  if (currentLanguage() !== shownLanguage) {
    shownLanguage = currentLanguage();
    showLanguage(shownLanguage);
  }
  if (meta.size > 0) rememberRoom({ roomId, title: currentTitle(), language: currentLanguage() });
});
showTitle();
shownLanguage = currentLanguage();
showLanguage(shownLanguage);

// Connection status and head count, always visible.
const statusBadge = byId("status");
let people = 1;
const banner = byId("banner");
const renderStatus = (status = connection.status) => {
  banner.hidden = !STATUS_EXPLAINED[status];
  banner.textContent = STATUS_EXPLAINED[status] ?? "";
  statusBadge.title = STATUS_EXPLAINED[status] ?? "";
  statusBadge.dataset.status = status;
  if (status === "connected") {
    // On a phone the count alone shows ("Connected · " is hidden).
    statusBadge.replaceChildren(
      el("span", { className: "long" }, `${STATUS_TEXT.connected} · `),
      `${people} ${people === 1 ? "person" : "people"}`,
    );
  } else {
    statusBadge.textContent = STATUS_TEXT[status];
  }
};
connection.onStatus(renderStatus);
presence.onCount((count) => {
  people = count;
  renderStatus();
});

byId("copy-link").addEventListener("click", async () => {
  toast((await copyText(location.href)) ? "Link copied" : `Copy this link: ${location.href}`);
});

byId("download").addEventListener("click", () => {
  const name = currentTitle().replace(/[^\p{L}\p{N}._-]+/gu, "-").replace(/^-+|-+$/g, "") || "pairpad";
  const blob = new Blob([connection.text.toString()], { type: "text/plain;charset=utf-8" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `${name}.${languageById(currentLanguage()).ext}` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
});

/** Scrolls to the cursor of the first of `clientIds` that has one. */
function jumpTo(clientIds) {
  for (const clientId of clientIds) {
    const pos = cursorOf(connection.awareness.getStates().get(clientId), connection, view);
    if (pos === null) continue;
    view.dispatch({ effects: EditorView.scrollIntoView(pos, { y: "center" }) });
    view.focus();
    return;
  }
  toast("Their cursor is not in the text");
}

/** Right after creating a room: the link and a QR code to send to the partner. */
function offerInvite() {
  try {
    if (sessionStorage.getItem("pairpad.invite") !== roomId) return;
    sessionStorage.removeItem("pairpad.invite");
  } catch {
    return; // Storage disabled: no invite prompt, the Copy link button still works.
  }
  const dialog = byId("invite-dialog");
  byId("invite-link").value = location.href;
  const qr = qrcode(0, "M");
  qr.addData(location.href);
  qr.make();
  byId("invite-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qr.createSvgTag({ cellSize: 4, margin: 2, scalable: true }))}`;
  byId("invite-copy").onclick = async () => {
    toast((await copyText(location.href)) ? "Link copied" : `Copy this link: ${location.href}`);
    dialog.close();
  };
  // Back to the code once the invite is dealt with, so the next keys go to the editor.
  dialog.addEventListener("close", () => view.focus(), { once: true });
  dialog.showModal();
  byId("invite-link").select();
}

presence.start().then(() => {
  offerInvite();
  view.focus();
});
registerServiceWorker();

// Tests and the desktop shell read these; nothing in the page depends on them.
window.pairpad = { connection, view, presence };

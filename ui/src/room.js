// The editor page, `/r/{roomId}`: wires the shared document to the editor, header and
// presence.

import { Connection } from "./connection.js";
import { createEditor, editorTheme, editorThemeFor, languageSlot } from "./editor.js";
import { LANGUAGES, languageById, loadLanguage } from "./languages.js";
import { Presence } from "./presence.js";
import { byId, el, toast } from "./dom.js";
import { rememberRoom } from "./storage.js";
import { setupTheme } from "./theme.js";
import { copyText, registerServiceWorker } from "./shell.js";

const MAX_TITLE_CHARS = 200;
const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  offline: "Offline: edits are kept on this device",
  "too-large": "Too large to sync: kept on this device; shorten it to retry",
};

const roomId = decodeURIComponent(location.pathname.split("/")[2] ?? "");
const connection = new Connection(roomId);
const meta = connection.meta;
const presence = new Presence(connection.awareness, {
  list: byId("people"),
  nameButton: byId("name"),
  dialog: byId("name-dialog"),
});

let view;
setupTheme(byId("theme"), (theme) => {
  view?.dispatch({ effects: editorTheme.reconfigure(editorThemeFor(theme)) });
});
({ view } = createEditor(byId("editor"), connection, {
  currentLanguage: () => currentLanguage(),
  theme: document.documentElement.dataset.theme,
}));

function currentLanguage() {
  const language = meta.get("language");
  return typeof language === "string" ? language : "plaintext";
}

function currentTitle() {
  const title = meta.get("title");
  return typeof title === "string" && title ? title : "Untitled";
}

// Language: the select writes meta.language; every change to it, local or remote,
// swaps the grammar. A newer switch wins over a grammar chunk that loads late.
const languageSelect = byId("language");
languageSelect.replaceChildren(...LANGUAGES.map((l) => el("option", { value: l.id }, l.label)));
languageSelect.addEventListener("change", () => meta.set("language", languageSelect.value));
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
const saveTitle = () => {
  const title = titleInput.value.replace(/\s+/g, " ").trim().slice(0, MAX_TITLE_CHARS);
  if (title && title !== meta.get("title")) meta.set("title", title);
  else titleInput.value = currentTitle();
};
titleInput.addEventListener("change", saveTitle);
titleInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") titleInput.blur();
  if (event.key === "Escape") {
    titleInput.value = currentTitle();
    titleInput.blur();
  }
});
function showTitle() {
  if (document.activeElement !== titleInput) titleInput.value = currentTitle();
  document.title = `${currentTitle()} · Pairpad`;
}

let shownLanguage = null;
meta.observe(() => {
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
const renderStatus = (status = connection.status) => {
  statusBadge.dataset.status = status;
  statusBadge.textContent =
    status === "connected" ? `${STATUS_TEXT.connected} · ${people} ${people === 1 ? "person" : "people"}` : STATUS_TEXT[status];
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

presence.start().then(() => view.focus());
registerServiceWorker();

// Tests and the desktop shell read these; nothing in the page depends on them.
window.pairpad = { connection, view, presence };

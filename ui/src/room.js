// The editor page, `/r/{roomId}` (or `/v/{viewId}`, read-only): wires the room's project
// (its file tree and the open files) to the header, presence and dialogs.

import { Connection } from "./connection.js";
import { LANGUAGES, languageById, languageOfPath } from "./languages.js";
import { Presence } from "./presence.js";
import { byId, el, toast } from "./dom.js";
import { forgetRoom, rememberRoom, saveLanguageChoice } from "./storage.js";
import { setupTheme } from "./theme.js";
import { copyText, registerServiceWorker } from "./page.js";
import {
  loadRoomInfo, ownerCall, ownerKeyOf, placeOf, saveOwnerKey, takeToken, tokenClaims, tokenExpired, useOwnerKey,
} from "./session.js";
import { cursorOf } from "./cursors.js";
import { Workspace } from "./workspace.js";
import { FileTree } from "./tree.js";
import { FILES_MAP, archiveUrl, renameFile, withExtension } from "./files.js";
import { FileActions } from "./fileactions.js";
import qrcode from "qrcode-generator";
import { EditorView } from "@codemirror/view";

/** How long a jump waits for a partner's cursor to arrive in a file just opened. */
const JUMP_WAIT_MS = 5000;

const MAX_TITLE_CHARS = 200;
const STATUS_TEXT = {
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  unreachable: "Server unreachable",
  offline: "Offline",
  "too-large": "Too large to sync",
  "read-only": "View only",
  gone: "Link not valid",
  "signed-out": "Sign-in expired",
  removed: "Removed",
};
/** What a status means for your edits, said plainly under the header. */
const STATUS_EXPLAINED = {
  unreachable: "Can't reach the server. Your edits are kept on this device and will sync when it's back.",
  offline: "You're offline. Your edits are kept on this device and will sync when you're back online.",
  "too-large": "The document is larger than the server accepts. Your edits are kept on this device; shorten it to sync again.",
  "read-only": "This link can only view the room: what was typed here was not saved. Reload to see the room as it is.",
  gone: "This link no longer opens the room: its owner replaced the link or deleted the room.",
  "signed-out": "Your sign-in has expired. Your edits are kept on this device; open this room again from your sign-in page to sync them.",
  removed: "The host removed you from the session.",
};

// Where this page is, and what it may do there: asked of the server before anything
// connects (a view link, or a room its owner made view-only, opens read-only).
const place = placeOf(location.pathname);
// An owner key handed over in the address (`#owner=…`, as the desktop app and
// `pairpad-server share` give it to their host) is kept, and taken out of the address.
const handed = new URLSearchParams(location.hash.slice(1));
const handedKey = handed.get("owner");
if (handedKey) {
  if (place?.kind === "edit" && /^[0-9a-f]{64}$/.test(handedKey)) saveOwnerKey(place.link, handedKey);
  handed.delete("owner");
  const rest = handed.toString();
  history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
}
const ownerKey = place?.kind === "edit" ? ownerKeyOf(place.link) : null;
useOwnerKey(ownerKey);
// A sign-in token handed over in the address (`#token=…`) is kept for this tab; one
// pasted into the address of this page later (a new sign-in) too, and the page starts
// again with it.
takeToken();
window.addEventListener("hashchange", () => {
  if (!new URLSearchParams(location.hash.slice(1)).has("token")) return;
  takeToken();
  location.reload();
});
const info = place ? await loadRoomInfo(place) : null;
if (!info || info.gone || info.refused) {
  const [status, label, explained] = info?.gone
    ? ["gone", "Link not valid", "This link no longer opens a room: its owner replaced the link or deleted the room."]
    : info?.refused === 401
      ? ["signed-out", "Sign-in needed", tokenExpired()
        ? "Your sign-in has expired. Open this room again from your sign-in page."
        : "This server lets in people signed in through their organisation. Open this room from your sign-in page."]
      : info?.refused
        ? ["signed-out", "Not allowed", `${info.message || "your sign-in does not open this room"}.`]
        : ["unreachable", STATUS_TEXT.unreachable, "Can't reach the server, and this room was never opened on this device."];
  const banner = byId("banner");
  banner.hidden = false;
  banner.textContent = explained.charAt(0).toUpperCase() + explained.slice(1);
  // The desktop app's host lets people in one by one: the page to ask is one click away.
  if (explained.includes("/join")) banner.append(" ", el("a", { href: "/join" }, "Ask to join"));
  byId("status").dataset.status = status;
  byId("status").textContent = label;
  // Nothing else on this page can work: the rest of it never runs.
  await new Promise(() => {});
}
/** The room by this page's link, and its first file (whose document is the room's). */
const site = { link: place.link, path: place.path, mainId: info.fileId };
const mainId = site.mainId;
const readOnly = !info.canEdit;
/** Whether this page may rename the room: whoever may edit, unless it has an owner. */
const mayRetitle = info.canEdit && (info.owner || !info.hasOwner);
/** Set while this page replaces its own link or deletes the room, so that being closed
 * for it is no news. */
let leaving = false;
const connection = new Connection(site, mainId, { readOnly });
// The owner changed who may edit: what this page may do is asked again.
connection.onAccessChanged = () => location.reload();
const meta = connection.meta;
const files = connection.doc.getMap(FILES_MAP);

/** The path of file `fileId` as the project lists it, or null. */
function pathOf(fileId) {
  const path = files.get(fileId);
  return typeof path === "string" ? path : null;
}

const presence = new Presence(connection.awareness, {
  // Signed in: the token's name, which the server shows to everyone anyway.
  fixedName: tokenClaims()?.name ?? null,
  list: byId("people"),
  nameButton: byId("name"),
  dialog: byId("name-dialog"),
  onJump: (person) => jumpTo(person),
  describeFile: (fileId) => workspace.path(fileId),
});

const showHelp = () => byId("help-dialog").showModal();
byId("help").addEventListener("click", showHelp);
const workspace = new Workspace({
  room: connection,
  site,
  readOnly,
  presence,
  strip: byId("tabs"),
  panes: byId("editor"),
  theme: document.documentElement.dataset.theme,
  onHelp: showHelp,
  pathOf,
  onActivate: (tab) => showActive(tab),
  onLanguage: (tab) => showLanguage(tab),
});
setupTheme(byId("theme"), (theme) => workspace.setTheme(theme));

const narrow = matchMedia("(max-width: 640px)");
const tree = new FileTree(byId("tree"), site.link, {
  readOnly,
  open: (fileId) => {
    workspace.open(fileId);
    // On a phone the tree covers the editor: it makes way once a file is chosen.
    if (narrow.matches) showSidebar(false);
  },
  create: (folder) => fileActions.create(folder),
  rename: (item) => fileActions.rename(item),
  remove: (item) => fileActions.remove(item),
  canDelete: (fileId) => fileId !== mainId,
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

// Language: every file's follows its extension. The first file's may be chosen in the
// select too: that renames it to the language's extension and shares the choice through
// meta.language (kept, for the room's listing, when the rename cannot be made).
const languageSelect = byId("language");
languageSelect.replaceChildren(...LANGUAGES.map((l) => el("option", { value: l.id }, l.label)));
languageSelect.addEventListener("change", async () => {
  if (readOnly || workspace.readOnly || !workspace.active?.isRoom) return;
  const id = languageSelect.value;
  saveLanguageChoice(id);
  const path = workspace.path(mainId);
  if (path && languageOfPath(path) !== id) {
    try {
      await renameFile(site.path, mainId, withExtension(path, languageById(id).ext), path);
    } catch (failure) {
      toast(`${path} could not be renamed: ${failure.message}`);
    }
  }
  meta.set("language", id);
});
function showLanguage(tab) {
  if (tab !== workspace.active) return;
  const id = tab.language ?? "plaintext";
  if (![...languageSelect.options].some((o) => o.value === id)) {
    languageSelect.append(el("option", { value: id }, languageById(id).label));
  }
  languageSelect.value = id;
  languageSelect.disabled = workspace.readOnly || !tab.isRoom;
  languageSelect.title = readOnly ? "View only" : tab.isRoom ? "Language of this file" : "Set by the file's extension";
}

// Title: edited in place, shared through meta.title.
const titleInput = byId("title");
titleInput.maxLength = MAX_TITLE_CHARS;
titleInput.readOnly = !mayRetitle;
if (!mayRetitle) titleInput.title = readOnly ? "View only" : "Only the room's owner can rename it";
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
// The news waits a moment: a change the room puts back at once (someone who may not
// rename the room tried to) is no news, and its text is never shown as if it were.
const NEWS_AFTER_MS = 400;
/** key -> {before, timer}: a change waiting to be announced, and the value before it. */
const news = new Map();
function announce(event, txn) {
  if (txn.origin !== connection.provider || !connection.provider.synced) return;
  for (const key of ["language", "title"]) {
    if (!event.keysChanged.has(key)) continue;
    const waiting = news.get(key) ?? { before: event.changes.keys.get(key)?.oldValue };
    clearTimeout(waiting.timer);
    const who = authorOf(key);
    waiting.timer = setTimeout(() => {
      news.delete(key);
      if (meta.get(key) === waiting.before) return;
      toast(key === "language"
        ? `${who} changed the language to ${languageById(currentLanguage()).label}`
        : `${who} renamed the room to “${currentTitle()}”`);
    }, NEWS_AFTER_MS);
    news.set(key, waiting);
  }
}

/** The name of whoever wrote `meta[key]` last, from the writing client's presence. */
function authorOf(key) {
  const client = meta._map.get(key)?.id?.client;
  const user = connection.awareness.getStates().get(client)?.user;
  return typeof user?.name === "string" ? user.name : "Someone";
}

meta.observe((event, txn) => {
  announce(event, txn);
  showTitle();
  if (meta.size > 0) rememberRoom({ roomId: site.link, view: place.kind === "view", title: currentTitle(), language: currentLanguage() });
});
showTitle();

// Connection status and head count, always visible.
const statusBadge = byId("status");
let people = 1;
const banner = byId("banner");
const renderStatus = (status = workspace.active?.connection.status ?? connection.status) => {
  if (leaving) return;
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
/** Statuses after which the server takes no more of this page's edits: the editors stop
 * taking typing, so that nothing is typed that goes nowhere. */
const FINAL = new Set(["read-only", "gone", "removed"]);
/** Status follows the file in front (the room's own connection for the first file). */
const watched = new WeakSet();
const watchStatus = (tab) => {
  if (watched.has(tab.connection)) return;
  watched.add(tab.connection);
  tab.connection.onStatus((status) => {
    if (FINAL.has(status) && !leaving) {
      workspace.lock();
      languageSelect.disabled = true;
    }
    if (workspace.active?.connection === tab.connection) renderStatus(status);
  });
};
presence.onCount((count) => {
  people = count;
  renderStatus();
});

// Share: the edit link (for those who came by it) and the view-only link; the owner's
// controls under them.
const editUrl = place.kind === "edit" ? `${location.origin}/r/${place.link}` : null;
const viewUrl = info.viewId ? `${location.origin}/v/${info.viewId}` : null;
byId("view-badge").hidden = !readOnly;
byId("view-badge").title = place.kind === "view"
  ? "You came by a view-only link: you can read and follow the others, not change anything"
  : "The room's owner has made it view-only: you can read and follow the others, not change anything";
if (info.access === "view") {
  byId("share-edit").querySelector("label").textContent = info.owner
    ? "Edit link: only you can edit now; whoever has it views"
    : "Edit link: the owner has made the room view-only for now";
}
const shareDialog = byId("share-dialog");
const copyInto = (input, button, url) => {
  input.value = url;
  button.onclick = async () => {
    toast((await copyText(url)) ? "Link copied" : `Copy this link: ${url}`);
  };
};
byId("share-edit").hidden = !editUrl;
if (editUrl) copyInto(byId("share-edit-link"), byId("share-edit-copy"), editUrl);
byId("share-view").hidden = !viewUrl;
byId("share-no-view").hidden = Boolean(viewUrl);
if (viewUrl) copyInto(byId("share-view-link"), byId("share-view-copy"), viewUrl);
byId("owner-controls").hidden = !info.owner;
byId("share").addEventListener("click", () => {
  shareDialog.showModal();
  (editUrl ? byId("share-edit-link") : byId("share-view-link")).select();
});
shareDialog.addEventListener("close", () => workspace.active?.view.focus());
if (info.owner) {
  const roomUrl = `/api/rooms/${place.link}`;
  const viewOnly = byId("owner-view-only");
  viewOnly.checked = info.access === "view";
  viewOnly.addEventListener("change", async () => {
    try {
      await ownerCall("PATCH", roomUrl, { access: viewOnly.checked ? "view" : "edit" });
      toast(viewOnly.checked ? "Only you can edit now; the edit link views only" : "Everyone with the edit link can edit again");
    } catch (failure) {
      viewOnly.checked = !viewOnly.checked;
      toast(failure.message);
    }
  });
  byId("owner-new-edit").addEventListener("click", async () => {
    if (!(await fileActions.confirm("Make a new edit link? The current one stops working, and everyone who came by it is disconnected.", "New link"))) return;
    try {
      leaving = true;
      const { roomId: fresh } = await ownerCall("POST", `${roomUrl}/edit-link`);
      saveOwnerKey(fresh, ownerKey);
      saveOwnerKey(place.link, null);
      forgetRoom(place.link);
      location.replace(`/r/${fresh}`);
    } catch (failure) {
      leaving = false;
      toast(failure.message);
    }
  });
  // The key itself, to open the room as its owner on another device (or keep it safe).
  byId("owner-copy-link").addEventListener("click", async () => {
    const url = `${location.origin}/r/${place.link}#owner=${ownerKey}`;
    toast((await copyText(url)) ? "Owner link copied: whoever opens it owns the room" : `Your owner link: ${url}`);
  });
  byId("owner-new-view").addEventListener("click", async () => {
    if (!(await fileActions.confirm("Make a new view-only link? The current one stops working.", "New link"))) return;
    try {
      const { viewUrl: fresh } = await ownerCall("POST", `${roomUrl}/view-link`);
      copyInto(byId("share-view-link"), byId("share-view-copy"), fresh);
      shareDialog.showModal();
      toast("New view-only link made");
    } catch (failure) {
      toast(failure.message);
    }
  });
  byId("owner-delete").addEventListener("click", async () => {
    if (!(await fileActions.confirm(`Delete “${currentTitle()}” and every file in it, for everyone? This cannot be undone.`, "Delete room"))) return;
    try {
      leaving = true;
      await ownerCall("DELETE", roomUrl);
      saveOwnerKey(place.link, null);
      forgetRoom(place.link);
      location.replace("/");
    } catch (failure) {
      leaving = false;
      toast(failure.message);
    }
  });
}

byId("download").addEventListener("click", () => {
  const tab = workspace.active;
  if (!tab) return;
  // The first file is named after the room; the others by their own names.
  const titled = currentTitle().replace(/[^\p{L}\p{N}._-]+/gu, "-").replace(/^-+|-+$/g, "") || "pairpad";
  const name = tab.isRoom ? `${titled}.${languageById(tab.language ?? "plaintext").ext}` : workspace.fileName(tab);
  const blob = new Blob([tab.connection.text.toString()], { type: "text/plain;charset=utf-8" });
  const link = el("a", { href: URL.createObjectURL(blob), download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
});
byId("download-zip").addEventListener("click", () => {
  el("a", { href: archiveUrl(site.path), download: "" }).click();
});

// The file tree follows the room's list of files; the tabs close files deleted meanwhile.
let settled = false;
function showFiles() {
  tree.setFiles([...files.entries()]);
  workspace.refresh({
    settled,
    onGone: (path) => toast(path ? `${path} was deleted` : "That file no longer exists"),
  });
  const active = workspace.active;
  if (active) tree.setActive(active.fileId, workspace.path(active.fileId));
  presence.render();
}
files.observe(showFiles);
connection.provider.on("sync", (synced) => {
  if (!synced || settled) return;
  settled = true;
  showFiles();
});

/** The file in front: marked in the tree, named in the address and told to the room. */
function showActive(tab) {
  watchStatus(tab);
  renderStatus();
  showLanguage(tab);
  tree.setActive(tab.fileId, workspace.path(tab.fileId));
  presence.setFile(tab.fileId);
  const hash = tab.isRoom ? "" : `#file=${encodeURIComponent(tab.fileId)}`;
  if (location.hash !== hash) history.replaceState(null, "", `${location.pathname}${location.search}${hash}`);
}

/** Each file's people, as dots in the tree. */
presence.onPeople((people) => {
  const byFile = new Map();
  for (const person of people) {
    const fileId = person.file ?? mainId;
    if (!byFile.has(fileId)) byFile.set(fileId, []);
    byFile.get(fileId).push(person);
  }
  tree.showPeople(byFile);
});

/** Goes to `person`: opens the file they are in and scrolls to their cursor once known. */
function jumpTo(person) {
  const fileId = person.file ?? mainId;
  if (fileId !== mainId && workspace.path(fileId) === null) {
    toast(`${person.name} is in a file that is not listed`);
    return;
  }
  const tab = workspace.open(fileId);
  const { awareness } = tab.connection;
  const find = () => {
    for (const [clientId, state] of awareness.getStates()) {
      const theirs = person.id ? state?.user?.id === person.id : person.clientIds.includes(clientId);
      if (clientId === awareness.clientID || !theirs) continue;
      const pos = cursorOf(state, tab.connection, tab.view);
      if (pos !== null) return pos;
    }
    return null;
  };
  const go = (pos) => {
    tab.view.dispatch({ effects: EditorView.scrollIntoView(pos, { y: "center" }) });
    tab.view.focus();
  };
  const now = find();
  if (now !== null) return go(now);
  // A file just opened learns its partners' cursors, and its text, once it has synced,
  // in either order: each of them is a reason to look again. Awareness also changes
  // inside an editor update (this page's own cursor): only a partner's change counts,
  // and the look waits for the update to finish.
  const { provider, text } = tab.connection;
  let timer = 0;
  const done = (pos) => {
    clearTimeout(timer);
    timer = 0;
    awareness.off("change", onPresence);
    provider.off("sync", look);
    text.unobserve(look);
    if (pos === null) toast(`${person.name}'s cursor is not in the text`);
    else if (workspace.active === tab) go(pos);
  };
  const look = () => setTimeout(() => {
    const pos = timer ? find() : null;
    if (pos !== null) done(pos);
  });
  const onPresence = ({ added, updated }) => {
    if ([...added, ...updated].some((id) => id !== awareness.clientID)) look();
  };
  timer = setTimeout(() => done(null), JUMP_WAIT_MS);
  awareness.on("change", onPresence);
  provider.on("sync", look);
  text.observe(look);
}

// New, rename and delete: dialogs over the REST API (fileactions.js).
const fileActions = new FileActions(site, workspace, {
  // The first file renamed to another language's extension takes the room's language along.
  onRenamed: (fileId, path) => {
    const language = languageOfPath(path);
    if (fileId === mainId && language !== "plaintext" && language !== currentLanguage()) meta.set("language", language);
  },
});
byId("new-file").addEventListener("click", () => fileActions.create());
byId("new-file").hidden = readOnly;

// The sidebar can be hidden (on a phone it starts hidden).
const sidebar = byId("sidebar");
const filesToggle = byId("files-toggle");
const showSidebar = (shown) => {
  sidebar.hidden = !shown;
  filesToggle.setAttribute("aria-expanded", String(shown));
};
showSidebar(!narrow.matches);
filesToggle.addEventListener("click", () => showSidebar(sidebar.hidden));

/** Right after creating a room: the link and a QR code to send to the partner. */
function offerInvite() {
  try {
    if (sessionStorage.getItem("pairpad.invite") !== site.link) return;
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
  dialog.addEventListener("close", () => workspace.active?.view.focus(), { once: true });
  dialog.showModal();
  byId("invite-link").select();
}

// The files this page had open before a reload, or the one a link names, come back.
// Ids from the address or storage are checked before they make a connection's address.
const FILE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const saved = workspace.savedTabs();
const linked = new URLSearchParams(location.hash.slice(1)).get("file")?.toLowerCase();
for (const fileId of saved.open.filter((id) => FILE_ID.test(id))) workspace.open(fileId, { focus: false });
workspace.open([linked, saved.active].find((id) => id && FILE_ID.test(id)) ?? mainId, { focus: false });
showFiles();

// A link to another file of this room, pasted into the address bar, opens that file.
window.addEventListener("hashchange", () => {
  const fileId = new URLSearchParams(location.hash.slice(1)).get("file")?.toLowerCase();
  if (fileId && FILE_ID.test(fileId)) workspace.open(fileId);
  else if (!location.hash) workspace.open(mainId);
});

presence.start().then(() => {
  offerInvite();
  workspace.active?.view.focus();
});
registerServiceWorker();

// Tests and the desktop shell read these; nothing in the page depends on them.
window.pairpad = {
  connection,
  presence,
  workspace,
  tree,
  /** The editor in front. */
  get view() {
    return workspace.active?.view;
  },
};

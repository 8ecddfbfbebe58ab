// The desktop app's start page (bundled in the app, the only page with IPC): host a
// session, join a room by link, nearby sessions (mDNS), recent rooms, settings.

import { invoke } from "@tauri-apps/api/core";
import { byId, el, toast } from "./dom.js";
import { copyText } from "./page.js";
import { setupTheme } from "./theme.js";

const RECENT_KEY = "pairpad.desktop.recent";
const NEARBY_POLL_MS = 2000;
const KNOCK_POLL_MS = 1000;

setupTheme(byId("theme"));

// Tabs: Start and Settings.
for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => showTab(tab.dataset.tab));
}
function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    if (tab.dataset.tab === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  byId("tab-start").hidden = name !== "start";
  byId("tab-settings").hidden = name !== "settings";
}

/** Shows `message` in a page's error line, or hides it. */
function showError(id, message) {
  const line = byId(id);
  line.hidden = !message;
  line.replaceChildren(message ?? "");
  return line;
}

/** Command errors are `{code, message}`; anything else becomes its string. */
const messageOf = (error) => error?.message ?? String(error);

// Host: a new room, or one holding a folder's files.
let hostInfo = null;
async function host(folder = null) {
  showError("host-error", null);
  byId("host").disabled = true;
  byId("host-folder").disabled = true;
  try {
    showHosting(await invoke("start_hosting", { folder }));
  } catch (error) {
    const line = showError("host-error", messageOf(error));
    if (error?.code === "port_in_use" && error.suggestedPort) {
      line.append(" ", el("button", { type: "button", "on:click": () => usePort(error.suggestedPort, folder) }, `Use port ${error.suggestedPort}`));
    }
  } finally {
    byId("host").disabled = false;
    byId("host-folder").disabled = false;
  }
}

/** Shares `folder`, or one picked with the system's folder picker. */
async function shareFolder(folder = null) {
  let chosen = folder;
  if (chosen === null) {
    try {
      chosen = await invoke("pick_folder");
    } catch (error) {
      showError("host-error", messageOf(error));
      return;
    }
  }
  if (chosen) await host(chosen);
}

async function usePort(port, folder) {
  const settings = await invoke("get_settings");
  await invoke("save_settings", { settings: { ...settings, port } });
  await loadSettings();
  host(folder);
}

function showHosting(info) {
  hostInfo = info;
  byId("host-idle").hidden = Boolean(info);
  byId("host-running").hidden = !info;
  if (!info) return;
  byId("host-port").textContent = String(info.port);
  // While the host asks before letting people in, colleagues open the page to ask.
  const shared = info.asking ? info.joinUrls : info.lanUrls;
  byId("host-urls-caption").textContent = info.asking
    ? "Colleagues ask to join at:"
    : "Colleagues can open:";
  byId("host-guests").value = info.guests;
  byId("host-asking").checked = info.asking;
  byId("host-urls").replaceChildren(
    ...shared.map((url) =>
      el("li", {},
        el("code", { className: "url" }, url),
        el("button", { type: "button", className: "copy", "on:click": async () => toast((await copyText(url)) ? "Link copied" : url) }, "Copy"),
      ),
    ),
  );
  byId("host-no-lan").hidden = info.lanUrls.length > 0;
  byId("host-shared").hidden = !info.folder;
  byId("host-folder-path").textContent = info.folder ?? "";
  const skipped = info.skipped ?? [];
  byId("host-skipped").hidden = skipped.length === 0;
  byId("host-skipped-count").textContent = `${skipped.length} ${skipped.length === 1 ? "file" : "files"} left out`;
  byId("host-skipped-list").replaceChildren(
    ...skipped.slice(0, 500).map((s) => el("li", {}, el("code", { className: "url" }, s.path), el("span", { className: "muted" }, s.why))),
  );
  refreshKnocks();
  refreshPeople();
  const qr = byId("host-qr");
  qr.hidden = !info.qrSvg;
  if (info.qrSvg) qr.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(info.qrSvg)}`;
  remember(info.localUrl, "Hosted on this computer");
}

// Colleagues asking to join the hosted session: the host lets each in or not.
async function refreshKnocks() {
  const knocks = hostInfo ? await invoke("pending_knocks").catch(() => []) : [];
  byId("knocks-section").hidden = knocks.length === 0;
  byId("knocks").replaceChildren(
    ...knocks.map((k) =>
      el("li", {},
        el("strong", {}, k.name),
        el("span", { className: "muted" }, ` from ${k.address}`),
        el("button", { type: "button", className: "primary", "on:click": () => answerKnock(k.knockId, true) }, "Let in"),
        el("button", { type: "button", "on:click": () => answerKnock(k.knockId, false) }, "Turn away"),
      ),
    ),
  );
}
// Who is in the session; the host can take anyone out.
async function refreshPeople() {
  const people = hostInfo ? await invoke("hosted_people").catch(() => []) : [];
  const guests = people.filter((p) => !p.host);
  byId("people-section").hidden = guests.length === 0;
  byId("people-here").replaceChildren(
    ...guests.map((p) =>
      el("li", {},
        el("strong", {}, p.name),
        el("span", { className: "muted" }, ` ${p.address}${p.viewer ? " · viewing" : ""}`),
        el("button", { type: "button", "on:click": () => removePerson(p) }, "Remove"),
      ),
    ),
  );
}
async function removePerson(person) {
  try {
    await invoke("remove_person", { conns: person.conns, address: person.address });
    toast(hostInfo?.asking
      ? `${person.name} was removed, and must ask again to come back`
      : `${person.name} was removed. Their link still works: make a new link, or ask before anyone joins, to keep them out`);
  } catch (error) {
    toast(messageOf(error));
  }
  refreshPeople();
}
setInterval(refreshPeople, KNOCK_POLL_MS);

byId("host-guests").addEventListener("change", async (event) => {
  try {
    showHosting(await invoke("set_guest_access", { access: event.target.value }));
  } catch (error) {
    toast(messageOf(error));
  }
});
byId("host-asking").addEventListener("change", async (event) => {
  try {
    showHosting(await invoke("set_asking", { asking: event.target.checked }));
  } catch (error) {
    toast(messageOf(error));
  }
});
byId("host-new-link").addEventListener("click", async () => {
  try {
    showHosting(await invoke("new_room_link"));
    toast("New link made: the old one no longer works");
  } catch (error) {
    toast(messageOf(error));
  }
});

async function answerKnock(knockId, admit) {
  await invoke("answer_knock", { knockId, admit }).catch((error) => toast(messageOf(error)));
  refreshKnocks();
}
setInterval(refreshKnocks, KNOCK_POLL_MS);

byId("host").addEventListener("click", () => host());
byId("host-folder").addEventListener("click", () => shareFolder());
byId("host-open").addEventListener("click", () => join(hostInfo.localUrl));
byId("host-stop").addEventListener("click", async () => {
  byId("host-stop").disabled = true;
  showError("host-error", null);
  await invoke("stop_hosting").catch((error) => showError("host-error", messageOf(error)));
  byId("host-stop").disabled = false;
  showHosting(null);
});

// Join.
async function join(url) {
  showError("join-error", null);
  try {
    const opened = await invoke("join_room", { url });
    remember(opened, new URL(opened).host);
  } catch (error) {
    showError("join-error", messageOf(error));
  }
}
byId("join").addEventListener("submit", (event) => {
  event.preventDefault();
  join(byId("join-url").value);
});

// Nearby sessions, refreshed while the page is open.
async function refreshNearby() {
  const sessions = await invoke("nearby_sessions").catch(() => []);
  byId("nearby-empty").hidden = sessions.length > 0;
  byId("nearby").replaceChildren(
    ...sessions.map((s) =>
      el("li", {},
        el("strong", {}, s.name),
        el("span", { className: "muted" }, ` ${new URL(s.urls[0]).host}`),
        el("button", { type: "button", "on:click": () => askToJoin(s) }, "Ask to join"),
      ),
    ),
  );
}

/** Asks a nearby host to be let in, waits for the answer, and opens the room if let in. */
let knocking = null;
async function askToJoin(session) {
  const status = byId("knock-status");
  const say = (text, error = false) => {
    status.hidden = false;
    status.className = error ? "error" : "muted";
    status.textContent = text;
  };
  if (knocking) clearInterval(knocking.timer);
  const server = session.urls[0];
  let knockId;
  try {
    knockId = await invoke("knock", { server });
  } catch (error) {
    say(messageOf(error), true);
    return;
  }
  say(`Waiting for ${session.name} to let you in…`);
  const attempt = { timer: 0 };
  knocking = attempt;
  attempt.timer = setInterval(async () => {
    let outcome;
    try {
      outcome = await invoke("knock_status", { server, knockId });
    } catch (error) {
      clearInterval(attempt.timer);
      say(messageOf(error), true);
      return;
    }
    if (knocking !== attempt || outcome.status === "pending") return;
    clearInterval(attempt.timer);
    knocking = null;
    if (outcome.status === "admitted" && outcome.url) {
      status.hidden = true;
      join(outcome.url);
    } else if (outcome.status === "refused") {
      say(`${session.name} did not let you in.`, true);
    } else {
      say(`${session.name} did not answer in time. Ask again, or ask for the link.`, true);
    }
  }, KNOCK_POLL_MS);
}
setInterval(refreshNearby, NEARBY_POLL_MS);
refreshNearby();

// Recent rooms opened from this app.
function loadRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) ?? "[]");
    return Array.isArray(list) ? list.filter((r) => typeof r?.url === "string") : [];
  } catch {
    return [];
  }
}
function remember(url, label) {
  const rest = loadRecent().filter((r) => r.url !== url);
  try {
    localStorage.setItem(RECENT_KEY, JSON.stringify([{ url, label, at: Date.now() }, ...rest].slice(0, 10)));
  } catch {
    // storage full: the list just does not grow
  }
  renderRecent();
}
function renderRecent() {
  const rooms = loadRecent();
  byId("recent-section").hidden = rooms.length === 0;
  byId("recent").replaceChildren(
    ...rooms.map((r) =>
      el("li", {},
        el("button", { type: "button", className: "link", "on:click": () => join(r.url) }, r.label || r.url),
        el("span", { className: "muted" }, ` ${new Date(r.at).toLocaleString()}`),
      ),
    ),
  );
}
renderRecent();

// Settings.
async function loadSettings() {
  const s = await invoke("get_settings");
  byId("set-name").value = s.displayName;
  byId("set-port").value = String(s.port);
  byId("set-db").value = s.databaseUrl ?? "";
  for (const radio of document.querySelectorAll("input[name=db]")) {
    radio.checked = radio.value === (s.databaseUrl ? "postgres" : "sqlite");
  }
  byId("set-db").disabled = !s.databaseUrl;
}
for (const radio of document.querySelectorAll("input[name=db]")) {
  radio.addEventListener("change", () => (byId("set-db").disabled = radio.value === "sqlite" && radio.checked));
}
byId("settings").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = byId("settings-status");
  const postgres = document.querySelector("input[name=db]:checked")?.value === "postgres";
  status.hidden = false;
  status.className = "";
  status.textContent = postgres ? "Testing the database…" : "Saving…";
  try {
    await invoke("save_settings", {
      settings: {
        displayName: byId("set-name").value,
        port: Number(byId("set-port").value),
        databaseUrl: postgres ? byId("set-db").value : null,
      },
    });
    status.textContent = "Saved";
    await loadSettings();
  } catch (error) {
    status.className = "error";
    status.textContent = messageOf(error);
  }
});

loadSettings();
invoke("hosting_status").then(showHosting).catch(() => {});

// The end-to-end test shares a folder the way the button does, without the system's picker.
window.pairpadDesktop = { shareFolder };

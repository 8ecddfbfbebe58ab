// The landing page, `/`: create a room, join one by link or id, reopen a recent one.

import { byId, el, toast } from "./dom.js";
import { LANGUAGES, languageById } from "./languages.js";
import { forgetRoom, loadLanguageChoice, loadRecent, saveLanguageChoice } from "./storage.js";
import { setupTheme } from "./theme.js";
import { registerServiceWorker } from "./page.js";
import { joinTarget } from "./links.js";
import { requestHeaders, saveOwnerKey, takeToken } from "./session.js";

setupTheme(byId("theme"));
// A sign-in token handed over in the address (`#token=…`) is kept for this tab.
takeToken();

const languageSelect = byId("new-language");
languageSelect.replaceChildren(...LANGUAGES.map((l) => el("option", { value: l.id }, l.label)));
// The language chosen last time, not plain text every time.
const lastLanguage = loadLanguageChoice();
if (lastLanguage && LANGUAGES.some((l) => l.id === lastLanguage)) languageSelect.value = lastLanguage;
languageSelect.addEventListener("change", () => saveLanguageChoice(languageSelect.value));

byId("create").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/api/rooms", {
      method: "POST",
      headers: requestHeaders({ "content-type": "application/json" }),
      body: JSON.stringify({ title: byId("new-title").value.trim() || undefined, language: languageSelect.value }),
    });
    const answer = await response.json().catch(() => null);
    if (!response.ok) throw new Error(answer?.error?.message ?? `server answered ${response.status}`);
    saveLanguageChoice(languageSelect.value);
    // This browser made the room, so it owns it: the key is shown only this once.
    saveOwnerKey(answer.roomId, answer.ownerKey);
    // The room page offers to invite the partner once, right after creating it.
    try {
      sessionStorage.setItem("pairpad.invite", answer.roomId);
    } catch {
      // Storage disabled: the room opens without the invite prompt.
    }
    location.assign(`/r/${encodeURIComponent(answer.roomId)}`);
  } catch (error) {
    toast(`Could not create the room: ${error.message}`);
    button.disabled = false;
  }
});

byId("join").addEventListener("submit", (event) => {
  event.preventDefault();
  const target = joinTarget(byId("join-link").value);
  if (target) location.assign(target);
  else toast("Paste a room link (http://…/r/…) or a room id");
});

function renderRecent() {
  const rooms = loadRecent();
  byId("recent-section").hidden = rooms.length === 0;
  byId("recent").replaceChildren(
    ...rooms.map((room) =>
      el(
        "li",
        {},
        el("a", { href: `/${room.view ? "v" : "r"}/${encodeURIComponent(room.roomId)}` }, room.title || "Untitled"),
        el("span", { className: "muted" }, ` ${languageById(room.language).label} · ${new Date(room.visitedAt).toLocaleString()}`),
        el("button", {
          className: "link",
          type: "button",
          title: "Remove from this list",
          "attr:aria-label": `Forget ${room.title || "Untitled"}`,
          "on:click": () => {
            forgetRoom(room.roomId);
            renderRecent();
          },
        }, "×"),
      ),
    ),
  );
}
renderRecent();
registerServiceWorker();

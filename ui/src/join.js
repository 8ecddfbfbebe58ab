// `/join`: asking the host of a desktop session to be let in. The name goes to the host;
// once they let you in, the page opens the room; while they have not answered, it waits.

import { byId } from "./dom.js";
import { cleanName, loadName, saveName } from "./storage.js";
import { setupTheme } from "./theme.js";

const POLL_MS = 1500;

setupTheme(byId("theme"));
const form = byId("knock");
const input = byId("knock-name");
const status = byId("knock-status");
input.value = loadName() ?? "";

function say(text, error = false) {
  status.hidden = false;
  status.className = error ? "error" : "muted";
  status.textContent = text;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = cleanName(input.value);
  if (!name) return;
  saveName(name);
  const button = form.querySelector("button");
  button.disabled = true;
  let knockId;
  try {
    const response = await fetch("/api/lobby/knocks", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name }),
    });
    const answer = await response.json().catch(() => null);
    if (!response.ok) throw new Error(answer?.error?.message ?? `the host's computer answered ${response.status}`);
    knockId = answer.knockId;
  } catch (error) {
    say(`Could not ask: ${error.message}`, true);
    button.disabled = false;
    return;
  }
  say("Waiting for the host to let you in…");
  const timer = setInterval(async () => {
    let answer;
    try {
      const response = await fetch(`/api/lobby/knocks/${encodeURIComponent(knockId)}`);
      if (response.status === 404) throw new Error("the request expired; ask again");
      answer = await response.json();
    } catch (error) {
      clearInterval(timer);
      say(error.message, true);
      button.disabled = false;
      return;
    }
    if (answer.status === "admitted" && /^[0-9a-f-]{36}$/.test(answer.roomId ?? "")) {
      clearInterval(timer);
      say("You're in. Opening the room…");
      location.assign(`/r/${answer.roomId}`);
    } else if (answer.status === "refused") {
      clearInterval(timer);
      say("The host did not let you in.", true);
      button.disabled = false;
    }
  }, POLL_MS);
});

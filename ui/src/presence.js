// Who is in the room: this person's name and colour in awareness, the name dialog, and the
// people list in the header. Names are shown with textContent only.
//
// Presence tells the truth: this tab renews its state every few seconds and says how
// often (`user.pulse`), so a person whose state stops arriving is dropped here after a
// few missed renewals, even if their connection never said goodbye (the server also
// closes connections that stop answering its pings, within seconds). Tabs of one browser
// share a person id and are listed once; each person gets a colour no one else present
// has while the palette lasts.

import { removeAwarenessStates } from "y-protocols/awareness";
import { el } from "./dom.js";
import {
  cleanName, loadColor, loadName, loadPersonId, saveColor, saveName, MAX_NAME_CHARS, NAME_KEY, PALETTE,
} from "./storage.js";

/** How often this tab renews its presence, in seconds. */
const PULSE_S = 3;
/** A state renewed this many pulses ago or earlier is gone. */
const MISSED_PULSES = 3;

/** Opens the name dialog; resolves with the chosen name (the old one on cancel). */
export function askName(dialog, current) {
  const input = dialog.querySelector("input");
  const form = dialog.querySelector("form");
  input.maxLength = MAX_NAME_CHARS;
  input.value = current ?? "";
  return new Promise((resolve) => {
    const onClose = () => {
      dialog.removeEventListener("close", onClose);
      const name = cleanName(dialog.returnValue === "save" ? input.value : "");
      resolve(name || current || `Guest ${Math.floor(1000 + Math.random() * 9000)}`);
    };
    dialog.addEventListener("close", onClose);
    form.onsubmit = (event) => {
      event.preventDefault();
      // Cancel submits the form too (formnovalidate): it must not save what was typed.
      if (event.submitter?.value === "cancel") {
        dialog.close("cancel");
        return;
      }
      if (!cleanName(input.value)) return;
      dialog.close("save");
    };
    dialog.showModal();
    input.select();
  });
}

/**
 * Publishes `{user: {name, color}}` in awareness and keeps the header's people list and
 * name button current.
 */
export class Presence {
  constructor(awareness, { list, nameButton, dialog, onJump }) {
    this.awareness = awareness;
    this.list = list;
    this.nameButton = nameButton;
    this.dialog = dialog;
    this.onJump = onJump;
    this.personId = loadPersonId();
    this.color = loadColor();
    this.renames = 0;
    this.listeners = new Set();
    // Registered before the editor's own listener, so cursors are drawn from cleaned state.
    awareness.on("change", () => {
      cleanRemoteStates(awareness, this.personId);
      this.keepColorOwn();
      this.render();
    });
    nameButton.addEventListener("click", () => this.rename());
    window.addEventListener("resize", () => this.fitList());
    // A new name chosen in another tab of this browser applies here too.
    window.addEventListener("storage", (event) => {
      const name = loadName();
      if (event.key === NAME_KEY && name && name !== this.name) this.publish(name);
    });
    // Renewing with the same state sends it without a change event anywhere.
    this.pulse = setInterval(() => {
      const state = awareness.getLocalState();
      if (state?.user) awareness.setLocalState(state);
      this.dropSilent();
    }, PULSE_S * 1000);
  }

  /** Asks for a name on the first visit, then announces this person to the room. */
  async start() {
    const name = loadName() ?? (await askName(this.dialog, null));
    this.publish(name);
  }

  async rename() {
    const name = await askName(this.dialog, this.name);
    this.publish(name);
  }

  publish(name) {
    this.name = name;
    saveName(name);
    this.renames += 1;
    // y-codemirror.next only redraws a cursor label when its colour string changes, so a
    // rename flips the hex digits' case: the same colour, a fresh label.
    const color = this.renames % 2 ? this.color.toLowerCase() : this.color.toUpperCase();
    this.awareness.setLocalStateField("user", {
      name, color, colorLight: `${this.color}33`, id: this.personId, pulse: PULSE_S,
    });
    this.nameButton.replaceChildren(
      el("span", { className: "dot", "attr:style": `background:${this.color}` }),
      el("span", { className: "me" }, name),
    );
    this.nameButton.title = `You appear as ${name}; click to change your name`;
  }

  /**
   * When someone else present has this person's colour, the one of the two with the
   * higher awareness client id moves to the first colour no one present has.
   */
  keepColorOwn() {
    if (!this.name) return;
    const me = this.awareness.clientID;
    const taken = new Map();
    for (const [clientId, state] of this.awareness.getStates()) {
      const user = state?.user;
      if (clientId === me || !user || user.id === this.personId) continue;
      const color = user.color.toLowerCase();
      taken.set(color, Math.min(taken.get(color) ?? Infinity, clientId));
    }
    const mine = this.color.toLowerCase();
    if (!taken.has(mine) || taken.get(mine) > me) return;
    const free = PALETTE.find((c) => !taken.has(c.toLowerCase()));
    if (!free) return;
    this.color = free;
    saveColor(free);
    this.publish(this.name);
  }

  /** Removes states that stopped being renewed as their `pulse` promised. */
  dropSilent() {
    const now = Date.now();
    const silent = [];
    for (const [clientId, state] of this.awareness.getStates()) {
      const pulse = state?.user?.pulse;
      if (clientId === this.awareness.clientID || typeof pulse !== "number" || pulse <= 0) continue;
      const seen = this.awareness.meta.get(clientId)?.lastUpdated ?? now;
      if (now - seen > Math.max(pulse, PULSE_S) * MISSED_PULSES * 1000 + 1000) silent.push(clientId);
    }
    if (silent.length) removeAwarenessStates(this.awareness, silent, "silent");
  }

  /** People in the room, this person first; several tabs of one person are one entry. */
  people() {
    const me = this.awareness.clientID;
    const byPerson = new Map();
    for (const [clientId, state] of this.awareness.getStates()) {
      const user = state?.user;
      if (!user || typeof user.name !== "string") continue;
      const key = typeof user.id === "string" && user.id ? `id:${user.id}` : `client:${clientId}`;
      const mine = clientId === me || user.id === this.personId;
      const person = byPerson.get(key);
      if (person) {
        person.tabs += 1;
        person.clientIds.push(clientId);
        if (clientId === me) person.name = user.name;
      } else {
        byPerson.set(key, { clientIds: [clientId], me: mine, name: user.name, color: safeColor(user.color), tabs: 1 });
      }
    }
    return [...byPerson.values()].sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name));
  }

  /** Calls `listener(count)` whenever the number of people changes. */
  onCount(listener) {
    this.listeners.add(listener);
  }

  render() {
    const people = this.people();
    // You are the name button; the list shows the others.
    this.list.replaceChildren(
      ...people.filter((p) => !p.me).map((p) => {
        const tabs = p.tabs > 1 ? ` · ${p.tabs} tabs` : "";
        const item = el(
          "li",
          { className: "person jump", tabIndex: 0, title: `${p.name}${tabs}: click to go to their cursor` },
          el("span", { className: "dot", "attr:style": `background:${p.color}` }),
          el("span", { className: "person-name" }, `${p.name}${tabs}`),
        );
        const jump = () => this.onJump?.(p.clientIds);
        item.addEventListener("click", jump);
        item.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") jump();
        });
        return item;
      }),
    );
    requestAnimationFrame(() => this.fitList());
    for (const listener of this.listeners) listener(people.length);
  }

  /** Hides the people who do not fit in the header behind a "+N" entry naming them. */
  fitList() {
    const chips = [...this.list.querySelectorAll(".person")];
    this.list.querySelector(".more")?.remove();
    for (const chip of chips) chip.hidden = false;
    if (this.list.scrollWidth <= this.list.clientWidth + 1) return;
    const more = el("li", { className: "person more" });
    this.list.append(more);
    const hidden = [];
    for (let i = chips.length - 1; i >= 0 && this.list.scrollWidth > this.list.clientWidth + 1; i--) {
      chips[i].hidden = true;
      hidden.unshift(chips[i].querySelector(".person-name")?.textContent ?? "");
      more.textContent = `+${hidden.length}`;
      more.title = hidden.join(", ");
    }
  }

  destroy() {
    clearInterval(this.pulse);
  }
}

/**
 * Other clients' awareness is untrusted input: y-codemirror.next puts `user.color` into a
 * style attribute and `user.name` into the cursor label, so both are cleaned in place.
 */
function cleanRemoteStates(awareness, personId) {
  for (const [clientId, state] of awareness.getStates()) {
    const user = state?.user;
    if (clientId === awareness.clientID || !user || typeof user !== "object") continue;
    // Your own other tabs are not partners: no second cursor with your name.
    if (user.id === personId) delete state.cursor;
    user.color = safeColor(user.color);
    user.colorLight = `${user.color}33`;
    user.name = cleanName(typeof user.name === "string" ? user.name : "") || "Anonymous";
  }
}

/** A colour from another client goes into a style attribute; accept only `#rrggbb`. */
export function safeColor(color) {
  return typeof color === "string" && /^#[0-9a-f]{6}$/i.test(color) ? color : "#888888";
}

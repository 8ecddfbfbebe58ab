// Who is in the room: this person's name and colour in awareness, the name dialog, and the
// people list in the header. Names are shown with textContent only.
//
// Presence tells the truth: this tab renews its state every few seconds and says how
// often (`user.pulse`), so a person whose state stops arriving is dropped here after a
// few missed renewals, even if their connection never said goodbye (the server also
// closes connections that stop answering its pings, within seconds). Tabs of one browser
// share a person id and are listed once; each person gets a colour no one else present
// has while the palette lasts.
//
// The room's awareness is where people are listed, each with the file they are in
// (`file`, a file id). Every open file has an awareness of its own for its cursors;
// [`Presence.attach`] publishes the same `user` there.

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
    // Cancel is a plain button: as the form's first submit button it would be the one
    // Enter presses, and Enter must save what was typed.
    dialog.querySelector("button.cancel").onclick = () => dialog.close("cancel");
    form.onsubmit = (event) => {
      event.preventDefault();
      if (!cleanName(input.value)) return;
      dialog.close("save");
    };
    dialog.showModal();
    input.select();
  });
}

/**
 * Publishes `{user: {name, color}}` in awareness and keeps the header's people list and
 * name button current. `describeFile(fileId)` gives the path of a file (null for none
 * known), shown next to each person; `onJump(person)` goes to a person's cursor.
 */
export class Presence {
  constructor(awareness, { list, nameButton, dialog, onJump, describeFile = () => null, fixedName = null }) {
    /** The name this person signed in with: never asked, never changed here. */
    this.fixedName = fixedName;
    this.awareness = awareness;
    /** Every awareness this person is published in: the room's and each open file's. */
    this.awarenesses = new Set([awareness]);
    this.list = list;
    this.nameButton = nameButton;
    this.dialog = dialog;
    this.onJump = onJump;
    this.describeFile = describeFile;
    this.personId = loadPersonId();
    this.color = loadColor();
    this.renames = 0;
    this.listeners = new Set();
    this.peopleListeners = new Set();
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
      if (event.key === NAME_KEY && name && name !== this.name && !this.fixedName) this.publish(name);
    });
    // Renewing with the same state sends it without a change event anywhere.
    this.pulse = setInterval(() => {
      for (const each of this.awarenesses) {
        const state = each.getLocalState();
        if (state?.user) each.setLocalState(state);
        dropSilent(each);
      }
    }, PULSE_S * 1000);
  }

  /**
   * Publishes this person in `awareness` too (an open file's) and cleans what others
   * publish there. Returns the function that stops it.
   */
  attach(awareness) {
    const clean = () => cleanRemoteStates(awareness, this.personId);
    awareness.on("change", clean);
    this.awarenesses.add(awareness);
    if (this.user) awareness.setLocalStateField("user", this.user);
    return () => {
      awareness.off("change", clean);
      this.awarenesses.delete(awareness);
    };
  }

  /** Tells the room which file this person is in. */
  setFile(fileId) {
    if (this.awareness.getLocalState()?.file !== fileId) this.awareness.setLocalStateField("file", fileId);
  }

  /** Asks for a name on the first visit, then announces this person to the room. */
  async start() {
    const name = this.fixedName ?? loadName() ?? (await askName(this.dialog, null));
    this.publish(name);
  }

  async rename() {
    if (this.fixedName) return;
    const name = await askName(this.dialog, this.name);
    this.publish(name);
  }

  publish(name) {
    this.name = name;
    if (!this.fixedName) saveName(name);
    this.renames += 1;
    // y-codemirror.next only redraws a cursor label when its colour string changes, so a
    // rename flips the hex digits' case: the same colour, a fresh label.
    const color = this.renames % 2 ? this.color.toLowerCase() : this.color.toUpperCase();
    this.user = { name, color, colorLight: `${this.color}33`, id: this.personId, pulse: PULSE_S };
    for (const each of this.awarenesses) each.setLocalStateField("user", this.user);
    this.nameButton.replaceChildren(
      el("span", { className: "dot", "attr:style": `background:${this.color}` }),
      el("span", { className: "me" }, name),
    );
    this.nameButton.title = this.fixedName
      ? `Signed in as ${name}`
      : `You appear as ${name}; click to change your name`;
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

  /** People in the room, this person first; several tabs of one person are one entry. */
  people() {
    const me = this.awareness.clientID;
    const byPerson = new Map();
    for (const [clientId, state] of this.awareness.getStates()) {
      const user = state?.user;
      if (!user || typeof user.name !== "string") continue;
      // Tabs of one person share an id; anyone can copy an id, so the name and whether
      // they only view (both written by the server when it knows them) must match too.
      const key = typeof user.id === "string" && user.id
        ? `id:${user.id}:${user.name}:${user.viewer === true}`
        : `client:${clientId}`;
      const mine = clientId === me || user.id === this.personId;
      const file = typeof state.file === "string" ? state.file : null;
      const person = byPerson.get(key);
      if (person) {
        person.tabs += 1;
        person.clientIds.push(clientId);
        if (clientId === me) person.name = user.name;
        person.file ??= file;
      } else {
        byPerson.set(key, {
          clientIds: [clientId], id: typeof user.id === "string" ? user.id : null, me: mine, name: user.name,
          color: safeColor(user.color), tabs: 1, file,
          // Written by the server: the person came by a view-only link.
          viewer: user.viewer === true,
        });
      }
    }
    return [...byPerson.values()].sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name));
  }

  /** Calls `listener(count)` whenever the number of people changes. */
  onCount(listener) {
    this.listeners.add(listener);
  }

  /** Calls `listener(people)` (see [`Presence.people`]) whenever anyone's presence changes. */
  onPeople(listener) {
    this.peopleListeners.add(listener);
  }

  render() {
    const people = this.people();
    // You are the name button; the list shows the others.
    this.list.replaceChildren(
      ...people.filter((p) => !p.me).map((p) => {
        const tabs = p.tabs > 1 ? ` · ${p.tabs} tabs` : "";
        const path = p.file === null ? null : this.describeFile(p.file);
        const where = path === null ? "" : ` is in ${path}`;
        const viewing = p.viewer ? " (viewing only)" : "";
        const item = el(
          "li",
          { className: "person jump", tabIndex: 0, title: `${p.name}${viewing}${tabs}${where}: click to go to their cursor` },
          el("span", { className: "dot", "attr:style": `background:${p.color}` }),
          el("span", { className: "person-name" }, `${p.name}${tabs}`),
          p.viewer ? el("span", { className: "person-viewing" }, "viewing") : null,
          path === null ? null : el("span", { className: "person-file" }, path.slice(path.lastIndexOf("/") + 1)),
        );
        const jump = () => this.onJump?.(p);
        item.addEventListener("click", jump);
        item.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") jump();
        });
        return item;
      }),
    );
    requestAnimationFrame(() => this.fitList());
    for (const listener of this.listeners) listener(people.length);
    for (const listener of this.peopleListeners) listener(people);
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

/** Removes states that stopped being renewed as their `pulse` promised. */
function dropSilent(awareness) {
  const now = Date.now();
  const silent = [];
  for (const [clientId, state] of awareness.getStates()) {
    const pulse = state?.user?.pulse;
    if (clientId === awareness.clientID || typeof pulse !== "number" || pulse <= 0) continue;
    const seen = awareness.meta.get(clientId)?.lastUpdated ?? now;
    if (now - seen > Math.max(pulse, PULSE_S) * MISSED_PULSES * 1000 + 1000) silent.push(clientId);
  }
  if (silent.length) removeAwarenessStates(awareness, silent, "silent");
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

// Who is in the room: this person's name and colour in awareness, the name dialog, and the
// people list in the header. Names are shown with textContent only.

import { el } from "./dom.js";
import { cleanName, loadColor, loadName, saveName, MAX_NAME_CHARS } from "./storage.js";

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
  constructor(awareness, { list, nameButton, dialog }) {
    this.awareness = awareness;
    this.list = list;
    this.nameButton = nameButton;
    this.dialog = dialog;
    this.color = loadColor();
    this.renames = 0;
    this.listeners = new Set();
    // Registered before the editor's own listener, so cursors are drawn from cleaned state.
    awareness.on("change", () => {
      cleanRemoteStates(awareness);
      this.render();
    });
    nameButton.addEventListener("click", () => this.rename());
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
    this.awareness.setLocalStateField("user", { name, color, colorLight: `${this.color}33` });
    this.nameButton.textContent = name;
  }

  /** People in the room, this person first. */
  people() {
    const me = this.awareness.clientID;
    const people = [];
    for (const [clientId, state] of this.awareness.getStates()) {
      const user = state?.user;
      if (!user || typeof user.name !== "string") continue;
      people.push({ clientId, me: clientId === me, name: user.name, color: safeColor(user.color) });
    }
    return people.sort((a, b) => Number(b.me) - Number(a.me) || a.name.localeCompare(b.name));
  }

  /** Calls `listener(count)` whenever the number of people changes. */
  onCount(listener) {
    this.listeners.add(listener);
  }

  render() {
    const people = this.people();
    this.list.replaceChildren(
      ...people.map((p) =>
        el(
          "li",
          { className: "person", title: p.me ? `${p.name} (you)` : p.name },
          el("span", { className: "dot", "attr:style": `background:${p.color}` }),
          el("span", { className: "person-name" }, p.name),
          p.me ? el("span", { className: "you" }, "you") : null,
        ),
      ),
    );
    for (const listener of this.listeners) listener(people.length);
  }
}

/**
 * Other clients' awareness is untrusted input: y-codemirror.next puts `user.color` into a
 * style attribute and `user.name` into the cursor label, so both are cleaned in place.
 */
function cleanRemoteStates(awareness) {
  for (const [clientId, state] of awareness.getStates()) {
    const user = state?.user;
    if (clientId === awareness.clientID || !user || typeof user !== "object") continue;
    user.color = safeColor(user.color);
    user.colorLight = `${user.color}33`;
    user.name = cleanName(typeof user.name === "string" ? user.name : "") || "Anonymous";
  }
}

/** A colour from another client goes into a style attribute; accept only `#rrggbb`. */
export function safeColor(color) {
  return typeof color === "string" && /^#[0-9a-f]{6}$/i.test(color) ? color : "#888888";
}

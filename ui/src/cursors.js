// Partners' cursors you can read and find: a cursor's name label shows while it moves (and
// on hover) and fades after a moment, so labels do not cover the code; a cursor outside
// the visible part of the text gets a marker with the name at the editor's top or bottom
// edge, and clicking it scrolls there.

import { EditorView, ViewPlugin } from "@codemirror/view";
import * as Y from "yjs";
import { el } from "./dom.js";

/** How long a label stays after its cursor moved. */
const LABEL_MS = 2500;

/** The text position of a remote client's cursor head, or null. */
export function cursorOf(state, connection, view) {
  const head = state?.cursor?.head;
  if (!head) return null;
  let at = null;
  try {
    at = Y.createAbsolutePositionFromRelativePosition(Y.createRelativePositionFromJSON(head), connection.doc);
  } catch {
    return null;
  }
  if (!at || at.type !== connection.text) return null;
  return Math.min(at.index, view.state.doc.length);
}

/** Editor extension for `connection`'s remote cursors. */
export function partnerCursors(connection) {
  const { awareness } = connection;
  return ViewPlugin.fromClass(
    class {
      constructor(view) {
        this.view = view;
        this.heads = new Map();
        this.shown = new Map();
        this.flash = document.createElement("style");
        document.head.append(this.flash);
        this.edges = el("div", { className: "cm-edge-markers" });
        view.dom.append(this.edges);
        this.onChange = ({ added, updated }) => {
          for (const clientId of [...added, ...updated]) this.moved(clientId);
          this.schedule();
        };
        awareness.on("change", this.onChange);
        // Typing moves a cursor without changing where it is anchored (before the same
        // character): a partner's own insertions show their label too.
        this.onText = (_event, txn) => {
          if (txn.local) return;
          for (const [clientId, clock] of txn.afterState) {
            if (clock > (txn.beforeState.get(clientId) ?? 0)) this.moved(clientId, true);
          }
        };
        connection.text.observe(this.onText);
        this.onScroll = () => this.schedule();
        view.scrollDOM.addEventListener("scroll", this.onScroll, { passive: true });
        this.schedule();
      }

      /** Shows `clientId`'s label for a moment when its cursor moved (or it typed). */
      moved(clientId, typed = false) {
        if (clientId === awareness.clientID) return;
        const state = awareness.getStates().get(clientId);
        const head = JSON.stringify(state?.cursor?.head ?? null);
        if (this.heads.get(clientId) === head && !typed) return;
        this.heads.set(clientId, head);
        const color = state?.user?.color;
        if (typeof color !== "string" || !/^#[0-9a-f]{6}$/i.test(color)) return;
        clearTimeout(this.shown.get(color));
        this.shown.set(color, setTimeout(() => {
          this.shown.delete(color);
          this.restyle();
        }, LABEL_MS));
        this.restyle();
      }

      restyle() {
        // Labels are told apart by their caret's colour, which is each person's own.
        this.flash.textContent = [...this.shown.keys()]
          .map((c) => `.cm-ySelectionCaret[style*="${c}" i] > .cm-ySelectionInfo { opacity: 1; }`)
          .join("\n");
      }

      update(update) {
        if (update.docChanged || update.viewportChanged || update.geometryChanged) this.schedule();
      }

      schedule() {
        this.view.requestMeasure({ key: this, read: () => this.measure(), write: (m) => this.draw(m) });
      }

      /** Remote cursors above and below the visible part of the text. */
      measure() {
        const view = this.view;
        const box = view.scrollDOM.getBoundingClientRect();
        const out = [];
        for (const [clientId, state] of awareness.getStates()) {
          if (clientId === awareness.clientID || typeof state?.user?.name !== "string") continue;
          const pos = cursorOf(state, connection, view);
          if (pos === null) continue;
          const line = view.lineBlockAt(pos);
          const top = view.documentTop + line.top;
          const side = top + line.height <= box.top ? "above" : top >= box.bottom ? "below" : null;
          if (side) out.push({ side, pos, name: state.user.name, color: state.user.color });
        }
        return out;
      }

      draw(markers) {
        // Stacked from each edge, so that no marker hides another.
        const place = { above: 0, below: 0 };
        this.edges.replaceChildren(
          ...markers.map((m) =>
            el("button", {
              type: "button",
              className: `cm-edge-marker ${m.side}`,
              title: `Go to ${m.name}'s cursor`,
              "attr:style": `background:${m.color};${m.side === "above" ? "top" : "bottom"}:${4 + 22 * place[m.side]++}px`,
              "on:click": () => {
                this.view.dispatch({ effects: EditorView.scrollIntoView(m.pos, { y: "center" }) });
                this.view.focus();
              },
            }, `${m.side === "above" ? "▲" : "▼"} ${m.name}`),
          ),
        );
      }

      destroy() {
        awareness.off("change", this.onChange);
        connection.text.unobserve(this.onText);
        this.view.scrollDOM.removeEventListener("scroll", this.onScroll);
        for (const timer of this.shown.values()) clearTimeout(timer);
        this.flash.remove();
        this.edges.remove();
      }
    },
  );
}

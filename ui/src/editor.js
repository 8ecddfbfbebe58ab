// The CodeMirror editor bound to the room's shared text: the extensions, the language and
// theme slots, and per-person undo through Y.UndoManager.

import { EditorState, Compartment, Prec, StateEffect, StateField, Transaction } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLineGutter, highlightSpecialChars,
  drawSelection, dropCursor, rectangularSelection, crosshairCursor, highlightActiveLine,
} from "@codemirror/view";
import {
  indentOnInput, bracketMatching, foldGutter, foldKeymap, indentUnit, defaultHighlightStyle,
  syntaxHighlighting,
} from "@codemirror/language";
import { oneDark } from "@codemirror/theme-one-dark";
import { defaultKeymap, indentWithTab } from "@codemirror/commands";
import {
  getSearchQuery, gotoLine, highlightSelectionMatches, openSearchPanel, searchKeymap, searchPanelOpen,
} from "@codemirror/search";
import {
  acceptCompletion, autocompletion, closeBrackets, closeBracketsKeymap, closeCompletion,
  completionStatus, moveCompletionSelection, startCompletion,
} from "@codemirror/autocomplete";
import * as Y from "yjs";
import { yCollab, ySyncAnnotation, yUndoManagerKeymap } from "y-codemirror.next";
import { serverCompletions } from "./completion.js";
import { partnerCursors } from "./cursors.js";

/** The slot holding the current language's extension. */
export const languageSlot = new Compartment();
/** Whether the text takes this person's changes: see [`lockedText`]. */
const writable = new Compartment();

/**
 * A text this person cannot change: typing, pasting, dropping, completions and every
 * other change made here are refused, while the partners' changes (which the sync
 * plugin marks) still come in. The cursor stays, so that others see where they look.
 */
function lockedText() {
  return [
    EditorState.readOnly.of(true),
    EditorView.contentAttributes.of({ "aria-readonly": "true" }),
    EditorState.transactionFilter.of((tr) => (!tr.docChanged || tr.annotation(ySyncAnnotation) ? tr : [])),
  ];
}

/** Makes `view`'s text writable by this person or not (the room's access changed, or
 * its link stopped working). */
export function setWritable(view, yes) {
  view.dispatch({ effects: writable.reconfigure(yes ? [] : lockedText()) });
}
/** The slot holding the colours; filled by [`editorThemeFor`]. */
export const editorTheme = new Compartment();

/** CodeMirror colours and highlight style for "light" or "dark". */
export function editorThemeFor(theme) {
  return theme === "dark"
    ? oneDark
    : [EditorView.theme({}, { dark: false }), syntaxHighlighting(defaultHighlightStyle, { fallback: true })];
}

/** The person moved through the open completion list (arrow keys, page keys). */
const choseCompletion = StateEffect.define();

/**
 * Whether Enter should accept the selected completion: only once the person has moved
 * through the list since it opened or since they last typed. An untouched list never
 * takes an Enter meant as a new line; Tab accepts the highlighted entry at any time.
 */
const completionChoosing = StateField.define({
  create: () => false,
  update(choosing, tr) {
    if (tr.effects.some((e) => e.is(choseCompletion))) return true;
    // The person's own typing resets the choice; a partner's edit elsewhere does not.
    const typed = tr.docChanged && tr.annotation(Transaction.userEvent) !== undefined;
    if (typed || completionStatus(tr.state) !== "active") return false;
    return choosing;
  },
});

const moveThroughCompletions = (forward, by) => (view) => {
  if (completionStatus(view.state) !== "active") return false;
  if (!moveCompletionSelection(forward, by)(view)) return true;
  view.dispatch({ effects: choseCompletion.of(null) });
  return true;
};

/** Completion keys, in place of CodeMirror's defaults: see [`completionChoosing`]. */
const completionKeys = [
  { key: "Ctrl-Space", run: startCompletion },
  { mac: "Alt-`", run: startCompletion },
  { key: "Escape", run: closeCompletion },
  { key: "ArrowDown", run: moveThroughCompletions(true) },
  { key: "ArrowUp", run: moveThroughCompletions(false) },
  { key: "PageDown", run: moveThroughCompletions(true, "page") },
  { key: "PageUp", run: moveThroughCompletions(false, "page") },
  { key: "Tab", run: acceptCompletion },
  {
    key: "Enter",
    run: (view) => {
      if (completionStatus(view.state) !== "active") return false;
      if (view.state.field(completionChoosing)) return acceptCompletion(view);
      // An untouched list: close it and let Enter make the new line.
      closeCompletion(view);
      return false;
    },
  },
];

/** Ctrl-H: the search panel with the replace field focused (as in VS Code). */
function openReplace(view) {
  openSearchPanel(view);
  view.dom.querySelector(".cm-search input[name=replace]")?.focus();
  return true;
}

/** Most matches counted; past it the count says "10000+". */
const MAX_COUNTED = 10000;

/** "3 of 12" in the search panel: which match the selection is on, out of how many. */
const searchMatchCount = EditorView.updateListener.of((update) => {
  const { state, view } = update;
  if (!searchPanelOpen(state)) return;
  const panel = view.dom.querySelector(".cm-search");
  if (!panel) return;
  let label = panel.querySelector(".cm-search-count");
  // Counting walks the document: only when the text, the selection or the query changed.
  const same = !update.docChanged && !update.selectionSet
    && getSearchQuery(update.startState).eq(getSearchQuery(state));
  if (label && same) return;
  if (!label) {
    label = document.createElement("span");
    label.className = "cm-search-count";
    label.setAttribute("aria-live", "polite");
    panel.querySelector("input[name=search]")?.after(label);
  }
  const query = getSearchQuery(state);
  if (!query.valid || !query.search) {
    label.textContent = "";
    return;
  }
  const { from } = state.selection.main;
  let count = 0;
  let current = 0;
  const cursor = query.getCursor(state);
  for (let next = cursor.next(); !next.done && count < MAX_COUNTED; next = cursor.next()) {
    count += 1;
    if (!current && next.value.from >= from) current = next.value.from === from ? count : 0;
  }
  label.textContent = count === 0
    ? "No matches"
    : `${current ? `${current} of ` : ""}${count}${count >= MAX_COUNTED ? "+" : ""} ${count === 1 ? "match" : "matches"}`;
});

/** VS Code's bindings where CodeMirror's differ; `onHelp` opens the shortcut list. */
const editorKeys = (onHelp) => [
  { key: "Ctrl-g", run: gotoLine, preventDefault: true },
  { key: "Mod-h", run: openReplace, preventDefault: true },
  { key: "F1", run: () => (onHelp?.(), true), preventDefault: true },
];

/**
 * Creates the editor in `parent` for `connection`'s shared text. `currentLanguage()` names
 * the room's language for server completions. No CodeMirror history: undo is Y.UndoManager,
 * which tracks only this person's edits. With `readOnly`, nothing can be typed.
 */
export function createEditor(parent, connection, { currentLanguage, theme, onHelp, readOnly = false }) {
  const undoManager = new Y.UndoManager(connection.text);
  const state = EditorState.create({
    doc: connection.text.toString(),
    extensions: [
      lineNumbers(),
      highlightActiveLineGutter(),
      highlightSpecialChars(),
      foldGutter(),
      drawSelection(),
      dropCursor(),
      EditorState.allowMultipleSelections.of(true),
      indentOnInput(),
      indentUnit.of("    "),
      bracketMatching(),
      closeBrackets(),
      completionChoosing,
      // A viewer gets no completions: there is nothing they could insert.
      readOnly ? [] : autocompletion({
        // The server is the one source (it knows each language's words); the language
        // packages' own lists would open on an empty word and add duplicates.
        override: [serverCompletions(currentLanguage, () => ({ room: connection.link, file: connection.fileId }))],
        activateOnTypingDelay: 150,
        maxRenderedOptions: 50,
        defaultKeymap: false,
      }),
      Prec.highest(keymap.of(completionKeys)),
      rectangularSelection(),
      crosshairCursor(),
      highlightActiveLine(),
      highlightSelectionMatches(),
      searchMatchCount,
      keymap.of([
        ...editorKeys(onHelp),
        ...yUndoManagerKeymap,
        ...closeBracketsKeymap,
        ...defaultKeymap,
        ...searchKeymap,
        ...foldKeymap,
        indentWithTab,
      ]),
      languageSlot.of([]),
      editorTheme.of(editorThemeFor(theme)),
      EditorView.contentAttributes.of({ "aria-label": "Code" }),
      // A viewer keeps a cursor (others see where they look) but types nothing.
      writable.of(readOnly ? lockedText() : []),
      yCollab(connection.text, connection.awareness, { undoManager }),
      partnerCursors(connection),
    ],
  });
  const view = new EditorView({ state, parent });
  return { view, undoManager };
}

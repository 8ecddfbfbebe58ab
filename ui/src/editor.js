// The CodeMirror editor bound to the room's shared text: the extensions, the language and
// theme slots, and per-person undo through Y.UndoManager.

import { EditorState, Compartment } from "@codemirror/state";
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
import { searchKeymap, highlightSelectionMatches } from "@codemirror/search";
import {
  autocompletion, completionKeymap, closeBrackets, closeBracketsKeymap,
} from "@codemirror/autocomplete";
import * as Y from "yjs";
import { yCollab, yUndoManagerKeymap } from "y-codemirror.next";
import { serverCompletions } from "./completion.js";

/** The slot holding the current language's extension. */
export const languageSlot = new Compartment();
/** The slot holding the colours; filled by [`editorThemeFor`]. */
export const editorTheme = new Compartment();

/** CodeMirror colours and highlight style for "light" or "dark". */
export function editorThemeFor(theme) {
  return theme === "dark"
    ? oneDark
    : [EditorView.theme({}, { dark: false }), syntaxHighlighting(defaultHighlightStyle, { fallback: true })];
}

/**
 * Creates the editor in `parent` for `connection`'s shared text. `currentLanguage()` names
 * the room's language for server completions. No CodeMirror history: undo is Y.UndoManager,
 * which tracks only this person's edits.
 */
export function createEditor(parent, connection, { currentLanguage, theme }) {
  const undoManager = new Y.UndoManager(connection.text);
  // One source object for the editor's life: CodeMirror tells sources apart by identity,
  // and a new one per lookup would restart every query.
  const completions = [{ autocomplete: serverCompletions(currentLanguage) }];
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
      autocompletion({ activateOnTypingDelay: 150, maxRenderedOptions: 50 }),
      EditorState.languageData.of(() => completions),
      rectangularSelection(),
      crosshairCursor(),
      highlightActiveLine(),
      highlightSelectionMatches(),
      keymap.of([
        ...yUndoManagerKeymap,
        ...closeBracketsKeymap,
        ...defaultKeymap,
        ...searchKeymap,
        ...foldKeymap,
        ...completionKeymap,
        indentWithTab,
      ]),
      languageSlot.of([]),
      editorTheme.of(editorThemeFor(theme)),
      EditorView.contentAttributes.of({ "aria-label": "Code" }),
      yCollab(connection.text, connection.awareness, { undoManager }),
    ],
  });
  const view = new EditorView({ state, parent });
  return { view, undoManager };
}

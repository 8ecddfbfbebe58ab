// Completions from the server (`POST /api/autocomplete`), the editor's only source: the
// server knows each language's keywords, snippets and library members. When it cannot
// answer, the document's words stand in. The request is cancelled when the text moves on,
// and a failing server only means fewer suggestions, never a stall.

import { completeAnyWord, snippet } from "@codemirror/autocomplete";
import { requestHeaders } from "./session.js";

/** Bodies larger than this are not sent; the server's limit is 1 MiB. */
const MAX_CODE_CHARS = 512 * 1024;
/** Give up on the server after this long; local completions are already showing. */
const TIMEOUT_MS = 2000;

const TYPES = {
  function: "function",
  variable: "variable",
  class: "class",
  keyword: "keyword",
  property: "property",
  snippet: "text",
  ai: "text",
};

/** The server's cap on suggestions; a full list may lack better matches for a longer word. */
const MAX_SUGGESTIONS = 50;
/** A word being typed. */
const WORD = /[\p{L}\p{N}_$]+/u;
/** Member triggers after a name or a call or index: `obj.`, `obj?.`, `f().`, `ptr->`,
 * `Type::`; not after a number (`0.`), a space (`from .`) or in prose. */
const MEMBER = /(?:[\p{L}_$][\p{L}\p{N}_$]*|[)\]])(?:\??\.|->|::)$/u;
/** Languages whose `.` ends a sentence or a key, never a member access. */
const NO_MEMBERS = new Set(["plaintext", "markdown", "yaml", "json", "html", "css", "shell"]);

/**
 * A CodeMirror completion source asking the server; `language()` gives the room's current
 * language id, and `place()` the room and file being edited (`{room, file}`), so that the
 * names the project's other files define are offered too. It answers only when asked (Ctrl-Space), after a member trigger, or when at
 * least one character of a word has been typed: never after `:` or a space, so a pause at
 * the end of a line opens nothing.
 */
export function serverCompletions(language, place = () => ({})) {
  return async (context) => {
    const word = context.matchBefore(WORD);
    const member = !word && !NO_MEMBERS.has(language()) && context.matchBefore(MEMBER) !== null;
    if (!context.explicit && !word && !member) return null;
    const code = context.state.doc.toString();
    if (code.length > MAX_CODE_CHARS) return null;
    const suggestions = await fetchSuggestions(context, {
      code,
      cursor: context.pos,
      language: language(),
      ...place(),
    });
    if (context.aborted) return null;
    // Server unreachable or failing: offer the document's own words instead.
    if (!suggestions) return word || context.explicit ? completeAnyWord(context) : null;
    const complete = suggestions.length < MAX_SUGGESTIONS;
    return {
      from: word ? word.from : context.pos,
      options: suggestions.map((s, rank) => ({ ...toCompletion(s), boost: boostFor(rank, suggestions.length) })),
      // The list stays while the word grows (CodeMirror filters it), unless the server
      // cut it short: then a longer word asks again.
      validFor: (text) => complete && /^[\p{L}\p{N}_$]*$/u.test(text),
    };
  };
}

/**
 * CodeMirror ranks matches by how well they match (the exact word, then prefixes, then
 * the rest) and within each by `boost` (-99..99): the server's order is kept there.
 */
export function boostFor(rank, count) {
  return count <= 1 ? 99 : 99 - Math.round((rank * 198) / (count - 1));
}

async function fetchSuggestions(context, body) {
  const controller = new AbortController();
  context.addEventListener("abort", () => controller.abort(), { onDocChange: true });
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch("/api/autocomplete", {
      method: "POST",
      headers: requestHeaders({ "content-type": "application/json" }),
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    if (!response.ok) return null;
    const answer = await response.json();
    return Array.isArray(answer?.suggestions) ? answer.suggestions : null;
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
  }
}

/** One server suggestion as a CodeMirror completion. */
export function toCompletion(s) {
  const label = String(s.label ?? "");
  const insert = typeof s.insertText === "string" ? s.insertText : label;
  const completion = {
    label,
    type: TYPES[s.kind] ?? "text",
    detail: typeof s.detail === "string" ? s.detail : undefined,
  };
  if (s.kind === "snippet") {
    completion.apply = snippetOrText(insert);
  } else if (s.kind === "ai") {
    completion.apply = insert;
    completion.detail = completion.detail ?? "AI";
  } else if (insert !== label) {
    completion.apply = insert;
  }
  return completion;
}

/** Server snippets use CodeMirror's `${1:name}` syntax; a template that does not parse is
 * inserted as plain text rather than breaking the popup. */
function snippetOrText(template) {
  try {
    return snippet(template);
  } catch {
    return template;
  }
}

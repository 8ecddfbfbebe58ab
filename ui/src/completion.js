// Completions from the server (`POST /api/autocomplete`) merged into CodeMirror's popup
// beside the language's own; when the server cannot answer, the document's words stand in. The request is cancelled when
// the text moves on, and a failing server only means fewer suggestions, never a stall.

import { completeAnyWord, snippet } from "@codemirror/autocomplete";

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

/**
 * A CodeMirror completion source asking the server; `language()` gives the room's current
 * language id.
 */
export function serverCompletions(language) {
  return async (context) => {
    const word = context.matchBefore(/[\p{L}\p{N}_$]+/u);
    const afterDot = context.matchBefore(/[.:>]$/) !== null;
    if (!context.explicit && !word && !afterDot) return null;
    const code = context.state.doc.toString();
    if (code.length > MAX_CODE_CHARS) return null;
    const suggestions = await fetchSuggestions(context, {
      code,
      cursor: context.pos,
      language: language(),
    });
    if (context.aborted) return null;
    // Server unreachable or failing: offer the document's own words instead.
    if (!suggestions) return completeAnyWord(context);
    return {
      from: word ? word.from : context.pos,
      options: suggestions.map(toCompletion),
      validFor: /^[\p{L}\p{N}_$]*$/u,
    };
  };
}

async function fetchSuggestions(context, body) {
  const controller = new AbortController();
  context.addEventListener("abort", () => controller.abort(), { onDocChange: true });
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  try {
    const response = await fetch("/api/autocomplete", {
      method: "POST",
      headers: { "content-type": "application/json" },
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
    completion.boost = -1;
  } else if (s.kind === "ai") {
    completion.apply = insert;
    completion.detail = completion.detail ?? "AI";
    completion.boost = -2;
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

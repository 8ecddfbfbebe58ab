// Unit tests for the pure helpers of completion and storage (node --test ui/src/).
import { test } from "node:test";
import assert from "node:assert/strict";
import { boostFor, toCompletion } from "./completion.js";
import { cleanName, MAX_NAME_CHARS } from "./storage.js";
import { LANGUAGES, languageById } from "./languages.js";

test("server suggestions become CodeMirror completions", () => {
  assert.deepEqual(toCompletion({ label: "log", kind: "function", detail: "standard library", insertText: "log" }), {
    label: "log", type: "function", detail: "standard library",
  });
  const snippet = toCompletion({ label: "def", kind: "snippet", insertText: "def ${1:name}():", detail: "function" });
  assert.equal(snippet.type, "text");
  assert.equal(typeof snippet.apply, "function", "a template becomes a snippet");
  const broken = toCompletion({ label: "x", kind: "snippet", insertText: "${1:unclosed" });
  assert.ok(["function", "string"].includes(typeof broken.apply), "a bad template is still insertable");
  assert.equal(toCompletion({ label: "count", kind: "variable", insertText: "count()" }).apply, "count()");
  assert.equal(toCompletion({ label: 3, kind: "nonsense" }).label, "3");
  assert.equal(toCompletion({ label: "x", kind: "nonsense" }).type, "text");
  assert.equal(toCompletion({ label: "guess", kind: "ai" }).detail, "AI");
});

test("the server's order is kept as boosts from 99 down to -99", () => {
  assert.equal(boostFor(0, 1), 99);
  assert.equal(boostFor(0, 50), 99);
  assert.equal(boostFor(49, 50), -99);
  const boosts = Array.from({ length: 50 }, (_, i) => boostFor(i, 50));
  assert.deepEqual([...boosts].sort((a, b) => b - a), boosts, "non-increasing");
});

test("display names are trimmed, squeezed and cut to length", () => {
  assert.equal(cleanName("  Ada \n Lovelace  "), "Ada Lovelace");
  assert.equal(cleanName(null), "");
  assert.equal(cleanName("😀".repeat(100)), "😀".repeat(MAX_NAME_CHARS), "cut by characters, not code units");
});

test("every language has an id, a label and an extension; unknown ids fall back to plain text", () => {
  const ids = new Set();
  for (const language of LANGUAGES) {
    assert.match(language.id, /^[a-z0-9+#-]{1,32}$/);
    assert.ok(language.label && language.ext, language.id);
    assert.ok(!ids.has(language.id), `${language.id} once`);
    ids.add(language.id);
  }
  assert.equal(languageById("klingon").label, "klingon");
  assert.equal(languageById("python").label, "Python");
});

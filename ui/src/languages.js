// The languages the editor offers. Each grammar is its own chunk, loaded on first use, so
// the editor page only downloads the languages a room actually uses.

/**
 * `id` matches the server's language ids (room metadata, autocomplete); `load` resolves
 * to a CodeMirror extension giving highlighting, indentation and language data.
 */
export const LANGUAGES = [
  { id: "plaintext", label: "Plain text", ext: "txt", load: async () => [] },
  { id: "javascript", label: "JavaScript", ext: "js", load: async () => (await import("@codemirror/lang-javascript")).javascript({ jsx: true }) },
  { id: "typescript", label: "TypeScript", ext: "ts", load: async () => (await import("@codemirror/lang-javascript")).javascript({ typescript: true, jsx: true }) },
  { id: "python", label: "Python", ext: "py", load: async () => (await import("@codemirror/lang-python")).python() },
  { id: "rust", label: "Rust", ext: "rs", load: async () => (await import("@codemirror/lang-rust")).rust() },
  { id: "go", label: "Go", ext: "go", load: async () => (await import("@codemirror/lang-go")).go() },
  { id: "java", label: "Java", ext: "java", load: async () => (await import("@codemirror/lang-java")).java() },
  { id: "c", label: "C", ext: "c", load: async () => (await import("@codemirror/lang-cpp")).cpp() },
  { id: "cpp", label: "C++", ext: "cpp", load: async () => (await import("@codemirror/lang-cpp")).cpp() },
  { id: "csharp", label: "C#", ext: "cs", load: async () => legacy((await import("@codemirror/legacy-modes/mode/clike")).csharp) },
  { id: "php", label: "PHP", ext: "php", load: async () => (await import("@codemirror/lang-php")).php() },
  { id: "html", label: "HTML", ext: "html", load: async () => (await import("@codemirror/lang-html")).html() },
  { id: "css", label: "CSS", ext: "css", load: async () => (await import("@codemirror/lang-css")).css() },
  { id: "json", label: "JSON", ext: "json", load: async () => (await import("@codemirror/lang-json")).json() },
  { id: "markdown", label: "Markdown", ext: "md", load: async () => (await import("@codemirror/lang-markdown")).markdown() },
  { id: "sql", label: "SQL", ext: "sql", load: async () => (await import("@codemirror/lang-sql")).sql() },
  { id: "yaml", label: "YAML", ext: "yaml", load: async () => (await import("@codemirror/lang-yaml")).yaml() },
  { id: "shell", label: "Shell", ext: "sh", load: async () => legacy((await import("@codemirror/legacy-modes/mode/shell")).shell) },
];

/** Wraps a CodeMirror 5 style mode; imported lazily so the landing page stays small. */
async function legacy(mode) {
  const { StreamLanguage } = await import("@codemirror/language");
  return StreamLanguage.define(mode);
}

const BY_ID = new Map(LANGUAGES.map((l) => [l.id, l]));

/** The language with this id; unknown ids (a room made by another client) get plain text. */
export function languageById(id) {
  return BY_ID.get(id) ?? { ...BY_ID.get("plaintext"), id: String(id), label: String(id) };
}

/** File extensions and the language each implies; the server's table is
 * `language_of` in server/src/paths.rs, and a test keeps the two the same. */
const EXTENSIONS = {
  js: "javascript", mjs: "javascript", cjs: "javascript", jsx: "javascript",
  ts: "typescript", mts: "typescript", cts: "typescript", tsx: "typescript",
  py: "python", pyi: "python", rs: "rust", go: "go", java: "java", c: "c", h: "c",
  cc: "cpp", cpp: "cpp", cxx: "cpp", hh: "cpp", hpp: "cpp", hxx: "cpp", cs: "csharp", php: "php",
  html: "html", htm: "html", css: "css", json: "json", md: "markdown", markdown: "markdown",
  sql: "sql", yaml: "yaml", yml: "yaml", sh: "shell", bash: "shell", zsh: "shell",
};
const NAMES = { dockerfile: "shell", makefile: "shell", justfile: "shell" };

/** The language a file's path implies, by its name or extension. */
export function languageOfPath(path) {
  const name = String(path).slice(String(path).lastIndexOf("/") + 1).toLowerCase();
  if (Object.hasOwn(NAMES, name)) return NAMES[name];
  const dot = name.lastIndexOf(".");
  const extension = dot < 0 ? "" : name.slice(dot + 1);
  return Object.hasOwn(EXTENSIONS, extension) ? EXTENSIONS[extension] : "plaintext";
}

/** Loads a language's extension; a chunk that fails to load (offline, say) gives plain text. */
export async function loadLanguage(id) {
  try {
    return await languageById(id).load();
  } catch (error) {
    console.warn(`could not load language ${id}`, error);
    return [];
  }
}

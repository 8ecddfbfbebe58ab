// Builds the editor into dist/: content-hashed bundles under dist/assets, the HTML pages
// pointing at them, and the service worker listing what to keep offline. The output is
// committed and embedded in pairpad-server, so it must be the same on every machine:
// no timestamps, no absolute paths. `node build.mjs --check` fails when dist/ is stale.

import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { tmpdir } from "node:os";

const ENTRIES = { landing: "src/landing.js", room: "src/room.js", desktop: "src/desktop.js", join: "src/join.js", style: "src/style.css" };
const PAGES = ["index.html", "room.html", "notfound.html", "desktop.html", "join.html"];
const check = process.argv.includes("--check");
const out = check ? mkdtempSync(join(tmpdir(), "pairpad-ui-")) : "dist";

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "assets"), { recursive: true });

const result = await esbuild.build({
  entryPoints: ENTRIES,
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  target: ["chrome105", "firefox110", "safari16"],
  outdir: join(out, "assets"),
  entryNames: "[name]-[hash]",
  chunkNames: "chunk-[hash]",
  metafile: true,
  logLevel: "warning",
});

// Entry name -> "/assets/…" URL, and each output's static imports (loaded with the page).
const outputs = result.metafile.outputs;
const urlOf = (file) => "/" + relative(out, file).split("\\").join("/");
const entryUrl = {};
for (const [file, meta] of Object.entries(outputs)) {
  const entry = Object.entries(ENTRIES).find(([, src]) => meta.entryPoint === src);
  if (entry && !file.endsWith(".map")) entryUrl[entry[0]] = urlOf(file);
}
function staticClosure(url, seen = new Set()) {
  if (seen.has(url)) return seen;
  seen.add(url);
  const file = Object.keys(outputs).find((f) => urlOf(f) === url);
  for (const imp of outputs[file]?.imports ?? []) {
    if (imp.kind === "import-statement") staticClosure(urlOf(imp.path), seen);
  }
  return seen;
}

for (const page of PAGES) {
  const html = readFileSync(join("pages", page), "utf8").replace(/\{\{(\w+)\}\}/g, (_, name) => {
    if (!entryUrl[name]) throw new Error(`${page}: no entry named ${name}`);
    return entryUrl[name];
  });
  writeFileSync(join(out, page), html);
}
cpSync("pages/favicon.svg", join(out, "favicon.svg"));

const precache = [
  "/",
  "/room.html",
  "/favicon.svg",
  ...new Set([...staticClosure(entryUrl.room), ...staticClosure(entryUrl.landing), entryUrl.style]),
].sort();
const version = createHash("sha256")
  .update(precache.join("\n"))
  .update(PAGES.map((p) => readFileSync(join(out, p))).join("\n"))
  .digest("hex")
  .slice(0, 16);
await esbuild.build({
  entryPoints: ["src/sw.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["chrome105", "firefox110", "safari16"],
  outfile: join(out, "sw.js"),
  define: { PRECACHE: JSON.stringify(precache), VERSION: JSON.stringify(version) },
  logLevel: "warning",
});

report();
if (check) compare(out, "dist");

/** Prints what the editor page downloads before it can be used, raw and gzip. */
function report() {
  const size = (url) => {
    const bytes = readFileSync(join(out, url));
    return [bytes.length, gzipSync(bytes, { level: 9 }).length];
  };
  const roomLoad = ["/room.html", ...staticClosure(entryUrl.room), entryUrl.style];
  const [raw, gz] = roomLoad.map(size).reduce((a, b) => [a[0] + b[0], a[1] + b[1]]);
  const all = listFiles(out);
  const [allRaw, allGz] = all.map((f) => size("/" + f)).reduce((a, b) => [a[0] + b[0], a[1] + b[1]]);
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  console.log(`editor page first load: ${kb(raw)} raw, ${kb(gz)} gzip (${roomLoad.length} files)`);
  console.log(`all of dist (every language): ${kb(allRaw)} raw, ${kb(allGz)} gzip (${all.length} files)`);
}

function listFiles(dir, prefix = "") {
  return readdirSync(join(dir, prefix)).flatMap((name) => {
    const path = prefix ? `${prefix}/${name}` : name;
    return statSync(join(dir, path)).isDirectory() ? listFiles(dir, path) : [path];
  }).sort();
}

function compare(built, committed) {
  const a = listFiles(built);
  const b = listFiles(committed);
  const differ = [...new Set([...a, ...b])].filter(
    (f) => !a.includes(f) || !b.includes(f) || !readFileSync(join(built, f)).equals(readFileSync(join(committed, f))),
  );
  rmSync(built, { recursive: true, force: true });
  if (differ.length) {
    console.error(`ui/dist is stale; run \`npm run build\` in ui/ and commit. Differs: ${differ.join(", ")}`);
    process.exit(1);
  }
  console.log("ui/dist matches the sources");
}

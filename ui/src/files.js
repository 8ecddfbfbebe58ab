// A room's project: the files its document lists (the map `files`, file id to path, kept
// by the server), the tree they make, and the REST calls that change them. The server is
// the judge of paths: what is checked here only spares a round trip.

import { requestHeaders } from "./session.js";

/** The room document's map of the project's files. */
export const FILES_MAP = "files";

/** The last segment of a path. */
export function baseName(path) {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The folder a path is in, "" at the top. */
export function folderOf(path) {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

/** `path` with its file name's extension replaced by (or given) `extension`. */
export function withExtension(path, extension) {
  const name = baseName(path);
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  return `${path.slice(0, path.length - name.length)}${stem}.${extension}`;
}

/** How paths are compared, as the server does: case and Unicode form folded. */
export function pathKey(path) {
  return path.normalize("NFC").toLowerCase();
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

/**
 * The files of `entries` (`[id, path]` pairs; anything that is not a string path is left
 * out) as a tree: `{ name, path, folders: [...], files: [{id, name, path}] }`, folders
 * first, each level in natural order ("file2" before "file10").
 */
export function buildTree(entries) {
  const root = { name: "", path: "", folders: [], files: [], byName: new Map() };
  for (const [id, path] of entries) {
    if (typeof path !== "string" || !path) continue;
    const segments = path.split("/");
    let folder = root;
    for (const segment of segments.slice(0, -1)) {
      const key = pathKey(segment);
      let next = folder.byName.get(key);
      if (!next) {
        next = { name: segment, path: folder.path ? `${folder.path}/${segment}` : segment, folders: [], files: [], byName: new Map() };
        folder.byName.set(key, next);
        folder.folders.push(next);
      }
      folder = next;
    }
    folder.files.push({ id, name: segments.at(-1), path });
  }
  const sort = (folder) => {
    folder.folders.sort((a, b) => collator.compare(a.name, b.name));
    folder.files.sort((a, b) => collator.compare(a.name, b.name) || (a.path < b.path ? -1 : 1));
    delete folder.byName;
    folder.folders.forEach(sort);
    return folder;
  };
  return sort(root);
}

/** Every file under `folder` (a folder of [`buildTree`]), depth first. */
export function filesUnder(folder) {
  return [...folder.folders.flatMap(filesUnder), ...folder.files];
}

/**
 * Labels for tabs: each path's file name, with as much of its folder as it takes to tell
 * it from the others that share the name (`a/index.js` and `b/index.js`).
 */
export function tabLabels(paths) {
  const labels = new Map();
  for (const path of paths) {
    const segments = path.split("/");
    let depth = 1;
    const tail = (p, n) => p.split("/").slice(-n).join("/");
    while (
      depth < segments.length
      && paths.some((other) => other !== path && pathKey(tail(other, depth)) === pathKey(tail(path, depth)))
    ) {
      depth += 1;
    }
    labels.set(path, tail(path, depth));
  }
  return labels;
}

/**
 * The path typed in a dialog, tidied the way people expect (spaces around it and
 * surrounding slashes dropped, `\` read as `/`), or an error message for what the server
 * would refuse anyway.
 */
export function cleanPath(typed) {
  const slashed = String(typed ?? "").trim().replaceAll("\\", "/");
  const path = slashed.replace(/^\/+|\/+$/g, "").replace(/\/{2,}/g, "/");
  if (!path) return { error: "Type a file name" };
  if (slashed.endsWith("/")) return { error: "Type a file name after the folder" };
  if (path.split("/").some((s) => s === "." || s === "..")) return { error: "A path cannot contain . or .. segments" };
  return { path };
}

/** Thrown by the REST calls: `message` is the server's, ready to show. */
export class FileRequestError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function call(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: requestHeaders(body === undefined ? {} : { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new FileRequestError(0, "Can't reach the server; try again when you are back online");
  }
  if (response.ok) return response.status === 204 ? null : response.json();
  let message = `The server refused (${response.status})`;
  try {
    const detail = (await response.json())?.error?.message;
    if (typeof detail === "string" && detail) message = detail.charAt(0).toUpperCase() + detail.slice(1);
  } catch {
    // Not JSON (a proxy's page): the status says enough.
  }
  throw new FileRequestError(response.status, message);
}

// `room` is the room's path as session.js gives it: its edit link's id, or `v/` and its
// view link's id (checked ids, so nothing needs escaping).
const filesUrl = (room) => `/api/rooms/${room}/files`;

/** Creates a file; resolves with `{fileId, path}`. */
export function createFile(room, path, text = "") {
  return call("POST", filesUrl(room), { path, text });
}

/** Renames (moves) a file last seen at `from`: refused (409) if it has moved since, so
 * that a rename never undoes someone else's. */
export function renameFile(room, fileId, path, from) {
  return call("PATCH", `${filesUrl(room)}/${encodeURIComponent(fileId)}`, { path, from });
}

/** Deletes a file. */
export function deleteFile(room, fileId) {
  return call("DELETE", `${filesUrl(room)}/${encodeURIComponent(fileId)}`);
}

/** Where the project's zip is downloaded from. */
export function archiveUrl(room) {
  return `/api/rooms/${room}/archive`;
}

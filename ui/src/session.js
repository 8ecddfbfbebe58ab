// Which room this page is in, by which link, and what that link (and this browser's
// owner key, if it holds one) lets it do. A room has an edit link, `/r/{id}`, and a view
// link, `/v/{id}`; `path` is how the API and the WebSocket name it (`{id}` or `v/{id}`).
// The room's own id names its first file and is learnt from the server (and kept here,
// so that a reload while offline still knows it).

import { readStored, writeStored } from "./storage.js";

const LINK = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const OWNER_KEY = (link) => `pairpad.owner.${link}`;
const INFO_KEY = (link) => `pairpad.room.${link}`;


/**
 * The room a page address names: `{kind: "edit" | "view", link, path}`, or null.
 * @param {string} pathname
 */
export function placeOf(pathname) {
  const [, prefix, id = ""] = pathname.split("/");
  const link = decodeURIComponent(id).toLowerCase();
  if (!LINK.test(link)) return null;
  if (prefix === "r") return { kind: "edit", link, path: link };
  if (prefix === "v") return { kind: "view", link, path: `v/${link}` };
  return null;
}

/** The owner key this browser holds for the room whose edit link is `link`, or null. */
export function ownerKeyOf(link) {
  const key = readStored(OWNER_KEY(link));
  return key && /^[0-9a-f]{64}$/.test(key) ? key : null;
}

/** Keeps (or, with null, forgets) the owner key of the room whose edit link is `link`. */
export function saveOwnerKey(link, key) {
  writeStored(OWNER_KEY(link), key);
}

/** What the page sends with every request: the token it signed in with (when the
 * server asks for sign-in) and, once the room is known, the owner key. */
const credentials = { ownerKey: null, token: null };
const TOKEN_KEY = "pairpad.token";

/**
 * Takes a sign-in token handed over in the address (`#token=…`, from a company portal or
 * an identity proxy) into this tab's session storage, and out of the address (and so out
 * of history and of links copied from it); then uses the one kept, if any.
 */
export function takeToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const handed = params.get("token");
  if (handed) {
    writeStored(TOKEN_KEY, handed, sessionStorage);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", `${location.pathname}${location.search}${rest ? `#${rest}` : ""}`);
  }
  credentials.token = readStored(TOKEN_KEY, sessionStorage);
}

/** What the token says, without checking it (the server does): `{name, exp}`, or null. */
export function tokenClaims() {
  const payload = credentials.token?.split(".")[1];
  if (!payload) return null;
  try {
    const bytes = Uint8Array.from(atob(payload.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    const json = JSON.parse(new TextDecoder().decode(bytes));
    // As the server reads it (server/src/auth.rs): the first claim that is a name once
    // invisible characters are left out, with no control characters, cut to 100.
    const clean = (n) => {
      if (typeof n !== "string") return null;
      const visible = Array.from(n.replace(HIDES_TEXT, "").trim()).slice(0, 100).join("");
      return visible && !/\p{Cc}/u.test(visible) ? visible : null;
    };
    const name = [json.name, json.preferred_username, json.email, json.sub].map(clean).find(Boolean) ?? null;
    return { name, exp: typeof json.exp === "number" ? json.exp : null };
  } catch {
    return null;
  }
}

/** Characters that hide or reorder text (the server's `paths::hides_text`). */
const HIDES_TEXT = /[\u200B-\u200F\u202A-\u202E\u2028\u2029\u2060-\u206F\uFEFF\uFFF9-\uFFFB\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180B-\u180F\u3164\uFFA0\uFE00-\uFE0F]|\uDB40[\uDC00-\uDDEF]|\uD834[\uDD73-\uDD7A]/g;

/** Whether the token this page holds has expired (the server will refuse it). */
export function tokenExpired() {
  const exp = tokenClaims()?.exp;
  return typeof exp === "number" && exp * 1000 < Date.now();
}

/** Sends `ownerKey` with every request from now on (null: none). */
export function useOwnerKey(ownerKey) {
  credentials.ownerKey = ownerKey;
}

/** Headers for a REST request (`extra` added). */
export function requestHeaders(extra = {}) {
  const headers = { ...extra };
  if (credentials.ownerKey) headers["pairpad-owner-key"] = credentials.ownerKey;
  if (credentials.token) headers.authorization = `Bearer ${credentials.token}`;
  return headers;
}

/** Subprotocols for a WebSocket: the sign-in token and the owner key ride in them (never
 * in the address, which proxies log), beside `pairpad`, which the server picks. */
export function socketProtocols() {
  const carried = [];
  if (credentials.token) carried.push(`pairpad.token.${credentials.token}`);
  if (credentials.ownerKey) carried.push(`pairpad.owner.${credentials.ownerKey}`);
  return carried.length ? ["pairpad", ...carried] : [];
}

/**
 * What the server says of the room at `place` and of this page's access:
 * `{roomId?, viewId, viewUrl, fileId, title, access, canEdit, owner, hasOwner}`. Kept for
 * a reload while offline; `{gone: true}` when the server no longer knows the link, null
 * when it cannot be asked and nothing is kept.
 */
export async function loadRoomInfo(place) {
  try {
    const response = await fetch(`/api/rooms/${place.path}`, { headers: requestHeaders() });
    if (response.status === 404) {
      writeStored(INFO_KEY(place.link), null);
      return { gone: true };
    }
    if (response.status === 401 || response.status === 403) {
      const detail = await response.json().catch(() => null);
      return { refused: response.status, message: detail?.error?.message ?? "" };
    }
    if (response.ok) {
      const info = await response.json();
      if (info && typeof info.fileId === "string" && LINK.test(info.fileId)) {
        writeStored(INFO_KEY(place.link), JSON.stringify(info));
        return info;
      }
    }
  } catch {
    // Offline: what was kept, if anything.
  }
  try {
    const kept = JSON.parse(readStored(INFO_KEY(place.link)) ?? "null");
    return kept && typeof kept.fileId === "string" && LINK.test(kept.fileId) ? kept : null;
  } catch {
    return null;
  }
}

/** Calls an owner's endpoint (`PATCH`/`DELETE /api/rooms/{id}`, a new link); resolves
 * with the answer's JSON (null for none) or throws an Error with the server's message. */
export async function ownerCall(method, url, body) {
  let response;
  try {
    response = await fetch(url, {
      method,
      headers: requestHeaders(body === undefined ? {} : { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Error("Can't reach the server");
  }
  if (response.ok) return response.status === 204 ? null : response.json();
  const detail = await response.json().catch(() => null);
  throw new Error(detail?.error?.message ?? `The server refused (${response.status})`);
}

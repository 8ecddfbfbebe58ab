// Service worker: keeps the pages and the editor's code on this device so a room reloads
// while offline; the room's text itself comes back from IndexedDB (y-indexeddb).
// The build replaces PRECACHE (the entry files) and VERSION (a hash of them).

/* global PRECACHE, VERSION */
const CACHE = `pairpad-${VERSION}`;
const ROOM_SHELL = "/room.html";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("pairpad-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && (url.pathname === "/" || url.pathname.startsWith("/r/") || url.pathname.startsWith("/v/"))) {
    event.respondWith(networkFirst(request, url.pathname === "/" ? "/" : ROOM_SHELL));
  } else if (url.pathname.startsWith("/assets/")) {
    event.respondWith(cacheFirst(request));
  }
});

/** Pages: always the server's answer when it can be had, the cached shell otherwise. */
async function networkFirst(request, fallback) {
  try {
    return await fetch(request);
  } catch (error) {
    const cached = await caches.match(fallback);
    if (cached) return cached;
    throw error;
  }
}

/** Assets are content-hashed, so a cached copy is always the right one. */
async function cacheFirst(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const copy = response.clone();
    caches.open(CACHE).then((cache) => cache.put(request, copy));
  }
  return response;
}

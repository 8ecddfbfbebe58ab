// Where a pasted room link or id leads; no page is touched, so it is testable alone.

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;

/** Where a pasted link or id leads: a same-server room path, another server's page, or
 * null when it is neither. */
export function joinTarget(input, here = location) {
  const text = input.trim();
  if (!text) return null;
  let url = null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  if (url && (url.protocol === "http:" || url.protocol === "https:")) {
    return url.origin === here.origin ? url.pathname + url.search : url.href;
  }
  const id = text.match(UUID);
  return id ? `/r/${id[0].toLowerCase()}` : null;
}


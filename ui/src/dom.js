// Building DOM nodes without ever parsing user text as HTML.

/**
 * Creates an element. `props` sets properties (className, type, value, …), attributes
 * with an `attr:` prefix and listeners with an `on:` prefix; string children become text
 * nodes, so user text is never parsed as markup.
 * @param {string} tag
 * @param {Record<string, any>} [props]
 * @param {...(Node|string|null|undefined|false)} children
 * @returns {HTMLElement}
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("on:")) node.addEventListener(key.slice(3), value);
    else if (key.startsWith("attr:")) node.setAttribute(key.slice(5), String(value));
    else node[key] = value;
  }
  node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** Finds a required element by id; a missing one is a bug in the page, so it throws. */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page is missing #${id}`);
  return node;
}

/** Shows a short message in the page's toast area. */
export function toast(message) {
  const area = document.getElementById("toast");
  if (!area) return;
  area.textContent = message;
  area.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (area.hidden = true), 2500);
}

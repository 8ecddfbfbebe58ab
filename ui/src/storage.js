// What the browser remembers between visits: display name, colour, theme, recent rooms.
// localStorage can be full, disabled or cleared at any time, so every access is guarded.

/** Where the display name is kept (other tabs watch it to follow a rename). */
export const NAME_KEY = "pairpad.name";
const COLOR_KEY = "pairpad.color";
const PERSON_KEY = "pairpad.person";
const LANGUAGE_KEY = "pairpad.language";
const THEME_KEY = "pairpad.theme";
const RECENT_KEY = "pairpad.recent";
const MAX_RECENT = 12;

/** Longest display name accepted, in characters. */
export const MAX_NAME_CHARS = 40;

/** Colours handed out to people; all readable with white text on top. */
export const PALETTE = [
  "#d63f3f", "#d9731a", "#a88a00", "#3d9a2e", "#13958c", "#2f7fd8", "#6b5bd6", "#c13f9c",
];

/** The value kept under `key` in `storage` (local storage unless told), or null. */
export function readStored(key, storage = localStorage) {
  try {
    return storage.getItem(key);
  } catch {
    return null;
  }
}

/** Keeps `value` under `key` in `storage` (local storage unless told); null forgets it. */
export function writeStored(key, value, storage = localStorage) {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    // Storage full or disabled: it lasts for this page only.
  }
}

const read = (key) => readStored(key);
const write = (key, value) => writeStored(key, value);

/** Trims a display name and cuts it to the allowed length; "" when nothing is left. */
export function cleanName(name) {
  return Array.from(String(name ?? "").replace(/\s+/g, " ").trim())
    .slice(0, MAX_NAME_CHARS)
    .join("");
}

/** The display name chosen earlier, or null when none was. */
export function loadName() {
  const name = cleanName(read(NAME_KEY));
  return name || null;
}

export function saveName(name) {
  write(NAME_KEY, cleanName(name));
}

/** This browser's colour, picked once at random from the palette. */
export function loadColor() {
  const saved = read(COLOR_KEY);
  if (saved && PALETTE.includes(saved)) return saved;
  const color = PALETTE[Math.floor(Math.random() * PALETTE.length)];
  write(COLOR_KEY, color);
  return color;
}

export function saveColor(color) {
  if (PALETTE.includes(color)) write(COLOR_KEY, color);
}

/** This browser's person id: the same in every tab, so that two tabs are one person. */
export function loadPersonId() {
  const saved = read(PERSON_KEY);
  if (saved && /^[0-9a-z-]{8,64}$/.test(saved)) return saved;
  const id = crypto.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  write(PERSON_KEY, id);
  return id;
}

/** The language last chosen for a room, for the next new one; null when none was. */
export function loadLanguageChoice() {
  const id = read(LANGUAGE_KEY);
  return id && /^[a-z0-9+#-]{1,32}$/.test(id) ? id : null;
}

export function saveLanguageChoice(id) {
  write(LANGUAGE_KEY, id);
}

/** "auto" follows the OS; "light" and "dark" override it. */
export function loadTheme() {
  const theme = read(THEME_KEY);
  return theme === "light" || theme === "dark" ? theme : "auto";
}

export function saveTheme(theme) {
  write(THEME_KEY, theme);
}

/** Rooms this browser opened, newest first: `[{roomId, title, language, visitedAt}]`. */
export function loadRecent() {
  try {
    const list = JSON.parse(read(RECENT_KEY) ?? "[]");
    if (!Array.isArray(list)) return [];
    return list.filter(
      (r) => r && typeof r.roomId === "string" && typeof r.title === "string",
    );
  } catch {
    return [];
  }
}

/** Puts a room at the top of the recent list (`view`: opened by its view-only link). */
export function rememberRoom({ roomId, view = false, title, language }) {
  const rest = loadRecent().filter((r) => r.roomId !== roomId);
  const entry = { roomId, view: Boolean(view), title: String(title ?? ""), language: String(language ?? ""), visitedAt: Date.now() };
  write(RECENT_KEY, JSON.stringify([entry, ...rest].slice(0, MAX_RECENT)));
}

export function forgetRoom(roomId) {
  write(RECENT_KEY, JSON.stringify(loadRecent().filter((r) => r.roomId !== roomId)));
}

// Light and dark: follow the OS unless this browser chose one. The page's colours are CSS
// variables keyed on `data-theme`; the editor follows through the callback.

import { loadTheme, saveTheme } from "./storage.js";

const LABELS = { auto: "Theme: auto (follows the system)", light: "Theme: light", dark: "Theme: dark" };
/** What the button shows: which of the three is chosen, not only the colours in use. */
const ICONS = { auto: "◐", light: "☀", dark: "☾" };
const NEXT = { auto: "light", light: "dark", dark: "auto" };
const darkQuery = window.matchMedia("(prefers-color-scheme: dark)");

/** "light" or "dark" as shown now. */
export function effectiveTheme(choice = loadTheme()) {
  return choice === "auto" ? (darkQuery.matches ? "dark" : "light") : choice;
}

/** Sets `data-theme` on the page, keeps it current, and calls `onChange(theme)`. */
export function setupTheme(button, onChange = () => {}) {
  let choice = loadTheme();
  const apply = () => {
    const theme = effectiveTheme(choice);
    document.documentElement.dataset.theme = theme;
    if (button) {
      button.textContent = ICONS[choice];
      button.title = `${LABELS[choice]}; click to change`;
      button.setAttribute("aria-label", LABELS[choice]);
      button.dataset.choice = choice;
    }
    onChange(theme);
  };
  darkQuery.addEventListener("change", apply);
  button?.addEventListener("click", () => {
    choice = NEXT[choice];
    saveTheme(choice);
    apply();
  });
  apply();
}

// The file tree beside the editor: folders that open and close, the file being edited
// marked, a dot for each person in a file, and the keys of an ARIA tree (arrows move,
// Right and Left open and close, Enter opens, F2 renames, Delete deletes, typing a letter
// jumps to the next name starting with it). Paths are shown with textContent only.

import { el } from "./dom.js";
import { buildTree, pathKey } from "./files.js";

const EXPANDED_KEY = (roomId) => `pairpad.folders.${roomId}`;

/**
 * `actions` are `open(fileId)`, `create(folderPath)`, `rename(item)` and `remove(item)`
 * (none of the last three offered when `readOnly` is set),
 * where an item is `{kind: "file", id, path}` or `{kind: "folder", path, folder}`;
 * `canDelete(fileId)` says whether a file may be deleted.
 */
export class FileTree {
  constructor(list, roomId, actions) {
    this.list = list;
    this.roomId = roomId;
    this.actions = actions;
    this.tree = buildTree([]);
    this.active = null;
    this.expanded = new Set(loadExpanded(roomId));
    /** The row with the keyboard focus, by key ("f:" + id or "d:" + folder key). */
    this.focusKey = null;
    /** fileId -> its row's people element, for [`showPeople`]. */
    this.peopleSlots = new Map();
    this.people = new Map();
    list.setAttribute("role", "tree");
    list.addEventListener("keydown", (event) => this.onKey(event));
    list.addEventListener("focusin", (event) => {
      const row = event.target.closest?.("[role=treeitem]");
      if (row) this.focus(row.dataset.key, false);
    });
  }

  /** Shows the files of `entries` (`[id, path]` pairs). */
  setFiles(entries) {
    this.tree = buildTree(entries);
    this.render();
  }

  /** Marks `fileId` as the file being edited and opens the folders above it (once for
   * each path it has: a folder closed afterwards stays closed). */
  setActive(fileId, path) {
    let changed = this.active !== fileId;
    this.active = fileId;
    const place = `${fileId}:${path}`;
    if (path && this.revealed !== place) {
      changed = true;
      this.revealed = place;
      const segments = path.split("/").slice(0, -1);
      for (let i = 1; i <= segments.length; i++) this.expanded.add(pathKey(segments.slice(0, i).join("/")));
      saveExpanded(this.roomId, this.expanded);
    }
    if (changed) this.render();
  }

  /** `people`: fileId -> [{name, color}], drawn as dots on the files' rows. */
  showPeople(people) {
    this.people = people;
    for (const [fileId, slot] of this.peopleSlots) fillPeople(slot, people.get(fileId));
  }

  render() {
    const rows = [];
    this.peopleSlots.clear();
    const walk = (folder, depth) => {
      for (const child of folder.folders) {
        const key = `d:${pathKey(child.path)}`;
        const open = this.expanded.has(pathKey(child.path));
        rows.push(this.row(key, depth, child.name, {
          open, title: child.path,
          item: { kind: "folder", path: child.path, folder: child },
        }));
        if (open) walk(child, depth + 1);
      }
      for (const file of folder.files) {
        rows.push(this.row(`f:${file.id}`, depth, file.name, {
          title: file.path, item: { kind: "file", id: file.id, path: file.path },
        }));
      }
    };
    walk(this.tree, 1);
    if (!rows.some((r) => r.dataset.key === this.focusKey)) {
      this.focusKey = rows.find((r) => r.dataset.key === `f:${this.active}`)?.dataset.key ?? rows[0]?.dataset.key ?? null;
    }
    for (const row of rows) row.tabIndex = row.dataset.key === this.focusKey ? 0 : -1;
    const hadFocus = this.list.contains(document.activeElement);
    this.list.replaceChildren(...rows);
    if (hadFocus) this.rowOf(this.focusKey)?.focus();
  }

  row(key, depth, name, { open, title, item }) {
    const isFile = item.kind === "file";
    const actions = el("span", { className: "tree-actions" });
    const action = (label, symbol, run) => el("button", {
      type: "button", className: "tree-action", tabIndex: -1, title: label, "attr:aria-label": label,
      "on:click": (event) => {
        event.stopPropagation();
        run();
      },
    }, symbol);
    if (!this.actions.readOnly) {
      if (!isFile) actions.append(action(`New file in ${item.path}`, "+", () => this.actions.create(item.path)));
      actions.append(action(`Rename ${item.path}`, "✎", () => this.actions.rename(item)));
      if (!isFile || this.actions.canDelete(item.id)) {
        actions.append(action(`Delete ${item.path}`, "✕", () => this.actions.remove(item)));
      }
    }
    const people = el("span", { className: "tree-people" });
    if (isFile) {
      this.peopleSlots.set(item.id, people);
      fillPeople(people, this.people.get(item.id));
    }
    const row = el(
      "li",
      {
        className: `tree-row ${isFile ? "file" : "folder"}`,
        title,
        "attr:role": "treeitem",
        "attr:aria-level": depth,
        "attr:style": `--depth:${depth - 1}`,
        "on:click": () => this.activate(key),
      },
      el("span", { className: "twisty", "attr:aria-hidden": "true" }, isFile ? "" : open ? "▾" : "▸"),
      el("span", { className: "tree-name" }, name),
      people,
      actions,
    );
    row.dataset.key = key;
    row.item = item;
    if (isFile) row.setAttribute("aria-selected", String(item.id === this.active));
    else row.setAttribute("aria-expanded", String(open));
    return row;
  }

  rowOf(key) {
    return [...this.list.children].find((r) => r.dataset.key === key) ?? null;
  }

  focus(key, move = true) {
    this.focusKey = key;
    for (const row of this.list.children) row.tabIndex = row.dataset.key === key ? 0 : -1;
    if (move) this.rowOf(key)?.focus();
  }

  /** Opens a file's row, or opens or closes a folder's. */
  activate(key) {
    const row = this.rowOf(key);
    if (!row) return;
    this.focus(key, false);
    if (row.item.kind === "file") this.actions.open(row.item.id);
    else this.toggle(row.item.path);
  }

  toggle(path, open = !this.expanded.has(pathKey(path))) {
    if (open) this.expanded.add(pathKey(path));
    else this.expanded.delete(pathKey(path));
    saveExpanded(this.roomId, this.expanded);
    this.render();
  }

  onKey(event) {
    const rows = [...this.list.children];
    const index = rows.findIndex((r) => r.dataset.key === this.focusKey);
    const row = rows[index];
    if (!row || event.target.closest?.("button")) return;
    const item = row.item;
    const isFolder = item.kind === "folder";
    const open = isFolder && this.expanded.has(pathKey(item.path));
    const go = (i) => rows[i] && this.focus(rows[i].dataset.key);
    switch (event.key) {
      case "ArrowDown": go(index + 1); break;
      case "ArrowUp": go(index - 1); break;
      case "Home": go(0); break;
      case "End": go(rows.length - 1); break;
      case "ArrowRight":
        if (isFolder && !open) this.toggle(item.path, true);
        else if (isFolder) go(index + 1);
        break;
      case "ArrowLeft": {
        if (isFolder && open) {
          this.toggle(item.path, false);
          break;
        }
        const level = Number(row.getAttribute("aria-level"));
        for (let i = index - 1; i >= 0; i--) {
          if (Number(rows[i].getAttribute("aria-level")) < level) {
            go(i);
            break;
          }
        }
        break;
      }
      case "Enter":
      case " ":
        this.activate(row.dataset.key);
        break;
      case "F2":
        if (!this.actions.readOnly) this.actions.rename(item);
        break;
      case "Delete":
        if (!this.actions.readOnly && (isFolder || this.actions.canDelete(item.id))) this.actions.remove(item);
        break;
      default: {
        if (event.key.length !== 1 || event.ctrlKey || event.metaKey || event.altKey) return;
        // Type-ahead: the next name starting with the letter.
        const letter = event.key.toLowerCase();
        for (let step = 1; step <= rows.length; step++) {
          const candidate = rows[(index + step) % rows.length];
          if (candidate.querySelector(".tree-name").textContent.toLowerCase().startsWith(letter)) {
            this.focus(candidate.dataset.key);
            break;
          }
        }
      }
    }
    event.preventDefault();
  }
}

function fillPeople(slot, people = []) {
  slot.replaceChildren(...people.map((p) => el("span", {
    className: "dot", title: p.name, "attr:style": `background:${p.color}`,
  })));
  slot.title = people.map((p) => p.name).join(", ");
}

function loadExpanded(roomId) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(EXPANDED_KEY(roomId)) ?? "[]");
    return Array.isArray(saved) ? saved.filter((k) => typeof k === "string") : [];
  } catch {
    return [];
  }
}

function saveExpanded(roomId, expanded) {
  try {
    sessionStorage.setItem(EXPANDED_KEY(roomId), JSON.stringify([...expanded]));
  } catch {
    // Storage full or disabled: folders start closed next time.
  }
}

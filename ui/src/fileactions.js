// New, rename and delete, each through a dialog and the REST API. The server checks the
// path, and its refusal shows in the dialog, which stays open; the change then reaches
// everyone, this page included, through the room's list of files.

import { byId, toast } from "./dom.js";
import { baseName, cleanPath, createFile, deleteFile, filesUnder, folderOf, renameFile } from "./files.js";

export class FileActions {
  /** `site` is the room as session.js names it, with its first file's id (`mainId`);
   * `onRenamed(fileId, path)` is told of each file this page renamed. */
  constructor(site, workspace, { onRenamed = () => {} } = {}) {
    this.room = site.path;
    this.mainId = site.mainId;
    this.workspace = workspace;
    this.onRenamed = onRenamed;
    this.pathDialog = byId("path-dialog");
    this.confirmDialog = byId("confirm-dialog");
  }

  /** Asks for a new file's path, starting in `folder` (the folder of the file in front). */
  create(folder = folderOf(this.workspace.path(this.workspace.active?.fileId) ?? "")) {
    const prefix = folder ? `${folder}/` : "";
    this.askPath("New file", "Create", prefix, [prefix.length, prefix.length], async (path) => {
      const { fileId, path: created } = await createFile(this.room, path);
      this.workspace.known.set(fileId, created);
      this.workspace.open(fileId);
    });
  }

  /** Renames a file, or moves every file of a folder. */
  rename(item) {
    const name = baseName(item.path);
    const dot = item.kind === "file" ? name.lastIndexOf(".") : -1;
    const start = item.path.length - name.length;
    const end = dot > 0 ? start + dot : item.path.length;
    const heading = item.kind === "file" ? "Rename file" : "Rename folder";
    this.askPath(heading, "Rename", item.path, [start, end], async (path) => {
      if (item.kind === "file") {
        if (path !== item.path) {
          await renameFile(this.room, item.id, path, item.path);
          this.onRenamed(item.id, path);
        }
        return;
      }
      // A folder is its files' paths: each is moved in turn, and a failure says how far it got.
      if (path === item.path) return;
      const moving = filesUnder(item.folder);
      let moved = 0;
      try {
        for (const file of moving) {
          const to = path + file.path.slice(item.path.length);
          await renameFile(this.room, file.id, to, file.path);
          this.onRenamed(file.id, to);
          moved += 1;
        }
      } catch (failure) {
        throw new Error(moved ? `Moved ${moved} of ${moving.length} files, then: ${failure.message}` : failure.message);
      }
    });
  }

  /** Deletes a file, or every file of a folder (the first file stays), once confirmed. */
  async remove(item) {
    const doomed = item.kind === "file"
      ? [{ id: item.id, path: item.path }]
      : filesUnder(item.folder).filter((f) => f.id !== this.mainId);
    if (!doomed.length) {
      toast("The first file cannot be deleted");
      return;
    }
    const question = item.kind === "file"
      ? `Delete ${item.path}? It is deleted for everyone in the room.`
      : `Delete the folder ${item.path} and its ${doomed.length} ${doomed.length === 1 ? "file" : "files"}? They are deleted for everyone in the room.`;
    if (!(await this.confirm(question, "Delete"))) return;
    let deleted = 0;
    try {
      for (const file of doomed) {
        await deleteFile(this.room, file.id);
        deleted += 1;
      }
      toast(deleted === 1 ? `Deleted ${doomed[0].path}` : `Deleted ${deleted} files`);
    } catch (failure) {
      toast(deleted ? `Deleted ${deleted} of ${doomed.length} files, then: ${failure.message}` : failure.message);
    }
  }

  /**
   * Asks for a path in the path dialog, titled `heading`, starting from `value` with
   * `selected` (a [start, end] range) chosen. `submit(path)` does the work and throws a
   * message to show; the dialog stays open until it succeeds or is cancelled.
   */
  askPath(heading, action, value, selected, submit) {
    const dialog = this.pathDialog;
    const input = byId("path-input");
    const error = byId("path-error");
    const save = byId("path-save");
    byId("path-dialog-title").textContent = heading;
    save.textContent = action;
    input.value = value;
    error.textContent = "";
    const from = document.activeElement;
    dialog.querySelector("button.cancel").onclick = () => dialog.close();
    dialog.querySelector("form").onsubmit = async (event) => {
      event.preventDefault();
      const clean = cleanPath(input.value);
      if (clean.error) {
        error.textContent = clean.error;
        return;
      }
      save.disabled = true;
      try {
        await submit(clean.path);
        dialog.close();
      } catch (failure) {
        error.textContent = failure.message;
        input.focus();
      } finally {
        save.disabled = false;
      }
    };
    dialog.addEventListener("close", () => this.returnFocus(from), { once: true });
    dialog.showModal();
    input.focus();
    input.setSelectionRange(...selected);
  }

  /** Back to where the dialog was opened from: the tree (a keyboard user keeps their
   * place there), or else the editor. */
  returnFocus(from) {
    const row = from?.closest?.("#tree") ? document.querySelector("#tree [role=treeitem][tabindex='0']") : null;
    if (row) row.focus();
    else this.workspace.active?.view.focus();
  }

  /** Asks to confirm `question`; resolves to whether the person agreed. */
  confirm(question, action) {
    const dialog = this.confirmDialog;
    byId("confirm-text").textContent = question;
    byId("confirm-yes").textContent = action;
    const from = document.activeElement;
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => {
        resolve(dialog.returnValue === "yes");
        this.returnFocus(from);
      }, { once: true });
      dialog.returnValue = "";
      dialog.showModal();
    });
  }
}

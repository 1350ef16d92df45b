// Change the code and run again. The source panel of a demo's run, or of a script's
// (`coroscope run`, from History or a trace file), turns into a text field (Edit); Run
// sends its text when it differs from the tutorial's (a script's: always, as `start` with
// `script`: the run's id), and the server runs it in the same bounded child as any demo
// (only for the browser that opened the address the server printed: GET /api/edit says
// whether, and why not). A run of edited code carries its diff against the original
// (`run.edited`), shown by a badge. A panel (scheduler.js): a new run on screen ends the
// editing, its text being that run's now.

import { serverText, t } from "./i18n.js";
import { DATA } from "./scheduler.js";

export class SourceEditor {
  /**
   * `ui`: bar (the row of the controls below), edit, reset, mark ("edited" while the text
   * differs), badge (a run's diff), why (why editing is off), code (the source rows),
   * diff (the diff view), box (the editor: gutter and text). `picker`: the form, put on
   * the demo being edited. `server`: false on a page with no server (nothing to run).
   */
  constructor({ ui, feed, picker, server }) {
    this.flags = DATA;
    Object.assign(this, { ui, feed, picker, server });
    this.access = null; // {allowed, why} once the server said
    this.fetchAccess = null;
    this.edit = null; // while editing: {demo, script, params, file, original, start}
    this.shownKey = null; // the run whose controls are drawn
    ui.edit.addEventListener("click", () => this.toggle());
    ui.reset.addEventListener("click", () => {
      this.setText(this.edit.original);
      ui.text.focus();
    });
    ui.badge.addEventListener("click", () => this.showDiff(ui.diff.hidden));
    ui.why.addEventListener("click", () => ui.why.classList.toggle("open"));
    ui.text.addEventListener("input", () => this.changed());
    ui.text.addEventListener("scroll", () => {
      ui.gutter.scrollTop = ui.text.scrollTop;
    });
    ui.text.addEventListener("keydown", (e) => {
      // Python is indented with spaces; Escape gives Tab back to the page.
      if (e.key === "Tab" && !e.shiftKey && !e.ctrlKey && !e.altKey && !e.metaKey) {
        e.preventDefault();
        ui.text.setRangeText("    ", ui.text.selectionStart, ui.text.selectionEnd, "end");
        this.changed();
      } else if (e.key === "Escape") {
        ui.text.blur();
      }
    });
    // The text belongs to one demo's file: picking another demo (or variant) drops it.
    picker.select.addEventListener("change", () => this.formChanged());
    picker.paramsEl.addEventListener("change", (e) => {
      if (e.target.name === "variant") this.formChanged();
    });
    // The secret may be given later, in another tab (the printed address sets the
    // cookie): back on this one, ask again.
    window.addEventListener("focus", () => {
      if (this.access && !this.access.allowed) this.ask();
    });
  }

  /** Ask the server whether this browser may run edited code. */
  async ask(fetchAccess = this.fetchAccess) {
    this.fetchAccess = fetchAccess;
    try {
      this.access = await fetchAccess();
    } catch (err) {
      this.access = { allowed: false, why: err.message };
    }
    this.render();
  }

  reset() {
    // The run started from the edited text has no source until its frame comes: keep
    // editing meanwhile (if the server refuses it, the text is still here).
    if (this.edit && !this.feed.info?.source) return this.render();
    this.edit = null;
    this.showDiff(false);
    this.render();
  }

  update() {
    const key = `${this.feed.runId}:${Boolean(this.feed.info?.edited)}`;
    if (key !== this.shownKey) this.render();
  }

  relabel() {
    this.render();
  }

  snapshot() {
    return {
      editing: Boolean(this.edit), allowed: this.access?.allowed ?? false,
      readOnly: this.ui.why.hidden ? "" : this.ui.why.textContent,
    };
  }

  /** The editable source on screen, a demo's or a script's: {demo, script (the run's id),
   * params, file, text, original, diff}, or null. */
  shown() {
    const info = this.feed.info;
    const text = info?.source?.text;
    if (!info || !text) return null;
    const script = !info.demo && info.script && this.feed.following ? this.feed.runId : null;
    if (!info.demo && !script) return null;
    const diff = info.edited?.diff ?? null;
    return {
      demo: info.demo ?? null, script, params: info.params ?? {}, file: info.source.file, text, diff,
      original: diff ? unpatch(text, diff) : text,
    };
  }

  /** Why the run on screen, of no demo, has no source to edit (null: it has, or it is a
   * demo's run, or nothing is on screen). */
  unknownSource() {
    const info = this.feed.info;
    if (!info || info.demo || !this.feed.runId || this.shown()) return null;
    if (!info.source?.text) return t("edit.why.nosource");
    if (info.script) return t("edit.why.loaded"); // given to the page, not held by the server
    return t("edit.why.noscript");
  }

  /** What Run starts when the picker names an opened script's run: {run, source, title,
   * info}, or null (nothing it may run). The text is the editor's while editing. */
  scriptStart() {
    if (!this.access?.allowed) return null;
    const s = this.edit?.script ? this.edit : this.shown();
    if (!s?.script) return null;
    const info = this.feed.info;
    // A trace file's script is someone's code, come in a file: it runs from the editor
    // only, where it is read first, never from a bare Run.
    if (!this.edit && info?.imported_from) return null;
    return {
      run: s.script, source: this.edit ? this.text() : s.text,
      info: { title: info?.title, script: info?.script },
    };
  }

  /** What Run sends for `demoId` with `params`: the panel's text when it is that demo's
   * file and differs from the tutorial's; null (run the tutorial's file) otherwise. */
  sourceFor(demoId, params) {
    if (!this.access?.allowed) return null;
    const s = this.edit ?? this.shown();
    if (!s || s.demo !== demoId || s.params.variant !== params.variant) return null;
    const text = this.edit ? this.text() : s.text;
    return text !== s.original ? text : null;
  }

  text() {
    const text = this.ui.text.value;
    return text && !text.endsWith("\n") ? `${text}\n` : text;
  }

  async toggle() {
    if (this.edit) {
      if (this.text() === this.edit.start || window.confirm(t("edit.discard", { file: this.edit.file }))) {
        this.edit = null;
        this.render();
      }
      return;
    }
    if (!this.access?.allowed && this.fetchAccess && !this.unknownSource()) {
      await this.ask(); // the secret may have come since (another tab opened the address)
    }
    if (!this.access?.allowed || this.unknownSource()) {
      this.ui.why.classList.toggle("open");
      return;
    }
    const s = this.shown();
    if (!s) return;
    // Run runs what is edited: the form goes back to the demo on screen (a script's run
    // keeps the picker on it).
    if (s.demo) this.picker.show(s.demo, s.params);
    this.edit = {
      demo: s.demo, script: s.script, params: s.params, file: s.file, original: s.original, start: s.text,
    };
    this.showDiff(false);
    this.setText(s.text);
    this.render();
    this.ui.text.focus();
    this.ui.text.setSelectionRange(0, 0);
  }

  /** The form moved to another demo or variant while editing: drop the text, if the user
   * agrees (else the form goes back). */
  formChanged() {
    const edit = this.edit;
    if (!edit) return;
    const demo = this.picker.selected();
    const variant = this.picker.input("variant");
    const same = edit.script ? !demo : demo?.id === edit.demo && (!variant || demo.params.find((p) => p.name === "variant")
      ?.choices[Number(variant.value)] === edit.params.variant);
    if (same) return;
    if (this.text() === edit.start || window.confirm(t("edit.discard", { file: edit.file }))) {
      this.edit = null;
      this.render();
    } else if (edit.script) {
      this.picker.show(null, {}, this.feed.info?.title ?? edit.file);
    } else {
      this.picker.show(edit.demo, edit.params);
    }
  }

  setText(text) {
    this.ui.text.value = text;
    this.ui.text.scrollTop = 0;
    this.changed();
  }

  changed() {
    const { ui } = this;
    const lines = ui.text.value.split("\n").length - (ui.text.value.endsWith("\n") ? 1 : 0);
    if (lines !== this.gutterLines) {
      this.gutterLines = lines;
      ui.gutter.textContent = Array.from({ length: Math.max(lines, 1) }, (_, i) => i + 1).join("\n");
    }
    ui.gutter.scrollTop = ui.text.scrollTop;
    const differs = Boolean(this.edit) && this.text() !== this.edit.original;
    ui.mark.hidden = !differs;
    ui.reset.disabled = !differs;
  }

  showDiff(on) {
    const { ui } = this;
    const diff = on ? this.shown()?.diff : null;
    ui.diff.hidden = !diff;
    ui.code.hidden = Boolean(diff || this.edit);
    ui.badge.setAttribute("aria-pressed", String(Boolean(diff)));
    if (!diff) return;
    const frag = document.createDocumentFragment();
    let body = false; // past the file names, in the hunks
    for (const line of diff.replace(/\n$/, "").split("\n")) {
      body ||= line.startsWith("@@");
      const row = document.createElement("div");
      row.className = !body ? "diff-file"
        : { "+": "diff-add", "-": "diff-del", "@": "diff-hunk" }[line[0]] ?? "diff-ctx";
      row.textContent = line || " ";
      frag.append(row);
    }
    ui.diff.replaceChildren(frag);
    ui.diff.scrollTop = 0;
  }

  render() {
    const { ui } = this;
    const s = this.shown();
    this.shownKey = `${this.feed.runId}:${Boolean(this.feed.info?.edited)}`;
    const editing = Boolean(this.edit);
    // A run of no demo whose source is not known (or not a script's) is read-only, and
    // says why.
    const unknown = this.server && !editing ? this.unknownSource() : null;
    const canOffer = this.server && this.access !== null && (editing || s !== null || unknown !== null);
    const badge = !editing && Boolean(s?.diff);
    ui.bar.hidden = !canOffer && !badge;
    ui.edit.hidden = !canOffer;
    ui.edit.textContent = t(editing ? "edit.stop" : "edit");
    const locked = canOffer && (!this.access.allowed || unknown !== null);
    // Locked, it still takes a click: it shows why in full.
    ui.edit.classList.toggle("locked", locked);
    ui.edit.title = locked ? t("edit.locked") : t(editing ? "edit.stop.title"
      : s?.script ? "edit.title.script" : "edit.title");
    ui.why.hidden = !locked;
    if (locked) {
      ui.why.textContent = t("edit.why", { why: unknown ?? whyText(this.access.why) });
      ui.why.title = ui.why.textContent;
    }
    const script = Boolean(this.edit?.script ?? s?.script);
    ui.reset.title = t(script ? "edit.reset.title.script" : "edit.reset.title");
    ui.mark.title = t(script ? "edit.mark.title.script" : "edit.mark.title");
    this.picker.updateRun();
    ui.reset.hidden = !editing;
    if (!editing) ui.mark.hidden = true;
    ui.badge.hidden = !badge;
    if (badge) {
      const { added, removed } = diffStats(s.diff);
      ui.badge.textContent = t("edit.badge", { added, removed });
      ui.badge.title = t(s.script ? "edit.badge.title.script" : "edit.badge.title", { added, removed });
    } else if (!ui.diff.hidden) {
      ui.diff.hidden = true;
    }
    ui.box.hidden = !editing;
    ui.code.hidden = editing || !ui.diff.hidden;
    if (editing) this.changed();
  }
}

/** The server's reasons are English (app/web): those it gives here, in the page's language. */
function whyText(why) {
  if (/^editing demos is off on this server/.test(why ?? "")) return t("edit.why.host");
  if (/^editing needs the address the server printed/.test(why ?? "")) return t("edit.why.cookie");
  return serverText(why);
}

/** Lines a unified diff adds and removes. */
export function diffStats(diff) {
  let added = 0;
  let removed = 0;
  let body = false; // past the file names
  for (const line of diff.split("\n")) {
    body ||= line.startsWith("@@");
    if (body && line[0] === "+") added++;
    else if (body && line[0] === "-") removed++;
  }
  return { added, removed };
}

/** The text before a unified diff (difflib's, as the server makes it) from the text after. */
export function unpatch(after, diff) {
  const lines = after.replace(/\n$/, "").split("\n");
  const out = [];
  let pos = 0; // the next line of `after` not yet copied
  let body = false; // past the file names
  for (const line of diff.replace(/\n$/, "").split("\n")) {
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@/.exec(line);
    if (hunk) {
      // "+c,d": d lines from line c; with d = 0, c is the line before them.
      const start = hunk[2] === "0" ? Number(hunk[1]) : Number(hunk[1]) - 1;
      while (pos < start) out.push(lines[pos++]);
      body = true;
    } else if (!body) {
      continue;
    } else if (line.startsWith("-")) {
      out.push(line.slice(1));
    } else if (line.startsWith("+")) {
      pos++;
    } else if (line.startsWith(" ")) {
      out.push(line.slice(1));
      pos++;
    }
  }
  while (pos < lines.length) out.push(lines[pos++]);
  return `${out.join("\n")}\n`;
}

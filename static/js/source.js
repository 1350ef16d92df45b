// The run's source, with one marker per coroutine on the line it is paused at (the line
// of its last switch out before the cursor) and the running one highlighted: a learner
// sees where each greenlet waits and where it will resume. A panel (scheduler.js): the
// marks follow the player's cursor; a new run brings its own source (its feed's).

import { t as tr } from "./i18n.js";
import { CURSOR, DATA } from "./scheduler.js";
import { taskColor } from "./timeline.js";

export class SourcePanel {
  constructor({ root, fileEl, feed, player }) {
    this.flags = DATA | CURSOR;
    this.root = root;
    this.fileEl = fileEl;
    this.feed = feed;
    this.player = player;
    this.lines = [];
    this.rows = [];
    this.key = "";
    this.marks = [];
  }

  reset() {
    this.setSource(this.feed.info?.source);
  }

  update() {
    this.render(this.feed.store, this.player.cursor, this.player.follow);
  }

  relabel() {
    this.key = "";
  }

  snapshot() {
    return { marks: SourcePanel.marksAt(this.feed.store, this.player.cursor) };
  }

  setSource(source) {
    this.lines = source?.text ? String(source.text).replace(/\n$/, "").split("\n") : [];
    this.fileEl.textContent = source?.file ?? "";
    this.key = "";
    const frag = document.createDocumentFragment();
    this.rows = this.lines.map((text, i) => {
      const row = document.createElement("div");
      row.className = "src-line";
      row.dataset.line = String(i + 1);
      const num = document.createElement("span");
      num.className = "src-num";
      num.textContent = String(i + 1);
      const code = document.createElement("span");
      code.className = "src-code";
      code.textContent = text || " ";
      const marks = document.createElement("span");
      marks.className = "src-marks";
      row.append(num, code, marks);
      frag.append(row);
      return row;
    });
    if (!this.lines.length) {
      const empty = document.createElement("div");
      empty.className = "panel-empty";
      empty.textContent = tr("source.empty");
      frag.append(empty);
    }
    this.root.replaceChildren(frag);
  }

  line(n) {
    return this.lines[n - 1] ?? null;
  }

  /**
   * The marks at time `t`: every task alive at `t` that has paused at a known line, and
   * the running task (on the line it resumed at, if known).
   */
  static marksAt(store, t) {
    const running = store.runningAt(t);
    const marks = [];
    for (const task of store.lanes) {
      if (task.spawnedAt > t || task.finishedAt <= t) continue;
      const k = store.lastPauseAt(task, t);
      const line = k >= 0 ? store.raw.line[k] : -1;
      const isRunning = task.id === running;
      if (line < 0 && !isRunning) continue;
      marks.push({ task: task.id, line: line >= 0 ? line : null, running: isRunning });
    }
    return marks;
  }

  render(store, t, follow) {
    const marks = SourcePanel.marksAt(store, t);
    this.marks = marks;
    const key = marks.map((m) => `${m.task}:${m.line}:${m.running ? 1 : 0}`).join(",");
    if (key === this.key && this.lang === document.documentElement.lang) return;
    this.key = key;
    this.lang = document.documentElement.lang;
    for (const row of this.root.querySelectorAll(".src-line.marked")) {
      row.classList.remove("marked", "running");
      row.style.removeProperty("--run");
      row.lastChild.replaceChildren();
    }
    let runningRow = null;
    for (const m of marks) {
      const row = this.rows[(m.line ?? 0) - 1];
      if (!row) continue;
      const task = store.tasks[m.task];
      const color = taskColor(task);
      row.classList.add("marked");
      const chip = document.createElement("span");
      chip.className = m.running ? "src-chip running" : "src-chip";
      chip.style.setProperty("--c", color);
      chip.textContent = task.label;
      chip.title = m.running ? tr("source.running", { task: task.label }) : tr("source.paused", { task: task.label });
      if (m.running) {
        row.classList.add("running");
        row.style.setProperty("--run", color);
        row.lastChild.prepend(chip);
        runningRow = row;
      } else {
        row.lastChild.append(chip);
      }
    }
    const target = runningRow ?? this.rows[(marks[0]?.line ?? 0) - 1];
    if (target && !follow) {
      const r = target.offsetTop;
      const { scrollTop, clientHeight } = this.root;
      if (r < scrollTop + 20 || r > scrollTop + clientHeight - 40) this.root.scrollTop = r - clientHeight / 3;
    }
  }
}

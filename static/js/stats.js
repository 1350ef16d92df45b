// Per-task statistics (the definitions of app/spans.py) and the run's warnings, as a
// panel (scheduler.js) over the run's feed: live, up to the present.

import { StatsAccumulator } from "./analysis.js";
import { formatDuration, formatSeconds } from "./format.js";
import { formatCount, saidText, t as tr } from "./i18n.js";
import { CLOCK, DATA } from "./scheduler.js";
import { taskColor } from "./timeline.js";

const FIELDS = ["running", "blocked", "parked", "switches_in", "switches_out"];

export class StatsPanel {
  /** `frame.extent`: how far the run reaches in this frame (the scheduler's tick);
   * `title`: the panel's title, which says when the trace is a window of its run. */
  constructor({ root, title, feed, frame, onPick }) {
    this.flags = DATA | CLOCK;
    this.feed = feed;
    this.store = feed.store;
    this.frame = frame;
    this.root = root;
    this.title = title;
    this.onPick = onPick;
    this.stats = null;
    this.key = "";
    this.computedAt = 0;
    this.acc = null; // fed the rows of accStore as they arrive
    this.accStore = null;
    root.addEventListener("click", (e) => {
      const row = e.target.closest("[data-t]");
      if (row) this.onPick(Number(row.dataset.t));
    });
  }

  reset() {
    this.stats = null;
    this.key = "";
    this.acc = this.accStore = null;
    this.root.replaceChildren();
    this.retitle();
  }

  /** "whole run", unless the trace is a flight recorder's window that starts mid-run
   * (a snapshot, or a flight-recorded run, which keeps its last window): then how long
   * a window it holds, as the flight bar says (whole batches: a little over the chosen). */
  retitle() {
    const f = this.feed.info?.flight;
    const kept = f?.to_ns > f?.from_ns ? formatDuration(f.to_ns - f.from_ns) : formatSeconds(f?.window_ns ?? 0);
    const text = f?.from_ns > 0 ? tr("stats.title.window", { window: kept }) : tr("stats.title");
    if (this.title.textContent !== text) this.title.textContent = text;
  }

  update() {
    const { feed, store } = this;
    this.compute(feed.durationNs ?? (feed.growing ? this.frame.extent : store.lastT), feed.growing);
  }

  relabel() {
    this.recompute();
  }

  /** The statistics of the whole run as it stands, computed now. */
  recompute() {
    this.compute(this.feed.durationNs ?? this.store.lastT, false, true);
    return this.stats;
  }

  snapshot() {
    return this.store.length ? this.stats ?? null : null;
  }

  /**
   * Recompute when the store or the end moved. The accumulator reads only the rows added
   * since the last time; while streaming, the table is rebuilt at most every 300 ms (and
   * never more than a tenth of the time), as ingesting the stream matters more.
   */
  compute(durationNs, live, force = false) {
    const store = this.store;
    const key = `${store.version}:${durationNs}:${store.warnings.length}:${document.documentElement.lang}`;
    if (key === this.key && !force) return;
    const now = performance.now();
    if (live && !force && now - this.computedAt < Math.max(300, 10 * (this.cost || 0))) return;
    this.key = key;
    this.computedAt = now;
    if (this.accStore !== store || store.length < this.acc.done) {
      this.acc = new StatsAccumulator();
      this.accStore = store;
    }
    this.acc.feed(store);
    this.stats = store.length ? this.acc.result(store, durationNs) : null;
    this.cost = performance.now() - now;
    this.render(store);
  }

  render(store) {
    this.retitle();
    const s = this.stats;
    if (!s) {
      const empty = document.createElement("div");
      empty.className = "panel-empty";
      empty.textContent = tr("stats.empty");
      this.root.replaceChildren(empty);
      return;
    }
    const table = document.createElement("table");
    table.className = "stats-table";
    const head = table.createTHead().insertRow();
    for (const key of ["task", ...FIELDS]) {
      const th = document.createElement("th");
      th.textContent = tr(`stats.${key}`);
      th.title = tr(`stats.${key}.title`);
      head.append(th);
    }
    const body = table.createTBody();
    const cell = (row, key, value) => {
      const td = row.insertCell();
      td.textContent = key.startsWith("switches") ? formatCount(value) : formatDuration(value);
      if (key === "blocked" && value > 0) td.className = "warn";
    };
    for (const task of s.tasks) {
      const row = body.insertRow();
      const name = row.insertCell();
      const t = store.tasks[task.id];
      name.innerHTML = "";
      const b = document.createElement("b");
      b.textContent = t?.label ?? task.name;
      if (t) b.style.color = taskColor(t);
      name.append(b);
      for (const key of FIELDS) cell(row, key, task[key]);
    }
    const foot = table.createTFoot().insertRow();
    foot.insertCell().textContent = tr("stats.total");
    for (const key of FIELDS) cell(foot, key, s.totals[key]);

    const parts = [table];
    const warnings = this.warningList(store, s);
    if (warnings) parts.push(warnings);
    this.root.replaceChildren(...parts);
  }

  warningList(store, s) {
    if (!store.warnings.length) return null;
    const list = document.createElement("ul");
    list.className = "warnings";
    list.dataset.testid = "warnings";
    for (const w of store.warnings.slice(0, 50)) {
      const li = document.createElement("li");
      li.dataset.t = String(w.t);
      li.dataset.kind = w.kind;
      li.title = tr("warn.pick");
      li.textContent = warningText(store, w, s.end);
      list.append(li);
    }
    return list;
  }
}

/** What a warning says, in the page's language (`end`: where a still-open one stops). */
export function warningText(store, w, end) {
  const task = store.tasks[w.task];
  return tr(`warn.${w.kind}`, {
    task: task?.label ?? "?",
    call: w.kind === "said" ? saidText(w.detail) : w.detail ?? "",
    line: w.detail || "?",
    duration: formatDuration((Number.isNaN(w.until) ? end : w.until) - w.t),
    count: formatCount(w.count ?? 0),
  });
}

// Two runs one above the other on the same time scale, with their totals side by side.

import { formatDuration } from "./format.js";
import { formatCount, t as tr } from "./i18n.js";
import { Pointer } from "./pointer.js";
import { computeStats, exportToBatches, Store } from "./store.js";
import { Timeline } from "./timeline.js";
import { View } from "./view.js";

const FINAL = ["finished", "error", "cancelled", "limit", "crashed"];

export class Compare {
  constructor({ root, onError, onClose }) {
    this.root = root;
    this.onError = onError;
    this.onClose = onClose;
    this.view = new View();
    this.table = root.querySelector("[data-testid=compare-table]");
    this.slots = [0, 1].map((k) => {
      const wrap = root.querySelector(`#compare-wrap-${k}`);
      const store = new Store();
      const timeline = new Timeline({ wrap, canvas: wrap.querySelector("canvas"), store, view: this.view });
      const pointer = new Pointer({ timeline, view: this.view, onViewChange: () => this.invalidate() });
      new ResizeObserver(() => {
        timeline.resize();
        this.invalidate();
      }).observe(wrap);
      return { store, timeline, pointer, head: root.querySelector(`#compare-head-${k}`), run: null, stats: null };
    });
    this.active = false;
    this.token = 0;
    this.requested = false;
    root.querySelector("#compare-close").addEventListener("click", () => this.close());
    root.querySelector("#compare-fit").addEventListener("click", () => {
      this.view.follow = true;
      this.invalidate();
    });
  }

  setShowHub(on) {
    for (const s of this.slots) s.timeline.showHub = on;
    this.invalidate();
  }

  /** Wait for both runs to end, fetch their traces, draw them. */
  async show(ids, { fetchRun, fetchTrace, demos }) {
    const token = ++this.token;
    this.active = true;
    this.demos = demos;
    this.root.hidden = false;
    for (const s of this.slots) {
      s.store.reset();
      s.run = null;
      s.stats = null;
    }
    this.loading = true;
    this.render();
    const runs = await Promise.all(ids.map(async (id) => {
      for (;;) {
        const r = await fetchRun(id);
        if (FINAL.includes(r.status)) return r;
        await new Promise((ok) => setTimeout(ok, 150));
        if (token !== this.token) return r;
      }
    }));
    if (token !== this.token) return;
    const traces = await Promise.all(runs.map((r) => fetchTrace(r.id)));
    if (token !== this.token) return;
    traces.forEach((trace, k) => {
      const s = this.slots[k];
      for (const b of exportToBatches(trace)) s.store.append(b.seq, b.rows);
      s.run = trace.run;
      s.store.finishWarnings(Math.max(trace.run.duration_ns ?? 0, s.store.lastT));
      s.stats = computeStats(s.store, trace.run.duration_ns);
    });
    this.loading = false;
    this.view.follow = true;
    this.render();
    this.invalidate();
  }

  close() {
    this.token++;
    this.active = false;
    this.root.hidden = true;
    this.onClose();
  }

  extent() {
    return Math.max(1, ...this.slots.map((s) => Math.max(s.store.lastT, s.run?.duration_ns ?? 0)));
  }

  invalidate() {
    if (this.requested || !this.active) return;
    this.requested = true;
    requestAnimationFrame(() => {
      this.requested = false;
      const ext = this.extent();
      if (this.view.follow) this.view.fit(ext);
      for (const s of this.slots) {
        s.timeline.draw(ext);
        s.pointer.refresh();
      }
    });
  }

  summary() {
    if (!this.active) return null;
    return {
      loading: Boolean(this.loading),
      runs: this.slots.map((s) => (s.run ? {
        id: s.run.id, demo: s.run.demo, duration_ns: s.run.duration_ns, switches: s.store.switchCount,
        totals: s.stats?.totals ?? null,
      } : null)),
    };
  }

  render() {
    if (!this.active) return;
    const label = (s) => (s.run ? `${s.run.title ?? s.run.demo} ${paramsText(s.run.params)}` : tr("compare.waiting"));
    this.slots.forEach((s, k) => {
      s.head.textContent = `${k ? "B" : "A"} · ${label(s)}`;
    });
    const rows = [
      ["compare.run", (s) => label(s)],
      ["compare.status", (s) => (s.run ? tr(`history.status.${s.run.status}`) : "…")],
      ["compare.duration", (s) => (s.run ? formatDuration(s.run.duration_ns) : "…")],
      ["compare.switches", (s) => (s.run ? formatCount(s.store.switchCount) : "…")],
      ["compare.running", (s) => (s.stats ? formatDuration(s.stats.totals.running) : "…")],
      ["compare.blocked", (s) => (s.stats ? formatDuration(s.stats.totals.blocked) : "…")],
      ["compare.parked", (s) => (s.stats ? formatDuration(s.stats.totals.parked) : "…")],
      ["compare.warnings", (s) => (s.run ? formatCount(s.store.warnings.length) : "…")],
    ];
    const head = `<tr><th></th><th>A</th><th>B</th></tr>`;
    const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    this.table.innerHTML = head + rows.map(([key, fn]) =>
      `<tr><th>${esc(tr(key))}</th>${this.slots.map((s) => `<td>${esc(fn(s))}</td>`).join("")}</tr>`).join("");
  }
}

function paramsText(params) {
  const entries = Object.entries(params ?? {});
  return entries.length ? `(${entries.map(([k, v]) => `${k}=${v}`).join(", ")})` : "";
}

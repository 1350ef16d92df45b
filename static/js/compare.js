// Two runs one above the other on the same time scale, with their totals side by side:
// two run feeds (feed.js), one frame scheduler (scheduler.js) for both timelines and the
// table.

import { cancelRun, startRunRest } from "./api.js";
import { computeStats, StatsAccumulator } from "./analysis.js";
import { ENDED, RunFeed } from "./feed.js";
import { formatDuration } from "./format.js";
import { formatCount, serverText, t as tr } from "./i18n.js";
import { Pointer } from "./pointer.js";
import { ALL, CLOCK, DATA, PAINT, Scheduler, STATUS } from "./scheduler.js";
import { isScheduler, Store } from "./store.js";
import { Timeline } from "./timeline.js";
import { View } from "./view.js";

const RENDER_EVERY_MS = 250; // the totals, while a side is live

export class Compare {
  /** `showLoading`: the dashboard's "Show loading" at first; `onLoading(on)`: it was
   * toggled here (the dashboard's follows: one preference). */
  constructor({ root, onError, onClose, onChange, onOpen, onShow, titleOf = (info) => info.title,
    showLoading = false, onLoading = () => {} }) {
    this.onOpen = onOpen; // show one side in the full viewer
    this.onShow = onShow; // a pair is shown (the page's address names it)
    this.titleOf = titleOf; // a run's title in the page's language
    this.root = root;
    this.onError = onError;
    this.onClose = onClose;
    this.onChange = onChange; // the page header shows the pair's status
    this.view = new View();
    // As the single view: the window opens at main() (the earlier side's), the loading
    // before it folded away unless shown.
    this.showLoading = showLoading;
    this.onLoading = onLoading;
    this.view.origin = () => {
      if (this.showLoading) return 0;
      const at = this.slots.map((s) => s.store.mainAt).filter((t) => t !== null && t !== undefined);
      return at.length === 2 ? Math.min(...at) : 0;
    };
    this.loadingToggle = root.querySelector("[data-testid=compare-loading-toggle]");
    this.loadingToggle.checked = showLoading;
    this.loadingToggle.addEventListener("change", () => {
      this.setShowLoading(this.loadingToggle.checked);
      this.onLoading(this.showLoading);
    });
    this.table = root.querySelector("[data-testid=compare-table]");
    this.active = false;
    this.pairToken = 0; // bumped when the pair being started is no longer wanted
    this.renderedAt = 0;
    this.scheduler = new Scheduler({
      tick: () => this.tick(),
      paced: () => this.live,
      active: () => this.active,
    });
    // A side drawn on the view's scale, shared; up to where its run reached in this frame.
    const drawSide = (slot) => {
      slot.timeline.draw(this.endOf(slot, this.frameAt));
      slot.pointer.refresh();
    };
    this.slots = [0, 1].map((k) => {
      const wrap = root.querySelector(`#compare-wrap-${k}`);
      const store = new Store();
      const timeline = new Timeline({ wrap, canvas: wrap.querySelector("canvas"), store, view: this.view });
      const pointer = new Pointer({ timeline, view: this.view, onViewChange: () => this.invalidate() });
      // Redrawn in the observer, before the browser paints: a resized canvas is blank.
      new ResizeObserver(() => {
        if (timeline.resize() && this.active) drawSide(slot);
      }).observe(wrap);
      const head = root.querySelector(`#compare-head-${k}`);
      const open = root.querySelector(`#compare-open-${k}`);
      open.addEventListener("click", () => {
        const id = this.slots[k].feed?.info?.id;
        if (id) this.onOpen?.(id);
      });
      const slot = { store, timeline, pointer, head, open, feed: null, id: null, stats: null, acc: null };
      this.scheduler.add(`side${k}`, {
        flags: ALL,
        reset: () => {},
        update: () => drawSide(slot),
        relabel: () => {},
        snapshot: () => ({ drawnUntil: timeline.extent }),
      });
      return slot;
    });
    // One time scale: both plots start at the same x, after the wider gutter of the two.
    const gutter = () => Math.max(...this.slots.map((s) => s.timeline.neededGutter()));
    for (const s of this.slots) s.timeline.sharedGutter = gutter;
    this.scheduler.add("table", {
      flags: STATUS | CLOCK,
      reset: () => {},
      update: (flags) => {
        // A side's news at once; live, the totals a few times a second.
        if (flags & STATUS || (this.live && this.frameAt - this.renderedAt > RENDER_EVERY_MS)) this.render();
      },
      relabel: () => {},
      snapshot: () => this.summary(),
    });
    root.querySelector("#compare-close").addEventListener("click", () => this.close());
    root.querySelector("#compare-fit").addEventListener("click", () => {
      this.view.follow = true;
      this.invalidate();
    });
  }

  /** Start the pair `specs` ({demo, params} each) on the server, then watch it. Given up
   * meanwhile (`abandon`), or if a side cannot start, the runs started are cancelled. */
  async startPair(specs) {
    this.cancel({ ownedOnly: true }); // the previous pair stops before the new one starts
    const token = ++this.pairToken;
    document.body.classList.add("comparing");
    const results = await Promise.allSettled(specs.map((c) => startRunRest(c.demo, c.params)));
    const started = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
    const failed = results.find((r) => r.status === "rejected");
    if (token !== this.pairToken || failed) {
      // Abandoned meanwhile (Run, a run opened, another Run both), or one side could not
      // start (too many runs): nobody would watch the others.
      for (const r of started) cancelRun(r.id).catch(() => {});
      if (failed && token === this.pairToken) {
        if (!this.active) document.body.classList.remove("comparing");
        this.onError(tr("error.compare", { detail: serverText(failed.reason.message) }));
      }
      return;
    }
    this.show(started.map((r) => r.id), { owned: true });
  }

  /** Two runs picked in History. */
  showPicked(ids) {
    this.pairToken++;
    document.body.classList.add("comparing");
    this.show(ids);
  }

  /** The page shows something else: leave the view, give up a pair still starting. */
  abandon() {
    this.pairToken++;
    if (this.active) this.close();
    document.body.classList.remove("comparing");
  }

  setShowLoading(on) {
    this.showLoading = Boolean(on);
    this.loadingToggle.checked = this.showLoading;
    this.view.follow = true;
    this.invalidate();
  }

  setShowHub(on) {
    for (const s of this.slots) s.timeline.showHub = on;
    this.invalidate();
  }

  /**
   * Watch two runs side by side as they happen: each on its own feed and socket (the
   * protocol follows one run per connection), drawn on one time scale that grows with
   * the clock while either is live. Finished runs arrive whole through the same path.
   */
  show(ids, { owned = false } = {}) {
    this.cancel({ ownedOnly: true }); // a new pair replaces the one Run both started
    this.active = true;
    this.owned = owned;
    this.root.hidden = false;
    this.disconnect();
    this.slots.forEach((s, k) => {
      s.id = ids[k];
      s.stats = null;
      s.acc = new StatsAccumulator();
      const feed = new RunFeed({
        store: s.store,
        onReset: () => {
          s.acc = new StatsAccumulator();
        },
        onState: (state, previous, end) => {
          if (state === ENDED && end) {
            s.stats = computeStats(s.store, feed.durationNs);
            feed.close(); // its socket is not needed any more
          }
          this.invalidate(DATA | STATUS);
        },
        onRows: () => this.invalidate(DATA),
        onError: ({ kind, message }) => {
          if (kind !== "seq") feed.close(); // an unknown run, or the connection dropped
          this.onError(kind === "server" ? tr("error.server", { detail: serverText(message) }) : message);
          this.invalidate(STATUS);
        },
      });
      s.feed = feed;
      feed.subscribe(s.id);
    });
    this.view.follow = true;
    this.render();
    this.invalidate();
    this.onShow?.();
  }

  invalidate(flags = ALL) {
    this.scheduler.commit(flags | PAINT);
  }

  /** Each frame: the view fits the longer run while it follows; live, the clock runs on. */
  tick() {
    this.frameAt = performance.now();
    if (this.view.follow) this.view.fit(this.extent());
    if (this.live) {
      this.scheduler.commit(CLOCK | PAINT); // the time axis grows with the clock
      this.onChange?.(); // and so does the header's elapsed time
    }
    return PAINT;
  }

  disconnect() {
    for (const s of this.slots) s.feed?.close();
  }

  /** Waiting for a side to end (test hook and header). */
  get loading() {
    return this.active && this.slots.some((s) => s.feed && s.feed.state !== ENDED);
  }

  /** Cancel the sides not known to have ended, also one whose socket dropped or whose
   * first frame has not come (with ownedOnly: only runs Run both started here; two runs
   * picked in History keep running when the view closes), but not `except`. */
  cancel({ ownedOnly = false, except = null } = {}) {
    if (!this.active || (ownedOnly && !this.owned)) return;
    for (const s of this.slots) {
      // Best effort: a run that ended meanwhile, or is unknown, needs nothing.
      if (s.id && !s.feed?.finished && s.id !== except) cancelRun(s.id).catch(() => {});
    }
  }

  get live() {
    return this.active && this.slots.some((s) => s.feed?.growing);
  }

  /** What the page header says while the compare view is up. */
  headerStatus() {
    if (this.live) return tr("status.comparing", { elapsed: formatDuration(this.extent()) });
    const word = (s) => (s.feed?.info ? tr(`history.status.${s.feed.info.status}`) : "…");
    return tr("status.compared", { a: word(this.slots[0]), b: word(this.slots[1]) });
  }

  /** Leave the view; the pair Run both started is cancelled, but for `keep` (the side
   * being opened in the full viewer: the other one would run on unseen). */
  close({ keep = null } = {}) {
    this.cancel({ ownedOnly: true, except: keep });
    this.disconnect();
    for (const s of this.slots) s.feed = null;
    this.active = false;
    this.root.hidden = true;
    document.body.classList.remove("comparing");
    this.onClose();
  }

  /** Where a side's open spans end: now while it runs, its duration once it has ended. */
  endOf(s, now = performance.now()) {
    return Math.max(s.feed?.extent(now) ?? 0, s.feed?.info?.duration_ns ?? 0);
  }

  /** The shared time scale: the longer of the two. */
  extent() {
    const now = performance.now();
    return Math.max(1, ...this.slots.map((s) => this.endOf(s, now)));
  }

  /** Per-side statistics: final once a side has ended, else up to now (incremental). */
  statsOf(s) {
    if (s.stats || !runOf(s)) return s.stats;
    s.acc.feed(s.store);
    const now = s.feed.growing ? (performance.now() - s.feed.frameAt) * 1e6 : s.store.lastT;
    return s.acc.result(s.store, Math.max(now, s.store.lastT));
  }

  summary() {
    if (!this.active) return null;
    return {
      loading: Boolean(this.loading),
      view: { t0: this.view.t0, t1: this.view.t1 },
      showLoading: this.showLoading,
      runs: this.slots.map((s) => { const run = runOf(s); return run ? {
        id: run.id, demo: run.demo, status: s.feed.growing ? "running" : run.status, live: s.feed.growing,
        duration_ns: run.duration_ns, events: s.store.length, switches: s.store.switchCount,
        drawn_until: s.timeline.extent, // where its open spans were last drawn to
        window: s.timeline.g ? [s.timeline.g.t0, s.timeline.g.t1] : null, // its time scale, as drawn
        totals: s.stats?.totals ?? null,
      } : null; }),
    };
  }

  render() {
    if (!this.active) return;
    this.renderedAt = performance.now();
    this.slots.forEach((s, k) => {
      const run = runOf(s);
      s.open.disabled = !run;
      s.head.textContent = `${k ? "B" : "A"} · ${run ? `${this.titleOf(run) || run.demo} ${paramsText(run.params)}` : tr("compare.waiting")}`;
      // Each side gets room in proportion to its lanes (one lane needs little).
      s.head.closest(".compare-run").style.flexGrow = String(2 + Math.min(s.timeline.lanes.length, 12));
    });
    const stats = this.slots.map((s) => this.statsOf(s));
    const now = performance.now();
    // The Hub's time and the event loop's are the same thing: the scheduler's.
    const ran = (k, hub) => {
      const st = stats[k];
      if (!st) return "…";
      let sum = 0;
      for (const task of st.tasks) if (isScheduler(task.kind) === hub) sum += task.running;
      // main "runs" while the demo file loads (imports, monkey.patch_all()): not the
      // demo's code, and longer on the patched side.
      if (!hub) sum = Math.max(0, sum - (this.slots[k].store.mainAt ?? 0));
      return formatDuration(sum);
    };
    const columns = [
      ["compare.status", (s) => (!runOf(s) ? "…" : s.feed.growing
        ? `${tr("history.status.running")} · ${formatDuration((now - s.feed.frameAt) * 1e6)}`
        : `${tr(`history.status.${s.feed.info.status}`)} · ${formatDuration(s.feed.info.duration_ns)}`)],
      ["compare.switches", (s) => (runOf(s) ? formatCount(s.store.switchCount) : "…")],
      ["compare.tasks", (s) => (runOf(s) ? formatCount(s.store.lanes.length) : "…")],
      ["compare.user", (s, k) => ran(k, false)],
      [this.schedulerKey(), (s, k) => ran(k, true)],
      ["compare.blocked", (s, k) => (stats[k] ? formatDuration(stats[k].totals.blocked) : "…")],
      ["compare.warnings", (s) => (runOf(s) ? formatCount(s.store.warnings.length) : "…")],
    ];
    const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const head = `<tr><th></th>${columns.map(([key]) => {
      const title = tr(`${key}.title`);
      return `<th${title !== `${key}.title` ? ` title="${esc(title)}"` : ""}>${esc(tr(key))}</th>`;
    }).join("")}</tr>`;
    const rows = this.slots.map((s, k) => `<tr><th>${k ? "B" : "A"} · ${esc(this.sideName(s, this.slots[1 - k]))}</th>${
      columns.map(([, fn]) => `<td class="${s.feed?.growing ? "live" : ""}">${esc(fn(s, k))}</td>`).join("")}</tr>`);
    this.onChange?.();
    this.table.innerHTML = head + rows.join("");
  }

  /** The scheduler's row, named after what the pair has: a Hub, an event loop, or both. */
  schedulerKey() {
    const has = (kind) => this.slots.some((s) => s.store.schedulers.some((task) => task.kind === kind));
    return has("loop") ? (has("hub") ? "compare.hubloop" : "compare.loop") : "compare.hub";
  }

  /** What tells a side from the other: its title if the demos differ, else the
   * parameters that differ (the variant, usually). */
  sideName(s, other) {
    const run = runOf(s);
    const theirRun = runOf(other);
    if (!run) return tr("compare.waiting");
    if (!theirRun || run.demo !== theirRun.demo) return this.titleOf(run) || run.demo || "";
    const mine = run.params ?? {};
    const theirs = theirRun.params ?? {};
    const differ = Object.entries(mine).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(theirs[k]));
    return differ.length ? differ.map(([k, v]) => `${k}=${v}`).join(", ") : this.titleOf(run) || run.demo || "";
  }
}

/** A side's run, once its frame has come; else null. */
function runOf(s) {
  return s.feed?.info ?? null;
}

function paramsText(params) {
  const entries = Object.entries(params ?? {});
  return entries.length ? `(${entries.map(([k, v]) => `${k}=${v}`).join(", ")})` : "";
}

// Two runs one above the other on the same time scale, with their totals side by side.

import { formatDuration } from "./format.js";
import { FINAL_STATUSES } from "./kinds.js";
import { formatCount, t as tr } from "./i18n.js";
import { Pointer } from "./pointer.js";
import { cancelRun, LiveSocket } from "./api.js";
import { computeStats, StatsAccumulator, Store } from "./store.js";
import { Timeline } from "./timeline.js";
import { LIVE_FRAME_SHARE, View } from "./view.js";


export class Compare {
  constructor({ root, onError, onClose, onChange, onOpen, titleOf = (info) => info.title }) {
    this.onOpen = onOpen; // show one side in the full viewer
    this.titleOf = titleOf; // a run's title in the page's language
    this.root = root;
    this.onError = onError;
    this.onClose = onClose;
    this.onChange = onChange; // the page header shows the pair's status
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
      const head = root.querySelector(`#compare-head-${k}`);
      const open = root.querySelector(`#compare-open-${k}`);
      open.addEventListener("click", () => {
        const id = this.slots[k].run?.id;
        if (id) this.onOpen?.(id);
      });
      return { store, timeline, pointer, head, open, run: null, stats: null };
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

  /**
   * Watch two runs side by side as they happen: each on its own socket (the protocol
   * follows one run per connection), drawn on one time scale that grows with the clock
   * while either is live. Finished runs arrive whole through the same path.
   */
  show(ids, { owned = false } = {}) {
    this.cancel({ ownedOnly: true }); // a new pair replaces the one Run both started
    const token = ++this.token;
    this.active = true;
    this.owned = owned;
    this.root.hidden = false;
    this.disconnect();
    this.slots.forEach((s, k) => {
      s.id = ids[k];
      s.store.reset();
      s.run = null;
      s.stats = null;
      s.acc = new StatsAccumulator();
      s.live = false;
      s.ended = false; // no more frames for this side (its end, or an error)
      s.finished = false; // the server said it ended
      s.seqOk = true;
    });
    this.renderedAt = 0;
    this.lastFrameAt = 0;
    this.lastFrameCost = 0;
    ids.forEach((id, k) => {
      const s = this.slots[k];
      s.socket = new LiveSocket({
        onMessage: (msg) => this.receive(token, s, msg),
        onClose: (why) => this.receive(token, s, { type: "error", error: tr("error.connection", { detail: why }) }),
      });
      s.socket.send({ type: "subscribe", run: id });
    });
    this.view.follow = true;
    this.render();
    this.invalidate();
  }

  receive(token, s, msg) {
    if (token !== this.token || s.ended) return;
    switch (msg.type) {
      case "run":
        s.store.reset(msg.kinds);
        s.acc = new StatsAccumulator();
        s.run = msg.run;
        s.live = !FINAL_STATUSES.includes(msg.run.status);
        s.frameAt = performance.now() - (s.live && msg.run.duration_ns ? msg.run.duration_ns / 1e6 : 0);
        this.render();
        break;
      case "events":
        if (!s.run) return;
        if (!s.store.append(msg.seq, msg.rows) && s.seqOk) {
          s.seqOk = false;
          this.onError(tr("error.seq", { seq: msg.seq, have: s.store.length - msg.rows.length }));
        }
        break;
      case "end":
        s.run = { ...s.run, ...msg.run };
        s.finished = true;
        this.settle(s);
        s.store.finishWarnings(Math.max(s.run.duration_ns ?? 0, s.store.lastT));
        s.stats = computeStats(s.store, s.run.duration_ns);
        this.render();
        break;
      case "error": // an unknown run, or the connection dropped: this side stops here
        this.settle(s);
        this.onError(msg.error);
        this.render();
        break;
      default:
        return;
    }
    this.invalidate();
  }

  /** One side is done (ended, or failed): keep what it has, free its socket. */
  settle(s) {
    s.live = false;
    s.ended = true;
    dropSocket(s);
  }

  disconnect() {
    for (const s of this.slots) dropSocket(s);
  }

  /** Waiting for a side to end (test hook and header). */
  get loading() {
    return this.active && this.slots.some((s) => !s.ended);
  }

  /** Cancel the sides not known to have ended, also one whose socket dropped or whose
   * first frame has not come (with ownedOnly: only runs Run both started here; two runs
   * picked in History keep running when the view closes), but not `except`. */
  cancel({ ownedOnly = false, except = null } = {}) {
    if (!this.active || (ownedOnly && !this.owned)) return;
    for (const s of this.slots) {
      // Best effort: a run that ended meanwhile, or is unknown, needs nothing.
      if (s.id && !s.finished && s.id !== except) cancelRun(s.id).catch(() => {});
    }
  }

  get live() {
    return this.active && this.slots.some((s) => s.live);
  }

  /** What the page header says while the compare view is up. */
  headerStatus() {
    if (this.live) return tr("status.comparing", { elapsed: formatDuration(this.extent()) });
    const word = (s) => (s.run ? tr(`history.status.${s.run.status}`) : "…");
    return tr("status.compared", { a: word(this.slots[0]), b: word(this.slots[1]) });
  }

  /** Leave the view; the pair Run both started is cancelled, but for `keep` (the side
   * being opened in the full viewer: the other one would run on unseen). */
  close({ keep = null } = {}) {
    this.cancel({ ownedOnly: true, except: keep });
    this.token++;
    this.disconnect();
    this.active = false;
    this.root.hidden = true;
    this.onClose();
  }

  /** Where a side's open spans end: now while it runs, its duration once it has ended. */
  endOf(s, now = performance.now()) {
    return Math.max(s.store.lastT, s.run?.duration_ns ?? 0, s.live ? (now - s.frameAt) * 1e6 : 0);
  }

  /** The shared time scale: the longer of the two. */
  extent() {
    const now = performance.now();
    return Math.max(1, ...this.slots.map((s) => this.endOf(s, now)));
  }

  invalidate() {
    if (this.requested || !this.active) return;
    this.requested = true;
    requestAnimationFrame(() => {
      this.requested = false;
      if (!this.active) return;
      const live = this.slots.some((s) => s.live);
      // As the dashboard does: while runs stream in, painting takes at most a tenth of
      // the time, so a big run arrives sooner; small runs keep 60 fps.
      const started = performance.now();
      if (live && started - this.lastFrameAt < this.lastFrameCost * LIVE_FRAME_SHARE) {
        this.invalidate();
        return;
      }
      this.lastFrameAt = started;
      const ext = this.extent();
      if (this.view.follow) this.view.fit(ext);
      for (const s of this.slots) {
        s.timeline.draw(this.endOf(s, started)); // the scale is the view's, shared
        s.pointer.refresh();
      }
      if (live && started - this.renderedAt > 250) this.render(); // the totals, live
      this.lastFrameCost = performance.now() - started;
      if (live) this.invalidate(); // the time axis grows with the clock
    });
  }

  /** Per-side statistics: final once a side has ended, else up to now (incremental). */
  statsOf(s) {
    if (s.stats || !s.run) return s.stats;
    s.acc.feed(s.store);
    const now = s.live ? (performance.now() - s.frameAt) * 1e6 : s.store.lastT;
    return s.acc.result(s.store, Math.max(now, s.store.lastT));
  }

  summary() {
    if (!this.active) return null;
    return {
      loading: Boolean(this.loading),
      runs: this.slots.map((s) => (s.run ? {
        id: s.run.id, demo: s.run.demo, status: s.live ? "running" : s.run.status, live: s.live,
        duration_ns: s.run.duration_ns, events: s.store.length, switches: s.store.switchCount,
        drawn_until: s.timeline.extent, // where its open spans were last drawn to
        totals: s.stats?.totals ?? null,
      } : null)),
    };
  }

  render() {
    if (!this.active) return;
    this.renderedAt = performance.now();
    this.slots.forEach((s, k) => {
      s.open.disabled = !s.run;
      s.head.textContent = `${k ? "B" : "A"} · ${s.run ? `${this.titleOf(s.run) || s.run.demo} ${paramsText(s.run.params)}` : tr("compare.waiting")}`;
      // Each side gets room in proportion to its lanes (one lane needs little).
      s.head.closest(".compare-run").style.flexGrow = String(2 + Math.min(s.timeline.lanes.length, 12));
    });
    const stats = this.slots.map((s) => this.statsOf(s));
    const now = performance.now();
    const ran = (k, hub) => {
      const st = stats[k];
      if (!st) return "…";
      let sum = 0;
      for (const task of st.tasks) if ((task.kind === "hub") === hub) sum += task.running;
      // main "runs" while the demo file loads (imports, monkey.patch_all()): not the
      // demo's code, and longer on the patched side.
      if (!hub) sum = Math.max(0, sum - (this.slots[k].store.mainAt ?? 0));
      return formatDuration(sum);
    };
    const columns = [
      ["compare.status", (s) => (!s.run ? "…" : s.live
        ? `${tr("history.status.running")} · ${formatDuration((now - s.frameAt) * 1e6)}`
        : `${tr(`history.status.${s.run.status}`)} · ${formatDuration(s.run.duration_ns)}`)],
      ["compare.switches", (s) => (s.run ? formatCount(s.store.switchCount) : "…")],
      ["compare.tasks", (s) => (s.run ? formatCount(s.store.lanes.length) : "…")],
      ["compare.user", (s, k) => ran(k, false)],
      ["compare.hub", (s, k) => ran(k, true)],
      ["compare.blocked", (s, k) => (stats[k] ? formatDuration(stats[k].totals.blocked) : "…")],
      ["compare.warnings", (s) => (s.run ? formatCount(s.store.warnings.length) : "…")],
    ];
    const esc = (v) => String(v).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
    const head = `<tr><th></th>${columns.map(([key]) => {
      const title = tr(`${key}.title`);
      return `<th${title !== `${key}.title` ? ` title="${esc(title)}"` : ""}>${esc(tr(key))}</th>`;
    }).join("")}</tr>`;
    const rows = this.slots.map((s, k) => `<tr><th>${k ? "B" : "A"} · ${esc(sideName(s, this.slots[1 - k]))}</th>${
      columns.map(([, fn]) => `<td class="${s.live ? "live" : ""}">${esc(fn(s, k))}</td>`).join("")}</tr>`);
    this.onChange?.();
    this.table.innerHTML = head + rows.join("");
  }
}

/** What tells a side from the other: its demo if they differ, else the parameters that
 * differ (the variant, usually). */
function sideName(s, other) {
  if (!s.run) return tr("compare.waiting");
  if (!other.run || s.run.demo !== other.run.demo) return s.run.demo ?? s.run.title ?? "";
  const mine = s.run.params ?? {};
  const theirs = other.run.params ?? {};
  const differ = Object.entries(mine).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(theirs[k]));
  return differ.length ? differ.map(([k, v]) => `${k}=${v}`).join(", ") : s.run.demo ?? "";
}

function dropSocket(s) {
  const socket = s.socket;
  s.socket = null;
  socket?.close();
}

function paramsText(params) {
  const entries = Object.entries(params ?? {});
  return entries.length ? `(${entries.map(([k, v]) => `${k}=${v}`).join(", ")})` : "";
}

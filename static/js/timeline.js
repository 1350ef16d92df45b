// The canvas timeline: one lane per task, running spans, switch arrows, finish caps and
// printed lines. Work per redraw is bounded by the pixel width, not the trace length:
// everything narrower than a device pixel is merged into per-column bins and shaded by
// how much of the column it occupies. Input and hover live in pointer.js.

import { formatDuration, niceStep, tickFormatter } from "./format.js";
import { causeText, language, t as tr } from "./i18n.js";
import { THROW } from "./kinds.js";
import { FOLDED, isScheduler, lowerBound, RESUMED, STARTS, upperBound } from "./store.js";

export const WARN_COLOR = "#c2410c";

// Categorical colours, each above 4:1 against the white plot (WCAG asks 3:1 for graphics).
const PALETTE = ["#2f6fde", "#0f8a5f", "#8b4fd8", "#c0468a", "#0e7f96", "#9a6a1f", "#5d7a0c", "#4a5a8c"];
const HUB_COLOR = "#6b7280";
const INK = "#273142";
const WARN = "#e8590c";
const COLORS = {
  plot: "#ffffff",
  gutter: "#f6f7f9",
  laneAlt: "#fafbfc",
  rule: "#e7e9ee",
  grid: "#eef0f4",
  axisText: "#5b6270",
  loading: "rgba(91, 98, 112, 0.07)", // the demo file loading, before main()
  text: "#1f2430",
  muted: "#6b7280",
};
const FONT_STACK = 'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif';

// asyncio's kinds, said with the library's name (a lane `main()` of kind task is not main).
const KIND_DETAIL = { task: "asyncio task", loop: "asyncio" };

// The lane labels' gutter: 184 px, room for "greenlet (name='egon')"; wider, up to
// GUTTER_SHARE of the canvas and GUTTER_MAX, where its labels need it and the canvas has
// room (not below GUTTER_FROM: a narrow canvas keeps its plot width).
export const GUTTER = 184;
const GUTTER_MAX = 320;
const GUTTER_SHARE = 0.3;
const GUTTER_FROM = 760;
const LABEL_X = 20; // where a lane's name and details start
const LABEL_PAD = 8; // between the longest label and the plot's edge
const DETAIL_LANE_H = 38; // a lane this tall has room for its details above its name
export const AXIS_H = 30;
const PAD_L = 12;
const PAD_R = 28;
const MIN_LANE_H = 30;
export const MAX_LANE_H = 72;
const LEVELS = 8; // opacity steps for merged marks
const WARN_GAP = 14; // px between two warning markers of one lane (each is 12 wide)
const FEW = 3; // switches of one task pair in one column still drawn one by one...
const CROWD = 8; // ...unless more than this many switches fall within CROWD_PX of it
const CROWD_PX = 3;
const TOUCH = 1e-6; // coverage of a span shorter than a column: tiny, but not nothing

/**
 * Why switch `s` of `set` happened, in a few words. A switch out of a Hub names what woke
 * its target: the cause it paused with ("eat's timer 2 s"), or that it starts; a fold of
 * a task onto itself is that task resuming ("play resumes: timer 1 s"); an exception
 * thrown in says what it interrupted. Anything else keeps its recorded cause.
 */
export function switchWhy(store, set, s) {
  const task = store.tasks[set.to[s]]?.label ?? "?";
  const woke = set.woke[s];
  const pausedWith = () => causeText(store.causes[woke] || "?");
  const via = set.via[s];
  if (via === RESUMED) return woke === STARTS ? tr("arrow.starts", { task }) : tr("arrow.resumes", { task, cause: pausedWith() });
  const fromHub = via === FOLDED || isScheduler(store.tasks[set.from[s]]?.kind);
  if (set.kind[s] === THROW) {
    return fromHub && woke !== STARTS ? tr("arrow.thrown", { task, cause: pausedWith() }) : causeText(store.causes[set.cause[s]] || "throw");
  }
  if (via === FOLDED) return woke === STARTS ? tr("arrow.starts", { task }) : tr("arrow.woke", { task, cause: pausedWith() });
  if (fromHub) {
    return woke === STARTS ? tr("arrow.wake.start") : tr("arrow.wake", { cause: pausedWith() });
  }
  return causeText(store.causes[set.cause[s]] || "?");
}

export function taskColor(task) {
  return task.colorSlot < 0 ? HUB_COLOR : PALETTE[task.colorSlot % PALETTE.length];
}

function clamp(v, lo, hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

/** First span k of `task` whose end is >= t (spans are sorted and disjoint). */
function firstSpanEndingAfter(task, t) {
  const s = task.spans;
  let lo = 0;
  let hi = task.spanCount;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s[2 * mid + 1] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in [i, end) of sorted `arr` whose value is >= limit, searching outward from i. */
function gallop(arr, i, end, limit) {
  let lo = i; // everything before lo is < limit
  let step = 1;
  while (lo + step < end && arr[lo + step] < limit) {
    lo += step;
    step *= 2;
  }
  let hi = Math.min(lo + step, end);
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index k into `task.out` whose event time is >= t. */
function firstOutAt(task, times, t) {
  let lo = 0;
  let hi = task.outCount;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[task.out[mid]] < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class Timeline {
  constructor({ wrap, canvas, store, view }) {
    this.wrap = wrap;
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.store = store;
    this.view = view;
    this.extent = 0;
    this.scrollY = 0; // lanes scrolled up under the axis, in CSS px
    this.g = null; // geometry of the last redraw, used by hover and interaction
    this.lastDrawMs = 0;
    this.showHub = false; // false: A -> Hub (or loop) -> B drawn as one A => B arrow
    this.hideAfter = NaN; // while Predict asks: nothing at or after this time is drawn
    this.lanes = [];
    this.hatch = null;

    this.coverage = new Float32Array(0);
    // Geometry gathered per redraw, painted in a few batched paths: per style
    // (switch, throw), shafts and heads of single arrows and, per opacity level, bands.
    const levels = () => Array.from({ length: LEVELS + 1 }, () => []);
    // Resumes (a task folded onto itself: no arrow) are a mark on the lane.
    this.marks = { shafts: [[], []], heads: [[], []], bands: [levels(), levels()], resumes: [[], []] };
    this.resize();
  }

  /** Size the canvas to its wrap. Returns false, and leaves the canvas (and what is drawn
   * on it) alone, when the size is the one it has: setting a canvas's size clears it. */
  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.max(1, this.wrap.clientWidth);
    const h = Math.max(1, this.wrap.clientHeight);
    if (w === this.w && h === this.h && dpr === this.dpr) return false;
    this.w = w;
    this.h = h;
    this.dpr = dpr;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    return true;
  }

  /** The lanes drawn: every task's, or all but the scheduler's (Hub, event loop) when it is folded away. */
  shownLanes() {
    const { store } = this;
    return this.showHub ? store.lanes : store.lanes.filter((task) => !isScheduler(task.kind));
  }

  /** Geometry for one redraw: pixel mapping, lane positions, lane of each task. */
  layout(extent) {
    const { w, h, dpr, view, store } = this;
    const lanes = (this.lanes = this.shownLanes());
    const set = this.showHub ? store.raw : store.folded;
    const avail = h - AXIS_H - 8;
    const laneH = lanes.length ? clamp(Math.floor(avail / lanes.length), MIN_LANE_H, MAX_LANE_H) : MAX_LANE_H;
    this.detailsShown = laneH >= DETAIL_LANE_H;
    const gutter = (this.gutter = this.sharedGutter ? this.sharedGutter() : this.neededGutter());
    const plotX0 = gutter + PAD_L;
    const plotX1 = Math.max(plotX0 + 10, w - PAD_R);
    const plotW = plotX1 - plotX0;
    const span = Math.max(view.t1 - view.t0, 1);
    const scrollMax = Math.max(0, lanes.length * laneH - avail);
    this.scrollY = clamp(this.scrollY, 0, scrollMax);
    const barH = clamp(Math.round(laneH * 0.26), 8, 14);
    const laneTop = new Float64Array(lanes.length);
    const laneY = new Float64Array(lanes.length);
    const laneOf = new Int32Array(store.tasks.length + 1).fill(-1);
    for (let i = 0; i < lanes.length; i++) {
      laneTop[i] = AXIS_H + 4 + i * laneH - this.scrollY;
      laneY[i] = Math.round(laneTop[i] + laneH * 0.62);
      laneOf[lanes[i].id] = i;
    }
    return {
      t0: view.t0, t1: view.t1, span, extent,
      gutter, plotX0, plotX1, plotW,
      pw: Math.max(1, Math.round(plotW * dpr)), // plot width in device pixels: the bin count
      kx: (plotW * dpr) / span, // device px per ns
      kxCss: plotW / span,
      laneH, barH, laneTop, laneY, laneOf, scrollMax, set,
    };
  }

  /** The gutter this canvas's lane labels want: GUTTER, or wider (up to its cap) so that
   * every lane's name and details are read whole. Measured once per set of lanes. */
  neededGutter() {
    const cap = this.w < GUTTER_FROM ? GUTTER : Math.max(GUTTER, Math.min(GUTTER_MAX, Math.round(this.w * GUTTER_SHARE)));
    if (cap === GUTTER) return GUTTER;
    const lanes = this.shownLanes();
    const last = lanes[lanes.length - 1];
    const details = this.detailsShown !== false; // measured only where they are drawn
    const key = `${cap}:${details}:${this.showHub}:${lanes.length}:${lanes[0]?.label}:${last?.label}:${last?.thread}:${language()}`;
    if (key === this.gutterKey) return this.gutterWant;
    const { ctx } = this;
    let need = 0;
    ctx.font = `600 13px ${FONT_STACK}`;
    for (const task of lanes) need = Math.max(need, ctx.measureText(this.laneName(task)).width);
    ctx.font = `11px ${FONT_STACK}`;
    if (details) for (const task of lanes) need = Math.max(need, ctx.measureText(this.laneDetail(task)).width);
    this.gutterKey = key;
    this.gutterWant = Math.min(cap, Math.max(GUTTER, Math.ceil(need) + LABEL_X + LABEL_PAD));
    return this.gutterWant;
  }

  laneName(task) {
    return task.thread ? `${task.label} · ${task.thread}` : task.label;
  }

  xAt(t) {
    return this.g.plotX0 + (t - this.g.t0) * this.g.kxCss;
  }

  timeAt(x) {
    const g = this.g ?? this.layout(this.extent);
    return g.t0 + (x - g.plotX0) / g.kxCss;
  }

  /** The task whose lane is at canvas height `y`, or undefined. */
  taskAt(y) {
    if (!this.g || y < AXIS_H) return undefined;
    return this.lanes[Math.floor((y - AXIS_H - 4 + this.scrollY) / this.g.laneH)];
  }

  /** Repaint everything. Returns how many switches fall in the visible window. */
  draw(extent) {
    const started = performance.now();
    this.extent = extent;
    const g = (this.g = this.layout(extent));
    const { ctx, dpr, w, h, store } = this;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = COLORS.plot;
    ctx.fillRect(0, 0, w, h);

    let drawn = 0;
    if (!this.lanes.length) {
      this.drawEmpty();
    } else {
      this.drawLaneBackgrounds(g);
      this.drawLoading(g);
      this.drawAxis(g);
      ctx.save();
      ctx.beginPath();
      // While Predict asks, what comes at and after its switch stays unseen (marks there,
      // such as a spawn ring, reach up to 6 px to the left).
      const right = Number.isNaN(this.hideAfter) ? g.plotX1 + 6 : Math.min(g.plotX1 + 6, Math.floor(this.xAt(this.hideAfter)) - 6);
      ctx.rect(g.plotX0 - 6, AXIS_H, Math.max(0, right - g.plotX0 + 6), h - AXIS_H);
      ctx.clip();
      // Merged switches shade the background; bars and single arrows stay readable on top.
      drawn = this.binSwitches(g);
      this.paintBands();
      this.forVisibleLanes(g, (task, i) => this.drawLaneBody(g, task, i));
      this.drawBlocks(g);
      this.paintArrows();
      this.paintCauses(g);
      this.forVisibleLanes(g, (task, i) => this.drawFinish(g, task, i));
      this.forVisibleLanes(g, (task, i) => this.drawPrints(g, task, i));
      this.drawWarnings(g);
      ctx.restore();
      this.drawGutter(g);
      this.drawScrollbar(g);
    }
    this.lastDrawMs = performance.now() - started;
    return drawn;
  }

  forVisibleLanes(g, fn) {
    const lanes = this.lanes;
    for (let i = 0; i < lanes.length; i++) {
      if (g.laneTop[i] + g.laneH < AXIS_H || g.laneTop[i] > this.h) continue;
      fn(lanes[i], i);
    }
  }

  drawEmpty() {
    const { ctx, w, h } = this;
    ctx.fillStyle = COLORS.muted;
    ctx.font = `14px ${FONT_STACK}`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    ctx.fillText(tr(this.emptyKey ?? "timeline.empty"), w / 2, h / 2);
  }

  drawLaneBackgrounds(g) {
    const { ctx, w } = this;
    ctx.fillStyle = COLORS.laneAlt;
    this.forVisibleLanes(g, (task, i) => {
      if (i % 2 === 1) ctx.fillRect(0, g.laneTop[i], w, g.laneH);
    });
    ctx.fillStyle = COLORS.rule;
    this.forVisibleLanes(g, (task, i) => ctx.fillRect(0, Math.round(g.laneTop[i] + g.laneH) - 0.5, w, 1));
  }

  /** Before the "main()" mark the child was loading the demo file (imports, a
   * monkey.patch_all()): shade it, say so, and mark where main() starts. */
  drawLoading(g) {
    const mainAt = this.store.mainAt;
    if (mainAt === null) return;
    const { ctx, h } = this;
    const x0 = Math.max(this.xAt(0), g.plotX0);
    const x1 = Math.min(this.xAt(mainAt), g.plotX1);
    if (x1 > x0) {
      ctx.fillStyle = COLORS.loading;
      ctx.fillRect(x0, AXIS_H, x1 - x0, h - AXIS_H);
      // A word under the axis; the pointer's tooltip says the rest.
      ctx.font = `10.5px ${FONT_STACK}`;
      const text = tr("mark.loading");
      if (ctx.measureText(text).width <= x1 - x0 - 6) { // whole or not at all: "loadi…" says nothing
        ctx.textAlign = "left";
        ctx.textBaseline = "top";
        ctx.fillStyle = COLORS.axisText;
        ctx.fillText(text, x0 + 3, AXIS_H + 3);
      }
    }
    if (mainAt >= g.t0 && mainAt <= g.t1) {
      const x = Math.round(this.xAt(mainAt)) + 0.5;
      ctx.strokeStyle = COLORS.axisText;
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(x, AXIS_H);
      ctx.lineTo(x, h);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  drawAxis(g) {
    const { ctx, h } = this;
    const step = niceStep(g.span * 110 / g.plotW);
    const label = tickFormatter(step, Math.max(Math.abs(g.t0), Math.abs(g.t1)));
    const first = Math.ceil(g.t0 / step);
    const last = Math.floor(g.t1 / step);
    ctx.font = `11px ${FONT_STACK}`;
    ctx.textBaseline = "alphabetic";
    for (let k = first; k <= last; k++) {
      const t = k * step;
      const x = Math.round(this.xAt(t)) + 0.5;
      ctx.fillStyle = COLORS.grid;
      ctx.fillRect(x - 0.5, AXIS_H, 1, h - AXIS_H);
      ctx.fillStyle = COLORS.rule;
      ctx.fillRect(x - 0.5, AXIS_H - 5, 1, 5);
      const text = label(t);
      const tw = ctx.measureText(text).width;
      ctx.textAlign = x - tw / 2 < g.plotX0 - PAD_L + 2 ? "left" : x + tw / 2 > this.w - 2 ? "right" : "center";
      ctx.fillStyle = COLORS.axisText;
      ctx.fillText(text, x, AXIS_H - 10);
    }
    ctx.fillStyle = COLORS.rule;
    ctx.fillRect(0, AXIS_H - 0.5, this.w, 1);
  }

  drawGutter(g) {
    const { ctx } = this;
    ctx.fillStyle = COLORS.gutter;
    const gutter = g.gutter;
    ctx.fillRect(0, AXIS_H, gutter, this.h - AXIS_H);
    ctx.fillStyle = COLORS.rule;
    ctx.fillRect(gutter - 0.5, 0, 1, this.h);
    ctx.textAlign = "left";
    ctx.textBaseline = "middle";
    const drawn = (this.drawnLabels = []); // what each visible lane's label says, as drawn
    this.forVisibleLanes(g, (task, i) => {
      const y = g.laneY[i];
      const color = taskColor(task);
      ctx.fillStyle = color;
      ctx.fillRect(8, y - g.barH / 2, 4, g.barH);
      ctx.font = `600 13px ${FONT_STACK}`;
      const name = this.laneName(task);
      const label = { task: task.id, name, nameShown: this.fit(name, gutter - LABEL_X - LABEL_PAD), detail: "", detailShown: "" };
      ctx.fillText(label.nameShown, LABEL_X, y);
      const detail = this.laneDetail(task);
      if (detail && g.laneH >= DETAIL_LANE_H) {
        ctx.font = `11px ${FONT_STACK}`;
        ctx.fillStyle = COLORS.muted;
        label.detail = detail;
        label.detailShown = this.fit(detail, gutter - LABEL_X - LABEL_PAD);
        ctx.fillText(label.detailShown, LABEL_X, y - g.barH / 2 - 9);
      }
      drawn.push(label);
    });
    // Lanes scrolled under the axis must not show through it; the corner holds the hint.
    ctx.fillStyle = COLORS.plot;
    ctx.fillRect(0, 0, gutter - 0.5, AXIS_H - 0.5);
    ctx.font = `10.5px ${FONT_STACK}`;
    ctx.fillStyle = COLORS.muted;
    ctx.textBaseline = "alphabetic";
    ctx.fillText(this.fit(tr("hint"), gutter - 16), 10, AXIS_H - 10);
  }

  /** The line above a lane's name: its kind and arguments, unless the name says it all. */
  laneDetail(task) {
    const kind = task.kind.toLowerCase() === task.name.toLowerCase() ? "" : KIND_DETAIL[task.kind] ?? task.kind;
    return [kind, task.args ? `(${task.args})` : ""].filter(Boolean).join(" ");
  }

  drawScrollbar(g) {
    if (!g.scrollMax) return;
    const track = this.h - AXIS_H - 8;
    const thumb = Math.max(24, (track * track) / (track + g.scrollMax));
    const y = AXIS_H + 4 + ((track - thumb) * this.scrollY) / g.scrollMax;
    this.ctx.fillStyle = "rgba(39, 49, 66, 0.25)";
    this.ctx.fillRect(this.w - 6, y, 4, thumb);
  }

  /** Parked line from spawn to finish, then running spans shaded by per-column occupancy. */
  drawLaneBody(g, task, i) {
    const { ctx, dpr } = this;
    const y = g.laneY[i];
    const color = taskColor(task);
    const end = Number.isNaN(task.finishedAt) ? g.extent : task.finishedAt;
    const xs = Math.max(this.xAt(task.spawnedAt), g.plotX0);
    const xe = Math.min(this.xAt(end), g.plotX1);
    ctx.fillStyle = color;
    if (xe > xs) {
      ctx.globalAlpha = 0.35;
      ctx.fillRect(xs, y - 1, xe - xs, 2);
      ctx.globalAlpha = 1;
    }

    if (!this.spanCoverage(g, task, end)) return;

    // Runs of equal opacity become one rect each; a column that is touched at all stays
    // visible (a 40 µs burst in a 2 s run is still something the learner should see).
    const { pw } = g;
    const cov = this.coverage;
    const top = y - g.barH / 2;
    let runStart = 0;
    let runLevel = 0;
    for (let c = 0; c <= pw; c++) {
      const level = c === pw || cov[c] <= 0 ? 0 : Math.max(3, Math.ceil(Math.min(cov[c], 1) * LEVELS));
      if (level === runLevel) continue;
      if (runLevel > 0) {
        const x = g.plotX0 + runStart / dpr;
        const width = (c - runStart) / dpr;
        if (runLevel < LEVELS) {
          // A tint, not a see-through: switch shading behind must not muddy the colour.
          ctx.globalAlpha = 1;
          ctx.fillStyle = COLORS.plot;
          ctx.fillRect(x, top, width, g.barH);
          ctx.fillStyle = color;
        }
        ctx.globalAlpha = runLevel / LEVELS;
        ctx.fillRect(x, top, width, g.barH);
      }
      runStart = c;
      runLevel = level;
    }
    ctx.globalAlpha = 1;
  }

  /**
   * Fill `this.coverage[c]` with the fraction of device column c during which `task`
   * runs (a tiny positive value for spans shorter than a column). Returns whether any
   * column is touched. Few visible spans are added one by one; many are measured per
   * column from the task's running-time prefix sums, so the cost is bounded by the
   * width, not by the number of spans.
   */
  spanCoverage(g, task, end) {
    const { pw, t0, t1, kx } = g;
    if (this.coverage.length < pw) this.coverage = new Float32Array(pw);
    const cov = this.coverage;
    cov.fill(0, 0, pw);
    const s = task.spans;
    const k0 = firstSpanEndingAfter(task, t0);
    let k1 = k0;
    while (k1 < task.spanCount && s[2 * k1] <= t1 && k1 - k0 <= pw) k1++;
    let any = false;
    if (k1 - k0 > pw) {
      let before = task.busyBefore(t0);
      for (let c = 0; c < pw; c++) {
        const after = task.busyBefore(t0 + (c + 1) / kx);
        if (after > before) {
          cov[c] = Math.max((after - before) * kx, TOUCH);
          any = true;
        }
        before = after;
      }
    } else {
      for (let k = k0; k < k1; k++) any = this.addSpan(g, s[2 * k], s[2 * k + 1]) || any;
    }
    if (!Number.isNaN(task.openSince)) any = this.addSpan(g, task.openSince, Math.max(task.openSince, end)) || any;
    return any;
  }

  addSpan(g, start, stop) {
    const { pw, t0, kx } = g;
    const cov = this.coverage;
    let a = (start - t0) * kx;
    let b = (stop - t0) * kx;
    if (b < 0 || a >= pw) return false;
    if (a < 0) a = 0;
    if (b > pw) b = pw;
    const c0 = a | 0;
    const c1 = Math.min(b | 0, pw - 1);
    if (c0 === c1) {
      cov[c0] += Math.max(b - a, TOUCH);
      return true;
    }
    cov[c0] += Math.max(c0 + 1 - a, TOUCH);
    for (let c = c0 + 1; c < c1; c++) cov[c] = 1;
    cov[c1] += Math.max(b - c1, TOUCH);
    return true;
  }

  /** A diagonal hatch in `color`, cached per colour. */
  hatchOf(color) {
    this.hatches ??= new Map();
    let pattern = this.hatches.get(color);
    if (!pattern) {
      const tile = document.createElement("canvas");
      tile.width = tile.height = 8;
      const c = tile.getContext("2d");
      c.strokeStyle = color;
      c.lineWidth = 2;
      c.beginPath();
      c.moveTo(-2, 10);
      c.lineTo(10, -2);
      c.moveTo(-2, 2);
      c.lineTo(2, -2);
      c.moveTo(6, 10);
      c.lineTo(10, 6);
      c.stroke();
      pattern = this.ctx.createPattern(tile, "repeat");
      this.hatches.set(color, pattern);
    }
    return pattern;
  }

  /**
   * Block spans. A blocking call: no greenlet could run, so every lane is greyed for the
   * duration, and the task stuck in the call gets a hatched bar labelled with the call.
   * Computing without a switch (the busy watcher's) is running: a bracket over the
   * task's own bar, "computing 150 ms, no switch", and no grey.
   */
  drawBlocks(g) {
    const { ctx, store } = this;
    if (!store.blocks.length) return;
    const top = AXIS_H;
    for (const block of store.blocks) {
      const until = Number.isNaN(block.until) ? g.extent : block.until;
      if (until < g.t0 || block.since > g.t1) continue;
      const xs = Math.max(this.xAt(block.since), g.plotX0 - 6);
      const xe = Math.min(this.xAt(until), g.plotX1 + 6);
      const w = Math.max(xe - xs, 1.5);
      const i = g.laneOf[block.task];
      if (block.busy) {
        if (i >= 0) this.drawComputing(g, block, until, xs, w, i);
        continue;
      }
      ctx.fillStyle = "rgba(90, 98, 112, 0.14)";
      ctx.fillRect(xs, top, w, this.h - top);
      if (i < 0) continue;
      const y = g.laneY[i];
      const bh = g.barH + 4;
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(xs, y - bh / 2, w, bh);
      ctx.fillStyle = this.hatchOf("#4b5563");
      ctx.fillRect(xs, y - bh / 2, w, bh);
      ctx.strokeStyle = "#4b5563";
      ctx.lineWidth = 1;
      ctx.strokeRect(xs + 0.5, y - bh / 2 + 0.5, w - 1, bh - 1);
      if (w > 40) this.barLabel(`${tr("block.label")} ${block.call}`, xs, w, y);
    }
  }

  /** A task computing without a switch: its bar framed in its colour, with the words. */
  drawComputing(g, block, until, xs, w, i) {
    const { ctx } = this;
    const task = this.store.tasks[block.task];
    const y = g.laneY[i];
    const bh = g.barH + 6;
    ctx.strokeStyle = taskColor(task);
    ctx.lineWidth = 2;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(xs + 1, y - bh / 2, Math.max(w - 2, 1), bh);
    ctx.setLineDash([]);
    if (w > 40) this.barLabel(tr("block.computing", { duration: formatDuration(until - block.since) }), xs, w, y);
  }

  /** Words on a bar at `y`, from `xs`, cut to the bar's width `w`. */
  barLabel(words, xs, w, y) {
    const { ctx } = this;
    ctx.font = `600 11px ${FONT_STACK}`;
    ctx.textBaseline = "middle";
    const text = this.fit(words, w - 10);
    if (!text) return;
    const tw = ctx.measureText(text).width;
    ctx.fillStyle = "rgba(255, 255, 255, 0.92)";
    ctx.fillRect(xs + 4, y - 8, tw + 6, 16);
    ctx.fillStyle = "#1f2430";
    ctx.textAlign = "left";
    ctx.fillText(text, xs + 7, y + 0.5);
  }

  /** Each lone arrow says why it happened: its cause, next to the shaft. */
  paintCauses(g) {
    const marks = this.causeMarks;
    if (!marks?.length || marks.length > 800) return;
    const { ctx, store } = this;
    const set = g.set;
    ctx.font = `10.5px ${FONT_STACK}`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "left";
    const placed = [];
    for (let m = 0; m < marks.length; m += 2) {
      const x = marks[m];
      const s = marks[m + 1];
      const la = g.laneOf[set.from[s]];
      const lb = g.laneOf[set.to[s]];
      if (la < 0 || lb < 0) continue;
      const text = switchWhy(store, set, s);
      const y = la === lb ? g.laneY[la] + g.barH / 2 + 9 : (g.laneY[la] + g.laneY[lb]) / 2;
      const w = ctx.measureText(text).width + 4;
      const box = [x + 3, y - 7, x + 3 + w, y + 7];
      if (box[2] > g.plotX1 + 4) {
        box[0] = x - 3 - w;
        box[2] = x - 3;
      }
      if (placed.some((b) => b[0] < box[2] && box[0] < b[2] && b[1] < box[3] && box[1] < b[3])) continue;
      placed.push(box);
      ctx.fillStyle = "rgba(255, 255, 255, 0.88)";
      ctx.fillRect(box[0], box[1], w, 14);
      ctx.fillStyle = set.kind[s] === THROW ? WARN_COLOR : "#3d4757";
      ctx.fillText(text, box[0] + 2, y);
    }
  }

  /**
   * Where each warning's marker is drawn: {k (its index in store.warnings), x, y (the
   * foot of its lane's warning row), at (the x of its time)}. At its time, unless the
   * marker before it on the same lane is nearer than WARN_GAP (a block that starved the
   * loop and the warning Python said a few µs before it): then just right of that one,
   * so both read and each has its own tooltip.
   */
  warningMarks(g) {
    const { store } = this;
    const order = store.warnings.map((_, k) => k).sort((a, b) => store.warnings[a].t - store.warnings[b].t);
    const lastX = new Map(); // lane -> the x of its last marker
    const marks = [];
    for (const k of order) {
      const w = store.warnings[k];
      const until = Number.isNaN(w.until) ? g.extent : w.until;
      if (until < g.t0 || w.t > g.t1) continue;
      const i = g.laneOf[w.task];
      if (i === undefined || i < 0) continue;
      const at = this.xAt(w.t);
      const prev = lastX.get(i);
      const x = prev !== undefined && at - prev < WARN_GAP ? prev + WARN_GAP : at;
      lastX.set(i, x);
      marks.push({ k, x, at, y: g.laneTop[i] + g.laneH - 4, until });
    }
    return marks;
  }

  /** Warnings: a span under the lane and a marker at its start. */
  drawWarnings(g) {
    const { ctx } = this;
    this.warnMarks = [];
    for (const m of this.warningMarks(g)) {
      const yb = m.y;
      const xs = Math.max(m.at, g.plotX0);
      const xe = Math.min(this.xAt(m.until), g.plotX1);
      ctx.fillStyle = WARN_COLOR;
      if (xe > xs) ctx.fillRect(xs, yb, xe - xs, 2);
      const x = m.x;
      if (x < g.plotX0 - 6 || x > g.plotX1 + 6) continue;
      this.warnMarks.push(m);
      if (x !== m.at && m.at >= g.plotX0) ctx.fillRect(m.at, yb - 1, x - m.at, 1); // back to its time
      const y = yb - 12;
      ctx.beginPath();
      ctx.moveTo(x, y);
      ctx.lineTo(x + 6, y + 11);
      ctx.lineTo(x - 6, y + 11);
      ctx.closePath();
      ctx.fill();
      ctx.fillStyle = "#ffffff";
      ctx.font = `700 9px ${FONT_STACK}`;
      ctx.textAlign = "center";
      ctx.textBaseline = "alphabetic";
      ctx.fillText("!", x, y + 10);
      ctx.textAlign = "left";
    }
  }

  drawFinish(g, task, i) {
    const y0 = g.laneY[i];
    if (task.spawnedAt >= g.t0 && task.spawnedAt <= g.t1 && task.kind !== "main") {
      // Spawn: a hollow ring where the task was first seen.
      const ctx = this.ctx;
      ctx.beginPath();
      ctx.arc(this.xAt(task.spawnedAt), y0, 4, 0, 2 * Math.PI);
      ctx.lineWidth = 2;
      ctx.strokeStyle = taskColor(task);
      ctx.fillStyle = COLORS.plot;
      ctx.fill();
      ctx.stroke();
    }
    const t = task.finishedAt;
    if (!(t >= g.t0 && t <= g.t1)) return;
    const x = this.xAt(t);
    const y = g.laneY[i];
    this.ctx.fillStyle = taskColor(task);
    this.ctx.fillRect(x - 1, y - g.barH / 2 - 4, 2.5, g.barH + 8);
  }

  /**
   * Bin visible switches per device-pixel column and task pair, then draw the marks.
   * Each pair's switches are walked column by column with a galloping search, so the
   * cost follows the number of occupied columns, not the number of switches.
   */
  binSwitches(g) {
    const store = this.store;
    const marks = this.marks;
    for (const list of [...marks.shafts, ...marks.heads, ...marks.bands.flat(), ...marks.resumes]) list.length = 0;
    this.headStride = Math.ceil(g.plotW) + 32;
    const need = (store.lanes.length + 1) * this.headStride;
    const set = g.set;
    this.causeMarks = [];
    if (!this.heads || this.heads.length < need) this.heads = new Uint8Array(need);
    else this.heads.fill(0, 0, need);

    const { t0, t1, kx, pw } = g;
    // crowd[c]: switches (all pairs) before column c, to tell a lone arrow from a crowd.
    if (!this.crowd || this.crowd.length < pw + 1) this.crowd = new Int32Array(pw + 1);
    for (let c = 0; c <= pw; c++) this.crowd[c] = lowerBound(set.t, set.count, t0 + c / kx);
    this.crowdRadius = Math.round(CROWD_PX * this.dpr);
    for (const pair of set.pairIndexes()) {
      const T = pair.t;
      const end = upperBound(T, pair.n, t1);
      let i = lowerBound(T, pair.n, t0);
      while (i < end) {
        let c = ((T[i] - t0) * kx) | 0;
        if (c >= pw) c = pw - 1;
        const limit = c === pw - 1 ? Infinity : t0 + (c + 1) / kx;
        // Rounding may put T[i] at or past `limit`; the column still takes it.
        const j = Math.max(i + 1, gallop(T, i, end, limit));
        this.emitBin(g, pair, c, i, j);
        i = j;
      }
    }
    const [lo, hi] = store.switchRange(t0, t1);
    return hi - lo;
  }

  /** Marks for switches i..j-1 of `pair`, all in device column `col`. */
  emitBin(g, pair, col, i, j) {
    const { from: swFrom, to: swTo, kind: swKind } = g.set;
    const x = g.plotX0 + (col + 0.5) / this.dpr;
    const count = j - i;
    const r = this.crowdRadius;
    const near = this.crowd[Math.min(g.pw, col + r + 1)] - this.crowd[Math.max(0, col - r)];
    if (count <= FEW && near <= CROWD) {
      // A handful in one column still reads as separate arrows (both directions show).
      for (let k = i; k < j; k++) {
        const s = pair.sw[k];
        this.emitArrow(g, x, g.laneOf[swFrom[s]], g.laneOf[swTo[s]], swKind[s] === THROW ? 1 : 0);
        if (count === 1 && near <= 1) this.causeMarks.push(x, s);
      }
      return;
    }
    if (g.laneOf[pair.a] < 0 || g.laneOf[pair.b] < 0) return;
    const ya = g.laneY[g.laneOf[pair.a]];
    const yb = g.laneY[g.laneOf[pair.b]];
    const half = g.barH / 2;
    const level = Math.ceil(Math.min(1, Math.log2(count + 1) / 7) * LEVELS);
    const thrown = pair.thrownBefore[j] - pair.thrownBefore[i];
    this.marks.bands[thrown ? 1 : 0][level].push(x, Math.min(ya, yb) - half, Math.max(ya, yb) + half);
  }

  emitArrow(g, x, la, lb, style) {
    if (la < 0 || lb < 0) return;
    const half = g.barH / 2;
    const ya = g.laneY[la];
    const yb = g.laneY[lb];
    const shafts = this.marks.shafts[style];
    if (la === lb) {
      this.marks.resumes[style].push(x, ya);
      return;
    }
    const down = lb > la;
    const tip = down ? yb - half - 1 : yb + half + 1;
    shafts.push(x, down ? ya + half : ya - half, tip);
    // Heads closer than 7 px on one lane would fuse into a smear; the shaft still shows.
    const row = lb * this.headStride;
    const at = Math.round(x - g.plotX0) + 16;
    if (at < 0 || at >= this.headStride) return;
    for (let d = Math.max(0, at - 6); d <= Math.min(this.headStride - 1, at + 6); d++) {
      if (this.heads[row + d]) return;
    }
    this.heads[row + at] = 1;
    this.marks.heads[style].push(x, tip, down ? 1 : -1);
  }

  paintBands() {
    const { ctx, dpr } = this;
    for (let style = 0; style < 2; style++) {
      ctx.fillStyle = style ? WARN : INK;
      for (let level = 1; level <= LEVELS; level++) {
        const bands = this.marks.bands[style][level];
        if (!bands.length) continue;
        // Light for plain switches (a background for the bars), strong for throws.
        ctx.globalAlpha = style ? 0.35 + (0.45 * level) / LEVELS : (0.3 * level) / LEVELS;
        ctx.beginPath();
        for (let j = 0; j < bands.length; j += 3) {
          ctx.rect(bands[j] - 0.5 / dpr, bands[j + 1], 1 / dpr, bands[j + 2] - bands[j + 1]);
        }
        ctx.fill();
      }
    }
    ctx.globalAlpha = 1;
  }

  paintArrows() {
    const { ctx } = this;
    for (let style = 0; style < 2; style++) {
      const color = style ? WARN : INK;
      ctx.globalAlpha = style ? 1 : 0.8;
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.lineWidth = style ? 1.75 : 1.25;
      ctx.beginPath();
      const shafts = this.marks.shafts[style];
      for (let j = 0; j < shafts.length; j += 3) {
        ctx.moveTo(shafts[j], shafts[j + 1]);
        ctx.lineTo(shafts[j], shafts[j + 2]);
      }
      ctx.stroke();
      ctx.beginPath();
      const heads = this.marks.heads[style];
      for (let j = 0; j < heads.length; j += 3) {
        const x = heads[j];
        const tip = heads[j + 1];
        const dir = heads[j + 2];
        ctx.moveTo(x, tip);
        ctx.lineTo(x - 3.5, tip - 6 * dir);
        ctx.lineTo(x + 3.5, tip - 6 * dir);
        ctx.closePath();
      }
      // A task resuming after its own wait: a "play" triangle where its bar starts again.
      const resumes = this.marks.resumes[style];
      for (let j = 0; j < resumes.length; j += 2) {
        const x = resumes[j];
        const y = resumes[j + 1];
        ctx.moveTo(x - 1, y - 6);
        ctx.lineTo(x + 6, y);
        ctx.lineTo(x - 1, y + 6);
        ctx.closePath();
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  }

  /**
   * Printed lines above the lane's bar: a dot at the time, the text to its right, cut
   * with an ellipsis where the next dot starts (labels never overlap). The last label
   * may sit left of its dot when the right edge is too close. Dots closer than 2 px are one.
   */
  drawPrints(g, task, i) {
    if (!task.outCount) return;
    const { ctx } = this;
    const store = this.store;
    const times = store.t;
    const y = g.laneY[i] - g.barH / 2;
    const baseline = y - 4;
    const color = taskColor(task);
    ctx.font = `11px ${FONT_STACK}`;
    ctx.textBaseline = "alphabetic";
    ctx.lineJoin = "round";
    let pendingX = NaN;
    let pendingText = "";
    let merged = 0; // lines sharing the pending dot
    let leftFree = g.plotX0; // where the previous dot or label ends
    const place = (x, nextX) => {
      this.dot(x, y, color);
      const text = merged ? `${pendingText}  +${merged}` : pendingText;
      const room = Math.min(nextX - 6, g.plotX1 + 4) - (x + 5);
      const full = ctx.measureText(text).width;
      const free = leftFree;
      leftFree = x + 3;
      if (full > room && nextX === Infinity && x - 5 - full > free + 6) {
        this.label(text, x - 5, baseline, "right");
      } else if (full <= room || room >= 18) {
        const shown = full <= room ? text : this.fit(text, room);
        if (shown) {
          this.label(shown, x + 5, baseline, "left");
          leftFree = x + 5 + Math.min(full, room);
        }
      }
    };
    const start = firstOutAt(task, times, g.t0);
    for (let k = start; k < task.outCount; k++) {
      const j = task.out[k];
      const t = times[j];
      if (t > g.t1) break;
      const x = this.xAt(t);
      if (x - pendingX < 2) {
        merged++;
        continue;
      }
      if (!Number.isNaN(pendingX)) place(pendingX, x);
      pendingX = x;
      pendingText = String(store.x[j]).slice(0, 200);
      merged = 0;
    }
    if (!Number.isNaN(pendingX)) place(pendingX, Infinity);
  }

  dot(x, y, color) {
    const { ctx } = this;
    ctx.beginPath();
    ctx.arc(x, y, 2.75, 0, 2 * Math.PI);
    ctx.fillStyle = color;
    ctx.fill();
    ctx.lineWidth = 1;
    ctx.strokeStyle = COLORS.plot;
    ctx.stroke();
  }

  label(text, x, y, align) {
    const { ctx } = this;
    ctx.textAlign = align;
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
    ctx.strokeText(text, x, y);
    ctx.fillStyle = COLORS.text;
    ctx.fillText(text, x, y);
    ctx.textAlign = "left";
  }

  /** `text`, cut with an ellipsis to fit `room` px in the current font ("" if nothing fits). */
  fit(text, room) {
    const { ctx } = this;
    if (ctx.measureText(text).width <= room) return text;
    let lo = 0;
    let hi = text.length;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (ctx.measureText(text.slice(0, mid) + "…").width <= room) lo = mid;
      else hi = mid - 1;
    }
    return lo ? text.slice(0, lo) + "…" : "";
  }
}

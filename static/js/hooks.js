// `window.coroscope`: the state the browser tests (and benchmarks/browser.py) observe,
// read from the feed, the player and the panels' snapshots, plus the player's controls.
// Names and meanings are a contract with tests/: keep them.

import { language } from "./i18n.js";
import { switchWhy } from "./timeline.js";

/**
 * `actions`: flush, setShowHub, setPredict, setLanguage, subscribe, loadTrace, redraw
 * (repaint now, returning the ms it took).
 */
export function publishHooks({ feed, view, player, scheduler, timelinePanel, statsPanel, compare, actions }) {
  const store = feed.store;
  const timeline = timelinePanel.timeline;
  const snap = (name) => scheduler.snapshot(name);
  const thenFlush = (fn) => (...args) => {
    const r = fn(...args);
    actions.flush();
    return r;
  };
  const hooks = {
    get status() { return feed.status; },
    get runId() { return feed.runId; },
    get demo() { return actions.shownDemo(); },
    get events() { return store.length; },
    get switches() { return store.switchCount; },
    get drawnSwitches() { return snap("timeline").drawnSwitches; },
    /** The lanes on screen (the Hub or event loop only when it is shown). */
    get lanes() {
      return timeline.shownLanes().map((task) => ({
        id: task.id, name: task.name, label: task.label, kind: task.kind, thread: task.thread,
      }));
    },
    get tasks() {
      return store.lanes.map((task) => ({ id: task.id, name: task.name, label: task.label, kind: task.kind }));
    },
    get stdout() { return store.stdoutLines(); },
    get seqOk() { return feed.seqOk; },
    get lastError() { return actions.lastError(); },
    get firstSwitchDrawnAt() { return snap("timeline").firstSwitchDrawnAt; },
    get runClickedAt() { return snap("timeline").runClickedAt; },
    get lastRedrawMs() { return snap("timeline").lastRedrawMs; },
    get view() { return { t0: view.t0, t1: view.t1 }; },
    // The player.
    get cursor() { return snap("transport").cursor; },
    get playing() { return snap("transport").playing; },
    get speed() { return snap("transport").speed; },
    /** Switches per second while playing switch by switch, else null (real time). */
    get pace() { return snap("transport").pace; },
    /** Every cursor time play moved to since recordCursor(), or null. */
    get cursorTrail() { return player.trail ? [...player.trail] : null; },
    get following() { return snap("transport").following; },
    get sourceMarks() { return snap("source").marks; },
    get consoleCurrent() { return snap("console").current; },
    get stats() { return snap("stats"); },
    get warnings() { return store.warnings.map((w) => ({ ...w })); },
    get marks() { return store.marks.map((m) => ({ ...m })); },
    get showHub() { return timeline.showHub; },
    /** The visible lanes' labels: {task, name, nameShown, detail, detailShown}, as drawn. */
    get laneLabels() { return timeline.drawnLabels ?? []; },
    /** The lane labels' gutter and where the plot starts, in CSS pixels. */
    get plot() { return timeline.g ? { gutter: timeline.g.gutter, x0: timeline.g.plotX0, x1: timeline.g.plotX1 } : null; },
    get showLoading() { return timelinePanel.showLoading; },
    /** Each arrow on screen as {t, from, to, via, why}: `via` 0 as recorded, 1 folded
     * through the Hub, 2 a task resuming after its own wait; `why` its label. A method,
     * not a getter: a million switches stay out of every state read. */
    arrowList: () => {
      const set = player.switches();
      return Array.from({ length: set.count }, (_, i) => ({
        t: set.t[i], from: set.from[i], to: set.to[i], via: set.via[i], why: switchWhy(store, set, i),
      }));
    },
    /** Block spans as drawn: {task, since, until, call, computing}. */
    get blocks() {
      return store.blocks.map((b) => ({
        task: b.task, since: b.since, until: Number.isNaN(b.until) ? null : b.until, call: b.call, computing: b.busy,
      }));
    },
    /** Arrows of the switch list on screen: raw switches, or folded through the Hub. */
    get arrows() { return player.switches().count; },
    get language() { return language(); },
    get predict() { return snap("predict"); },
    /** What the Hub or event loop waits for at the cursor (waiting.js), or null. */
    get waiting() { return snap("waiting"); },
    get compare() { return compare.summary(); },
    stepNext: thenFlush(() => player.stepNext()),
    stepPrev: thenFlush(() => player.stepPrev()),
    seek: thenFlush((ns) => { player.seek(ns); }),
    play: () => player.play(),
    pause: () => player.pause(),
    setSpeed: (x) => player.setSpeed(x),
    setPace: (n) => player.setPace(n),
    /** Start recording where play moves the cursor (cursorTrail). */
    recordCursor: () => { player.trail = []; },
    setShowLoading: (on) => timelinePanel.setShowLoading(on),
    setShowHub: actions.setShowHub,
    setPredict: actions.setPredict,
    answer: thenFlush((taskId) => player.answer(taskId)),
    setLanguage: actions.setLanguage,
    computeStats: () => statsPanel.recompute(),
    subscribe: actions.subscribe,
    loadTrace: actions.loadTrace,
    /** Read a trace File (or Blob) in the page, incrementally, as Open... of a file over
     * the server's limit does; resolves when it is shown (or refused: see lastError).
     * `options`: loader.js readTrace's chunkBytes, maxChars. */
    openTrace: (file, options = {}) => actions.openTrace(
      file instanceof File ? file : new File([file], "trace.json"), options),
    /** {name, fraction, local} while a file is read or uploaded, else null. */
    get opening() { return actions.opening(); },
    /** Where the last file opened here was parsed: "worker" or "page" (loader.js). */
    get readIn() { return actions.readIn(); },
    /** Bytes of the store's typed arrays (outside the JS heap): the event columns, the
     * switch lists and their per-pair indexes, the tasks' spans, as allocated. */
    storeBytes: () => {
      const seen = new Set();
      const walk = (o) => {
        let bytes = 0;
        for (const v of Object.values(o)) {
          if (ArrayBuffer.isView(v) && !seen.has(v.buffer)) {
            seen.add(v.buffer);
            bytes += v.buffer.byteLength;
          }
        }
        return bytes;
      };
      let bytes = walk(store);
      for (const set of [store.raw, store.folded]) {
        bytes += walk(set);
        for (const pair of set.pairIndexes()) bytes += walk(pair);
      }
      for (const task of store.tasks) if (task) bytes += walk(task);
      return bytes;
    },
    /** What the store holds, in brief: counts, the first and last rows, tasks, lanes,
     * switch sums, warnings (to compare two ways of loading the same trace). */
    digest: () => {
      const row = (j) => (j < 0 || j >= store.length ? null
        : [store.t[j], store.kind[j], store.a[j], store.b[j], store.x[j] ?? null]);
      const sum = (set) => {
        let t = 0; let ft = 0; let c = 0;
        for (let i = 0; i < set.count; i++) {
          t += set.t[i];
          ft += set.from[i] * 31 + set.to[i] * 7 + set.kind[i] + set.via[i] * 3 + set.line[i];
          c += set.cause[i] * 13 + set.woke[i] + set.event[i];
        }
        return { count: set.count, t, ft, c, pairs: set.pairIndexes().length };
      };
      const xs = [];
      for (let j = 0; j < store.length; j++) if (store.x[j] != null) xs.push([j, store.x[j]]);
      return {
        length: store.length, lastT: store.lastT, first: row(0), last: row(store.length - 1),
        raw: sum(store.raw), folded: sum(store.folded), x: xs, causes: [...store.causes],
        tasks: store.lanes.map((task) => ({
          id: task.id, name: task.name, label: task.label, kind: task.kind, args: task.args,
          thread: task.thread, parent: task.parent, spawnedAt: task.spawnedAt,
          finishedAt: Number.isNaN(task.finishedAt) ? null : task.finishedAt,
          spans: task.spanCount, busy: task.spanCount ? task.busy[task.spanCount - 1] : 0,
        })),
        warnings: store.warnings.map((w) => ({ ...w })),
        blocks: store.blocks.map((b) => ({ ...b, until: Number.isNaN(b.until) ? null : b.until })),
        marks: store.marks.map((m) => ({ ...m })), stdout: store.stdoutLines(),
        status: feed.status, durationNs: feed.durationNs, run: feed.info,
      };
    },
    redraw: actions.redraw,
    /** Where warning k's marker is drawn, in CSS pixels of the timeline canvas, or null. */
    warningMarker: (k) => timelinePanel.warningMarker(k),
    /** Where time t is on the timeline canvas, in CSS pixels from its left edge. */
    xAt: (t) => timeline.xAt(t),
    /** Where task `id`'s bar is on the timeline canvas, in CSS pixels from its top, or null. */
    laneY: (id) => {
      const g = timeline.g;
      const i = g ? g.laneOf[id] : -1;
      return i >= 0 ? g.laneY[i] : null;
    },
    /** The colour the timeline canvas shows at time t, `fromBottom` CSS pixels above its foot. */
    pixelAt: (t, fromBottom) => timelinePanel.pixelAt(t, fromBottom),
  };
  Object.defineProperty(window, "coroscope", { value: Object.freeze(hooks), enumerable: true });
}

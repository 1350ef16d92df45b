// `window.coroscope`: the state the browser tests (and benchmarks/browser.py) observe,
// read from the feed, the player and the panels' snapshots, plus the player's controls.
// Names and meanings are a contract with tests/: keep them.

import { language } from "./i18n.js";

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
    /** The lanes on screen (the Hub only when it is shown). */
    get lanes() {
      const shown = timeline.showHub ? store.lanes : store.lanes.filter((task) => task.kind !== "hub");
      return shown.map((task) => ({
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
    get following() { return snap("transport").following; },
    get sourceMarks() { return snap("source").marks; },
    get consoleCurrent() { return snap("console").current; },
    get stats() { return snap("stats"); },
    get warnings() { return store.warnings.map((w) => ({ ...w })); },
    get marks() { return store.marks.map((m) => ({ ...m })); },
    get showHub() { return timeline.showHub; },
    /** Arrows of the switch list on screen: raw switches, or folded through the Hub. */
    get arrows() { return player.switches().count; },
    get language() { return language(); },
    get predict() { return snap("predict"); },
    get compare() { return compare.summary(); },
    stepNext: thenFlush(() => player.stepNext()),
    stepPrev: thenFlush(() => player.stepPrev()),
    seek: thenFlush((ns) => { player.seek(ns); }),
    play: () => player.play(),
    pause: () => player.pause(),
    setSpeed: (x) => player.setSpeed(x),
    setShowHub: actions.setShowHub,
    setPredict: actions.setPredict,
    answer: thenFlush((taskId) => player.answer(taskId)),
    setLanguage: actions.setLanguage,
    computeStats: () => statsPanel.recompute(),
    subscribe: actions.subscribe,
    loadTrace: actions.loadTrace,
    redraw: actions.redraw,
    /** Where warning k's marker is drawn, in CSS pixels of the timeline canvas, or null. */
    warningMarker: (k) => timelinePanel.warningMarker(k),
    /** Where time t is on the timeline canvas, in CSS pixels from its left edge. */
    xAt: (t) => timeline.xAt(t),
    /** The colour the timeline canvas shows at time t, `fromBottom` CSS pixels above its foot. */
    pixelAt: (t, fromBottom) => timelinePanel.pixelAt(t, fromBottom),
  };
  Object.defineProperty(window, "coroscope", { value: Object.freeze(hooks), enumerable: true });
}

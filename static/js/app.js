// The dashboard, composed: one run feed (feed.js) fills the store, one frame scheduler
// (scheduler.js) drives the panels registered below, and the rest is wiring: the run
// controls, Compare, History, files, the keyboard, the language, and `window.coroscope`
// (hooks.js). What each part does lives in its module.

import { deleteRun, fetchDemos, fetchEditAccess, fetchRuns, renameRun } from "./api.js";
import { exportToBatches } from "./codec.js";
import { Compare } from "./compare.js";
import { Console } from "./console.js";
import { localized, Picker } from "./controls.js";
import { ENDED, LIVE, RunFeed } from "./feed.js";
import { Files } from "./files.js";
import { FlightPanel } from "./flight.js";
import { SourceEditor } from "./edit.js";
import { ErrorBar, Header } from "./header.js";
import { HistoryPanel } from "./history.js";
import { HonestNumbers } from "./honest.js";
import { publishHooks } from "./hooks.js";
import { language, serverText, setLanguage, t, translatePage } from "./i18n.js";
import { bindKeys } from "./keyboard.js";
import { Player } from "./player.js";
import { PredictPanel } from "./predict.js";
import { ALL, CLOCK, CURSOR, PAINT, Scheduler, STATUS } from "./scheduler.js";
import { SourcePanel } from "./source.js";
import { StatsPanel } from "./stats.js";
import { Store } from "./store.js";
import { TimelinePanel } from "./timeline-panel.js";
import { Transport } from "./transport.js";
import { View } from "./view.js";
import { WaitingPanel } from "./waiting.js";

// Final states whose `run.error` is a problem to show (a cancelled run is no problem).
const ALARMING = ["error", "limit", "crashed"];
const LANG_PREF = "coroscope.lang";
// A run exported as one HTML file (app/standalone.py): its trace, and no server behind it.
const STANDALONE = window.coroscopeStandalone ?? null;

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const byId = (id) => document.getElementById(id);

// ---- the run and the frame ----------------------------------------------------------

const store = new Store();
const view = new View();
const frame = { extent: 0 }; // how far the run reaches, as of this frame's tick
const errors = new ErrorBar({ root: $("error"), text: byId("error-text"), dismiss: byId("error-dismiss") });
const report = (message) => errors.report(message);
const clearError = () => errors.clear();

const feed = new RunFeed({
  store,
  onReset: () => {
    picker.shownDemo = feed.info?.demo ?? null;
    view.follow = true;
    player.reset(true);
    files.links();
    scheduler.reset();
    if (feed.following && feed.runId) showInHash();
  },
  onState: (state, previous, end) => {
    if (state === LIVE && feed.following) picker.follow(feed.info);
    if (state === ENDED && end) {
      if (ALARMING.includes(feed.status) && end.error) {
        // A demo's exception is Python's own text; the server's words are translated.
        report(t(`end.${feed.status}`, { error: feed.status === "error" ? end.error : serverText(end.error) }));
      }
      else if (end.unsaved) report(t("error.unsaved", { detail: end.unsaved }));
      if (feed.following) historyPanel.refreshIfOpen();
    }
    scheduler.commit(ALL);
  },
  onRows: () => scheduler.commit(ALL),
  onError: ({ kind, message }) => {
    report(kind === "server" ? t("error.server", { detail: serverText(message) }) : message);
    scheduler.commit(ALL);
  },
});

const scheduler = new Scheduler({ tick, paced: () => feed.growing });

/** Each frame, before the panels: the player advances, the window keeps the switch
 * played or asked about in view (timeline-panel.js), or follows the run; a live run, or
 * a moving cursor, asks for the next frame. */
function tick() {
  const ext = (frame.extent = feed.extent());
  const moving = player.tick(performance.now());
  let flags = (moving ? CURSOR : 0) | (feed.growing ? CLOCK : 0);
  if (timelinePanel.keepInView(ext)) {
    flags |= PAINT;
  } else if (view.follow) {
    view.fit(ext);
    if (feed.growing) flags |= PAINT;
  }
  // A live run grows with the clock, not only with events; a playing cursor moves.
  if (feed.growing || moving) scheduler.commit(feed.growing ? CLOCK | PAINT : CURSOR);
  return flags;
}

const flush = () => scheduler.flush();
const player = new Player({
  switches: () => (timelinePanel.timeline.showHub ? store.raw : store.folded),
  extent: () => feed.extent(),
  start: () => view.origin(),
  onChange: () => scheduler.commit(CURSOR),
});
const picker = new Picker({
  select: $("demo-select"),
  params: byId("params"),
  runBoth: $("run-both"),
  run: $("run"),
  hasRun: () => store.length > 0,
  onChange: () => scheduler.commit(STATUS),
  canRunOpened: () => sourceEditor.scriptStart() !== null,
});
const compare = new Compare({
  root: $("compare"),
  onError: (message) => report(message),
  onClose: () => {
    showInHash();
    scheduler.commit(ALL);
  },
  onShow: () => showInHash(),
  onChange: () => scheduler.commit(STATUS),
  onOpen: (id) => {
    compare.close({ keep: id });
    subscribe(id);
  },
  titleOf: (info) => picker.runTitle(info),
  showLoading: localStorage.getItem("coroscope.showLoading") === "1",
  onLoading: (on) => timelinePanel.setShowLoading(on),
});
const historyPanel = new HistoryPanel({
  root: $("history-panel"),
  fetchRuns,
  onOpen: (id) => subscribe(id),
  onRename: renameRun,
  onDelete: deleteRun,
  onCompare: (ids) => compareRuns(ids),
  onError: (message) => report(message),
  titleOf: (info) => picker.runTitle(info),
});
const files = new Files({
  ui: {
    open: $("open"), openFile: byId("open-file"), export: $("export"), exportGz: $("export-gz"),
    perfetto: $("export-perfetto"),
    exportHtml: $("export-html"), exportMenu: $("export-menu"), dropzone: $("dropzone"),
  },
  feed, standalone: STANDALONE, report, clearError, subscribe, adopt,
  onProgress: () => scheduler.commit(STATUS),
  onImported: () => historyPanel.refreshIfOpen(),
});

// ---- the panels, in the order they update ---------------------------------------------

/** Move the player's cursor to `tns`, bringing it into the window. */
function pick(tns) {
  player.seek(tns);
  if (tns < view.t0 || tns > view.t1) view.centerOn(tns, feed.extent());
  scheduler.commit(PAINT);
}

const sourcePanel = new SourcePanel({ root: $("source"), fileEl: byId("source-file"), feed, player });
const timelinePanel = new TimelinePanel({
  wrap: byId("timeline-wrap"), canvas: $("timeline"), store, view, player, frame, hubToggle: $("hub-toggle"),
  loadingToggle: $("loading-toggle"),
  onHub: (on) => {
    compare.setShowHub(on);
    scheduler.flush(ALL);
  },
  onViewChange: () => scheduler.commit(PAINT),
  onLoading: (on) => compare.setShowLoading(on),
  onPick: (tns) => player.seek(tns),
  sourceLine: (n) => sourcePanel.line(n),
});
scheduler.add("console", new Console({ list: $("console"), count: byId("console-count"), store, player, onPick: pick }));
scheduler.add("source", sourcePanel);
const sourceEditor = scheduler.add("edit", new SourceEditor({
  ui: {
    bar: byId("source-bar"), edit: $("edit"), reset: $("edit-reset"), mark: $("edit-mark"),
    badge: $("edited-badge"), why: $("edit-why"), code: $("source"), diff: $("diff"),
    box: byId("source-editor"), gutter: byId("editor-gutter"), text: $("source-edit"),
  },
  feed, picker, server: !STANDALONE,
}));
scheduler.add("honest", new HonestNumbers({
  root: $("honest"), feed, tutorial: (id) => localized(picker.demo(id), "tutorial_figure"),
  demo: (id) => picker.demo(id),
  onTimeUntraced: STANDALONE ? null : timeUntraced,
}));
const statsPanel = scheduler.add("stats", new StatsPanel({ root: $("stats"), title: $("stats-title"), feed, frame, onPick: pick }));
const transport = scheduler.add("transport", new Transport({
  ui: {
    prev: $("prev"), play: $("play"), next: $("next"), speed: $("speed"), scrubber: $("scrubber"),
    cursorTime: $("cursor-time"), live: $("live"), predictToggle: $("predict-toggle"),
  },
  feed, player, frame, flush,
}));
scheduler.add("predict", new PredictPanel({
  root: $("predict"), store, player, lanes: () => timelinePanel.timeline.shownLanes(), flush,
}));
scheduler.add("waiting", new WaitingPanel({
  anchor: $("predict"), store, player, sourceLine: (n) => sourcePanel.line(n),
}));
const flightPanel = scheduler.add("flight", new FlightPanel({
  ui: {
    window: $("flight-window"), block: $("flight-block"), bar: $("flight-bar"), text: $("flight-text"),
    snapshot: $("snapshot"), snaps: $("flight-snaps"),
  },
  feed,
  onOpen: (id) => subscribe(id),
  onTaken: () => historyPanel.refreshIfOpen(),
  onError: (message) => report(t("error.server", { detail: serverText(message) })),
  setEmptyText: (key) => {
    if (timelinePanel.timeline.emptyKey === key) return;
    timelinePanel.timeline.emptyKey = key;
    scheduler.commit(PAINT);
  },
}));
scheduler.add("header", new Header({
  ui: {
    status: $("status"), cancel: $("cancel"), counts: byId("counts"),
    runTitle: byId("run-title"), runDesc: byId("run-desc"),
  },
  feed, compare, picker, importing: () => files.importing,
}));
// The timeline updates last: the panels above may change the page's layout (the Waiting
// and Predict panels appear, the header's description wraps), and it draws at the size
// its wrap has once they have, in the same frame.
scheduler.add("timeline", timelinePanel);

// ---- what is shown: a run started, one opened, a loaded trace, a pair ------------------

/** The form's parameters for `demo`, or null once the first bad one is reported. */
function formParams(demo) {
  try {
    return picker.params(demo);
  } catch (err) {
    report(err.message);
    return null;
  }
}

/** Run the picked demo. The run on screen stops: unseen, it would only hold one of the
 * server's run slots. */
function startRun() {
  const demo = picker.selected();
  const script = demo ? null : sourceEditor.scriptStart();
  if (script) {
    // An opened script's run, run again as its source panel shows it (edit.js).
    feed.cancel();
    compare.abandon();
    clearError();
    timelinePanel.startClock();
    picker.fromPicker = true;
    feed.startScript(script.run, script.source, script.info);
    return;
  }
  if (!demo) return;
  const params = formParams(demo);
  if (!params) return;
  feed.cancel();
  compare.abandon();
  clearError();
  timelinePanel.startClock();
  picker.fromPicker = true; // the picker already shows it, and may be edited meanwhile
  feed.start(demo.id, params, { title: demo.title }, sourceEditor.sourceFor(demo.id, params),
    flightPanel.options());
}

/** Run the demo run on screen again (its parameters, its edited text if it was edited),
 * then once more without the tracer: its untraced timing (honest.js). */
function timeUntraced() {
  const info = feed.info;
  if (!info?.demo) return;
  feed.cancel();
  compare.abandon();
  clearError();
  timelinePanel.startClock();
  picker.fromPicker = false; // the picker follows the new run, as it shows this one
  feed.start(info.demo, info.params ?? {}, { title: info.title },
    info.edited ? info.source?.text ?? null : null, { untraced: true });
}

/** Watch a run by id (a live run's tail, or a finished one whole). */
function subscribe(runId) {
  compare.abandon();
  clearError();
  picker.fromPicker = false; // opened, not started here: the picker will follow it
  feed.subscribe(runId);
}

/** Show a native export as if it had been streamed (window.coroscope.loadTrace). */
function loadTrace(trace) {
  // Playwright calls a function-valued expression such as
  // `window.coroscope && window.coroscope.loadTrace` with null while polling for it:
  // answer "ready" instead of reporting a bad trace.
  if (trace == null) return true;
  let batches;
  try {
    batches = exportToBatches(trace);
  } catch (err) {
    report(t("error.trace", { detail: err.message }));
    return false;
  }
  clearError();
  compare.abandon();
  feed.load(trace, batches);
  return true;
}

/** Show a trace read here into a store of its own (files.js, loader.js). */
function adopt(trace, fresh, file) {
  clearError();
  compare.abandon();
  feed.adopt(trace, fresh, file);
}

/** Run both: the contrast pair, with the parameters typed in the form. Each side gets
 * the ones its demo has, and the pair's own (the variant that differs) win. */
function runBoth() {
  const demo = picker.selected();
  if (!demo?.compare?.length) return;
  const typed = formParams(demo);
  if (!typed) return;
  feed.cancel();
  clearError();
  historyPanel.close();
  compare.startPair(demo.compare.map((c) => {
    const names = new Set((picker.demo(c.demo)?.params ?? []).map((p) => p.name));
    const carried = Object.fromEntries(Object.entries(typed).filter(([name]) => names.has(name)));
    return { demo: c.demo, params: { ...carried, ...c.params } };
  }));
}

function compareRuns(ids) {
  clearError();
  historyPanel.close();
  compare.showPicked(ids);
}

// ---- controls -------------------------------------------------------------------------

byId("controls").addEventListener("submit", (e) => {
  e.preventDefault();
  startRun();
});
$("cancel").addEventListener("click", () => {
  if (compare.active) compare.cancel();
  else feed.cancel();
});
$("run-both").addEventListener("click", runBoth);
byId("fit").addEventListener("click", () => {
  view.follow = true;
  scheduler.commit(PAINT);
});
$("history").addEventListener("click", () => historyPanel.toggle());
$("lang").addEventListener("click", () => applyLanguage(language() === "en" ? "zh" : "en"));
bindKeys({ history: historyPanel, hasRun: () => store.length > 0, player, flush });

/** The address names what is shown (`#run=id`, or `#compare=a,b`), so a reload shows it again. */
function showInHash() {
  const ids = compare.active ? compare.slots.map((s) => s.id) : null;
  const hash = ids ? `#compare=${ids.map(encodeURIComponent).join(",")}`
    : feed.following && feed.runId ? `#run=${encodeURIComponent(feed.runId)}` : "";
  if (hash !== location.hash) window.history.replaceState(null, "", hash || location.pathname + location.search);
}

window.addEventListener("hashchange", openFromHash);
function openFromHash() {
  const run = /^#run=(.+)$/.exec(location.hash);
  if (run) {
    const id = decodeURIComponent(run[1]);
    if (id !== feed.runId) subscribe(id);
  }
  const pair = /^#compare=([^,]+),([^,]+)$/.exec(location.hash);
  if (pair) {
    const ids = [pair[1], pair[2]].map(decodeURIComponent);
    if (!compare.active || compare.slots.some((s, k) => s.id !== ids[k])) compareRuns(ids);
  }
}

function applyLanguage(code) {
  setLanguage(code);
  localStorage.setItem(LANG_PREF, code);
  translatePage();
  picker.relabel();
  scheduler.relabel();
  historyPanel.render();
  compare.render();
}

publishHooks({
  feed, view, player, scheduler, timelinePanel, statsPanel, compare,
  actions: {
    flush,
    shownDemo: () => picker.shownDemo,
    lastError: () => errors.last,
    setShowHub: (on) => timelinePanel.setShowHub(on),
    setPredict: (on) => transport.setPredict(on),
    setLanguage: applyLanguage,
    subscribe,
    loadTrace,
    openTrace: (file, options) => files.openLocally(file, options),
    opening: () => files.importing,
    readIn: () => files.readIn,
    redraw: () => {
      scheduler.flush(PAINT);
      return timelinePanel.lastRedrawMs;
    },
  },
});

// ---- start --------------------------------------------------------------------------

const savedLang = localStorage.getItem(LANG_PREF);
if (savedLang && savedLang !== "en") {
  try {
    setLanguage(savedLang);
  } catch {
    // an unknown saved language: stay in English
  }
}
translatePage();
files.links();
scheduler.reset();
if (STANDALONE) {
  // What needs the server (Run, Open..., History, the Perfetto download) is hidden by
  // the stylesheet; the run is shown as a loaded export, ready to play.
  document.body.classList.add("standalone");
  loadTrace(STANDALONE.trace);
} else {
  $("demo-select").append(new Option(t("demo.loading"), ""));
  fetchDemos()
    .then((list) => picker.load(list))
    .catch((err) => report(t("error.demos", { detail: err.message })));
  sourceEditor.ask(fetchEditAccess);
  openFromHash();
}

// The dashboard: wires the controls, the live socket, the store, the player and the
// panels, and publishes `window.coroscope` (state the browser tests observe, plus the
// player's controls).

import {
  cancelRun, deleteRun, exportUrl, fetchDemos, fetchRuns, importTrace, LiveSocket,
  htmlUrl, perfettoUrl, renameRun, startRunRest,
} from "./api.js";
import { Compare } from "./compare.js";
import { Console } from "./console.js";
import { formatDuration, formatInstant } from "./format.js";
import { FINAL_STATUSES } from "./kinds.js";
import { HistoryPanel } from "./history.js";
import { formatCount, language, setLanguage, t, translatePage } from "./i18n.js";
import { Player, SPEEDS } from "./player.js";
import { Pointer } from "./pointer.js";
import { SourcePanel } from "./source.js";
import { StatsPanel } from "./stats.js";
import { exportToBatches, Store } from "./store.js";
import { taskColor, Timeline } from "./timeline.js";
import { LIVE_FRAME_SHARE, View } from "./view.js";

// Final states whose `run.error` is a problem to show, not just an explanation.
const ALARMING = ["error", "limit", "crashed", "cancelled"];
const PREFS = { lang: "coroscope.lang", hub: "coroscope.showHub" };
// A run exported as one HTML file (app/standalone.py): its trace, and no server behind it.
const STANDALONE = window.coroscopeStandalone ?? null;

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const ui = {
  form: document.getElementById("controls"),
  demo: $("demo-select"),
  params: document.getElementById("params"),
  run: $("run"),
  runBoth: $("run-both"),
  cancel: $("cancel"),
  open: $("open"),
  openFile: document.getElementById("open-file"),
  history: $("history"),
  export: $("export"),
  perfetto: $("export-perfetto"),
  exportHtml: $("export-html"),
  lang: $("lang"),
  status: $("status"),
  error: $("error"),
  errorText: document.getElementById("error-text"),
  dismiss: document.getElementById("error-dismiss"),
  fit: document.getElementById("fit"),
  hubToggle: $("hub-toggle"),
  runTitle: document.getElementById("run-title"),
  runDesc: document.getElementById("run-desc"),
  counts: document.getElementById("counts"),
  wrap: document.getElementById("timeline-wrap"),
  canvas: $("timeline"),
  console: $("console"),
  consoleCount: document.getElementById("console-count"),
  prev: $("prev"),
  play: $("play"),
  next: $("next"),
  speed: $("speed"),
  scrubber: $("scrubber"),
  cursorTime: $("cursor-time"),
  live: $("live"),
  predictToggle: $("predict-toggle"),
  predict: $("predict"),
  source: $("source"),
  sourceFile: document.getElementById("source-file"),
  stats: $("stats"),
  dropzone: $("dropzone"),
};

const store = new Store();
const view = new View();
const state = {
  status: "idle",
  runId: null,
  demo: null,
  seqOk: true,
  lastError: null,
  firstSwitchDrawnAt: null,
  runClickedAt: null,
  drawnSwitches: 0,
  lastRedrawMs: 0,
  importing: null, // {name, fraction} while Open... uploads (fraction null: being checked)
};
// What the page is showing: a run streamed over the socket or a loaded export.
const run = {
  following: false, // frames from the socket belong to what is shown
  awaiting: false, // start/subscribe sent, run frame not yet received: older frames are stale
  live: false,
  frameAt: 0, // performance.now() at the run frame: the estimate of the run's t = 0
  durationNs: null,
  title: "",
  exportTrace: null, // a loaded export, offered back as the download
  warningsDone: false,
  shown: null, // {demo, params} of a run opened (not started here), for the picker
  fromPicker: false, // the run on screen was started from the picker
};
let demos = [];
let frameRequested = false;
let dirty = true; // the canvas must be repainted (the cursor overlay alone does not need it)
let lastFrameAt = -Infinity;
let lastFrameCost = 0;

const timeline = new Timeline({ wrap: ui.wrap, canvas: ui.canvas, store, view });
timeline.showHub = localStorage.getItem(PREFS.hub) === "1";
const player = new Player({
  switches: () => (timeline.showHub ? store.raw : store.folded),
  extent,
  onChange: () => invalidate(false),
});
const sourcePanel = new SourcePanel({ root: ui.source, fileEl: ui.sourceFile });
const pointer = new Pointer({
  timeline, view, onViewChange: invalidate, onPick: (tns) => player.seek(tns),
  sourceLine: (n) => sourcePanel.line(n),
});
const consoleView = new Console({
  list: ui.console,
  count: ui.consoleCount,
  store,
  onPick: (tns) => {
    player.seek(tns);
    if (tns < view.t0 || tns > view.t1) view.centerOn(tns, extent());
    invalidate();
  },
});
const statsPanel = new StatsPanel({
  root: ui.stats,
  onPick: (tns) => {
    player.seek(tns);
    if (tns < view.t0 || tns > view.t1) view.centerOn(tns, extent());
    invalidate();
  },
});
const socket = new LiveSocket({ onMessage, onClose });
const compare = new Compare({
  root: $("compare"),
  onError: (message) => report(message),
  onClose: () => {
    document.body.classList.remove("comparing");
    invalidate();
  },
  onChange: () => renderStatus(),
  onOpen: (id) => {
    compare.close({ keep: id });
    subscribe(id);
  },
  titleOf: (info) => runTitle(info),
});
const historyPanel = new HistoryPanel({
  root: $("history-panel"),
  fetchRuns,
  onOpen: (id) => subscribe(id),
  onRename: renameRun,
  onDelete: deleteRun,
  onCompare: (ids) => compareRuns(ids),
  onError: (message) => report(message),
});

// Cursor overlays on the timeline: moving the cursor never repaints the canvas.
const cursorLine = overlay("play-cursor");
const futureShade = overlay("future-shade");
function overlay(cls) {
  const el = document.createElement("div");
  el.className = cls;
  el.hidden = true;
  ui.wrap.append(el);
  return el;
}

// ---- drawing ------------------------------------------------------------------------

function invalidate(repaint = true) {
  if (repaint) dirty = true;
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(frame);
}

/** How far the run reaches: its last event, or the estimated present while it is live. */
function extent() {
  const now = run.live ? (performance.now() - run.frameAt) * 1e6 : 0;
  return Math.max(store.lastT, run.durationNs ?? 0, now);
}

function frame() {
  frameRequested = false;
  // While a run streams in, painting competes with ingesting it (and, on a small machine,
  // with the traced program itself): frames are spaced so that they take at most
  // 1/LIVE_FRAME_SHARE of the time. A small run's frames cost ~1 ms and keep 60 fps; a
  // million-event stream repaints ~10 times a second and arrives sooner (measured in
  // benchmarks/browser.py, see the README).
  const started = performance.now();
  if (run.live && started - lastFrameAt < lastFrameCost * LIVE_FRAME_SHARE) {
    invalidate(false);
    return;
  }
  lastFrameAt = started;
  paintFrame();
  lastFrameCost = performance.now() - started;
}

function paintFrame() {
  const ext = extent();
  const moving = player.tick(performance.now());
  if (view.follow) {
    view.fit(ext);
    dirty ||= run.live;
  } else if (player.playing && (player.cursor > view.t1 || player.cursor < view.t0)) {
    // Playing while zoomed in: the window turns the page when the cursor leaves it.
    const span = view.t1 - view.t0;
    view.t0 = player.cursor - span * 0.1;
    view.t1 = view.t0 + span;
    dirty = true;
  }
  if (dirty) {
    dirty = false;
    state.drawnSwitches = timeline.draw(ext);
    state.lastRedrawMs = timeline.lastDrawMs;
    if (state.drawnSwitches > 0 && state.firstSwitchDrawnAt === null) {
      state.firstSwitchDrawnAt = performance.now();
    }
    pointer.refresh();
  }
  placeCursor();
  consoleView.update();
  consoleView.setCurrent(store.stdoutBefore(player.cursor), !player.follow);
  sourcePanel.render(store, player.cursor, player.follow);
  statsPanel.update(store, run.durationNs ?? (run.live ? ext : store.lastT), run.live);
  renderPlayer(ext);
  renderPredict();
  renderStatus();
  // A live run grows with the clock, not only with events; a playing cursor moves.
  if (run.live || moving) invalidate(run.live);
}

function placeCursor() {
  const g = timeline.g;
  if (!g || !timeline.lanes.length) {
    cursorLine.hidden = futureShade.hidden = true;
    return;
  }
  const x = timeline.xAt(player.cursor);
  const visible = x >= g.plotX0 - 1 && x <= g.plotX1 + 1;
  cursorLine.hidden = !visible;
  if (visible) cursorLine.style.transform = `translateX(${Math.round(x)}px)`;
  const left = Math.max(x, g.plotX0);
  const right = g.plotX1 + 6;
  futureShade.hidden = player.follow || left >= right;
  if (!futureShade.hidden) {
    futureShade.style.transform = `translateX(${Math.round(left) + 1}px)`;
    futureShade.style.width = `${Math.round(right - left)}px`;
  }
}

function renderPlayer(ext) {
  const hasRun = store.length > 0;
  for (const b of [ui.prev, ui.play, ui.next, ui.scrubber, ui.speed]) b.disabled = !hasRun;
  const icon = player.playing ? "pause" : "play";
  if (ui.play.dataset.icon !== icon) {
    ui.play.dataset.icon = icon;
    ui.play.innerHTML = player.playing
      ? '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="3.5" y="3" width="3" height="10" fill="currentColor"/><rect x="9.5" y="3" width="3" height="10" fill="currentColor"/></svg>'
      : '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 2.5v11L13 8z" fill="currentColor"/></svg>';
  }
  ui.play.title = t(player.playing ? "pause.title" : "play.title");
  ui.play.setAttribute("aria-label", ui.play.title);
  if (ui.speed.value !== String(player.speed)) ui.speed.value = String(player.speed);
  const frac = ext > 0 ? Math.round((player.cursor / ext) * 10000) : 0;
  if (document.activeElement !== ui.scrubber && ui.scrubber.value !== String(frac)) ui.scrubber.value = String(frac);
  const text = hasRun ? `${formatInstant(player.cursor)} / ${formatDuration(ext)}` : "";
  if (ui.cursorTime.textContent !== text) ui.cursorTime.textContent = text;
  ui.live.textContent = t(run.live ? "live" : "end");
  ui.live.classList.toggle("on", player.follow);
  ui.live.disabled = !hasRun;
}

function renderPredict() {
  const q = player.question;
  const el = ui.predict;
  const key = q ? `${q.index}:${q.answer}:${language()}` : "";
  el.hidden = !q || !player.predictOn;
  if (el.dataset.key === key) return;
  el.dataset.key = key;
  if (!q) return el.replaceChildren();
  const set = player.switches();
  const origin = store.tasks[q.from];
  const chip = (task) => `<b style="color:${taskColor(task)}">${escapeHtml(task.label)}</b>`;
  if (q.answer === null) {
    // Choices: the tasks alive at the switch, except the one giving up control.
    const choices = timeline.lanes.filter((task) => task.spawnedAt <= q.t && !(task.finishedAt < q.t) && task.id !== q.from);
    el.innerHTML = `<span class="predict-q">${t("predict.ask", { task: chip(origin) })}</span>`;
    for (const task of choices) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button small predict-choice";
      b.dataset.task = String(task.id);
      b.textContent = task.label;
      b.style.borderColor = taskColor(task);
      b.style.color = taskColor(task);
      b.addEventListener("click", () => {
        player.answer(task.id);
        frameNow();
      });
      el.append(b);
    }
  } else {
    const target = store.tasks[q.to];
    const cause = store.causes[set.cause[q.index]] || "?";
    const line = set.line[q.index];
    const why = set.via[q.index] ? t("cause.via", { cause }) : cause;
    el.innerHTML =
      `<span class="predict-verdict ${q.correct ? "right" : "wrong"}">${t(q.correct ? "predict.right" : "predict.wrong")}</span> ` +
      t("predict.reveal", { from: chip(origin), to: chip(target), cause: `<b>${escapeHtml(why)}</b>` }) +
      (line >= 0 ? ` <span class="tip-muted">${escapeHtml(t("tip.paused", { line }))}</span>` : "");
    const next = document.createElement("button");
    next.type = "button";
    next.className = "button small primary";
    next.textContent = t("predict.next");
    next.addEventListener("click", () => {
      player.stepNext();
      frameNow();
    });
    el.append(" ", next);
  }
}

function renderStatus() {
  const s = compare.active ? (compare.live ? "running" : "finished") : state.status;
  let text;
  if (state.importing) {
    const { name, fraction } = state.importing;
    text = fraction === null
      ? t("status.checking", { name })
      : t("status.uploading", { name, percent: Math.floor(fraction * 100) });
  } else if (compare.active) {
    text = compare.headerStatus();
  } else if (s === "running") {
    text = run.awaiting
      ? t("status.connecting")
      : t("status.running", { elapsed: formatDuration(extent()) });
  } else if (FINAL_STATUSES.includes(s)) {
    text = t(`status.${s}`, { duration: formatDuration(run.durationNs ?? store.lastT) });
  } else {
    text = t("status.idle");
  }
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.status = s;
  // Reserve the Cancel button's room: the header must not reflow when a run starts.
  const cancellable = compare.active ? compare.live : Boolean(s === "running" && state.runId && run.following);
  ui.cancel.style.visibility = cancellable ? "visible" : "hidden";
  ui.cancel.disabled = !cancellable;
  const counts = store.length
    ? t("counts", {
        events: formatCount(store.length),
        switches: formatCount(store.switchCount),
        tasks: formatCount(store.lanes.length),
      })
    : "";
  if (ui.counts.textContent !== counts) ui.counts.textContent = counts;
  const demo = demos.find((d) => d.id === (state.demo ?? ui.demo.value));
  const title = runTitle({ demo: demo?.id, title: run.title });
  if (ui.runTitle.textContent !== title) ui.runTitle.textContent = title;
  const desc = localized(demo, "description");
  if (ui.runDesc.textContent !== desc) ui.runDesc.textContent = desc;
  ui.runDesc.parentElement.hidden = !desc && !run.title;
}

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// ---- errors -------------------------------------------------------------------------

function report(message) {
  state.lastError = message;
  ui.errorText.textContent = message;
  ui.error.hidden = false;
}

function clearError() {
  state.lastError = null;
  ui.errorText.textContent = "";
  ui.error.hidden = true;
}

// ---- one run on screen --------------------------------------------------------------

function beginRun({ runId, demo, title, kinds, source, live }) {
  store.reset(kinds);
  state.runId = runId;
  state.demo = demo;
  state.seqOk = true;
  run.title = title ?? "";
  run.durationNs = null;
  run.warningsDone = false;
  view.follow = true;
  player.reset(true);
  void live;
  setExport(runId);
  sourcePanel.setSource(source);
  consoleView.reset();
  statsPanel.reset();
  if (runId) window.history.replaceState(null, "", `#run=${encodeURIComponent(runId)}`);
}

function ingest(seq, rows) {
  if (!store.append(seq, rows) && state.seqOk) {
    state.seqOk = false;
    report(t("error.seq", { seq, have: store.length - rows.length }));
  }
}

function endRun(info) {
  run.live = false;
  run.durationNs = info.duration_ns ?? store.lastT;
  state.status = FINAL_STATUSES.includes(info.status) ? info.status : "finished";
  if (!run.warningsDone) {
    run.warningsDone = true;
    store.finishWarnings(extent());
  }
  if (ALARMING.includes(state.status) && info.error) {
    report(t(`end.${state.status}`, { error: info.error }));
  } else if (info.unsaved) {
    report(t("error.unsaved", { detail: info.unsaved }));
  }
  invalidate();
}

function setExport(runId) {
  for (const [el, href] of [[ui.export, runId ? exportUrl(runId) : null],
    [ui.perfetto, runId ? perfettoUrl(runId) : null], [ui.exportHtml, runId ? htmlUrl(runId) : null]]) {
    if (href) {
      el.href = href;
      el.removeAttribute("aria-disabled");
    } else {
      el.removeAttribute("href");
      el.setAttribute("aria-disabled", "true");
    }
  }
}

// ---- the socket ---------------------------------------------------------------------

function onMessage(msg) {
  switch (msg.type) {
    case "run":
      if (!run.following) return;
      run.awaiting = false;
      run.live = !FINAL_STATUSES.includes(msg.run.status);
      run.frameAt = performance.now() - (run.live && msg.run.duration_ns ? msg.run.duration_ns / 1e6 : 0);
      run.shown = run.fromPicker ? null : { demo: msg.run.demo, params: msg.run.params };
      if (run.shown) showInPicker(run.shown.demo, run.shown.params);
      beginRun({
        runId: msg.run.id, demo: msg.run.demo, title: msg.run.title, kinds: msg.kinds,
        source: msg.run.source, live: run.live,
      });
      state.status = "running";
      break;
    case "events":
      if (!run.following || run.awaiting) return;
      ingest(msg.seq, msg.rows);
      break;
    case "end":
      if (!run.following || run.awaiting) return;
      endRun(msg.run);
      historyPanel.refreshIfOpen();
      break;
    case "error":
      report(t("error.server", { detail: msg.error }));
      if (run.awaiting) {
        run.awaiting = false;
        run.following = false;
        state.status = "error";
      }
      break;
    default:
      return;
  }
  invalidate();
}

function onClose(detail) {
  if (state.status !== "running" || !run.following) return;
  run.live = false;
  run.awaiting = false;
  run.following = false;
  state.status = "error";
  report(t("error.connection", { detail }));
  invalidate();
}

/** Watch a run by id (a live run's tail, or a finished one whole). */
function subscribe(runId) {
  closeCompare();
  clearError();
  run.exportTrace = null;
  run.following = true;
  run.awaiting = true;
  run.live = false;
  run.fromPicker = false; // opened, not started here: the picker will follow it
  state.status = "running";
  socket.send({ type: "subscribe", run: runId });
  invalidate();
}

// ---- controls -----------------------------------------------------------------------

function selectedDemo() {
  return demos.find((d) => d.id === ui.demo.value) ?? null;
}

function renderDemo() {
  const demo = selectedDemo();
  ui.params.replaceChildren(...(demo?.params ?? []).map(paramInput));
  ui.params.hidden = !demo?.params?.length;
  ui.runBoth.hidden = !demo?.compare?.length;
  if (!store.length) state.demo = null;
  invalidate(false);
}

/** Put the picker on the demo (and parameters) of the run being shown, so that what the
 * header says matches the timeline (a run opened from History or a #run= link). */
function showInPicker(demoId, params) {
  const demo = demos.find((d) => d.id === demoId);
  if (!demo) return;
  if (ui.demo.value !== demo.id) {
    ui.demo.value = demo.id;
    renderDemo();
  }
  for (const p of demo.params ?? []) {
    const input = ui.params.querySelector(`[name="${CSS.escape(p.name)}"]`);
    const value = params?.[p.name];
    if (!input || value === undefined) continue;
    if (p.type === "choice") {
      const i = (p.choices ?? []).indexOf(value);
      if (i >= 0) input.value = String(i);
    } else if (p.type === "bool") {
      input.checked = Boolean(value);
    } else {
      input.value = String(value);
    }
  }
}

function paramInput(p) {
  const label = document.createElement("label");
  label.className = "param";
  label.title = localized(p, "help");
  const name = document.createElement("span");
  name.textContent = p.name;
  let input;
  if (p.type === "choice") {
    input = document.createElement("select");
    for (const [i, choice] of (p.choices ?? []).entries()) {
      const option = new Option(String(choice), String(i), false, choice === p.default);
      input.append(option);
    }
  } else {
    input = document.createElement("input");
    if (p.type === "bool") {
      input.type = "checkbox";
      input.checked = Boolean(p.default);
    } else {
      input.type = "number";
      input.step = p.type === "int" ? "1" : "any";
      input.inputMode = p.type === "int" ? "numeric" : "decimal";
      if (p.min != null) input.min = String(p.min);
      if (p.max != null) input.max = String(p.max);
      input.value = String(p.default);
      input.size = 6;
    }
  }
  input.name = p.name;
  label.append(name, input);
  return label;
}

/** The params as typed values, or throws an Error naming the first bad one. */
function readParams(demo) {
  const params = {};
  for (const p of demo.params ?? []) {
    const input = ui.params.querySelector(`[name="${CSS.escape(p.name)}"]`);
    let value;
    if (p.type === "bool") value = input.checked;
    else if (p.type === "choice") value = p.choices[Number(input.value)];
    else {
      value = Number(input.value);
      const fail = (key) => {
        input.focus();
        throw new Error(t("error.param", { name: p.name, detail: t(key, { min: p.min, max: p.max }) }));
      };
      if (input.value.trim() === "" || !Number.isFinite(value)) fail("error.param.number");
      if (p.type === "int" && !Number.isInteger(value)) fail("error.param.int");
      if ((p.min != null && value < p.min) || (p.max != null && value > p.max)) fail("error.param.range");
    }
    params[p.name] = value;
  }
  return params;
}

/** A new run (or pair) replaces the run on screen, which stops: unseen, it would only
 * hold one of the server's run slots. */
function stopShownRun() {
  if (state.status === "running" && state.runId && run.following) {
    socket.send({ type: "cancel", run: state.runId });
  }
}

/** The form's parameters for `demo`, or null once the first bad one is reported. */
function formParams(demo) {
  try {
    return readParams(demo);
  } catch (err) {
    report(err.message);
    return null;
  }
}

function startRun() {
  const demo = selectedDemo();
  if (!demo) return;
  const params = formParams(demo);
  if (!params) return;
  stopShownRun();
  closeCompare();
  clearError();
  state.runClickedAt = performance.now();
  state.firstSwitchDrawnAt = null;
  beginRun({ runId: null, demo: demo.id, title: demo.title });
  run.exportTrace = null;
  run.following = true;
  run.awaiting = true;
  run.live = false;
  state.status = "running";
  run.fromPicker = true; // the picker already shows it, and may be edited meanwhile
  socket.send({ type: "start", demo: demo.id, params });
  invalidate();
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
  closeCompare();
  run.following = false;
  run.awaiting = false;
  run.live = false;
  beginRun({ runId: null, demo: trace.run.demo ?? null, title: trace.run.title, source: trace.run.source });
  state.runId = trace.run.id ?? null;
  run.exportTrace = trace;
  ui.export.href = "#";
  ui.export.removeAttribute("aria-disabled");
  for (const batch of batches) ingest(batch.seq, batch.rows);
  endRun(trace.run);
  // An export taken mid-run says so; it is shown whole all the same.
  if (trace.run.status === "running" || trace.run.status === "starting") state.status = "running";
  invalidate();
  return true;
}

/** Open a trace file: the server checks it and keeps it as a run, then we watch that run.
 * The header says how far the upload is, then that the server is checking it. */
async function openFile(file) {
  if (!file) return;
  clearError();
  if (STANDALONE) return openLocally(file);
  const token = ++importToken;
  const progress = (fraction) => {
    if (token !== importToken) return;
    state.importing = { name: file.name, fraction };
    renderStatus();
  };
  progress(0);
  try {
    const created = await importTrace(file, progress);
    if (token !== importToken) return;
    state.importing = null;
    subscribe(created.id);
    historyPanel.refreshIfOpen();
  } catch (err) {
    if (token !== importToken) return;
    state.importing = null;
    renderStatus();
    report(t("error.import", { name: file.name, detail: err.message }));
  }
}

let importToken = 0; // a newer Open... wins over one still uploading

/** A page with no server (one exported HTML file): a dropped trace is read here. */
async function openLocally(file) {
  let trace;
  try {
    trace = JSON.parse(await file.text());
  } catch (err) {
    return report(t("error.import", { name: file.name, detail: err.message }));
  }
  loadTrace(trace);
}

// ---- compare --------------------------------------------------------------------------

let pairToken = 0; // bumped when what Run both is starting is no longer wanted

function closeCompare() {
  pairToken++; // a pair still being started is abandoned (runBoth cancels its runs)
  if (compare.active) compare.close();
  document.body.classList.remove("comparing");
}

/** The contrast pair, with the parameters typed in the form: each side gets the ones its
 * demo has, and the pair's own (the variant that differs) win. */
async function runBoth() {
  const demo = selectedDemo();
  if (!demo?.compare?.length) return;
  const typed = formParams(demo);
  if (!typed) return;
  stopShownRun();
  compare.cancel({ ownedOnly: true }); // the previous pair stops before the new one starts
  const token = ++pairToken;
  clearError();
  historyPanel.close();
  document.body.classList.add("comparing");
  const results = await Promise.allSettled(demo.compare.map((c) => {
    const names = new Set((demos.find((d) => d.id === c.demo)?.params ?? []).map((p) => p.name));
    const carried = Object.fromEntries(Object.entries(typed).filter(([name]) => names.has(name)));
    return startRunRest(c.demo, { ...carried, ...c.params });
  }));
  const started = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const failed = results.find((r) => r.status === "rejected");
  if (token !== pairToken || failed) {
    // Abandoned meanwhile (Run, a run opened, another Run both), or one side could not
    // start (too many runs): nobody would watch the others.
    for (const r of started) cancelRun(r.id).catch(() => {});
    if (failed && token === pairToken) {
      if (!compare.active) document.body.classList.remove("comparing");
      report(t("error.compare", { detail: failed.reason.message }));
    }
    return;
  }
  compare.show(started.map((r) => r.id), { owned: true });
}

function compareRuns(ids) {
  pairToken++;
  clearError();
  historyPanel.close();
  document.body.classList.add("comparing");
  compare.show(ids);
}

// ---- events -----------------------------------------------------------------------------

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  startRun();
});
ui.demo.addEventListener("change", renderDemo);
ui.cancel.addEventListener("click", () => {
  if (compare.active) compare.cancel();
  else if (state.runId) socket.send({ type: "cancel", run: state.runId });
});
ui.runBoth.addEventListener("click", runBoth);
// A button or checkbox clicked with the mouse gives the focus back: Space then plays the
// timeline instead of pressing Run (or History, or ticking Predict) again. Reached with
// the keyboard (Tab), a control keeps the focus and Space is its own (see keydown).
document.addEventListener("click", (e) => {
  if (e.detail === 0) return; // keyboard activation: keep the focus
  const control = e.target?.closest?.("button, input[type=checkbox], label");
  if (!control) return;
  setTimeout(() => {
    // Only if the focus is still on what was clicked: a click may move it on purpose
    // (History's Rename focuses its text field).
    const focused = document.activeElement;
    if (focused === control || control.contains(focused) || focused === control.control) {
      focused.blur();
    }
  }, 0);
});
ui.fit.addEventListener("click", () => {
  view.follow = true;
  invalidate();
});
ui.dismiss.addEventListener("click", () => {
  ui.error.hidden = true;
});
ui.hubToggle.checked = timeline.showHub;
ui.hubToggle.addEventListener("change", () => setShowHub(ui.hubToggle.checked));
function setShowHub(on) {
  timeline.showHub = Boolean(on);
  ui.hubToggle.checked = timeline.showHub;
  localStorage.setItem(PREFS.hub, timeline.showHub ? "1" : "0");
  compare.setShowHub(timeline.showHub);
  dirty = true;
  frameNow();
}
ui.export.addEventListener("click", (e) => {
  if (ui.export.hasAttribute("aria-disabled")) return e.preventDefault();
  if (run.exportTrace) {
    // A loaded trace may not exist on this server: hand back the object itself.
    const blob = new Blob([JSON.stringify(run.exportTrace)], { type: "application/json" });
    ui.export.href = URL.createObjectURL(blob);
    ui.export.download = `coroscope-${run.exportTrace.run.demo ?? "trace"}-${state.runId ?? "loaded"}.json`;
    setTimeout(() => URL.revokeObjectURL(ui.export.href), 10_000);
  } else {
    ui.export.download = "";
  }
});
for (const link of [ui.perfetto, ui.exportHtml]) {
  link.addEventListener("click", (e) => {
    if (link.hasAttribute("aria-disabled")) e.preventDefault();
  });
}
ui.open.addEventListener("click", () => ui.openFile.click());
ui.openFile.addEventListener("change", () => {
  openFile(ui.openFile.files[0]);
  ui.openFile.value = "";
});
ui.history.addEventListener("click", () => historyPanel.toggle());
ui.lang.addEventListener("click", () => applyLanguage(language() === "en" ? "zh" : "en"));

// Player controls.
ui.play.addEventListener("click", () => player.toggle());
ui.prev.addEventListener("click", () => player.stepPrev());
ui.next.addEventListener("click", () => {
      player.stepNext();
      frameNow();
    });
ui.live.addEventListener("click", () => player.goLive());
ui.speed.replaceChildren(...SPEEDS.map((x) => new Option(`${x}×`, String(x), false, x === 1)));
ui.speed.addEventListener("change", () => player.setSpeed(ui.speed.value));
ui.scrubber.addEventListener("input", () => player.seek((Number(ui.scrubber.value) / 10000) * extent()));
ui.predictToggle.addEventListener("change", () => player.setPredict(ui.predictToggle.checked));

document.addEventListener("keydown", (e) => {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape" && historyPanel.open) {
    historyPanel.close();
    e.preventDefault();
    return;
  }
  const tag = e.target?.tagName;
  if (tag === "INPUT" && e.target.type !== "range" && e.target.type !== "checkbox") return;
  if (tag === "SELECT" || tag === "TEXTAREA" || e.target?.isContentEditable) return;
  // Space on a focused control is that control's (a button presses, a checkbox ticks):
  // only elsewhere does it play or pause. (A mouse click gives the focus back: above.)
  if (e.key === " " && (tag === "BUTTON" || tag === "A" || e.target?.type === "checkbox")) return;
  if (!store.length) return;
  const keys = {
    " ": () => player.toggle(),
    ArrowRight: () => player.stepNext(),
    ArrowLeft: () => player.stepPrev(),
    "+": () => player.faster(),
    "=": () => player.faster(),
    "-": () => player.slower(),
    Home: () => player.seek(0),
    End: () => player.goLive(),
  };
  const fn = keys[e.key];
  if (!fn) return;
  e.preventDefault();
  fn();
  frameNow(); // the panels show the new cursor before the next key arrives
});

// Drag and drop a trace file anywhere on the page.
let dragDepth = 0;
window.addEventListener("dragenter", (e) => {
  if (!e.dataTransfer?.types?.includes("Files")) return;
  dragDepth++;
  ui.dropzone.hidden = false;
});
window.addEventListener("dragleave", () => {
  dragDepth = Math.max(0, dragDepth - 1);
  if (!dragDepth) ui.dropzone.hidden = true;
});
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault();
  dragDepth = 0;
  ui.dropzone.hidden = true;
  const file = e.dataTransfer?.files?.[0];
  if (file) openFile(file);
});

new ResizeObserver(() => {
  timeline.resize();
  invalidate();
}).observe(ui.wrap);

window.addEventListener("hashchange", openFromHash);
function openFromHash() {
  const m = /^#run=(.+)$/.exec(location.hash);
  if (m) {
    const id = decodeURIComponent(m[1]);
    if (id !== state.runId) subscribe(id);
  }
}

/** A demo's title, description or parameter help in the page's language. */
function localized(item, field) {
  return (language() === "zh" && item?.[`${field}_zh`]) || item?.[field] || "";
}

/** A run's title as shown: the demo's, in the page's language, unless the user renamed it. */
function runTitle(info) {
  const demo = demos.find((d) => d.id === info?.demo);
  return demo && info.title === demo.title ? localized(demo, "title") : (info?.title ?? "");
}

function fillPicker() {
  const value = ui.demo.value;
  ui.demo.replaceChildren(...demos.map((d) => new Option(localized(d, "title"), d.id)));
  if (value && demos.some((d) => d.id === value)) ui.demo.value = value;
}

function applyLanguage(code) {
  setLanguage(code);
  localStorage.setItem(PREFS.lang, code);
  translatePage();
  if (demos.length) {
    fillPicker();
    for (const label of ui.params.querySelectorAll("label.param")) {
      const p = selectedDemo()?.params?.find((q) => q.name === label.querySelector("[name]")?.name);
      if (p) label.title = localized(p, "help");
    }
  }
  consoleView.update(true);
  statsPanel.update(store, run.durationNs ?? store.lastT, false, true);
  sourcePanel.key = "";
  historyPanel.render();
  compare.render();
  document.querySelector("[data-testid=predict]").dataset.key = "";
  invalidate();
}

// ---- test hooks ---------------------------------------------------------------------

const hooks = {
  get status() { return state.status; },
  get runId() { return state.runId; },
  get demo() { return state.demo; },
  get events() { return store.length; },
  get switches() { return store.switchCount; },
  get drawnSwitches() { return state.drawnSwitches; },
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
  get seqOk() { return state.seqOk; },
  get lastError() { return state.lastError; },
  get firstSwitchDrawnAt() { return state.firstSwitchDrawnAt; },
  get runClickedAt() { return state.runClickedAt; },
  get lastRedrawMs() { return state.lastRedrawMs; },
  get view() { return { t0: view.t0, t1: view.t1 }; },
  // The player.
  get cursor() { return player.cursor; },
  get playing() { return player.playing; },
  get speed() { return player.speed; },
  get following() { return player.follow; },
  get sourceMarks() { return SourcePanel.marksAt(store, player.cursor); },
  get consoleCurrent() { return store.stdoutBefore(player.cursor); },
  get stats() { return store.length ? statsPanel.stats ?? null : null; },
  get warnings() { return store.warnings.map((w) => ({ ...w })); },
  get marks() { return store.marks.map((m) => ({ ...m })); },
  get showHub() { return timeline.showHub; },
  /** Arrows of the switch list on screen: raw switches, or folded through the Hub. */
  get arrows() { return player.switches().count; },
  get language() { return language(); },
  get predict() {
    const q = player.question;
    return { on: player.predictOn, asking: Boolean(q && q.answer === null), question: q ? { ...q } : null };
  },
  get compare() { return compare.summary(); },
  stepNext: () => { const r = player.stepNext(); frameNow(); return r; },
  stepPrev: () => { const r = player.stepPrev(); frameNow(); return r; },
  seek: (ns) => { player.seek(ns); frameNow(); },
  play: () => player.play(),
  pause: () => player.pause(),
  setSpeed: (x) => player.setSpeed(x),
  setShowHub,
  setPredict: (on) => { ui.predictToggle.checked = Boolean(on); player.setPredict(on); },
  answer: (taskId) => { const r = player.answer(taskId); frameNow(); return r; },
  setLanguage: applyLanguage,
  computeStats: () => statsPanel.update(store, run.durationNs ?? store.lastT, false, true) ?? statsPanel.stats,
  subscribe,
  loadTrace,
  redraw: () => { dirty = true; frameNow(); return state.lastRedrawMs; },
  /** Where warning k's marker is drawn, in CSS pixels of the timeline canvas, or null. */
  warningMarker: (k) => {
    const w = store.warnings[k];
    const g = timeline.g;
    const i = w && g ? g.laneOf[w.task] : undefined;
    if (i === undefined || i < 0) return null;
    return { x: timeline.xAt(w.t), y: g.laneTop[i] + g.laneH - 10 };
  },
  /** Where time t is on the timeline canvas, in CSS pixels from its left edge. */
  xAt: (t) => timeline.xAt(t),
  /** The colour the timeline canvas shows at time t, `fromBottom` CSS pixels above its foot. */
  pixelAt: (t, fromBottom) => {
    const canvas = timeline.canvas;
    const dpr = canvas.width / canvas.clientWidth;
    const x = Math.round(timeline.xAt(t) * dpr);
    const y = Math.round(canvas.height - fromBottom * dpr);
    return [...canvas.getContext("2d").getImageData(x, y, 1, 1).data];
  },
};
Object.defineProperty(window, "coroscope", { value: Object.freeze(hooks), enumerable: true });

/** Render synchronously (tests read the panels right after a step), live or not. */
function frameNow() {
  lastFrameAt = performance.now();
  paintFrame();
}

// ---- start --------------------------------------------------------------------------

const savedLang = localStorage.getItem(PREFS.lang);
if (savedLang && savedLang !== "en") {
  try {
    setLanguage(savedLang);
  } catch {
    // an unknown saved language: stay in English
  }
}
translatePage();
setExport(null);
sourcePanel.setSource(null);
statsPanel.reset();
statsPanel.render(store);
invalidate();
if (STANDALONE) {
  // What needs the server (Run, Open..., History, the Perfetto download) is hidden by
  // the stylesheet; the run is shown as a loaded export, ready to play.
  document.body.classList.add("standalone");
  loadTrace(STANDALONE.trace);
} else {
  ui.demo.append(new Option(t("demo.loading"), ""));
  fetchDemos()
    .then((list) => {
      demos = list;
      fillPicker();
      renderDemo();
      if (run.shown) showInPicker(run.shown.demo, run.shown.params); // opened before the list came
    })
    .catch((err) => report(t("error.demos", { detail: err.message })));
  openFromHash();
}

// The dashboard: wires the controls, the live socket, the store and the views, and
// publishes `window.coroscope` (read-only state the browser tests observe).

import { exportUrl, fetchDemos, LiveSocket } from "./api.js";
import { Console } from "./console.js";
import { formatDuration } from "./format.js";
import { formatCount, t, translatePage } from "./i18n.js";
import { Pointer } from "./pointer.js";
import { exportToBatches, Store } from "./store.js";
import { Timeline } from "./timeline.js";
import { View } from "./view.js";

const FINAL = ["finished", "error", "cancelled", "limit", "crashed"];
// Final states whose `run.error` is a problem to show, not just an explanation.
const ALARMING = ["error", "limit", "crashed"];

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);
const ui = {
  form: document.getElementById("controls"),
  demo: $("demo-select"),
  params: document.getElementById("params"),
  description: document.getElementById("description"),
  run: $("run"),
  cancel: $("cancel"),
  export: $("export"),
  status: $("status"),
  error: $("error"),
  errorText: document.getElementById("error-text"),
  dismiss: document.getElementById("error-dismiss"),
  fit: document.getElementById("fit"),
  runTitle: document.getElementById("run-title"),
  counts: document.getElementById("counts"),
  wrap: document.getElementById("timeline-wrap"),
  canvas: $("timeline"),
  console: $("console"),
  consoleCount: document.getElementById("console-count"),
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
};
// What the page is showing: a run streamed over the socket or a loaded export.
const run = {
  following: false, // frames from the socket belong to what is shown
  awaiting: false, // start sent, run frame not yet received: older frames are stale
  live: false,
  frameAt: 0, // performance.now() at the run frame: the estimate of the run's t = 0
  durationNs: null,
  title: "",
  exportTrace: null, // a loaded export, offered back as the download
};
let demos = [];
let frameRequested = false;

const timeline = new Timeline({ wrap: ui.wrap, canvas: ui.canvas, store, view });
const pointer = new Pointer({ timeline, view, onViewChange: invalidate });
const consoleView = new Console({
  list: ui.console,
  count: ui.consoleCount,
  store,
  onPick: (tns) => {
    view.centerOn(tns, extent());
    invalidate();
  },
});
const socket = new LiveSocket({ onMessage, onClose });

// ---- drawing ------------------------------------------------------------------------

function invalidate() {
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
  const ext = extent();
  if (view.follow) view.fit(ext);
  state.drawnSwitches = timeline.draw(ext);
  state.lastRedrawMs = timeline.lastDrawMs;
  if (state.drawnSwitches > 0 && state.firstSwitchDrawnAt === null) {
    state.firstSwitchDrawnAt = performance.now();
  }
  pointer.refresh();
  consoleView.update();
  renderStatus();
  // A live run grows with the clock, not only with events.
  if (run.live) invalidate();
}

function renderStatus() {
  const s = state.status;
  let text;
  if (s === "running") {
    text = run.awaiting
      ? t("status.connecting")
      : t("status.running", { elapsed: formatDuration(extent()) });
  } else if (FINAL.includes(s)) {
    text = t(`status.${s}`, { duration: formatDuration(run.durationNs ?? store.lastT) });
  } else {
    text = t("status.idle");
  }
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.status = s;
  ui.cancel.hidden = !(s === "running" && state.runId && run.following);
  const counts = store.length
    ? t("counts", {
        events: formatCount(store.length),
        switches: formatCount(store.switchCount),
        tasks: formatCount(store.lanes.length),
      })
    : "";
  if (ui.counts.textContent !== counts) ui.counts.textContent = counts;
  if (ui.runTitle.textContent !== run.title) ui.runTitle.textContent = run.title;
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

function beginRun({ runId, demo, title, kinds }) {
  store.reset(kinds);
  state.runId = runId;
  state.demo = demo;
  state.seqOk = true;
  run.title = title ?? "";
  run.durationNs = null;
  view.follow = true;
  setExport(runId ? exportUrl(runId) : null);
  consoleView.reset();
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
  state.status = FINAL.includes(info.status) ? info.status : "finished";
  if (ALARMING.includes(state.status) && info.error) report(info.error);
}

function setExport(href) {
  if (href) {
    ui.export.href = href;
    ui.export.removeAttribute("aria-disabled");
  } else {
    ui.export.removeAttribute("href");
    ui.export.setAttribute("aria-disabled", "true");
  }
}

// ---- the socket ---------------------------------------------------------------------

function onMessage(msg) {
  switch (msg.type) {
    case "run":
      if (!run.following) return;
      run.awaiting = false;
      run.live = !FINAL.includes(msg.run.status);
      run.frameAt = performance.now();
      beginRun({ runId: msg.run.id, demo: msg.run.demo, title: msg.run.title, kinds: msg.kinds });
      state.status = "running";
      break;
    case "events":
      if (!run.following || run.awaiting) return;
      ingest(msg.seq, msg.rows);
      break;
    case "end":
      if (!run.following || run.awaiting) return;
      endRun(msg.run);
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

// ---- controls -----------------------------------------------------------------------

function selectedDemo() {
  return demos.find((d) => d.id === ui.demo.value) ?? null;
}

function renderDemo() {
  const demo = selectedDemo();
  ui.description.textContent = demo?.description ?? "";
  ui.params.replaceChildren(...(demo?.params ?? []).map(paramInput));
  ui.params.hidden = !demo?.params?.length;
}

function paramInput(p) {
  const label = document.createElement("label");
  label.className = "param";
  label.title = p.help ?? "";
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

function startRun() {
  const demo = selectedDemo();
  if (!demo) return;
  let params;
  try {
    params = readParams(demo);
  } catch (err) {
    return report(err.message);
  }
  if (state.status === "running" && state.runId && run.following) {
    socket.send({ type: "cancel", run: state.runId });
  }
  clearError();
  state.runClickedAt = performance.now();
  state.firstSwitchDrawnAt = null;
  beginRun({ runId: null, demo: demo.id, title: demo.title });
  run.exportTrace = null;
  run.following = true;
  run.awaiting = true;
  run.live = false;
  state.status = "running";
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
  run.following = false;
  run.awaiting = false;
  run.live = false;
  beginRun({ runId: trace.run.id ?? null, demo: trace.run.demo ?? null, title: trace.run.title });
  run.exportTrace = trace;
  setExport("#");
  for (const batch of batches) ingest(batch.seq, batch.rows);
  endRun(trace.run);
  // An export taken mid-run says so; it is shown whole all the same.
  if (trace.run.status === "running" || trace.run.status === "starting") state.status = "running";
  invalidate();
  return true;
}

ui.form.addEventListener("submit", (e) => {
  e.preventDefault();
  startRun();
});
ui.demo.addEventListener("change", renderDemo);
ui.cancel.addEventListener("click", () => {
  if (state.runId) socket.send({ type: "cancel", run: state.runId });
});
ui.fit.addEventListener("click", () => {
  view.follow = true;
  invalidate();
});
ui.dismiss.addEventListener("click", () => {
  ui.error.hidden = true;
});
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
new ResizeObserver(() => {
  timeline.resize();
  invalidate();
}).observe(ui.wrap);

// ---- test hooks ---------------------------------------------------------------------

const hooks = {
  get status() { return state.status; },
  get runId() { return state.runId; },
  get demo() { return state.demo; },
  get events() { return store.length; },
  get switches() { return store.switchCount; },
  get drawnSwitches() { return state.drawnSwitches; },
  get lanes() {
    return store.lanes.map((task) => ({ id: task.id, name: task.name, label: task.label, kind: task.kind }));
  },
  get stdout() { return store.stdoutLines(); },
  get seqOk() { return state.seqOk; },
  get lastError() { return state.lastError; },
  get firstSwitchDrawnAt() { return state.firstSwitchDrawnAt; },
  get runClickedAt() { return state.runClickedAt; },
  get lastRedrawMs() { return state.lastRedrawMs; },
  get view() { return { t0: view.t0, t1: view.t1 }; },
  loadTrace,
};
Object.defineProperty(window, "coroscope", { value: Object.freeze(hooks), enumerable: true });

// ---- start --------------------------------------------------------------------------

translatePage();
setExport(null);
invalidate();
ui.demo.append(new Option(t("demo.loading"), ""));
fetchDemos()
  .then((list) => {
    demos = list;
    ui.demo.replaceChildren(...list.map((d) => new Option(d.title, d.id)));
    renderDemo();
  })
  .catch((err) => report(t("error.demos", { detail: err.message })));

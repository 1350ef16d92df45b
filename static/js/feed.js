// A run feed: one run on its way into a Store, from the server's websocket (a run started
// here, or one subscribed to by id) or from a loaded trace (a native export). Its state:
//
//   idle -> awaiting -> live -> ended
//
// * idle: nothing asked for yet.
// * awaiting: `start` or `subscribe` sent, the run frame not come: rows still arriving
//   for the run shown before are stale and dropped.
// * live: the run frame came (the store was reset to that run) and rows arrive.
//   `growing` tells whether the run itself still goes on (its end moves with the clock)
//   or is a finished run arriving whole.
// * ended: its end came (or the loaded trace was read), or it failed (`status` "error").
//
// `enter()` is the one place that sets the state; the owner's `onState(state, previous,
// detail)` hears every transition (`detail`: the run's end info, on "ended").

import { LiveSocket } from "./api.js";
import { t } from "./i18n.js";
import { FINAL_STATUSES } from "./kinds.js";

// The server's refusal of code from a browser without the edit secret (app/web).
const EDIT_REFUSED = /^editing needs the address the server printed/;

export const IDLE = "idle";
export const AWAITING = "awaiting";
export const LIVE = "live";
export const ENDED = "ended";

export class RunFeed {
  /**
   * `store` receives the run (reset now, and at each new run, then `onReset()`);
   * `onRows()` follows each batch; `onError({kind, message})` reports a lost row
   * ("seq"), a dropped connection ("connection") or the server's error ("server",
   * `message` as the server said it).
   */
  constructor({ store, onState = () => {}, onReset = () => {}, onRows = () => {}, onError = () => {} }) {
    this.store = store;
    this.handlers = { onState, onReset, onRows, onError };
    this.socket = new LiveSocket({ onMessage: (msg) => this.receive(msg), onClose: (why) => this.dropped(why) });
    this.state = IDLE;
    this.status = "idle"; // what the header says: idle, running, a final status, or error
    this.following = false; // frames from the socket belong to this feed's run
    this.info = null; // the run: {id, demo, title, params, source, status, duration_ns, ...}
    this.runId = null; // the id of the run in the store (a subscribe keeps the old one until its frame)
    this.trace = null; // the loaded export, offered back as the download
    this.growing = false;
    this.finished = false; // its end came (an end frame, or the loaded trace)
    this.frameAt = 0; // performance.now() at the run frame: the estimate of the run's t = 0
    this.durationNs = null;
    this.seqOk = true;
    store.reset();
  }

  enter(state, detail = null) {
    const previous = this.state;
    this.state = state;
    this.handlers.onState(state, previous, detail);
  }

  /** How far the run reaches: its last event, or the estimated present while it goes on. */
  extent(now = performance.now()) {
    const clock = this.growing ? (now - this.frameAt) * 1e6 : 0;
    return Math.max(this.store.lastT, this.durationNs ?? 0, clock);
  }

  /** A run started on the server that this page could cancel. */
  get cancellable() {
    return Boolean(this.status === "running" && this.runId && this.following);
  }

  /** Start `demo` with `params`; the store is cleared at once. `info`: what is known of
   * the run before its frame comes (its title). `source`: the demo's file as the user
   * edited it, run instead of the tutorial's (null: the tutorial's). */
  start(demo, params, info = {}, source = null, extra = {}) {
    this.newRun({ id: null, demo, params, ...info }, null);
    this.request({ type: "start", demo, params, ...(source !== null ? { source } : {}), ...extra });
  }

  /** Run the script of run `runId` again with `source` as its text (edit.js). */
  startScript(runId, source, info = {}) {
    this.newRun({ id: null, demo: null, params: {}, ...info }, null);
    this.request({ type: "start", script: runId, source });
  }

  /** Watch a run by id (a live run's tail, or a finished one whole); the run shown stays
   * until its frame comes. */
  subscribe(runId) {
    this.request({ type: "subscribe", run: runId });
  }

  request(msg) {
    this.sent = msg;
    this.resent = false;
    this.trace = null;
    this.following = true;
    this.growing = false;
    this.status = "running";
    this.enter(AWAITING);
    this.socket.send(msg);
  }

  /** Show a native export, already decoded into `batches` (codec.js), as if streamed. */
  load(trace, batches) {
    this.following = false;
    this.growing = false;
    this.newRun(trace.run, trace.run.id ?? null, trace);
    this.enter(LIVE);
    for (const batch of batches) this.ingest(batch.seq, batch.rows);
    this.end(trace.run);
    // An export taken mid-run says so; it is shown whole all the same.
    if (trace.run.status === "running" || trace.run.status === "starting") this.status = "running";
  }

  /** Show a trace read into a store of its own (loader.js), which becomes this feed's
   * store's contents: the one it replaces is kept until the file has been read whole.
   * `trace`: the file's format, version, run and tasks; `file`: the file itself, offered
   * back as the download. */
  adopt(trace, fresh, file = null) {
    this.following = false;
    this.growing = false;
    const version = this.store.version;
    this.newRun(trace.run, trace.run.id ?? null, { ...trace, file });
    Object.assign(this.store, fresh);
    this.store.version = version + fresh.version + 1; // caches keyed on it see a change
    this.handlers.onReset();
    this.enter(LIVE);
    this.handlers.onRows();
    this.end(trace.run);
    if (trace.run.status === "running" || trace.run.status === "starting") this.status = "running";
  }

  cancel() {
    if (this.cancellable) this.socket.send({ type: "cancel", run: this.runId });
  }

  /** Stop following: the socket is dropped, a run still arriving ends here as it is. */
  close() {
    this.following = false;
    this.socket.close();
    if (this.state === AWAITING || this.state === LIVE) {
      this.growing = false;
      this.enter(ENDED);
    }
  }

  newRun(info, runId, trace = null, kinds = undefined) {
    this.info = info;
    this.runId = runId;
    this.trace = trace;
    this.finished = false;
    this.durationNs = null;
    this.seqOk = true;
    this.status = "running";
    this.store.reset(kinds);
    this.handlers.onReset();
  }

  ingest(seq, rows) {
    if (!this.store.append(seq, rows) && this.seqOk) {
      this.seqOk = false;
      this.handlers.onError({ kind: "seq", message: t("error.seq", { seq, have: this.store.length - rows.length }) });
    }
    this.handlers.onRows();
  }

  end(info) {
    this.growing = false;
    this.info = { ...this.info, ...info };
    this.durationNs = info.duration_ns ?? this.store.lastT;
    this.status = FINAL_STATUSES.includes(info.status) ? info.status : "finished";
    this.finished = true;
    this.store.finishWarnings(this.extent());
    this.enter(ENDED, info);
  }

  fail() {
    this.following = false;
    this.growing = false;
    this.status = "error";
    this.enter(ENDED);
  }

  receive(msg) {
    switch (msg.type) {
      case "run":
        if (!this.following) return;
        this.growing = !FINAL_STATUSES.includes(msg.run.status);
        this.frameAt = performance.now() - (this.growing && msg.run.duration_ns ? msg.run.duration_ns / 1e6 : 0);
        this.newRun(msg.run, msg.run.id, null, msg.kinds);
        this.enter(LIVE);
        break;
      case "events":
        if (this.following && this.state === LIVE) this.ingest(msg.seq, msg.rows);
        break;
      case "end":
        if (this.following && this.state === LIVE) this.end(msg.run);
        break;
      case "flight": // a flight-recorded run going on: its events seen, its snapshots
        if (this.following && this.state === LIVE && msg.run?.id === this.runId) {
          this.info = { ...this.info, flight: msg.run.flight };
          this.handlers.onRows();
        }
        break;
      case "error":
        if (this.state === AWAITING && this.sent?.source !== undefined && !this.resent
            && EDIT_REFUSED.test(msg.error)) {
          // Whether this tab may send code was decided when its websocket was opened: the
          // secret may have come since (another tab opened the printed address, which
          // sets the cookie). Once, on a new connection, which carries the cookie as it is.
          this.resent = true;
          this.socket.close();
          this.socket.send(this.sent);
          return;
        }
        if (this.state === AWAITING) this.fail();
        this.handlers.onError({ kind: "server", message: msg.error });
        break;
    }
  }

  dropped(detail) {
    if (!this.following || (this.state !== AWAITING && this.state !== LIVE)) return;
    this.fail();
    this.handlers.onError({ kind: "connection", message: t("error.connection", { detail }) });
  }
}

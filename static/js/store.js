// One run's events as growable typed columns, plus the few things every view derives
// from them (tasks, lanes, running spans, switch, block and stdout indexes, warnings),
// all built while rows are ingested so that drawing never has to scan the whole trace.
// The warnings' rules are analysis.js's, the kind table's decoding codec.js's.

import { isComputing, isScheduler, Warnings } from "./analysis.js";
import { kindCodes, UNKNOWN } from "./codec.js";
import {
  BLOCK, FINISH, KIND_NAMES, MARK, SPAWN, STDOUT, SWITCH, TASKINFO, THROW, UNBLOCK, WARNING,
} from "./kinds.js";

const NONE = -1;

export { isScheduler }; // analysis.js's: the Hub and the event loop, alike

/** `arr` with room for at least `need` items, doubling so appends stay amortised O(1). */
function grow(arr, need) {
  if (need <= arr.length) return arr;
  let cap = Math.max(arr.length, 16);
  while (cap < need) cap *= 2;
  const out = new arr.constructor(cap);
  out.set(arr);
  return out;
}

/** `arr` with room for exactly `n` items (at least its own), its contents kept. */
function resize(arr, n) {
  if (n <= arr.length) return arr;
  const out = new arr.constructor(n);
  out.set(arr);
  return out;
}

/** `arr` cut to its first `n` items (a copy, so the rest is freed) if over an eighth of
 * it is unused: a smaller slack is not worth copying (a 10M-row column is 40-80 MB). */
function shrink(arr, n) {
  return arr.length - n > arr.length / 8 ? arr.slice(0, n) : arr;
}

/** First index in sorted `arr[0..n)` whose value is >= `v`. */
export function lowerBound(arr, n, v) {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index in sorted `arr[0..n)` whose value is > `v`. */
export function upperBound(arr, n, v) {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid] <= v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * A coroutine seen in the trace. `spans` holds closed running spans as
 * [start0, end0, start1, end1, ...], `busy[k]` the running time of spans 0..k together
 * (so the running time inside any window is two binary searches away), and `openSince`
 * when the current span began (NaN while parked).
 */
class Task {
  constructor(id, record, parent, t, order) {
    this.id = id;
    this.parent = parent;
    this.spawnedAt = t;
    this.finishedAt = NaN;
    this.order = order;
    this.lane = NONE;
    this.label = "";
    this.spans = new Float64Array(16);
    this.busy = new Float64Array(8);
    this.spanCount = 0;
    this.openSince = NaN;
    this.out = new Int32Array(8);
    this.outCount = 0;
    // Raw switch indexes where this task gave up control (its pause points), in order.
    this.paused = new Int32Array(8);
    this.pausedCount = 0;
    this.lastIn = -1; // a Hub's (or loop's): the raw switch that last gave it control
    this.setRecord(record);
  }

  setRecord(record) {
    this.name = String(record?.name ?? `task ${this.id}`);
    this.kind = String(record?.kind ?? "greenlet");
    this.scheduler = isScheduler(this.kind); // asked per switch: not a string compare each time
    this.args = record?.args ?? null;
    this.thread = record?.thread ?? this.thread ?? null;
  }

  closeSpan(t) {
    if (Number.isNaN(this.openSince)) return;
    const k = this.spanCount;
    // Capacity checked here, not in grow(): grow() sees every typed-array kind, and a
    // call per row to such a polymorphic function was 8% of a streaming profile.
    if (2 * k + 2 > this.spans.length) this.spans = grow(this.spans, 2 * k + 2);
    if (k + 1 > this.busy.length) this.busy = grow(this.busy, k + 1);
    this.spans[2 * k] = this.openSince;
    this.spans[2 * k + 1] = t;
    this.busy[k] = (k ? this.busy[k - 1] : 0) + (t - this.openSince);
    this.spanCount = k + 1;
    this.openSince = NaN;
  }

  /** Running time in closed spans before `t`. */
  busyBefore(t) {
    const s = this.spans;
    let lo = 0;
    let hi = this.spanCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (s[2 * mid] <= t) lo = mid + 1;
      else hi = mid;
    }
    const k = lo - 1; // last span starting at or before t
    if (k < 0) return 0;
    const end = s[2 * k + 1];
    return t >= end ? this.busy[k] : this.busy[k] - (end - t);
  }
}

/**
 * The switches between one unordered pair of tasks, in time order: `t`, the switch
 * index `sw`, and `thrownBefore[k]` (throws among the first k). Drawing bins per pair
 * with binary searches, so a pixel column holding 10,000 switches costs a few steps.
 */
class PairIndex {
  constructor(a, b, index) {
    this.a = a;
    this.b = b;
    this.index = index; // position in SwitchSet.pairList
    this.n = 0;
    this.t = new Float64Array(0);
    this.sw = new Int32Array(0);
    this.thrownBefore = new Int32Array(1);
    this.more = 0; // switches counted for it, not yet in it (SwitchSet.pairIndexes)
  }

  /** Room for `more` switches: exactly, for its first ones (a trace read whole fills
   * each pair once); else at least doubled, so a live run's pairs stay amortised O(1). */
  make(more) {
    const n = this.n;
    if (n + more <= this.t.length) return;
    const cap = n === 0 ? more : Math.max(n + more, 2 * this.t.length);
    this.t = resize(this.t, cap);
    this.sw = resize(this.sw, cap);
    this.thrownBefore = resize(this.thrownBefore, cap + 1);
  }
}

/** `via`: a switch as recorded. */
export const DIRECT = 0;
/** `via`: `A -> Hub -> B` folded into one `A => B`, at the time B resumes. */
export const FOLDED = 1;
/** `via`: `A -> Hub -> A` folded: A resumes after its own wait (no arrow). */
export const RESUMED = 2;
/** `woke`: the target had never paused (its first run), so it starts. */
export const STARTS = 0xffff;

/**
 * One list of switches in time order, with per-pair indexes for drawing. The store
 * keeps two: `raw` (every switch as recorded) and `folded` (the learner's view, where
 * `A -> Hub -> B` becomes one `A => B` at the time B resumes). A switch out of a Hub
 * (raw `Hub -> B`, folded `A => B`) keeps in `woke` what woke B: the cause with which B
 * paused last (its timer, its socket, its join), or STARTS. `cause` is the recorded
 * cause, of the switch into the Hub when folded.
 */
export class SwitchSet {
  constructor() {
    const cap = 1024;
    this.count = 0;
    this.t = new Float64Array(cap);
    this.from = new Int32Array(cap);
    this.to = new Int32Array(cap);
    this.kind = new Uint8Array(cap);
    this.cause = new Uint16Array(cap); // index into Store.causes
    this.line = new Int32Array(cap); // where `from` paused, -1 if unknown
    this.event = new Int32Array(cap); // row index of the (last) switch event
    this.via = new Uint8Array(cap); // DIRECT, FOLDED or RESUMED
    this.woke = new Uint16Array(cap); // out of a Hub: the target's pause cause, or STARTS
    // Per-pair indexes, built when drawing asks (pairIndexes), not per switch pushed.
    this.pairs = new Map(); // pair key -> PairIndex
    this.pairList = [];
    this.lastPair = -1;
    this.indexed = 0; // switches already in the pair indexes
  }

  push(t, kind, from, to, line, cause, event, via, woke = 0) {
    const i = this.count;
    if (i >= this.t.length) {
      const need = i + 1;
      this.t = grow(this.t, need);
      this.from = grow(this.from, need);
      this.to = grow(this.to, need);
      this.kind = grow(this.kind, need);
      this.cause = grow(this.cause, need);
      this.line = grow(this.line, need);
      this.event = grow(this.event, need);
      this.via = grow(this.via, need);
      this.woke = grow(this.woke, need);
    }
    this.t[i] = t;
    this.from[i] = from;
    this.to[i] = to;
    this.kind[i] = kind;
    this.cause[i] = cause;
    this.line[i] = line;
    this.event[i] = event;
    this.via[i] = via;
    this.woke[i] = woke;
    this.count = i + 1;
    return i;
  }

  /**
   * The per-pair indexes, with every switch pushed so far: the new ones counted per pair
   * first, then each pair sized and filled in one pass (no doubling for a trace read
   * whole). Drawing calls this per frame; with nothing new it returns at once.
   */
  pairIndexes() {
    const first = this.indexed;
    const end = this.count;
    if (first === end) return this.pairList;
    const which = new Int32Array(end - first);
    const { from, to } = this;
    for (let i = first; i < end; i++) {
      const pair = this.pairFor(from[i], to[i]);
      pair.more++;
      which[i - first] = pair.index;
    }
    for (const pair of this.pairList) {
      if (!pair.more) continue;
      pair.make(pair.more);
      pair.more = 0;
    }
    const { t, kind } = this;
    const list = this.pairList;
    for (let i = first; i < end; i++) {
      const pair = list[which[i - first]];
      const n = pair.n;
      pair.t[n] = t[i];
      pair.sw[n] = i;
      pair.thrownBefore[n + 1] = pair.thrownBefore[n] + (kind[i] === THROW ? 1 : 0);
      pair.n = n + 1;
    }
    this.indexed = end;
    return list;
  }

  /** Room for `n` switches at once (a trace whose length is known). */
  reserve(n) {
    for (const col of ["t", "from", "to", "kind", "cause", "line", "event", "via", "woke"]) {
      this[col] = resize(this[col], n);
    }
  }

  /** Columns cut to what they hold: a run that will not grow (a trace read whole). */
  compact() {
    const n = this.count;
    for (const col of ["t", "from", "to", "kind", "cause", "line", "event", "via", "woke"]) {
      this[col] = shrink(this[col], n);
    }
    for (const pair of this.pairIndexes()) {
      pair.t = shrink(pair.t, pair.n);
      pair.sw = shrink(pair.sw, pair.n);
      pair.thrownBefore = shrink(pair.thrownBefore, pair.n + 1);
    }
  }

  pairFor(a, b) {
    const lo = Math.min(a, b);
    const hi = Math.max(a, b);
    // Ping-pong (A->B, B->A) is the common case: skip the map for a repeat.
    const last = this.pairList[this.lastPair];
    if (last && last.a === lo && last.b === hi) return last;
    const key = lo * 67108864 + hi; // exact while task ids stay below 2**26
    let pair = this.pairs.get(key);
    if (!pair) {
      pair = new PairIndex(lo, hi, this.pairList.length);
      this.pairs.set(key, pair);
      this.pairList.push(pair);
    }
    this.lastPair = pair.index;
    return pair;
  }

  /** Index range [lo, hi) of switches with t0 <= t <= t1. */
  range(t0, t1) {
    return [lowerBound(this.t, this.count, t0), upperBound(this.t, this.count, t1)];
  }

  /** Index of the last switch at or before `t`, or -1. */
  lastAt(t) {
    return upperBound(this.t, this.count, t) - 1;
  }
}

/** A task's arguments when short enough to name its lane (`task(0)`), else null. */
function shortArgs(task) {
  const args = task.args == null ? "" : String(task.args);
  return args && args.length <= 16 ? args : null;
}

export class Store {
  constructor() {
    this.reset();
  }

  /** Forget everything; `kinds` is the run frame's code table (code -> name). */
  reset(kinds = KIND_NAMES) {
    const cap = 1024;
    this.length = 0;
    this.t = new Float64Array(cap);
    this.kind = new Uint8Array(cap);
    this.a = new Int32Array(cap);
    this.b = new Int32Array(cap);
    this.x = [];
    this.lastT = 0;

    // Wire codes are mapped through the run's own table so a reordered table still reads right.
    this.codeOf = kindCodes(kinds);

    this.raw = new SwitchSet();
    this.folded = new SwitchSet();
    this.causes = [""]; // cause strings by id; 0 = none
    this.causeIds = new Map([["", 0]]);
    this.spinCause = -1; // id of "timer 0 s" once seen
    this.hubAt = Infinity; // when the first Hub or loop was seen: before it, nothing folds
    this.schedulers = []; // the Hubs and event loops: a long block starves the one alive

    this.outCount = 0;
    this.outEvent = new Int32Array(64);

    // Block spans, few per run: {task, since, until (NaN while open), call, busy}; `busy`:
    // the busy watcher's, the task was computing without a switch (analysis.js isComputing).
    this.blocks = [];
    // Moments of the run itself, few: {t, text} ("main()": the demo's main() is called).
    this.marks = [];
    this.mainAt = null; // t of the "main()" mark: before it the demo file was loading
    this.openBlock = new Map(); // task id -> its open block
    this.warningLog = new Warnings();

    this.tasks = []; // by id
    this.lanes = []; // tasks in drawn order
    // Lane names: a task's own while it is the only one of that name; among several, with
    // their short spawn arguments while those tell them apart (`task(0)`, `task(1)`: what
    // the seed's tasks print), else numbered by first sight (`task`, `task #2`). Each
    // name's group switches to numbering at most once, so this stays linear.
    this.nameGroups = new Map(); // name -> {tasks, args: Set, byArgs}
    this.labelEpoch = 0; // bumped when lanes already shown are renamed
    this.colorSlots = 0;
    this.version = 0; // bumped per append: caches derived from the store compare it
  }

  /** Room for `n` events (and as many switches) at once: a trace whose length is known. */
  reserve(n) {
    this.t = resize(this.t, n);
    this.kind = resize(this.kind, n);
    this.a = resize(this.a, n);
    this.b = resize(this.b, n);
    this.raw.reserve(n);
    this.folded.reserve(n);
  }

  /** Every column cut to what it holds, the slack of doubling freed: a trace read whole
   * (loader.js), which will not grow. Appending after it still works. */
  compact() {
    const n = this.length;
    this.t = shrink(this.t, n);
    this.kind = shrink(this.kind, n);
    this.a = shrink(this.a, n);
    this.b = shrink(this.b, n);
    this.outEvent = shrink(this.outEvent, this.outCount);
    this.raw.compact();
    this.folded.compact();
    for (const task of this.tasks) {
      if (!task) continue;
      task.spans = shrink(task.spans, 2 * task.spanCount);
      task.busy = shrink(task.busy, task.spanCount);
      task.out = shrink(task.out, task.outCount);
      task.paused = shrink(task.paused, task.pausedCount);
    }
  }

  /** The run's warnings (analysis.js `Warnings`): {kind, task, t, until, detail}. */
  get warnings() {
    return this.warningLog.list;
  }

  /** At the end of a run: what only the end tells (open blocks, parked tasks). */
  finishWarnings(end) {
    this.warningLog.finish(this, end);
  }

  get switchCount() {
    return this.raw.count;
  }

  get swT() {
    return this.raw.t;
  }

  /**
   * Append one batch. Returns false when `seq` (the batch's first row number) does not
   * follow the rows already held, i.e. something was lost or repeated on the way.
   */
  append(seq, rows) {
    const base = this.length;
    const n = rows.length;
    const end = base + n;
    if (end > this.t.length) {
      this.t = grow(this.t, end);
      this.kind = grow(this.kind, end);
      this.a = grow(this.a, end);
      this.b = grow(this.b, end);
    }
    const { codeOf } = this;
    for (let i = 0; i < n; i++) {
      const row = rows[i];
      this.row(base + i, row[0], codeOf[row[1]] ?? UNKNOWN, row[2] ?? NONE, row[3] ?? NONE,
        row[4] ?? null, row[5]);
    }
    this.length = end;
    this.version++;
    return seq === base;
  }

  /**
   * One switch or throw at the end, given as its fields (`k`: our code; `cause` a string,
   * or `id` its causeId already): the loader's way for the rows that are nearly all of a
   * big trace, with no row array made for it.
   */
  pushSwitch(t, k, from, to, line, cause, id = this.causeId(cause)) {
    const j = this.length;
    if (j >= this.t.length) {
      this.t = grow(this.t, j + 1);
      this.kind = grow(this.kind, j + 1);
      this.a = grow(this.a, j + 1);
      this.b = grow(this.b, j + 1);
    }
    this.columns(j, t, k, from, to, line);
    this.addSwitch(j, t, k, from, to, line, id);
    this.length = j + 1;
    this.version++;
  }

  columns(j, t, k, a, b, x) {
    this.t[j] = t;
    this.kind[j] = k;
    this.a[j] = a;
    this.b[j] = b;
    this.x[j] = x;
    if (t > this.lastT) this.lastT = t;
  }

  /** Row `j` (room made for it): its columns and what it adds to the indexes. `x`: the
   * line of a switch, the record, text or call of the others; `extra`: a switch's cause. */
  row(j, t, k, a, b, x, extra) {
    this.columns(j, t, k, a, b, x);
    switch (k) {
      case SWITCH:
      case THROW:
        this.addSwitch(j, t, k, a, b, x, this.causeId(extra));
        break;
      case SPAWN:
        this.addTask(a, x, b, t);
        break;
      case FINISH:
        this.taskFor(a, t).finishedAt = t;
        break;
      case STDOUT:
        this.addStdout(j, this.taskFor(a, t));
        break;
      case BLOCK:
        this.addBlock(this.taskFor(a, t), x, t);
        break;
      case UNBLOCK:
        this.endBlock(a, t);
        break;
      case TASKINFO:
        if (x?.thread) this.taskFor(a, t).thread = String(x.thread);
        break;
      case MARK:
        this.marks.push({ t, text: String(x) });
        if (x === "main()" && this.mainAt === null) this.mainAt = t;
        break;
      case WARNING:
        this.warningLog.said(this.taskFor(a, t).id, t, String(x ?? ""));
        break;
    }
  }

  causeId(cause) {
    if (cause == null) return 0;
    let id = this.causeIds.get(cause);
    if (id === undefined) {
      id = this.causes.length;
      this.causes.push(String(cause));
      this.causeIds.set(cause, id);
      if (cause === "timer 0 s") this.spinCause = id;
    }
    return id;
  }

  /** `c`: the cause's id (causeId). */
  addSwitch(j, t, k, from, to, line, c) {
    const origin = this.taskFor(from, t);
    const target = this.taskFor(to, t);
    const ln = typeof line === "number" ? line : -1;
    // Out of a Hub (or loop), the target wakes from its last pause: that pause's cause woke it.
    const fromHub = origin.scheduler;
    const woke = fromHub ? (target.pausedCount ? this.raw.cause[target.paused[target.pausedCount - 1]] : STARTS) : 0;
    const i = this.raw.push(t, k, origin.id, target.id, ln, c, j, DIRECT, woke);
    if (origin.pausedCount >= origin.paused.length) origin.paused = grow(origin.paused, origin.pausedCount + 1);
    origin.paused[origin.pausedCount++] = i;
    // A task runs from a switch into it until the next switch out of it.
    origin.closeSpan(t);
    if (Number.isNaN(target.openSince)) target.openSince = t;

    // The folded view: a switch into a Hub waits for that Hub's next switch out, which
    // becomes one arrow from whoever last gave the Hub control (or, if that is the
    // target itself, the target resuming after its wait).
    if (target.scheduler && !fromHub) {
      target.lastIn = i;
    } else if (fromHub) {
      const p = origin.lastIn;
      const raw = this.raw;
      const by = p >= 0 ? raw.from[p] : target.id;
      const via = by === target.id ? RESUMED : FOLDED;
      // A throw keeps the throw's cause: the Hub's into the target, or the origin's.
      const cause = k === THROW || p < 0 ? c : raw.cause[p];
      const kind = k === THROW || (p >= 0 && raw.kind[p] === THROW) ? THROW : k;
      this.folded.push(t, kind, by, target.id, p >= 0 ? raw.line[p] : -1, cause, j, via, woke);
    } else {
      this.folded.push(t, k, origin.id, target.id, ln, c, j, DIRECT);
    }

    if (c === this.spinCause && c > 0) this.warningLog.spinSwitch(origin.id, t);
  }

  addBlock(task, x, t) {
    const since = typeof x?.since === "number" ? x.since : t;
    const call = String(x?.call ?? "?");
    const block = { task: task.id, since, until: NaN, call, busy: isComputing(call) };
    this.blocks.push(block);
    this.openBlock.set(task.id, block);
  }

  endBlock(id, t) {
    const block = this.openBlock.get(id);
    if (!block) return;
    this.openBlock.delete(id);
    block.until = t;
    this.warningLog.blockEnded(block, t, this.schedulerAt(block.since));
  }

  addStdout(j, task) {
    if (task.outCount >= task.out.length) task.out = grow(task.out, task.outCount + 1);
    task.out[task.outCount++] = j;
    if (this.outCount >= this.outEvent.length) this.outEvent = grow(this.outEvent, this.outCount + 1);
    this.outEvent[this.outCount++] = j;
  }

  /** The task `id`, or a stand-in if a row names it before its spawn (a malformed trace). */
  taskFor(id, t) {
    return this.tasks[id] ?? this.addTask(id, null, NONE, t);
  }

  addTask(id, record, parent, t) {
    let task = this.tasks[id];
    if (task) {
      if (record) task.setRecord(record);
      return task;
    }
    task = new Task(id, record, parent, t, this.lanes.length);
    this.tasks[id] = task;
    // Colours follow first sight, not lane position, so they stay put when a Hub appears late.
    const scheduler = isScheduler(task.kind);
    task.colorSlot = scheduler ? NONE : this.colorSlots++;
    if (scheduler) {
      if (t < this.hubAt) this.hubAt = t;
      this.schedulers.push(task);
    }
    // main runs from its spawn (t = 0) until its first switch out.
    if (task.kind === "main") task.openSince = t;
    this.nameTask(task);
    this.addLane(task);
    return task;
  }

  /**
   * The kind of scheduler a block beginning at `t` starved: "loop" while an event loop
   * runs (from its spawn to its finish; it runs the thread then), else "hub" once a Hub
   * exists, else null (nothing could be starved). app/spans.py `compute_stats` alike.
   */
  schedulerAt(t) {
    let found = null;
    for (const s of this.schedulers) {
      if (s.spawnedAt > t || s.finishedAt <= t) continue;
      if (s.kind === "loop") return "loop";
      found = "hub";
    }
    return found;
  }

  nameTask(task) {
    // asyncio.run's entry task is often a coroutine `main`, beside the thread's `main`:
    // it is called `main()`, the coroutine asyncio.run(main()) runs.
    const name = task.kind === "task" && this.nameGroups.get(task.name)?.tasks.some((t) => t.kind === "main")
      ? `${task.name}()` : task.name;
    let group = this.nameGroups.get(name);
    if (!group) this.nameGroups.set(name, (group = { tasks: [], args: new Set(), byArgs: true }));
    const { tasks } = group;
    tasks.push(task);
    const args = shortArgs(task);
    if (group.byArgs && (args === null || group.args.has(args))) {
      group.byArgs = false; // arguments no longer tell them apart: number them all
      tasks.forEach((t, i) => { t.label = i === 0 ? name : `${name} #${i + 1}`; });
      if (tasks.length > 1) this.labelEpoch++;
      return;
    }
    if (!group.byArgs) {
      task.label = `${name} #${tasks.length}`;
      return;
    }
    group.args.add(args);
    task.label = tasks.length === 1 ? name : `${name}(${args})`;
    if (tasks.length === 2) { // the first is one of several now: say which
      tasks[0].label = `${name}(${shortArgs(tasks[0])})`;
      this.labelEpoch++;
    }
  }

  /** Lanes: main tasks first, then Hubs and event loops, then everything else in order
   * of first sight. */
  addLane(task) {
    const lanes = this.lanes;
    let pos = lanes.length;
    if (task.kind === "main" || isScheduler(task.kind)) {
      const rank = (k) => (k === "main" ? 0 : isScheduler(k) ? 1 : 2);
      const r = rank(task.kind);
      pos = 0;
      while (pos < lanes.length && rank(lanes[pos].kind) <= r) pos++;
    }
    lanes.splice(pos, 0, task);
    for (let i = pos; i < lanes.length; i++) lanes[i].lane = i;
  }

  /** Index range [lo, hi) of raw switches with t0 <= t <= t1. */
  switchRange(t0, t1) {
    return this.raw.range(t0, t1);
  }

  /** The running task at time `t` (switches at `t` have happened): its id. */
  runningAt(t) {
    const i = this.raw.lastAt(t);
    if (i >= 0) return this.raw.to[i];
    return this.lanes.find((task) => task.kind === "main")?.id ?? -1;
  }

  /** Raw index of `task`'s last switch out at or before `t`, or -1. */
  lastPauseAt(task, t) {
    const p = task.paused;
    const sw = this.raw.t;
    let lo = 0;
    let hi = task.pausedCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (sw[p[mid]] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo ? p[lo - 1] : -1;
  }

  /** Printed lines at or before `t`. */
  stdoutBefore(t) {
    let lo = 0;
    let hi = this.outCount;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.t[this.outEvent[mid]] <= t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The printed lines, in order, as plain objects (for tests and small lists only). */
  stdoutLines() {
    const lines = new Array(this.outCount);
    for (let i = 0; i < this.outCount; i++) {
      const j = this.outEvent[i];
      lines[i] = { t: this.t[j], task: this.a[j], text: this.x[j] };
    }
    return lines;
  }
}

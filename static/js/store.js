// One run's events as growable typed columns, plus the few things every view derives
// from them (tasks, lanes, running spans, switch and stdout indexes), all built while
// rows are ingested so that drawing never has to scan the whole trace.

export const SWITCH = 0;
export const THROW = 1;
export const SPAWN = 2;
export const FINISH = 3;
export const STDOUT = 4;
export const KIND_NAMES = ["switch", "throw", "spawn", "finish", "stdout"];
const UNKNOWN = 255;
const NONE = -1;

/** `arr` with room for at least `need` items, doubling so appends stay amortised O(1). */
function grow(arr, need) {
  if (need <= arr.length) return arr;
  let cap = Math.max(arr.length, 16);
  while (cap < need) cap *= 2;
  const out = new arr.constructor(cap);
  out.set(arr);
  return out;
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
    this.setRecord(record);
  }

  setRecord(record) {
    this.name = String(record?.name ?? `task ${this.id}`);
    this.kind = String(record?.kind ?? "greenlet");
    this.args = record?.args ?? null;
    this.thread = record?.thread ?? null;
  }

  closeSpan(t) {
    if (Number.isNaN(this.openSince)) return;
    const k = this.spanCount;
    this.spans = grow(this.spans, 2 * k + 2);
    this.busy = grow(this.busy, k + 1);
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
    this.index = index; // position in Store.pairList
    this.n = 0;
    this.t = new Float64Array(16);
    this.sw = new Int32Array(16);
    this.thrownBefore = new Int32Array(17);
  }

  push(t, i, thrown) {
    const n = this.n;
    if (n >= this.t.length) {
      this.t = grow(this.t, n + 1);
      this.sw = grow(this.sw, n + 1);
    }
    this.thrownBefore = grow(this.thrownBefore, n + 2);
    this.t[n] = t;
    this.sw[n] = i;
    this.thrownBefore[n + 1] = this.thrownBefore[n] + thrown;
    this.n = n + 1;
  }
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
    this.codeOf = kinds.map((name) => {
      const code = KIND_NAMES.indexOf(name);
      return code < 0 ? UNKNOWN : code;
    });

    this.switchCount = 0;
    this.swT = new Float64Array(cap);
    this.swFrom = new Int32Array(cap);
    this.swTo = new Int32Array(cap);
    this.swKind = new Uint8Array(cap);
    this.swEvent = new Int32Array(cap);

    this.pairs = new Map(); // pair key -> PairIndex
    this.pairList = [];
    this.lastPair = -1;

    this.outCount = 0;
    this.outEvent = new Int32Array(64);

    this.tasks = []; // by id
    this.lanes = []; // tasks in drawn order
    this.nameCounts = new Map();
    this.colorSlots = 0;
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
    const { t: T, kind: K, a: A, b: B, x: X, codeOf } = this;
    for (let i = 0; i < n; i++) {
      const row = rows[i];
      const j = base + i;
      const t = row[0];
      const k = codeOf[row[1]] ?? UNKNOWN;
      const a = row[2] ?? NONE;
      const b = row[3] ?? NONE;
      const x = row[4] ?? null;
      T[j] = t;
      K[j] = k;
      A[j] = a;
      B[j] = b;
      X[j] = x;
      if (t > this.lastT) this.lastT = t;
      switch (k) {
        case SWITCH:
        case THROW:
          this.addSwitch(j, t, k, a, b);
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
      }
    }
    this.length = end;
    return seq === base;
  }

  addSwitch(j, t, k, from, to) {
    const i = this.switchCount;
    if (i >= this.swT.length) {
      this.swT = grow(this.swT, i + 1);
      this.swFrom = grow(this.swFrom, i + 1);
      this.swTo = grow(this.swTo, i + 1);
      this.swKind = grow(this.swKind, i + 1);
      this.swEvent = grow(this.swEvent, i + 1);
    }
    const origin = this.taskFor(from, t);
    const target = this.taskFor(to, t);
    this.swT[i] = t;
    this.swFrom[i] = origin.id;
    this.swTo[i] = target.id;
    this.swKind[i] = k;
    this.swEvent[i] = j;
    this.pairFor(origin.id, target.id).push(t, i, k === THROW ? 1 : 0);
    this.switchCount = i + 1;
    // A task runs from a switch into it until the next switch out of it.
    origin.closeSpan(t);
    if (Number.isNaN(target.openSince)) target.openSince = t;
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

  addStdout(j, task) {
    task.out = grow(task.out, task.outCount + 1);
    task.out[task.outCount++] = j;
    this.outEvent = grow(this.outEvent, this.outCount + 1);
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
    task.colorSlot = task.kind === "hub" ? NONE : this.colorSlots++;
    // main runs from its spawn (t = 0) until its first switch out.
    if (task.kind === "main") task.openSince = t;
    const count = (this.nameCounts.get(task.name) ?? 0) + 1;
    this.nameCounts.set(task.name, count);
    task.label = count === 1 ? task.name : `${task.name} #${count}`;
    this.addLane(task);
    return task;
  }

  /** Lanes: main tasks first, then hubs, then everything else in order of first sight. */
  addLane(task) {
    const lanes = this.lanes;
    let pos = lanes.length;
    if (task.kind === "main" || task.kind === "hub") {
      const rank = (k) => (k === "main" ? 0 : k === "hub" ? 1 : 2);
      const r = rank(task.kind);
      pos = 0;
      while (pos < lanes.length && rank(lanes[pos].kind) <= r) pos++;
    }
    lanes.splice(pos, 0, task);
    for (let i = pos; i < lanes.length; i++) lanes[i].lane = i;
  }

  /** Index range [lo, hi) of switches with t0 <= t <= t1. */
  switchRange(t0, t1) {
    return [lowerBound(this.swT, this.switchCount, t0), upperBound(this.swT, this.switchCount, t1)];
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

/**
 * The rows of a native export (`coroscope.trace` v1), in batches of `batchSize`,
 * as the websocket would have sent them. Throws an Error saying what is wrong.
 */
export function exportToBatches(trace, batchSize = 20000) {
  if (!trace || typeof trace !== "object") throw new Error("expected a JSON object");
  if (trace.format !== "coroscope.trace") {
    throw new Error(`"format" is ${JSON.stringify(trace.format)}, expected "coroscope.trace"`);
  }
  if (trace.version !== 1) throw new Error(`"version" is ${JSON.stringify(trace.version)}, expected 1`);
  if (!trace.run || typeof trace.run !== "object") throw new Error('missing "run"');
  if (!Array.isArray(trace.events)) throw new Error('missing "events" (an array)');
  const tasks = new Map();
  for (const task of trace.tasks ?? []) tasks.set(task.id, task);
  const events = trace.events;
  const batches = [];
  for (let seq = 0; seq < events.length; seq += batchSize) {
    const n = Math.min(batchSize, events.length - seq);
    const rows = new Array(n);
    for (let i = 0; i < n; i++) rows[i] = eventToRow(events[seq + i], seq + i, tasks);
    batches.push({ seq, rows });
  }
  return batches;
}

function eventToRow(e, seq, tasks) {
  if (!e || e.seq !== seq) {
    throw new Error(`events[${seq}] has seq ${JSON.stringify(e?.seq)}; events must be numbered 0, 1, 2, … without gaps`);
  }
  switch (e.kind) {
    case "switch":
      return [e.t, SWITCH, e.from, e.to, e.line ?? null];
    case "throw":
      return [e.t, THROW, e.from, e.to, e.line ?? null];
    case "spawn": {
      const task = tasks.get(e.task);
      if (!task) throw new Error(`events[${seq}] spawns task ${e.task}, which is not in "tasks"`);
      const record = { name: task.name, kind: task.kind };
      if (task.args) record.args = task.args;
      if (task.thread) record.thread = task.thread;
      return [e.t, SPAWN, e.task, e.parent ?? null, record];
    }
    case "finish":
      return [e.t, FINISH, e.task, null, null];
    case "stdout":
      return [e.t, STDOUT, e.task, null, e.text];
    default:
      throw new Error(`events[${seq}] has unknown kind ${JSON.stringify(e.kind)}`);
  }
}

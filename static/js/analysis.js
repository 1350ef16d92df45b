// What a run's rows mean, beyond holding them: the warnings (spin loops, a starved Hub or
// event loop, busy calls, parked tasks, what asyncio said), found while rows are
// ingested, and the per-task statistics
// (the definitions of app/spans.py), in one pass or incrementally as rows arrive.

import { BLOCK, FINISH, SPAWN, SWITCH, THROW, UNBLOCK } from "./kinds.js";

// A gevent.sleep(0) loop: this many `timer 0 s` switches out of one task within SPIN_WINDOW.
const SPIN_COUNT = 50;
const SPIN_WINDOW = 100e6;
export const STARVE_NS = 100e6; // gevent's own monitor threshold, and stats.py's

/** gevent's Hub (kind `hub`) and asyncio's event loop (kind `loop`) do the same job:
 * every switch between coroutines goes through them. The viewer folds both away alike. */
export function isScheduler(kind) {
  return kind === "hub" || kind === "loop";
}

/** A block row's `call` from the busy watcher (`busy: no switch in f() line N`): the task
 * was computing without a switch, not stuck in a call. app/spans.py `is_computing`. */
export function isComputing(call) {
  return typeof call === "string" && call.startsWith("busy");
}

/**
 * The run's warnings, `list` in order of time once the run has ended: {kind, task, t,
 * until, detail, count}. The store reports what it ingests ("spin" from timer-0
 * switches, "starved", "loop-starved", "blocked" and "busy" from closed blocks, "said"
 * from a warning row); `finish` adds what only the end tells.
 */
export class Warnings {
  constructor() {
    this.list = [];
    this.spin = new Map(); // task id -> {times: recent timer-0 switch times, warning}
  }

  /** Count `timer 0 s` switches per task; a dense burst becomes (or extends) one warning. */
  spinSwitch(task, t) {
    let s = this.spin.get(task);
    if (!s) this.spin.set(task, (s = { times: new Float64Array(SPIN_COUNT), n: 0, warning: null }));
    const slot = s.n % SPIN_COUNT;
    const oldest = s.n >= SPIN_COUNT ? s.times[slot] : NaN;
    s.times[slot] = t;
    s.n++;
    if (s.warning && t - s.warning.until <= SPIN_WINDOW) {
      s.warning.until = t;
      s.warning.count++;
      return;
    }
    if (t - oldest <= SPIN_WINDOW) {
      s.warning = { kind: "spin", task, t: oldest, until: t, count: SPIN_COUNT + 1 };
      this.list.push(s.warning);
    }
  }

  /** A problem Python or asyncio noticed (a warning row): `text` in its own words. */
  said(task, t, text) {
    this.list.push({ kind: "said", task, t, until: t, detail: text });
  }

  /**
   * A block span ended at `until`. Computing without a switch (the busy watcher's
   * `busy: ...` block) is "busy" past the threshold; a blocking call starved the
   * scheduler that ran when it began (`scheduler`, Store.schedulerAt): "loop-starved" an
   * event loop, "starved" a Hub; with neither, "blocked": nothing starved.
   */
  blockEnded(block, until, scheduler) {
    if (until - block.since <= STARVE_NS) return;
    const kind = block.busy ? "busy" : scheduler === "loop" ? "loop-starved" : scheduler ? "starved" : "blocked";
    // The busy watcher's "busy: no switch in f() line N" is said as "in f() line N".
    const detail = block.busy ? block.call.replace(/^busy:\s*(no switch\s*)?/, "") : block.call;
    this.list.push({ kind, task: block.task, t: block.since, until, detail });
  }

  /** At the end of a run: open blocks still starved the Hub; alive, parked tasks were abandoned. */
  finish(store, end) {
    for (const block of store.openBlock.values()) this.blockEnded(block, end, store.schedulerAt(block.since));
    const raw = store.raw;
    const last = raw.count ? raw.to[raw.count - 1] : 0;
    for (const task of store.lanes) {
      if (task.kind !== "greenlet" && task.kind !== "generator") continue;
      if (!Number.isNaN(task.finishedAt) || task.id === last) continue;
      const k = task.pausedCount ? task.paused[task.pausedCount - 1] : -1;
      this.list.push({
        kind: "parked", task: task.id, t: k >= 0 ? raw.t[k] : task.spawnedAt, until: end,
        detail: k >= 0 && raw.line[k] >= 0 ? String(raw.line[k]) : "",
      });
    }
    this.list.sort((p, q) => p.t - q.t);
  }
}

/**
 * compute_stats, fed as the rows arrive: `feed` reads only the rows added since its last
 * call, `result` closes what is still open at the end without changing the running sums.
 * So the live stats panel costs O(new rows), not a pass over the whole trace each time.
 * compute_stats knows every task before its first event; a row naming a task whose spawn
 * has not arrived yet makes this fall back to the full pass, so the result is always exact.
 */
export class StatsAccumulator {
  constructor(threshold = STARVE_NS) {
    this.threshold = threshold;
    this.done = 0; // rows read
    this.maxT = 0;
    // Indexed by task id (small integers): arrays, not Maps, on this per-row path.
    this.tasks = []; // id -> stats row
    this.runningSince = []; // id -> t, or undefined while parked
    this.blocks = new Map(); // id -> {since, computing}, for open block spans
    this.starved = [];
    this.schedulers = []; // the stats rows of the Hubs and loops: a block starves one alive
    this.irregular = false; // a row came before its task's spawn: use the full pass
    this.active = false; // any row but a spawn read yet
  }

  feed(store) {
    const n = store.length;
    if (n < this.done) throw new Error("the store shrank under its stats");
    const { t: T, kind: K, a: A, b: B, x: X } = store;
    const { tasks, runningSince, blocks } = this;
    let maxT = this.maxT;
    for (let j = this.done; j < n; j++) {
      const k = K[j];
      const t = T[j];
      const a = A[j];
      if (t > maxT) maxT = t;
      if (k === SWITCH || k === THROW) {
        this.active = true;
        const b = B[j];
        const src = tasks[a];
        const dst = tasks[b];
        if (src === undefined || dst === undefined) {
          this.irregular = true;
          continue;
        }
        src.switches_out++;
        dst.switches_in++;
        const since = runningSince[a];
        if (since !== undefined) {
          src.running += t - since;
          runningSince[a] = undefined;
        }
        runningSince[b] = t;
      } else if (k === SPAWN) {
        if (a < 0 || tasks[a] !== undefined) continue;
        const task = store.tasks[a];
        tasks[a] = {
          id: a, name: task.name, kind: task.kind, running: 0, blocked: 0, parked: 0,
          switches_in: 0, switches_out: 0, born: t, died: null,
        };
        if (isScheduler(task.kind)) this.schedulers.push(tasks[a]);
        // compute_stats has main running from 0: right only if nothing happened before.
        if (a === 0) {
          if (this.active) this.irregular = true;
          else runningSince[0] = 0;
        }
      } else {
        this.active = true;
        if (k === FINISH) {
          if (tasks[a] !== undefined) tasks[a].died = t;
          else this.irregular = true;
        } else if (k === BLOCK) {
          blocks.set(a, { since: X[j]?.since ?? t, computing: isComputing(X[j]?.call) });
        } else if (k === UNBLOCK && blocks.has(a)) {
          const block = blocks.get(a);
          blocks.delete(a);
          if (tasks[a] === undefined) this.irregular = true;
          else blockSpan(tasks[a], block, t, this.starved, this.threshold, this.schedulers);
        }
      }
    }
    this.maxT = maxT;
    this.done = n;
  }

  result(store, durationNs) {
    if (this.irregular) return computeStats(store, durationNs, this.threshold);
    const end = Math.max(durationNs || 0, this.maxT, 0);
    const rows = [];
    this.tasks.forEach((task, id) => {
      const row = { ...task };
      const since = this.runningSince[id];
      if (since !== undefined) row.running += end - since;
      rows.push(row);
    });
    const byId = new Map(rows.map((task) => [task.id, task]));
    const schedulers = rows.filter((row) => isScheduler(row.kind));
    return closeStats(byId, rows, this.blocks, [...this.starved], end, this.threshold, schedulers);
  }
}

/**
 * A block span of `task` from `block.since` to `until`, as compute_stats counts it:
 * computing is running (already counted), a blocking call is `blocked`, and one longer
 * than `threshold` that began while a Hub or loop was alive (`schedulers`: their stats
 * rows, `died` as known so far) starved it.
 */
function blockSpan(task, block, until, starved, threshold, schedulers) {
  if (block.computing) return;
  if (task) task.blocked += until - block.since;
  const since = block.since;
  const alive = (s) => s.born <= since && (s.died === null || s.died > since);
  if (until - since > threshold && schedulers.some(alive)) {
    starved.push({ task: task.id, since: block.since, until });
  }
}

/**
 * The end of compute_stats, shared by both ways of getting there: close the block spans
 * still open at `end`, derive `parked`, add the totals. `rows` (sorted by id) and
 * `starved` are changed in place.
 */
function closeStats(byId, rows, openBlocks, starved, end, threshold, schedulers) {
  for (const [id, block] of openBlocks) {
    if (byId.has(id)) blockSpan(byId.get(id), block, end, starved, threshold, schedulers);
  }
  for (const task of rows) {
    task.parked = Math.max(0, (task.died !== null ? task.died : end) - task.born - task.running);
    delete task.died;
    delete task.born;
  }
  const totals = {};
  for (const key of ["running", "blocked", "parked", "switches_in", "switches_out"]) {
    totals[key] = rows.reduce((sum, task) => sum + task[key], 0);
  }
  starved.sort((p, q) => p.since - q.since);
  return { end, tasks: rows, totals, hub_starved: starved };
}

/**
 * Per-task statistics: exactly the definitions of app/spans.py (`compute_stats`),
 * same field names, integer nanoseconds, in one pass over every row. The reference
 * StatsAccumulator falls back to.
 */
export function computeStats(store, durationNs, threshold = STARVE_NS) {
  const n = store.length;
  const { t: T, kind: K, a: A, b: B, x: X } = store;
  let end = Math.max(durationNs || 0, 0);
  for (let j = 0; j < n; j++) if (T[j] > end) end = T[j];
  const tasks = new Map();
  for (let j = 0; j < n; j++) {
    if (K[j] !== SPAWN || tasks.has(A[j])) continue;
    const task = store.tasks[A[j]];
    tasks.set(A[j], {
      id: A[j], name: task.name, kind: task.kind, running: 0, blocked: 0, parked: 0,
      switches_in: 0, switches_out: 0, born: T[j], died: null,
    });
  }
  const schedulers = [...tasks.values()].filter((task) => isScheduler(task.kind));
  const runningSince = new Map();
  if (tasks.has(0)) runningSince.set(0, 0);
  const blocks = new Map();
  const starved = [];
  for (let j = 0; j < n; j++) {
    const k = K[j];
    const t = T[j];
    if (k === SWITCH || k === THROW) {
      const src = tasks.get(A[j]);
      const dst = tasks.get(B[j]);
      if (!src || !dst) continue;
      src.switches_out++;
      dst.switches_in++;
      if (runningSince.has(A[j])) {
        src.running += t - runningSince.get(A[j]);
        runningSince.delete(A[j]);
      }
      runningSince.set(B[j], t);
    } else if (k === FINISH) {
      if (tasks.has(A[j])) tasks.get(A[j]).died = t;
    } else if (k === BLOCK) {
      blocks.set(A[j], { since: X[j]?.since ?? t, computing: isComputing(X[j]?.call) });
    } else if (k === UNBLOCK && blocks.has(A[j])) {
      const block = blocks.get(A[j]);
      blocks.delete(A[j]);
      if (tasks.has(A[j])) blockSpan(tasks.get(A[j]), block, t, starved, threshold, schedulers);
    }
  }
  for (const [id, since] of runningSince) if (tasks.has(id)) tasks.get(id).running += end - since;
  const rows = [...tasks.values()].sort((p, q) => p.id - q.id);
  return closeStats(tasks, rows, blocks, starved, end, threshold, schedulers);
}

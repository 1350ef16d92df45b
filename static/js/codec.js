// The wire and file encodings of rows: the kind codes of a run frame's table mapped onto
// ours, and a native export (`coroscope.trace`) turned into the batches the websocket
// would have sent.

import {
  BLOCK, FINISH, KIND_NAMES, MARK, SPAWN, STDOUT, SWITCH, TASKINFO, THROW, UNBLOCK, WARNING,
} from "./kinds.js";

/** The code of a kind this page does not know: its rows are held but mean nothing. */
export const UNKNOWN = 255;

/** Wire code -> our code, for a run frame's kind table (code -> name), so a reordered
 * table still reads right. */
export function kindCodes(kinds = KIND_NAMES) {
  return kinds.map((name) => {
    const code = KIND_NAMES.indexOf(name);
    return code < 0 ? UNKNOWN : code;
  });
}

/**
 * The rows of a native export (`coroscope.trace` v1), in batches of `batchSize`,
 * as the websocket would have sent them. Throws an Error saying what is wrong.
 */
export function exportToBatches(trace, batchSize = 20000) {
  checkHeader(trace);
  const tasks = new Map();
  for (const task of trace.tasks ?? []) tasks.set(task.id, task);
  const events = trace.events;
  const batches = [];
  for (let seq = 0; seq < events.length; seq += batchSize) {
    batches.push({ seq, rows: eventsToRows(events.slice(seq, seq + batchSize), seq, tasks) });
  }
  return batches;
}

/** Throws an Error unless `trace` looks like a native export; `partial`: only what it
 * holds so far is checked (the loader, before its events). */
export function checkHeader(trace, partial = false) {
  if (!trace || typeof trace !== "object" || Array.isArray(trace)) throw new Error("expected a JSON object");
  if (partial && trace.format === undefined) return;
  if (trace.format !== "coroscope.trace") {
    throw new Error(`"format" is ${JSON.stringify(trace.format)}, expected "coroscope.trace"`);
  }
  // Version 2 added the "mark" kind, 3 the "warning" kind (and the task kinds "loop"
  // and "task"); older files read the same.
  if (partial && trace.version === undefined) return;
  if (![1, 2, 3].includes(trace.version)) {
    throw new Error(`"version" is ${JSON.stringify(trace.version)}, expected 1, 2 or 3`);
  }
  if (partial && trace.run === undefined) return;
  if (!trace.run || typeof trace.run !== "object") throw new Error('missing "run"');
  if (!Array.isArray(trace.events)) throw new Error('missing "events" (an array)');
}

/** Rows of `events`, the first numbered `seq`; `tasks`: task id -> its record. */
export function eventsToRows(events, seq, tasks) {
  const n = events.length;
  const rows = new Array(n);
  for (let i = 0; i < n; i++) rows[i] = eventToRow(events[i], seq + i, tasks);
  return rows;
}

function eventToRow(e, seq, tasks) {
  if (!e || e.seq !== seq) {
    throw new Error(`events[${seq}] has seq ${JSON.stringify(e?.seq)}; events must be numbered 0, 1, 2, … without gaps`);
  }
  switch (e.kind) {
    case "switch":
      return [e.t, SWITCH, e.from, e.to, e.line ?? null, e.cause ?? null];
    case "throw":
      return [e.t, THROW, e.from, e.to, e.line ?? null, e.cause ?? null];
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
    case "block":
      return [e.t, BLOCK, e.task, null, { call: e.call, since: e.since }];
    case "unblock":
      return [e.t, UNBLOCK, e.task, null, null];
    case "taskinfo":
      return [e.t, TASKINFO, e.task, null, { thread: e.thread }];
    case "mark":
      return [e.t, MARK, e.task, null, e.text];
    case "warning":
      return [e.t, WARNING, e.task, null, e.text];
    default:
      throw new Error(`events[${seq}] has unknown kind ${JSON.stringify(e.kind)}`);
  }
}

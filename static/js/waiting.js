// What the Hub (or asyncio's event loop) waits for at the cursor, as a panel
// (scheduler.js): every coroutine parked on it then, with the cause it parked with, read
// from the switches alone. A timer parked at t for 2 s is due at t + 2 s; `io fd 7` is a
// socket watched for that task; `wait Queue.get` a queue it waits on. So "the Hub ran
// 2.0 s" reads as "it waited 2.0 s for eat's timer".

import { formatDuration } from "./format.js";
import { causeText, t as tr } from "./i18n.js";
import { CLOCK, CURSOR, DATA } from "./scheduler.js";
import { isScheduler } from "./store.js";
import { taskColor } from "./timeline.js";

const MAX_ITEMS = 12; // the rest are counted: a server with 500 sockets is one "+488"

const STYLE = {
  box: "display:flex;flex-wrap:wrap;align-items:center;gap:4px 6px;padding:5px 10px;" +
    "border-top:1px solid #e7e9ee;font-size:12px;line-height:18px;color:#1f2430;" +
    "max-height:52px;overflow:auto",
  item: "padding:0 6px;border:1px solid #dfe3ea;border-radius:4px;background:#f6f7f9;white-space:nowrap",
  muted: "color:#5b6270",
};

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The coroutines parked on a Hub or loop at time `t` (switches at `t` have happened):
 * {scheduler: "hub" | "loop" | null, idleSince, items: [{task, cause, parkedAt, line,
 * due}]}, timers first, soonest due first. `scheduler` null: none is alive at `t`.
 * `idleSince`: when the Hub or loop got control, if it has it at `t`, else null.
 */
export function waitingAt(store, t) {
  const scheduler = store.schedulerAt(t);
  if (!scheduler) return { scheduler: null, idleSince: null, items: [] };
  const raw = store.raw;
  const last = raw.lastAt(t);
  const running = store.runningAt(t);
  const idleSince = isScheduler(store.tasks[running]?.kind) && last >= 0 ? raw.t[last] : null;
  const items = [];
  for (const task of store.lanes) {
    if (isScheduler(task.kind) || task.id === running) continue;
    if (task.spawnedAt > t || task.finishedAt <= t) continue;
    const k = store.lastPauseAt(task, t);
    // Parked on the scheduler: it gave control to the Hub or loop, which wakes it.
    if (k < 0 || !isScheduler(store.tasks[raw.to[k]]?.kind)) continue;
    const cause = store.causes[raw.cause[k]] || "";
    const timer = /^timer (\S+) s$/.exec(cause);
    items.push({
      task: task.id, cause, parkedAt: raw.t[k], line: raw.line[k],
      due: timer ? raw.t[k] + Math.round(Number(timer[1]) * 1e9) : null,
    });
  }
  items.sort((p, q) => (p.due ?? Infinity) - (q.due ?? Infinity));
  return { scheduler, idleSince, items };
}

/** One parked coroutine in words, as markup: `task` is its name as a coloured chip;
 * `sourceLine(n)` the text of line n of the run's source, or null. */
function itemHtml(store, item, t, task, sourceLine) {
  const { cause } = item;
  const code = (text) => `<code>${escapeHtml(text)}</code>`;
  if (item.due !== null) {
    const seconds = /^timer (\S+) s$/.exec(cause)[1];
    return item.due >= t
      ? tr("waiting.timer", { task, seconds, left: formatDuration(item.due - t) })
      : tr("waiting.late", { task, seconds, late: formatDuration(t - item.due) });
  }
  const fd = /^io fd (\d+)$/.exec(cause);
  if (fd) {
    const args = store.tasks[item.task].args;
    return tr("waiting.fd", { fd: fd[1], task: args ? `${task}${code(`(${args})`)}` : task });
  }
  const awaited = /^wait task (.+)$/.exec(cause);
  if (awaited) return tr("waiting.task", { task, what: code(awaited[1]) });
  const on = /^wait (.+)$/.exec(cause);
  if (on) return tr("waiting.on", { task, what: code(on[1]) });
  // A plain wait (gevent's join, event, lock: compiled, no Python frame): the line says which.
  const text = item.line >= 0 ? sourceLine(item.line)?.trim() : null;
  const where = text ? code(text) : item.line >= 0 ? escapeHtml(tr("waiting.line", { line: item.line })) : "";
  if (cause === "wait") return where ? tr("waiting.wait", { task, where }) : tr("waiting.plain", { task });
  return tr("waiting.other", { task, cause: escapeHtml(causeText(cause || "?")) }) + (where && ` · ${where}`);
}

export class WaitingPanel {
  /** Shown under the timeline's player (after `anchor`), for runs with a Hub or a loop. */
  constructor({ anchor, store, player, sourceLine = () => null }) {
    this.flags = DATA | CURSOR | CLOCK;
    this.store = store;
    this.player = player;
    this.sourceLine = sourceLine;
    this.root = document.createElement("div");
    this.root.className = "waiting";
    this.root.dataset.testid = "waiting";
    this.root.style.cssText = STYLE.box;
    this.root.hidden = true;
    anchor.after(this.root);
    this.shown = null;
    this.html = "";
  }

  reset() {
    this.shown = null;
    this.html = "";
    this.root.hidden = true;
    this.root.replaceChildren();
  }

  relabel() {
    this.html = "";
  }

  /** What the panel lists: {scheduler, t, idleFor, items: [{task, cause, due, text}]}, or null. */
  snapshot() {
    return this.shown;
  }

  update() {
    const { store, root } = this;
    const t = this.player.cursor;
    const w = waitingAt(store, t);
    if (!w.scheduler) {
      this.shown = null;
      root.hidden = true;
      return;
    }
    const chip = (id) => {
      const task = store.tasks[id];
      return `<b style="color:${taskColor(task)}">${escapeHtml(task.label)}</b>`;
    };
    const items = w.items.map((item) => ({ ...item, html: itemHtml(store, item, t, chip(item.task), this.sourceLine) }));
    const idleFor = w.idleSince === null ? null : t - w.idleSince;
    // While it has control, it is waiting: for as long as the cursor shows.
    const head = idleFor === null ? tr(`waiting.${w.scheduler}`)
      : tr(`waiting.${w.scheduler}.idle`, { duration: formatDuration(idleFor) });
    const parts = [`<b title="${escapeHtml(tr("waiting.title"))}">${escapeHtml(head)}</b>`];
    if (!items.length) parts.push(`<span style="${STYLE.muted}">${escapeHtml(tr("waiting.none"))}</span>`);
    for (const item of items.slice(0, MAX_ITEMS)) {
      parts.push(`<span class="waiting-item" data-task="${item.task}" style="${STYLE.item}">${item.html}</span>`);
    }
    if (items.length > MAX_ITEMS) parts.push(`<span style="${STYLE.muted}">${escapeHtml(tr("waiting.more", { n: items.length - MAX_ITEMS }))}</span>`);
    const html = parts.join(" ");
    root.hidden = false;
    if (html !== this.html) {
      this.html = html;
      root.innerHTML = html;
    }
    const shown = root.querySelectorAll(".waiting-item");
    this.shown = {
      scheduler: w.scheduler, t, idleFor,
      items: items.map(({ task, cause, due }, k) => ({ task, cause, due, text: shown[k]?.textContent ?? null })),
    };
  }
}

// The printed lines as a list: time, task (in its lane colour), text. Only the rows in
// view exist in the DOM, so a run that prints a million lines costs a screenful. A panel
// (scheduler.js): lines after the player's cursor are dimmed.

import { formatClock } from "./format.js";
import { formatCount, t as tr } from "./i18n.js";
import { CURSOR, DATA } from "./scheduler.js";
import { taskColor } from "./timeline.js";

const ROW_H = 20;
const OVERSCAN = 6;

export class Console {
  constructor({ list, count, store, player, onPick }) {
    this.flags = DATA | CURSOR;
    this.list = list;
    this.countEl = count;
    this.store = store;
    this.player = player;
    this.onPick = onPick;
    this.shown = -1; // outCount at the last render
    this.range = [0, 0];
    this.current = 0; // lines at or before the player's cursor
    this.hideFuture = false; // lines after the cursor are hidden (Predict asks)

    this.spacer = document.createElement("div");
    this.spacer.className = "console-spacer";
    this.rows = document.createElement("div");
    this.rows.className = "console-rows";
    this.empty = document.createElement("div");
    this.empty.className = "console-empty";
    this.spacer.append(this.rows);
    list.append(this.empty, this.spacer);

    list.addEventListener("scroll", () => this.render(true));
    list.addEventListener("click", (e) => {
      const row = e.target.closest(".console-row");
      if (row) this.onPick(Number(row.dataset.t), Number(row.dataset.i));
    });
  }

  reset() {
    this.shown = -1;
    this.list.scrollTop = 0;
    this.refresh();
  }

  update() {
    this.refresh();
    this.setCurrent(this.store.stdoutBefore(this.player.cursor), !this.player.follow);
    // While Predict asks, what is printed next would give the answer away.
    const q = this.player.question;
    const hide = Boolean(q && q.answer === null && this.player.predictOn);
    if (hide !== this.hideFuture) {
      this.hideFuture = hide;
      this.render(true);
    }
  }

  relabel() {
    this.refresh(true);
  }

  snapshot() {
    return { current: this.store.stdoutBefore(this.player.cursor) };
  }

  /** Lines after the cursor are dimmed; the last one at or before it is current. */
  setCurrent(count, reveal) {
    if (count === this.current) return;
    this.current = count;
    if (reveal && count > 0) {
      const list = this.list;
      const top = (count - 1) * ROW_H;
      if (top < list.scrollTop || top + ROW_H > list.scrollTop + list.clientHeight) {
        list.scrollTop = top - list.clientHeight / 2;
      }
    }
    this.render(true);
  }

  /** Bring the list up to date with the store; cheap when nothing was printed since. */
  refresh(force = false) {
    const n = this.store.outCount;
    const renamed = this.store.labelEpoch !== this.labelEpoch; // a lane was renamed
    this.labelEpoch = this.store.labelEpoch;
    if (n === this.shown && !force && !renamed) return;
    const list = this.list;
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - ROW_H;
    this.shown = n;
    this.empty.textContent = n ? "" : tr("console.empty");
    this.empty.hidden = n > 0;
    this.countEl.textContent = n ? tr("console.count", { n: formatCount(n) }) : "";
    this.spacer.style.height = `${n * ROW_H}px`;
    // Follow new output while the reader is at the end; leave them be if they scrolled up.
    if (atBottom) list.scrollTop = list.scrollHeight;
    this.render(true);
  }

  render(force) {
    const store = this.store;
    const n = store.outCount;
    const first = Math.max(0, Math.floor(this.list.scrollTop / ROW_H) - OVERSCAN);
    const last = Math.min(n, Math.ceil((this.list.scrollTop + this.list.clientHeight) / ROW_H) + OVERSCAN);
    if (!force && first === this.range[0] && last === this.range[1]) return;
    this.range = [first, last];
    const frag = document.createDocumentFragment();
    for (let i = first; i < last; i++) {
      const j = store.outEvent[i];
      const task = store.tasks[store.a[j]];
      const row = document.createElement("div");
      row.className = i < this.current ? (i === this.current - 1 ? "console-row current" : "console-row") : "console-row future";
      if (this.hideFuture && i >= this.current) row.style.visibility = "hidden";
      row.dataset.i = String(i);
      row.style.top = `${i * ROW_H}px`;
      row.dataset.t = String(store.t[j]);
      row.title = tr("console.pick");
      const time = document.createElement("span");
      time.className = "console-time";
      time.textContent = formatClock(store.t[j]);
      const who = document.createElement("span");
      who.className = "console-task";
      who.textContent = task ? task.label : "?";
      if (task) who.style.color = taskColor(task);
      const text = document.createElement("span");
      text.className = "console-text";
      text.textContent = store.x[j];
      text.title = store.x[j]; // a long line is cut to the panel's width: whole on hover
      row.append(time, who, text);
      frag.append(row);
    }
    this.rows.replaceChildren(frag);
  }
}

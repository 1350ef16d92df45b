// Pointer input on the timeline: the wheel zooms around the cursor (or scrolls lanes
// over the labels / with Shift), dragging pans, double-click fits. Hover shows the
// nearest switch, or a lane's task, in DOM overlays: moving the mouse never repaints.

import { formatDuration, formatInstant } from "./format.js";
import { t as tr } from "./i18n.js";
import { warningText } from "./stats.js";
import { THROW } from "./kinds.js";
import { lowerBound, RESUMED, upperBound } from "./store.js";
import { AXIS_H, switchWhy, taskColor } from "./timeline.js";

const HOVER_PX = 8; // how far from a switch the pointer may be and still pick it
const MERGE_PX = 2; // switches this close to the picked one are counted as "more here"

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class Pointer {
  constructor({ timeline, view, onViewChange, onPick = null, sourceLine = () => null }) {
    this.timeline = timeline;
    this.onPick = onPick; // click without dragging: move the player's cursor there
    this.sourceLine = sourceLine; // line number -> its text in the run's source, or null
    this.store = timeline.store;
    this.view = view;
    this.onViewChange = onViewChange;
    this.canvas = timeline.canvas;
    this.at = null; // last pointer position over the canvas, to re-hover after redraws
    this.drag = null;
    this.cursor = this.overlay("cursor");
    this.mark = this.overlay("hover-mark");
    this.tooltip = this.overlay("tooltip");

    const c = this.canvas;
    c.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    c.addEventListener("pointerdown", (e) => this.onDown(e));
    c.addEventListener("pointermove", (e) => this.onMove(e));
    c.addEventListener("pointerup", (e) => this.onUp(e));
    c.addEventListener("pointercancel", (e) => this.onUp(e));
    c.addEventListener("pointerleave", () => {
      this.at = null;
      this.hide();
    });
    c.addEventListener("dblclick", () => {
      this.view.follow = true;
      this.onViewChange();
    });
  }

  overlay(cls) {
    const el = document.createElement("div");
    el.className = cls;
    el.hidden = true;
    this.timeline.wrap.append(el);
    return el;
  }

  local(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  onWheel(e) {
    const tl = this.timeline;
    const g = tl.g;
    if (!g || !tl.lanes.length) return;
    e.preventDefault();
    const { x } = this.local(e);
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? tl.h : 1;
    const dx = e.deltaX * unit;
    const dy = e.deltaY * unit;
    if ((e.shiftKey || x < g.gutter) && g.scrollMax) {
      tl.scrollY += dy || dx;
    } else if (Math.abs(dx) > Math.abs(dy)) {
      this.view.panBy(dx / g.kxCss, tl.extent);
    } else {
      const at = tl.timeAt(Math.min(Math.max(x, g.plotX0), g.plotX1));
      this.view.zoomAt(at, Math.exp(dy * 0.0015), tl.extent);
    }
    this.onViewChange();
  }

  onDown(e) {
    if (e.button !== 0 || !this.timeline.lanes.length) return;
    this.canvas.setPointerCapture(e.pointerId);
    this.drag = { ...this.local(e), moved: false };
    this.canvas.classList.add("dragging");
    this.hide();
  }

  onMove(e) {
    const p = this.local(e);
    this.at = p;
    const drag = this.drag;
    if (!drag) return this.hover(p);
    const dx = p.x - drag.x;
    const dy = p.y - drag.y;
    // A click that wobbles a pixel is not a pan.
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 3) return;
    drag.moved = true;
    drag.x = p.x;
    drag.y = p.y;
    const tl = this.timeline;
    if (dx) this.view.panBy(-dx / tl.g.kxCss, tl.extent);
    tl.scrollY -= dy;
    this.onViewChange();
  }

  onUp(e) {
    if (!this.drag) return;
    const { moved } = this.drag;
    this.drag = null;
    if (!moved && e.type === "pointerup" && this.onPick) {
      const { x, y } = this.local(e);
      const g = this.timeline.g;
      if (g && x >= g.plotX0 - 6 && y >= AXIS_H) {
        const t = this.timeline.timeAt(Math.min(Math.max(x, g.plotX0), g.plotX1));
        // A click within a few pixels of a switch lands exactly on it.
        const best = this.nearestSwitch(t);
        const set = g.set;
        this.onPick(best >= 0 && Math.abs(this.timeline.xAt(set.t[best]) - x) <= HOVER_PX ? set.t[best] : Math.max(0, Math.round(t)));
      }
    }
    this.canvas.classList.remove("dragging");
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
  }

  /** Hover again after a redraw, so the tooltip follows the data under a still pointer. */
  refresh() {
    if (this.at && !this.drag) this.hover(this.at);
  }

  hide() {
    this.cursor.hidden = true;
    this.mark.hidden = true;
    this.tooltip.hidden = true;
  }

  hover({ x, y }) {
    const tl = this.timeline;
    const g = tl.g;
    if (!g || !tl.lanes.length || y < AXIS_H) return this.hide();
    if (x < g.gutter) return this.hoverLane(x, y);
    this.cursor.hidden = false;
    this.cursor.style.transform = `translateX(${Math.round(x)}px)`;
    const warning = this.warningAt(x, y);
    if (warning) return this.showWarning(warning, x, y);
    const best = this.nearestSwitch(tl.timeAt(x));
    if (best < 0 || Math.abs(tl.xAt(g.set.t[best]) - x) > HOVER_PX) {
      this.mark.hidden = true;
      const { mainAt } = this.store;
      if (mainAt !== null && tl.timeAt(x) < mainAt) return this.showLoading(mainAt, x, y);
      this.tooltip.hidden = true;
      return;
    }
    this.showSwitch(best, x, y);
  }

  /** The shaded start of a demo run, before its main() was called. */
  showLoading(mainAt, x, y) {
    this.show(`<div class="tip-head"><b class="tip-kind">${escapeHtml(tr("tip.loading"))}</b>` +
      ` <span class="tip-time">0 – ${formatInstant(mainAt)}</span></div>` +
      `<div>${escapeHtml(tr("tip.loading.text"))}</div>`, x, y);
  }

  /** The warning whose marker (the "!" triangle drawn by Timeline.drawWarnings) is here. */
  warningAt(x, y) {
    const g = this.timeline.g;
    let best = null;
    // Only where drawWarnings drew a marker (inside the window, inside the plot), the
    // nearest one: two of a lane close in time are drawn side by side.
    for (const m of this.timeline.warnMarks ?? []) {
      if (m.x < g.plotX0 || m.x > g.plotX1 || y < m.y - 14 || y > m.y + 2) continue;
      if (Math.abs(m.x - x) <= 7 && (!best || Math.abs(m.x - x) < Math.abs(best.x - x))) best = m;
    }
    return best ? this.store.warnings[best.k] : null;
  }

  showWarning(w, x, y) {
    this.mark.hidden = true;
    const until = Number.isNaN(w.until) ? this.timeline.g.extent : w.until;
    const rows = [
      `<div class="tip-head"><b class="tip-kind warning">${escapeHtml(tr("tip.warning"))}</b>` +
        ` <span class="tip-time">${formatInstant(w.t)} – ${formatInstant(until)}</span></div>`,
      `<div>${escapeHtml(warningText(this.store, w, until))}</div>`,
    ];
    this.show(rows.join(""), x, y);
  }

  nearestSwitch(t) {
    const set = this.timeline.g?.set ?? this.store.raw;
    const { t: swT, count: n } = set;
    const i = lowerBound(swT, n, t);
    if (i > 0 && (i === n || t - swT[i - 1] <= swT[i] - t)) return i - 1;
    return i < n ? i : -1;
  }

  showSwitch(i, x, y) {
    const { store, timeline: tl } = this;
    const g = tl.g;
    const set = g.set;
    const ts = set.t[i];
    const origin = store.tasks[set.from[i]];
    const target = store.tasks[set.to[i]];
    const ya = g.laneY[g.laneOf[origin.id]];
    const yb = g.laneY[g.laneOf[target.id]];
    Object.assign(this.mark.style, {
      transform: `translate(${tl.xAt(ts) - 3}px, ${Math.min(ya, yb) - g.barH / 2 - 2}px)`,
      height: `${Math.abs(ya - yb) + g.barH + 4}px`,
    });
    const thrown = set.kind[i] === THROW;
    this.mark.classList.toggle("throw", thrown);
    this.mark.hidden = false;

    const n = set.count;
    const span = MERGE_PX / g.kxCss;
    const more = upperBound(set.t, n, ts + span) - lowerBound(set.t, n, ts - span) - 1;
    const kind = thrown ? "throw" : "switch";
    const resumed = set.via[i] === RESUMED;
    const pausedLine = set.line[i];
    // The target resumes where it last paused: its previous switch out.
    const prev = store.lastPauseAt(target, ts - 0.5);
    const resumedLine = prev >= 0 ? store.raw.line[prev] : -1;
    const lineRow = (key, line) => {
      if (line < 0) return `<div class="tip-muted">${escapeHtml(tr(`${key}.none`))}</div>`;
      const text = this.sourceLine(line);
      return `<div class="tip-line"><span class="tip-muted">${escapeHtml(tr(key, { line }))}</span>` +
        (text ? ` <code>${escapeHtml(text.trim())}</code>` : "") + "</div>";
    };
    const rows = [
      `<div class="tip-head"><b class="tip-kind ${kind}">${tr(`kind.${kind}`)}</b>` +
        ` <span class="tip-time">${formatInstant(ts)}</span></div>`,
      resumed ? `<div>${chip(target)} ${escapeHtml(tr("tip.resumes"))}</div>`
        : `<div>${chip(origin)} ${set.via[i] ? "⇒" : "→"} ${chip(target)}</div>`,
      `<div class="tip-cause">${escapeHtml(tr("tip.cause"))} <b>${escapeHtml(switchWhy(store, set, i))}</b></div>`,
      ...(resumed ? [] : [lineRow("tip.paused", pausedLine)]),
      lineRow("tip.resumed", resumedLine),
    ];
    if (more > 0) rows.push(`<div class="tip-muted">${tr("tip.merged", { n: more })}</div>`);
    this.show(rows.join(""), x, y);
  }

  hoverLane(x, y) {
    this.cursor.hidden = true;
    this.mark.hidden = true;
    const task = this.timeline.taskAt(y);
    if (!task) return this.hide();
    const parent = this.store.tasks[task.parent];
    const muted = (html) => `<div class="tip-muted">${html}</div>`;
    // asyncio's kinds are said in words (a `task` lane may be called main()); the others are names.
    const kind = ["task", "loop"].includes(task.kind) ? tr(`tip.kind.${task.kind}`) : task.kind;
    const rows = [`<div class="tip-head">${chip(task)} <span class="tip-muted">${escapeHtml(kind)}</span></div>`];
    if (task.thread) rows.push(muted(escapeHtml(tr("tip.task.thread", { thread: task.thread }))));
    if (task.args) rows.push(muted(escapeHtml(tr("tip.task.args", { args: task.args }))));
    if (parent) rows.push(muted(tr("tip.task.parent", { parent: chip(parent) })));
    rows.push(muted(tr("tip.task.spawned", { t: formatDuration(task.spawnedAt) })));
    if (!Number.isNaN(task.finishedAt)) {
      rows.push(muted(tr("tip.task.finished", { t: formatDuration(task.finishedAt) })));
    }
    this.show(rows.join(""), x, y);
  }

  show(html, x, y) {
    const tip = this.tooltip;
    const { w, h } = this.timeline;
    if (tip.innerHTML !== html) tip.innerHTML = html;
    tip.hidden = false;
    const tw = tip.offsetWidth;
    const th = tip.offsetHeight;
    const left = Math.max(0, x + 14 + tw > w ? x - 14 - tw : x + 14);
    const top = Math.min(Math.max(0, y + 14 + th > h ? y - 14 - th : y + 14), Math.max(0, h - th));
    tip.style.transform = `translate(${Math.round(left)}px, ${Math.round(top)}px)`;
  }
}

function chip(task) {
  return `<b style="color:${taskColor(task)}">${escapeHtml(task.label)}</b>`;
}

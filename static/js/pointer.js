// Pointer input on the timeline: the wheel zooms around the cursor (or scrolls lanes
// over the labels / with Shift), dragging pans, double-click fits. Hover shows the
// nearest switch, or a lane's task, in DOM overlays: moving the mouse never repaints.

import { formatDuration, formatInstant } from "./format.js";
import { t as tr } from "./i18n.js";
import { lowerBound, THROW, upperBound } from "./store.js";
import { AXIS_H, GUTTER, taskColor } from "./timeline.js";

const HOVER_PX = 8; // how far from a switch the pointer may be and still pick it
const MERGE_PX = 2; // switches this close to the picked one are counted as "more here"

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class Pointer {
  constructor({ timeline, view, onViewChange }) {
    this.timeline = timeline;
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
    if (!g || !this.store.lanes.length) return;
    e.preventDefault();
    const { x } = this.local(e);
    const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? tl.h : 1;
    const dx = e.deltaX * unit;
    const dy = e.deltaY * unit;
    if ((e.shiftKey || x < GUTTER) && g.scrollMax) {
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
    if (e.button !== 0 || !this.store.lanes.length) return;
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
    this.drag = null;
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
    if (!g || !this.store.lanes.length || y < AXIS_H) return this.hide();
    if (x < GUTTER) return this.hoverLane(x, y);
    this.cursor.hidden = false;
    this.cursor.style.transform = `translateX(${Math.round(x)}px)`;
    const best = this.nearestSwitch(tl.timeAt(x));
    if (best < 0 || Math.abs(tl.xAt(this.store.swT[best]) - x) > HOVER_PX) {
      this.mark.hidden = true;
      this.tooltip.hidden = true;
      return;
    }
    this.showSwitch(best, x, y);
  }

  nearestSwitch(t) {
    const { swT, switchCount: n } = this.store;
    const i = lowerBound(swT, n, t);
    if (i > 0 && (i === n || t - swT[i - 1] <= swT[i] - t)) return i - 1;
    return i < n ? i : -1;
  }

  showSwitch(i, x, y) {
    const { store, timeline: tl } = this;
    const g = tl.g;
    const ts = store.swT[i];
    const origin = store.tasks[store.swFrom[i]];
    const target = store.tasks[store.swTo[i]];
    const ya = g.laneY[origin.lane];
    const yb = g.laneY[target.lane];
    Object.assign(this.mark.style, {
      transform: `translate(${tl.xAt(ts) - 3}px, ${Math.min(ya, yb) - g.barH / 2 - 2}px)`,
      height: `${Math.abs(ya - yb) + g.barH + 4}px`,
    });
    const thrown = store.swKind[i] === THROW;
    this.mark.classList.toggle("throw", thrown);
    this.mark.hidden = false;

    const n = store.switchCount;
    const span = MERGE_PX / g.kxCss;
    const more = upperBound(store.swT, n, ts + span) - lowerBound(store.swT, n, ts - span) - 1;
    const line = store.x[store.swEvent[i]];
    const kind = thrown ? "throw" : "switch";
    const rows = [
      `<div class="tip-head"><b class="tip-kind ${kind}">${tr(`kind.${kind}`)}</b>` +
        ` <span class="tip-time">${formatInstant(ts)}</span></div>`,
      `<div>${chip(origin)} → ${chip(target)}</div>`,
      `<div class="tip-muted">${escapeHtml(line == null ? tr("tip.noLine") : tr("tip.line", { line }))}</div>`,
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
    const rows = [`<div class="tip-head">${chip(task)} <span class="tip-muted">${escapeHtml(task.kind)}</span></div>`];
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

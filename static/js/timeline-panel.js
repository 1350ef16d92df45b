// The timeline as a panel (scheduler.js): the canvas (timeline.js), repainted only when
// PAINT is committed, its pointer input (pointer.js), and the player's cursor line and
// future shade as DOM overlays, so moving the cursor never repaints the canvas.
// `onViewChange()` asks for a repaint (the window was zoomed or panned, or resized). The
// Hub toggle is here too: whether the Hub has a lane, remembered across visits.

import { Pointer } from "./pointer.js";
import { CLOCK, CURSOR, PAINT } from "./scheduler.js";
import { Timeline } from "./timeline.js";

const HUB_PREF = "coroscope.showHub";

export class TimelinePanel {
  /** `frame.extent`: how far the run reaches in this frame (the scheduler's tick);
   * `onHub(on)`: the Hub was shown or hidden. */
  constructor({ wrap, canvas, store, view, player, frame, hubToggle, onHub, onViewChange, onPick, sourceLine }) {
    this.flags = PAINT | CURSOR | CLOCK;
    this.player = player;
    this.frame = frame;
    this.timeline = new Timeline({ wrap, canvas, store, view });
    this.timeline.showHub = localStorage.getItem(HUB_PREF) === "1";
    this.hubToggle = hubToggle;
    this.onHub = onHub;
    hubToggle.checked = this.timeline.showHub;
    hubToggle.addEventListener("change", () => this.setShowHub(hubToggle.checked));
    this.pointer = new Pointer({ timeline: this.timeline, view, onViewChange, onPick, sourceLine });
    this.cursorLine = overlay(wrap, "play-cursor");
    this.futureShade = overlay(wrap, "future-shade");
    new ResizeObserver(() => {
      this.timeline.resize();
      onViewChange();
    }).observe(wrap);
    this.drawnSwitches = 0;
    this.lastRedrawMs = 0;
    this.runClickedAt = null;
    this.firstSwitchDrawnAt = null;
  }

  setShowHub(on) {
    this.timeline.showHub = Boolean(on);
    this.hubToggle.checked = this.timeline.showHub;
    localStorage.setItem(HUB_PREF, this.timeline.showHub ? "1" : "0");
    this.onHub(this.timeline.showHub);
  }

  /** A run was asked for: time from now to its first switch drawn (benchmarks/browser.py). */
  startClock() {
    this.runClickedAt = performance.now();
    this.firstSwitchDrawnAt = null;
  }

  reset() {}

  relabel() {}

  update(flags) {
    if (flags & PAINT) {
      this.drawnSwitches = this.timeline.draw(this.frame.extent);
      this.lastRedrawMs = this.timeline.lastDrawMs;
      if (this.drawnSwitches > 0 && this.firstSwitchDrawnAt === null) {
        this.firstSwitchDrawnAt = performance.now();
      }
      this.pointer.refresh();
    }
    this.placeCursor();
  }

  snapshot() {
    const { drawnSwitches, lastRedrawMs, runClickedAt, firstSwitchDrawnAt } = this;
    return { drawnSwitches, lastRedrawMs, runClickedAt, firstSwitchDrawnAt };
  }

  placeCursor() {
    const { timeline, player, cursorLine, futureShade } = this;
    const g = timeline.g;
    if (!g || !timeline.lanes.length) {
      cursorLine.hidden = futureShade.hidden = true;
      return;
    }
    const x = timeline.xAt(player.cursor);
    const visible = x >= g.plotX0 - 1 && x <= g.plotX1 + 1;
    cursorLine.hidden = !visible;
    if (visible) cursorLine.style.transform = `translateX(${Math.round(x)}px)`;
    const left = Math.max(x, g.plotX0);
    const right = g.plotX1 + 6;
    futureShade.hidden = player.follow || left >= right;
    if (!futureShade.hidden) {
      futureShade.style.transform = `translateX(${Math.round(left) + 1}px)`;
      futureShade.style.width = `${Math.round(right - left)}px`;
    }
  }

  /** Where warning k's marker is drawn, in CSS pixels of the canvas, or null. */
  warningMarker(k) {
    const w = this.timeline.store.warnings[k];
    const g = this.timeline.g;
    const i = w && g ? g.laneOf[w.task] : undefined;
    if (i === undefined || i < 0) return null;
    return { x: this.timeline.xAt(w.t), y: g.laneTop[i] + g.laneH - 10 };
  }

  /** The colour the canvas shows at time t, `fromBottom` CSS pixels above its foot. */
  pixelAt(t, fromBottom) {
    const canvas = this.timeline.canvas;
    const dpr = canvas.width / canvas.clientWidth;
    const x = Math.round(this.timeline.xAt(t) * dpr);
    const y = Math.round(canvas.height - fromBottom * dpr);
    return [...canvas.getContext("2d").getImageData(x, y, 1, 1).data];
  }
}

function overlay(wrap, cls) {
  const el = document.createElement("div");
  el.className = cls;
  el.hidden = true;
  wrap.append(el);
  return el;
}

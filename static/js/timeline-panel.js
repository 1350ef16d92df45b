// The timeline as a panel (scheduler.js): the canvas (timeline.js), repainted only when
// PAINT is committed, its pointer input (pointer.js), and the player's cursor line and
// future shade as DOM overlays, so moving the cursor never repaints the canvas.
// `onViewChange()` asks for a repaint (the window was zoomed or panned). The timeline is
// as tall as its lanes need (room.js), and a resized canvas is redrawn before it is seen. The
// Hub and loading toggles are here too: whether the Hub has a lane, whether a fitted
// window starts at 0 or at main(), both remembered across visits. While the player
// plays switch by switch, or Predict asks, the window follows the switch shown.

import { Pointer } from "./pointer.js";
import { LaneRoom } from "./room.js";
import { ALL, PAINT } from "./scheduler.js";
import { FOLDED, RESUMED } from "./store.js";
import { switchWhy, taskColor, Timeline } from "./timeline.js";

const HUB_PREF = "coroscope.showHub";
const LOADING_PREF = "coroscope.showLoading";

export class TimelinePanel {
  /** `frame.extent`: how far the run reaches in this frame (the scheduler's tick);
   * `onHub(on)`: the Hub was shown or hidden. */
  constructor({
    wrap, canvas, store, view, player, frame, hubToggle, loadingToggle, onHub, onViewChange, onPick, sourceLine,
    onLoading = () => {},
  }) {
    this.onLoading = onLoading; // "Show loading" was toggled (Compare follows)
    this.flags = ALL; // every frame: any panel's change may have moved it (update() below)
    this.player = player;
    this.frame = frame;
    this.view = view;
    this.onViewChange = onViewChange;
    this.timeline = new Timeline({ wrap, canvas, store, view });
    this.focused = ""; // the switch (and whether asked) the window last followed
    // Loading (before main()) is folded away unless shown: a fitted window starts at main().
    this.showLoading = localStorage.getItem(LOADING_PREF) === "1";
    view.origin = () => (this.showLoading ? 0 : store.mainAt ?? 0);
    this.loadingToggle = loadingToggle;
    loadingToggle.checked = this.showLoading;
    loadingToggle.addEventListener("change", () => this.setShowLoading(loadingToggle.checked));
    this.timeline.showHub = localStorage.getItem(HUB_PREF) === "1";
    this.hubToggle = hubToggle;
    this.onHub = onHub;
    hubToggle.checked = this.timeline.showHub;
    hubToggle.addEventListener("change", () => this.setShowHub(hubToggle.checked));
    this.pointer = new Pointer({ timeline: this.timeline, view, onViewChange, onPick, sourceLine });
    this.cursorLine = overlay(wrap, "play-cursor");
    this.futureShade = overlay(wrap, "future-shade");
    // The switch the cursor is on, in words, above the future's shade: what paced play
    // and stepping show is readable there even where the canvas label is faded.
    this.caption = overlay(wrap, "switch-caption");
    Object.assign(this.caption.style, {
      position: "absolute", left: "0", bottom: "6px", padding: "2px 8px", background: "#ffffff",
      border: "1px solid #d5d9e0", borderRadius: "4px", boxShadow: "0 1px 3px rgba(0, 0, 0, 0.12)",
      font: "12px system-ui, sans-serif", color: "#1f2430", whiteSpace: "nowrap", pointerEvents: "none",
    });
    this.captionKey = "";
    this.room = new LaneRoom(wrap);
    // Redrawn in the observer, before the browser paints: a resized canvas is blank.
    new ResizeObserver(() => {
      if (this.timeline.resize()) this.update(PAINT);
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

  setShowLoading(on) {
    this.showLoading = Boolean(on);
    this.loadingToggle.checked = this.showLoading;
    localStorage.setItem(LOADING_PREF, this.showLoading ? "1" : "0");
    this.view.follow = true;
    this.onViewChange();
    this.onLoading(this.showLoading);
  }

  /** A run was asked for: time from now to its first switch drawn (benchmarks/browser.py). */
  startClock() {
    this.runClickedAt = performance.now();
    this.firstSwitchDrawnAt = null;
  }

  reset() {}

  relabel() {}

  /**
   * Before the panels update (the scheduler's tick): keep the switch being looked at in
   * the window. Paced play and a Predict question show it readably (View.focus), once
   * per switch, so one may still zoom out; real-time play turns the page when the cursor
   * leaves the window. Returns whether the window moved.
   */
  keepInView(extent) {
    const { player, view, timeline } = this;
    const q = player.question;
    const asking = Boolean(q && q.answer === null && player.predictOn);
    if (!asking && !player.playing) {
      this.focused = "";
      return false;
    }
    if (asking || player.paced) {
      const set = player.switches();
      const i = asking ? q.index : set.lastAt(player.cursor);
      const key = `${i}:${asking}`;
      if (i < 0 || key === this.focused || !timeline.g) return false;
      this.focused = key;
      // A question shows what led to it; its future is hidden.
      return view.focus(set.t, set.count, i, asking ? 0.7 : 0.4, timeline.g.plotW, extent);
    }
    if (player.cursor <= view.t1 && player.cursor >= view.t0) return false;
    const span = view.t1 - view.t0;
    view.t0 = player.cursor - span * 0.1;
    view.t1 = view.t0 + span;
    return true;
  }

  update(flags) {
    const q = this.player.question;
    const hideAfter = q && q.answer === null && this.player.predictOn ? q.t : NaN;
    if (!Object.is(hideAfter, this.timeline.hideAfter)) {
      this.timeline.hideAfter = hideAfter;
      flags |= PAINT;
    }
    // The canvas takes its wrap's size before it draws: new lanes give the timeline a new
    // height, and the panels updated before it may have moved it. (Reading the size lays
    // the page out here rather than after the frame's script; a resized canvas is redrawn.)
    this.room.fit(this.timeline.shownLanes().length);
    if (this.timeline.resize()) flags |= PAINT;
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
    this.placeCaption(visible ? x : NaN);
  }

  /** The caption of the switch the cursor stands on, at the cursor's `x` (NaN: none). */
  placeCaption(x) {
    const { player, caption, timeline } = this;
    const set = player.switches();
    const i = set.lastAt(player.cursor);
    const q = player.question;
    const on = !Number.isNaN(x) && !player.follow && i >= 0 && set.t[i] === player.cursor &&
      !(q && q.answer === null && player.predictOn);
    caption.hidden = !on;
    if (!on) return;
    const key = `${i}:${set === timeline.store.raw}:${document.documentElement.lang}`;
    if (key !== this.captionKey) {
      this.captionKey = key;
      const store = timeline.store;
      const chip = (id) => `<b style="color:${taskColor(store.tasks[id])}">${escapeHtml(store.tasks[id].label)}</b>`;
      const why = escapeHtml(switchWhy(store, set, i));
      caption.innerHTML = set.via[i] === RESUMED ? why
        : `${chip(set.from[i])} ${set.via[i] === FOLDED ? "⇒" : "→"} ${chip(set.to[i])} · ${why}`;
    }
    const w = caption.offsetWidth;
    const left = x + 8 + w > timeline.g.plotX1 ? x - 8 - w : x + 8;
    caption.style.transform = `translateX(${Math.round(Math.max(0, left))}px)`;
  }

  /** Where warning k's marker is drawn, in CSS pixels of the canvas, or null. */
  warningMarker(k) {
    const m = (this.timeline.warnMarks ?? []).find((mark) => mark.k === k);
    return m ? { x: m.x, y: m.y - 6 } : null;
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

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The frame scheduler: changes are committed as named dirty flags, many commits make one
// requestAnimationFrame, and that frame updates each registered panel for the flags it
// cares about (uPlot's `commit()` style). One per view: the dashboard's, and Compare's.
//
// The panel contract. A panel is an object with
//   flags          the dirty flags it is redrawn for (DATA | CURSOR, ...);
//   reset()        a new run is on screen: forget what was shown;
//   update(flags)  bring the DOM up to date; `flags` are this frame's (some of its own);
//   relabel()      the page's language changed: the next update re-renders its text;
//   snapshot()     what it shows, as plain data (the test hooks read it).
// Adding a panel is one module exporting such an object, and one `scheduler.add(name,
// panel)` in the view that shows it. Panels update in the order they were added.

import { LIVE_FRAME_SHARE } from "./view.js";

/** Rows arrived, or the run began, ended or failed. */
export const DATA = 1;
/** The canvas must be repainted: the time window, the lanes or their size changed. */
export const PAINT = 2;
/** The player changed: its cursor, play state, speed or question. */
export const CURSOR = 4;
/** Time went on: a live run's end grows with the clock. */
export const CLOCK = 8;
/** The header's status: an upload, an error, the picker, the Compare view. */
export const STATUS = 16;
export const ALL = DATA | PAINT | CURSOR | CLOCK | STATUS;

const CONTRACT = ["reset", "update", "relabel", "snapshot"];

export class Scheduler {
  /**
   * `tick(flags)` runs first in every frame (advance the player, fit the window) and
   * returns flags to add to this frame; it may commit flags for the next one. While
   * `paced()` (a run streams in), frames are spaced so that painting takes at most
   * 1/LIVE_FRAME_SHARE of the time. `active()` false: frames are skipped.
   */
  constructor({ tick = () => 0, paced = () => false, active = () => true } = {}) {
    this.tick = tick;
    this.paced = paced;
    this.active = active;
    this.panels = new Map();
    this.flags = 0;
    this.requested = false;
    this.lastFrameAt = -Infinity;
    this.lastFrameCost = 0;
  }

  /** Register `panel` under `name` (for snapshots); returns it. */
  add(name, panel) {
    for (const method of CONTRACT) {
      if (typeof panel[method] !== "function") throw new Error(`panel ${name} has no ${method}()`);
    }
    this.panels.set(name, panel);
    return panel;
  }

  /** Mark `flags` dirty; at most one animation frame is requested for any number of commits. */
  commit(flags = ALL) {
    this.flags |= flags;
    if (this.requested || !this.active()) return;
    this.requested = true;
    requestAnimationFrame(() => this.frame());
  }

  frame() {
    this.requested = false;
    if (!this.active()) return;
    // While a run streams in, painting competes with ingesting it (and, on a small
    // machine, with the traced program itself). A small run's frames cost ~1 ms and keep
    // 60 fps; a million-event stream repaints ~10 times a second and arrives sooner
    // (measured in benchmarks/browser.py, see the README).
    const started = performance.now();
    if (this.paced() && started - this.lastFrameAt < this.lastFrameCost * LIVE_FRAME_SHARE) {
      this.commit(0);
      return;
    }
    this.lastFrameAt = started;
    this.run();
    this.lastFrameCost = performance.now() - started;
  }

  /** Update now with `flags` added, unpaced (tests and keys read the panels right after
   * a step). */
  flush(flags = 0) {
    this.flags |= flags;
    this.lastFrameAt = performance.now();
    this.run();
  }

  run() {
    let flags = this.flags;
    this.flags = 0;
    flags |= this.tick(flags);
    for (const panel of this.panels.values()) {
      if (panel.flags & flags) panel.update(flags);
    }
  }

  /** A new run: every panel starts over. */
  reset() {
    for (const panel of this.panels.values()) panel.reset();
    this.commit(ALL);
  }

  /** The language changed: every panel's text, at once where the view is shown (the
   * page must not show a frame of both languages; a test reads it right after). */
  relabel() {
    for (const panel of this.panels.values()) panel.relabel();
    if (this.active()) this.flush(ALL);
    else this.commit(ALL);
  }

  snapshot(name) {
    return this.panels.get(name).snapshot();
  }
}

// The timeline's room as a panel (scheduler.js): the timeline is as tall as its lanes
// drawn at full height need (fewer lanes, less height), so the output and statistics
// below get the rest of the page instead of an empty plot. Many lanes still share
// what there is (timeline.js shrinks them, then scrolls).

import { DATA, PAINT } from "./scheduler.js";
import { AXIS_H, MAX_LANE_H } from "./timeline.js";

const FEW = 3; // the room kept while nothing is shown, or a run has fewer lanes

export class LaneRoom {
  /** `lanes()`: the lanes the timeline draws. */
  constructor({ wrap, lanes }) {
    this.flags = DATA | PAINT;
    this.wrap = wrap;
    this.lanes = lanes;
    this.height = 0;
  }

  reset() {}

  relabel() {}

  snapshot() {
    return { height: this.height };
  }

  update() {
    const height = Math.max(FEW, this.lanes().length) * MAX_LANE_H + AXIS_H + 16; // and a margin under the last lane
    if (height === this.height) return;
    this.height = height;
    this.wrap.style.setProperty("--lanes-height", `${height}px`);
  }
}

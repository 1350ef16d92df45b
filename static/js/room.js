// The timeline's room: the timeline is as tall as its lanes drawn at full height need
// (fewer lanes, less height), so the output and statistics below get the rest of the
// page instead of an empty plot. Many lanes still share what there is (timeline.js
// shrinks them, then scrolls).

import { AXIS_H, MAX_LANE_H } from "./timeline.js";

const FEW = 3; // the room kept while nothing is shown, or a run has fewer lanes

export class LaneRoom {
  constructor(wrap) {
    this.wrap = wrap;
    this.height = 0;
  }

  /** Give `lanes` lanes their room. Returns whether the wrap's height changed. */
  fit(lanes) {
    const height = Math.max(FEW, lanes) * MAX_LANE_H + AXIS_H + 16; // and a margin under the last lane
    if (height === this.height) return false;
    this.height = height;
    this.wrap.style.setProperty("--lanes-height", `${height}px`);
    return true;
  }
}

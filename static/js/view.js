// The visible time window [t0, t1] in ns. `follow` means "keep fitting the whole run":
// it holds until the user zooms or pans, and comes back with Fit.

const MIN_SPAN = 100; // ns: below this the clock's own resolution is all one would see

/** While a run streams in, a timeline paints at most 1/LIVE_FRAME_SHARE of the time: the
 * next frame waits until the last one's cost times this has passed (scheduler.js). */
export const LIVE_FRAME_SHARE = 10;

export class View {
  constructor() {
    this.t0 = 0;
    this.t1 = 1e9;
    this.follow = true;
  }

  fit(extent) {
    this.t0 = 0;
    this.t1 = Math.max(extent, MIN_SPAN);
  }

  /** Zoom by `factor` (< 1 zooms in) keeping time `at` under the cursor. */
  zoomAt(at, factor, extent) {
    const span = Math.min(Math.max((this.t1 - this.t0) * factor, MIN_SPAN), Math.max(extent, MIN_SPAN) * 4);
    const frac = (at - this.t0) / (this.t1 - this.t0);
    this.t0 = at - frac * span;
    this.t1 = this.t0 + span;
    this.follow = false;
    this.clamp(extent);
  }

  panBy(dt, extent) {
    this.t0 += dt;
    this.t1 += dt;
    this.follow = false;
    this.clamp(extent);
  }

  centerOn(t, extent) {
    const half = (this.t1 - this.t0) / 2;
    this.t0 = t - half;
    this.t1 = t + half;
    this.follow = false;
    this.clamp(extent);
  }

  /** Keep at least a quarter of the window over the run, so one cannot get lost in empty time. */
  clamp(extent) {
    const span = this.t1 - this.t0;
    const lo = -0.75 * span;
    const hi = Math.max(extent, MIN_SPAN) - 0.25 * span;
    const shift = this.t0 < lo ? lo - this.t0 : this.t0 > hi ? hi - this.t0 : 0;
    this.t0 += shift;
    this.t1 += shift;
  }
}

// The visible time window [t0, t1] in ns. `follow` means "keep fitting the whole run"
// (from `origin()`: where main() is called, unless the loading is shown): it holds until
// the user zooms or pans, and comes back with Fit.

const MIN_SPAN = 100; // ns: below this the clock's own resolution is all one would see
// A switch shown for itself (paced play, a Predict question) gets this many CSS px to
// its nearest neighbour, room for its "why" label.
const READABLE_PX = 160;

/** While a run streams in, a timeline paints at most 1/LIVE_FRAME_SHARE of the time: the
 * next frame waits until the last one's cost times this has passed (scheduler.js). */
export const LIVE_FRAME_SHARE = 10;

export class View {
  constructor() {
    this.t0 = 0;
    this.t1 = 1e9;
    this.follow = true;
    this.origin = () => 0; // where a fitted window starts
  }

  fit(extent) {
    this.t0 = Math.max(0, Math.min(this.origin(), extent - MIN_SPAN));
    this.t1 = this.t0 + Math.max(extent - this.t0, MIN_SPAN);
  }

  /**
   * Show switch `i` of the sorted times `T[0..n)` readably, `at` (0..1) across a plot
   * `plotW` CSS px wide: zoomed so that its nearest neighbour is READABLE_PX away (or the
   * whole run, if that is closer), unless the window already does. Returns whether the
   * window moved.
   */
  focus(T, n, i, at, plotW, extent) {
    const t = T[i];
    let gap = Infinity;
    for (const k of [i - 1, i + 1]) {
      if (k >= 0 && k < n && T[k] !== t) gap = Math.min(gap, Math.abs(T[k] - t));
    }
    const whole = Math.max(extent - Math.min(this.origin(), extent), MIN_SPAN);
    const span = Math.min(Math.max((gap * plotW) / READABLE_PX, MIN_SPAN), whole);
    const now = this.t1 - this.t0;
    const inside = t >= this.t0 + 0.1 * now && t <= this.t1 - 0.1 * now;
    this.follow = false;
    if (inside && now <= span * 1.01 && now >= span / 8) return false;
    this.t0 = t - at * span;
    this.t1 = this.t0 + span;
    this.clamp(extent);
    return true;
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

// Times are integer nanoseconds since the run started (docs/trace-format.md).

const UNITS = [
  { ns: 1e9, suffix: "s" },
  { ns: 1e6, suffix: "ms" },
  { ns: 1e3, suffix: "µs" },
  { ns: 1, suffix: "ns" },
];

function unitFor(ns) {
  const abs = Math.abs(ns);
  return UNITS.find((u) => abs >= u.ns) || UNITS[UNITS.length - 1];
}

/** A duration for people: "2.017 s", "14.1 ms", "850 ns". */
export function formatDuration(ns) {
  if (!Number.isFinite(ns)) return "—";
  const u = unitFor(ns);
  const v = ns / u.ns;
  const digits = u.ns === 1 ? 0 : v >= 100 ? 1 : v >= 10 ? 2 : 3;
  return `${v.toFixed(digits)} ${u.suffix}`;
}

/** A length people chose, in seconds as they would write it: "0.5 s", "30 s". */
export function formatSeconds(ns) {
  return `${Number((ns / 1e9).toPrecision(3))} s`;
}

/** A point in the run with microsecond resolution and a fixed width, for lists. */
export function formatClock(ns) {
  return `${(ns / 1e9).toFixed(6)} s`;
}

/** A point in the run as precise as the trace: nanoseconds shown as seconds. */
export function formatInstant(ns) {
  if (Math.abs(ns) < 1e6) return `${(ns / 1e3).toFixed(3)} µs`;
  return `${(ns / 1e9).toFixed(9).replace(/(\.\d{3})(\d{3})(\d{3})$/, "$1 $2 $3")} s`;
}

/** The 1-2-5 step nearest above `raw`. */
export function niceStep(raw) {
  if (!(raw > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

/**
 * Axis labels for ticks `step` apart in a view that reaches `tmax`: one unit for the
 * whole axis (the largest that `tmax` reaches) and only the decimals the step needs,
 * so 0.5 s steps read "0.5 s, 1.0 s" and 10 µs steps near 14 ms read "14.01 ms".
 */
export function tickFormatter(step, tmax) {
  const u = unitFor(Math.max(Math.abs(tmax), step));
  const decimals = Math.max(0, Math.ceil(-Math.log10(step / u.ns) - 1e-9));
  return (ns) => (ns === 0 ? "0" : `${(ns / u.ns).toFixed(decimals)} ${u.suffix}`);
}

// The flight recorder on the page: the choice of a window (and of a snapshot on a long
// block) for the next run, and, while a flight-recorded run goes, a bar that says so,
// with Snapshot (the window now, as a run of its own in History) and the snapshots
// taken, each opened by a click. Its events come when it ends: its last window
// (docs/design.md, "The flight recorder in the dashboard").

import { takeSnapshot } from "./api.js";
import { formatDuration, formatSeconds } from "./format.js";
import { flightReason, formatCount, t } from "./i18n.js";
import { DATA, STATUS } from "./scheduler.js";

export class FlightPanel {
  /** `onOpen(id)`: open a snapshot; `onTaken()`: one was added to History. */
  constructor({ ui, feed, onOpen, onTaken, onError, setEmptyText = () => {} }) {
    this.setEmptyText = setEmptyText; // what the empty timeline says
    this.flags = DATA | STATUS;
    this.ui = ui;
    this.feed = feed;
    this.onOpen = onOpen;
    this.onTaken = onTaken;
    this.onError = onError;
    this.busy = false;
    this.shown = ""; // the snapshot links drawn (their ids), not drawn again each frame
    ui.window.addEventListener("change", () => {
      ui.block.hidden = !ui.window.value;
    });
    ui.snapshot.addEventListener("click", () => this.take());
  }

  /** What the next run is asked for: {flight_recorder, snapshot_on_block} or {}. */
  options() {
    const { window, block } = this.ui;
    if (!window.value) return {};
    return { flight_recorder: window.value, ...(block.value ? { snapshot_on_block: block.value } : {}) };
  }

  async take() {
    const runId = this.feed.runId;
    if (!runId || this.busy) return;
    this.busy = true;
    this.ui.snapshot.disabled = true;
    try {
      const snap = await takeSnapshot(runId);
      const flight = this.feed.info?.flight;
      if (flight && this.feed.runId === runId && !flight.snapshots.some((s) => s.id === snap.id)) {
        flight.snapshots = [...flight.snapshots, { id: snap.id, reason: snap.flight.reason, events: snap.events }];
      }
      this.onTaken();
    } catch (err) {
      this.onError(err.message);
    } finally {
      this.busy = false;
      this.update();
    }
  }

  reset() {
    this.update();
  }

  relabel() {
    this.shown = "";
    this.update();
  }

  snapshot() {
    return { shown: !this.ui.bar.hidden, text: this.ui.text.textContent, snapshots: this.feed.info?.flight?.snapshots?.length ?? 0 };
  }

  update() {
    const { ui, feed } = this;
    const flight = feed.info?.flight ?? null;
    const live = Boolean(flight) && feed.following && feed.status === "running";
    this.setEmptyText(live ? "timeline.flight" : "timeline.empty");
    ui.bar.hidden = !flight;
    if (!flight) return;
    const f = flight;
    const text = feed.info?.status === "snapshot" && f.from_ns != null
      ? t("flight.window", { from: formatDuration(f.from_ns), to: formatDuration(f.to_ns), run: f.run ?? "" })
      : live
      ? t("flight.live", { window: formatSeconds(flight.window_ns), events: formatCount(flight.events_seen ?? 0) })
        + (flight.block_ns ? t("flight.live.block", { ms: flight.block_ns / 1e6 }) : "")
      : f.from_ns === 0
        ? t("flight.whole", { run: formatDuration(f.run_ns ?? 0), events: formatCount(f.events_seen ?? 0) })
      : f.from_ns != null
        ? t("flight.kept", {
          window: formatDuration(Math.max(0, flight.to_ns - flight.from_ns)),
          run: formatDuration(flight.run_ns ?? 0),
          events: formatCount(flight.events_seen ?? 0),
        })
        : t("flight.over");
    if (ui.text.textContent !== text) {
      ui.text.textContent = text;
      ui.text.title = text;
    }
    ui.snapshot.hidden = !live;
    ui.snapshot.disabled = this.busy || !live;
    const snaps = flight.snapshots ?? [];
    const key = snaps.map((s) => s.id).join(",");
    if (key === this.shown) return;
    this.shown = key;
    const links = snaps.map((s, i) => {
      const a = document.createElement("a");
      a.dataset.testid = "flight-snap";
      a.textContent = t("flight.snap", { n: i + 1 });
      a.title = `${flightReason(s.reason)} · ${t("flight.snap.events", { events: formatCount(s.events ?? 0) })}`;
      a.addEventListener("click", () => this.onOpen(s.id));
      return a;
    });
    if (links.length) {
      const label = document.createElement("span");
      label.className = "field-label";
      label.textContent = t("flight.snaps");
      links.unshift(label);
    }
    ui.snaps.replaceChildren(...links);
  }
}

// The header as a panel (scheduler.js): the status line (an upload's progress, the run's
// state and time, or the Compare pair's), Cancel when there is something to cancel, the
// run's counts, and its title and description (a run of no demo, a script, is described
// as such, not as the demo in the picker). And the error bar under it.

import { formatDuration, formatSeconds } from "./format.js";
import { flightReason, formatCount, t } from "./i18n.js";
import { FINAL_STATUSES } from "./kinds.js";
import { localized } from "./controls.js";
import { AWAITING } from "./feed.js";
import { CLOCK, DATA, STATUS } from "./scheduler.js";

export class Header {
  /** `importing()`: {name, fraction} while a file uploads (fraction null: being checked). */
  constructor({ ui, feed, compare, picker, importing }) {
    this.flags = DATA | CLOCK | STATUS;
    this.ui = ui;
    this.feed = feed;
    this.compare = compare;
    this.picker = picker;
    this.importing = importing;
  }

  reset() {}

  relabel() {}

  /** What the page says of itself: the run's status, or the pair's while comparing. */
  status() {
    const { compare, feed } = this;
    return compare.active ? (compare.live ? "running" : "finished") : feed.status;
  }

  snapshot() {
    return { status: this.status(), text: this.ui.status.textContent };
  }

  update() {
    const { ui, feed, compare, picker } = this;
    const store = feed.store;
    const s = this.status();
    const importing = this.importing();
    let text;
    if (importing) {
      const { name, fraction, local } = importing;
      text = fraction === null
        ? t("status.checking", { name })
        : t(local ? "status.reading" : "status.uploading", { name, percent: Math.floor(fraction * 100) });
    } else if (compare.active) {
      text = compare.headerStatus();
    } else if (s === "running") {
      // A run that has ended, coming whole from the server (a History entry, a snapshot):
      // it is being opened, not run, so the header does not count a clock up from zero.
      text = feed.state === AWAITING
        ? t("status.connecting")
        : feed.following && !feed.growing
          ? t("status.opening", { events: formatCount(store.length) })
          : t("status.running", { elapsed: formatDuration(feed.extent()) });
    } else if (s === "snapshot") {
      // A flight recorder's window: not an end of the run, a look at its last seconds.
      const flight = feed.info?.flight;
      text = t("status.snapshot", {
        window: formatSeconds(flight?.window_ns ?? feed.durationNs ?? store.lastT),
        reason: flightReason(flight?.reason),
      });
    } else if (FINAL_STATUSES.includes(s)) {
      // A flight-recorded run: how long it ran (its window, shorter, is in the flight bar).
      const ran = feed.info?.flight?.run_ns ?? feed.durationNs ?? store.lastT;
      text = t(`status.${s}`, { duration: formatDuration(ran) });
    } else {
      text = t("status.idle");
    }
    if (ui.status.textContent !== text) {
      ui.status.textContent = text;
      ui.status.title = text; // in full, where the header has to cut it
    }
    ui.status.dataset.status = s;
    // Reserve the Cancel button's room: the header must not reflow when a run starts.
    const cancellable = compare.active ? compare.live : feed.cancellable;
    ui.cancel.style.visibility = cancellable ? "visible" : "hidden";
    ui.cancel.disabled = !cancellable;
    const counts = store.length
      ? t("counts", {
          events: formatCount(store.length),
          switches: formatCount(store.switchCount),
          tasks: formatCount(store.lanes.length),
        })
      : "";
    if (ui.counts.textContent !== counts) {
      ui.counts.textContent = counts;
      ui.counts.title = counts; // in full, where the panel's head has to cut it
    }
    const info = feed.info;
    const script = Boolean(info && !info.demo); // a run of no demo is on screen
    const demo = script ? null : picker.described();
    const runTitle = info?.title ?? "";
    const title = picker.runTitle({ demo: demo?.id, title: runTitle });
    if (ui.runTitle.textContent !== title) ui.runTitle.textContent = title;
    const argv = info?.script?.argv;
    const desc = !script ? localized(demo, "description")
      : argv ? t(info.script.rerun ? "run.script.rerun" : "run.script", { argv: argv.join(" ") })
        : t("run.trace");
    if (ui.runDesc.textContent !== desc) ui.runDesc.textContent = desc;
    ui.runDesc.parentElement.hidden = !desc && !runTitle;
  }
}

/** The error bar: one message at a time, until dismissed or cleared. */
export class ErrorBar {
  constructor({ root, text, dismiss }) {
    this.root = root;
    this.text = text;
    this.last = null; // the message shown last (test hooks), null once cleared
    dismiss.addEventListener("click", () => {
      root.hidden = true;
    });
  }

  report(message) {
    this.last = message;
    this.text.textContent = message;
    this.root.hidden = false;
  }

  clear() {
    this.last = null;
    this.text.textContent = "";
    this.root.hidden = true;
  }
}

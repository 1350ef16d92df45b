// The player's controls as a panel (scheduler.js): previous / play / next, the speed
// (switch by switch at a pace, or a multiple of real time), the scrubber, the cursor's
// time, Live (or End) and the Predict toggle, each kept in step with the player and
// wired to it.

import { formatDuration, formatInstant } from "./format.js";
import { t } from "./i18n.js";
import { PACES, SPEEDS } from "./player.js";
import { CLOCK, CURSOR, DATA } from "./scheduler.js";

const ICONS = {
  pause: '<svg viewBox="0 0 16 16" aria-hidden="true"><rect x="3.5" y="3" width="3" height="10" fill="currentColor"/><rect x="9.5" y="3" width="3" height="10" fill="currentColor"/></svg>',
  play: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M4 2.5v11L13 8z" fill="currentColor"/></svg>',
};

export class Transport {
  /** `ui`: the controls by name; `frame.extent`: how far the run reaches in this frame;
   * `flush()`: update the panels now. */
  constructor({ ui, feed, player, frame, flush }) {
    this.flags = DATA | CURSOR | CLOCK;
    this.ui = ui;
    this.feed = feed;
    this.player = player;
    this.frame = frame;
    ui.play.addEventListener("click", () => player.toggle());
    // A step shows at once, as the arrow keys' do.
    ui.prev.addEventListener("click", () => {
      player.stepPrev();
      flush();
    });
    ui.next.addEventListener("click", () => {
      player.stepNext();
      flush();
    });
    ui.live.addEventListener("click", () => player.goLive());
    this.speedOptions();
    // A pace's value is "p2" (2 switches a second), a speed's "0.5" (times real time).
    ui.speed.addEventListener("change", () => {
      const v = ui.speed.value;
      if (v.startsWith("p")) player.setPace(v.slice(1));
      else player.setSpeed(v);
    });
    ui.scrubber.addEventListener("input", () => player.seek((Number(ui.scrubber.value) / 10000) * feed.extent()));
    ui.predictToggle.addEventListener("change", () => player.setPredict(ui.predictToggle.checked));
  }

  /** Predict on or off, as if the toggle had been clicked (test hooks). */
  setPredict(on) {
    this.ui.predictToggle.checked = Boolean(on);
    this.player.setPredict(on);
  }

  speedOptions() {
    const group = (key, options) => {
      const el = document.createElement("optgroup");
      el.label = t(key);
      el.append(...options);
      return el;
    };
    this.ui.speed.replaceChildren(
      group("speed.group.pace", PACES.map((n) => new Option(paceLabel(n), `p${n}`))),
      group("speed.group.real", SPEEDS.map((x) => new Option(`${x}×`, String(x)))),
    );
  }

  reset() {}

  relabel() {
    this.speedOptions();
  }

  update() {
    const { ui, player } = this;
    const ext = this.frame.extent;
    const hasRun = this.feed.store.length > 0;
    for (const b of [ui.prev, ui.play, ui.next, ui.scrubber, ui.speed]) b.disabled = !hasRun;
    const icon = player.playing ? "pause" : "play";
    if (ui.play.dataset.icon !== icon) {
      ui.play.dataset.icon = icon;
      ui.play.innerHTML = ICONS[icon];
    }
    ui.play.title = t(player.playing ? "pause.title" : "play.title");
    ui.play.setAttribute("aria-label", ui.play.title);
    const speed = player.paced ? `p${player.pace}` : String(player.speed);
    if (ui.speed.value !== speed) ui.speed.value = speed;
    const frac = ext > 0 ? Math.round((player.cursor / ext) * 10000) : 0;
    if (document.activeElement !== ui.scrubber && ui.scrubber.value !== String(frac)) ui.scrubber.value = String(frac);
    const text = hasRun ? `${formatInstant(player.cursor)} / ${formatDuration(ext)}` : "";
    if (ui.cursorTime.textContent !== text) ui.cursorTime.textContent = text;
    ui.live.textContent = t(this.feed.growing ? "live" : "end");
    ui.live.classList.toggle("on", player.follow);
    ui.live.disabled = !hasRun;
  }

  snapshot() {
    const { cursor, playing, speed, follow, paced, pace } = this.player;
    return { cursor, playing, speed, following: follow, pace: paced ? pace : null };
  }
}

/** "1 switch every 2 s", "1 switch/s", "4 switches/s". */
function paceLabel(n) {
  if (n < 1) return t("speed.every", { s: 1 / n });
  return t(n === 1 ? "speed.pace" : "speed.paces", { n });
}

// The Player: one cursor time (ns) that every panel shows the run at. It follows the
// live edge while a run streams, plays back either switch by switch at a steady pace
// (real-time gaps compressed) or at a multiple of real time, steps from switch to switch
// and, in learning mode, stops before each switch to ask which coroutine runs next.

import { lowerBound, upperBound } from "./store.js";

/** Multiples of real time. */
export const SPEEDS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100];
/** Switches per second, when playing switch by switch. */
export const PACES = [0.5, 1, 2, 4];
// A run shorter than this (from main() to its end) plays switch by switch unless one
// chose otherwise: at 1x it would be over within three frames, at 0.1x within 0.5 s.
const PACED_BELOW_NS = 50e6;

export class Player {
  /**
   * `switches()` is the switch list on screen (raw or folded through the Hub), `extent()`
   * how far the run reaches, `onChange()` asks for a repaint.
   */
  constructor({ switches, extent, start, onChange }) {
    this.switches = switches;
    this.extent = extent;
    this.start = start; // where the view starts (main(), unless the loading is shown)
    this.onChange = onChange;
    this.cursor = 0;
    this.playing = false;
    this.speed = 1;
    this.pace = 2; // switches per second, when paced
    this.chosenPaced = null; // paced or real time as chosen; null: by the run's length
    this.stepAt = 0; // when the paced cursor last moved
    this.trail = null; // an array: every cursor time play moves to (test hooks)
    this.follow = true; // pinned to the end of the run (the live edge while streaming)
    this.lastTick = 0;
    this.predictOn = false;
    this.question = null; // {index, t, from, to, answer, correct} while asking / revealed
  }

  reset(follow = true) {
    this.cursor = 0;
    this.playing = false;
    this.follow = follow;
    this.question = null;
  }

  /** Switch by switch: as chosen, else for a run shorter than PACED_BELOW_NS. */
  get paced() {
    return this.chosenPaced ?? this.extent() - this.start() < PACED_BELOW_NS;
  }

  /** Called once per animation frame: advance while playing, stick to the edge while following. */
  tick(now) {
    const end = this.extent();
    if (this.follow) {
      this.cursor = end;
    } else if (this.playing && this.paced) {
      if (now - this.stepAt >= 1000 / this.pace) this.paceStep(now, end);
    } else if (this.playing) {
      const dt = Math.min(now - this.lastTick, 250); // a hidden tab must not jump ahead
      let next = this.cursor + dt * 1e6 * this.speed;
      if (this.predictOn) next = this.stopBeforeSwitch(next);
      if (next >= end) {
        next = end;
        this.playing = false;
      }
      this.cursor = next;
      this.trail?.push(next);
    }
    this.lastTick = now;
    return this.playing || this.follow;
  }

  /** Paced play: on to the next switch (asking first in learning mode), or the end. */
  paceStep(now, end) {
    const set = this.switches();
    const i = upperBound(set.t, set.count, this.cursor);
    this.stepAt = now;
    if (i < set.count && this.predictOn && !(this.question?.index === i && this.question.answer !== null)) {
      this.ask(i);
      return;
    }
    this.cursor = i < set.count ? set.t[i] : end;
    if (i >= set.count) this.playing = false;
    this.trail?.push(this.cursor);
  }

  /** In learning mode: the cursor may not cross an unanswered switch. */
  stopBeforeSwitch(next) {
    const set = this.switches();
    const i = upperBound(set.t, set.count, this.cursor);
    if (i >= set.count || set.t[i] > next) return next;
    if (this.question?.index === i && this.question.answer !== null) return next;
    this.ask(i);
    return this.cursor;
  }

  ask(i) {
    const set = this.switches();
    this.playing = false;
    this.cursor = Math.max(0, set.t[i] - 1);
    this.question = { index: i, t: set.t[i], from: set.from[i], to: set.to[i], answer: null, correct: null };
  }

  answer(taskId) {
    const q = this.question;
    if (!q || q.answer !== null) return false;
    q.answer = taskId;
    q.correct = taskId === q.to;
    this.cursor = q.t; // reveal: the switch happens
    this.onChange();
    return q.correct;
  }

  setPredict(on) {
    this.predictOn = Boolean(on);
    if (!on) this.question = null;
    this.onChange();
  }

  play() {
    if (this.follow || this.cursor >= this.extent()) {
      // At the end: play the run again from its start.
      this.cursor = this.start();
    }
    this.follow = false;
    this.playing = true;
    this.lastTick = performance.now();
    this.stepAt = -Infinity; // paced: the first step is at once
    this.onChange();
  }

  pause() {
    this.follow = false;
    this.playing = false;
    this.onChange();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
  }

  seek(ns) {
    this.follow = false;
    this.playing = false;
    this.cursor = Math.min(Math.max(0, Number(ns) || 0), Math.max(this.extent(), 0));
    if (this.question && this.question.answer === null) this.question = null;
    this.onChange();
  }

  goLive() {
    this.follow = true;
    this.playing = false;
    this.question = null;
    this.onChange();
  }

  /** To the first switch after the cursor (asking first in learning mode). */
  stepNext() {
    const set = this.switches();
    const q = this.question;
    if (this.predictOn && q && q.answer === null) return false; // answer first
    const i = upperBound(set.t, set.count, this.cursor);
    if (i >= set.count) return false;
    if (this.predictOn && !(q?.index === i && q.answer !== null)) {
      this.follow = false;
      this.ask(i);
      this.onChange();
      return true;
    }
    this.seek(set.t[i]);
    return true;
  }

  /** To the last switch before the cursor. */
  stepPrev() {
    const set = this.switches();
    const i = lowerBound(set.t, set.count, this.cursor) - 1;
    if (i < 0) {
      if (this.cursor > 0) this.seek(0);
      return false;
    }
    this.question = null;
    this.seek(set.t[i]);
    return true;
  }

  /** One step faster in the current way of playing (pace or multiple of real time). */
  faster() {
    this.nudge(1);
  }

  slower() {
    this.nudge(-1);
  }

  nudge(d) {
    const list = this.paced ? PACES : SPEEDS;
    const key = this.paced ? "pace" : "speed";
    this.chosenPaced = this.paced;
    this[key] = list[Math.min(list.length - 1, Math.max(0, list.indexOf(this[key]) + d))];
    this.onChange();
  }

  /** Play at `x` times real time. */
  setSpeed(x) {
    if (SPEEDS.includes(Number(x))) {
      this.speed = Number(x);
      this.chosenPaced = false;
    }
    this.onChange();
  }

  /** Play switch by switch, `n` switches a second. */
  setPace(n) {
    if (PACES.includes(Number(n))) {
      this.pace = Number(n);
      this.chosenPaced = true;
    }
    this.onChange();
  }
}

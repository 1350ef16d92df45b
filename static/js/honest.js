// Honest numbers. A demo that times pure computation (greenlet_switch_cost, yield) is
// slowed by the tracer, and a learner believes the figure on the screen: so its main()
// runs once more untraced (`run.untraced`), and this panel sets the figures it printed
// traced, untraced and in the tutorial side by side, with why they differ. A demo that
// times sleeping (sync vs. async, patch order: `untraced_on_request`) is hardly slowed:
// seconds of sleep against microseconds a switch. Its run shows the traced figure and
// why, and a button that runs it again timed untraced too (it doubles the wait); that
// run compares main()'s own time, traced and untraced. A panel (scheduler.js), shown
// under the output for such runs only.

import { formatDuration } from "./format.js";
import { formatCount, t } from "./i18n.js";
import { DATA, STATUS } from "./scheduler.js";

// A printed line that states a figure: a number with a unit (0.000047 s, 512 ns, 21.9x).
const FIGURE = /\d[\d.,]*\s*(?:s|ns|x)\b/;
const NS_PER_SWITCH = /([\d.]+) ns per switch/;

export class HonestNumbers {
  /** `root`: the panel; `tutorial(demoId)`: the tutorial's figure for it, or "";
   * `demo(id)`: its description (GET /api/demos); `onTimeUntraced()`: run the run on
   * screen again, timed untraced too (null: no server, no button). */
  constructor({ root, feed, tutorial, demo = () => null, onTimeUntraced = null }) {
    this.flags = DATA | STATUS; // STATUS: the demo list (the tutorial's figures) came
    Object.assign(this, { root, feed, tutorial, demo, onTimeUntraced });
    this.key = "";
  }

  reset() {
    this.key = "";
    this.root.hidden = true;
  }

  update() {
    const info = this.feed.info;
    const untraced = info?.untraced;
    const sleeping = Boolean(info?.demo && this.demo(info.demo)?.untraced_on_request);
    // A sleeping demo's run that ended as it should: offered its untraced timing.
    const offer = sleeping && !untraced && this.feed.finished && info.status === "finished";
    const tutorial = untraced || offer ? this.tutorial(info.demo) : "";
    const key = untraced || offer ? `${this.feed.runId}:${this.feed.store.outCount}:${tutorial}:${offer}` : "";
    if (key === this.key) return;
    this.key = key;
    this.root.hidden = !untraced && !offer;
    if (untraced || offer) this.render(untraced ?? null, tutorial, sleeping);
  }

  relabel() {
    this.key = "";
  }

  snapshot() {
    return { shown: !this.root.hidden, text: this.root.hidden ? "" : this.root.innerText };
  }

  /** `untraced`: run.untraced, or null (a sleeping demo's run, not yet timed untraced). */
  render(untraced, tutorial, sleeping = false) {
    const traced = figures(this.feed.store.stdoutLines().map((l) => l.text));
    const plain = untraced ? figures(untraced.printed ?? []) : [];
    const head = document.createElement("div");
    head.className = "honest-head";
    const title = document.createElement("span");
    title.className = "panel-title";
    title.textContent = t(sleeping ? "honest.title.sleep" : "honest.title");
    head.append(title);

    const table = document.createElement("table");
    table.className = "honest-table";
    const top = table.createTHead().insertRow();
    for (const key of ["honest.line", "honest.traced", "honest.untraced", ...(tutorial ? ["honest.tutorial"] : [])]) {
      const th = document.createElement("th");
      th.textContent = t(key);
      th.title = t(`${key}.title`);
      if (key === "honest.tutorial") th.className = "honest-tut-col";
      top.append(th);
    }
    const body = table.createTBody();
    const rows = Math.max(traced.length, plain.length, 1);
    for (let i = 0; i < rows; i++) {
      const a = split(traced[i] ?? "");
      const b = split(plain[i] ?? "");
      const row = body.insertRow();
      // The program's own words (code, not the page's): the same code prints the same
      // words, so they head the row and the cells hold what differs.
      const same = a.label === b.label;
      codeCell(row, "honest-label", a.label || b.label);
      codeCell(row, "honest-figure", same || !plain[i] ? a.rest : traced[i]);
      if (!untraced) {
        if (i === 0) this.askCell(row, rows);
      } else {
        codeCell(row, "honest-figure", same || !traced[i] ? b.rest : plain[i]);
      }
      if (i === 0 && tutorial) {
        const cell = row.insertCell();
        cell.rowSpan = rows;
        cell.className = "honest-tutorial honest-tut-col";
        cell.textContent = tutorial;
      }
    }

    const why = document.createElement("p");
    why.className = "honest-why";
    why.textContent = sleeping ? this.sleepWhy(untraced) : whyText(traced, plain, tutorial);
    // A narrow strip has no room for the tutorial's column: its figure is a line instead.
    const line = document.createElement("p");
    line.className = "honest-tutorial-line";
    line.textContent = tutorial; // it says whose it is ("the tutorial, n = ...")
    this.root.replaceChildren(head, table, ...(tutorial ? [line] : []), why);
  }

  /** The untraced cell of a sleeping demo's run: a button that times it untraced. */
  askCell(row, rows) {
    const cell = row.insertCell();
    cell.rowSpan = rows;
    cell.className = "honest-ask";
    if (!this.onTimeUntraced) {
      cell.textContent = "—";
      return;
    }
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button small";
    button.dataset.testid = "honest-untraced";
    button.textContent = t("honest.ask");
    button.title = t("honest.ask.title");
    button.addEventListener("click", () => this.onTimeUntraced());
    cell.append(button);
  }

  /** Why a sleeping demo's figures hardly differ: main()'s own time traced and untraced
   * when both are known, the switches the tracer recorded, and what the rest is. */
  sleepWhy(untraced) {
    const { store } = this.feed;
    const switches = formatCount(store.switchCount);
    const start = store.mainAt ?? 0;
    const end = this.feed.durationNs;
    if (!untraced || !Number.isFinite(untraced.seconds) || !Number.isFinite(end)) {
      return t("honest.why.sleep.ask", { switches });
    }
    const a = end - start;
    const b = untraced.seconds * 1e9;
    return t("honest.why.sleep", {
      traced: formatDuration(a), untraced: formatDuration(b), diff: formatDuration(Math.abs(a - b)), switches,
    });
  }
}

function codeCell(row, className, text) {
  const cell = row.insertCell();
  cell.className = className;
  const code = document.createElement("code");
  code.textContent = text;
  cell.append(code);
}

/** The lines that state figures (all of them if none does: an error says what went wrong). */
function figures(lines) {
  const found = lines.filter((line) => FIGURE.test(line));
  return (found.length ? found : lines).slice(0, 6);
}

/** A line as its words before the first figure and the rest. */
function split(line) {
  const m = /^(\D*?)\s*(\d.*)$/.exec(line);
  return m ? { label: m[1], rest: m[2] } : { label: "", rest: line };
}

function nsPerSwitch(lines) {
  for (const line of lines) {
    const m = NS_PER_SWITCH.exec(line);
    if (m) return Number(m[1]);
  }
  return null;
}

/** One line on why the three differ: the tracer's cost per switch, measured here when
 * both runs printed it, and the tutorial's own n and machine. */
function whyText(traced, plain, tutorial) {
  const a = nsPerSwitch(traced);
  const b = nsPerSwitch(plain);
  const tracer = a !== null && b !== null && a > b
    ? t("honest.why.ns", { ns: formatCount(Math.round(a - b)) })
    : t("honest.why.general");
  const n = /n = ([\d,]+)/.exec(tutorial ?? "");
  const reasons = n ? [tracer, t("honest.why.tutorial", { n: n[1] })] : [tracer];
  return t("honest.why", { reasons: reasons.join(t("honest.why.join")) });
}

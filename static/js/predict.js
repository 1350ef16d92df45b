// Predict (learning mode) as a panel (scheduler.js): before each switch the player stops
// and asks which coroutine runs next, offering every coroutine alive then; the answer
// reveals the switch and its cause. The timeline hides what comes after the question
// and zooms to it (timeline-panel.js).

import { language, t } from "./i18n.js";
import { CURSOR, DATA } from "./scheduler.js";
import { FOLDED, RESUMED } from "./store.js";
import { switchWhy, taskColor } from "./timeline.js";

function escapeHtml(s) {
  return String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class PredictPanel {
  /** `lanes()`: the lanes on screen; `flush()`: update the panels now. */
  constructor({ root, store, player, lanes, flush }) {
    this.flags = DATA | CURSOR;
    this.root = root;
    this.store = store;
    this.player = player;
    this.lanes = lanes;
    this.flush = flush;
  }

  reset() {}

  relabel() {
    this.root.dataset.key = "";
  }

  snapshot() {
    const { player } = this;
    const q = player.question;
    return { on: player.predictOn, asking: Boolean(q && q.answer === null), question: q ? { ...q } : null };
  }

  update() {
    const { root: el, store, player } = this;
    const q = player.question;
    const key = q ? `${q.index}:${q.answer}:${language()}` : "";
    el.hidden = !q || !player.predictOn;
    if (el.dataset.key === key) return;
    el.dataset.key = key;
    if (!q) return el.replaceChildren();
    const set = player.switches();
    const origin = store.tasks[q.from];
    const chip = (task) => `<b style="color:${taskColor(task)}">${escapeHtml(task.label)}</b>`;
    if (q.answer === null) {
      const choices = choicesAt(q, this.lanes(), set === store.folded && store.hubAt <= q.t);
      el.innerHTML = `<span class="predict-q">${t("predict.ask", { task: chip(origin) })}</span>`;
      for (const task of choices) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "button small predict-choice";
        b.dataset.task = String(task.id);
        b.textContent = task.label;
        b.style.borderColor = taskColor(task);
        b.style.color = taskColor(task);
        b.addEventListener("click", () => {
          player.answer(task.id);
          this.flush();
        });
        el.append(b);
      }
    } else {
      const target = store.tasks[q.to];
      const line = set.line[q.index];
      const why = `<b>${escapeHtml(switchWhy(store, set, q.index))}</b>`;
      el.innerHTML =
        `<span class="predict-verdict ${q.correct ? "right" : "wrong"}">${t(q.correct ? "predict.right" : "predict.wrong")}</span> ` +
        revealText(set.via[q.index], chip(origin), chip(target), why) +
        (line >= 0 ? ` <span class="tip-muted">${escapeHtml(t("tip.paused", { line }))}</span>` : "");
      const next = document.createElement("button");
      next.type = "button";
      next.className = "button small primary";
      next.textContent = t("predict.next");
      next.addEventListener("click", () => {
        player.stepNext();
        this.flush();
      });
      el.append(" ", next);
    }
  }
}

/**
 * The real choices at question `q`: every coroutine on screen not finished by then. That
 * includes those the tracer first sees later (a greenlet exists before it first runs,
 * but is only seen then) and, when `selfToo` (the Hub is folded away, so a coroutine may
 * resume after its own wait), the one giving up control.
 */
function choicesAt(q, lanes, selfToo) {
  return lanes.filter((task) => !(task.finishedAt <= q.t) && (selfToo || task.id !== q.from));
}

/** What happened, once answered: `from` and `to` as chips, `why` as markup. */
function revealText(via, from, to, why) {
  if (via === RESUMED) return t("predict.reveal.self", { task: to, cause: why });
  return t(via === FOLDED ? "predict.reveal.folded" : "predict.reveal", { from, to, cause: why });
}

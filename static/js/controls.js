// The demo picker and its parameter form: the list of demos in the page's language, one
// input per parameter, the values read back as typed, and the picker put on the demo of
// a run opened from elsewhere (History, a #run= link) so the header matches the timeline.
// A run of no demo (a script, or a trace of one) is named in the picker, with no form.

import { language, t } from "./i18n.js";

export class Picker {
  /** `hasRun()`: a run is on screen; `onChange()`: the header may say something else. */
  constructor({ select, params, runBoth, run, hasRun, onChange, canRunOpened = () => false }) {
    this.canRunOpened = canRunOpened; // Run may start the opened run's script again (edit.js)
    this.select = select;
    this.paramsEl = params;
    this.runBoth = runBoth;
    this.runButton = run;
    this.hasRun = hasRun;
    this.onChange = onChange;
    this.demos = [];
    this.shownDemo = null; // the demo of the run on screen, null: the picker's
    this.shown = null; // {demo, params} of a run opened (not started here)
    this.fromPicker = false; // the run on screen was started from the picker
    this.opened = null; // the title of a run of no demo, opened: the picker names it
    select.addEventListener("change", () => {
      this.opened = null; // a demo was picked instead
      this.fill();
      this.render();
    });
  }

  /** The demos came from the server. */
  load(list) {
    this.demos = list;
    this.fill();
    this.render();
    if (this.shown) this.show(this.shown.demo, this.shown.params, this.shown.title); // opened before the list came
  }

  selected() {
    return this.demos.find((d) => d.id === this.select.value) ?? null;
  }

  demo(id) {
    return this.demos.find((d) => d.id === id);
  }

  /** The demo the header describes: the run's on screen, else the picker's. */
  described() {
    return this.demo(this.shownDemo ?? this.select.value);
  }

  fill() {
    const value = this.select.value;
    const options = this.demos.map((d) => new Option(localized(d, "title"), d.id));
    if (this.opened !== null) options.unshift(new Option(t("picker.opened", { title: this.opened }), ""));
    this.select.replaceChildren(...options);
    if (this.opened !== null) this.select.value = "";
    else if (value && this.demos.some((d) => d.id === value)) this.select.value = value;
  }

  render() {
    const demo = this.selected();
    const inputs = (demo?.params ?? []).map(paramInput);
    // The row keeps its place when there is nothing to set: the header does not jump.
    const none = document.createElement("span");
    none.className = "params-none";
    none.textContent = t(demo ? "params.none" : "params.opened");
    this.paramsEl.replaceChildren(...(inputs.length ? inputs : [none]));
    this.runBoth.hidden = !demo?.compare?.length;
    this.updateRun();
    if (!this.hasRun()) this.shownDemo = null;
    this.onChange();
  }

  /** Run starts the picked demo, or, on an opened script's run, that script again. */
  updateRun() {
    this.runButton.disabled = !this.selected() && !(this.opened !== null && this.canRunOpened());
  }

  relabel() {
    if (!this.demos.length) return;
    this.fill();
    const none = this.paramsEl.querySelector(".params-none");
    if (none) none.textContent = t(this.selected() ? "params.none" : "params.opened");
    for (const label of this.paramsEl.querySelectorAll("label.param")) {
      const p = this.selected()?.params?.find((q) => q.name === label.querySelector("[name]")?.name);
      if (p) label.title = localized(p, "help");
    }
  }

  /** A run's frame came: unless it was started from here, the picker follows it. */
  follow(run) {
    this.shown = this.fromPicker ? null : { demo: run.demo, params: run.params, title: run.title };
    if (this.shown) this.show(this.shown.demo, this.shown.params, this.shown.title);
    this.shownDemo = run.demo ?? null; // the form, re-rendered, forgot it: the run is on screen
  }

  /** Put the picker on `demoId` with `params`; a run of no demo is named by its `title`. */
  show(demoId, params, title) {
    const demo = this.demo(demoId);
    if (!demo) {
      if (!this.demos.length) return; // the list has not come: load() calls again
      this.opened = title ?? "";
      this.fill();
      this.render();
      return;
    }
    if (this.opened !== null) {
      this.opened = null;
      this.fill();
    }
    if (this.select.value !== demo.id) {
      this.select.value = demo.id;
      this.render();
    }
    for (const p of demo.params ?? []) {
      const input = this.input(p.name);
      const value = params?.[p.name];
      if (!input || value === undefined) continue;
      if (p.type === "choice") {
        const i = (p.choices ?? []).indexOf(value);
        if (i >= 0) input.value = String(i);
      } else if (p.type === "bool") {
        input.checked = Boolean(value);
      } else {
        input.value = String(value);
      }
    }
  }

  input(name) {
    return this.paramsEl.querySelector(`[name="${CSS.escape(name)}"]`);
  }

  /** The params as typed values, or throws an Error naming the first bad one. */
  params(demo) {
    const params = {};
    for (const p of demo.params ?? []) {
      const input = this.input(p.name);
      let value;
      if (p.type === "bool") value = input.checked;
      else if (p.type === "choice") value = p.choices[Number(input.value)];
      else {
        value = Number(input.value);
        const fail = (key) => {
          input.focus();
          throw new Error(t("error.param", { name: p.name, detail: t(key, { min: p.min, max: p.max }) }));
        };
        if (input.value.trim() === "" || !Number.isFinite(value)) fail("error.param.number");
        if (p.type === "int" && !Number.isInteger(value)) fail("error.param.int");
        if ((p.min != null && value < p.min) || (p.max != null && value > p.max)) fail("error.param.range");
      }
      params[p.name] = value;
    }
    return params;
  }

  /** A run's title as shown: the demo's, in the page's language, unless the user renamed it. */
  runTitle(info) {
    const demo = this.demo(info?.demo);
    return demo && info.title === demo.title ? localized(demo, "title") : (info?.title ?? "");
  }
}

/** A demo's title, description or parameter help in the page's language. */
export function localized(item, field) {
  return (language() === "zh" && item?.[`${field}_zh`]) || item?.[field] || "";
}

function paramInput(p) {
  const label = document.createElement("label");
  label.className = "param";
  label.title = localized(p, "help");
  const name = document.createElement("span");
  name.textContent = p.name;
  let input;
  if (p.type === "choice") {
    input = document.createElement("select");
    for (const [i, choice] of (p.choices ?? []).entries()) {
      const option = new Option(String(choice), String(i), false, choice === p.default);
      input.append(option);
    }
  } else {
    input = document.createElement("input");
    if (p.type === "bool") {
      input.type = "checkbox";
      input.checked = Boolean(p.default);
    } else {
      input.type = "number";
      input.step = p.type === "int" ? "1" : "any";
      input.inputMode = p.type === "int" ? "numeric" : "decimal";
      if (p.min != null) input.min = String(p.min);
      if (p.max != null) input.max = String(p.max);
      input.value = String(p.default);
      // Room for the largest value it takes (1000000), and for a decimal typed in.
      const digits = Math.max(4, String(p.max ?? "").length, String(p.default).length);
      input.style.width = `calc(${digits}ch + 34px)`;
    }
  }
  input.name = p.name;
  label.append(name, input);
  return label;
}

// Every string the UI shows, per language. Add a language by adding a table with the same keys.

const STRINGS = {
  en: {
    "app.tagline": "see coroutines switch",
    "demo.label": "Demo",
    "demo.loading": "loading demos…",
    "params.label": "Parameters",
    "run": "Run",
    "cancel": "Cancel",
    "export": "Export JSON",
    "export.title": "Download this run as a coroscope trace (JSON)",
    "fit": "Fit",
    "fit.title": "Show the whole run (or double-click the timeline)",
    "dismiss": "Dismiss",

    "status.idle": "idle",
    "status.connecting": "connecting…",
    "status.running": "running · {elapsed}",
    "status.finished": "finished in {duration}",
    "status.error": "error after {duration}",
    "status.cancelled": "cancelled after {duration}",
    "status.limit": "stopped by a limit after {duration}",
    "status.crashed": "crashed after {duration}",

    "counts": "{events} events · {switches} switches · {tasks} tasks",
    "hint": "wheel: zoom · drag: pan",
    "legend.running": "running",
    "legend.parked": "parked",
    "legend.switch": "switch",
    "legend.throw": "throw",
    "legend.finish": "finish",
    "legend.print": "print",
    "timeline.empty": "Pick a demo and press Run. Each coroutine gets a lane; each arrow is a switch.",
    "timeline.aria": "Timeline of the run: one lane per task, arrows for switches",

    "console.title": "Output",
    "console.empty": "Nothing printed yet.",
    "console.count": "{n} lines",
    "console.pick": "Click a line to centre the timeline on it",

    "kind.switch": "switch",
    "kind.throw": "throw",
    "tip.line": "paused at line {line}",
    "tip.noLine": "paused outside the demo's code",
    "tip.merged": "+{n} more switches here: zoom in to separate them",
    "tip.task.spawned": "first seen at {t}",
    "tip.task.finished": "finished at {t}",
    "tip.task.parent": "started by {parent}",
    "tip.task.args": "args: {args}",

    "error.seq": "Events were lost: a batch starts at #{seq} but {have} events had arrived. The timeline is incomplete.",
    "error.connection": "The connection to the coroscope server closed ({detail}). Start the server again and press Run.",
    "error.demos": "Could not load the demo list ({detail}). Is the coroscope server running?",
    "error.param": "Parameter {name}: {detail}",
    "error.param.range": "must be between {min} and {max}",
    "error.param.number": "must be a number",
    "error.param.int": "must be a whole number",
    "error.trace": "This is not a coroscope trace: {detail}",
    "error.server": "The server said: {detail}",
  },
};

let lang = "en";
let numbers = new Intl.NumberFormat(lang);

export function language() {
  return lang;
}

export function setLanguage(code) {
  if (!(code in STRINGS)) throw new Error(`no strings for language ${code}`);
  lang = code;
  numbers = new Intl.NumberFormat(code);
  document.documentElement.lang = code;
}

/** The string for `key`, with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  const s = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m)) : s;
}

export function formatCount(n) {
  return numbers.format(n);
}

/** Fill static text: `data-i18n` sets textContent, `data-i18n-title` and `data-i18n-aria` attributes. */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nAria));
  }
}

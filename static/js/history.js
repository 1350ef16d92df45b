// The run history: live runs and saved ones, newest first. Reopen, rename, delete, or
// tick two to compare them.

import { formatDuration, formatSeconds } from "./format.js";
import { flightReason, formatCount, serverText, t as tr } from "./i18n.js";

export class HistoryPanel {
  /** `titleOf(run)`: a run's title in the page's language (unless the user renamed it). */
  constructor({ root, fetchRuns, onOpen, onRename, onDelete, onCompare, onError, titleOf }) {
    this.root = root;
    this.list = root.querySelector("[data-testid=history-list]");
    this.compareButton = root.querySelector("[data-testid=history-compare]");
    this.fetchRuns = fetchRuns;
    this.onOpen = onOpen;
    this.onRename = onRename;
    this.onDelete = onDelete;
    this.onCompare = onCompare;
    this.onError = onError;
    this.titleOf = titleOf;
    this.runs = [];
    this.picked = [];
    root.querySelector("#history-close").addEventListener("click", () => this.close());
    this.compareButton.addEventListener("click", () => {
      if (this.picked.length === 2) this.onCompare([...this.picked]);
    });
  }

  get open() {
    return !this.root.hidden;
  }

  toggle() {
    if (this.open) this.close();
    else this.show();
  }

  async show() {
    this.root.hidden = false;
    await this.refresh();
  }

  close() {
    this.root.hidden = true;
  }

  refreshIfOpen() {
    if (this.open) this.refresh();
  }

  async refresh() {
    try {
      this.runs = await this.fetchRuns();
    } catch (err) {
      this.onError(tr("error.history", { detail: serverText(err.message) }));
      this.runs = [];
    }
    this.picked = this.picked.filter((id) => this.runs.some((r) => r.id === id));
    this.render();
  }

  render() {
    this.compareButton.disabled = this.picked.length !== 2;
    if (!this.runs.length) {
      const li = document.createElement("li");
      li.className = "panel-empty";
      li.textContent = tr("history.empty");
      this.list.replaceChildren(li);
      return;
    }
    this.list.replaceChildren(...this.runs.map((r) => this.item(r)));
  }

  item(r) {
    const li = document.createElement("li");
    li.className = "history-item";
    li.dataset.run = r.id;
    const top = document.createElement("div");
    top.className = "history-top";
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.title = tr("history.pick");
    pick.checked = this.picked.includes(r.id);
    // Two at most: the others wait until one is unticked (never untick one out of sight).
    pick.disabled = !pick.checked && this.picked.length >= 2;
    if (pick.disabled) pick.title = tr("history.pick.full");
    pick.addEventListener("change", () => {
      this.picked = pick.checked ? [...this.picked, r.id] : this.picked.filter((id) => id !== r.id);
      this.render();
    });
    const title = document.createElement("button");
    title.type = "button";
    title.className = "history-title";
    title.textContent = this.titleOf(r) || r.demo || r.id;
    title.title = tr("history.open");
    title.addEventListener("click", () => {
      this.close();
      this.onOpen(r.id);
    });
    top.append(pick, title);
    const badge = (text, cls) => {
      const b = document.createElement("span");
      b.className = `badge ${cls}`;
      b.textContent = text;
      return b;
    };
    const status = badge(tr(`history.status.${r.status}`), `status-${r.status}`);
    // A flight recorder's snapshot: of which window, and why it was written.
    if (r.flight && r.status === "snapshot") {
      status.title = tr("status.snapshot", { window: formatSeconds(r.flight.window_ns), reason: flightReason(r.flight.reason) });
    }
    top.append(status);
    // A run that kept only its last window (a flight-recorded run of the dashboard).
    if (r.flight && r.status !== "snapshot") {
      const kept = badge(tr("history.flight"), "flight");
      const f = r.flight;
      kept.title = f.from_ns != null && f.to_ns != null
        ? tr("flight.kept", {
          window: formatDuration(Math.max(0, f.to_ns - f.from_ns)),
          run: formatDuration(f.run_ns ?? 0),
          events: formatCount(f.events_seen ?? 0),
        })
        : tr("flight.over");
      top.append(kept);
    }
    if (r.incomplete) top.append(badge(tr("history.incomplete"), "incomplete"));

    const meta = document.createElement("div");
    meta.className = "history-meta";
    const started = r.started_at ? new Date(r.started_at) : null;
    const params = r.params && Object.keys(r.params).length
      ? Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(", ") : "";
    meta.textContent = [
      r.demo ?? tr("history.script"),
      started ? started.toLocaleString(document.documentElement.lang) : "",
      r.duration_ns != null ? formatDuration(r.duration_ns) : "",
      tr("history.events", { n: formatCount(r.events ?? 0) }),
      params,
    ].filter(Boolean).join(" · ");
    if (r.error) meta.title = serverText(r.error);

    const actions = document.createElement("div");
    actions.className = "history-actions";
    const button = (key, fn) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button small";
      b.textContent = tr(key);
      b.dataset.action = key;
      b.addEventListener("click", fn);
      actions.append(b);
    };
    button("history.reopen", () => {
      this.close();
      this.onOpen(r.id);
    });
    button("history.rename", () => this.rename(li, r));
    button("history.delete", async () => {
      if (!window.confirm(tr("history.confirmDelete", { title: this.titleOf(r) || r.id }))) return;
      try {
        await this.onDelete(r.id);
      } catch (err) {
        this.onError(tr("error.history", { detail: serverText(err.message) }));
      }
      this.refresh();
    });
    li.append(top, meta, actions);
    return li;
  }

  rename(li, r) {
    const input = document.createElement("input");
    input.className = "history-rename";
    input.value = r.title ?? "";
    input.setAttribute("aria-label", tr("history.rename"));
    const title = li.querySelector(".history-title");
    title.replaceWith(input);
    input.focus();
    input.select();
    let done = false;
    const commit = async (save) => {
      if (done) return;
      done = true;
      if (save && input.value.trim() && input.value !== r.title) {
        try {
          await this.onRename(r.id, input.value.trim());
        } catch (err) {
          this.onError(tr("error.history", { detail: serverText(err.message) }));
        }
      }
      this.refresh();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") commit(true);
      if (e.key === "Escape") commit(false);
    });
    input.addEventListener("blur", () => commit(true));
  }
}

// Traces in and out: Open... and drag and drop of a .json or .json.gz (uploaded to the
// server, which checks and keeps it as a run; read here on a page with no server), and
// the download links (JSON, JSON.gz, Perfetto, HTML) of the run on screen, a loaded trace
// being handed back as it was.

import { exportGzUrl, exportUrl, htmlUrl, importTrace, perfettoUrl } from "./api.js";
import { serverText, t } from "./i18n.js";

export class Files {
  /**
   * `ui`: open, openFile, export, exportGz, perfetto, exportHtml, dropzone. `subscribe(id)` shows
   * an uploaded run, `loadTrace(trace)` a trace read here (`standalone`: no server);
   * `onProgress()` follows `importing`; `onImported()` follows a new run on the server.
   */
  constructor({ ui, feed, standalone, report, clearError, subscribe, loadTrace, onProgress, onImported }) {
    Object.assign(this, { ui, feed, standalone, report, clearError, subscribe, loadTrace, onProgress, onImported });
    this.importing = null; // {name, fraction} while Open... uploads (fraction null: being checked)
    this.token = 0; // a newer Open... wins over one still uploading
    ui.export.addEventListener("click", (e) => this.download(e, ui.export));
    ui.exportGz.addEventListener("click", (e) => this.download(e, ui.exportGz, true));
    for (const link of [ui.perfetto, ui.exportHtml]) {
      link.addEventListener("click", (e) => {
        if (link.hasAttribute("aria-disabled")) e.preventDefault();
      });
    }
    ui.open.addEventListener("click", () => ui.openFile.click());
    ui.openFile.addEventListener("change", () => {
      this.open(ui.openFile.files[0]);
      ui.openFile.value = "";
    });
    this.dropTarget();
  }

  /** The download links of the run on screen: its URLs on the server, or the loaded trace. */
  links() {
    const { ui, feed } = this;
    const runId = feed.trace ? null : feed.runId;
    for (const [el, href] of [[ui.export, runId ? exportUrl(runId) : null],
      [ui.exportGz, runId ? exportGzUrl(runId) : null],
      [ui.perfetto, runId ? perfettoUrl(runId) : null], [ui.exportHtml, runId ? htmlUrl(runId) : null]]) {
      if (href) {
        el.href = href;
        el.removeAttribute("aria-disabled");
      } else {
        el.removeAttribute("href");
        el.setAttribute("aria-disabled", "true");
      }
    }
    if (feed.trace) {
      for (const el of [ui.export, ui.exportGz]) {
        el.href = "#";
        el.removeAttribute("aria-disabled");
      }
    }
  }

  /** A download link clicked: the server's file, or a loaded trace (which may not exist
   * on this server) handed back as the object itself, compressed here for JSON.gz. */
  download(e, link, gzip = false) {
    const { feed } = this;
    if (link.hasAttribute("aria-disabled")) return e.preventDefault();
    if (!feed.trace) {
      link.download = "";
      return;
    }
    e.preventDefault();
    const name = `coroscope-${feed.trace.run.demo ?? "trace"}-${feed.runId ?? "loaded"}.json${gzip ? ".gz" : ""}`;
    let blob = new Blob([JSON.stringify(feed.trace)], { type: "application/json" });
    if (gzip) blob = new Response(blob.stream().pipeThrough(new CompressionStream("gzip"))).blob();
    Promise.resolve(blob).then((body) => {
      const a = document.createElement("a");
      a.href = URL.createObjectURL(body);
      a.download = name;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
    });
  }

  /** Open a trace file: the server checks it and keeps it as a run, then we watch that
   * run. The header says how far the upload is, then that the server is checking it. */
  async open(file) {
    if (!file) return;
    this.clearError();
    if (this.standalone) return this.openLocally(file);
    const token = ++this.token;
    const progress = (fraction) => {
      if (token !== this.token) return;
      this.importing = { name: file.name, fraction };
      this.onProgress();
    };
    progress(0);
    try {
      const created = await importTrace(file, progress, await isGzip(file));
      if (token !== this.token) return;
      this.importing = null;
      this.subscribe(created.id);
      this.onImported();
    } catch (err) {
      if (token !== this.token) return;
      this.importing = null;
      this.onProgress();
      this.report(t("error.import", { name: file.name, detail: serverText(err.message) }));
    }
  }

  /** A page with no server (one exported HTML file): a dropped trace is read here. */
  async openLocally(file) {
    let trace;
    try {
      const text = (await isGzip(file))
        ? await new Response(file.stream().pipeThrough(new DecompressionStream("gzip"))).text()
        : await file.text();
      trace = JSON.parse(text);
    } catch (err) {
      return this.report(t("error.import", { name: file.name, detail: err.message }));
    }
    this.loadTrace(trace);
  }

  /** Drag and drop a trace file anywhere on the page. */
  dropTarget() {
    const zone = this.ui.dropzone;
    let depth = 0;
    window.addEventListener("dragenter", (e) => {
      if (!e.dataTransfer?.types?.includes("Files")) return;
      depth++;
      zone.hidden = false;
    });
    window.addEventListener("dragleave", () => {
      depth = Math.max(0, depth - 1);
      if (!depth) zone.hidden = true;
    });
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => {
      e.preventDefault();
      depth = 0;
      zone.hidden = true;
      const file = e.dataTransfer?.files?.[0];
      if (file) this.open(file);
    });
  }
}

/** A gzip file starts with the bytes 1f 8b, whatever it is named. */
async function isGzip(file) {
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  return head[0] === 0x1f && head[1] === 0x8b;
}

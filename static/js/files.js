// Traces in and out: Open... and drag and drop of a .json or .json.gz (uploaded to the
// server, which checks and keeps it as a run; read here on a page with no server), and
// the download links (JSON, JSON.gz, Perfetto, HTML) of the run on screen, a loaded trace
// being handed back as it was.

import { exportGzUrl, exportUrl, htmlUrl, importTrace, perfettoUrl } from "./api.js";
import { serverText, t } from "./i18n.js";
import { isGzip, readTrace } from "./loader.js";

/** The largest upload the server takes (app/files.py MAX_TRACE_BYTES): a bigger trace
 * is read here, in the page, as on a page with no server. */
const SERVER_MAX_BYTES = 256 << 20;

export class Files {
  /**
   * `ui`: open, openFile, export, exportGz, perfetto, exportHtml, dropzone. `subscribe(id)` shows
   * an uploaded run, `adopt(trace, store, file)` a trace read here (`standalone`: no
   * server, or a file too big for the server);
   * `onProgress()` follows `importing`; `onImported()` follows a new run on the server.
   */
  constructor({ ui, feed, standalone, report, clearError, subscribe, adopt, onProgress, onImported }) {
    Object.assign(this, { ui, feed, standalone, report, clearError, subscribe, adopt, onProgress, onImported });
    this.importing = null; // {name, fraction} while Open... uploads (fraction null: being checked)
    this.token = 0; // a newer Open... wins over one still uploading
    this.readIn = null; // where the last file read here was parsed: "worker" or "page"
    ui.export.addEventListener("click", (e) => this.download(e, ui.export));
    ui.exportGz.addEventListener("click", (e) => this.download(e, ui.exportGz, true));
    for (const link of [ui.perfetto, ui.exportHtml]) {
      link.addEventListener("click", (e) => {
        if (link.hasAttribute("aria-disabled")) e.preventDefault();
      });
    }
    // The narrow page's one menu for the four: a choice clicks its link.
    this.menuLinks = new Map([["export", ui.export], ["export-gz", ui.exportGz],
      ["export-perfetto", ui.perfetto], ["export-html", ui.exportHtml]]);
    ui.exportMenu.addEventListener("change", () => {
      const link = this.menuLinks.get(ui.exportMenu.value);
      ui.exportMenu.value = "";
      if (link && !link.hasAttribute("aria-disabled")) link.click();
    });
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
    for (const option of ui.exportMenu.options) {
      const link = this.menuLinks.get(option.value);
      if (link) option.disabled = link.hasAttribute("aria-disabled");
    }
    ui.exportMenu.disabled = [...this.menuLinks.values()].every((el) => el.hasAttribute("aria-disabled"));
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
    // A file read here is handed back as it is (its events were never kept as text).
    const { file } = feed.trace;
    const plain = file ? file.slice() : new Blob([JSON.stringify(feed.trace)], { type: "application/json" });
    const body = (file ? isGzip(file) : Promise.resolve(false)).then((packed) => {
      if (packed === gzip) return plain;
      const codec = gzip ? new CompressionStream("gzip") : new DecompressionStream("gzip");
      return new Response(plain.stream().pipeThrough(codec)).blob();
    });
    body.then((body) => {
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
    const token = ++this.token;
    if (this.standalone || await tooBigForServer(file)) return this.openLocally(file, { token });
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

  /** A page with no server (one exported HTML file), or a file over the server's limit:
   * the trace is read here, incrementally (loader.js), into a store of its own that
   * replaces the run on screen only once the whole file has been read. */
  async openLocally(file, { token = ++this.token, ...options } = {}) {
    const progress = (fraction) => {
      if (token !== this.token) return;
      this.importing = { name: file.name, fraction, local: true };
      this.onProgress();
    };
    progress(0);
    let read;
    try {
      read = await readTrace(file, { onProgress: progress, ...options });
    } catch (err) {
      if (token !== this.token) return;
      this.importing = null;
      this.onProgress();
      return this.report(t("error.import", { name: file.name, detail: err.message }));
    }
    if (token !== this.token) return;
    this.importing = null;
    this.readIn = read.worker ? "worker" : "page";
    this.adopt(read.trace, read.store, file);
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

/** Over what the server takes: the file, or (gzip) its uncompressed size as its last
 * four bytes say it (modulo 4 GiB). */
async function tooBigForServer(file) {
  if (file.size > SERVER_MAX_BYTES) return true;
  if (!(await isGzip(file)) || file.size < 4) return false;
  const tail = new DataView(await file.slice(file.size - 4).arrayBuffer());
  return tail.getUint32(0, true) > SERVER_MAX_BYTES;
}

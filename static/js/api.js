// The server, same origin: REST for demos and exports, one websocket for live runs
// (protocol in docs/trace-format.md).

/** `fetch` of a JSON answer: its body, or an Error saying the server's `error` (else the
 * status) when the answer is not ok. */
async function requestJSON(path, init = {}) {
  const response = await fetch(path, { ...init, headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // fall through: a non-JSON error page is reported by status below
  }
  if (!response.ok) throw new Error(body?.error ?? `${response.status} ${response.statusText}`);
  return body;
}

export function fetchDemos() {
  return requestJSON("/api/demos");
}

export function exportUrl(runId) {
  return `/api/runs/${encodeURIComponent(runId)}/trace.json`;
}

export function exportGzUrl(runId) {
  return `/api/runs/${encodeURIComponent(runId)}/trace.json.gz`;
}

/** A snapshot of flight-recorded run `runId`'s window now: its description. */
export function takeSnapshot(runId) {
  return requestJSON(`/api/runs/${encodeURIComponent(runId)}/snapshot`, { method: "POST" });
}

/** May this browser run edited code? `{allowed, why}` (why: the server's reason, or null). */
export function fetchEditAccess() {
  return requestJSON("/api/edit");
}

/**
 * The `/ws` connection, opened on first use and again after it drops. Messages sent
 * while it is connecting are queued; every received frame goes to `onMessage`.
 */
export class LiveSocket {
  constructor({ onMessage, onClose }) {
    this.onMessage = onMessage;
    this.onClose = onClose;
    this.ws = null;
    this.queue = [];
  }

  send(msg) {
    const text = JSON.stringify(msg);
    if (this.ws?.readyState === WebSocket.OPEN) return this.ws.send(text);
    this.queue.push(text);
    if (!this.ws || this.ws.readyState > WebSocket.OPEN) this.connect();
  }

  /** Drop the connection without reporting it (the owner is done with it). */
  close() {
    const ws = this.ws;
    this.ws = null;
    this.queue.length = 0;
    ws?.close();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws`);
    this.ws = ws;
    ws.onopen = () => {
      for (const text of this.queue.splice(0)) ws.send(text);
    };
    ws.onmessage = (e) => {
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch (err) {
        msg = { type: "error", error: `unreadable frame from the server: ${err.message}` };
      }
      this.onMessage(msg);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.queue.length = 0;
      this.onClose(e.reason || `code ${e.code}`);
    };
  }
}

export function htmlUrl(runId) {
  return `/api/runs/${encodeURIComponent(runId)}/trace.html`;
}

export function perfettoUrl(runId) {
  return `/api/runs/${encodeURIComponent(runId)}/trace.perfetto.json`;
}

async function send(method, path, body, raw = false, keepalive = false) {
  const response = await fetch(path, {
    method,
    keepalive, // only for bodiless requests: Chromium refuses keepalive bodies over 64 KiB
    headers: { Accept: "application/json", ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
  });
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    // a non-JSON answer is reported by its status below
  }
  if (!response.ok) throw new Error(parsed?.error ?? `${response.status} ${response.statusText}`);
  return parsed;
}

export function fetchRuns() {
  return requestJSON("/api/runs");
}

export function renameRun(runId, title) {
  return send("PATCH", `/api/runs/${encodeURIComponent(runId)}`, { title });
}

/** Cancel a run; sent with keepalive, so a cancel sent as the page goes still arrives. */
export function cancelRun(runId) {
  return send("POST", `/api/runs/${encodeURIComponent(runId)}/cancel`, undefined, false, true);
}

export function deleteRun(runId) {
  return send("DELETE", `/api/runs/${encodeURIComponent(runId)}`);
}

/**
 * POST a trace file (a File or Blob, sent as it is read from disk; `gzip`: a .json.gz,
 * which the server unpacks). `onProgress(f)` is called with the fraction uploaded, then
 * with null while the server reads and checks it. Resolves to the new run, or throws the
 * server's message.
 */
export function importTrace(file, onProgress = () => {}, gzip = false) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/import");
    xhr.setRequestHeader("Content-Type", gzip ? "application/gzip" : "application/json");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    };
    xhr.upload.onload = () => onProgress(null);
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        // reported by its status below
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new Error(body?.error ?? `${xhr.status} ${xhr.statusText}`));
    };
    xhr.onerror = () => reject(new Error("the server could not be reached"));
    xhr.send(file);
  });
}

/** Start a run without watching it here (compare subscribes to it on its own socket). */
export function startRunRest(demo, params) {
  return send("POST", "/api/runs", { demo, params });
}

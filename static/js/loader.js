// A trace file read incrementally into a Store: the bytes streamed (gunzipped on the
// way for a .json.gz), the `events` array cut into chunks at event boundaries, each chunk
// parsed (`JSON.parse("[" + chunk + "]")`) and appended to the store's typed columns at
// once. Neither the file's whole text nor all its event objects are ever held, so a
// trace larger than V8's longest string (about 512 MB: a 10M-event trace is ~870 MB)
// opens all the same. Everything outside the `events` array (format, version, run,
// tasks) is kept as text, with the array left empty, and parsed as one small object.

import { eventsToRows, checkHeader } from "./codec.js";
import { Store } from "./store.js";

/** Past this many uncompressed bytes a file is refused (a gzip bomb, or a trace of
 * ~25M events, more than a page's memory holds). */
export const MAX_TRACE_CHARS = 2 ** 31;

const MAX_RESERVE = 30_000_000; // events: past this, columns grow as rows come
const CHUNK_BYTES = 1 << 20; // bytes decoded, scanned and parsed per step
const FAST_MIN_CHARS = 4096; // below this, a piece is scanned
const OPEN = 1; // scanning the top-level object, outside `events`
const EVENTS = 2; // inside the `events` array
const AFTER = 3; // the array closed: the rest of the object

/** A gzip file starts with the bytes 1f 8b, whatever it is named. */
export async function isGzip(blob) {
  const head = new Uint8Array(await blob.slice(0, 2).arrayBuffer());
  return head[0] === 0x1f && head[1] === 0x8b;
}

/**
 * Read the trace in `blob` (a File, plain JSON or gzip) into a new Store. Resolves to
 * {store, trace: {format, version, run, tasks}, gzip}; throws an Error saying what is
 * wrong (not JSON, cut short, not a trace, too big). `onProgress(fraction)` follows the
 * compressed bytes read. `chunkBytes`: bytes decoded and handed to the parser at a
 * time; `maxChars`: the uncompressed size refused.
 */
export async function readTrace(blob, { onProgress = () => {}, maxChars = MAX_TRACE_CHARS, chunkBytes = CHUNK_BYTES } = {}) {
  const gzip = await isGzip(blob);
  let bytesRead = 0;
  const counted = blob.stream().pipeThrough(new TransformStream({
    transform(chunk, controller) {
      bytesRead += chunk.byteLength;
      controller.enqueue(chunk);
    },
  }));
  const stream = gzip ? counted.pipeThrough(new DecompressionStream("gzip")) : counted;
  const reader = stream.getReader();
  const decoder = new TextDecoder("utf-8", { fatal: true });
  const parser = new TraceParser();
  // The stream's small reads gathered into one buffer, decoded at once into one flat
  // string: no rope of pieces for the parser to flatten.
  const bytes = new Uint8Array(chunkBytes);
  let held = 0;
  let total = 0;
  const flush = (last) => {
    parser.feed(decoder.decode(bytes.subarray(0, held), { stream: !last }));
    held = 0;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > maxChars) {
        throw new Error(`over ${Math.round(maxChars / 2 ** 20)} MB of JSON: too big to open here`);
      }
      for (let at = 0; at < value.length;) {
        const n = Math.min(chunkBytes - held, value.length - at);
        bytes.set(value.subarray(at, at + n), held);
        held += n;
        at += n;
        if (held === chunkBytes) flush(false);
      }
      onProgress(blob.size ? bytesRead / blob.size : 0);
    }
    flush(true);
  } catch (err) {
    reader.cancel().catch(() => {});
    if (err instanceof TypeError && /decod|data|gzip|deflate|zlib/i.test(err.message)) {
      throw new Error(gzip ? "the gzip data is damaged" : "the file is not UTF-8 text");
    }
    throw err;
  }
  return { ...parser.finish(), gzip };
}

/** Read a trace from text given piece by piece (`feed`), then `finish()`. */
export class TraceParser {
  constructor() {
    this.store = new Store();
    this.mode = OPEN;
    this.head = []; // the text outside `events`, the array left as "[]"
    this.buf = ""; // text not yet scanned to its end
    this.pos = 0; // where scanning resumes in `buf`
    this.depth = 0; // nesting inside the top-level object (OPEN) or the array (EVENTS)
    this.key = null; // the last string closed at depth 1 (OPEN): a key, or a value
    this.header = null; // format, version, run, tasks: read when `events` begins
    this.tasks = null; // task id -> record
    this.parked = []; // event arrays held until "tasks" is known (it came after "events")
    this.seq = 0;
  }

  feed(text) {
    if (!text) return;
    if (this.mode === EVENTS) {
      // From the first event not yet parsed; scanning resumes where it stopped.
      this.buf = this.buf.slice(this.cut) + text;
      this.pos -= this.cut;
      this.cut = 0;
    } else {
      this.buf += text;
    }
    while (this.pos < this.buf.length) {
      if (this.mode === EVENTS) {
        if (!this.scanEvents()) break;
      } else if (!this.scanObject()) break;
    }
    if (this.mode === AFTER || this.mode === OPEN) {
      // Scanned text outside the array is kept as the head.
      if (this.pos > 0) this.head.push(this.buf.slice(0, this.pos));
      this.buf = this.buf.slice(this.pos);
      this.pos = 0;
    }
  }

  /** Scan outside the array (strings whole); false when `buf` ends mid-string. */
  scanObject() {
    const s = this.buf;
    const n = s.length;
    let i = this.pos;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (this.depth <= 0 && c > 32 && !(c === 123 && !this.opened)) {
        throw new Error(this.opened ? "text after the trace's object" : "the file is not a JSON object");
      }
      if (c === 123 && this.depth === 0) this.opened = true;
      if (c === 34) {
        const end = stringEnd(s, i);
        if (end < 0) break; // the string goes on in the next piece
        if (this.depth === 1 && this.mode === OPEN) this.key = end - i < 16 ? s.slice(i + 1, end) : null;
        i = end + 1;
        continue;
      }
      if (c === 123 || c === 91) {
        if (c === 91 && this.depth === 1 && this.mode === OPEN && this.key === "events") {
          this.head.push(s.slice(0, i + 1));
          this.beginEvents();
          this.buf = s;
          this.pos = i + 1;
          this.depth = 0;
          this.mode = EVENTS;
          this.cut = i + 1;
          return true;
        }
        this.depth++;
      } else if (c === 125 || c === 93) {
        this.depth--;
      } else if (c === 58 || c === 44) {
        if (c === 44) this.key = null; // a comma: the next string is a key again
      }
      i++;
    }
    this.pos = i;
    return false;
  }

  /** The header as far as it has been read: the object's text, closed after "events":[. */
  beginEvents() {
    let header;
    try {
      header = JSON.parse(`${this.head.join("")}]}`);
    } catch (err) {
      throw new Error(`the JSON before "events" is not valid: ${err.message}`);
    }
    this.header = header;
    if (header.tasks !== undefined) this.tasks = taskTable(header.tasks);
    checkHeader(header, true);
    // The run says how many events follow: the columns are sized once, not doubled
    // (copies of up to a gigabyte, and up to half of them unused).
    const n = header.run?.events;
    if (Number.isSafeInteger(n) && n > 0 && n <= MAX_RESERVE) this.store.reserve(n);
  }

  /**
   * The fast way through a piece: parse it up to its last `}` at once. Whether that `}`
   * ends an event JSON.parse itself tells: the text from an event boundary to a point
   * inside a string, or inside an event, is not a list of values. So the scanner is not
   * needed (it costs as much as the parse); it runs only when this fails twice (a `}`
   * inside the string of the event cut in two, or bad JSON, whose error it reports).
   */
  fastEvents() {
    const s = this.buf;
    const cut = this.cut;
    if (s.length - cut < FAST_MIN_CHARS) return false;
    let end = s.lastIndexOf("}");
    for (let tries = 0; tries < 2 && end > cut; tries++) {
      let events = null;
      try {
        events = parseList(s, cut, end + 1);
      } catch {
        // not an event boundary (or bad JSON): try the `}` before, then scan
      }
      if (events) {
        let k = end + 1;
        while (k < s.length && s.charCodeAt(k) <= 32) k++;
        const next = k < s.length ? s.charCodeAt(k) : 44;
        if (next !== 44 && next !== 93) return false; // the scanner reports what is wrong
        this.accept(events);
        this.buf = s.slice(end + 1);
        this.pos = 0;
        this.cut = 0;
        this.depth = 0;
        return true;
      }
      end = s.lastIndexOf("}", end - 1);
    }
    return false;
  }

  /** Scan inside the array; parse every whole event seen. False when `buf` is used up. */
  scanEvents() {
    if (this.fastEvents()) return true;
    const s = this.buf;
    const n = s.length;
    let i = this.pos;
    let depth = this.depth;
    let last = -1; // just after the last event closed in this scan
    let closed = -1; // the array's `]`
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === 34) {
        const end = stringEnd(s, i);
        if (end < 0) break;
        i = end + 1;
        continue;
      }
      if (c === 123 || c === 91) {
        depth++;
      } else if (c === 125 || c === 93) {
        depth--;
        if (depth === 0) last = i + 1;
        else if (depth < 0) {
          closed = i;
          break;
        }
      }
      i++;
    }
    const cut = this.cut; // where this piece's events begin
    if (closed >= 0) {
      this.parseEvents(s.slice(cut, closed));
      this.head.push("]");
      this.buf = s.slice(closed + 1);
      this.pos = 0;
      this.depth = 1;
      this.mode = AFTER;
      return true;
    }
    if (last > cut) {
      this.parseEvents(s.slice(cut, last));
      // Keep what follows the last whole event; scanning resumes where it stopped.
      this.buf = s.slice(last);
      this.pos = i - last;
      this.cut = 0;
    } else {
      this.pos = i;
    }
    this.depth = depth;
    return false;
  }

  parseEvents(text) {
    let events;
    try {
      events = parseList(text, 0, text.length);
    } catch (err) {
      throw new Error(`events after #${this.seq} are not valid JSON: ${err.message}`);
    }
    this.accept(events);
  }

  accept(events) {
    this.seq += events.length;
    if (this.tasks) this.append(events);
    else this.parked.push(events);
  }

  append(events) {
    const seq = this.store.length;
    this.store.append(seq, eventsToRows(events, seq, this.tasks));
  }

  finish() {
    if (this.mode === EVENTS) throw new Error("the file ends inside \"events\" (cut short?)");
    if (this.mode === OPEN && this.buf.length) this.head.push(this.buf);
    let trace;
    try {
      trace = JSON.parse(this.head.join(""));
    } catch (err) {
      throw new Error(`not valid JSON (cut short?): ${err.message}`);
    }
    checkHeader(trace);
    if (!this.tasks) {
      this.tasks = taskTable(trace.tasks);
      for (const events of this.parked) this.append(events);
      this.parked = [];
    }
    delete trace.events;
    this.store.compact();
    return { store: this.store, trace };
  }
}

/** The values in `s[from, to)`: events separated by commas, a comma perhaps first. */
function parseList(s, from, to) {
  let k = from;
  while (k < to && (s.charCodeAt(k) <= 32 || s.charCodeAt(k) === 44)) k++;
  if (k === to) return [];
  return JSON.parse(`[${s.slice(k, to)}]`);
}

function taskTable(tasks) {
  const table = new Map();
  for (const task of Array.isArray(tasks) ? tasks : []) table.set(task?.id, task);
  return table;
}

/** Index of the quote closing the string that opens at `i`, or -1 if `s` ends first. */
function stringEnd(s, i) {
  let j = i + 1;
  for (;;) {
    j = s.indexOf('"', j);
    if (j < 0) return -1;
    let k = j - 1;
    while (s.charCodeAt(k) === 92) k--;
    if ((j - 1 - k) % 2 === 0) return j; // an even run of backslashes: not escaped
    j++;
  }
}

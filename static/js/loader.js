// A trace file read incrementally into a Store, as bytes: streamed (gunzipped on the way
// for a .json.gz) and scanned without ever being decoded into one string, so a trace
// larger than V8's longest string (about 512 MB: a 10M-event trace is ~870 MB) opens all
// the same, and neither the file's text nor its event objects are ever held.
//
// - Outside the `events` array (format, version, run, tasks) the bytes are kept, with the
//   array left empty, and parsed as one small object: the header when `events` begins,
//   the whole at the end.
// - Inside it, a switch or throw spelt as the exporter writes it (flat: integers, null,
//   short strings; any whitespace) is read field by field straight into the store's
//   columns (Store.pushSwitch): no string, no object, no row array made for it. Its
//   cause is decoded once per distinct byte sequence and reused.
// - Any other event (a spawn, a print, a block, a field of another type, bad JSON) is cut
//   at its end, decoded and given to JSON.parse and codec.js eventsToRows, as the whole
//   trace would be: the same rows, the same errors.

import { eventsToRows, checkHeader } from "./codec.js";
import { SWITCH, THROW } from "./kinds.js";
import { Store } from "./store.js";

/** Past this many uncompressed bytes a file is refused (a gzip bomb, or a trace of
 * ~25M events, more than a page's memory holds). */
export const MAX_TRACE_CHARS = 2 ** 31;

const MAX_RESERVE = 30_000_000; // events: past this, columns grow as rows come
const CHUNK_BYTES = 1 << 20; // bytes gathered, scanned and parsed per step
const OPEN = 1; // scanning the top-level object, outside `events`
const EVENTS = 2; // inside the `events` array
const AFTER = 3; // the array closed: the rest of the object

// Bytes of JSON's syntax.
const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const MINUS = 45;
const ZERO = 48;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;
const N = 110; // the n of null
const CLOSE = new Uint8Array([CLOSE_BRACKET]);

// The fields of a switch or throw event, as the fast path knows them.
const SEQ = 1;
const T = 2;
const KIND = 3;
const FROM = 4;
const TO = 5;
const LINE = 6;
const CAUSE = 7;

const NONE = -1; // Store's: a row's task field when it names none
const SLOW = -2; // the fast path's answer: not a flat switch, parse it whole
const MORE = -1; // its answer when the bytes end inside the event

/** A gzip file starts with the bytes 1f 8b, whatever it is named. */
export async function isGzip(blob) {
  const head = new Uint8Array(await blob.slice(0, 2).arrayBuffer());
  return head[0] === 0x1f && head[1] === 0x8b;
}

/**
 * Read the trace in `blob` (a File, plain JSON or gzip) into a new Store. Resolves to
 * {store, trace: {format, version, run, tasks}, gzip, worker}; throws an Error saying
 * what is wrong (not JSON, cut short, not a trace, too big). `onProgress(fraction)` follows the
 * compressed bytes read. `chunkBytes`: bytes gathered and handed to the parser at a
 * time; `maxChars`: the uncompressed size refused; `worker: false` reads it on the
 * page's thread even where a worker could (the page served, not one HTML file).
 */
export async function readTrace(blob, { worker = true, onProgress = () => {}, ...options } = {}) {
  if (worker && WORKER_URL && typeof Worker === "function") {
    const read = await readInWorker(blob, onProgress, options);
    if (read) return read;
  }
  const store = new Store();
  const { trace, gzip } = await pump(blob, new TraceParser(store), onProgress, options);
  store.compact();
  return { store, trace, gzip, worker: false };
}

/** The worker that reads a file for the served page (loader-worker.js). One HTML file
 * opened from disk, whose modules are blob: URLs, reads on the page's thread. */
const WORKER_URL = /^https?:/.test(import.meta.url) ? new URL("./loader-worker.js", import.meta.url) : null;
const BATCH = 1 << 16; // rows per message from the worker
const AHEAD = 4; // batches the worker may send before the page has taken them
const OTHER = 255; // a batch's row that is not a switch: the row itself is in `rows`
const NO_LINE = -(2 ** 31); // a switch's line that is null

/**
 * Read `blob` in a worker, which parses while the page indexes what it sent: the rows
 * come in batches of typed columns (transferred, not copied), a cause string once and
 * then by number. Resolves like readTrace, or to null if no worker could start.
 */
function readInWorker(blob, onProgress, options) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { type: "module" });
    const store = new Store();
    const causes = [0]; // the worker's cause numbers -> the store's ids (0: none)
    let heard = false;
    const end = () => worker.terminate();
    worker.onerror = (event) => {
      end();
      if (heard) reject(new Error(`the reader stopped: ${event.message}`));
      else resolve(null); // it never ran: read on the page's thread
    };
    const fail = (err) => {
      end();
      reject(err);
    };
    worker.onmessageerror = () => fail(new Error("the reader sent what the page cannot read"));
    worker.onmessage = ({ data }) => {
      heard = true;
      try {
        if (data.batch) {
          takeBatch(store, data.batch, causes);
          worker.postMessage({ taken: true });
        } else if (data.reserve) {
          store.reserve(data.reserve);
        } else if (data.progress !== undefined) {
          onProgress(data.progress);
        } else if (data.error) {
          fail(new Error(data.error));
        } else if (data.done) {
          end();
          store.compact();
          resolve({ store, trace: data.trace, gzip: data.gzip, worker: true });
        }
      } catch (err) {
        fail(err);
      }
    };
    worker.postMessage({ blob, options });
  });
}

/** A worker's batch (Batches.send) appended to `store`; `causes`: the store's cause id
 * of each of the worker's numbers. */
function takeBatch(store, { n, t, kind, from, to, line, cause, rows, causes: added }, causes) {
  for (const text of added) causes.push(store.causeId(text));
  let r = 0;
  for (let i = 0; i < n; i++) {
    const k = kind[i];
    if (k === OTHER) store.append(store.length, [rows[r++]]);
    else store.pushSwitch(t[i], k, from[i], to[i], line[i] === NO_LINE ? null : line[i], null, causes[cause[i]]);
  }
}

/**
 * The worker's sink for TraceParser: rows gathered in typed columns and sent to the page
 * (`post(message, transfer)`) in batches. A switch whose numbers do not fit the columns
 * travels as a row, as the other kinds do.
 */
export class Batches {
  constructor(post) {
    this.post = post;
    this.length = 0;
    this.causeIds = new Map([[null, 0]]);
    this.added = []; // cause strings numbered since the last batch
    this.sent = 0;
    this.taken = 0;
    this.wake = null;
    this.begin();
  }

  begin() {
    this.n = 0;
    this.t = new Float64Array(BATCH);
    this.kind = new Uint8Array(BATCH);
    this.from = new Int32Array(BATCH);
    this.to = new Int32Array(BATCH);
    this.line = new Int32Array(BATCH);
    this.cause = new Int32Array(BATCH);
    this.rows = [];
  }

  reserve(n) {
    this.post({ reserve: n });
  }

  pushSwitch(t, kind, from, to, line, cause) {
    if ((from | 0) !== from || (to | 0) !== to
        || (line !== null && ((line | 0) !== line || line === NO_LINE))) {
      this.append(this.length, [[t, kind, from, to, line, cause]]);
      return;
    }
    const i = this.n;
    this.t[i] = t;
    this.kind[i] = kind;
    this.from[i] = from;
    this.to[i] = to;
    this.line[i] = line === null ? NO_LINE : line;
    let id = this.causeIds.get(cause);
    if (id === undefined) {
      id = this.causeIds.size;
      this.causeIds.set(cause, id);
      this.added.push(cause);
    }
    this.cause[i] = id;
    this.length++;
    if (++this.n === BATCH) this.send();
  }

  append(seq, rows) {
    for (const row of rows) {
      this.kind[this.n] = OTHER;
      this.rows.push(row);
      this.length++;
      if (++this.n === BATCH) this.send();
    }
  }

  /** The rows gathered, to the page (their buffers moved, not copied). */
  send() {
    if (!this.n) return;
    const { n, t, kind, from, to, line, cause, rows, added } = this;
    this.post({ batch: { n, t, kind, from, to, line, cause, rows, causes: added } },
      [t.buffer, kind.buffer, from.buffer, to.buffer, line.buffer, cause.buffer]);
    this.added = [];
    this.sent++;
    this.begin();
  }

  /** The page took a batch. */
  took() {
    this.taken++;
    if (this.wake) this.wake();
  }

  /** Resolves once the page holds at most AHEAD batches it has not taken. */
  async caughtUp() {
    while (this.sent - this.taken > AHEAD) {
      await new Promise((resolve) => { this.wake = resolve; });
      this.wake = null;
    }
  }
}

/**
 * Read `blob` into `parser`, piece by piece. Resolves to {trace, gzip}; throws an Error
 * saying what is wrong. `afterPiece()`: awaited after each piece is parsed (a worker
 * waits there for the page to catch up).
 */
export async function pump(blob, parser, onProgress, { maxChars = MAX_TRACE_CHARS, chunkBytes = CHUNK_BYTES } = {}, afterPiece = null) {
  const gzip = await isGzip(blob);
  // The reads gathered into one buffer and scanned at once; what the parser could not
  // use yet (an event cut in two) moves to the front, and the buffer doubles only if
  // one event fills it.
  let bytes = new Uint8Array(chunkBytes);
  let held = 0;
  let total = 0;
  const flush = () => {
    const used = parser.feed(bytes.subarray(0, held));
    bytes.copyWithin(0, used, held);
    held -= used;
    if (held === bytes.length) {
      const more = new Uint8Array(2 * bytes.length);
      more.set(bytes);
      bytes = more;
    }
  };
  try {
    for await (const value of pieces(blob, gzip, onProgress)) {
      total += value.length;
      if (total > maxChars) {
        throw new Error(`over ${Math.round(maxChars / 2 ** 20)} MB of JSON: too big to open here`);
      }
      for (let at = 0; at < value.length;) {
        const n = Math.min(bytes.length - held, value.length - at);
        bytes.set(value.subarray(at, at + n), held);
        held += n;
        at += n;
        if (held === bytes.length) flush();
      }
      if (afterPiece) await afterPiece();
    }
    flush();
    return { trace: parser.finish(bytes.subarray(0, held)), gzip };
  } catch (err) {
    if (err instanceof TypeError && /decod|data|gzip|deflate|zlib/i.test(err.message)) {
      throw new Error(gzip ? "the gzip data is damaged" : "the file is not UTF-8 text");
    }
    throw err;
  }
}

/** The file's bytes in pieces (gunzipped for a gzip file), `onProgress(fraction)` of the
 * file read after each. */
async function* pieces(blob, gzip, onProgress) {
  let bytesRead = 0;
  const counted = blob.stream().pipeThrough(new TransformStream({
    transform(chunk, controller) {
      bytesRead += chunk.byteLength;
      controller.enqueue(chunk);
    },
  }));
  const reader = (gzip ? counted.pipeThrough(new DecompressionStream("gzip")) : counted).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
      onProgress(blob.size ? bytesRead / blob.size : 0);
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}

/**
 * Read a trace from bytes given piece by piece (`feed`), then `finish(rest)`, into
 * `sink`: a Store, or a worker's Batches. Either has `length` (rows held), `reserve(n)`,
 * `append(seq, rows)` and `pushSwitch(t, kind, from, to, line, cause)`.
 */
export class TraceParser {
  constructor(sink) {
    this.sink = sink;
    this.mode = OPEN;
    this.head = []; // the bytes outside `events` (copies), the array left as "[]"
    this.depth = 0; // nesting inside the top-level object, outside `events`
    this.opened = false; // its `{` was seen
    this.atEvents = false; // the last string closed at depth 1 is "events"
    this.comma = false; // inside `events`: a value was read, a comma or `]` comes next
    this.value = false; // inside `events`: a comma was read, a value comes next
    this.header = null; // format, version, run, tasks: read when `events` begins
    this.tasks = null; // task id -> record
    this.parked = []; // event arrays held until "tasks" is known (it came after "events")
    this.seq = 0;
    this.decoder = new TextDecoder("utf-8", { fatal: true });
    this.strings = new Map(); // hash of a string's bytes -> [bytes, text, bytes, text...]
  }

  /**
   * Scan the bytes `s` as far as they go, and return how many were used: the rest (an
   * event or a string cut in two) must come again at the start of the next piece, or of
   * `finish`. The parser keeps no view of `s` (it may be reused).
   */
  feed(s) {
    const n = s.length;
    let i = 0;
    let from = 0; // start of the bytes still needed
    while (i < n) {
      if (this.mode === EVENTS) {
        i = this.scanEvents(s, i, n);
        from = i;
        if (this.mode === EVENTS) break; // the bytes end inside an event
      } else {
        const stop = this.scanObject(s, i, n);
        if (this.mode === EVENTS) { // `events` began at `stop`: the head up to its `[`
          this.head.push(s.slice(from, stop));
          this.beginEvents();
          i = from = stop;
          continue;
        }
        i = stop;
        if (i < n) break; // the bytes end inside a string
      }
    }
    if (this.mode !== EVENTS) {
      // Outside the array, scanned bytes are the head; a string cut in two (from `i`)
      // is scanned again whole with the next piece.
      if (i > from) this.head.push(s.slice(from, i));
      from = i;
    }
    return from;
  }

  /**
   * Scan outside the array from `i`: strings whole, nesting counted, the `[` of the
   * top-level "events" found. Returns where it stopped: just after that `[` (mode is
   * EVENTS then), `n`, or the start of a string the bytes end inside.
   */
  scanObject(s, i, n) {
    while (i < n) {
      const c = s[i];
      if (this.depth <= 0 && c > 32 && !(c === OPEN_BRACE && !this.opened)) {
        throw new Error(this.opened ? "text after the trace's object" : "the file is not a JSON object");
      }
      if (c === QUOTE) {
        const end = stringEnd(s, i, n);
        if (end < 0) return i; // the string goes on in the next piece
        if (this.depth === 1 && this.mode === OPEN) this.atEvents = isWord(s, i + 1, end, EVENTS_KEY);
        i = end + 1;
        continue;
      }
      if (c === OPEN_BRACE || c === OPEN_BRACKET) {
        if (c === OPEN_BRACE && this.depth === 0) this.opened = true;
        if (c === OPEN_BRACKET && this.depth === 1 && this.mode === OPEN && this.atEvents) {
          this.mode = EVENTS;
          return i + 1;
        }
        this.depth++;
      } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
        this.depth--;
      } else if (c === COMMA) {
        this.atEvents = false; // the next string is a key again
      }
      i++;
    }
    return n;
  }

  /** The header as far as it has been read: the object's bytes, closed after "events":[. */
  beginEvents() {
    let header;
    try {
      header = JSON.parse(`${this.decoder.decode(concat(this.head))}]}`);
    } catch (err) {
      if (err instanceof TypeError) throw err;
      throw new Error(`the JSON before "events" is not valid: ${err.message}`);
    }
    this.header = header;
    if (header.tasks !== undefined) this.tasks = taskTable(header.tasks);
    checkHeader(header, true);
    // The run says how many events follow: the columns are sized once, not doubled
    // (copies of up to a gigabyte, and up to half of them unused).
    const n = header.run?.events;
    if (Number.isSafeInteger(n) && n > 0 && n <= MAX_RESERVE) this.sink.reserve(n);
  }

  /**
   * Read events from `i` until the bytes end or the array closes (then mode is AFTER).
   * Returns where the first event not yet read begins (or just after the `]`).
   */
  scanEvents(s, i, n) {
    for (;;) {
      while (i < n && isSpace(s[i])) i++;
      if (i >= n) return i;
      const c = s[i];
      if (this.comma) {
        if (c === CLOSE_BRACKET) {
          this.closeEvents();
          return i + 1;
        }
        if (c !== COMMA) this.invalid(`"," or "]" expected, not ${JSON.stringify(String.fromCharCode(c))}`);
        this.comma = false;
        this.value = true;
        i++;
        continue;
      }
      if (c === CLOSE_BRACKET && !this.value) {
        this.closeEvents(); // `[]`: no events
        return i + 1;
      }
      let end = c === OPEN_BRACE && this.tasks ? this.fastEvent(s, i, n) : SLOW;
      if (end === MORE) return i;
      if (end === SLOW) {
        end = valueEnd(s, i, n);
        if (end < 0) return i;
        if (end === i) this.invalid("a value is missing after a comma");
        this.parseEvent(s, i, end);
      }
      i = end;
      this.comma = true;
      this.value = false;
    }
  }

  closeEvents() {
    this.head.push(CLOSE);
    this.depth = 1;
    this.mode = AFTER;
  }

  invalid(why) {
    throw new Error(`events after #${this.seq} are not valid JSON: ${why}`);
  }

  /** The value in s[from, to) parsed whole, then appended as an event (or parked). */
  parseEvent(s, from, to) {
    let event;
    try {
      event = JSON.parse(this.decoder.decode(s.subarray(from, to)));
    } catch (err) {
      if (err instanceof TypeError) throw err;
      this.invalid(err.message);
    }
    this.accept([event]);
  }

  /**
   * A switch or throw spelt flat (`{"seq":N,"t":N,"kind":"switch","from":N,"to":N,
   * "line":N|null,"cause":"..."|null}`, keys in any order, any whitespace), read from
   * the `{` at `i` straight into the store. Returns the index after its `}`; MORE if the
   * bytes end first; SLOW for anything else (another kind or key, a value of another
   * type, a float, a seq out of turn, bad JSON), which the caller parses whole.
   */
  fastEvent(s, i, n) {
    let seq = NaN;
    let t = NaN;
    let kind = NONE;
    let from = NONE;
    let to = NONE;
    let line = null;
    let cause = null;
    let p = i + 1;
    for (;;) {
      while (p < n && isSpace(s[p])) p++;
      if (p >= n) return MORE;
      if (s[p] !== QUOTE) return SLOW;
      let q = p + 1;
      while (q < n && s[q] !== QUOTE) {
        if (s[q] === BACKSLASH) return SLOW;
        q++;
      }
      if (q >= n) return MORE;
      const key = fieldOf(s, p + 1, q);
      if (!key) return SLOW;
      p = q + 1;
      while (p < n && isSpace(s[p])) p++;
      if (p >= n) return MORE;
      if (s[p] !== COLON) return SLOW;
      p++;
      while (p < n && isSpace(s[p])) p++;
      if (p >= n) return MORE;
      const c = s[p];
      if (c === N) {
        if (p + 4 > n) return MORE;
        if (s[p + 1] !== 117 || s[p + 2] !== 108 || s[p + 3] !== 108) return SLOW; // "ull"
        if (key === LINE) line = null;
        else if (key === CAUSE) cause = null;
        else return SLOW;
        p += 4;
      } else if (c === QUOTE) {
        if (key !== KIND && key !== CAUSE) return SLOW;
        let h = 0;
        q = p + 1;
        while (q < n) {
          const b = s[q];
          if (b === QUOTE) break;
          if (b === BACKSLASH) { // the escaped byte is not the end: both hashed
            h = (h * 31 + b) | 0;
            q++;
            if (q >= n) break;
          }
          h = (h * 31 + s[q]) | 0;
          q++;
        }
        if (q >= n) return MORE;
        if (key === KIND) {
          kind = isWord(s, p + 1, q, SWITCH_WORD) ? SWITCH : isWord(s, p + 1, q, THROW_WORD) ? THROW : NONE;
          if (kind === NONE) return SLOW;
        } else {
          cause = this.text(s, p, q + 1, h);
        }
        p = q + 1;
      } else {
        if (key === KIND || key === CAUSE) return SLOW;
        let v = 0;
        q = c === MINUS ? p + 1 : p;
        const first = q;
        while (q < n) {
          const d = s[q] - ZERO;
          if (d < 0 || d > 9) break;
          v = v * 10 + d;
          q++;
        }
        if (q >= n) return MORE;
        const digits = q - first;
        // None, a leading zero, past 2**53, a fraction or an exponent: JSON.parse's.
        if (digits === 0 || digits > 15 || (digits > 1 && s[first] === ZERO)) return SLOW;
        const after = s[q];
        if (after === 46 || after === 101 || after === 69) return SLOW; // . e E
        if (c === MINUS) v = -v;
        if (key === SEQ) seq = v;
        else if (key === T) t = v;
        else if (key === FROM) from = v;
        else if (key === TO) to = v;
        else line = v;
        p = q;
      }
      while (p < n && isSpace(s[p])) p++;
      if (p >= n) return MORE;
      const e = s[p++];
      if (e === CLOSE_BRACE) break;
      if (e !== COMMA) return SLOW;
    }
    if (kind === NONE || seq !== this.seq) return SLOW;
    this.seq++;
    this.sink.pushSwitch(t, kind, from, to, line, cause);
    return p;
  }

  /** The string whose quoted JSON spelling is s[from, to) (hash `h`): parsed the first
   * time (so its escapes, its UTF-8 and its validity are JSON.parse's), then reused. */
  text(s, from, to, h) {
    const len = to - from;
    let list = this.strings.get(h);
    if (list) {
      for (let k = 0; k < list.length; k += 2) {
        const bytes = list[k];
        if (bytes.length !== len) continue;
        let same = true;
        for (let m = 0; m < len; m++) {
          if (bytes[m] !== s[from + m]) {
            same = false;
            break;
          }
        }
        if (same) return list[k + 1];
      }
    } else {
      this.strings.set(h, (list = []));
    }
    const value = JSON.parse(this.decoder.decode(s.subarray(from, to)));
    list.push(s.slice(from, to), value);
    return value;
  }

  accept(events) {
    this.seq += events.length;
    if (this.tasks) this.append(events);
    else this.parked.push(events);
  }

  append(events) {
    const seq = this.sink.length;
    this.sink.append(seq, eventsToRows(events, seq, this.tasks));
  }

  /** The trace's header ({format, version, run, tasks}), all its events given to the
   * sink; `rest`: the bytes the last `feed` did not use. */
  finish(rest = new Uint8Array(0)) {
    if (this.mode === EVENTS) throw new Error("the file ends inside \"events\" (cut short?)");
    if (rest.length) this.head.push(rest);
    let trace;
    try {
      trace = JSON.parse(this.decoder.decode(concat(this.head)));
    } catch (err) {
      if (err instanceof TypeError) throw err;
      throw new Error(`not valid JSON (cut short?): ${err.message}`);
    }
    checkHeader(trace);
    if (!this.tasks) {
      this.tasks = taskTable(trace.tasks);
      for (const events of this.parked) this.append(events);
      this.parked = [];
    }
    delete trace.events;
    return trace;
  }
}

const EVENTS_KEY = bytesOf("events");
const SWITCH_WORD = bytesOf("switch");
const THROW_WORD = bytesOf("throw");

function bytesOf(word) {
  return new TextEncoder().encode(word);
}

/** s[from, to) is `word`'s bytes. */
function isWord(s, from, to, word) {
  if (to - from !== word.length) return false;
  for (let k = 0; k < word.length; k++) if (s[from + k] !== word[k]) return false;
  return true;
}

/** The field a key s[from, to) names in a switch, or 0 for any other key. */
function fieldOf(s, from, to) {
  switch (to - from) {
    case 1: return s[from] === 116 ? T : 0;
    case 2: return s[from] === 116 && s[from + 1] === 111 ? TO : 0;
    case 3: return s[from] === 115 && s[from + 1] === 101 && s[from + 2] === 113 ? SEQ : 0;
    case 4:
      if (isWord(s, from, to, KIND_KEY)) return KIND;
      if (isWord(s, from, to, FROM_KEY)) return FROM;
      return isWord(s, from, to, LINE_KEY) ? LINE : 0;
    case 5: return isWord(s, from, to, CAUSE_KEY) ? CAUSE : 0;
    default: return 0;
  }
}

const KIND_KEY = bytesOf("kind");
const FROM_KEY = bytesOf("from");
const LINE_KEY = bytesOf("line");
const CAUSE_KEY = bytesOf("cause");

function isSpace(c) {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/** The pieces one after the other, in one new array. */
function concat(pieces) {
  let n = 0;
  for (const p of pieces) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function taskTable(tasks) {
  const table = new Map();
  for (const task of Array.isArray(tasks) ? tasks : []) table.set(task?.id, task);
  return table;
}

/** Index of the quote closing the string that opens at `i`, or -1 if `s` ends first. */
function stringEnd(s, i, n) {
  for (let j = i + 1; j < n; j++) {
    const c = s[j];
    if (c === QUOTE) return j;
    if (c === BACKSLASH) j++;
  }
  return -1;
}

/**
 * The end of the JSON value that starts at `i` (just after it), or -1 if `s` ends
 * first. Not a check of the value: JSON.parse does that; this finds where it stops.
 */
function valueEnd(s, i, n) {
  let depth = 0;
  for (let k = i; k < n; k++) {
    const c = s[k];
    if (c === QUOTE) {
      k = stringEnd(s, k, n);
      if (k < 0) return -1;
      if (depth === 0) return k + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 0) return k; // the array's `]` (or a stray `}`): the value ends
      depth--;
      if (depth === 0) return k + 1;
    } else if (depth === 0 && (c === COMMA || isSpace(c))) {
      return k;
    }
  }
  return -1;
}

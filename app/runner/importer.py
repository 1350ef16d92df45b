"""A child process that reads a trace file for the server: ``python -m coroscope.runner.importer
SPEC`` (``app.runner.importer`` in a checkout).

Parsing and checking a trace is the server's most expensive request (a 178 MB file is
2M events): done on the server's event loop it froze every other request for minutes.
Here it runs in its own process, bounded like a demo run (time, memory), and speaks
the demo child's protocol on its events pipe, so the server relays it with the same
code and the page sees the rows arrive:

``{"type": "hello", "pid": ..., "python": ...}``
``{"type": "trace", "version": V, "run": {...}, "tasks": [...]}``  (header checked; a long
task table goes on in ``{"type": "tasks", "tasks": [...]}`` frames)
``{"type": "events", "seq": S, "n": N, "rows": [...]}``  (as many as needed)
``{"type": "done", "status": "imported"}`` or ``{"type": "done", "status": "refused",
"error": "events[12].kind: ..."}``

Events are checked while they are turned into rows (checker.py), so a file that goes
bad at its millionth event has had its first rows relayed: the server keeps nothing of
a refused import.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import orjson

from ..files import MAX_TRACE_BYTES, NAMED_FLAGS, Refused, read_regular, unpack_trace
from ..tracer.checker import TraceError, check_header, iter_rows
from .child import EventPipe, apply_limits
from .protocol import Spec

TASKS_PER_FRAME = 2000


def stream_trace(trace: Any, pipe: EventPipe, batch_rows: int) -> None:
    """Check ``trace`` and send its header and rows on ``pipe`` (raises TraceError)."""
    version = check_header(trace)
    # The task table in frames of TASKS_PER_FRAME: a run can have hundreds of thousands
    # of tasks, and the server parses these frames (not the event batches) on its loop.
    tasks = trace["tasks"]
    pipe.frame({"type": "trace", "version": version, "run": trace["run"],
                "tasks": tasks[:TASKS_PER_FRAME]})
    for i in range(TASKS_PER_FRAME, len(tasks), TASKS_PER_FRAME):
        pipe.frame({"type": "tasks", "tasks": tasks[i:i + TASKS_PER_FRAME]})
    rows: list[Any] = []
    seq = 0
    for row in iter_rows(trace):
        rows.append(row)
        if len(rows) == batch_rows:
            pipe.batch(seq, rows, batch_rows)
            seq += len(rows)
            rows = []
    if rows:
        pipe.batch(seq, rows, batch_rows)


def run(spec: Spec) -> int:
    pipe = EventPipe(spec.events_fd)
    apply_limits(spec)
    pipe.frame({"type": "hello", "pid": os.getpid(), "python": sys.version.split()[0]})
    try:
        try:  # a FIFO would wait for a writer for ever; /dev/zero never ends
            data = read_regular(spec.file, MAX_TRACE_BYTES, NAMED_FLAGS, name="the file")
        except OSError as exc:
            raise TraceError(f"cannot read it: {exc.strerror or exc}") from None
        try:
            data = unpack_trace(data, "the file")  # a .json.gz, by its first bytes
        except Refused as exc:
            raise TraceError(exc.strerror) from None
        if not data.strip():
            raise TraceError("empty file: it holds no trace")
        try:
            trace = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise TraceError(f"not JSON: {exc}") from None
        del data
        stream_trace(trace, pipe, spec.batch_rows)
    except TraceError as exc:
        pipe.frame({"type": "done", "status": "refused", "error": str(exc)})
        return 0
    except MemoryError:
        mib = spec.max_memory_bytes >> 20
        pipe.frame({"type": "done", "status": "refused",
                    "error": f"too big to import within {mib} MiB of memory"})
        return 0
    pipe.frame({"type": "done", "status": "imported"})
    return 0


def main() -> None:
    code = run(Spec.from_json(sys.argv[1]))
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

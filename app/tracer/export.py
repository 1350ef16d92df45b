"""Writing a run's trace: the native export and the Chrome Trace Event format.

Both writers read the stored event batches (the bytes the child wrote) and produce
the file in pieces, one batch at a time (:func:`native_trace_chunks`,
:func:`chrome_trace_chunks`): the server streams a download and the CLI writes a
file without ever holding the whole trace as Python objects.

:func:`chrome_trace_chunks` writes Trace Event Format JSON that ui.perfetto.dev and
chrome://tracing open. The mapping:

=========================  ==================================================================
coroscope                  Trace Event Format
=========================  ==================================================================
the run                    process ``pid 1``, named by an ``M`` ``process_name`` event
a task                     thread ``tid = task id + 1``, named by ``M`` ``thread_name``
                           (``name [Dummy-1]``), ordered by ``thread_sort_index``
a running span             ``X`` complete event ``"running"`` from switch-in to switch-out
a switch A -> B            a zero-length ``X`` ``"switch -> B"`` on A (args: line, kind) and
                           a flow ``s`` (on A) / ``f`` (on B, ``bp: "e"``) pair, same ``id``,
                           so the arrow shows
a block span               ``X`` ``"blocked: time.sleep(2)"`` (category ``block``); the busy
                           watcher's ``"computing: no switch in f() line 9"`` (``compute``)
a printed line             instant event ``i`` (thread scope) named by the text, ``args.text``
a warning                  instant event ``i`` ``"warning: ..."`` (category ``warning``)
=========================  ==================================================================

Timestamps are microseconds (floats keep the nanoseconds). Events are written in the
order they become known, not sorted (see :func:`chrome_trace_chunks`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from ..spans import SpanModel, is_computing
from .events import (
    FORMAT,
    MARK,
    SPAWN,
    STDOUT,
    SWITCH,
    TASKINFO,
    THROW,
    VERSION,
    WARNING,
    batch_header,
    encode_batch,
    json_bytes,
    row_to_event,
)

try:  # the C spelling of stored batches (setup.py builds it when a compiler is there)
    from . import _wire
    from ._hook import RowBuffer as _RowBuffer
    from ._hook import rows_api as _rows_api
except ImportError:  # pragma: no cover - exercised where the build failed
    _wire = _RowBuffer = _rows_api = None

PID = 1
# A row that starts a task record or adds to one: ``[t,2,`` (spawn) or ``[t,7,`` (taskinfo).
# A printed text may look like one too: that batch is just read for nothing.
_TASK_ROW = re.compile(rb"\[\d+,[27],")


#: Rows turned into one piece of a download: 2,500 rows is ~7 ms of work for the Chrome
#: format (three or four trace events a switch), ~2 ms for the native one.
STEP_ROWS = 2500


def _rows(batches: Iterable[bytes], pause: Callable[[], None] | None) -> Iterator[list[Any]]:
    """The rows of ``batches`` in slices of at most STEP_ROWS; ``pause`` after each."""
    for batch in batches:
        rows = orjson.loads(batch)["rows"]
        for i in range(0, len(rows), STEP_ROWS):
            yield rows[i:i + STEP_ROWS]
            if pause is not None:
                pause()


class TaskTable:
    """The ``tasks`` table of a native export, built from rows as they come: every spawn
    record in order, with what ``taskinfo`` rows added to it."""

    def __init__(self) -> None:
        self.tasks: list[dict[str, Any]] = []
        self._by_id: dict[int, dict[str, Any]] = {}

    def feed(self, rows: list[list[Any]]) -> None:
        for row in rows:
            kind = row[1]
            if kind == SPAWN:
                record = row[4]
                task = {"id": row[2], "name": record["name"], "kind": record["kind"],
                        "parent": row[3], "spawned_at": row[0]}
                for key in ("args", "thread"):
                    if key in record:
                        task[key] = record[key]
                self.tasks.append(task)
                self._by_id[task["id"]] = task
            elif kind == TASKINFO and row[2] in self._by_id:
                self._by_id[row[2]].update(row[4])


def tasks_of(batches: Sequence[bytes], pause: Callable[[], None] | None = None
             ) -> list[dict[str, Any]]:
    """The ``tasks`` table of ``batches``; only batches that hold such rows are parsed."""
    table = TaskTable()
    for rows in _rows((b for b in batches if _TASK_ROW.search(b)), pause):
        table.feed(rows)
    return table.tasks


def _events_piece(seq: int, rows: list[list[Any]]) -> bytes:
    """``rows`` as export objects from ``seq`` on, comma-joined without brackets: a piece
    of the ``events`` array. Switch rows, nearly all of a run, are spelled inline (the
    same objects :func:`row_to_event` makes, without a call each)."""
    events = []
    append = events.append
    for i, row in enumerate(rows, seq):
        if row[1] == SWITCH:
            append({"seq": i, "t": row[0], "kind": "switch", "from": row[2], "to": row[3],
                    "line": row[4], "cause": row[5] if len(row) > 5 else None})
        else:
            append(row_to_event(i, row))
    return orjson.dumps(events)[1:-1]


def _event_bytes(seq: int, raw: bytes) -> bytes:
    """One row (its JSON) as its export object's JSON: what the C reader hands back."""
    return _events_piece(seq, [orjson.loads(raw)])


def _batch_piece(batch: bytes, seq: int, other: Callable[[int, bytes], bytes]
                 ) -> tuple[bytes, int] | None:
    """``(piece, rows)`` of one stored batch from ``seq`` on, read by the C reader
    (``_wire.events_piece``: the same bytes as :func:`_events_piece` of its rows); None
    where it is not built, or for a batch it does not take."""
    if _wire is None or os.environ.get("COROSCOPE_PURE_PYTHON"):
        return None
    return _wire.events_piece(batch, seq, other)


def _head(run: dict[str, Any], events: int, version: int) -> bytes:
    """The export up to and including ``"tasks":[``."""
    return orjson.dumps({"format": FORMAT, "version": version,
                         "run": dict(run, events=events), "tasks": []})[:-2]


def native_trace_chunks(run: dict[str, Any], batches: Sequence[bytes], *,
                        tasks: list[dict[str, Any]] | None = None, version: int = VERSION,
                        pause: Callable[[], None] | None = None) -> Iterator[bytes]:
    """The native export (``coroscope.trace``) of ``batches``, in pieces of one batch.

    Joined, the pieces are byte for byte ``orjson.dumps`` of the whole export (the
    ``run`` metadata, ``tasks``, then ``events``), but no more than one batch of
    events is ever held as Python objects: a 2M-event export costs the memory of its
    stored batches, not a gigabyte. ``tasks`` (an import keeps its file's) saves a
    pass; ``pause`` is called between batches (the server yields to other requests).
    """
    events = sum(batch_header(b)[1] for b in batches)
    if tasks is None:
        tasks = tasks_of(batches, pause)
    yield _head(run, events, version)
    yield from _task_pieces(tasks, pause)
    yield b'],"events":['
    seq = 0
    for batch in batches:
        got = _batch_piece(batch, seq, _event_bytes)
        if got is None:  # in Python, a slice of STEP_ROWS rows at a time
            for rows in _rows((batch,), pause):
                if rows:
                    piece = _events_piece(seq, rows)
                    yield piece if seq == 0 else b"," + piece
                    seq += len(rows)
            continue
        piece, n = got
        if n:
            yield piece if seq == 0 else b"," + piece
            seq += n
        if pause is not None:
            pause()
    yield b"]}"


def _task_pieces(tasks: list[dict[str, Any]], pause: Callable[[], None] | None
                 ) -> Iterator[bytes]:
    for i in range(0, len(tasks), STEP_ROWS):  # a run may have hundreds of thousands
        piece = orjson.dumps(tasks[i:i + STEP_ROWS])[1:-1]
        yield piece if i == 0 else b"," + piece
        if pause is not None:
            pause()


class NativeWriter:
    """The native export written while the run goes on (``coroscope run``): each batch is
    turned into its piece of the ``events`` array as it arrives, on the command's own
    core while the traced program runs on the other, and the pieces wait in an unlinked
    temporary file; at the end only the head and the task table are left to write.
    :meth:`chunks` gives, byte for byte, what :func:`native_trace_chunks` gives for the
    same batches."""

    #: Rows spelled and written at a time by :meth:`write_rows` (about 1 MB).
    WRITE_ROWS = 8192

    def __init__(self) -> None:
        import tempfile

        # Unbuffered: write_rows() writes to its descriptor from C, between feed()'s.
        self._body = tempfile.TemporaryFile(buffering=0)  # noqa: SIM115 (lives with the writer)
        self.table = TaskTable()
        self.events = 0

    @staticmethod
    def takes(rows: Any) -> bool:
        """Whether :meth:`write_rows` can take rows out of ``rows`` (the C hook's
        RowBuffer, with the C writer built and not turned off)."""
        return (_wire is not None and type(rows) is _RowBuffer
                and not os.environ.get("COROSCOPE_PURE_PYTHON"))

    def write_rows(self, seq: int, rows: Any, limit: int) -> tuple[int, int, int]:
        """Take at most about ``limit`` of the oldest rows out of ``rows`` (a RowBuffer,
        see :meth:`takes`; ``seq``: the first one's) and write them as events: the
        packed switches spelled in C with the GIL let go, without a tuple or a batch
        line (``_wire.write_events``), byte for byte what :meth:`feed` makes of their
        batch. ``(rows taken, GIL let go at, taken back at)``."""
        if seq != self.events:
            raise ValueError(f"rows from seq {seq} after {self.events} events")
        got = _wire.write_events(_rows_api, rows, self._body.fileno(), seq, limit,
                                 self.WRITE_ROWS, self._row_event)
        self.events += got[0]
        return got

    def _row_event(self, seq: int, row: tuple[Any, ...]) -> bytes:
        """A row :meth:`write_rows` does not spell in C, as :meth:`feed` spells it."""
        return self._other_row(seq, json_bytes(row))

    def feed(self, batch: bytes) -> None:
        got = _batch_piece(batch, self.events, self._other_row)
        if got is not None:
            piece, n = got
            if n:
                self._body.write(piece if self.events == 0 else b"," + piece)
                self.events += n
            return
        rows = orjson.loads(batch)["rows"]
        if not rows:
            return
        if _TASK_ROW.search(batch):
            self.table.feed(rows)
        piece = _events_piece(self.events, rows)
        self._body.write(piece if self.events == 0 else b"," + piece)
        self.events += len(rows)

    def _other_row(self, seq: int, raw: bytes) -> bytes:
        """A row the C reader does not spell (anything but a plain switch): a spawn or a
        taskinfo also goes to the task table, in the order of the rows."""
        rows = [orjson.loads(raw)]
        self.table.feed(rows)
        return _events_piece(seq, rows)

    def chunks(self, run: dict[str, Any], version: int = VERSION) -> Iterator[bytes]:
        yield _head(run, self.events, version)
        yield from _task_pieces(self.table.tasks, None)
        yield b'],"events":['
        self._body.seek(0)
        while chunk := self._body.read(1 << 20):
            yield chunk
        yield b"]}"

    def close(self) -> None:
        self._body.close()


def native_trace(run: dict[str, Any], rows: Iterable[Any]) -> dict[str, Any]:
    """The native export of ``rows`` as one object (small traces, tests)."""
    rows = list(rows)
    batches = [encode_batch(0, rows)] if rows else []
    return orjson.loads(b"".join(native_trace_chunks(run, batches)))


def _us(ns: int) -> float:
    return ns / 1000.0


def chrome_trace_chunks(run: dict[str, Any], batches: Sequence[bytes], *,
                        tasks: list[dict[str, Any]] | None = None,
                        pause: Callable[[], None] | None = None) -> Iterator[bytes]:
    """The Chrome Trace Event export of ``batches``, in pieces of one batch (see the
    mapping in the module docstring); memory bounded as for :func:`native_trace_chunks`.

    Events come in the order they are known: a running or blocked span is written when
    it ends, after what its track showed meanwhile. The format does not ask for any
    order ("the events do not have to be in timestamp-sorted order") and Perfetto and
    chrome://tracing sort them; writing them sorted would mean holding them all.
    """
    if tasks is None:
        tasks = tasks_of(batches, pause)
    end_ns = run.get("duration_ns") or 0
    if batches:  # a run still going, or cut short: its last row says how far it got
        last = orjson.loads(batches[-1])["rows"]
        end_ns = max([end_ns] + [row[0] for row in last])
    title = run.get("title") or run.get("demo") or "run"
    meta: list[dict[str, Any]] = [
        {"ph": "M", "pid": PID, "name": "process_name", "args": {"name": f"coroscope: {title}"}},
    ]
    yield b'{"traceEvents":' + orjson.dumps(meta)[:-1]
    names: dict[int, str] = {}
    # main, then the Hub or asyncio's event loop, then every other task in the table's
    # order (spawn order): one pass, where sorting hundreds of thousands of tasks would
    # hold the server's loop.
    ordered = ([t for t in tasks if t["kind"] == "main"]
               + [t for t in tasks if t["kind"] in ("hub", "loop")]
               + [t for t in tasks if t["kind"] not in ("main", "hub", "loop")])
    for start in range(0, len(ordered), STEP_ROWS):  # a run may have hundreds of thousands
        meta = []
        for i, task in enumerate(ordered[start:start + STEP_ROWS], start):
            names[task["id"]] = task["name"]
            label = task["name"] + (f" [{task['thread']}]" if task.get("thread") else "")
            meta.append({"ph": "M", "pid": PID, "tid": task["id"] + 1, "name": "thread_name",
                         "args": {"name": f"{label} #{task['id']}"}})
            meta.append({"ph": "M", "pid": PID, "tid": task["id"] + 1,
                         "name": "thread_sort_index", "args": {"sort_index": i}})
        yield b"," + orjson.dumps(meta)[1:-1]
        if pause is not None:
            pause()

    # The spans come from the one model of a run (spans.py), as they close.
    out: list[dict[str, Any]] = []

    def running(task: int, since: int, until: int) -> None:
        out.append({"ph": "X", "pid": PID, "tid": task + 1, "name": "running",
                    "cat": "run", "ts": _us(since), "dur": _us(until - since)})

    def blocked(task: int, since: int, until: int, call: str) -> None:
        if is_computing(call):  # the busy watcher's: running without a switch
            cat, name = "compute", f"computing: {call.removeprefix('busy: ')}"
        else:
            cat, name = "block", f"blocked: {call}"
        out.append({"ph": "X", "pid": PID, "tid": task + 1, "cat": cat, "name": name,
                    "ts": _us(since), "dur": _us(until - since)})

    model = SpanModel(main_running=any(t["id"] == 0 for t in tasks))
    model.on_running, model.on_blocked = running, blocked
    seq = 0
    for rows in _rows(batches, pause):
        append = out.append
        for row in rows:
            model.feed(row)
            kind, t = row[1], row[0]
            if kind == SWITCH or kind == THROW:
                name = "switch" if kind == SWITCH else "throw"
                src, dst = row[2], row[3]
                append({"ph": "X", "pid": PID, "tid": src + 1, "cat": name,
                        "name": f"{name} -> {names.get(dst, str(dst))}", "ts": _us(t), "dur": 0,
                        "args": {"line": row[4], "seq": seq}})
                append({"ph": "s", "pid": PID, "tid": src + 1, "cat": name, "name": name,
                        "id": seq, "ts": _us(t)})
                append({"ph": "f", "pid": PID, "tid": dst + 1, "cat": name, "name": name,
                        "id": seq, "ts": _us(t), "bp": "e"})
            elif kind == STDOUT:
                append({"ph": "i", "pid": PID, "tid": row[2] + 1, "s": "t",
                        "cat": "stdout", "name": row[4][:80] or "(empty line)",
                        "ts": _us(t), "args": {"text": row[4]}})
            elif kind == MARK:
                append({"ph": "i", "pid": PID, "tid": row[2] + 1, "s": "g",
                        "cat": "mark", "name": row[4], "ts": _us(t)})
            elif kind == WARNING:
                append({"ph": "i", "pid": PID, "tid": row[2] + 1, "s": "t",
                        "cat": "warning", "name": f"warning: {row[4][:80]}", "ts": _us(t),
                        "args": {"text": row[4]}})
            seq += 1
        if out:
            yield b"," + orjson.dumps(out)[1:-1]
            out.clear()
    model.close(end_ns)  # still running, still blocked when the run ended
    other = {"coroscope_run": run.get("id"), "demo": run.get("demo"),
             "status": run.get("status"), "started_at": run.get("started_at")}
    yield ((b"," + orjson.dumps(out)[1:-1] if out else b"") + b'],"displayTimeUnit":"ms",'
           b'"otherData":' + orjson.dumps(other) + b"}")


def to_chrome_trace(trace: dict[str, Any]) -> dict[str, Any]:
    """The Chrome Trace Event export of a native trace object (small traces, tests)."""
    from .checker import iter_rows

    rows = list(iter_rows(trace))
    batches = [encode_batch(0, rows)] if rows else []
    return orjson.loads(b"".join(chrome_trace_chunks(trace["run"], batches,
                                                     tasks=trace["tasks"])))


# -- reading a native trace back ------------------------------------------------------
# (checked in one pass, see checker.py; these names stay importable from here)

from .checker import TraceError, check_trace  # noqa: E402,F401

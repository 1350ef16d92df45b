"""Exports of a native trace (``coroscope.trace`` v1): the Chrome Trace Event format.

:func:`to_chrome_trace` turns a native export into Trace Event Format JSON that
ui.perfetto.dev and chrome://tracing open. The mapping:

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
a block span               ``X`` ``"blocked: time.sleep(2)"`` (category ``block``)
a printed line             instant event ``i`` (thread scope) named by the text, ``args.text``
=========================  ==================================================================

Timestamps are microseconds (floats keep the nanoseconds). Within each thread the
events are sorted by ``ts``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .events import FORMAT, SPAWN, TASKINFO, VERSION, row_to_event

PID = 1


def native_trace(run: dict[str, Any], rows: Iterable[Any]) -> dict[str, Any]:
    """The native export (``coroscope.trace``) of ``rows``, with ``run`` as its metadata.

    ``tasks`` repeats every spawn record, with what ``taskinfo`` rows added to it.
    """
    events: list[dict[str, Any]] = []
    tasks: list[dict[str, Any]] = []
    by_id: dict[int, dict[str, Any]] = {}
    for seq, row in enumerate(rows):
        kind = row[1]
        if kind == SPAWN:
            record = row[4]
            task = {"id": row[2], "name": record["name"], "kind": record["kind"],
                    "parent": row[3], "spawned_at": row[0]}
            for key in ("args", "thread"):
                if key in record:
                    task[key] = record[key]
            tasks.append(task)
            by_id[task["id"]] = task
        elif kind == TASKINFO and row[2] in by_id:
            by_id[row[2]].update(row[4])
        events.append(row_to_event(seq, row))
    return {"format": FORMAT, "version": VERSION, "run": dict(run, events=len(events)),
            "tasks": tasks, "events": events}


def _us(ns: int) -> float:
    return ns / 1000.0


def to_chrome_trace(trace: dict[str, Any]) -> dict[str, Any]:
    run = trace["run"]
    tasks = {t["id"]: dict(t) for t in trace["tasks"]}
    for e in trace["events"]:  # thread names learned after the spawn
        if e["kind"] == "taskinfo" and e["task"] in tasks:
            tasks[e["task"]]["thread"] = e["thread"]
    end_ns = max([run.get("duration_ns") or 0] + [e["t"] for e in trace["events"]] + [0])
    title = run.get("title") or run.get("demo") or "run"
    meta: list[dict[str, Any]] = [
        {"ph": "M", "pid": PID, "name": "process_name", "args": {"name": f"coroscope: {title}"}},
    ]
    order = {"main": 0, "hub": 1}
    for i, task in enumerate(sorted(tasks.values(),
                                    key=lambda t: (order.get(t["kind"], 2), t["id"]))):
        label = task["name"] + (f" [{task['thread']}]" if task.get("thread") else "")
        meta.append({"ph": "M", "pid": PID, "tid": task["id"] + 1, "name": "thread_name",
                     "args": {"name": f"{label} #{task['id']}"}})
        meta.append({"ph": "M", "pid": PID, "tid": task["id"] + 1,
                     "name": "thread_sort_index", "args": {"sort_index": i}})

    events: list[dict[str, Any]] = []
    running: dict[int, int] = {}  # task -> since (ns)
    blocks: dict[int, dict[str, Any]] = {}
    if 0 in tasks:
        running[0] = 0

    def close_span(task: int, t: int) -> None:
        since = running.pop(task, None)
        if since is not None:
            events.append({"ph": "X", "pid": PID, "tid": task + 1, "name": "running",
                           "cat": "run", "ts": _us(since), "dur": _us(t - since)})

    for e in trace["events"]:
        kind, t = e["kind"], e["t"]
        if kind in ("switch", "throw"):
            src, dst = e["from"], e["to"]
            close_span(src, t)
            name = tasks.get(dst, {}).get("name", str(dst))
            events.append({"ph": "X", "pid": PID, "tid": src + 1, "cat": kind,
                           "name": f"{kind} -> {name}", "ts": _us(t), "dur": 0,
                           "args": {"line": e.get("line"), "seq": e["seq"]}})
            events.append({"ph": "s", "pid": PID, "tid": src + 1, "cat": kind, "name": kind,
                           "id": e["seq"], "ts": _us(t)})
            events.append({"ph": "f", "pid": PID, "tid": dst + 1, "cat": kind, "name": kind,
                           "id": e["seq"], "ts": _us(t), "bp": "e"})
            running[dst] = t
        elif kind == "stdout":
            events.append({"ph": "i", "pid": PID, "tid": e["task"] + 1, "s": "t",
                           "cat": "stdout", "name": e["text"][:80] or "(empty line)",
                           "ts": _us(t), "args": {"text": e["text"]}})
        elif kind == "mark":
            events.append({"ph": "i", "pid": PID, "tid": e["task"] + 1, "s": "g",
                           "cat": "mark", "name": e["text"], "ts": _us(t)})
        elif kind == "block":
            blocks[e["task"]] = e
        elif kind == "unblock" and e["task"] in blocks:
            b = blocks.pop(e["task"])
            events.append({"ph": "X", "pid": PID, "tid": e["task"] + 1, "cat": "block",
                           "name": f"blocked: {b['call']}", "ts": _us(b["since"]),
                           "dur": _us(t - b["since"])})
    for task in list(running):
        close_span(task, end_ns)
    for task, b in blocks.items():  # still blocked when the run ended
        events.append({"ph": "X", "pid": PID, "tid": task + 1, "cat": "block",
                       "name": f"blocked: {b['call']}", "ts": _us(b["since"]),
                       "dur": _us(end_ns - b["since"])})
    # Per thread, in time order; an X before the instant/flow at the same ts.
    rank = {"X": 0, "s": 1, "f": 2, "i": 3}
    events.sort(key=lambda ev: (ev["tid"], ev["ts"], rank[ev["ph"]]))
    return {
        "traceEvents": meta + events,
        "displayTimeUnit": "ms",
        "otherData": {"coroscope_run": run.get("id"), "demo": run.get("demo"),
                      "status": run.get("status"), "started_at": run.get("started_at")},
    }


# -- reading a native trace back ------------------------------------------------------

class TraceError(ValueError):
    """A file is not a valid coroscope trace; the message says where and why."""


def _schema() -> dict[str, Any]:
    import json
    from pathlib import Path

    return json.loads((Path(__file__).parent / "trace.schema.json").read_text())


def _where(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the file"


def check_trace(trace: Any) -> dict[str, Any]:
    """Return ``trace`` if it is a native trace this version can read; else raise TraceError.

    Checks, in order: the format marker, the version, the JSON Schema (the first error,
    named by its path, e.g. ``events[12].kind``), gapless ``seq``, and that every event
    names a task that exists.
    """
    if not isinstance(trace, dict):
        raise TraceError(f"not a coroscope trace: the file holds a JSON "
                         f"{type(trace).__name__}, not an object")
    if trace.get("format") != FORMAT:
        raise TraceError(f"not a coroscope trace: \"format\" is {trace.get('format')!r}, "
                         f"expected {FORMAT!r}")
    version = trace.get("version")
    if not isinstance(version, int) or version < 1:
        raise TraceError(f"\"version\" must be a positive integer, got {version!r}")
    if version > VERSION:
        raise TraceError(f"this trace is version {version}; this coroscope reads versions "
                         f"up to {VERSION}: upgrade coroscope to open it")
    import jsonschema

    validator = jsonschema.Draft202012Validator(_schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(trace))
    if error is not None:
        raise TraceError(f"{_where(error.absolute_path)}: {error.message}")
    tasks = {t["id"] for t in trace["tasks"]}
    for i, event in enumerate(trace["events"]):
        if event["seq"] != i:
            raise TraceError(f"events[{i}].seq is {event['seq']}, expected {i}: "
                             "events must be complete and in order")
        for key in ("from", "to", "task"):
            if key in event and event[key] not in tasks:
                raise TraceError(f"events[{i}].{key} names task {event[key]}, "
                                 "which is not in \"tasks\"")
    if trace["run"]["events"] != len(trace["events"]):
        raise TraceError(f"run.events says {trace['run']['events']} but the file holds "
                         f"{len(trace['events'])} events")
    return trace

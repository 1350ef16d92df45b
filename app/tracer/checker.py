"""Reading a native trace file back: checked and turned into rows in one pass.

A trace file is untrusted input: a file a classmate sent, a trace written by another
version, or something that is not a trace at all. :func:`read_trace` checks the
header (format, version, run, tasks) and then every event exactly as
``trace.schema.json`` describes it, while it turns each event into its wire row (see
events.py). The first problem found is raised as :class:`TraceError`, named by its
path in the file (``events[12].kind: ...``), so a user knows where to look.

Why not the JSON Schema validator: checking a 52 MB trace with ``jsonschema`` took
168 s against 0.9 s to parse it. The schema stays the documentation and the tests
check that a valid trace passes both; this one pass costs about what building the
rows costs anyway (see docs/trace-format.md, "Reading a trace back").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .events import (
    BLOCK,
    FINISH,
    FORMAT,
    KIND_CODES,
    KIND_NAMES,
    KINDS,
    RUN_STATUSES,
    SPAWN,
    SWITCH,
    TASK_KINDS,
    TEXT_KINDS,
    THROW,
    UNBLOCK,
    VERSION,
)


class TraceError(ValueError):
    """A file is not a valid coroscope trace; the message says where and why."""


#: The keys each kind's event may carry besides seq, t and kind: (required, optional).
_EVENT_KEYS: dict[int, tuple[frozenset[str], frozenset[str]]] = {
    k.code: (frozenset(k.fields) - k.optional, k.optional) for k in KINDS}
_BASE = frozenset({"seq", "t", "kind"})
_ALLOWED = {kind: _BASE | req | opt for kind, (req, opt) in _EVENT_KEYS.items()}
# (The fast path in iter_rows counts keys instead: keep its len() checks in step.)
_REQUIRED = {kind: _BASE | req for kind, (req, _) in _EVENT_KEYS.items()}
_TASK_KEYS = frozenset({"id", "name", "kind", "parent", "spawned_at", "args", "thread"})
_TASK_REQUIRED = ("id", "name", "kind", "parent", "spawned_at")
_RUN_REQUIRED = ("id", "demo", "params", "status", "started_at", "duration_ns", "events")


def _is_count(value: Any) -> bool:
    """A JSON integer >= 0 (``true`` is not one, nor is ``1e3``)."""
    return type(value) is int and value >= 0


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", int: "integer", float: "number",
            bool: "boolean", type(None): "null"}.get(type(value), type(value).__name__)


def _need(ok: bool, where: str, what: str, value: Any) -> None:
    if not ok:
        raise TraceError(f"{where}: {value!r} is not {what}"
                         if not isinstance(value, dict | list)
                         else f"{where}: a JSON {_type_name(value)} is not {what}")


def check_header(trace: Any) -> int:
    """Check everything but the events; return the file's version."""
    if not isinstance(trace, dict):
        raise TraceError(f"not a coroscope trace: the file holds a JSON "
                         f"{_type_name(trace)}, not an object")
    if trace.get("format") != FORMAT:
        raise TraceError(f"not a coroscope trace: \"format\" is {trace.get('format')!r}, "
                         f"expected {FORMAT!r}")
    version = trace.get("version")
    if type(version) is not int or version < 1:
        raise TraceError(f"\"version\" must be a positive integer, got {version!r}")
    if version > VERSION:
        raise TraceError(f"this trace is version {version}; this coroscope reads versions "
                         f"up to {VERSION}: it was written by a newer coroscope, "
                         "upgrade coroscope to open it")
    for key in ("run", "tasks", "events"):
        if key not in trace:
            raise TraceError(f"the file: {key!r} is a required property")
    _check_run(trace["run"])
    _check_tasks(trace["tasks"])
    if not isinstance(trace["events"], list):
        raise TraceError(f"events: a JSON {_type_name(trace['events'])} is not an array")
    return version


def _check_run(run: Any) -> None:
    _need(isinstance(run, dict), "run", "an object", run)
    for key in _RUN_REQUIRED:
        if key not in run:
            raise TraceError(f"run: {key!r} is a required property")
    _need(isinstance(run["id"], str), "run.id", "a string", run["id"])
    _need(run["demo"] is None or isinstance(run["demo"], str), "run.demo",
          "a string or null", run["demo"])
    if "title" in run:
        _need(isinstance(run["title"], str), "run.title", "a string", run["title"])
    _need(isinstance(run["params"], dict), "run.params", "an object", run["params"])
    if run["status"] not in RUN_STATUSES or not isinstance(run["status"], str):
        raise TraceError(f"run.status: {run['status']!r} is not one of "
                         f"{list(RUN_STATUSES)!r}")
    if "error" in run:
        _need(run["error"] is None or isinstance(run["error"], str), "run.error",
              "a string or null", run["error"])
    _need(isinstance(run["started_at"], str), "run.started_at", "a string",
          run["started_at"])
    _need(run["duration_ns"] is None or _is_count(run["duration_ns"]), "run.duration_ns",
          "an integer >= 0 or null", run["duration_ns"])
    _need(_is_count(run["events"]), "run.events", "an integer >= 0", run["events"])
    if "python" in run:
        _need(run["python"] is None or isinstance(run["python"], str), "run.python",
              "a string or null", run["python"])
    if "source" in run:
        source = run["source"]
        _need(isinstance(source, dict), "run.source", "an object", source)
        for key in ("file", "text"):
            if key not in source:
                raise TraceError(f"run.source: {key!r} is a required property")
            _need(isinstance(source[key], str), f"run.source.{key}", "a string", source[key])


def _check_tasks(tasks: Any) -> None:
    _need(isinstance(tasks, list), "tasks", "an array", tasks)
    for i, task in enumerate(tasks):
        where = f"tasks[{i}]"
        _need(isinstance(task, dict), where, "an object", task)
        for key in _TASK_REQUIRED:
            if key not in task:
                raise TraceError(f"{where}: {key!r} is a required property")
        extra = task.keys() - _TASK_KEYS
        if extra:
            raise TraceError(f"{where}: unexpected property {sorted(extra)[0]!r}")
        _need(_is_count(task["id"]), f"{where}.id", "an integer >= 0", task["id"])
        _need(isinstance(task["name"], str) and task["name"] != "", f"{where}.name",
              "a non-empty string", task["name"])
        _need(task["kind"] in TASK_KINDS and isinstance(task["kind"], str), f"{where}.kind",
              f"one of {list(TASK_KINDS)!r}", task["kind"])
        _need(task["parent"] is None or _is_count(task["parent"]), f"{where}.parent",
              "an integer >= 0 or null", task["parent"])
        _need(_is_count(task["spawned_at"]), f"{where}.spawned_at", "an integer >= 0",
              task["spawned_at"])
        for key in ("args", "thread"):
            if key in task:
                _need(isinstance(task[key], str), f"{where}.{key}", "a string", task[key])


def iter_rows(trace: dict[str, Any]) -> Iterator[list[Any]]:
    """The wire row of every event, in order, each checked first (see module docstring).

    ``trace`` must have passed :func:`check_header`. Events are checked as they are
    reached: a consumer that stops early has checked only what it read.
    """
    tasks = {t["id"]: t for t in trace["tasks"]}
    records: dict[int, dict[str, Any]] = {}
    for tid, task in tasks.items():
        record = {"name": task["name"], "kind": task["kind"]}
        for key in ("args", "thread"):
            if task.get(key):
                record[key] = task[key]
        records[tid] = record
    codes = KIND_CODES
    for i, e in enumerate(trace["events"]):
        # The fast path reads what a well-formed event has and checks its types; any
        # surprise (a missing or extra key, a wrong type) goes to _diagnose, which
        # finds the first problem and raises it. Every check is made either way.
        try:
            kind = codes[e["kind"]]
            t = e["t"]
            if (e["seq"] != i or type(t) is not int or t < 0 or type(e["seq"]) is not int):
                _diagnose(i, e, tasks)
            if kind == SWITCH or kind == THROW:
                a, b, line = e["from"], e["to"], e["line"]
                cause = e.get("cause")
                if (len(e) != 6 + ("cause" in e) or type(a) is not int or a not in tasks
                        or type(b) is not int or b not in tasks
                        or (line is not None and (type(line) is not int or line < 1))
                        or (cause is not None and type(cause) is not str)):
                    _diagnose(i, e, tasks)
                yield [t, kind, a, b, line, cause]
                continue
            task = e["task"]
            if type(task) is not int or task not in tasks:
                _diagnose(i, e, tasks)
            if kind in TEXT_KINDS:
                text = e["text"]
                if len(e) != 5 or type(text) is not str:
                    _diagnose(i, e, tasks)
                yield [t, kind, task, None, text]
            elif kind == FINISH or kind == UNBLOCK:
                if len(e) != 4:
                    _diagnose(i, e, tasks)
                yield [t, kind, task, None, None]
            elif kind == SPAWN:
                parent = e["parent"]
                if len(e) != 5 or (parent is not None and not _is_count(parent)):
                    _diagnose(i, e, tasks)
                yield [t, kind, task, parent, records[task]]
            elif kind == BLOCK:
                call, since = e["call"], e["since"]
                if len(e) != 6 or type(call) is not str or not _is_count(since):
                    _diagnose(i, e, tasks)
                yield [t, kind, task, None, {"call": call, "since": since}]
            else:  # TASKINFO
                thread = e["thread"]
                if len(e) != 5 or type(thread) is not str:
                    _diagnose(i, e, tasks)
                yield [t, kind, task, None, {"thread": thread}]
        except (KeyError, TypeError):  # a key missing, not an object, an unhashable kind
            _diagnose(i, e, tasks)
            raise  # pragma: no cover - _diagnose always raises here
    if trace["run"]["events"] != len(trace["events"]):
        raise TraceError(f"run.events says {trace['run']['events']} but the file holds "
                         f"{len(trace['events'])} events")


def _diagnose(i: int, e: Any, tasks: dict[int, Any]) -> None:
    """Raise the first problem of ``events[i]`` as a TraceError (the schema's rules)."""
    if type(e) is not dict:
        raise TraceError(f"events[{i}]: a JSON {_type_name(e)} is not an object")
    if "kind" not in e:
        raise TraceError(f"events[{i}]: 'kind' is a required property")
    kind = KIND_CODES.get(e["kind"]) if isinstance(e["kind"], str) else None
    if kind is None:
        raise TraceError(f"events[{i}].kind: {e['kind']!r} is not one of {list(KIND_NAMES)!r}")
    keys = e.keys()
    if not keys <= _ALLOWED[kind]:
        raise TraceError(f"events[{i}]: unexpected property "
                         f"{sorted(keys - _ALLOWED[kind])[0]!r} for a {KIND_NAMES[kind]}")
    if not keys >= _REQUIRED[kind]:
        raise TraceError(f"events[{i}]: {sorted(_REQUIRED[kind] - keys)[0]!r} "
                         "is a required property")
    seq, t = e["seq"], e["t"]
    if type(seq) is not int:
        _need(False, f"events[{i}].seq", "an integer", seq)
    if seq != i:
        raise TraceError(f"events[{i}].seq is {seq}, expected {i}: "
                         "events must be complete and in order")
    _need(_is_count(t), f"events[{i}].t", "an integer >= 0", t)
    if kind == SWITCH or kind == THROW:
        for key in ("from", "to"):
            if type(e[key]) is not int or e[key] not in tasks:
                _unknown_task(i, key, e[key])
        line, cause = e["line"], e.get("cause")
        _need(line is None or (type(line) is int and line >= 1), f"events[{i}].line",
              "an integer >= 1 or null", line)
        _need(cause is None or type(cause) is str, f"events[{i}].cause", "a string or null",
              cause)
        return
    if type(e["task"]) is not int or e["task"] not in tasks:
        _unknown_task(i, "task", e["task"])
    for key, what in (("text", "a string"), ("call", "a string"), ("thread", "a string")):
        if key in e:
            _need(type(e[key]) is str, f"events[{i}].{key}", what, e[key])
    if "since" in e:
        _need(_is_count(e["since"]), f"events[{i}].since", "an integer >= 0", e["since"])
    if "parent" in e:
        _need(e["parent"] is None or _is_count(e["parent"]), f"events[{i}].parent",
              "a task id or null", e["parent"])
    raise TraceError(f"events[{i}]: not a valid {KIND_NAMES[kind]} event")  # pragma: no cover


def _unknown_task(i: int, key: str, value: Any) -> None:
    if type(value) is not int or value < 0:
        _need(False, f"events[{i}].{key}", "a task id (an integer >= 0)", value)
    raise TraceError(f"events[{i}].{key} names task {value}, which is not in \"tasks\"")


def check_trace(trace: Any) -> dict[str, Any]:
    """Return ``trace`` if it is a native trace this version can read; else raise TraceError.

    Checks, in order: the format marker, the version, the run and the tasks, then every
    event (its kind's fields and their types, gapless ``seq``, task ids that exist).
    """
    check_header(trace)
    for _ in iter_rows(trace):
        pass
    return trace

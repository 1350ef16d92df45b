"""The coroscope event format: the single source of truth.

A run is a list of *events* about *tasks* (coroutines). The tracer writes them
as compact rows; the server relays those rows untouched; the browser and the
native export read them. A reader learns the whole format from this screen.

Rows (the wire form)
--------------------
Every event is a 5-element JSON array (switch and throw rows carry a 6th, the cause)::

    [t, kind, a, b, x]
    [t, kind, from, to, line, cause]

``t``     integer nanoseconds since the run started (monotonic clock).
``kind``  small integer, one of the codes below.
``a, b``  task ids (integers) or ``null``; their meaning depends on the kind.
``x``     the payload (a line number, a text, a task record) or ``null``.

Rows travel in *batches*; a batch names the sequence number of its first row
and the rows follow without gaps, so a reader can prove nothing was dropped::

    {"type": "events", "seq": 1000, "rows": [[52000, 0, 1, 2, 14], ...]}

Kinds
-----
=====  ========  =====  ======  ==================================================
code   name      a      b       x
=====  ========  =====  ======  ==================================================
0      switch    from   to      line in user code where ``from`` paused, or null;
                                then the cause, see "Causes" below
1      throw     from   to      same as switch (``to`` resumes with an exception)
2      spawn     task   parent  task record ``{"name", "kind"[, "args"][, "thread"]}``
3      finish    task   null    null
4      stdout    task   null    one printed line, without its newline
5      block     task   null    ``{"call": "time.sleep(2)", "since": ns}``: the OS thread
                                is stuck in a call gevent cannot switch out of, since
                                ``since`` (earlier than ``t`` when found by the watchdog)
6      unblock   task   null    null: that call returned
7      taskinfo  task   null    ``{"thread": "Dummy-1"}``: learned later about a task
=====  ========  =====  ======  ==================================================

Worked example: the seed's greenlet eat/play::

    [0,      2, 0, null, {"name": "main", "kind": "main"}]
    [41000,  2, 1, 0,    {"name": "eat", "kind": "greenlet"}]
    [43000,  0, 0, 1,    22]        main paused at line 22, eat runs
    [60000,  4, 1, null, "egon eat 1"]

Causes (why ``from`` gave up control): ``switch`` (an explicit ``greenlet.switch()``),
``timer 1 s`` (``gevent.sleep`` / a patched ``time.sleep``), ``io fd 7`` (waiting for a
socket or file), ``wait`` (a join, event, lock, queue: gevent's compiled waits; the
line says which), ``wake`` (the Hub resuming a greenlet whose wait is over), ``finish``
(``from`` ended), ``throw``, and for generators ``call`` (a function starts driving a
generator), ``send`` (``next``/``send`` resumes it), ``yield``, ``return``.

Task ids are small integers given in order of first sight (``main`` is 0);
``id()`` of a greenlet is reused after it dies, so it is never used.

The native export (``coroscope.trace`` version 1) spells the same events as
self-describing objects; :func:`row_to_event` is the one mapping between the
two, and ``docs/trace-format.md`` plus ``trace.schema.json`` document it.
"""

from __future__ import annotations

from typing import Any

FORMAT = "coroscope.trace"
#: 2 added the ``mark`` kind; version 1 files (no marks) are read as they were.
VERSION = 2

SWITCH = 0
THROW = 1
SPAWN = 2
FINISH = 3
STDOUT = 4
BLOCK = 5
UNBLOCK = 6
TASKINFO = 7
MARK = 8

#: code -> name, in code order (the browser receives this table in the run frame).
KIND_NAMES: tuple[str, ...] = (
    "switch", "throw", "spawn", "finish", "stdout", "block", "unblock", "taskinfo", "mark",
)
KIND_CODES: dict[str, int] = {name: code for code, name in enumerate(KIND_NAMES)}

#: Task kinds a ``spawn`` record may carry.
TASK_KINDS: tuple[str, ...] = ("main", "hub", "greenlet", "generator", "function", "thread")

#: How a run ended (``run.status`` in the export and the API).
RUN_STATUSES: tuple[str, ...] = (
    "starting",  # child process being started
    "running",  # events are flowing
    "finished",  # the demo returned normally
    "error",  # the demo raised; run.error has the traceback
    "cancelled",  # a user cancelled it
    "limit",  # a bound was hit (time, events, memory, output); run.error says which
    "crashed",  # the child died without reporting (signal, os._exit, ...), or coroscope's
    #             own machinery in it failed; run.error says how
)
LIVE_STATUSES = frozenset(RUN_STATUSES[:2])
FINAL_STATUSES = frozenset(RUN_STATUSES[2:])


def row_to_event(seq: int, row: list[Any]) -> dict[str, Any]:
    """Turn one wire row into its self-describing export object."""
    t, kind, a, b, x = row[:5]
    if not isinstance(kind, int) or not 0 <= kind < len(KIND_NAMES):
        raise ValueError(f"unknown event kind code {kind!r} at seq {seq}")
    name = KIND_NAMES[kind]
    if kind == SWITCH or kind == THROW:
        return {"seq": seq, "t": t, "kind": name, "from": a, "to": b, "line": x,
                "cause": row[5] if len(row) > 5 else None}
    if kind == SPAWN:
        return {"seq": seq, "t": t, "kind": name, "task": a, "parent": b}
    if kind == FINISH or kind == UNBLOCK:
        return {"seq": seq, "t": t, "kind": name, "task": a}
    if kind == BLOCK:
        return {"seq": seq, "t": t, "kind": name, "task": a, "call": x["call"],
                "since": x["since"]}
    if kind == TASKINFO:
        return {"seq": seq, "t": t, "kind": name, "task": a, "thread": x["thread"]}
    return {"seq": seq, "t": t, "kind": name, "task": a, "text": x}


def event_to_row(event: dict[str, Any], tasks: dict[int, dict[str, Any]]) -> list[Any]:
    """Inverse of :func:`row_to_event`; ``tasks`` supplies spawn records."""
    kind = KIND_CODES[event["kind"]]
    t = event["t"]
    if kind == SWITCH or kind == THROW:
        return [t, kind, event["from"], event["to"], event.get("line"), event.get("cause")]
    if kind == SPAWN:
        task = tasks[event["task"]]
        record = {"name": task["name"], "kind": task["kind"]}
        for key in ("args", "thread"):
            if task.get(key):
                record[key] = task[key]
        return [t, kind, event["task"], event.get("parent"), record]
    if kind == FINISH or kind == UNBLOCK:
        return [t, kind, event["task"], None, None]
    if kind == BLOCK:
        return [t, kind, event["task"], None, {"call": event["call"], "since": event["since"]}]
    if kind == TASKINFO:
        return [t, kind, event["task"], None, {"thread": event["thread"]}]
    return [t, kind, event["task"], None, event["text"]]

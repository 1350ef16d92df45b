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
Every kind is declared once, in :data:`KINDS` below: its code, its name, what ``a``,
``b`` and ``x`` hold, the fields of its export object, and one line of documentation.
Everything else is made from that table or pinned to it by ``tests/test_event_model.py``:
the constants here, the browser's ``static/js/kinds.js`` (generated: ``python -m
app.tracer.events --write``), the table in ``docs/trace-format.md`` (generated, the
same way), the kind enums of ``trace.schema.json``, and the C hook's ``KIND_SWITCH``.

To add a kind: append a :class:`Kind` to :data:`KINDS` (never renumber one), write its
two conversions below, run ``python -m app.tracer.events --write``, add it to the
schema, and bump :data:`VERSION` (an older reader must refuse the file, not misread it).

Worked example: the seed's greenlet eat/play::

    [0,      2, 0, null, {"name": "main", "kind": "main"}]
    [41000,  2, 1, 0,    {"name": "eat", "kind": "greenlet"}]
    [43000,  0, 0, 1,    22]        main paused at line 22, eat runs
    [60000,  4, 1, null, "egon eat 1"]

Causes (why ``from`` gave up control): ``switch`` (an explicit ``greenlet.switch()``),
``timer 1 s`` (``gevent.sleep`` / a patched ``time.sleep`` / ``asyncio.sleep``), ``io fd 7``
(waiting for a socket or file, asyncio streams too), ``wait`` (a join, event, lock, queue:
gevent's compiled waits; the line says which), ``wait <what>`` (asyncio names what it
awaited: ``wait Queue.get``, ``wait Lock``, ``wait Event``, ``wait Semaphore``, ``wait
gather``, ``wait TaskGroup``, ``wait wait_for``, ``wait task eat``, ``wait Future``;
``wait asyncio.run`` from the code that runs a loop), ``wake`` (the Hub or the event loop
resuming a task whose wait is over), ``finish`` (``from`` ended), ``cancel`` (an asyncio
task ended cancelled), ``throw``, and for generators ``call`` (a function starts driving a
generator), ``send`` (``next``/``send`` resumes it), ``yield``, ``return``. Causes are
text, not codes: a new one needs no new version.

Task ids are small integers given in order of first sight (``main`` is 0);
``id()`` of a greenlet is reused after it dies, so it is never used.

The native export (``coroscope.trace`` version 3) spells the same events as
self-describing objects; :func:`row_to_event` and :func:`event_to_row` are the one
mapping between the two, and ``docs/trace-format.md`` plus ``trace.schema.json``
document it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

FORMAT = "coroscope.trace"
#: 2 added the ``mark`` kind, 3 the ``warning`` kind and the task kinds ``loop`` and
#: ``task`` (asyncio); older files are read as they were.
VERSION = 3


@dataclass(frozen=True)
class Kind:
    """One event kind: how its row reads and how its export object is spelled."""

    code: int  #: the integer on the wire; never reused, never renumbered
    name: str  #: the name in the export and the browser
    a: str  #: what the row's ``a`` holds (docs)
    b: str  #: what the row's ``b`` holds (docs)
    x: str  #: what the row's ``x`` holds (docs)
    fields: tuple[str, ...]  #: the export object's fields after seq, t and kind
    optional: frozenset[str] = frozenset()  #: fields an export may leave out


KINDS: tuple[Kind, ...] = (
    Kind(0, "switch", "from", "to",
         "line in the user's file where `from` paused, or `null`; then the cause",
         ("from", "to", "line", "cause"), frozenset({"cause"})),
    Kind(1, "throw", "from", "to", "same as `switch`; `to` resumes with an exception",
         ("from", "to", "line", "cause"), frozenset({"cause"})),
    Kind(2, "spawn", "task", "parent",
         'task record `{"name", "kind"[, "args"][, "thread"]}`', ("task", "parent")),
    Kind(3, "finish", "task", "`null`", "`null`: the task ended", ("task",)),
    Kind(4, "stdout", "task", "`null`", "one printed line, without its newline",
         ("task", "text")),
    Kind(5, "block", "task", "`null`",
         '`{"call": "time.sleep(2)", "since": ns}`: the thread is stuck in that call',
         ("task", "call", "since")),
    Kind(6, "unblock", "task", "`null`", "`null`: the blocking call returned", ("task",)),
    Kind(7, "taskinfo", "task", "`null`",
         '`{"thread": "Dummy-1"}`: learned about a task after its spawn', ("task", "thread")),
    Kind(8, "mark", "task", "`null`", 'a moment of the run itself, today `"main()"`',
         ("task", "text")),
    Kind(9, "warning", "task", "`null`",
         "a problem of the task's, in words: `coroutine 'eat' was never awaited`, "
         "`destroyed while pending`, `exception never retrieved: ValueError('x')`",
         ("task", "text")),
)
assert [k.code for k in KINDS] == list(range(len(KINDS))), "codes are the table's order"

SWITCH, THROW, SPAWN, FINISH, STDOUT, BLOCK, UNBLOCK, TASKINFO, MARK, WARNING = (
    k.code for k in KINDS)

#: The kinds whose row is ``[t, kind, task, null, text]`` (stdout, mark, warning): the
#: readers of rows (the checker, the history) take them all by this, not by name.
TEXT_KINDS = frozenset(k.code for k in KINDS if k.fields == ("task", "text"))

#: code -> name, in code order (the browser receives this table in the run frame).
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
KIND_CODES: dict[str, int] = {k.name: k.code for k in KINDS}

#: Task kinds a ``spawn`` record may carry. ``loop`` (an asyncio event loop: the Hub's
#: role) and ``task`` (an ``asyncio.Task``) came with version 3.
TASK_KINDS: tuple[str, ...] = ("main", "hub", "greenlet", "generator", "function", "thread",
                               "loop", "task")

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
    "snapshot",  # a window of a longer run, written by the flight recorder; run.flight
    #              says which window and why
)
LIVE_STATUSES = frozenset(RUN_STATUSES[:2])
FINAL_STATUSES = frozenset(RUN_STATUSES[2:])


_TIMER_LABELS: dict[Any, str] = {}


def timer_label(seconds: Any) -> str:
    """The cause of a pause on a timer, in one spelling for gevent and asyncio:
    ``timer 0.4 s`` (``timer 0 s`` for a zero or negative wait, ``timer`` when the
    wait is not a number). Remembered per value: a program sleeps the same few."""
    label = _TIMER_LABELS.get(seconds)
    if label is None:
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            return "timer"
        if len(_TIMER_LABELS) > 1000:
            _TIMER_LABELS.clear()
        label = _TIMER_LABELS[seconds] = f"timer {max(seconds, 0):g} s"
    return label


def row_to_event(seq: int, row: list[Any]) -> dict[str, Any]:
    """Turn one wire row into its self-describing export object."""
    t, kind, a, b, x = row[:5]
    if type(kind) is not int or not 0 <= kind < len(KIND_NAMES):
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


# -- batches: rows as they travel and are stored ------------------------------------------

#: At most 18 digits each, so ``int()`` of them is cheap and never refused: a batch read
#: back from a file (the history, an import) is not trusted to be well-formed.
_BATCH_HEADER = re.compile(rb'\{"type":"events","seq":(\d{1,18}),"n":(\d{1,18}),')


def encode_batch(seq: int, rows: list[Any]) -> bytes:
    """One batch of rows, without a newline: how the child sends them and the server
    stores and relays them. The header comes in exactly this order (see batch_header)."""
    return b'{"type":"events","seq":%d,"n":%d,"rows":%s}' % (seq, len(rows), json_bytes(rows))


def batch_header(line: bytes) -> tuple[int, int] | None:
    """``(seq, n)`` read from a batch's header without parsing its rows; None if ``line``
    is not a batch."""
    m = _BATCH_HEADER.match(line)
    return None if m is None else (int(m[1]), int(m[2]))


def json_bytes(value: Any) -> bytes:
    """JSON of rows or a frame; strings JSON cannot carry (lone surrogates: a demo may print
    what ``os.listdir`` made of a non-UTF-8 file name) are written as ``\\udcff``. Only
    a value that failed to encode is walked, so the common path pays nothing."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return orjson.dumps(_utf8_safe(value))


def _utf8_safe(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [_utf8_safe(v) for v in value]
    if isinstance(value, dict):
        return {_utf8_safe(k): _utf8_safe(v) for k, v in value.items()}
    return value


# -- what is made from the table -------------------------------------------------------

def js_module() -> str:
    """``static/js/kinds.js``: the kind codes and the run statuses, for the browser."""
    consts = "\n".join(f"export const {k.name.upper()} = {k.code};" for k in KINDS)
    names = ", ".join(f'"{k.name}"' for k in KINDS)
    final = ", ".join(f'"{s}"' for s in RUN_STATUSES if s in FINAL_STATUSES)
    return (
        "// Generated from app/tracer/events.py (python -m app.tracer.events --write):\n"
        "// the event kinds and run statuses, declared once there. Do not edit.\n\n"
        f"{consts}\n"
        f"export const KIND_NAMES = [{names}];\n"
        "/** How a run may end: a run whose status is one of these is over. */\n"
        f"export const FINAL_STATUSES = [{final}];\n"
    )


def docs_table() -> str:
    """The kinds table of ``docs/trace-format.md``."""
    rows = ["| code | kind | a | b | x |", "|------|------|---|---|---|"]
    rows += [f"| {k.code} | `{k.name}` | {k.a} | {k.b} | {k.x} |" for k in KINDS]
    return "\n".join(rows) + "\n"


_DOCS_BEGIN = "<!-- kinds: generated from app/tracer/events.py -->\n"
_DOCS_END = "<!-- end of kinds -->\n"


def _generated(root: Any) -> dict[Any, str]:
    """Each generated file and the text it must hold."""
    docs = root / "docs" / "trace-format.md"
    text = docs.read_text(encoding="utf-8")
    head, _, rest = text.partition(_DOCS_BEGIN)
    _, _, tail = rest.partition(_DOCS_END)
    return {root / "static" / "js" / "kinds.js": js_module(),
            docs: head + _DOCS_BEGIN + docs_table() + _DOCS_END + tail}


def main(argv: list[str]) -> int:
    """``--write`` the generated files; ``--check`` says which differ (exit 1)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent.parent
    stale = [path for path, text in _generated(root).items()
             if not path.exists() or path.read_text(encoding="utf-8") != text]
    if "--write" in argv:
        for path, text in _generated(root).items():
            path.write_text(text, encoding="utf-8")
        return 0
    for path in stale:
        print(f"{path} is out of date: python -m app.tracer.events --write")
    return 1 if stale else 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))

"""A run's spans, from its rows: when each task ran, was blocked, was alive. One model,
read by the statistics (:func:`compute_stats`) and the Chrome/Perfetto export
(``tracer/export.py``), so both say the same thing about the same run; the viewer's
``static/js/store.js`` keeps its own, incremental copy, which ``tests/test_viewer.py``
checks against :func:`compute_stats` for every demo.

The rules, in integer nanoseconds:

``running``  a task has control from each switch (or throw) into it to the next switch
             out of it; ``main`` (task 0) runs from 0 until its first switch out.
``blocked``  from a ``block`` row's ``since`` to the task's ``unblock`` (a blocking call
             the thread could not switch out of; part of ``running``). A block whose
             ``call`` starts with ``busy`` (the busy watcher's ``busy: no switch in f()
             line N``) is the task computing without a switch: running, not blocked.
``alive``    from a task's spawn to its ``finish``.
A span still open when the run ends is closed at ``end``: the larger of the run's
duration and the last row's ``t``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .tracer.events import BLOCK, FINISH, SWITCH, THROW, UNBLOCK


class SpanModel:
    """Fed rows in order; reports each span as it closes, to the ``on_*`` callbacks.

    ``on_running(task, since, until)``, ``on_blocked(task, since, until, call)``,
    ``on_switch(src, dst, t)`` and ``on_finish(task, t)``; :meth:`close` ends what is
    still open. Unset callbacks cost nothing.
    """

    def __init__(self, main_running: bool = True) -> None:
        #: task -> since: the task that has control (one per thread; generators nest)
        self.running: dict[int, int] = {0: 0} if main_running else {}
        #: task -> its block row, while a blocking call lasts
        self.blocks: dict[int, list[Any]] = {}
        self.on_running: Any = None
        self.on_blocked: Any = None
        self.on_switch: Any = None
        self.on_finish: Any = None

    def feed(self, row: list[Any]) -> None:
        kind = row[1]
        if kind == SWITCH or kind == THROW:
            t, src, dst = row[0], row[2], row[3]
            since = self.running.pop(src, None)
            if since is not None and self.on_running is not None:
                self.on_running(src, since, t)
            if self.on_switch is not None:
                self.on_switch(src, dst, t)
            self.running[dst] = t
        elif kind == BLOCK:
            self.blocks[row[2]] = row
        elif kind == UNBLOCK:
            block = self.blocks.pop(row[2], None)
            if block is not None and self.on_blocked is not None:
                self.on_blocked(row[2], block[4]["since"], row[0], block[4]["call"])
        elif kind == FINISH and self.on_finish is not None:
            self.on_finish(row[2], row[0])

    def close(self, end: int) -> None:
        """End every span still open at ``end`` (running first, then blocked)."""
        if self.on_running is not None:
            for task, since in self.running.items():
                self.on_running(task, since, end)
        if self.on_blocked is not None:
            for task, block in self.blocks.items():
                self.on_blocked(task, block[4]["since"], end, block[4]["call"])
        self.running, self.blocks = {}, {}


def is_computing(call: str) -> bool:
    """A block row from the busy watcher: the task computed without switching."""
    return call.startswith("busy")


def compute_stats(trace: dict[str, Any], threshold_ns: int = 100_000_000) -> dict[str, Any]:
    """Per-task statistics of a native trace: the reference the viewer's panel must match.

    For each task: ``running``, ``blocked`` (as above), ``parked`` (alive but not
    running), ``switches_in`` / ``switches_out`` (switch and throw rows naming it as
    ``to`` / ``from``). Totals sum the tasks. ``hub_starved`` lists the blocking calls
    longer than ``threshold_ns`` (100 ms, as gevent's own monitor) that began while a Hub
    or an asyncio event loop was alive (from its spawn to its finish, as known by then):
    it could run nothing. Without one nothing starved.
    """
    events = trace["events"]
    end = max([trace["run"].get("duration_ns") or 0] + [e["t"] for e in events] + [0])
    tasks: dict[int, dict[str, Any]] = {}
    records: dict[int, dict[str, Any]] = {}
    for task in trace["tasks"]:
        records[task["id"]] = task
        tasks[task["id"]] = {"id": task["id"], "name": task["name"], "kind": task["kind"],
                             "running": 0, "blocked": 0, "parked": 0, "switches_in": 0,
                             "switches_out": 0}
    born = {t["id"]: t["spawned_at"] for t in trace["tasks"]}
    died: dict[int, int] = {}
    starved: list[dict[str, int]] = []

    def running(task: int, since: int, until: int) -> None:
        tasks[task]["running"] += until - since

    schedulers = [t["id"] for t in trace["tasks"] if t["kind"] in ("hub", "loop")]

    def blocked(task: int, since: int, until: int, call: str) -> None:
        if is_computing(call):
            return  # already counted as running
        tasks[task]["blocked"] += until - since
        alive = any(born[s] <= since and died.get(s, since + 1) > since for s in schedulers)
        if alive and until - since > threshold_ns:
            starved.append({"task": task, "since": since, "until": until})

    def switch(src: int, dst: int, t: int) -> None:
        tasks[src]["switches_out"] += 1
        tasks[dst]["switches_in"] += 1

    model = SpanModel(main_running=0 in tasks)
    model.on_running, model.on_blocked, model.on_switch = running, blocked, switch
    model.on_finish = died.__setitem__
    for row in _rows(events, records):
        model.feed(row)
    model.close(end)
    for task in tasks.values():
        life = died.get(task["id"], end) - born[task["id"]]
        task["parked"] = max(0, life - task["running"])
    rows = sorted(tasks.values(), key=lambda t: t["id"])
    totals = {key: sum(t[key] for t in rows)
              for key in ("running", "blocked", "parked", "switches_in", "switches_out")}
    return {"end": end, "tasks": rows, "totals": totals,
            "hub_starved": sorted(starved, key=lambda s: s["since"])}


def _rows(events: Iterable[dict[str, Any]], records: dict[int, Any]) -> Iterable[list[Any]]:
    from .tracer.events import event_to_row

    for e in events:
        yield event_to_row(e, records)

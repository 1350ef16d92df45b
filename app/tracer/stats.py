"""Per-task statistics of a native trace: the reference the viewer's stats panel must match.

For each task, in integer nanoseconds:

``running``   time it had control: from each switch into it to the next switch out of
              it (``main`` runs from 0 until its first switch out); a span still open at
              the end of the run is closed at ``end``.
``blocked``   time inside ``block``/``unblock`` spans of that task (a blocking call the
              thread could not switch out of; part of ``running``). A span still open is
              closed at ``end``; a busy span starts at its ``since``.
``parked``    time alive but not running: from its spawn to its finish (or ``end``),
              minus ``running``.
``switches_in`` / ``switches_out``: switch and throw events naming it as ``to`` / ``from``.

``end`` is the larger of ``run.duration_ns`` and the last event's ``t``. Totals sum the
tasks. ``hub_starved`` lists the block spans longer than ``threshold_ns`` (default
100 ms, as gevent's own monitor): while they last, the Hub cannot run anything.
"""

from __future__ import annotations

from typing import Any


def compute_stats(trace: dict[str, Any], threshold_ns: int = 100_000_000) -> dict[str, Any]:
    events = trace["events"]
    end = max([trace["run"].get("duration_ns") or 0] + [e["t"] for e in events] + [0])
    tasks: dict[int, dict[str, Any]] = {}
    for task in trace["tasks"]:
        tasks[task["id"]] = {"id": task["id"], "name": task["name"], "kind": task["kind"],
                             "running": 0, "blocked": 0, "parked": 0, "switches_in": 0,
                             "switches_out": 0, "_born": task["spawned_at"], "_died": None}
    running_since: dict[int, int] = {}
    if 0 in tasks:
        running_since[0] = 0
    blocks: dict[int, int] = {}
    starved = []
    for e in events:
        kind = e["kind"]
        if kind in ("switch", "throw"):
            src, dst, t = e["from"], e["to"], e["t"]
            tasks[src]["switches_out"] += 1
            tasks[dst]["switches_in"] += 1
            since = running_since.pop(src, None)
            if since is not None:
                tasks[src]["running"] += t - since
            running_since[dst] = t
        elif kind == "finish":
            tasks[e["task"]]["_died"] = e["t"]
        elif kind == "block":
            blocks[e["task"]] = e["since"]
        elif kind == "unblock" and e["task"] in blocks:
            since = blocks.pop(e["task"])
            tasks[e["task"]]["blocked"] += e["t"] - since
            if e["t"] - since > threshold_ns:
                starved.append({"task": e["task"], "since": since, "until": e["t"]})
    for task_id, since in running_since.items():
        tasks[task_id]["running"] += end - since
    for task_id, since in blocks.items():
        tasks[task_id]["blocked"] += end - since
        if end - since > threshold_ns:
            starved.append({"task": task_id, "since": since, "until": end})
    for task in tasks.values():
        died = task.pop("_died")
        born = task.pop("_born")
        task["parked"] = max(0, ((died if died is not None else end) - born) - task["running"])
    rows = sorted(tasks.values(), key=lambda t: t["id"])
    totals = {key: sum(t[key] for t in rows)
              for key in ("running", "blocked", "parked", "switches_in", "switches_out")}
    return {"end": end, "tasks": rows, "totals": totals,
            "hub_starved": sorted(starved, key=lambda s: s["since"])}

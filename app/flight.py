"""The flight recorder: the last window of a long run's events, written when it matters.

A program that runs for hours (a server under load) would fill any trace; what a person
wants is the moment a request stalled and what led to it. ``coroscope run
--flight-recorder 30s`` keeps, in place of the whole trace, a ring of the batches of the
last 30 s (as the child wrote them: about 20 bytes an event) and the record of every task
that may still appear in them. A *snapshot* is that window made into a trace of its
own: the records of the tasks alive when the window opens become ``spawn`` rows at its
start (their parents when known), then the window's rows, numbered from 0. It is written
on demand (``SIGUSR1``, which ``coroscope snapshot PID`` sends) and when the thread was
blocked longer than a threshold (``--snapshot-on-block 200ms``: a ``block`` that has not
ended after that long), at most once a window. Snapshots are saved in the history
(status ``snapshot``, ``run.flight`` says which window and why) and beside ``--out``.

Memory does not grow with the run: the ring holds one window; a task's record is
dropped once its ``finish`` has left the window. The idea is Go's
``runtime/trace.FlightRecorder`` (Go 1.25).

The recorder reads rows only where it must: a batch's first time from its header, and
the rows of a batch that holds spawns, finishes, thread names or blocks (a regex says).
"""

from __future__ import annotations

import itertools
import os
import re
import stat
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from .tracer.events import (
    BLOCK,
    FINISH,
    SPAWN,
    TASKINFO,
    UNBLOCK,
    batch_header,
    encode_batch,
)

#: The first row's time, right after a batch's header.
_FIRST_T = re.compile(rb'"rows":\[\[(\d+),')
#: A batch with rows the recorder must read: spawn, finish, block, unblock, taskinfo.
_BOOKKEEPING = re.compile(rb"\[\d+,[23567],")

_UNITS = {"ms": 1e6, "s": 1e9, "m": 60e9, "min": 60e9, "h": 3600e9}


def _announcements() -> Path:
    """This user's folder where flight recorders say they are ready (0700; one planted by
    someone else is not used)."""
    folder = Path(tempfile.gettempdir()) / f"coroscope-flight-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        raise OSError(f"{folder} is not a private folder of yours")
    return folder


def announce_flight_recorder() -> Path:
    """Say this process is a flight recorder ready for ``coroscope snapshot PID`` (its
    SIGUSR1 handler is in place); the caller removes the file when it ends."""
    path = _announcements() / str(os.getpid())
    path.write_text("")
    return path


def is_flight_recorder(pid: int) -> bool:
    """Whether process ``pid`` announced itself as this user's flight recorder."""
    try:
        return (_announcements() / str(pid)).is_file()
    except OSError:
        return False


def parse_duration(text: str) -> int:
    """``30s``, ``200ms``, ``5m``, ``1.5h`` (or plain seconds) as nanoseconds."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*", text)
    if m is None or float(m[1]) <= 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 200ms or 5m")
    return int(float(m[1]) * _UNITS[m[2] or "s"])


class FlightRecorder:
    """The ring of a run's last ``window_ns`` of batches, and what a snapshot needs.

    Stands in for a run's list of batches (``append``, ``len``), so a Run relays into it
    as into a list; ``on_block(task, since, call)`` and ``on_unblock(task, t)`` are told of
    blocks as they arrive (the snapshot-on-block trigger).
    """

    def __init__(self, window_ns: int,
                 on_block: Callable[[int, int, str], None] | None = None,
                 on_unblock: Callable[[int, int], None] | None = None) -> None:
        self.window_ns = window_ns
        self._ring: deque[tuple[int, bytes]] = deque()  # (first t, batch)
        self._records: dict[int, dict[str, Any]] = {}  # task id -> spawn record + parent
        #: tasks whose finish left the window, with when: their records go one window
        #: later (a row just after a finish, in the next batch, may still name them)
        self._retiring: deque[tuple[int, int]] = deque()
        self.events = 0  # every event seen (not only those kept)
        self.dropped = 0  # events that left the window
        self.last_t = 0
        self.on_block, self.on_unblock = on_block, on_unblock
        self.left_out = 0  #: rows the last snapshot could not keep (see snapshot)

    # -- as a run's batches ----------------------------------------------------------

    def append(self, batch: bytes) -> None:
        m = _FIRST_T.search(batch, 0, 200)
        first_t = int(m[1]) if m else self.last_t
        header = batch_header(batch)
        self.events += header[1] if header else 0
        if _BOOKKEEPING.search(batch):
            self._learn(orjson.loads(batch)["rows"])
        self._ring.append((first_t, batch))
        self.last_t = max(self.last_t, first_t)
        # A batch leaves once the next one starts before the window: all of it is older.
        while len(self._ring) > 1 and self._ring[1][0] < self.last_t - self.window_ns:
            _, old = self._ring.popleft()
            header = batch_header(old)
            self.dropped += header[1] if header else 0
            if _BOOKKEEPING.search(old):
                self._forget(orjson.loads(old)["rows"])

    def __len__(self) -> int:
        return len(self._ring)

    # -- bookkeeping ---------------------------------------------------------------

    def _learn(self, rows: list[list[Any]]) -> None:
        for row in rows:
            kind = row[1]
            if kind == SPAWN:
                self._records[row[2]] = {"record": row[4], "parent": row[3], "t": row[0]}
            elif kind == TASKINFO and row[2] in self._records:
                self._records[row[2]]["record"] = dict(self._records[row[2]]["record"],
                                                       **row[4])
            elif kind == BLOCK and self.on_block is not None:
                self.on_block(row[2], row[4]["since"], row[4]["call"])
            elif kind == UNBLOCK and self.on_unblock is not None:
                self.on_unblock(row[2], row[0])

    def _forget(self, rows: list[list[Any]]) -> None:
        """Rows leaving the window: a task whose finish left it is not alive when the
        window opens; its record goes a window later."""
        for row in rows:
            if row[1] == FINISH:
                self._retiring.append((self.last_t, row[2]))
        while self._retiring and self._retiring[0][0] < self.last_t - self.window_ns:
            self._records.pop(self._retiring.popleft()[1], None)

    def name_of(self, task: int) -> str:
        entry = self._records.get(task)
        return entry["record"].get("name", f"task {task}") if entry else f"task {task}"

    # -- a snapshot -------------------------------------------------------------------

    def snapshot(self) -> tuple[list[bytes], int, int, int]:
        """The window as batches of a trace of its own (seq and time from 0), where it
        started in the run (ns), how many events it holds, and its last event's time.
        Tasks alive when it opens are spawned at its start. Two passes over the ring, a
        batch of rows at a time: never the whole window as Python objects."""
        ring = [batch for _, batch in list(self._ring)]
        start = None
        spawned_inside: set[int] = set()
        named: set[int] = set()
        for batch in ring:  # first pass: where it starts, which tasks its rows name
            rows = orjson.loads(batch)["rows"]
            if rows and start is None:
                start = rows[0][0]
            for row in rows:
                named.add(row[2])
                if row[1] == SPAWN:
                    spawned_inside.add(row[2])
                elif row[1] <= 1 and row[3] is not None:
                    named.add(row[3])
        start = self.last_t if start is None else start
        retired = {task for _, task in self._retiring}
        opening = []
        for task, entry in sorted(self._records.items()):
            if task in spawned_inside or (task in retired and task not in named):
                continue  # spawned inside the window, or ended before it
            parent = entry["parent"] if entry["parent"] in self._records else None
            opening.append([start, SPAWN, task, parent, entry["record"]])
        known = spawned_inside | {row[2] for row in opening}
        batches: list[bytes] = []
        seq = last = 0
        self.left_out = 0
        for rows in itertools.chain([opening], (orjson.loads(b)["rows"] for b in ring)):
            kept = []
            for row in rows:
                # A row naming a task of which nothing is known (its spawn left the window
                # long ago and its record with it) cannot be read: left out, and counted.
                if row[2] not in known or (row[1] <= 1 and row[3] is not None
                                           and row[3] not in known):
                    self.left_out += 1
                    continue
                if row[1] == SPAWN and row[3] is not None and row[3] not in known:
                    row[3] = None  # its parent is not in the snapshot
                # Time counts from the window (run.flight.from_ns says where that was in
                # the run): a block that began before it, began at 0.
                row[0] -= start
                if row[1] == BLOCK:
                    row[4] = dict(row[4], since=max(0, row[4]["since"] - start))
                kept.append(row)
                last = max(last, row[0])
            if kept:
                batches.append(encode_batch(seq, kept))
                seq += len(kept)
        return batches, start, seq, last


#: What a snapshot asked for from the dashboard (its button, POST /api/runs/ID/snapshot) says.
ASKED_HERE = "asked from the dashboard"


class FlightSession:
    """A flight-recorded run's ring and the snapshots it takes of itself: ``take(reason)``
    is called when a block lasts past ``block_ns`` (0: never), at most once a window and
    twenty times a run (a stalling server is one story). The timer of a block is started
    when its row arrives and fires if no unblock came first; a block whose unblock came
    in the same batch is judged by its length. Shared by ``coroscope run
    --flight-recorder`` and the dashboard's flight-recorded runs."""

    MAX_AUTO = 20

    def __init__(self, window_ns: int, block_ns: int,
                 take: Callable[[str], Any]) -> None:
        self.window_ns, self.block_ns, self.take = window_ns, block_ns, take
        self.recorder = FlightRecorder(window_ns, on_block=self._on_block,
                                       on_unblock=self._on_unblock)
        self.auto = 0  # automatic snapshots taken
        self._auto_last: int | None = None
        self._pending: dict[int, tuple[int, str, Any]] = {}  # task -> since, call, timer

    def _blocked_too_long(self, task: int, call: str) -> None:
        self._pending.pop(task, None)
        now = self.recorder.last_t
        if self.auto >= self.MAX_AUTO or (self._auto_last is not None
                                          and now - self._auto_last < self.window_ns):
            return
        self._auto_last, self.auto = now, self.auto + 1
        self.take(f"{self.recorder.name_of(task)} blocked over {self.block_ns / 1e6:g} ms "
                  f"in {call}")

    def _on_block(self, task: int, since: int, call: str) -> None:
        import gevent

        if self.block_ns:
            wait = max(0.0, (since + self.block_ns - self.recorder.last_t) / 1e9)
            self._pending[task] = (since, call, gevent.spawn_later(
                wait, self._blocked_too_long, task, call))

    def _on_unblock(self, task: int, t: int) -> None:
        entry = self._pending.pop(task, None)
        if entry is not None:
            since, call, timer = entry
            timer.kill(block=False)
            if t - since >= self.block_ns:  # it ended before its rows came in: it was long
                self._blocked_too_long(task, call)

    def close(self) -> None:
        """The run ended: no block's timer fires any more."""
        for _, _, timer in self._pending.values():
            timer.kill(block=False)
        self._pending.clear()


def snapshot_of(run: Any, recorder: FlightRecorder, reason: str,
                ) -> tuple[dict[str, Any], list[bytes]]:
    """A snapshot of ``run``'s window as a run of its own: its description (status
    ``snapshot``, ``flight`` saying which window of which run, and why) and its batches
    (see FlightRecorder.snapshot)."""
    import secrets

    batches, start, events, last = recorder.snapshot()
    end = start + last
    meta = dict(run.describe(source=True), id="r" + secrets.token_hex(6), status="snapshot",
                events=events, duration_ns=max(0, end - start),
                title=f"{run.target.title} (snapshot)",
                flight={"reason": reason, "window_ns": recorder.window_ns, "from_ns": start,
                        "to_ns": end, "events_seen": recorder.events,
                        "left_out": recorder.left_out, "run": run.id})
    return meta, batches

"""BusyWatch's measure, on a clock the test moves: what counts toward the 100 ms."""

from __future__ import annotations

import pytest

from app.tracer.blocking import BusyWatch
from app.tracer.events import BLOCK
from app.tracer.recorder import Recorder

MS = 1_000_000
MAIN, HUB, WORK, OTHER = 0, 1, 2, 3


class Machine:
    """A recorder whose clock and run-queue counter the test sets, with a Hub, and a
    BusyWatch polled by hand. No thread of that id exists: no frame, no import."""

    def __init__(self, hub: bool = True, schedstat: bool = True) -> None:
        self.t = 0
        self.wait: int | None = 0 if schedstat else None
        self.rec = Recorder(clock=lambda: self.t)
        kinds = {MAIN: "main", HUB: "hub", WORK: "greenlet", OTHER: "greenlet"}
        self.rec.tasks = {tid: {"id": tid, "kind": kind} for tid, kind in kinds.items()}
        self.rec.hub_tid = HUB if hub else None
        self.watch = BusyWatch(self.rec, thread_id=-1, threshold_ns=100 * MS)
        self.watch.run_queue_wait = lambda: self.wait

    def switch(self, task: int, at_ms: float) -> None:
        self.rec.running, self.rec.switched_at = task, int(at_ms * MS)

    def poll(self, at_ms: float, waited_ms: float | None = None) -> list[tuple]:
        """Poll at ``at_ms``, the thread having waited ``waited_ms`` on a run queue in
        all; the blocks written so far, as (task, since)."""
        self.t = int(at_ms * MS)
        if waited_ms is not None:
            self.wait = int(waited_ms * MS)
        self.watch.poll()
        return [(r[2], r[4]["since"]) for r in self.rec.rows if r[1] == BLOCK]


def test_nothing_is_busy_before_the_hub_exists():
    m = Machine(hub=False)
    m.switch(MAIN, 0)
    assert m.poll(20) == [] and m.poll(1000) == []


def test_wall_time_without_schedstat():
    m = Machine(schedstat=False)
    m.switch(WORK, 0)
    assert m.poll(99) == []
    assert m.poll(101) == [(WORK, 0)]


def test_time_waiting_for_a_cpu_is_not_busy():
    m = Machine()
    m.switch(WORK, 0)
    assert m.poll(0) == []
    assert m.poll(20, waited_ms=10) == []
    assert m.poll(300, waited_ms=250) == []  # 300 ms on the clock, 50 on the CPU
    assert m.poll(340, waited_ms=250) == []  # 90
    assert m.poll(360, waited_ms=250) == [(WORK, 0)]  # 110


def test_the_wait_before_the_first_poll_of_a_task_is_interpolated():
    m = Machine()
    m.switch(OTHER, 0)
    assert m.poll(0, waited_ms=0) == []
    m.switch(WORK, 10)  # between two polls that saw 40 ms of waiting: 30 ms after it
    assert m.poll(40, waited_ms=40) == []
    assert m.poll(135, waited_ms=40) == []  # 125 on the clock, 30 of them waiting: 95
    assert m.poll(145, waited_ms=40) == [(WORK, 10 * MS)]


def test_time_the_flusher_held_the_gil_is_not_busy():
    m = Machine()
    m.switch(WORK, 10)
    m.watch.note_pause(0, 30 * MS)  # 20 ms of it after the switch
    assert m.poll(40) == []
    m.watch.note_pause(40 * MS, 100 * MS)
    assert m.poll(180) == []  # 170 ms on the clock, 80 of them the flusher's
    assert m.poll(200) == [(WORK, 10 * MS)]


def test_a_wrapped_blocking_call_restarts_the_measure():
    m = Machine()
    m.switch(WORK, 0)
    m.rec.blocked = 1  # in time.sleep: a block of its own
    assert m.poll(20) == [] and m.poll(500) == []
    m.rec.blocked = 0
    assert m.poll(590) == []
    assert m.poll(610) == [(WORK, 0)]  # since stays the task's last switch


@pytest.mark.parametrize("task", [HUB, None])
def test_the_hub_and_no_task_are_never_busy(task):
    m = Machine()
    m.rec.running, m.rec.switched_at = task, 0
    assert m.poll(1000) == []


def test_a_switch_starts_a_new_measure():
    m = Machine()
    m.switch(WORK, 0)
    assert m.poll(90) == []
    m.switch(OTHER, 95)
    assert m.poll(150) == []
    assert m.poll(200) == [(OTHER, 95 * MS)]

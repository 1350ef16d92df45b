"""The recorder on the seed's eat/play examples: exact switches, exact printed lines."""

from __future__ import annotations

import contextlib
import os
import runpy
import sys

import greenlet
import pytest

from app.tracer.events import FINISH, SPAWN, STDOUT, SWITCH, THROW, row_to_event
from app.tracer.recorder import Recorder, TaskOutput
from demos import DEMOS


@pytest.fixture(params=["c-hook", "pure-python"], autouse=True)
def hook_path(request, monkeypatch):
    """Every test here runs on both paths: the C fast path and the pure-Python hook."""
    if request.param == "pure-python":
        monkeypatch.setenv("COROSCOPE_PURE_PYTHON", "1")
    else:
        monkeypatch.delenv("COROSCOPE_PURE_PYTHON", raising=False)
    return request.param


def test_the_c_hook_is_built_and_used(hook_path):
    from app.tracer import recorder

    if os.environ.get("CI"):
        assert recorder._FastHook is not None, "setup.py should have built app/tracer/_hook.c"
    if recorder._FastHook is not None:
        assert Recorder().fast is (hook_path == "c-hook")


def record_demo(demo_id: str, **params) -> Recorder:
    """Run a demo's main() in this process under a Recorder, capturing its prints."""
    demo = DEMOS[demo_id]
    path = str(demo.path)
    namespace = runpy.run_path(path, run_name="__test__")
    rec = Recorder(user_files=[path], generators=demo.generators)
    out = TaskOutput(rec)
    with contextlib.redirect_stdout(out):
        rec.start()
        try:
            namespace["main"](**params)
        finally:
            rec.stop()
            out.close_lines()
    return rec


def line_of(demo_id: str, text: str) -> int:
    """1-based line number of the single line of a demo containing ``text``."""
    lines = DEMOS[demo_id].source().splitlines()
    found = [i + 1 for i, line in enumerate(lines) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


def without_time(rows):
    return [tuple(r[1:]) for r in rows]


def test_greenlet_eat_play_exact_rows():
    rec = record_demo("greenlet_eat_play")
    d = "greenlet_eat_play"
    assert without_time(rec.rows) == [
        (SPAWN, 0, None, {"name": "main", "kind": "main"}),
        (SPAWN, 1, 0, {"name": "eat", "kind": "greenlet", "args": "name='egon'"}),
        (SWITCH, 0, 1, line_of(d, "g1.switch('egon')  #"), "switch"),
        (STDOUT, 1, None, "egon eat 1"),
        (SPAWN, 2, 0, {"name": "play", "kind": "greenlet", "args": "name='egon'"}),
        (SWITCH, 1, 2, line_of(d, "g2.switch('egon')"), "switch"),
        (STDOUT, 2, None, "egon play 1"),
        (SWITCH, 2, 1, line_of(d, "    g1.switch()"), "switch"),
        (STDOUT, 1, None, "egon eat 2"),
        (SWITCH, 1, 2, line_of(d, "    g2.switch()"), "switch"),
        (STDOUT, 2, None, "egon play 2"),
        (FINISH, 2, None, None),
        (SWITCH, 2, 0, None, "finish"),  # play ends: control returns to its parent, main
    ]
    times = [r[0] for r in rec.rows]
    assert times == sorted(times) and times[0] == 0
    # eat is never resumed after its second switch: it stays parked, unfinished.
    assert not any(r[1] == FINISH and r[2] == 1 for r in rec.rows)


def test_gevent_eat_play_order_and_timing():
    rec = record_demo("gevent_eat_play", eat_seconds=2.0, play_seconds=1.0)
    names = {tid: t["name"] for tid, t in rec.tasks.items()}
    assert sorted(names.values()) == ["Hub", "eat", "main", "play"]
    printed = [(names[r[2]], r[4], r[0]) for r in rec.rows if r[1] == STDOUT]
    assert [(who, text) for who, text, _ in printed] == [
        ("eat", "egon eat 1"),
        ("play", "egon play 1"),
        ("play", "egon play 2"),
        ("eat", "egon eat 2"),
        ("main", "主"),
        ("main", "g1.value = 'eat finished', g2.value = 'play finished'"),
    ]
    t_play1, t_play2, t_eat2 = printed[1][2], printed[2][2], printed[3][2]
    assert printed[0][2] < 0.05e9 and t_play1 < 0.05e9
    assert t_play2 - t_play1 == pytest.approx(1.0e9, rel=0.05)
    assert t_eat2 - printed[0][2] == pytest.approx(2.0e9, rel=0.05)
    assert rec.tasks[1]["kind"] == "hub"  # the Hub is first seen when main joins
    assert rec.tasks[2]["args"] == "'egon', 2.0"
    assert rec.tasks[3]["args"] == "name='egon', seconds=1.0"
    # Every switch in gevent goes through the Hub: no greenlet-to-greenlet switch.
    hub = 1
    switches = [(r[2], r[3]) for r in rec.rows if r[1] == SWITCH]
    assert all(hub in pair for pair in switches)
    # Why each greenlet gave up control: its sleep, its end; the Hub wakes them.
    causes = [(names[r[2]], names[r[3]], r[5]) for r in rec.rows if r[1] == SWITCH]
    assert ("eat", "Hub", "timer 2 s") in causes and ("play", "Hub", "timer 1 s") in causes
    assert ("eat", "Hub", "finish") in causes and ("play", "Hub", "finish") in causes
    assert {c for a, b, c in causes if a == "Hub"} == {"wake"}
    assert {c for a, b, c in causes if a == "main"} == {"wait"}  # g1.join(), g2.join()
    finished = [names[r[2]] for r in rec.rows if r[1] == FINISH]
    assert finished == ["play", "eat"]


def test_settrace_chains_to_previous_tracer_and_restores_it():
    seen = []

    def previous(event, args):
        seen.append(event)

    greenlet.settrace(previous)
    try:
        rec = Recorder()
        rec.start()
        g = greenlet.greenlet(lambda: None)
        g.switch()
        rec.stop()
        assert greenlet.gettrace() is previous
    finally:
        greenlet.settrace(None)
    assert seen == ["switch", "switch"]  # into g, and back to main when g ends
    assert [r[1] for r in rec.rows] == [SPAWN, SPAWN, SWITCH, FINISH, SWITCH]


def test_throw_is_recorded():
    rec = Recorder()
    rec.start()
    g = greenlet.greenlet(lambda: greenlet.getcurrent().parent.switch())
    g.switch()
    g.throw(greenlet.GreenletExit)
    rec.stop()
    kinds = [(r[1], r[2], r[3], r[5]) for r in rec.rows if r[1] in (SWITCH, THROW)]
    assert kinds == [(SWITCH, 0, 1, "switch"), (SWITCH, 1, 0, "switch"),
                     (THROW, 0, 1, "throw"), (SWITCH, 1, 0, "finish")]


def test_dead_greenlet_ids_are_never_reused():
    rec = Recorder()
    rec.start()
    for _ in range(3):
        greenlet.greenlet(lambda: None).switch()
    rec.stop()
    spawned = [r[2] for r in rec.rows if r[1] == SPAWN]
    assert spawned == [0, 1, 2, 3]


def test_partial_writes_become_one_line_per_task():
    rec = Recorder()
    out = TaskOutput(rec)
    rec.start()
    out.write("a")
    out.write("b\nc")
    rec.stop()
    out.close_lines()
    assert [r[4] for r in rec.rows if r[1] == STDOUT] == ["ab", "c"]


def test_drain_hands_out_gapless_batches():
    rec = Recorder()
    rec.start()
    greenlet.greenlet(lambda: None).switch()
    first = rec.drain()
    greenlet.greenlet(lambda: None).switch()
    second = rec.drain()
    rec.stop()
    assert first[0] == 0 and second[0] == len(first[1])
    assert rec.drain() is None and rec.count == len(first[1]) + len(second[1])


def test_row_to_event_names_every_field():
    assert row_to_event(7, [5, SWITCH, 1, 2, 9, "timer 1 s"]) == {
        "seq": 7, "t": 5, "kind": "switch", "from": 1, "to": 2, "line": 9, "cause": "timer 1 s"}
    assert row_to_event(0, [5, STDOUT, 1, None, "hi"]) == {
        "seq": 0, "t": 5, "kind": "stdout", "task": 1, "text": "hi"}
    with pytest.raises(ValueError, match="unknown event kind code 42 at seq 3"):
        row_to_event(3, [0, 42, None, None, None])


def test_recorder_refuses_double_start():
    rec = Recorder()
    rec.start()
    try:
        with pytest.raises(RuntimeError):
            rec.start()
    finally:
        rec.stop()
    assert greenlet.gettrace() is None
    assert sys.getprofile() is None


# 3.13 closes a generator suspended at a bare yield (no try around it) without running it,
# and reports nothing (no PY_THROW/PY_UNWIND, no profile event): such a generator, closed or
# dropped, never gets its FINISH. Known gap, in the README; these tests name it.
CLOSED_SILENTLY = pytest.mark.xfail(
    sys.version_info >= (3, 13), strict=True,
    reason="3.13: a generator closed at a bare yield gets no FINISH; the profile path "
           "cannot tell a throw from a send")


@CLOSED_SILENTLY
def test_generator_send_and_yield_exact_rows():
    rec = record_demo("yield_producer_consumer", variant="yield", n=2)
    d = "yield_producer_consumer"
    send, yield_ = line_of(d, "        g.send(i)"), line_of(d, "        x = yield")
    assert without_time(rec.rows) == [
        (SPAWN, 0, None, {"name": "main", "kind": "main"}),
        (SPAWN, 1, 0, {"name": "producer", "kind": "function"}),
        (SWITCH, 0, 1, line_of(d, "        producer(n)  #"), "call"),
        (SPAWN, 2, 1, {"name": "consumer", "kind": "generator"}),
        (SWITCH, 1, 2, line_of(d, "    next(g)"), "send"),
        (SWITCH, 2, 1, yield_, "yield"),
        (STDOUT, 1, None, "producer sends 0"),
        (SWITCH, 1, 2, send, "send"),
        (STDOUT, 2, None, "consumer got 0"),
        (SWITCH, 2, 1, yield_, "yield"),
        (STDOUT, 1, None, "producer sends 1"),
        (SWITCH, 1, 2, send, "send"),
        (STDOUT, 2, None, "consumer got 1"),
        (SWITCH, 2, 1, yield_, "yield"),
        (FINISH, 1, None, None),
        (SWITCH, 1, 0, None, "return"),
        (FINISH, 2, None, None),  # closed by the collector when producer's g goes away
        (STDOUT, 0, None, rec.rows[-1][4]),
    ]
    assert rec.rows[-1][4].startswith("yield: 2 items in ")
    assert sys.getprofile() is None


def _inner():
    total = 0
    while True:
        try:
            x = yield total
        except ValueError:
            x = 100
        total += x


def _outer(n):
    inner = _inner()
    next(inner)
    for i in range(n):
        got = yield inner.send(i)
        if got == "boom":
            inner.throw(ValueError)
    inner.close()


def generator_rows_on_each_path(work) -> dict[bool, list]:
    """{fast: rows without times} of ``work()`` traced with generators, on the C path (if
    built) and the pure-Python one."""
    from app.tracer import recorder

    rows = {}
    for fast in (True, False) if recorder._FastHook is not None else (False,):
        rec = Recorder(user_files=[__file__], generators=True, fast=fast)
        rec.start()
        try:
            work()
        finally:
            rec.stop()
        rows[fast] = without_time(rec.rows)
    return rows


def _drive_generators():
    g = _outer(4)
    next(g)
    g.send(None)
    g.send("boom")
    for _ in g:
        pass


@CLOSED_SILENTLY
def test_generator_paths_record_the_same_rows():
    """Generators driving generators, a throw, a close and a finish: the C profiler (which
    records the common resume and yield itself) and the Python one give identical rows."""
    from app.tracer import recorder

    if recorder._FastHook is None:
        pytest.skip("the C hook is not built")
    rows = generator_rows_on_each_path(_drive_generators)
    assert rows[True] == rows[False]
    switches = [r for r in rows[True] if r[0] in (SWITCH, THROW)]
    causes = [r[-1] for r in switches]
    assert causes.count("send") >= 8 and causes.count("yield") >= 8
    assert "throw" in causes and "finish" in causes
    assert sys.getprofile() is None


def test_generators_are_traced_through_sys_monitoring_where_python_has_it(hook_path):
    """3.12+ with the C hook: sys.monitoring callbacks, no profile function, and the tool
    id is given back on stop. 3.11 (or the pure-Python path): a profile function."""
    rec = Recorder(user_files=[__file__], generators=True)
    rec.start()
    try:
        tool = rec._generators._tool
        monitored = hasattr(sys, "monitoring") and rec.fast
        if monitored:
            assert tool is not None and sys.monitoring.get_tool(tool) == "coroscope"
            assert sys.getprofile() is None
        else:
            assert tool is None and sys.getprofile() is not None
        _drive_generators()
    finally:
        rec.stop()
    assert sys.getprofile() is None
    if monitored:
        assert sys.monitoring.get_tool(tool) is None
    assert sum(1 for r in rec.rows if r[1] == SWITCH and r[5] == "send") >= 8


def _bare():
    while True:
        x = yield  # no try: close() and throw() leave right here, at the YIELD_VALUE
        del x


def _ends_at_a_bare_yield():
    g = _bare()
    next(g)
    g.send(1)
    g.close()  # GeneratorExit at the yield
    h = _bare()
    next(h)
    try:
        h.throw(ValueError)  # uncaught: leaves at the yield
    except ValueError:
        pass
    k = _bare()
    next(k)
    del k  # closed when dropped


@CLOSED_SILENTLY
def test_a_generator_ended_at_a_bare_yield_finishes():
    """close(), an uncaught throw() and being dropped, each at a yield with no try: the
    exception leaves the frame at its YIELD_VALUE, which is no yield. Each generator
    finishes (and nothing yields after its throw), on both paths, with the same rows."""
    rows = generator_rows_on_each_path(_ends_at_a_bare_yield)
    if len(rows) == 2:
        assert rows[True] == rows[False]
    got = rows[False]
    gens = [r[1] for r in got if r[0] == SPAWN and r[3]["kind"] == "generator"]
    assert len(gens) == 3
    assert [r[1] for r in got if r[0] == FINISH and r[1] in gens] == gens
    for task in gens:
        mine = [r for r in got if r[0] in (SWITCH, THROW, FINISH) and task in r[1:3]]
        thrown = [i for i, r in enumerate(mine) if r[0] == THROW]
        if thrown:
            after = mine[thrown[0] + 1:]
            assert not any(r[0] == SWITCH and r[4] == "yield" for r in after), mine
        assert mine[-1][0] == SWITCH and mine[-1][4] == "finish", mine


@pytest.mark.parametrize("c_buffer", [True, False], ids=["c-buffer", "python-list"])
def test_drain_takes_a_backlog_a_slice_at_a_time(c_buffer):
    """The flusher drains at most about a batch at a time: a backlog stays packed and is
    never all tuples at once. Every row comes out once, in order, whatever the slices."""
    from app.tracer import recorder as module

    if c_buffer and getattr(module, "_RowBuffer", None) is None:
        pytest.skip("the C hook is not built (test_the_c_hook_is_built_and_used fails)")
    rows = module._RowBuffer() if c_buffer else module._RowList()
    total = 8192 * 3 + 100
    for i in range(total):
        rows.append((i, STDOUT, 0, None, f"line {i}"))
    sizes, out = [], []
    while len(rows):
        taken = rows.drain(10_000)
        sizes.append(len(taken))
        out.extend(taken)
        if len(sizes) == 2:
            rows.append((total, STDOUT, 0, None, "appended between two drains"))
    assert [r[0] for r in out] == list(range(total + 1))
    # The C buffer hands out whole chunks of 8192 rows; the list, exactly the limit.
    assert sizes == ([8192, 8192, 8192 + 101] if c_buffer else [10_000, 10_000, 4_677])
    assert rows.drain(5) == [] and rows.drain() == []
    # Fewer rows than a chunk, and a limit below them: the C buffer hands them all out
    # (it slices by whole chunks), the list exactly the limit; never a row twice or lost.
    for i in range(500):
        rows.append((i, STDOUT, 0, None, "x"))
    first = rows.drain(100)
    assert len(first) == (500 if c_buffer else 100)
    assert [r[0] for r in first + rows.drain()] == list(range(500))
    if c_buffer:
        with pytest.raises(ValueError, match="limit must be >= 0"):
            rows.drain(-1)

"""asyncio traced with no flag: one lane per Task, the event loop in the Hub's role.

Exact event sequences (who switched to whom, at which line, why; printed lines on their
lanes; spawns with their parents; finishes) through ``coroscope run`` and through the
Python API, on every Python the suite runs on.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import traceback

import pytest

import coroscope

from .conftest import ROOT, validate_trace
from .test_cli_run import coroscope_run


def story(trace: dict) -> list[tuple]:
    """Events by lane name (``eat('egon')``: name and arguments): switches with their
    line and cause, spawns with their parent, blocks with their call; no times."""
    names = {t["id"]: t["name"] + (f"({t['args']})" if t.get("args") else "")
             for t in trace["tasks"]}
    told = []
    for e in trace["events"]:
        kind = e["kind"]
        if kind == "switch":
            told.append((kind, names[e["from"]], names[e["to"]], e["line"], e["cause"]))
        elif kind == "spawn":
            told.append((kind, names[e["task"]], names.get(e["parent"])))
        elif kind == "block":
            told.append((kind, names[e["task"]], e["call"]))
        elif kind in ("stdout", "warning"):
            told.append((kind, names[e["task"]], e["text"]))
        else:
            told.append((kind, names[e["task"]]))
    return told


def line(source: str, text: str) -> int:
    """The 1-based line of the one line of ``source`` (dedented) that contains ``text``."""
    found = [i + 1 for i, ln in enumerate(textwrap.dedent(source).splitlines()) if text in ln]
    assert len(found) == 1, (text, found)
    return found[0]


LOOP = "event loop"
RUN = [("spawn", "main", None), ("spawn", LOOP, "main")]


def run_start(source: str) -> list[tuple]:
    """The first events of a script whose last line is ``asyncio.run(main())``."""
    return RUN + [("switch", "main", LOOP, line(source, "asyncio.run(main())"),
                   "wait asyncio.run"),
                  ("spawn", "main", "main"),
                  ("switch", LOOP, "main", None, "wake")]


RUN_END = [("finish", "main"), ("switch", "main", LOOP, None, "finish"),
           ("finish", LOOP), ("switch", LOOP, "main", None, "finish")]


EAT_PLAY = """
    import asyncio


    async def eat(name):
        print(name, 'eat 1')
        await asyncio.sleep(0.4)
        print(name, 'eat 2')


    async def play(name):
        print(name, 'play 1')
        await asyncio.sleep(0.2)
        print(name, 'play 2')


    async def main():
        await asyncio.gather(eat('egon'), play('egon'))


    asyncio.run(main())
"""


def eat_play_story(source: str) -> list[tuple]:
    eat, play = "eat('egon')", "play('egon')"
    return run_start(source) + [
        ("switch", "main", LOOP, line(source, "await asyncio.gather"), "wait gather"),
        ("spawn", eat, "main"),
        ("switch", LOOP, eat, None, "wake"),
        ("stdout", eat, "egon eat 1"),
        ("switch", eat, LOOP, line(source, "asyncio.sleep(0.4)"), "timer 0.4 s"),
        ("spawn", play, "main"),
        ("switch", LOOP, play, None, "wake"),
        ("stdout", play, "egon play 1"),
        ("switch", play, LOOP, line(source, "asyncio.sleep(0.2)"), "timer 0.2 s"),
        ("switch", LOOP, play, None, "wake"),
        ("stdout", play, "egon play 2"),
        ("finish", play),
        ("switch", play, LOOP, None, "finish"),
        ("switch", LOOP, eat, None, "wake"),
        ("stdout", eat, "egon eat 2"),
        ("finish", eat),
        ("switch", eat, LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
    ] + RUN_END


def test_eat_play_with_asyncio_sleep(tmp_path):
    result, trace = coroscope_run(tmp_path, EAT_PLAY)
    assert result.stdout == "egon eat 1\negon play 1\negon play 2\negon eat 2\n"
    assert story(trace) == eat_play_story(EAT_PLAY)
    kinds = {t["name"] + t.get("args", ""): t["kind"] for t in trace["tasks"]}
    assert kinds == {"main": "task", LOOP: "loop", "eat'egon'": "task", "play'egon'": "task"}
    assert [t["kind"] for t in trace["tasks"] if t["id"] == 0] == ["main"]
    # The timers are the program's own: play resumes after ~0.2 s, eat after ~0.4 s.
    wakes = [e["t"] for e in trace["events"] if e["kind"] == "switch" and e["cause"] == "wake"]
    slept = [e["t"] for e in trace["events"] if e["kind"] == "switch"
             and e["cause"].startswith("timer")]
    assert wakes[3] - slept[1] >= 190_000_000 and wakes[4] - slept[0] >= 390_000_000


def test_a_named_task_and_awaiting_a_task(tmp_path):
    source = """
        import asyncio


        async def job(n):
            await asyncio.sleep(0.01 * n)
            print('job', n)


        async def main():
            task = asyncio.create_task(job(1), name='worker')
            await task
            await asyncio.create_task(job(2))


        asyncio.run(main())
    """
    _, trace = coroscope_run(tmp_path, source)
    sleep = line(source, "await asyncio.sleep(0.01 * n)")
    assert story(trace) == run_start(source) + [
        ("switch", "main", LOOP, line(source, "await task"), "wait task worker"),
        ("spawn", "worker", "main"),
        ("switch", LOOP, "worker", None, "wake"),
        ("switch", "worker", LOOP, sleep, "timer 0.01 s"),
        ("switch", LOOP, "worker", None, "wake"),
        ("stdout", "worker", "job 1"),
        ("finish", "worker"),
        ("switch", "worker", LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
        ("switch", "main", LOOP, line(source, "create_task(job(2))"), "wait task job"),
        ("spawn", "job(2)", "main"),
        ("switch", LOOP, "job(2)", None, "wake"),
        ("switch", "job(2)", LOOP, sleep, "timer 0.02 s"),
        ("switch", LOOP, "job(2)", None, "wake"),
        ("stdout", "job(2)", "job 2"),
        ("finish", "job(2)"),
        ("switch", "job(2)", LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
    ] + RUN_END


QUEUE = """
    import asyncio


    async def producer(q):
        for i in range(2):
            await q.put(i)
            print('put', i)
        await q.put(None)


    async def consumer(q):
        while (item := await q.get()) is not None:
            print('got', item)


    async def main():
        q = asyncio.Queue(maxsize=1)
        await asyncio.gather(producer(q), consumer(q))


    asyncio.run(main())
"""


def test_a_queue_producer_and_consumer(tmp_path):
    result, trace = coroscope_run(tmp_path, QUEUE)
    assert result.stdout == "put 0\ngot 0\nput 1\ngot 1\n"
    p, c = "producer(<Queue>)", "consumer(<Queue>)"
    put, get = line(QUEUE, "await q.put(i)"), line(QUEUE, "await q.get()")
    assert story(trace) == run_start(QUEUE) + [
        ("switch", "main", LOOP, line(QUEUE, "asyncio.gather"), "wait gather"),
        ("spawn", p, "main"),
        ("switch", LOOP, p, None, "wake"),
        ("stdout", p, "put 0"),  # the queue has room for one: the second put waits
        ("switch", p, LOOP, put, "wait Queue.put"),
        ("spawn", c, "main"),
        ("switch", LOOP, c, None, "wake"),
        ("stdout", c, "got 0"),
        ("switch", c, LOOP, get, "wait Queue.get"),
        ("switch", LOOP, p, None, "wake"),
        ("stdout", p, "put 1"),
        ("switch", p, LOOP, line(QUEUE, "await q.put(None)"), "wait Queue.put"),
        ("switch", LOOP, c, None, "wake"),
        ("stdout", c, "got 1"),
        ("switch", c, LOOP, get, "wait Queue.get"),
        ("switch", LOOP, p, None, "wake"),
        ("finish", p),
        ("switch", p, LOOP, None, "finish"),
        ("switch", LOOP, c, None, "wake"),
        ("finish", c),
        ("switch", c, LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
    ] + RUN_END


BLOCKING = """
    import asyncio
    import time


    async def blocker():
        time.sleep(0.3)
        print('slept')


    async def napper():
        await asyncio.sleep(0.01)
        print('napped')


    async def main():
        await asyncio.gather(blocker(), napper())


    asyncio.run(main())
"""


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "one-core-with-a-burner"])
def test_time_sleep_in_a_coroutine_is_one_block_on_its_task(tmp_path, loaded):
    result, trace = coroscope_run(tmp_path, BLOCKING, loaded=loaded)
    assert result.stdout == "slept\nnapped\n"
    assert story(trace) == run_start(BLOCKING) + [
        ("switch", "main", LOOP, line(BLOCKING, "asyncio.gather"), "wait gather"),
        ("spawn", "blocker", "main"),
        ("switch", LOOP, "blocker", None, "wake"),
        ("block", "blocker", "time.sleep(0.3)"),
        ("unblock", "blocker"),
        ("stdout", "blocker", "slept"),
        ("finish", "blocker"),
        ("switch", "blocker", LOOP, None, "finish"),
        ("spawn", "napper", "main"),
        ("switch", LOOP, "napper", None, "wake"),
        ("switch", "napper", LOOP, line(BLOCKING, "asyncio.sleep(0.01)"), "timer 0.01 s"),
        ("switch", LOOP, "napper", None, "wake"),
        ("stdout", "napper", "napped"),
        ("finish", "napper"),
        ("switch", "napper", LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
    ] + RUN_END
    block = next(e for e in trace["events"] if e["kind"] == "block")
    unblock = next(e for e in trace["events"] if e["kind"] == "unblock")
    assert unblock["t"] - block["since"] >= 290_000_000


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "one-core-with-a-burner"])
def test_a_coroutine_computing_is_busy_and_the_idle_loop_never_is(tmp_path, loaded):
    # 400 ms of CPU in one task step; then the loop sits in select for 300 ms with
    # nothing to run (a timer): that is idle, never a block.
    source = """
        import asyncio
        import time


        async def spin():
            end = time.thread_time() + 0.4
            while time.thread_time() < end: pass


        async def main():
            await asyncio.create_task(spin())
            await asyncio.sleep(0.3)


        asyncio.run(main())
    """
    _, trace = coroscope_run(tmp_path, source, loaded=loaded)
    busy = f"busy: no switch in spin() line {line(source, 'while time.thread_time()')}"
    assert story(trace) == run_start(source) + [
        ("switch", "main", LOOP, line(source, "create_task(spin())"), "wait task spin"),
        ("spawn", "spin", "main"),
        ("switch", LOOP, "spin", None, "wake"),
        ("block", "spin", busy),
        ("finish", "spin"),
        ("unblock", "spin"),
        ("switch", "spin", LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
        ("switch", "main", LOOP, line(source, "asyncio.sleep(0.3)"), "timer 0.3 s"),
        ("switch", LOOP, "main", None, "wake"),
    ] + RUN_END
    block = next(e for e in trace["events"] if e["kind"] == "block")
    woke = [e for e in trace["events"] if e["kind"] == "switch" and e["to"] == block["task"]]
    assert block["since"] == woke[0]["t"]


def test_cancel_taskgroup_lock_and_event(tmp_path):
    source = """
        import asyncio


        async def holder(lock, ev):
            async with lock:
                await ev.wait()


        async def sleeper():
            await asyncio.sleep(10)


        async def main():
            lock, ev = asyncio.Lock(), asyncio.Event()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(holder(lock, ev))
                tg.create_task(holder(lock, ev))
                await asyncio.sleep(0)
                ev.set()
            s = asyncio.create_task(sleeper())
            await asyncio.sleep(0)
            s.cancel()
            await asyncio.wait([s])


        asyncio.run(main())
    """
    _, trace = coroscope_run(tmp_path, source)
    h = "holder(<Lock>, <Event>)"
    lines = textwrap.dedent(source).splitlines()
    sleep0 = [i + 1 for i, ln in enumerate(lines) if "await asyncio.sleep(0)" in ln]
    assert story(trace) == run_start(source) + [
        ("switch", "main", LOOP, sleep0[0], "timer 0 s"),
        ("spawn", h, "main"),
        ("switch", LOOP, h, None, "wake"),
        ("switch", h, LOOP, line(source, "await ev.wait()"), "wait Event"),
        ("spawn", h, "main"),
        ("switch", LOOP, h, None, "wake"),
        ("switch", h, LOOP, line(source, "async with lock:"), "wait Lock"),
        ("switch", LOOP, "main", None, "wake"),
        ("switch", "main", LOOP, line(source, "asyncio.TaskGroup()"), "wait TaskGroup"),
        ("switch", LOOP, h, None, "wake"),
        ("finish", h),
        ("switch", h, LOOP, None, "finish"),
        ("switch", LOOP, h, None, "wake"),
        ("finish", h),
        ("switch", h, LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
        ("switch", "main", LOOP, sleep0[1], "timer 0 s"),
        ("spawn", "sleeper", "main"),
        ("switch", LOOP, "sleeper", None, "wake"),
        ("switch", "sleeper", LOOP, line(source, "asyncio.sleep(10)"), "timer 10 s"),
        ("switch", LOOP, "main", None, "wake"),
        ("switch", "main", LOOP, line(source, "asyncio.wait([s])"), "wait asyncio.wait"),
        ("switch", LOOP, "sleeper", None, "wake"),  # CancelledError thrown in
        ("finish", "sleeper"),
        ("switch", "sleeper", LOOP, None, "cancel"),
        ("switch", LOOP, "main", None, "wake"),
    ] + RUN_END


def test_no_asyncio_costs_nothing_and_tracing_undoes_its_patches():
    # A program that never imports asyncio: an import watch, no patch; once stopped,
    # not even the watch. A program that does: patched while traced, restored after.
    code = textwrap.dedent("""
        import sys
        from app.tracer.session import Session
        from app.tracer.aio import _ImportWatch
        watching = lambda: any(isinstance(f, _ImportWatch) for f in sys.meta_path)
        seen = []
        s = Session([])
        s.start()
        seen += ['asyncio' in sys.modules, watching()]
        s.stop()
        seen += [watching()]
        import asyncio, asyncio.events
        before = asyncio.events.Handle._run
        s = Session([])
        s.start()
        seen += [asyncio.events.Handle._run is before, watching()]
        s.stop()
        seen += [asyncio.events.Handle._run is before, asyncio.run.__module__]
        print(*seen)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.stdout.split() == ["False", "True", "False", "False", "False", "True",
                                  "asyncio.runners"], out.stderr


def test_gevent_and_asyncio_in_one_script(tmp_path):
    source = """
        import asyncio
        import gevent


        def work():
            gevent.sleep(0.01)
            print('greenlet')


        async def main():
            await asyncio.sleep(0.01)
            print('task')


        gevent.spawn(work).join()
        asyncio.run(main())
    """
    _, trace = coroscope_run(tmp_path, source)
    told = story(trace)
    assert ("stdout", "work", "greenlet") in told and ("stdout", "main", "task") in told
    assert ("switch", "work", "Hub", line(source, "gevent.sleep(0.01)"), "timer 0.01 s") in told
    assert ("switch", "main", LOOP, line(source, "await asyncio.sleep"), "timer 0.01 s") in told
    assert told[-4:] == RUN_END


# -- the Python API ----------------------------------------------------------------------

async def eat(name):
    print(name, "eat 1")
    await asyncio.sleep(0.04)
    print(name, "eat 2")


async def play(name):
    print(name, "play 1")
    await asyncio.sleep(0.02)
    print(name, "play 2")


async def api_main():
    await asyncio.gather(eat("egon"), play("egon"))


async def blocking_main():
    time.sleep(0.2)


def test_the_python_api_traces_asyncio(tmp_path, capsys):
    out = tmp_path / "api.json"
    with coroscope.trace(str(out)):
        asyncio.run(api_main())
    assert capsys.readouterr().out == "egon eat 1\negon play 1\negon play 2\negon eat 2\n"
    trace = json.loads(out.read_text())
    validate_trace(trace)
    src = (ROOT / "tests" / "test_asyncio_trace.py").read_text().splitlines()
    here = [i + 1 for i, ln in enumerate(src) if ln == "        asyncio.run(api_main())"]
    eat_, play_ = "eat('egon')", "play('egon')"
    assert story(trace) == [
        ("spawn", "main", None),
        ("spawn", LOOP, "main"),
        ("switch", "main", LOOP, here[0], "wait asyncio.run"),
        ("spawn", "api_main", "main"),
        ("switch", LOOP, "api_main", None, "wake"),
        ("switch", "api_main", LOOP, api_main.__code__.co_firstlineno + 1, "wait gather"),
        ("spawn", eat_, "api_main"),
        ("switch", LOOP, eat_, None, "wake"),
        ("stdout", eat_, "egon eat 1"),
        ("switch", eat_, LOOP, eat.__code__.co_firstlineno + 2, "timer 0.04 s"),
        ("spawn", play_, "api_main"),
        ("switch", LOOP, play_, None, "wake"),
        ("stdout", play_, "egon play 1"),
        ("switch", play_, LOOP, play.__code__.co_firstlineno + 2, "timer 0.02 s"),
        ("switch", LOOP, play_, None, "wake"),
        ("stdout", play_, "egon play 2"),
        ("finish", play_),
        ("switch", play_, LOOP, None, "finish"),
        ("switch", LOOP, eat_, None, "wake"),
        ("stdout", eat_, "egon eat 2"),
        ("finish", eat_),
        ("switch", eat_, LOOP, None, "finish"),
        ("switch", LOOP, "api_main", None, "wake"),
        ("finish", "api_main"),
        ("switch", "api_main", LOOP, None, "finish"),
        ("finish", LOOP),
        ("switch", LOOP, "main", None, "finish"),
    ]


def test_the_python_api_marks_time_sleep_in_a_coroutine(tmp_path):
    out = tmp_path / "block.json"
    with coroscope.trace(str(out)):
        asyncio.run(blocking_main())
    trace = json.loads(out.read_text())
    validate_trace(trace)
    blocks = [e for e in story(trace) if e[0] in ("block", "unblock")]
    assert blocks == [("block", "blocking_main", "time.sleep(0.2)"),
                      ("unblock", "blocking_main")]
    # Afterwards asyncio runs untraced, as before.
    assert asyncio.events.Handle._run.__module__ == "asyncio.events"


def test_what_asyncio_warns_of_is_a_warning_on_the_task(tmp_path):
    # A coroutine called and never awaited; a task whose exception nobody retrieves; a
    # task still pending when its loop is dropped. asyncio (or Python) says so on
    # stderr when it notices; the trace says it on the task's lane, at that moment.
    source = """
        import asyncio
        import gc


        async def forgotten():
            pass


        async def fails():
            raise ValueError('x')


        async def forever():
            await asyncio.Event().wait()


        async def main():
            forgotten()
            gc.collect()
            task = asyncio.create_task(fails(), name='fails')
            await asyncio.sleep(0.01)
            del task
            gc.collect()


        asyncio.run(main())
        loop = asyncio.new_event_loop()
        loop.run_until_complete(asyncio.sleep(0))
        stuck = loop.create_task(forever(), name='stuck')
        loop.run_until_complete(asyncio.sleep(0.01))
        del stuck
        loop.close()
        del loop
        gc.collect()
    """
    result, trace = coroscope_run(tmp_path, source)
    warned = [e for e in story(trace) if e[0] == "warning"]
    assert warned == [
        ("warning", "main", "coroutine 'forgotten' was never awaited"),
        ("warning", "fails", "exception never retrieved: ValueError('x')"),
        ("warning", "stuck", "destroyed while pending"),
    ]
    # asyncio and Python still say it as usual.
    assert "coroutine 'forgotten' was never awaited" in result.stderr
    assert "Task exception was never retrieved" in result.stderr
    assert "Task was destroyed but it is pending!" in result.stderr


def test_the_warning_hook_is_given_back_whatever_order_tracers_stop_in():
    """Tracers of two threads start A, B and stop A, B: the process-wide hook that says
    "never awaited" goes away with the last one (it stayed, holding A, before)."""
    import threading
    import warnings

    from app.tracer.recorder import Recorder

    original = warnings.showwarning
    a = Recorder(user_files=[], asyncio=True)
    b_started, a_stopped, done = threading.Event(), threading.Event(), threading.Event()

    def other_thread() -> None:
        b = Recorder(user_files=[], asyncio=True)
        b.start()
        b_started.set()
        a_stopped.wait(10)
        b.stop()
        done.set()

    a.start()
    thread = threading.Thread(target=other_thread)
    thread.start()
    assert b_started.wait(10)
    assert warnings.showwarning is not original
    a.stop()
    a_stopped.set()
    assert done.wait(10)
    thread.join()
    assert warnings.showwarning is original


def test_a_task_group_whose_child_raises(tmp_path):
    # One child raises while its sibling sleeps: the group cancels the sibling, main
    # leaves the group with an ExceptionGroup and goes on. Each lane says how it ended.
    source = """
        import asyncio


        async def fail():
            await asyncio.sleep(0.01)
            raise ValueError('boom')


        async def long_nap():
            await asyncio.sleep(10)


        async def main():
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(fail())
                    tg.create_task(long_nap())
            except* ValueError as group:
                print('caught', group.exceptions)


        asyncio.run(main())
    """
    result, trace = coroscope_run(tmp_path, source)
    assert result.stdout == "caught (ValueError('boom'),)\n"
    group = line(source, "asyncio.TaskGroup()")
    assert story(trace) == run_start(source) + [
        ("switch", "main", LOOP, group, "wait TaskGroup"),
        ("spawn", "fail", "main"),
        ("switch", LOOP, "fail", None, "wake"),
        ("switch", "fail", LOOP, line(source, "asyncio.sleep(0.01)"), "timer 0.01 s"),
        ("spawn", "long_nap", "main"),
        ("switch", LOOP, "long_nap", None, "wake"),
        ("switch", "long_nap", LOOP, line(source, "asyncio.sleep(10)"), "timer 10 s"),
        ("switch", LOOP, "fail", None, "wake"),
        ("finish", "fail"),
        ("switch", "fail", LOOP, None, "finish"),
        ("switch", LOOP, "long_nap", None, "wake"),  # CancelledError thrown in
        ("finish", "long_nap"),
        ("switch", "long_nap", LOOP, None, "cancel"),
        # main is cancelled out of its wait by the failure, and waits again for the
        # group's last child to be reported done (its done callback runs after main's
        # step): then the group raises.
        ("switch", LOOP, "main", None, "wake"),
        ("switch", "main", LOOP, group, "wait TaskGroup"),
        ("switch", LOOP, "main", None, "wake"),
        ("stdout", "main", "caught (ValueError('boom'),)"),
    ] + RUN_END
    # The raise is an event of the task, not a warning: the group retrieved it.
    assert not [e for e in trace["events"] if e["kind"] == "warning"]


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "one-core-with-a-burner"])
def test_an_import_inside_a_task_is_not_busy_and_a_busy_step_ends_at_its_pause(
        tmp_path, loaded):
    # A task imports a module whose top level computes for 300 ms of CPU: an import, not
    # a task hogging the loop (no block). Another computes 300 ms, then pauses: a busy
    # span that ends as the task hands the loop back.
    source = """
        import asyncio
        import time


        async def loader():
            import slowmod
            print('loaded', slowmod.X)


        async def spin():
            end = time.thread_time() + 0.3
            while time.thread_time() < end: pass
            await asyncio.sleep(0)
            print('spun')


        async def main():
            await asyncio.gather(loader(), spin())


        asyncio.run(main())
    """
    result, trace = coroscope_run(tmp_path, source, loaded=loaded, files={"slowmod.py": """
        import time
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass
        X = 42
    """})
    assert result.stdout == "loaded 42\nspun\n"
    busy = f"busy: no switch in spin() line {line(source, 'while time.thread_time()')}"
    assert story(trace) == run_start(source) + [
        ("switch", "main", LOOP, line(source, "asyncio.gather"), "wait gather"),
        ("spawn", "loader", "main"),
        ("switch", LOOP, "loader", None, "wake"),
        ("stdout", "loader", "loaded 42"),
        ("finish", "loader"),
        ("switch", "loader", LOOP, None, "finish"),
        ("spawn", "spin", "main"),
        ("switch", LOOP, "spin", None, "wake"),
        ("block", "spin", busy),
        ("unblock", "spin"),
        ("switch", "spin", LOOP, line(source, "await asyncio.sleep(0)"), "timer 0 s"),
        ("switch", LOOP, "spin", None, "wake"),
        ("stdout", "spin", "spun"),
        ("finish", "spin"),
        ("switch", "spin", LOOP, None, "finish"),
        ("switch", LOOP, "main", None, "wake"),
    ] + RUN_END
    events = trace["events"]
    unblock = next(e for e in events if e["kind"] == "unblock")
    paused = next(e for e in events if e["kind"] == "switch" and e["cause"] == "timer 0 s")
    assert unblock["t"] <= paused["t"]


async def _every_kind_of_wait() -> None:
    """Most ways a task waits, one after the other, in an order that does not depend on
    the machine's speed (what must happen first is awaited, never slept for)."""
    queue: asyncio.Queue = asyncio.Queue(maxsize=1)
    lock, event, sem = asyncio.Lock(), asyncio.Event(), asyncio.Semaphore(1)
    cond, drained, ready = asyncio.Condition(), asyncio.Event(), asyncio.Event()
    passed = []

    async def producer():
        for i in range(3):  # the second and third wait for room
            await queue.put(i)
        await drained.wait()
        await queue.put(3)

    async def consumer():
        for _ in range(3):
            await queue.get()
            await asyncio.sleep(0.001)
        drained.set()
        await queue.get()  # waits for the producer's last item

    async def locker(n):
        async with lock:
            await asyncio.sleep(0.002 * n)
        passed.append(n)
        if len(passed) == 3:
            ready.set()
        async with sem:
            await event.wait()

    async def notified():
        async with cond:
            await cond.wait()

    async def napper(delay):
        await asyncio.sleep(delay)
        return delay

    async def failing():
        raise ValueError("x")

    class Custom(asyncio.Queue):
        pass

    await asyncio.gather(producer(), consumer())
    lockers = [asyncio.create_task(locker(n)) for n in range(3)]
    waiter = asyncio.create_task(notified())
    await ready.wait()
    event.set()
    async with cond:
        cond.notify_all()
    await asyncio.gather(*lockers, waiter)
    await asyncio.wait_for(napper(0.001), 5)
    done, _ = await asyncio.wait([asyncio.create_task(napper(0.002))])
    await asyncio.create_task(napper(0))
    async with asyncio.TaskGroup() as tg:
        for delay in (0.003, 0.001, 0.003):
            tg.create_task(napper(delay))
    custom: asyncio.Queue = Custom()
    getter = asyncio.create_task(custom.get())
    await asyncio.sleep(0)
    custom.put_nowait(1)
    await getter
    sleeper = asyncio.create_task(napper(10))
    await asyncio.sleep(0)
    sleeper.cancel()
    await asyncio.gather(sleeper, failing(), return_exceptions=True)
    async def echo(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        reader, writer = await asyncio.open_connection(*server.sockets[0].getsockname()[:2])
        writer.write(b"ping\n")
        await reader.readline()
        await reader.read()
        writer.close()
        await writer.wait_closed()


def test_the_c_step_and_the_python_step_record_the_same_rows():
    """Task steps recorded in C (``_hook.AioStep``) and in Python (the pure-Python
    recorder) give the same rows, for every kind of wait above."""
    from app.tracer import aio, recorder

    if recorder._FastHook is None or aio._AioStep is None:
        pytest.skip("the C hook is not built")
    rows = {}
    for fast in (True, False):
        rec = recorder.Recorder(user_files=[__file__], asyncio=True, fast=fast)
        rec.start()
        try:
            asyncio.run(_every_kind_of_wait())
            in_c = rec._asyncio.fast is not None
        finally:
            rec.stop()
        assert in_c is fast and rec._asyncio.fast is None
        rows[fast] = [tuple(r[1:]) for r in rec.rows.drain()]
    assert rows[True] == rows[False]
    causes = {r[-1] for r in rows[True] if r[0] == recorder.SWITCH}
    for expected in ("timer 0 s", "timer 0.001 s", "timer 0.002 s", "timer 10 s",
                     "wait Queue.put", "wait Queue.get", "wait Custom.get", "wait Lock",
                     "wait Semaphore", "wait Event", "wait Condition", "wait gather",
                     "wait asyncio.wait", "wait task napper", "wait TaskGroup",
                     "wait open_connection", "finish", "cancel", "wake"):
        assert expected in causes, (expected, sorted(causes))
    # 3.12+ awaits the coroutine inside wait_for in the task itself (under a timeout):
    # its pause is the coroutine's own.
    assert ("wait wait_for" in causes) is (sys.version_info < (3, 12))
    assert any(c.startswith("io fd ") for c in causes), sorted(causes)


def _callbacks_as_asyncio_runs_them() -> dict:
    """What a loop says of callbacks that raise, exit, or run in a given context."""
    import contextvars

    var: contextvars.ContextVar = contextvars.ContextVar("var", default="unset")
    seen: dict = {}

    def fails():
        raise ValueError("boom")

    def reads():
        seen["in context"] = var.get()
        var.set("changed inside")

    async def main():
        loop = asyncio.get_running_loop()
        reports = []
        loop.set_exception_handler(lambda loop, context: reports.append(context))
        handle = loop.call_soon(fails)
        context = contextvars.copy_context()
        context.run(var.set, "given")
        loop.call_soon(reads, context=context)
        await asyncio.sleep(0.001)
        await asyncio.sleep(0)
        [report] = reports
        seen["report"] = (report["message"], type(report["exception"]).__name__,
                          str(report["exception"]), report["handle"] is handle,
                          handle._context is not None and type(handle._context).__name__,
                          [f.name for f in traceback.extract_tb(report["exception"].__traceback__)])
        seen["outside"] = var.get()
        seen["context after"] = context[var]
        loop.call_soon(sys.exit, 3)
        await asyncio.sleep(1)

    try:
        asyncio.run(main())
    except SystemExit as exc:
        seen["exit"] = exc.code
    return seen


def test_a_callback_that_raises_is_reported_as_asyncio_reports_it():
    """Traced, a handle's callback is run from C (not through Handle._run's frame): what
    raises is still reported by asyncio's own words, SystemExit still ends the run, a
    given context is still the callback's and given back."""
    from app.tracer import recorder

    untraced = _callbacks_as_asyncio_runs_them()
    rec = recorder.Recorder(user_files=[__file__], asyncio=True)
    rec.start()
    try:
        traced = _callbacks_as_asyncio_runs_them()
    finally:
        rec.stop()
    assert traced == untraced
    message, *report = traced.pop("report")
    assert message.startswith(
        "Exception in callback _callbacks_as_asyncio_runs_them.<locals>.fails() at "), message
    assert report == ["ValueError", "boom", True, "Context", ["_run", "fails"]]
    assert traced == {"in context": "given", "outside": "unset",
                      "context after": "changed inside", "exit": 3}


def test_a_tasks_other_methods_given_to_the_loop_are_not_its_steps(tmp_path):
    # loop.call_soon(t.cancel) runs one of t's methods, not a step of t: no wake of t
    # then; its real step (the CancelledError thrown in) comes after.
    source = """
        import asyncio


        async def nap():
            await asyncio.sleep(10)


        async def main():
            t = asyncio.create_task(nap())
            await asyncio.sleep(0)
            asyncio.get_running_loop().call_soon(t.cancel)
            await asyncio.wait([t])


        asyncio.run(main())
    """
    _, trace = coroscope_run(tmp_path, source)
    told = story(trace)
    naps = [e for e in told if "nap" in e[1:3] and e[0] == "switch"]
    assert naps == [
        ("switch", LOOP, "nap", None, "wake"),
        ("switch", "nap", LOOP, line(source, "asyncio.sleep(10)"), "timer 10 s"),
        ("switch", LOOP, "nap", None, "wake"),  # CancelledError thrown in
        ("switch", "nap", LOOP, None, "cancel"),
    ]


def test_a_keyboard_interrupt_in_a_flagged_callback_stays_one():
    """A loop callback the busy watchdog has flagged (the moment a user presses Ctrl-C)
    that raises KeyboardInterrupt: the run ends with that KeyboardInterrupt."""
    from app.tracer import recorder

    rec = recorder.Recorder(user_files=[__file__], asyncio=True)

    def interrupted():
        rec.busy_task = rec.running  # as BusyWatch.begin_busy leaves it
        rec._sync_fast()
        raise KeyboardInterrupt

    async def main():
        asyncio.get_running_loop().call_soon(interrupted)
        await asyncio.sleep(1)

    rec.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            asyncio.run(main())
    finally:
        rec.stop()


def test_a_loop_in_an_untraced_thread_stays_out_of_the_trace():
    # The traced thread starts before asyncio is imported; another thread imports it (so
    # the patches are applied from there) and runs a loop of its own: none of its tasks
    # is in the trace, and the traced thread's own asyncio still is.
    code = textwrap.dedent("""
        import sys, threading
        from app.tracer.recorder import Recorder
        rec = Recorder(user_files=[], asyncio=True)
        rec.start()

        def worker():
            import asyncio

            async def w():
                await asyncio.sleep(0)

            async def wmain():
                await asyncio.create_task(w())

            asyncio.run(wmain())

        t = threading.Thread(target=worker)
        t.start()
        t.join()
        import asyncio

        async def mine():
            await asyncio.sleep(0)

        asyncio.run(mine())
        rec.stop()
        print(sorted({t['name'] for t in rec.tasks.values()}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.stdout.split("\n")[0] == "['event loop', 'main', 'mine']", out.stderr


def test_tracing_stopped_inside_a_task_ends_cleanly(tmp_path):
    from app.tracer import recorder

    rec = recorder.Recorder(user_files=[__file__], asyncio=True)

    async def main():
        await asyncio.sleep(0)
        rec.stop()
        await asyncio.sleep(0)
        return "done"

    rec.start()
    assert asyncio.run(main()) == "done"

"""`coroscope run SCRIPT`: the script runs exactly as under `python`, and is traced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from .conftest import ROOT, validate_trace


def run_both(tmp_path, source: str, *args: str, stdin: str = ""):
    """Run a script under python and under coroscope run; return both results and the trace."""
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent(source))
    plain = subprocess.run([sys.executable, "prog.py", *args], cwd=tmp_path, input=stdin,
                           capture_output=True, text=True, timeout=60)
    traced = subprocess.run([sys.executable, "-m", "app", "run", "--out", "t.json", "prog.py",
                             *args], cwd=tmp_path, input=stdin, capture_output=True, text=True,
                            timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                 "COROSCOPE_DATA_DIR": str(tmp_path / "history")})
    trace = json.loads((tmp_path / "t.json").read_text())
    validate_trace(trace)
    return plain, traced, trace


def test_argv_name_cwd_and_stdin_are_those_of_python(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        import os, sys
        print(sys.argv, __name__, os.path.basename(os.getcwd()))
        print('read:', sys.stdin.read().strip())
    """, "a", "--flag", "b c", stdin="hello\n")
    assert traced.returncode == plain.returncode == 0
    assert traced.stdout == plain.stdout
    assert plain.stdout.startswith("['prog.py', 'a', '--flag', 'b c'] __main__ ")
    assert [e["text"] for e in trace["events"] if e["kind"] == "stdout"] == \
        plain.stdout.splitlines()
    assert trace["run"]["script"] == {"argv": ["prog.py", "a", "--flag", "b c"], "exit_code": 0,
                                      "path": str(tmp_path / "prog.py"),
                                      "generators": trace["run"]["script"]["generators"]}
    assert isinstance(trace["run"]["script"]["generators"], bool)
    assert trace["run"]["demo"] is None and trace["run"]["source"]["file"] == "prog.py"


def test_monkey_patched_script_switches_through_the_hub(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        from gevent import monkey; monkey.patch_all()
        import time, gevent
        def work(n):
            time.sleep(0.05 * n)
            print('done', n)
        gevent.joinall([gevent.spawn(work, n) for n in (2, 1)])
    """)
    assert traced.stdout == plain.stdout == "done 1\ndone 2\n"
    names = {t["id"]: t["name"] for t in trace["tasks"]}
    assert sorted(names.values()) == ["Hub", "main", "work", "work"]
    assert not any(e["kind"] == "block" for e in trace["events"])
    assert sum(1 for e in trace["events"] if e["kind"] == "switch"
               and names[e["to"]] == "Hub") >= 4


def test_a_raising_script_keeps_its_traceback_and_exit_code(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        def f():
            raise KeyError('missing')
        print('before')
        f()
    """)
    assert traced.returncode == plain.returncode == 1
    assert traced.stdout == plain.stdout == "before\n"
    assert traced.stderr.startswith(plain.stderr)  # then coroscope's one-line summary
    assert plain.stderr.strip().endswith("KeyError: 'missing'")
    assert trace["run"]["status"] == "error"
    assert trace["run"]["error"] == plain.stderr
    assert trace["run"]["script"]["exit_code"] == 1


def test_sys_exit_code_passes_through(tmp_path):
    plain, traced, trace = run_both(tmp_path, """
        import sys
        print('bye')
        sys.exit(3)
    """)
    assert traced.returncode == plain.returncode == 3
    assert trace["run"]["status"] == "error"
    assert trace["run"]["error"] == "exit code 3 (SystemExit(3))"
    assert trace["run"]["script"]["exit_code"] == 3


def test_missing_script_is_a_clear_error(tmp_path):
    result = subprocess.run([sys.executable, "-m", "app", "run", "nope.py"], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "COROSCOPE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "no such script: nope.py" in result.stderr


def coroscope_run(tmp_path, source: str, *options: str, loaded: bool = False,
                  files: dict[str, str] | None = None):
    """``coroscope run [OPTIONS] prog.py``; its result and trace. ``loaded``: on one core
    shared with a CPU burner (as ``taskset -c N``), which is killed afterwards."""
    (tmp_path / "prog.py").write_text(textwrap.dedent(source))
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    core = min(os.sched_getaffinity(0))
    pin = (lambda: os.sched_setaffinity(0, {core})) if loaded else None
    burner = (subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin)
              if loaded else None)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "app", "run", *options, "--out", "t.json", "prog.py"],
            cwd=tmp_path, capture_output=True, text=True, timeout=60, preexec_fn=pin,
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                 "COROSCOPE_DATA_DIR": str(tmp_path / "history")})
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    assert result.returncode == 0, result.stderr
    trace = json.loads((tmp_path / "t.json").read_text())
    validate_trace(trace)
    return result, trace


def story(trace: dict) -> list[tuple]:
    """The trace's events by task name (``work(2)``: name and spawn arguments), without
    times, lines or ``taskinfo`` (when a Dummy thread name is learned is a race)."""
    names = {t["id"]: t["name"] + (f"({t['args']})" if t.get("args") else "")
             for t in trace["tasks"]}
    told = []
    for e in trace["events"]:
        kind = e["kind"]
        if kind == "switch":
            told.append((kind, names[e["from"]], names[e["to"]], e["cause"]))
        elif kind == "block":
            told.append((kind, names[e["task"]], e["call"]))
        elif kind == "stdout":
            told.append((kind, names[e["task"]], e["text"]))
        elif kind != "taskinfo":
            told.append((kind, names[e["task"]]))
    return told


SEED_LIKE = """
    from gevent import monkey; monkey.patch_all()
    import time, gevent
    def work(n):
        time.sleep(0.05 * n)
        print('done', n)
    gevent.joinall([gevent.spawn(work, n) for n in (2, 1)])
"""


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "one-core-with-a-burner"])
def test_a_patched_script_has_no_block_even_on_a_busy_machine(tmp_path, loaded):
    # Importing gevent and patching took > 100 ms (always, on a loaded core): it was
    # drawn as main "busy: no switch in <module>() line 1", before any Hub existed.
    result, trace = coroscope_run(tmp_path, SEED_LIKE, loaded=loaded)
    assert result.stdout == "done 1\ndone 2\n"
    assert story(trace) == [
        ("spawn", "main"),
        ("spawn", "Hub"),
        ("switch", "main", "Hub", "wait"),
        ("spawn", "work(2)"),
        ("switch", "Hub", "work(2)", "wake"),
        ("switch", "work(2)", "Hub", "timer 0.1 s"),
        ("spawn", "work(1)"),
        ("switch", "Hub", "work(1)", "wake"),
        ("switch", "work(1)", "Hub", "timer 0.05 s"),
        ("switch", "Hub", "work(1)", "wake"),
        ("stdout", "work(1)", "done 1"),
        ("finish", "work(1)"),
        ("switch", "work(1)", "Hub", "finish"),
        ("switch", "Hub", "main", "wake"),
        ("switch", "main", "Hub", "wait"),
        ("switch", "Hub", "work(2)", "wake"),
        ("stdout", "work(2)", "done 2"),
        ("finish", "work(2)"),
        ("switch", "work(2)", "Hub", "finish"),
        ("switch", "Hub", "main", "wake"),
    ]


def test_an_import_inside_a_greenlet_is_not_busy(tmp_path):
    # The Hub runs; a greenlet imports a module whose top level computes for 300 ms of
    # CPU. That is an import, not a coroutine hogging the thread: no block.
    _, trace = coroscope_run(tmp_path, """
        import gevent


        def loader():
            import slowmod
            print('loaded', slowmod.X)


        def other():
            gevent.sleep(0.01)
            print('other')


        gevent.joinall([gevent.spawn(loader), gevent.spawn(other)])
    """, files={"slowmod.py": """
        import time
        end = time.thread_time() + 0.3
        while time.thread_time() < end:
            pass
        X = 42
    """})
    assert story(trace) == [
        ("spawn", "main"),
        ("spawn", "Hub"),
        ("switch", "main", "Hub", "wait"),
        ("spawn", "loader"),
        ("switch", "Hub", "loader", "wake"),
        ("stdout", "loader", "loaded 42"),
        ("finish", "loader"),
        ("switch", "loader", "Hub", "finish"),
        ("spawn", "other"),
        ("switch", "Hub", "other", "wake"),
        ("switch", "other", "Hub", "timer 0.01 s"),
        ("switch", "Hub", "main", "wake"),
        ("switch", "main", "Hub", "wait"),
        ("switch", "Hub", "other", "wake"),
        ("stdout", "other", "other"),
        ("finish", "other"),
        ("switch", "other", "Hub", "finish"),
        ("switch", "Hub", "main", "wake"),
    ]


def test_an_asyncio_program_is_not_busy(tmp_path):
    # No gevent: the asyncio loop waits in epoll between ticks. main was drawn "busy: no
    # switch" for the whole run; then asyncio was traced (tests/test_asyncio_trace.py):
    # the loop waiting is the event loop lane idle, never a block.
    _, trace = coroscope_run(tmp_path, """
        import asyncio


        async def tick(n):
            for i in range(3):
                await asyncio.sleep(0.1)
                print('tick', n, i)


        async def main():
            await asyncio.gather(tick(0), tick(1))


        asyncio.run(main())
    """)
    loop, ticks = "event loop", ["tick(0)", "tick(1)"]
    told = [("spawn", "main"), ("spawn", loop), ("switch", "main", loop, "wait asyncio.run"),
            ("spawn", "main"), ("switch", loop, "main", "wake"),
            ("switch", "main", loop, "wait gather")]
    for tick in ticks:
        told += [("spawn", tick), ("switch", loop, tick, "wake"),
                 ("switch", tick, loop, "timer 0.1 s")]
    for i in range(3):
        for n, tick in enumerate(ticks):
            told += [("switch", loop, tick, "wake"), ("stdout", tick, f"tick {n} {i}")]
            told += ([("switch", tick, loop, "timer 0.1 s")] if i < 2 else
                     [("finish", tick), ("switch", tick, loop, "finish")])
    told += [("switch", loop, "main", "wake"), ("finish", "main"),
             ("switch", "main", loop, "finish"), ("finish", loop),
             ("switch", loop, "main", "finish")]
    assert story(trace) == told


def test_a_computation_without_gevent_is_not_busy(tmp_path):
    _, trace = coroscope_run(tmp_path, """
        import time
        end = time.thread_time() + 0.3
        n = 0
        while time.thread_time() < end:
            n += 1
        print('done')
    """)
    assert story(trace) == [("spawn", "main"), ("stdout", "main", "done")]


@pytest.mark.parametrize("loaded", [False, True], ids=["idle", "one-core-with-a-burner"])
def test_a_busy_greenlet_is_one_block_with_its_function_and_line(tmp_path, loaded):
    # 200 ms of setup before the Hub exists (no block), then a greenlet that computes for
    # 400 ms of CPU without a switch while another waits on a timer: exactly one block,
    # on that greenlet, from its switch in to its end, on an idle or a loaded core.
    source = """
        import time
        end = time.thread_time() + 0.2
        while time.thread_time() < end: pass
        import gevent


        def spin():
            end = time.thread_time() + 0.4
            while time.thread_time() < end: pass


        def nap():
            gevent.sleep(0.01)
            print('nap')


        gevent.joinall([gevent.spawn(nap), gevent.spawn(spin)])
    """
    _, trace = coroscope_run(tmp_path, source, loaded=loaded)
    line = textwrap.dedent(source).splitlines().index(
        "    while time.thread_time() < end: pass") + 1
    assert story(trace) == [
        ("spawn", "main"),
        ("spawn", "Hub"),
        ("switch", "main", "Hub", "wait"),
        ("spawn", "nap"),
        ("switch", "Hub", "nap", "wake"),
        ("switch", "nap", "Hub", "timer 0.01 s"),
        ("spawn", "spin"),
        ("switch", "Hub", "spin", "wake"),
        ("block", "spin", f"busy: no switch in spin() line {line}"),
        ("finish", "spin"),
        ("unblock", "spin"),
        ("switch", "spin", "Hub", "finish"),
        ("switch", "Hub", "main", "wake"),  # joinall learns that spin ended
        ("switch", "main", "Hub", "wait"),
        ("switch", "Hub", "nap", "wake"),  # its timer is long overdue
        ("stdout", "nap", "nap"),
        ("finish", "nap"),
        ("switch", "nap", "Hub", "finish"),
        ("switch", "Hub", "main", "wake"),
    ]
    events = trace["events"]
    block = next(e for e in events if e["kind"] == "block")
    switched_in = max(e["t"] for e in events if e["kind"] == "switch" and e["t"] <= block["t"])
    assert block["since"] == switched_in
    assert block["t"] - block["since"] >= 100_000_000


GENERATOR_SCRIPT = """
    def consumer():
        while True:
            x = yield
            print('consumer got %s' % x)


    def producer(n):
        g = consumer()
        next(g)
        for i in range(n):
            print('producer sends %s' % i)
            g.send(i)


    producer(2)
"""


def test_generators_are_traced_without_a_flag(tmp_path):
    # The tutorial's first example recorded 2 events and said nothing about --generators.
    result, trace = coroscope_run(tmp_path, GENERATOR_SCRIPT)
    lines = textwrap.dedent(GENERATOR_SCRIPT).splitlines()
    send, yield_ = lines.index("        g.send(i)") + 1, lines.index("        x = yield") + 1
    kinds = {t["name"]: t["kind"] for t in trace["tasks"]}
    assert kinds == {"main": "main", "producer": "function", "consumer": "generator"}
    assert story(trace) == [
        ("spawn", "main"),
        ("spawn", "producer"),
        ("switch", "main", "producer", "call"),
        ("spawn", "consumer"),
        ("switch", "producer", "consumer", "send"),
        ("switch", "consumer", "producer", "yield"),
        ("stdout", "producer", "producer sends 0"),
        ("switch", "producer", "consumer", "send"),
        ("stdout", "consumer", "consumer got 0"),
        ("switch", "consumer", "producer", "yield"),
        ("stdout", "producer", "producer sends 1"),
        ("switch", "producer", "consumer", "send"),
        ("stdout", "consumer", "consumer got 1"),
        ("switch", "consumer", "producer", "yield"),
        ("finish", "producer"),
        ("switch", "producer", "main", "return"),
    # 3.13 closes a generator at a bare yield without an event (README's known limits).
    ] + ([("finish", "consumer")] if sys.version_info < (3, 13) else [])
    switch_lines = [(e["cause"], e["line"]) for e in trace["events"] if e["kind"] == "switch"]
    assert switch_lines[3:6] == [("send", send), ("yield", yield_), ("send", send)]
    assert "not traced" not in result.stderr
    _, alias = coroscope_run(tmp_path, GENERATOR_SCRIPT, "--generators")  # as before
    assert story(alias) == story(trace)


def test_no_generators_says_what_the_trace_leaves_out(tmp_path):
    result, trace = coroscope_run(tmp_path, GENERATOR_SCRIPT, "--no-generators")
    assert story(trace) == [("spawn", "main")] + [
        ("stdout", "main", text) for text in ("producer sends 0", "consumer got 0",
                                              "producer sends 1", "consumer got 1")]
    assert result.stderr.splitlines()[-1] == (
        "coroscope: generators were not traced (--no-generators): the send/yield "
        "switches of consumer() are not in the trace")
    result, _ = coroscope_run(tmp_path, SEED_LIKE, "--no-generators")
    assert "not traced" not in result.stderr  # no generator there: nothing left out

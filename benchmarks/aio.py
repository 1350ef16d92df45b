"""asyncio tracing overhead, side by side: ``python -m benchmarks.aio [--quick]``.

Each workload runs in this process in every mode, alternating, keeping the best of
``repeat`` runs, so a noisy neighbour hurts all modes alike. The modes:

``plain``        untraced asyncio;
``noop-handle``  ``asyncio.events.Handle._run`` wrapped by a function that only calls
                 through: the floor of the loop-level hook coroscope uses (app/tracer/aio.py);
``noop-monitor`` (3.12+) ``sys.monitoring`` calling a Python function on PY_START,
                 PY_RESUME, PY_YIELD and PY_RETURN of coroutines (other code is DISABLEd
                 at its first event): the floor of the per-frame alternative;
``traced``       the real recorder (``Recorder(asyncio=True)``), rows kept in memory.

Ratios are against ``plain``. Then the whole process as a user meets it: ``python
prog.py`` against ``coroscope run --out trace.json prog.py`` (the traced child, the
command storing its batches, the trace written), for the same 10,000 x 100 ``sleep(0)``.
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.events
import gc
import inspect
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from app.tracer.recorder import Recorder


async def _sleeper(sleeps: int) -> None:
    for _ in range(sleeps):
        await asyncio.sleep(0)


async def many_sleep0(tasks: int, sleeps: int) -> None:
    """``tasks`` tasks, each ``await asyncio.sleep(0)`` ``sleeps`` times."""
    await asyncio.gather(*(_sleeper(sleeps) for _ in range(tasks)))


async def ping_pong(n: int) -> None:
    """Two tasks handing a token back and forth through two queues: 2n switches each way."""
    a, b = asyncio.Queue(), asyncio.Queue()

    async def ping() -> None:
        for i in range(n):
            await a.put(i)
            await b.get()

    async def pong() -> None:
        for _ in range(n):
            await a.get()
            await b.put(None)

    await asyncio.gather(ping(), pong())


def _timed(fn: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class _NoopHandle:
    def __enter__(self) -> None:
        handle = asyncio.events.Handle
        self.original = original = handle._run

        def _run(self: object) -> object:
            return original(self)

        handle._run = _run

    def __exit__(self, *exc: object) -> None:
        asyncio.events.Handle._run = self.original


class _NoopMonitor:
    def __enter__(self) -> None:
        mon = sys.monitoring
        self.tool = 4
        mon.use_tool_id(self.tool, "coroscope-bench")
        flags = inspect.CO_COROUTINE | inspect.CO_ITERABLE_COROUTINE
        disable = mon.DISABLE

        def callback(code: object, *args: object) -> object:
            return None if code.co_flags & flags else disable

        E = mon.events
        for event in (E.PY_START, E.PY_RESUME, E.PY_YIELD, E.PY_RETURN):
            mon.register_callback(self.tool, event, callback)
        mon.set_events(self.tool, E.PY_START | E.PY_RESUME | E.PY_YIELD | E.PY_RETURN)

    def __exit__(self, *exc: object) -> None:
        mon = sys.monitoring
        mon.set_events(self.tool, 0)
        mon.free_tool_id(self.tool)


class _Traced:
    def __enter__(self) -> None:
        self.rec = Recorder(user_files=[__file__], asyncio=True)
        self.rec.start()

    def __exit__(self, *exc: object) -> None:
        self.rec.stop()


def modes() -> dict[str, Callable[[], object]]:
    found: dict[str, Callable[[], object]] = {"plain": None, "noop-handle": _NoopHandle}
    if hasattr(sys, "monitoring"):
        found["noop-monitor"] = _NoopMonitor
    found["traced"] = _Traced
    return found


def measure(name: str, work: Callable[[], object], count: int, unit: str, repeat: int,
            report: Callable[..., None]) -> None:
    best: dict[str, float] = {}
    for _ in range(repeat):
        for mode, ctx in modes().items():
            if ctx is None:
                took = _timed(lambda: asyncio.run(work()))
            else:
                def run(ctx: Callable[[], object] = ctx) -> None:
                    with ctx():
                        asyncio.run(work())
                took = _timed(run)
            best[mode] = min(best.get(mode, took), took)
    plain = best["plain"]
    for mode, took in best.items():
        note = "" if mode == "plain" else f"{took / plain:.2f}x plain"
        report(f"asyncio {name} {mode}", took * 1e9 / count, unit, note)


SCRIPT = """\
import asyncio
import sys


async def sleeper(sleeps):
    for _ in range(sleeps):
        await asyncio.sleep(0)


async def main(tasks, sleeps):
    await asyncio.gather(*(sleeper(sleeps) for _ in range(tasks)))


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
"""


def whole_process(report: Callable[..., None], tasks: int, sleeps: int, repeat: int) -> None:
    """``python prog.py`` against ``coroscope run --out trace.json prog.py``, alternating,
    best of ``repeat`` wall times."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "prog.py").write_text(SCRIPT)
        argv = {"python": [sys.executable, "prog.py", str(tasks), str(sleeps)],
                "coroscope run": [sys.executable, "-m", "app", "run", "--out", "trace.json",
                                  "prog.py", str(tasks), str(sleeps)]}
        best: dict[str, float] = {}
        for _ in range(repeat):
            for name, args in argv.items():
                start = time.perf_counter()
                subprocess.run(args, cwd=tmp, env=env, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                took = time.perf_counter() - start
                best[name] = min(best.get(name, took), took)
    plain = best["python"]
    steps = tasks * sleeps
    for name, took in best.items():
        note = "" if name == "python" else f"{took / plain:.2f}x python"
        report(f"asyncio {tasks}x{sleeps} sleep(0) whole process, {name}", took * 1e9 / steps,
               "ns/step", note)


def run(report: Callable[..., None], quick: bool = False) -> None:
    tasks, sleeps, n = (100, 50, 5_000) if quick else (10_000, 100, 50_000)
    repeat = 2 if quick else 3
    # Each sleep(0) is one task step: a switch into the task and one out of it.
    measure(f"{tasks}x{sleeps} sleep(0)", lambda: many_sleep0(tasks, sleeps),
            tasks * sleeps, "ns/step", repeat, report)
    # A round trip: ping and pong each resumed once (two steps, four switches).
    measure("queue ping-pong", lambda: ping_pong(n), n, "ns/round trip", repeat, report)
    whole_process(report, tasks, sleeps, repeat)


def main() -> int:
    from . import __main__ as bench

    parser = argparse.ArgumentParser(prog="python -m benchmarks.aio")
    parser.add_argument("--quick", action="store_true", help="smaller workloads")
    args = parser.parse_args()
    print(f"# asyncio tracing on Python {sys.version.split()[0]}", flush=True)
    run(bench.report, quick=args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())

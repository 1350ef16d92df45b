"""Tracer overhead: the recorder vs. a no-op greenlet.settrace callback vs. untraced.

Each workload runs in this process, alternating the three modes and keeping the best
of ``repeat`` runs of each, so a noisy neighbour hurts all modes alike.
"""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Callable

import greenlet

from app.tracer.recorder import Recorder


def ping_pong(n: int) -> None:
    def a():
        for _ in range(n):
            gb.switch()

    def b():
        for _ in range(n):
            ga.switch()

    ga, gb = greenlet.greenlet(a), greenlet.greenlet(b)
    ga.switch()


def gevent_sleep0(greenlets: int, sleeps: int) -> None:
    import gevent

    def work():
        for _ in range(sleeps):
            gevent.sleep(0)

    gevent.joinall([gevent.spawn(work) for _ in range(greenlets)])


def generator_send(n: int) -> None:
    def consumer():
        while True:
            yield

    g = consumer()
    next(g)
    send = g.send
    for i in range(n):
        send(i)


def calls(n: int) -> None:
    """Plain function calls, no generator at all: what tracing generators costs the rest
    of a program (a profile function sees every call; sys.monitoring stops calling after
    the first at each place)."""
    def f(x):
        return x

    for i in range(n):
        f(i)


def _noop(event, args):
    pass


def _noop_monitoring(*args):
    return None


MONITORING = hasattr(sys, "monitoring")


def timed(mode: str, work: Callable[[], None], generators: bool = False) -> float:
    gc.collect()
    rec = None
    tool = None
    if mode == "noop":
        if generators:
            sys.setprofile(lambda frame, event, arg: None)
        else:
            greenlet.settrace(_noop)
    elif mode == "noop_monitoring":
        # The floor for any sys.monitoring tool: a no-op callback on the events the
        # recorder asks for (never disabled, as the recorder's user-code locations).
        mon = sys.monitoring
        tool = mon.OPTIMIZER_ID
        mon.use_tool_id(tool, "coroscope-bench")
        events = 0
        for name in ("PY_START", "PY_RESUME", "PY_YIELD", "PY_RETURN"):
            event = getattr(mon.events, name)
            mon.register_callback(tool, event, _noop_monitoring)
            events |= event
        mon.set_events(tool, events)
    elif mode in ("recorder", "recorder_patched"):
        rec = Recorder(user_files=[__file__], generators=generators)
        rec.start()
        if mode == "recorder_patched":
            # As after monkey.patch_all(): the recorder watches for Dummy threads to name
            # (threading._active; none here, so every switch is checked and none named).
            rec.dummy_threads = {}
            rec._sync_fast()
    t0 = time.perf_counter()
    try:
        work()
    finally:
        t1 = time.perf_counter()
        if mode == "noop":
            sys.setprofile(None)
            greenlet.settrace(None)
        elif tool is not None:
            sys.monitoring.set_events(tool, 0)
            sys.monitoring.free_tool_id(tool)
        elif rec is not None:
            rec.stop()
    return t1 - t0


def compare(work: Callable[[], None], repeat: int = 5, generators: bool = False,
            modes=("untraced", "noop", "recorder")):
    best = dict.fromkeys(modes, float("inf"))
    for _ in range(repeat):
        for mode in best:
            best[mode] = min(best[mode], timed(mode, work, generators))
    return best


def run(report, quick: bool = False) -> None:
    n = 200_000 if quick else 1_000_000
    switches = 2 * n
    best = compare(lambda: ping_pong(n))
    per = {m: v / switches * 1e9 for m, v in best.items()}
    report("tracer.pingpong.untraced", per["untraced"], "ns/switch", f"{switches} switches")
    report("tracer.pingpong.noop_hook", per["noop"], "ns/switch",
           f"ratio to untraced {best['noop'] / best['untraced']:.2f}")
    report("tracer.pingpong.recorder", per["recorder"], "ns/switch",
           f"ratio recorder/no-op hook {best['recorder'] / best['noop']:.2f} (target <= 1.5)")

    g, s = (200, 100) if quick else (1000, 100)
    best = compare(lambda: gevent_sleep0(g, s), repeat=3,
                   modes=("untraced", "noop", "recorder", "recorder_patched"))
    report("tracer.gevent_sleep0.untraced", best["untraced"] * 1e3, "ms",
           f"{g} greenlets x {s} sleep(0)")
    report("tracer.gevent_sleep0.noop_hook", best["noop"] * 1e3, "ms",
           f"ratio to untraced {best['noop'] / best['untraced']:.2f}")
    report("tracer.gevent_sleep0.recorder", best["recorder"] * 1e3, "ms",
           f"ratio recorder/no-op hook {best['recorder'] / best['noop']:.2f} (target <= 1.5)")
    report("tracer.gevent_sleep0.recorder_threading_patched", best["recorder_patched"] * 1e3,
           "ms", f"as after monkey.patch_all(): ratio to no-op hook "
           f"{best['recorder_patched'] / best['noop']:.2f}")

    m = 100_000 if quick else 500_000
    modes = ("untraced", "noop", "recorder") + (("noop_monitoring",) if MONITORING else ())
    best = compare(lambda: generator_send(m), generators=True, modes=modes)
    per = {k: v / m * 1e9 for k, v in best.items()}
    mechanism = ("sys.monitoring (C callbacks)" if MONITORING and rec_uses_c()
                 else "C profile function" if rec_uses_c() else "Python profile function")
    report("tracer.generator_send.untraced", per["untraced"], "ns/send", f"{m} sends")
    report("tracer.generator_send.noop_profile", per["noop"], "ns/send",
           f"ratio to untraced {best['noop'] / best['untraced']:.2f}")
    if MONITORING:
        report("tracer.generator_send.noop_monitoring", per["noop_monitoring"], "ns/send",
               f"a no-op sys.monitoring callback; ratio to untraced "
               f"{best['noop_monitoring'] / best['untraced']:.2f}")
    report("tracer.generator_send.recorder", per["recorder"], "ns/send",
           f"ratio recorder/no-op profile hook {best['recorder'] / best['noop']:.2f} "
           f"(target <= 1.5)"
           + (f", recorder/no-op sys.monitoring callback "
              f"{best['recorder'] / best['noop_monitoring']:.2f}" if MONITORING else "")
           + f"; through the {mechanism}"
           + ("" if MONITORING else "; sys.monitoring: not in this Python (3.12+)"))

    c = 200_000 if quick else 1_000_000
    best = compare(lambda: calls(c), generators=True)
    report("tracer.other_calls.recorder", (best["recorder"] - best["untraced"]) / c * 1e9,
           "ns/call added",
           f"{c} plain calls while generators are traced: recorder / untraced "
           f"{best['recorder'] / best['untraced']:.2f}, a no-op profile function "
           f"{best['noop'] / best['untraced']:.2f}")


def rec_uses_c() -> bool:
    return Recorder(generators=True).fast

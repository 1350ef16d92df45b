"""Generator switches: ``send``/``next`` resuming a generator, ``yield`` handing back.

Python 3.11 has no cheap per-code hook, so this uses ``sys.setprofile``: the profile
callback fires for every Python call and return in the thread, and bails out after
one flag test unless the frame belongs to a generator of the user's files.
A resumed generator is a ``call`` event on its (persistent) frame; a ``return``
event whose last instruction is ``YIELD_VALUE`` is a yield, any other return ends it.

Tasks: every generator object (one frame each) is a ``generator`` task named after
its function. The plain function that drives a generator (the seed's ``producer``,
which calls ``g.send(i)``) gets a ``function`` task of its own on its first resume:
main switches to it there, and it switches back to main when it returns. So the
timeline shows what the tutorial says: two tasks, ``producer`` and ``consumer``,
switching once per ``send`` and once per ``yield``.

Generator tracing is opt-in (``Recorder(generators=True)``): a profile hook fires on
every call and return of the thread (a no-op one alone makes calls ~8x slower), and
greenlet demos do not need it. With the C hook built, the profile function is
``_hook.Profiler``: it records the common resume and yield itself (a known generator,
resumed from or yielding to a frame that has a task) and calls the methods below only
for the rest, so it costs ~1.3x a no-op profile function (``python -m benchmarks``).
"""

from __future__ import annotations

import dis
import inspect
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recorder import Recorder

_CO_GENERATOR = inspect.CO_GENERATOR
_YIELD_VALUE = dis.opmap["YIELD_VALUE"]
_RESUME = dis.opmap.get("RESUME", -1)
# 3.13: a suspended generator's f_lasti is the RESUME after its YIELD_VALUE.
_YIELD_REPORTS_RESUME = sys.version_info >= (3, 13)

# Python 3.12+: with the C hook, generator events come from sys.monitoring (see
# _hook.c), unless $COROSCOPE_NO_MONITORING asks for the profile function.
_MONITORING = hasattr(sys, "monitoring") and not os.environ.get("COROSCOPE_NO_MONITORING")
if _MONITORING:
    _EVENT_LIST = [getattr(sys.monitoring.events, name) for name in (
        "PY_START", "PY_RESUME", "PY_THROW", "PY_YIELD", "PY_RETURN", "PY_UNWIND")]
    _EVENTS = 0
    for _event in _EVENT_LIST:
        _EVENTS |= _event


def _monitoring_tool() -> int | None:
    """A free sys.monitoring tool id, claimed for coroscope, or None if both are taken
    (then the profile function is used)."""
    mon = sys.monitoring
    # 3 and 4 have no assigned role; PROFILER_ID is cProfile's (3.12+), so never taken.
    for tool in (3, 4):
        try:
            mon.use_tool_id(tool, "coroscope")
        except ValueError:  # in use by another tool
            continue
        return tool
    return None


class GeneratorTracer:
    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self.user_files = recorder.user_files
        self.generators: dict[Any, int] = {}  # live generator frame -> task id
        self.drivers: dict[Any, int] = {}  # frame of a plain function driving one
        self.closing: set[Any] = set()  # generators being closed by the collector
        self._thrown: set[Any] = set()  # generators resumed by a throw, until they leave
        self._user_code: dict[Any, bool] = {}
        self._yields: dict[Any, tuple[frozenset[int], frozenset[int]]] = {}
        self._saved: Any = None
        self._tool: int | None = None

    def start(self) -> None:
        self._saved = sys.getprofile()
        if not self.rec.fast:
            sys.setprofile(self.profile)
            return
        from ._hook import Profiler

        # Same decisions as profile() below, taken in C; the common resume and yield
        # (known generator, known caller) are recorded there too, and Python sees only a
        # new generator, a throw, a finish or a driver returning.
        profiler = Profiler(self.user_files, self.generators, self.drivers, self._resume,
                            self._leave, self._driver_returns, self.closing,
                            self._at_yield, self.rec.fast_hook)
        self._tool = _monitoring_tool() if _MONITORING else None
        if self._tool is None:
            profiler.install()
            return
        mon = sys.monitoring
        E = mon.events
        profiler.use_monitoring(mon.DISABLE)
        mon.restart_events()  # locations disabled by an earlier run of this tool
        for event, callback in ((E.PY_START, profiler.mon_resume),
                                (E.PY_RESUME, profiler.mon_resume),
                                (E.PY_THROW, profiler.mon_throw),
                                (E.PY_YIELD, profiler.mon_yield),
                                (E.PY_RETURN, profiler.mon_return),
                                (E.PY_UNWIND, profiler.mon_unwind)):
            mon.register_callback(self._tool, event, callback)
        mon.set_events(self._tool, _EVENTS)

    def stop(self) -> None:
        if self._tool is not None:
            mon = sys.monitoring
            mon.set_events(self._tool, 0)
            for event in _EVENT_LIST:
                mon.register_callback(self._tool, event, None)
            mon.free_tool_id(self._tool)
            self._tool = None
        else:
            sys.setprofile(self._saved)
        self.rec.current_override = None
        self.generators.clear()
        self.drivers.clear()
        self.closing.clear()
        self._thrown.clear()

    def _is_user(self, code: Any) -> bool:
        known = self._user_code.get(code)
        if known is None:
            known = self._user_code[code] = code.co_filename in self.user_files
        return known

    def profile(self, frame: Any, event: str, arg: Any) -> None:
        code = frame.f_code
        if event == "call":
            if code.co_flags & _CO_GENERATOR and self._is_user(code):
                self._resume(frame)
        elif event == "return":
            if code.co_flags & _CO_GENERATOR:
                if frame in self.generators:
                    # An exception leaving a generator thrown into at a bare yield (close(),
                    # an uncaught throw()) also stops at that YIELD_VALUE. The C profile
                    # function is told (its arg is NULL); here arg is None either way, so
                    # such an exit after a throw counts as a finish. Left wrong: a throw
                    # caught, then None yielded again from the same yield.
                    yielded = self._at_yield(frame, leaving=True) and not (
                        arg is None and frame in self._thrown)
                    self._leave(frame, yielded)
            elif frame in self.drivers:
                self._driver_returns(frame)

    def _at_yield(self, frame: Any, leaving: bool = False) -> bool:
        """Is the frame stopped at a yield? ``leaving``: asked on a return event (else on a
        resume: then a yield means it is being thrown into).

        Up to 3.12 the last instruction is the YIELD_VALUE, both when a generator yields
        and when it is thrown into. 3.13 reports the RESUME after it instead, for a yield
        and for any resume: the exit is still told apart, the throw no longer is (on 3.12+
        sys.monitoring says both, and is what the C hook uses there). The offsets are
        computed once per code object (co_code is rebuilt on every access).
        """
        code = frame.f_code
        offsets = self._yields.get(code)
        if offsets is None:
            raw = code.co_code
            at = frozenset(i for i in range(0, len(raw), 2) if raw[i] == _YIELD_VALUE)
            after = frozenset(i + 2 for i in at if raw[i + 2:i + 3] == bytes([_RESUME]))
            offsets = self._yields[code] = (at, at | after if _YIELD_REPORTS_RESUME else at)
        return frame.f_lasti in offsets[1 if leaving else 0]

    def _task_of_frame(self, frame: Any) -> int | None:
        if frame is None:
            return None
        tid = self.generators.get(frame)
        if tid is None:
            tid = self.drivers.get(frame)
        return tid

    def _new_task(self, name: str, kind: str, parent: int, t: int) -> int:
        rec = self.rec
        tid = rec.allocate_task_id()
        record = {"name": name, "kind": kind}
        rec.tasks[tid] = dict(record, id=tid, parent=parent, spawned_at=t)
        rec.emit_spawn(t, tid, parent, record)
        return tid

    def _resume(self, frame: Any, thrown: bool | None = None) -> None:
        """``thrown``: resumed by throw()? None: read it from the frame (a profile event)."""
        rec = self.rec
        t = rec.now()
        caller = frame.f_back
        origin = self._task_of_frame(caller)
        if thrown is None:
            thrown = self._at_yield(frame)
        if thrown:
            # Resumed with an exception: g.throw()/g.close(), or the garbage collector
            # closing a generator nobody holds any more. Only the first is a switch.
            target = self.generators.get(frame)
            if target is None:
                return
            self._thrown.add(frame)
            if origin is None:
                self.closing.add(frame)
                return
            rec.emit_throw(t, origin, target, caller.f_lineno)
            rec.note_switch(target, t)
            rec.current_override = target
            return
        if origin is None:
            base = rec.base_task()
            if caller is not None and self._is_user(caller.f_code):
                # A plain function of the demo drives this generator: give it a lane.
                origin = self._new_task(caller.f_code.co_name, "function", base, t)
                self.drivers[caller] = origin
                outer = caller.f_back
                line = outer.f_lineno if outer is not None and self._is_user(
                    outer.f_code) else None
                rec.emit_switch(t, base, origin, line, "call")
                rec.note_switch(origin, t)
            else:
                origin = base
        target = self.generators.get(frame)
        if target is None:
            target = self._new_task(frame.f_code.co_name, "generator", origin, t)
            self.generators[frame] = target
        line = caller.f_lineno if caller is not None else None
        rec.emit_switch(t, origin, target, line, "send")
        rec.note_switch(target, t)
        rec.current_override = target

    def _leave(self, frame: Any, yielded: bool | None = None) -> None:
        """``yielded``: left by a yield? None: read it from the frame (a profile event)."""
        rec = self.rec
        t = rec.now()
        src = self.generators[frame]
        self._thrown.discard(frame)
        if frame in self.closing:
            self.closing.discard(frame)
            del self.generators[frame]
            rec.emit_finish(t, src)
            return
        dst = self._task_of_frame(frame.f_back)
        if dst is None:
            dst = rec.base_task()
        if yielded is None:
            yielded = self._at_yield(frame, leaving=True)
        if yielded:
            rec.emit_switch(t, src, dst, frame.f_lineno, "yield")
        else:
            del self.generators[frame]
            rec.emit_finish(t, src)
            rec.emit_switch(t, src, dst, None, "finish")
        rec.note_switch(dst, t)
        rec.current_override = self._task_of_frame(frame.f_back)

    def _driver_returns(self, frame: Any) -> None:
        rec = self.rec
        t = rec.now()
        src = self.drivers.pop(frame)
        dst = self._task_of_frame(frame.f_back)
        if dst is None:
            dst = rec.base_task()
        rec.emit_finish(t, src)
        rec.emit_switch(t, src, dst, None, "return")
        rec.note_switch(dst, t)
        rec.current_override = self._task_of_frame(frame.f_back)

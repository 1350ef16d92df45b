"""Recorder: turns greenlet switches, throws and printed lines into event rows.

The hot path is the greenlet hook, called for every switch in this thread: in C
(``_hook.Hook``) when built, else :meth:`Recorder._on_greenlet_event`. It does as little
as it can: one clock read, two task-id look-ups, one frame walk (usually zero steps) and
one append (in C, 32 packed bytes; the row becomes a tuple when drained).

Facts this code relies on (greenlet 3):

* the callback runs in the *target* greenlet with tracing disabled; ``origin.gr_frame``
  is the frame where the origin paused (``None`` once it is dead);
* if the callback raises, greenlet silently removes the tracer: so it must not raise;
* ``greenlet.settrace`` returns the previous tracer, which we call on every event
  and put back on :meth:`stop` (gevent's monitor thread relies on its own tracer).

Rows accumulate in :attr:`rows`. Whoever owns the recorder drains them with
:meth:`drain`, possibly from another OS thread: taking the rows is atomic under the
GIL and the tracer only appends, so nothing is lost.
"""

from __future__ import annotations

import _thread
import io
import os
import reprlib
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Any

import greenlet

from .events import (
    BLOCK,
    FINISH,
    MARK,
    SPAWN,
    STDOUT,
    SWITCH,
    TASKINFO,
    THROW,
    UNBLOCK,
    WARNING,
    timer_label,
)

try:  # the C fast path (setup.py builds it when a compiler is there)
    from ._hook import Hook as _FastHook
    from ._hook import RowBuffer as _RowBuffer
    from ._hook import monotonic_ns as _fast_clock
except ImportError:  # pragma: no cover - exercised where the build failed
    _FastHook = None


class _RowList(list):
    """The pure-Python path's row store: a list with the C RowBuffer's ``drain``."""

    def drain(self, limit: int | None = None) -> list[tuple[Any, ...]]:
        # rows[:n] and del rows[:n] are each atomic under the GIL, and the tracer only
        # appends: a row appended in between stays for the next drain.
        n = len(self) if limit is None else min(len(self), limit)
        batch = self[:n]
        del self[:n]
        return batch

_counter = iter(range(1, 1 << 62))
_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40
# Taken at import, before any monkey-patching can replace it with gevent's version.
_get_ident = _thread.get_ident
_get_native_id = _thread.get_native_id
# greenlet's own `dead`: gevent's Greenlet overrides the attribute (and costs 5x more).
_dead = greenlet.greenlet.dead.__get__


def _short(value: Any) -> str:
    return _repr.repr(value)


def _call_args(frame: Any) -> str:
    """The arguments a function frame was called with, as ``a=1, b='x'``."""
    code = frame.f_code
    n = code.co_argcount + code.co_kwonlyargcount
    f_locals = frame.f_locals
    return ", ".join(f"{name}={_short(f_locals.get(name))}" for name in code.co_varnames[:n])


def _spawn_args(g: greenlet.greenlet) -> str:
    """The arguments gevent will call a Greenlet's function with, or ""."""
    args = getattr(g, "args", None) or ()
    kwargs = getattr(g, "kwargs", None) or {}
    parts = [_short(a) for a in args] + [f"{k}={_short(v)}" for k, v in kwargs.items()]
    return ", ".join(parts)


_IO_MODULES = ("socket", "select", "os.py", "ssl", "subprocess", "fileobject", "_fileobject")
# code object -> "timer" | "io" | "other"; (code, line) -> a label that needs no locals.
_CODE_KIND: dict[Any, str] = {}
_FIXED_LABEL: dict[tuple[Any, int], str] = {}


def _code_kind(code: Any) -> str:
    filename = code.co_filename
    if "gevent" in filename:
        if code.co_name == "sleep" and filename.endswith("hub.py"):
            return "timer"
        if any(part in filename for part in _IO_MODULES):
            return "io"
    return "other"


def _library_pause(frame: Any, to_hub: bool) -> tuple[str, bool]:
    """``(cause, cacheable)`` for the C hook: cacheable when the cause depends only on
    the frame's code, instruction and ``to_hub`` (the hook then stops asking)."""
    cause = _library_cause(frame, to_hub)
    if _CODE_KIND[frame.f_code] == "other":
        return cause, True
    return cause, _FIXED_LABEL.get((frame.f_code, frame.f_lineno)) is cause


def _library_cause(frame: Any, to_hub: bool) -> str:
    """Why a greenlet paused inside a library, from its innermost frame.

    gevent's Cython-compiled waits (Event.wait, Greenlet.join, joinall, locks) leave no
    Python frame: those show as the user's own line with cause "wait". Reading a
    frame's locals costs more than the rest of the hook, so what can be known from the
    code and line alone is cached: ``gevent.sleep(0)`` pauses on its own line.
    """
    code = frame.f_code
    kind = _CODE_KIND.get(code)
    if kind is None:
        kind = _CODE_KIND[code] = _code_kind(code)
    if kind == "timer":
        fixed = _FIXED_LABEL.get((code, frame.f_lineno))
        if fixed is not None:
            return fixed
        seconds = frame.f_locals.get("seconds", 0)
        if isinstance(seconds, int | float) and seconds <= 0:
            # the no-timer branch of gevent.sleep: remember its line
            _FIXED_LABEL[(code, frame.f_lineno)] = "timer 0 s"
        return timer_label(seconds)
    if kind == "io":
        owner = frame.f_locals.get("self")
        try:
            return f"io fd {owner.fileno()}"
        except Exception:
            return "io"
    return "wait" if to_hub else "switch"


def _task_name(g: greenlet.greenlet) -> tuple[str, str]:
    """Return ``(name, kind)`` for a greenlet seen for the first time."""
    if g.parent is None:
        return "main", "main"
    for cls in type(g).__mro__:
        if cls.__name__ == "Hub" and cls.__module__.startswith("gevent"):
            return "Hub", "hub"
    # gevent.Greenlet keeps the spawned callable in ``_run``. A plain greenlet has
    # already consumed ``run`` when the hook first sees it: its name is found later
    # (see Recorder._name_on_first_call) and "" says so.
    fn = g.__dict__.get("_run")
    while hasattr(fn, "func"):  # functools.partial and friends
        fn = fn.func
    return getattr(fn, "__name__", ""), "greenlet"


class _State:
    """Where the pure-Python path keeps what the C hook keeps in its own fields."""

    __slots__ = ("running", "switched_at", "current_override")

    def __init__(self, running: int | None = None, switched_at: int = 0,
                 current_override: int | None = None) -> None:
        self.running = running
        self.switched_at = switched_at
        self.current_override = current_override


class _AioState:
    """Where the asyncio tracer keeps what its C fast path (``_hook.AioStep``) keeps in its
    own fields; read by BusyWatch from its thread."""

    __slots__ = ("loop", "async_task", "loop_running", "callback_running")

    def __init__(self) -> None:
        self.loop: int | None = None
        self.async_task: int | None = None
        self.loop_running = False
        self.callback_running = False


class Recorder:
    """Records switches of the greenlets of the calling OS thread.

    ``user_files``: source files whose line numbers are worth reporting; when a
    greenlet pauses inside a library (gevent's hub, say), the line reported is the
    innermost frame of one of these files. Empty: no lines are recorded.
    """

    def __init__(
        self,
        user_files: Iterable[str] = (),
        clock: Callable[[], int] | None = None,
        generators: bool = False,
        fast: bool | None = None,
        asyncio: bool = False,
    ) -> None:
        """``fast``: use the C hook (default: when built, unless $COROSCOPE_PURE_PYTHON);
        ``asyncio``: trace asyncio tasks too (see aio.py; nothing until asyncio is
        imported)."""
        if fast is None:
            fast = _FastHook is not None and not os.environ.get("COROSCOPE_PURE_PYTHON")
        self.fast = bool(fast and _FastHook is not None and clock is None)
        if clock is None:
            # The C hook reads CLOCK_MONOTONIC itself: every row must use that clock.
            clock = _fast_clock if self.fast else time.perf_counter_ns
        self._fast: Any = None
        self._state: Any = _State()
        #: Rows not yet drained: supports append, len, indexing and iteration.
        self.rows: Any = _RowBuffer() if self.fast else _RowList()
        self.user_files = frozenset(user_files)
        self.clock = clock
        self.t0 = 0
        self.tasks: dict[int, dict[str, Any]] = {}
        # Unique in the process even when this module is loaded twice (as app.tracer and
        # as coroscope.tracer in a checkout): each copy numbers its recorders from 1.
        self._attr = f"_coroscope_tid_{next(_counter)}_{id(_counter):x}"
        self._next_tid = 0
        self._drained = 0
        self._prev_tracer: Callable[..., Any] | None = None
        self._active = False
        self._pending: tuple[tuple[Any, ...], tuple[Any, ...]] | None = None
        self._hub_tid: int | None = None
        self._saved_profile: Any = None
        self._main_thread = self.thread_id = _get_ident()
        #: The OS's id of that thread (BusyWatch reads its scheduler statistics).
        self.native_id = _get_native_id()
        #: Depth of wrapped blocking calls in this thread (set by BlockingProbes).
        self.blocked = 0
        #: The task flagged busy by BusyWatch, until its next switch.
        self.busy_task: int | None = None
        self._busy_lock = _thread.allocate_lock()
        #: ``threading._active`` once threading is monkey-patched (ident == id(greenlet)):
        #: a greenlet that called current_thread() has its Dummy-N thread there.
        self.dummy_threads: dict[int, Any] | None = None
        self._thread_named: set[int] = set()
        #: The asyncio tracer's state (see the properties below).
        self._aio_state: Any = _AioState()
        self._asyncio = None
        if asyncio:
            from .aio import AsyncioTracer

            self._asyncio = AsyncioTracer(self)
        self._generators = None
        if generators:
            from .generators import GeneratorTracer

            self._generators = GeneratorTracer(self)

    # -- state shared with the C hook (BusyWatch reads it from another thread) -------

    @property
    def running(self) -> int | None:
        """The task now running in this thread."""
        return self._state.running

    @running.setter
    def running(self, task: int | None) -> None:
        self._state.running = task

    @property
    def switched_at(self) -> int:
        """When the running task got control."""
        return self._state.switched_at

    @switched_at.setter
    def switched_at(self, t: int) -> None:
        self._state.switched_at = t

    @property
    def current_override(self) -> int | None:
        """The generator (or driver) task running, set by the generator tracer, or None."""
        return self._state.current_override

    @current_override.setter
    def current_override(self, task: int | None) -> None:
        self._state.current_override = task

    @property
    def hub_tid(self) -> int | None:
        """gevent's Hub in this thread, once seen."""
        return self._hub_tid

    @hub_tid.setter
    def hub_tid(self, tid: int | None) -> None:
        self._hub_tid = tid
        if self._fast is not None:
            self._fast.hub_tid = -1 if tid is None else tid

    def _sync_fast(self) -> None:
        """Send every event to the Python path while it holds state the C path ignores."""
        # Under the lock begin_busy takes: else the demo's thread could read busy_task
        # just before the flusher sets it, and write force_slow back to 0 just after,
        # and the busy span would never be ended by the next switch.
        with self._busy_lock:
            self._sync_fast_locked()

    def _sync_fast_locked(self) -> None:
        if self._fast is not None:
            self._fast.force_slow = int(self.busy_task is not None or self._pending is not None)
            # With threading patched, the hook itself sends a greenlet with an unrecorded
            # Dummy thread to the slow path (which names it): not every switch.
            if self.dummy_threads is not None and self._fast.dummy_threads is None:
                self._fast.thread_named = self._thread_named
                self._fast.dummy_threads = self.dummy_threads

    @property
    def async_task(self) -> int | None:
        """The asyncio task (or event loop) running in this thread, set by AsyncioTracer."""
        return self._aio_state.async_task

    @async_task.setter
    def async_task(self, task: int | None) -> None:
        self._aio_state.async_task = task

    @property
    def loop_running(self) -> bool:
        """An asyncio loop is running in this thread (BusyWatch watches it then)."""
        return self._aio_state.loop_running

    @loop_running.setter
    def loop_running(self, running: bool) -> None:
        self._aio_state.loop_running = running

    @property
    def callback_running(self) -> bool:
        """That loop is running one of its callbacks, not its own work or select (the loop
        lane may be busy only then)."""
        return self._aio_state.callback_running

    @callback_running.setter
    def callback_running(self, running: bool) -> None:
        self._aio_state.callback_running = running

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Install the greenlet hook; ``t = 0`` is now; the calling greenlet is task 0."""
        if self._active:
            raise RuntimeError("recorder already started")
        self.t0 = self.clock()
        self.running = self._task_of(greenlet.getcurrent(), 0)
        self.switched_at = 0
        self._active = True
        prev = greenlet.gettrace()
        if self.fast:
            self._fast = _FastHook(self.rows, self._attr, self.user_files, self._slow,
                                   _library_pause, prev, self.t0)
            self._fast.running, self._fast.switched_at = self.running, 0
            self._fast.current_override = self.current_override
            self._state = self._fast
            self.hub_tid = self._hub_tid
            self._sync_fast()
            self._prev_tracer = greenlet.settrace(self._fast)
        else:
            self._prev_tracer = greenlet.settrace(self._on_greenlet_event)
        if self._generators is not None:
            self._generators.start()
        if self._asyncio is not None:
            self._asyncio.start()

    def stop(self) -> None:
        """Remove the hook and restore whatever tracer was there before."""
        if not self._active:
            return
        self._active = False
        if self._asyncio is not None:
            self._asyncio.stop()
        if self._generators is not None:
            self._generators.stop()
        self._flush_pending()
        self.end_busy(self.now())
        greenlet.settrace(self._prev_tracer)
        self._prev_tracer = None
        if self._fast is not None:
            self._state = _State(self._fast.running, self._fast.switched_at,
                                 self._fast.current_override)
            self._fast = None

    def after_fork(self) -> None:
        """In a forked copy of the traced process: stop tracing it. The lock is new: the
        flusher thread (which the copy does not have) may have held it at the fork."""
        self._busy_lock = _thread.allocate_lock()
        self.stop()

    def now(self) -> int:
        return self.clock() - self.t0

    @property
    def count(self) -> int:
        """Rows recorded so far (drained or not)."""
        return self._drained + len(self.rows)

    def drain(self, limit: int | None = None) -> tuple[int, list[tuple[Any, ...]]] | None:
        """Take the rows recorded so far (``limit``: at most about that many, the oldest):
        ``(seq of the first, rows)``, or None."""
        if not len(self.rows):
            return None
        batch = self.rows.drain() if limit is None else self.rows.drain(limit)
        seq = self._drained
        self._drained += len(batch)
        return seq, batch

    def drain_held(self, limit: int) -> Iterator[tuple[int, list[tuple[Any, ...]]]]:
        """The rows held now, as ``(seq, rows)`` batches of at most about ``limit``, the
        oldest first; only one batch is ever tuples. Rows recorded meanwhile wait for the
        next call: a program that switches without end must not keep the caller here."""
        left = len(self.rows)
        while left > 0:
            drained = self.drain(limit)
            if drained is None:
                return
            left -= len(drained[1])
            yield drained

    def drain_with(self, take: Callable[[int, Any], tuple[Any, ...]]) -> tuple[Any, ...]:
        """Let ``take(seq, rows)`` take the oldest rows out of :attr:`rows` itself (the
        child's C writer, which spells them for its pipe without making tuples; ``seq``
        is the first one's): it returns a tuple whose first item is how many it took."""
        got = take(self._drained, self.rows)
        self._drained += got[0]
        return got

    def take_held(self, take: Callable[..., tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        """The rows held now, taken out by ``take(seq, rows, limit=left)`` (as in
        :meth:`drain_with`) as many times as it needs: what each call returned. It takes
        whole chunks of the oldest, so when rows came meanwhile the ``left`` that were
        there may take a second call; those recorded meanwhile wait for the next round,
        as in :meth:`drain_held`."""
        left = len(self.rows)
        while left > 0:
            got = self.drain_with(partial(take, limit=left))
            yield got
            if not got[0]:
                return
            left -= got[0]

    # -- tasks -----------------------------------------------------------------

    def allocate_task_id(self) -> int:
        tid = self._next_tid
        self._next_tid += 1
        return tid

    def _new_task(self, g: greenlet.greenlet, t: int) -> tuple[int, dict[str, Any]]:
        """Give ``g`` the next id; return it and its spawn record (not yet written)."""
        tid = self.allocate_task_id()
        setattr(g, self._attr, tid)
        if g.parent is None and _get_ident() != self._main_thread:
            name, kind = f"thread-{_get_ident()}", "thread"
        else:
            name, kind = _task_name(g)
        parent = getattr(g.parent, self._attr, None) if g.parent is not None else None
        record = {"name": name, "kind": kind}
        if kind == "hub" and self.hub_tid is None:
            self.hub_tid = tid
        if kind == "greenlet" and name:
            args = _spawn_args(g)
            if args:
                record["args"] = args
        self.tasks[tid] = dict(record, id=tid, parent=parent, spawned_at=t)
        return tid, record

    def _task_of(self, g: greenlet.greenlet, t: int) -> int:
        tid = getattr(g, self._attr, None)
        if tid is None:
            tid, record = self._new_task(g, t)
            if not record["name"]:
                record["name"] = self.tasks[tid]["name"] = "greenlet"
            self.rows.append((t, SPAWN, tid, self.tasks[tid]["parent"], record))
        return tid

    def greenlet_task(self) -> int:
        """The task of the running greenlet (registering it if new)."""
        self._flush_pending()
        return self._task_of(greenlet.getcurrent(), self.now())

    def base_task(self) -> int:
        """The running task under any generator: the asyncio task (or event loop) being
        run in this thread, else the running greenlet."""
        task = self.async_task
        if task is not None and _get_ident() == self.thread_id:
            return task
        return self.greenlet_task()

    def current_task(self) -> int:
        """The running task: a generator being resumed, else the asyncio task being
        stepped, else the running greenlet."""
        override = self.current_override
        return override if override is not None else self.base_task()

    # -- the hook --------------------------------------------------------------

    def _pause_of(self, g: greenlet.greenlet, to_hub: bool) -> tuple[int | None, str]:
        """Where ``g`` paused (its innermost line in a user file) and why (a cause)."""
        f = first = g.gr_frame
        files = self.user_files
        while f is not None:
            if f.f_code.co_filename in files:
                if f is first:  # paused right in user code: an explicit switch or wait
                    return f.f_lineno, "wait" if to_hub else "switch"
                return f.f_lineno, _library_cause(first, to_hub)
            f = f.f_back
        if first is None:
            return None, "wait" if to_hub else "switch"
        return None, _library_cause(first, to_hub)

    def _on_greenlet_event(self, event: str, args: tuple[Any, Any]) -> None:
        self._slow(event, args, self.clock() - self.t0)

    def _slow(self, event: str, args: tuple[Any, Any], t: int) -> None:
        """Record one greenlet event (the C hook calls this for all but the common case)."""
        origin, target = args
        attr = self._attr
        try:
            if self._pending is not None:
                self._flush_pending()
            src = getattr(origin, attr, None)
            if src is None:
                src = self._task_of(origin, t)
            if self.dummy_threads is not None and src not in self._thread_named:
                self._name_thread(origin, src, t)
            dead = _dead(origin)
            if dead:
                self.rows.append((t, FINISH, src, None, None))
            if self.busy_task is not None:
                self.end_busy(t)
            dst = getattr(target, attr, None)
            record = None
            if dst is None:
                dst, record = self._new_task(target, t)
            if dead:
                line, cause = None, "finish"
            elif src == self.hub_tid:
                line, cause = None, "wake"
            else:
                line, cause = self._pause_of(origin, dst == self.hub_tid)
            if event == "switch":
                row = (t, SWITCH, src, dst, line, cause)
            else:
                row = (t, THROW, src, dst, line, "throw")
            self.running, self.switched_at = dst, t
            if record is not None:
                spawn = (t, SPAWN, dst, self.tasks[dst]["parent"], record)
                if not record["name"]:
                    # A plain greenlet: its run() is about to be called. Hold both rows
                    # until a one-shot profile hook sees that call and names the task.
                    self._pending = (spawn, row)
                    self._sync_fast()
                    self._saved_profile = sys.getprofile()
                    sys.setprofile(self._name_on_first_call)
                    return self._chain(event, args)
                self.rows.append(spawn)
            self.rows.append(row)
        except Exception:  # pragma: no cover - a raising hook would be silently removed
            pass
        self._chain(event, args)

    def _chain(self, event: str, args: tuple[Any, Any]) -> None:
        prev = self._prev_tracer
        if prev is not None:
            prev(event, args)

    def _name_on_first_call(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            self._flush_pending(frame.f_code.co_name, _call_args(frame))
        elif event == "c_call":
            self._flush_pending(getattr(arg, "__name__", ""))

    def _flush_pending(self, name: str = "", args: str = "") -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        self._sync_fast()
        saved, self._saved_profile = self._saved_profile, None
        install = getattr(saved, "install", None)  # the C generator profiler
        if install is not None:
            install()
        else:
            sys.setprofile(saved)
        spawn, switch = pending
        record, task = spawn[4], self.tasks[spawn[2]]
        record["name"] = task["name"] = name or "greenlet"
        if args:
            record["args"] = task["args"] = args
        self.rows.append(spawn)
        self.rows.append(switch)

    def _name_thread(self, g: greenlet.greenlet, task: int, t: int) -> None:
        thread = self.dummy_threads.get(id(g)) if self.dummy_threads is not None else None
        if thread is not None:
            self._thread_named.add(task)
            self.tasks[task]["thread"] = thread.name
            self.rows.append((t, TASKINFO, task, None, {"thread": thread.name}))

    def watch_dummy_threads(self) -> None:
        """Start naming greenlets' Dummy threads if the demo monkey-patched threading."""
        if self.dummy_threads is None:
            # The flusher looks from its own thread, maybe while the demo is importing
            # gevent.monkey: a half-imported module has patched nothing yet.
            is_patched = getattr(sys.modules.get("gevent.monkey"), "is_module_patched", None)
            if is_patched is not None and is_patched("threading"):
                self.dummy_threads = sys.modules["threading"]._active
                self._sync_fast()

    # -- busy spans (see blocking.BusyWatch) -------------------------------------

    def note_switch(self, task: int, t: int) -> None:
        """A switch recorded outside the greenlet hook (generators) hands control to task."""
        if self.busy_task is not None:
            self.end_busy(t)
        self.running, self.switched_at = task, t

    def begin_busy(self, task: int, since: int, call: str) -> None:
        with self._busy_lock:
            if self.busy_task is None and self.running == task and self.switched_at == since:
                self.busy_task = task
                self._sync_fast_locked()
                self.rows.append((self.now(), BLOCK, task, None, {"call": call, "since": since}))

    def end_busy(self, t: int) -> None:
        with self._busy_lock:
            if self.busy_task is not None:
                self.rows.append((t, UNBLOCK, self.busy_task, None, None))
                self.busy_task = None
                self._sync_fast_locked()

    # -- writing rows -------------------------------------------------------------
    # The one way code outside the hooks writes a row (generators.py, blocking.py): the
    # row shapes of events.py KINDS, spelled once. Each is one append (atomic under the
    # GIL, as the hooks' own), so they may be called from any thread.

    def emit_switch(self, t: int, src: int, dst: int, line: int | None, cause: str) -> None:
        self.rows.append((t, SWITCH, src, dst, line, cause))

    def emit_throw(self, t: int, src: int, dst: int, line: int | None) -> None:
        self.rows.append((t, THROW, src, dst, line, "throw"))

    def emit_spawn(self, t: int, task: int, parent: int | None, record: dict[str, Any]) -> None:
        self.rows.append((t, SPAWN, task, parent, record))

    def emit_finish(self, t: int, task: int) -> None:
        self.rows.append((t, FINISH, task, None, None))

    def emit_block(self, t: int, task: int, call: str, since: int) -> None:
        self.rows.append((t, BLOCK, task, None, {"call": call, "since": since}))

    def emit_unblock(self, t: int, task: int) -> None:
        self.rows.append((t, UNBLOCK, task, None, None))

    def emit_warning(self, t: int, task: int, text: str) -> None:
        self.rows.append((t, WARNING, task, None, text))

    @property
    def fast_hook(self) -> Any:
        """The C hook while it is installed (the C generator profiler records into it)."""
        return self._fast

    def mark(self, text: str) -> None:
        """A moment of the run itself (``"main()"``: a demo's main() is called now)."""
        self.rows.append((self.now(), MARK, self.running, None, text))

    # -- printed output ----------------------------------------------------------

    def record_stdout(self, task: int, text: str) -> None:
        t = self.now()
        if self.dummy_threads is None:  # a script may have patched threading just now
            self.watch_dummy_threads()
        if self.dummy_threads is not None and task not in self._thread_named:
            self._name_thread(greenlet.getcurrent(), task, t)
        self.rows.append((t, STDOUT, task, None, text))


class TaskOutput(io.TextIOBase):
    """A stdout replacement that records each printed line against the running task.

    Partial lines are kept per task, so two greenlets printing piecemeal do not
    interleave; a line is recorded when its newline arrives. ``passthrough`` (if
    given) receives everything written, unchanged.
    """

    def __init__(self, recorder: Recorder, passthrough: io.TextIOBase | None = None) -> None:
        super().__init__()
        self.recorder = recorder
        self.passthrough = passthrough
        self._partial: dict[int, str] = {}
        #: Characters written so far (the runner bounds it).
        self.written = 0

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        if self.passthrough is not None:
            self.passthrough.write(s)
        self.written += len(s)
        task = self.recorder.current_task()
        pending = self._partial.pop(task, "") + s
        *lines, rest = pending.split("\n")
        for line in lines:
            self.recorder.record_stdout(task, line)
        if rest:
            self._partial[task] = rest
        return len(s)

    def flush(self) -> None:
        if self.passthrough is not None:
            self.passthrough.flush()

    def close_lines(self) -> None:
        """Record text left without a newline (at the end of a run)."""
        for task, rest in sorted(self._partial.items()):
            self.recorder.record_stdout(task, rest)
        self._partial.clear()

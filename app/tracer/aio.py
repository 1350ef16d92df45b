"""asyncio: one lane per ``asyncio.Task``, an *event loop* lane in the Hub's role.

The mechanism is the same on 3.11, 3.12 and 3.13: the loop's own dispatch. Every task
step (the C Task's ``TaskStepMethWrapper`` and its ``task_wakeup``, or the pure-Python
Task's ``__step``/``__wakeup``) reaches the loop as a callback in an
``asyncio.events.Handle``, and ``Handle._run`` is pure Python in every version, so its
replacement sees each time the loop hands control to a task and each time the task
hands it back: the two switches. With the C extension the replacement is
``_hook.AioPatch``, which records the common step in C and calls the methods below for
the rest (a task's first and last step, causes it cannot name); without it, the Python
function ``run_python`` of :meth:`_Patches.apply`. ``sys.monitoring`` (3.12+) was
measured as well: it reports each coroutine *frame* resuming and yielding (three events
for a task paused three awaits deep), not the task, and says nothing of the loop's own
callbacks, so it would need the loop-level hook too; ``docs/design.md`` ("Tracing
asyncio") and ``python -m benchmarks.aio`` give the figures.

What each hook records (only in the OS thread whose recorder registered, see
:data:`_TRACERS`; a loop in another thread is not traced):

* ``BaseEventLoop.create_task``: a ``spawn``, parent the running task (``main`` for
  ``asyncio.run``'s entry task), named by the name the caller gave, else after the
  coroutine function and its arguments (``eat('egon')``, as gevent lanes). Tasks of
  asyncio's own coroutines created outside any task (``asyncio.run`` shutting down the
  async generators and the default executor) are the loop's housekeeping: no lane, their
  steps run on the loop lane.
* ``BaseEventLoop.run_forever``: the caller switches to the loop (``wait asyncio.run``)
  and back when it returns; ``asyncio.run`` runs the loop several times (the program,
  then its shutdown) and counts as one stay in the loop, which ends with the loop's
  ``finish`` (``close``) and a ``finish`` switch back.
* ``Handle._run``: a task step is ``loop -> task`` (``wake``) then ``task -> loop`` at
  the line where it paused in the user's files and why (see :func:`_why`), or the
  task's ``finish`` and a ``finish``/``cancel`` switch. Any other callback runs on the
  loop lane; it is marked as such for :class:`~.blocking.BusyWatch`, which then flags a
  callback (as a task step) that holds the loop past the threshold. The loop waiting in
  ``select`` is never a callback, so never busy.

Nothing is installed while the program has not imported asyncio: :class:`_ImportWatch`
waits for ``import asyncio`` and patches right after the package has run. Patches are
process-wide but dispatch on the thread, so a program's other threads run untouched and
gevent (which never uses these classes) is traced as before.
"""

from __future__ import annotations

import _thread
import importlib.abc
import inspect
import os
import reprlib
import sys
import warnings
import weakref
from functools import partial
from typing import TYPE_CHECKING, Any

from .events import timer_label

try:  # the C fast path of a task step (see _hook.c), else everything below in Python
    from ._hook import AioPatch as _AioPatch
    from ._hook import AioStep as _AioStep
    from ._hook import OnceRaises as _OnceRaises
except ImportError:
    _AioPatch = _AioStep = _OnceRaises = None

if TYPE_CHECKING:
    from .recorder import Recorder

_get_ident = _thread.get_ident  # the real one, taken before any monkey-patching
_lock = _thread.allocate_lock()
#: thread ident -> the tracer recording that thread's asyncio.
_TRACERS: dict[int, AsyncioTracer] = {}

_repr = reprlib.Repr()
_repr.maxstring = 40
_repr.maxother = 40


def _default_name(name: str) -> bool:
    """``Task-12``: the name asyncio gives a task it was not given one (a regular
    expression ``Task-\\d+`` costs twice as much, once a task)."""
    return name.startswith("Task-") and name[5:].isdecimal()


class AsyncioTracer:
    """Records the asyncio tasks of the recorder's thread (see the module docstring)."""

    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self.thread = recorder.thread_id
        self.user_files = recorder.user_files
        #: id(task) -> (weak reference, lane or None for the loop's housekeeping)
        self._tasks: dict[int, tuple[Any, int | None]] = {}
        #: id(task) -> (weak reference, parent, arguments) for tasks made, not yet run
        self._born: dict[int, tuple[Any, int | None, str | None]] = {}
        self._base: int | None = None  #: who switched into that loop
        self._saved: int | None = None  #: rec.async_task before the loop ran
        self._holding = 0  #: inside asyncio.run: its several run_forever are one stay
        self._closed: set[int] = set()  #: loop lanes already finished
        #: id(loop) -> (weak reference, lane) of the loops seen
        self._loops: dict[int, tuple[Any, int]] = {}
        #: id(task) -> (lane, weak reference) of finished tasks not yet collected: asyncio
        #: may report one as it is collected (an exception never retrieved), after its
        #: weak references are gone. Forgotten once it is (the reference's callback fills
        #: ``_gone``, emptied as lanes are made).
        self._done: dict[int, tuple[int, Any]] = {}
        self._gone: list[int] = []
        #: The C fast path of this thread's task steps, once asyncio is patched (if the
        #: recorder runs the C greenlet hook): it keeps the state (rec._aio_state) then.
        self.fast: Any = None

    @property
    def loop(self) -> int | None:
        """The lane of the loop now running, if any."""
        return self.rec._aio_state.loop

    @loop.setter
    def loop(self, lane: int | None) -> None:
        self.rec._aio_state.loop = lane

    def start(self) -> None:
        with _lock:
            if _TRACERS.get(self.thread) is not None:
                raise RuntimeError("asyncio is already traced in this thread")
            _TRACERS[self.thread] = self
            _patches.acquire()
            _patches.refresh()

    def make_fast(self, handle_run: Any) -> None:
        """Record task steps in C (``_hook.AioStep``), given the original Handle._run."""
        hook = self.rec.fast_hook
        if self.fast is not None or hook is None or _AioStep is None:
            return
        import asyncio.events

        fast = _AioStep(hook, self, self._tasks, _TASK_TYPES, handle_run, _code_kind,
                        timer_label, _LOCK_LIKE, asyncio.events.Handle.__dict__["_callback"],
                        self.thread, _PY_STEPS)
        old = self.rec._aio_state
        fast.loop, fast.async_task = old.loop, old.async_task
        fast.loop_running, fast.callback_running = old.loop_running, old.callback_running
        self.fast = self.rec._aio_state = fast

    def stop(self) -> None:
        rec = self.rec
        with _lock:
            if _TRACERS.get(self.thread) is self:
                del _TRACERS[self.thread]
                _patches.release()
                _patches.refresh()
        self.fast = None
        rec._aio_state = _fresh_state()
        self._tasks.clear()
        self._loops.clear()
        self._born.clear()
        self._done.clear()

    # -- lanes -------------------------------------------------------------------

    def loop_lane(self, loop: Any) -> int:
        """The lane of ``loop``, spawned (parent: the running task) on first sight."""
        entry = self._loops.get(id(loop))
        tid = entry[1] if entry is not None and entry[0]() is loop else None
        if tid is None:
            rec = self.rec
            t = rec.now()
            tid = rec.allocate_task_id()
            parent = rec.current_task()
            record = {"name": "event loop", "kind": "loop"}
            rec.tasks[tid] = dict(record, id=tid, parent=parent, spawned_at=t)
            rec.emit_spawn(t, tid, parent, record)
            # Kept here, not on the loop: an attribute added to the loop would cost every
            # one of its attribute reads (its instance dict no longer shared-key).
            self._loops[id(loop)] = (weakref.ref(loop), tid)
        return tid

    def task_lane(self, task: Any) -> int | None:
        """The lane of ``task`` (spawned now if this is its first step), or None for the
        loop's housekeeping.

        The spawn waits for the first step, as a greenlet's waits for its first switch:
        ``asyncio.create_task(coro, name=...)`` names the task only after the loop's
        ``create_task`` has returned it (up to 3.12), and the ids stay in spawn order."""
        key = id(task)
        entry = self._tasks.get(key)
        if entry is not None and entry[0]() is task:
            return entry[1]
        born = self._born.pop(key, None)
        if born is None or born[0]() is not task:  # made without create_task: seen now
            born = (weakref.ref(task), self.loop, None)
        rec = self.rec
        t = rec.now()
        tid = rec.allocate_task_id()
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        name = task.get_name()
        record = {"name": name, "kind": "task"}
        if _default_name(name):
            record["name"] = code.co_name if code is not None else "task"
            args = born[2] if born[2] is not None else _args_of(coro)
            if args:
                record["args"] = args
        parent = born[1]
        rec.tasks[tid] = dict(record, id=tid, parent=parent, spawned_at=t)
        rec.emit_spawn(t, tid, parent, record)
        while self._gone:  # finished tasks collected since: their ids may come again
            self._done.pop(self._gone.pop(), None)
        self._tasks[key] = (born[0], tid)
        return tid

    def _lane_name(self, task: Any) -> str:
        """What ``wait task NAME`` calls a task, spawned yet or not."""
        entry = self._tasks.get(id(task))
        if entry is not None and entry[0]() is task and entry[1] is not None:
            return self.rec.tasks[entry[1]]["name"]
        name = task.get_name()
        code = getattr(task.get_coro(), "cr_code", None)
        return code.co_name if _default_name(name) and code is not None else name

    # -- warnings ------------------------------------------------------------------

    def trouble(self, loop: Any, context: dict[str, Any]) -> None:
        """What asyncio reports through ``call_exception_handler``: a task destroyed while
        pending, an exception never retrieved...; a ``warning`` on the task's lane (the
        loop's if it names none), in a few words, before asyncio logs it as usual."""
        if _get_ident() != self.thread:
            return
        message = str(context.get("message") or "asyncio reported a problem")
        what = context.get("task") or context.get("future")
        text = _TROUBLE.get(message, message)
        exc = context.get("exception")
        if exc is not None:
            text += f": {_repr.repr(exc)}"
        tid = None
        if what is not None:
            # A task being collected may have lost its weak references already; it is
            # still alive, so its id is still its own.
            entry = self._tasks.get(id(what))
            if entry is not None and entry[0]() in (what, None):
                tid = entry[1]
            else:
                tid = self._done.get(id(what), (None,))[0]
        if tid is None:
            tid = self.loop_lane(loop) if loop is not None else self.rec.current_task()
        self.rec.emit_warning(self.rec.now(), tid, text)

    def never_awaited(self, message: str) -> None:
        """Python collected a coroutine nobody awaited: said on the lane that ran then."""
        self.rec.emit_warning(self.rec.now(), self.rec.current_task(), message)

    # -- the hooks (called by the patches below) ------------------------------------

    def created(self, loop: Any, task: Any) -> None:
        """``loop.create_task`` made ``task``: remember who made it (its parent). A task
        of asyncio's own coroutine is the loop's housekeeping (no lane: its steps run on
        the loop's) when it is made outside any task (``asyncio.run`` shutting down the
        async generators and the default executor) or is one of asyncio's private
        helpers (``start_server``'s ``_create_server_getaddrinfo``, the happy-eyeballs
        race's ``run_one_coro``); ``create_task(asyncio.sleep(1))`` in a task has one."""
        if self.loop is None:
            self.loop_lane(loop)  # the loop is born before its first task
        rec = self.rec
        running = rec.async_task
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "gi_code", None)
        ref = weakref.ref(task)
        if code is not None and code.co_filename.startswith(_ASYNCIO_DIR) and (
                running is None or running == self.loop or code.co_name.startswith("_")
                or "<locals>" in code.co_qualname):
            self._tasks[id(task)] = (ref, None)
            return
        # The arguments as they are now: a queue passed in reads differently later.
        self._born[id(task)] = (ref, rec.current_task(), _args_of(coro))
        if task.done():  # 3.12+ eager task, run to its end inside create_task
            self._finish(task, self.task_lane(task), rec.now(), None)

    def run_forever(self, loop: Any, run: Any) -> Any:
        """``loop.run_forever()``: the caller waits in the loop until it stops."""
        rec = self.rec
        lane = self.loop_lane(loop)
        entered = self.loop is None
        if entered:
            base = rec.current_task()
            line, why = self._caller()
            t = rec.now()
            rec.emit_switch(t, base, lane, line, why)
            rec.note_switch(lane, t)
            self.loop, self._base, self._saved = lane, base, rec.async_task
            rec.async_task = lane
        rec.loop_running = True
        try:
            return run(loop)
        finally:
            rec.loop_running = False
            if entered and not self._holding:
                self.leave()

    def leave(self) -> None:
        """The caller of the loop gets control back (``finish``: the loop is closed)."""
        rec = self.rec
        lane, base = self.loop, self._base
        if lane is None or base is None:
            return
        t = rec.now()
        rec.emit_switch(t, lane, base, None, "finish" if lane in self._closed else "wake")
        rec.note_switch(base, t)
        rec.async_task = self._saved
        self.loop = self._base = self._saved = None

    def closed(self, loop: Any) -> None:
        entry = self._loops.get(id(loop))
        tid = entry[1] if entry is not None and entry[0]() is loop else None
        if tid is not None and tid not in self._closed:
            self._closed.add(tid)
            self.rec.emit_finish(self.rec.now(), tid)

    def run_handle(self, handle: Any, run: Any) -> Any:
        """One callback of the running loop: a task step, or the loop's own work."""
        loop = self.loop
        if loop is None:  # a loop started before tracing began: not traced
            return run(handle)
        task = _step_owner(handle._callback)
        if task is not None and isinstance(task, _TASK_TYPES):
            tid = self.task_lane(task)
            if tid is not None:
                return self._step(handle, run, task, tid, loop)
        rec = self.rec
        # BusyWatch measures the callback from here: the loop lane is busy only now.
        rec.note_switch(loop, rec.now())
        rec.callback_running = True
        try:
            return run(handle)
        finally:
            rec.callback_running = False
            self._callback_ended()

    def _step(self, handle: Any, run: Any, task: Any, tid: int, loop: int) -> Any:
        rec = self.rec
        t = rec.now()
        rec.emit_switch(t, loop, tid, None, "wake")
        rec.note_switch(tid, t)
        rec.async_task = tid
        try:
            return run(handle)
        finally:
            self._after_step(task, tid, loop)

    def _after_step(self, task: Any, tid: int, loop: int) -> None:
        """The step of ``task`` has returned: its end, or where and why it paused, and the
        loop has control again (also the C fast path's way out, see ``_hook.AioStep``)."""
        rec = self.rec
        rec.async_task = loop
        if task.done():
            t = rec.now()
            self._finish(task, tid, t, loop)
        else:
            line, why = self._pause_of(task)
            t = rec.now()
            if rec.busy_task is not None:  # the busy span ends before the switch
                rec.end_busy(t)
            rec.emit_switch(t, tid, loop, line, why)
        rec.note_switch(loop, t)

    def _callback_ended(self) -> None:
        """One of the loop's own callbacks returned: a busy span it made ends now."""
        rec = self.rec
        if rec.busy_task is not None:
            rec.end_busy(rec.now())

    def _finish(self, task: Any, tid: int, t: int, loop: int | None) -> None:
        """The task ended; ``loop``: the lane it hands control back to (None: it ran to
        its end inside ``create_task``, as an eager task may, and there is no switch).
        Rows in gevent's order: ``finish``, the end of a busy span, the switch."""
        rec = self.rec
        key = id(task)
        self._tasks.pop(key, None)  # (gone already if tracing stopped inside the task)
        gone = self._gone
        self._done[key] = (tid, weakref.ref(task, lambda _, key=key: gone.append(key)))
        rec.emit_finish(t, tid)
        if rec.busy_task is not None:
            rec.end_busy(t)
        if loop is not None:
            rec.emit_switch(t, tid, loop, None, "cancel" if task.cancelled() else "finish")

    # -- where and why -------------------------------------------------------------

    def _caller(self) -> tuple[int | None, str]:
        """Where the code that runs the loop stands (its innermost line in a user file),
        and what it waits in: ``wait asyncio.run``, ``wait run_until_complete``..."""
        f = sys._getframe(3)  # run_forever's caller (past the patch and this method)
        files = self.user_files
        called = "run_forever"
        while f is not None and f.f_code.co_filename not in files:
            called = f.f_code.co_name
            f = f.f_back
        if self._holding:
            called = "asyncio.run"
        return (f.f_lineno if f is not None else None), f"wait {called}"

    def _pause_of(self, task: Any) -> tuple[int | None, str]:
        """Where a task that did not end paused (its innermost frame in a user file, along
        the chain of awaits) and why: the awaited library call or future."""
        frames = []
        obj = task.get_coro()
        for _ in range(100):  # an await chain deeper than this is not worth walking
            frame = getattr(obj, "cr_frame", None)
            if frame is None:
                frame = getattr(obj, "gi_frame", None)
                if frame is None:
                    break
                obj = obj.gi_yieldfrom
            else:
                obj = obj.cr_await
            frames.append(frame)
            if obj is None:
                break
        files = self.user_files
        user = len(frames)
        while user and frames[user - 1].f_code.co_filename not in files:
            user -= 1
        line = frames[user - 1].f_lineno if user else None
        return line, self._why(frames[user:], task)

    def _why(self, library: list[Any], task: Any) -> str:
        """The cause, in gevent's words where it is the same thing. The innermost
        library frame says a timer or an fd; else the outermost one (what the user's
        code awaited) names the wait; else the future the task waits on does."""
        kinds = [_code_kind(frame.f_code) for frame in library]
        if "wait_for" in kinds:  # 3.12+ awaits in the task itself, under a timeout
            return "wait wait_for"
        for frame in reversed(library):
            kind = _code_kind(frame.f_code)
            if kind == "sleep":
                return timer_label(frame.f_locals.get("delay"))
            if kind == "sleep0":
                return "timer 0 s"
            if kind == "sock":
                return _io_label(frame.f_locals.get("sock"))
            if kind == "stream":
                owner = frame.f_locals.get("self")
                if owner is not None:
                    return _stream_label(owner)
        for frame in library:  # the outermost, leaving out a pure-Python future's await
            kind = _code_kind(frame.f_code)
            if kind == "future":
                break
            name = frame.f_code.co_name
            if kind == "method":  # a queue's get/put, a lock, an event, a condition...
                owner = type(frame.f_locals.get("self")).__name__
                return f"wait {owner}" if _LOCK_LIKE.get(owner) else f"wait {owner}.{name}"
            if kind == "taskgroup":
                return "wait TaskGroup"
            if kind == "wait_for":
                return "wait wait_for"
            if kind == "asyncio":
                return f"wait {_WAIT_NAMES.get(name, name)}"
            return f"wait {name}"
        fut = getattr(task, "_fut_waiter", None)
        if fut is None:
            return "wait"
        if isinstance(fut, _TASK_TYPES):
            return f"wait task {self._lane_name(fut)}"
        return f"wait {_FUTURE_NAMES.get(type(fut).__name__, type(fut).__name__)}"


# -- causes --------------------------------------------------------------------------

_CODE_KIND: dict[Any, str] = {}
_ASYNCIO_DIR = ""  # set when asyncio is patched: os.path.dirname(asyncio.__file__) + sep
_TASK_TYPES: tuple[type, ...] = ()
#: The pure-Python Task's step and wakeup functions (set when asyncio is patched).
_PY_STEPS: tuple[Any, ...] = ()


def _step_owner(callback: Any) -> Any:
    """The task whose step (or wakeup) ``callback`` is, else None: a task's other bound
    methods (``loop.call_soon(t.cancel)``) are the loop's own callbacks."""
    if type(callback).__name__ == "TaskStepMethWrapper":  # the C Task's step
        return callback.__self__
    if type(callback).__name__ == "builtin_function_or_method":
        return callback.__self__ if callback.__name__ == "task_wakeup" else None
    if getattr(callback, "__func__", None) in _PY_STEPS:  # the pure-Python Task's
        return callback.__self__
    return None
#: asyncio.locks classes whose wait reads best as the class alone ("wait Lock").
_LOCK_LIKE = {"Lock": True, "Event": True, "Condition": True, "Semaphore": True,
              "BoundedSemaphore": True, "Barrier": True}
#: asyncio functions whose name alone would read wrong after "wait".
_WAIT_NAMES = {"wait": "asyncio.wait"}
_FUTURE_NAMES = {"_GatheringFuture": "gather"}
#: asyncio's own words for what call_exception_handler reports, said shorter.
_TROUBLE = {"Task was destroyed but it is pending!": "destroyed while pending",
            "Task exception was never retrieved": "exception never retrieved",
            "Future exception was never retrieved": "future's exception never retrieved"}


def _code_kind(code: Any) -> str:
    """What a library frame of an await chain is: ``sleep``, ``sleep0``, ``sock`` (a
    loop ``sock_*`` call: the socket is a local), ``stream`` (asyncio streams),
    ``method`` (a queue or a lock), ``wait_for``, ``taskgroup``, ``future`` (a pure-Python future's
    ``__await__``), ``asyncio`` (any other of asyncio's), else ``other``. Cached per
    code object."""
    kind = _CODE_KIND.get(code)
    if kind is None:
        filename, name = code.co_filename, code.co_name
        base = os.path.basename(filename) if filename.startswith(_ASYNCIO_DIR) else ""
        if base == "tasks.py" and name == "wait_for":
            kind = "wait_for"
        elif base == "tasks.py" and name == "sleep":
            kind = "sleep"
        elif base == "tasks.py" and name == "__sleep0":
            kind = "sleep0"
        elif base in ("base_events.py", "selector_events.py") and name.startswith("sock_"):
            kind = "sock"
        elif base == "streams.py":
            kind = "stream"
        elif base in ("queues.py", "locks.py"):
            kind = "method"
        elif base == "taskgroups.py":
            kind = "taskgroup"
        elif base == "futures.py":
            kind = "future"
        else:
            kind = "asyncio" if base else "other"
        _CODE_KIND[code] = kind
    return kind


def _io_label(sock: Any) -> str:
    try:
        return f"io fd {sock.fileno()}"
    except Exception:
        return "io"


def _stream_label(owner: Any) -> str:
    """A StreamReader, StreamWriter or their protocol: the fd of the transport's socket."""
    transport = getattr(owner, "_transport", None)
    try:
        return _io_label(transport.get_extra_info("socket"))
    except Exception:
        return "io"


def _args_of(coro: Any) -> str:
    """The arguments of a coroutine (or generator-based one) not yet started."""
    frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
    return _coro_args(frame) if frame is not None else ""


def _coro_args(frame: Any) -> str:
    """The arguments a coroutine was called with, as gevent lanes show them: values for
    positional parameters (``'egon', 2.0``), ``name=value`` for keyword-only ones; a
    method's ``self``/``cls`` is left out."""
    code = frame.f_code
    names = code.co_varnames
    f_locals = frame.f_locals
    n, k = code.co_argcount, code.co_kwonlyargcount
    positional = names[:n]
    if positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    parts = [_short(f_locals.get(name)) for name in positional]
    i = n + k
    if code.co_flags & inspect.CO_VARARGS:
        parts += [_short(v) for v in f_locals.get(names[i], ())]
        i += 1
    parts += [f"{name}={_short(f_locals.get(name))}" for name in names[n:n + k]]
    if code.co_flags & inspect.CO_VARKEYWORDS:
        parts += [f"{key}={_short(v)}" for key, v in f_locals.get(names[i], {}).items()]
    return ", ".join(parts)


def _short(value: Any) -> str:
    """A short repr; an object's long default-style one (``<StreamReader transport=...>``,
    ``<Queue at 0x7f.. maxsize=1>``) becomes its class: ``<StreamReader>``."""
    kind = type(value)
    if kind is int or kind is float or kind is bool or value is None or (
            kind is str and len(value) <= 20):
        text = repr(value)  # what reprlib says of these when it is short, but 5x cheaper
        if len(text) <= 40:
            return text
    text = _repr.repr(value)
    if text.startswith("<") and len(text) > 24:
        return f"<{type(value).__name__}>"
    return text


# -- the patches -------------------------------------------------------------------------


class _Patches:
    """asyncio's classes patched while at least one tracer is registered; each patch looks
    up the calling thread's tracer and is a plain call through when there is none."""

    def __init__(self) -> None:
        self.users = 0
        self._undo: list[tuple[Any, str, Any]] = []
        self._watch: _ImportWatch | None = None
        self._patch: Any = None  #: Handle._run's C replacement, when built
        self._handle_run: Any = None  #: the original Handle._run
        self._showwarning: Any = warnings.showwarning  #: the one in place before us

    def _unwatch(self) -> None:
        if self._watch is not None:
            try:
                sys.meta_path.remove(self._watch)
            except ValueError:
                pass
            self._watch = None

    def acquire(self) -> None:
        self.users += 1
        if self.users > 1:
            return
        # "coroutine 'eat' was never awaited" is a RuntimeWarning Python shows when such a
        # coroutine is collected (no asyncio needed): one process-wide hook while any
        # thread is traced, dispatching to that thread's tracer.
        self._showwarning = warnings.showwarning
        warnings.showwarning = _showwarning
        asyncio = sys.modules.get("asyncio")
        if asyncio is not None and hasattr(asyncio, "run"):
            self.apply()
        else:  # not imported (or being imported): patch once it has been
            self._watch = _ImportWatch(self.apply)
            sys.meta_path.insert(0, self._watch)

    def release(self) -> None:
        self.users -= 1
        if self.users:
            return
        if warnings.showwarning is _showwarning:  # else someone replaced it since: theirs
            warnings.showwarning = self._showwarning
        self._unwatch()
        while self._undo:
            owner, name, original = self._undo.pop()
            setattr(owner, name, original)
        self._patch = self._handle_run = None

    def refresh(self) -> None:
        """Once patched (and whenever a tracer comes or goes): give each tracer its C fast
        path, and send the handles of the one traced thread to it (with two or more
        threads traced, each handle goes through the Python dispatch)."""
        if self._handle_run is None:
            return
        for tracer in _TRACERS.values():
            tracer.make_fast(self._handle_run)
        if self._patch is not None:
            tracers = list(_TRACERS.values())
            self._patch.use(tracers[0].fast if len(tracers) == 1 else None)

    def _set(self, owner: Any, name: str, value: Any) -> None:
        self._undo.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    def apply(self) -> None:
        """Patch asyncio (it is fully imported); called once per first user."""
        global _ASYNCIO_DIR, _TASK_TYPES, _PY_STEPS
        self._unwatch()
        if self._undo or not self.users:
            return
        import asyncio
        import asyncio.base_events
        import asyncio.events
        import asyncio.runners
        import asyncio.tasks

        _ASYNCIO_DIR = os.path.dirname(asyncio.__file__) + os.sep
        # asyncio.Task first (the C Task, when built): the C step tests it first.
        _TASK_TYPES = tuple(dict.fromkeys((asyncio.Task, asyncio.tasks._PyTask)))
        _PY_STEPS = tuple(asyncio.tasks._PyTask.__dict__[name]
                          for name in ("_Task__step", "_Task__wakeup"))
        tracers = _TRACERS
        Handle = asyncio.events.Handle
        Loop = asyncio.base_events.BaseEventLoop
        handle_run, create_task = Handle._run, Loop.create_task
        run_forever, close, asyncio_run = Loop.run_forever, Loop.close, asyncio.runners.run
        call_exception_handler = Loop.call_exception_handler

        def run_python(self: Any) -> Any:
            tracer = tracers.get(_get_ident())
            if tracer is None:
                return handle_run(self)
            return tracer.run_handle(self, handle_run)

        # With the C hook: Handle._run is a C callable (a method, as the function was) that
        # records the step around a call of the original (see _hook.AioPatch).
        if _AioPatch is not None:
            own = (getattr(handle_run, "__module__", None) == "asyncio.events"
                   and handle_run.__qualname__ == "Handle._run")
            slots = tuple(Handle.__dict__[name] for name in ("_context", "_callback", "_args"))
            self._patch = _AioPatch(handle_run, run_python, partial(_report, handle_run),
                                    slots if own else None)
        _run = run_python if self._patch is None else self._patch

        def create_task_(self: Any, coro: Any, *args: Any, **kwargs: Any) -> Any:
            task = create_task(self, coro, *args, **kwargs)
            tracer = tracers.get(_get_ident())
            if tracer is not None:
                tracer.created(self, task)
            return task

        def run_forever_(self: Any) -> Any:
            tracer = tracers.get(_get_ident())
            if tracer is None:
                return run_forever(self)
            return tracer.run_forever(self, run_forever)

        def close_(self: Any) -> Any:
            close(self)
            tracer = tracers.get(_get_ident())
            if tracer is not None:
                tracer.closed(self)

        def call_exception_handler_(self: Any, context: dict[str, Any]) -> Any:
            tracer = tracers.get(_get_ident())
            if tracer is not None:
                tracer.trouble(self, context)
            return call_exception_handler(self, context)

        def run(main: Any, **kwargs: Any) -> Any:
            tracer = tracers.get(_get_ident())
            if tracer is None:
                return asyncio_run(main, **kwargs)
            tracer._holding += 1
            try:
                return asyncio_run(main, **kwargs)
            finally:
                tracer._holding -= 1
                if not tracer._holding:
                    tracer.leave()

        for wrapper, original in ((run_python, handle_run), (create_task_, create_task),
                                  (run_forever_, run_forever), (close_, close),
                                  (call_exception_handler_, call_exception_handler),
                                  (run, asyncio_run)):
            for attr in ("__name__", "__qualname__", "__doc__"):
                setattr(wrapper, attr, getattr(original, attr))
            wrapper.__wrapped__ = original  # type: ignore[attr-defined]
        self._handle_run = handle_run
        self._set(Handle, "_run", _run)
        self.refresh()
        self._set(Loop, "create_task", create_task_)
        self._set(Loop, "run_forever", run_forever_)
        self._set(Loop, "close", close_)
        self._set(Loop, "call_exception_handler", call_exception_handler_)
        self._set(asyncio.runners, "run", run)
        self._set(asyncio, "run", run)


_patches = _Patches()


def _report(handle_run: Any, handle: Any, exc: BaseException) -> None:
    """A traced handle's callback raised ``exc`` (its step was run in C): asyncio's own
    ``Handle._run`` says so as it would have, in its except clause, on the same handle,
    whose context is for that moment one whose ``run`` raises ``exc`` first (a C stand-in:
    no frame of ours in the traceback asyncio logs)."""
    context = handle._context
    handle._context = _OnceRaises(exc, context)
    try:
        handle_run(handle)
    finally:
        handle._context = context


def _fresh_state() -> Any:
    from .recorder import _AioState

    return _AioState()


def _showwarning(message: Any, category: Any, *args: Any, **kwargs: Any) -> Any:
    if category is RuntimeWarning and "was never awaited" in str(message):
        tracer = _TRACERS.get(_get_ident())
        if tracer is not None:
            tracer.never_awaited(str(message))
    return _patches._showwarning(message, category, *args, **kwargs)


class _ImportWatch(importlib.abc.MetaPathFinder):
    """Waits for ``import asyncio``: finds the package as the other finders would, and
    patches right after its module has run (it imports all of its submodules). Until
    then a program that never imports asyncio pays one string comparison per import."""

    def __init__(self, on_import: Any) -> None:
        self.on_import = on_import

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "asyncio":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _ThenPatch(spec.loader, self.on_import)
        return spec


class _ThenPatch(importlib.abc.Loader):
    """asyncio's own loader, then the patches; puts the original loader back on the
    module so that nothing after the import sees this one."""

    def __init__(self, loader: Any, on_import: Any) -> None:
        self.loader = loader
        self.on_import = on_import

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        with _lock:
            self.on_import()

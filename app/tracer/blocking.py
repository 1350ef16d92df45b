"""Blocking made visible: calls that stop the whole OS thread while gevent cannot switch.

Two honest sources, both writing ``block``/``unblock`` rows (see events.py):

* :class:`BlockingProbes` wraps the known blocking calls *by name* before the demo
  loads: ``time.sleep`` and the blocking methods of ``socket.socket`` (on a socket in
  blocking mode: asyncio's non-blocking sockets never block). When a demo
  calls ``monkey.patch_all()``, gevent replaces those same names with cooperative
  versions, so patched code no longer reaches the wrappers and records no block:
  exactly the difference the tutorial teaches. Code that grabbed the names *before*
  patching (``from socket import *`` first) keeps the blocking originals, and shows.
  The calls of the traced thread, and of threads started since the probes went in,
  are recorded; threads that were there before are not the traced program's (a Jupyter
  kernel's own, polling its parent with ``time.sleep(1)`` while a cell runs).
* :class:`BusyWatch` is polled by the runner's flusher thread. A task (other than the
  Hub) that has run for more than ``threshold_ns`` without a switch is starving the
  Hub, like gevent's own monitor reports: a pure-Python loop, or a C call we did not
  wrap. It is written as a ``block`` whose ``since`` is the task's last switch. Only
  once the Hub exists, and only for time the thread could have switched (see the class).
  An asyncio task step (or loop callback) holding a running loop is the same thing.
"""

from __future__ import annotations

import _thread
import importlib._bootstrap
import importlib._bootstrap_external
import os
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .recorder import Recorder

_get_ident = _thread.get_ident  # the real one, taken before any monkey-patching
# The import machinery's frames ("<frozen importlib._bootstrap>", or its .py file when
# Python runs with -X frozen_modules=off): a task inside them is importing, not hogging.
_IMPORT_FILES = frozenset(code.co_filename for code in (
    importlib._bootstrap._find_and_load.__code__,
    importlib._bootstrap_external.SourceLoader.get_code.__code__))
_SOCKET_METHODS = ("accept", "connect", "recv", "recv_into", "recvfrom", "send", "sendall")


class BlockingProbes:
    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self._undo: list[tuple[Any, str, Any]] = []
        self._foreign: frozenset[int] = frozenset()

    def _wrap(self, owner: Any, name: str, label: Callable[..., str],
              can_block: Callable[..., bool] | None = None) -> None:
        """``can_block(*args)``: False when this call cannot block (then no span)."""
        original = getattr(owner, name)
        rec = self.rec

        main = rec.thread_id
        foreign = self._foreign

        def blocking(*args: Any, **kwargs: Any) -> Any:
            thread = _get_ident()
            if thread in foreign or (can_block is not None and not can_block(*args)):
                return original(*args, **kwargs)
            task = rec.current_task()
            t = rec.now()
            on_main = thread == main
            if on_main:
                rec.blocked += 1
            rec.emit_block(t, task, label(*args), t)
            try:
                return original(*args, **kwargs)
            finally:
                rec.emit_unblock(rec.now(), task)
                if on_main:
                    rec.blocked -= 1

        blocking.__name__ = getattr(original, "__name__", name)
        blocking.__qualname__ = getattr(original, "__qualname__", name)
        blocking.__doc__ = getattr(original, "__doc__", None)
        blocking.__wrapped__ = original  # type: ignore[attr-defined]
        self._undo.append((owner, name, original))
        setattr(owner, name, blocking)

    def install(self) -> None:
        # The threads already running, but the traced one. An ident of one of them that
        # ends may be given to a thread started later, whose calls would then go
        # unrecorded: rare, and a gap, never a block that was not there.
        self._foreign = frozenset(sys._current_frames()) - {self.rec.thread_id}
        self._wrap(time, "sleep", lambda seconds=0, *a: f"time.sleep({seconds:g})")
        for method in _SOCKET_METHODS:
            self._wrap(socket.socket, method, _socket_label(method), _socket_can_block)

    def uninstall(self) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            setattr(owner, name, original)


def _socket_can_block(sock: Any = None, *args: Any) -> bool:
    """A non-blocking socket (timeout 0: asyncio's, a selector loop's) returns at once or
    raises BlockingIOError: never a block."""
    try:
        return sock.gettimeout() != 0.0
    except Exception:
        return True


def _socket_label(method: str) -> Callable[..., str]:
    def label(sock: Any = None, *args: Any) -> str:
        try:
            fd = sock.fileno()
        except Exception:  # closed socket
            fd = -1
        return f"socket.{method}(fd {fd})"

    return label


class BusyWatch:
    """Finds a task that keeps the thread for too long without switching.

    The recorder keeps ``running`` and ``switched_at`` up to date on every switch and
    ends a flagged span at the next switch (:meth:`Recorder.end_busy`). The race with
    the hook is benign: at worst a span ends one switch late.

    What counts toward ``threshold_ns`` is time the task kept the thread from the Hub,
    not the wall clock since its last switch:

    * nothing while the thread has no scheduler, so nothing can be starved: before
      gevent's Hub has been seen in it, unless an asyncio loop is running (importing
      gevent and ``monkey.patch_all()``, a plain computation, the code around
      ``asyncio.run``);
    * the Hub is never busy, nor the asyncio loop, except while it runs a callback
      that is not a task step (a ``call_soon``/``call_later`` callback): the loop
      waiting in ``select`` is idle, not hogging;
    * a task inside the import machinery, or in a wrapped blocking call (already its own
      ``block``), is not busy: the measure starts again after it;
    * time the thread waited on a run queue, runnable while the machine ran something
      else, is subtracted (Linux ``/proc/self/task/TID/schedstat``; elsewhere, or when
      ``native_id`` is None, wall time);
    * so is time the watcher's own thread held the GIL (:meth:`note_pause`: the flusher
      encoding and writing a batch), when the task could not run either.

    Each is read when the flusher polls (every ``flush_ms``), so a switch is placed
    between two polls: the run-queue wait before the first poll of a task is
    interpolated.
    """

    def __init__(self, recorder: Recorder, thread_id: int, threshold_ns: int = 100_000_000,
                 native_id: int | None = None) -> None:
        self.rec = recorder
        self.thread_id = thread_id
        self.threshold_ns = threshold_ns
        self._schedstat = None if native_id is None else f"/proc/self/task/{native_id}/schedstat"
        self._pauses: deque[tuple[int, int]] = deque(maxlen=8)  # the last few, recorder times
        self._paused = 0  # ns of all pauses so far
        self._sample: tuple[int, int | None] | None = None  # (t, run-queue wait) at last poll
        self._task: tuple[int, int] | None = None  # (task, since) being measured
        self._start = 0  # when its measure (re)started
        self._wait0: int | None = None  # the run-queue wait counter then
        self._paused0 = 0  # self._paused then

    def note_pause(self, begin: int, end: int) -> None:
        """The watcher's thread held the GIL from ``begin`` to ``end`` (recorder times)."""
        if end > begin:
            self._pauses.append((begin, end))
            self._paused += end - begin

    def run_queue_wait(self) -> int | None:
        """ns the watched thread has spent runnable but not running, or None if unknown.
        schedstat is "<ns on a CPU> <ns waiting on a run queue> <timeslices>"."""
        if self._schedstat is None:
            return None
        try:
            fd = os.open(self._schedstat, os.O_RDONLY)
            try:
                return int(os.read(fd, 128).split()[1])
            finally:
                os.close(fd)
        except (FileNotFoundError, ValueError, IndexError):  # not Linux, or no schedstat
            self._schedstat = None
        except OSError:  # out of file descriptors, say: the caller looks again next time
            pass
        return None

    def poll(self) -> None:
        """Called every few ms from another OS thread."""
        rec = self.rec
        if rec.hub_tid is None and not rec.loop_running:
            return
        running, since = rec.running, rec.switched_at
        now = rec.now()
        wait = self.run_queue_wait()
        if wait is None and self._schedstat is not None:
            return  # not read this time: do not fall back to the wall clock for one poll
        last, self._sample = self._sample, (now, wait)
        if rec.busy_task is not None or running is None:
            return
        if (running, since) != self._task:  # it switched since the last poll
            self._task, self._start = (running, since), since
            self._wait0 = _interpolate(last, (now, wait), since)
            self._paused0 = self._paused - sum(
                end - max(begin, since) for begin, end in self._pauses if end > since)
        kind = rec.tasks[running]["kind"]
        if kind == "hub" or (kind == "loop" and not rec.callback_running):
            return
        frame = sys._current_frames().get(self.thread_id)
        if rec.blocked or _importing(frame):
            self._start, self._wait0, self._paused0 = now, wait, self._paused
            return
        used = now - self._start - (self._paused - self._paused0)
        if wait is not None and self._wait0 is not None:
            used -= wait - self._wait0
        if used < self.threshold_ns:
            return
        where = _user_location(frame, rec.user_files)
        rec.begin_busy(running, since, f"busy: no switch{where}")


def _interpolate(a: tuple[int, int | None] | None, b: tuple[int, int | None],
                 t: int) -> int | None:
    """The run-queue wait counter at time ``t``, from samples ``a`` (earlier) and ``b``."""
    tb, wb = b
    if wb is None:
        return None
    if a is None or a[1] is None:
        return wb
    ta, wa = a
    if t <= ta or tb <= ta:
        return wa
    return wa + (wb - wa) * (min(t, tb) - ta) // (tb - ta)


def _importing(frame: Any) -> bool:
    while frame is not None:
        if frame.f_code.co_filename in _IMPORT_FILES:
            return True
        frame = frame.f_back
    return False


def _user_location(frame: Any, files: frozenset[str]) -> str:
    while frame is not None:
        if frame.f_code.co_filename in files:
            return f" in {frame.f_code.co_name}() line {frame.f_lineno}"
        frame = frame.f_back
    return ""

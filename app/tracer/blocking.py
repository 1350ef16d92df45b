"""Blocking made visible: calls that stop the whole OS thread while gevent cannot switch.

Two honest sources, both writing ``block``/``unblock`` rows (see events.py):

* :class:`BlockingProbes` wraps the known blocking calls *by name* before the demo
  loads: ``time.sleep`` and the blocking methods of ``socket.socket``. When a demo
  calls ``monkey.patch_all()``, gevent replaces those same names with cooperative
  versions, so patched code no longer reaches the wrappers and records no block:
  exactly the difference the tutorial teaches. Code that grabbed the names *before*
  patching (``from socket import *`` first) keeps the blocking originals, and shows.
* :class:`BusyWatch` is polled by the runner's flusher thread. A task (other than the
  Hub) that has run for more than ``threshold_ns`` without a switch is starving the
  Hub, like gevent's own monitor reports: a pure-Python loop, or a C call we did not
  wrap. It is written as a ``block`` whose ``since`` is the task's last switch.
"""

from __future__ import annotations

import _thread
import socket
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .events import BLOCK, UNBLOCK

if TYPE_CHECKING:
    from .recorder import Recorder

_get_ident = _thread.get_ident  # the real one, taken before any monkey-patching
_SOCKET_METHODS = ("accept", "connect", "recv", "recv_into", "recvfrom", "send", "sendall")


class BlockingProbes:
    def __init__(self, recorder: Recorder) -> None:
        self.rec = recorder
        self._undo: list[tuple[Any, str, Any]] = []

    def _wrap(self, owner: Any, name: str, label: Callable[..., str]) -> None:
        original = getattr(owner, name)
        rec = self.rec

        main = rec.thread_id

        def blocking(*args: Any, **kwargs: Any) -> Any:
            task = rec.current_task()
            t = rec.now()
            on_main = _get_ident() == main
            if on_main:
                rec.blocked += 1
            rec.rows.append((t, BLOCK, task, None, {"call": label(*args), "since": t}))
            try:
                return original(*args, **kwargs)
            finally:
                rec.rows.append((rec.now(), UNBLOCK, task, None, None))
                if on_main:
                    rec.blocked -= 1

        blocking.__name__ = getattr(original, "__name__", name)
        blocking.__qualname__ = getattr(original, "__qualname__", name)
        blocking.__doc__ = getattr(original, "__doc__", None)
        blocking.__wrapped__ = original  # type: ignore[attr-defined]
        self._undo.append((owner, name, original))
        setattr(owner, name, blocking)

    def install(self) -> None:
        self._wrap(time, "sleep", lambda seconds=0, *a: f"time.sleep({seconds:g})")
        for method in _SOCKET_METHODS:
            self._wrap(socket.socket, method, _socket_label(method))

    def uninstall(self) -> None:
        while self._undo:
            owner, name, original = self._undo.pop()
            setattr(owner, name, original)


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
    """

    def __init__(self, recorder: Recorder, thread_id: int, threshold_ns: int = 100_000_000):
        self.rec = recorder
        self.thread_id = thread_id
        self.threshold_ns = threshold_ns

    def poll(self) -> None:
        """Called every few ms from another OS thread."""
        rec = self.rec
        running, since = rec.running, rec.switched_at
        if rec.busy_task is not None or rec.blocked or running is None:
            return
        if rec.tasks[running]["kind"] == "hub" or rec.now() - since < self.threshold_ns:
            return
        frame = sys._current_frames().get(self.thread_id)
        where = _user_location(frame, rec.user_files)
        rec.begin_busy(running, since, f"busy: no switch{where}")


def _user_location(frame: Any, files: frozenset[str]) -> str:
    while frame is not None:
        if frame.f_code.co_filename in files:
            return f" in {frame.f_code.co_name}() line {frame.f_lineno}"
        frame = frame.f_back
    return ""

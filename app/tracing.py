"""The Python API: trace a block of code in this process.

    import coroscope

    with coroscope.trace("out.json"):
        gevent.joinall([gevent.spawn(work, n) for n in range(3)])

On leaving the block the native trace (``coroscope.trace`` version 3) is written atomically:
open it with ``coroscope serve out.json`` or convert it with ``coroscope export``. Only the
calling OS thread's greenlets are traced (``greenlet.settrace`` is per thread), as with
``coroscope run``; printed lines are recorded and still printed; calls to ``time.sleep``
and blocking ``socket.socket`` methods made inside the block are marked as blocking.
"""

from __future__ import annotations

import _thread
import contextlib
import datetime as _dt
import inspect
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .files import gzip_if_named, write_atomic
from .tracer.events import encode_batch
from .tracer.export import NativeWriter
from .tracer.recorder import Recorder
from .tracer.session import Session

__all__ = ["trace"]

FLUSH_SECONDS = 0.05  #: how often the block's rows are taken and written out
BATCH_ROWS = 10_000  #: at most this many rows are tuples at once while they are written


def _real_thread() -> tuple[Any, Any]:
    """``_thread``'s start_new_thread and allocate_lock as they were before any monkey
    patching: gevent's patch_all() may have run before this import, and the spilling
    thread must be an OS thread, not a greenlet of the block's own."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return _thread.start_new_thread, _thread.allocate_lock
    return (monkey.get_original("_thread", "start_new_thread"),
            monkey.get_original("_thread", "allocate_lock"))


class _Spill:
    """The block's rows, taken from the recorder every FLUSH_SECONDS by an OS thread of
    its own and spelt at once into the trace's events (NativeWriter: an unlinked
    temporary file), so the block's memory does not grow with its trace. The thread
    takes the GIL for that, as the end of the block would have for all of it at once."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.writer = NativeWriter()
        self.failed: BaseException | None = None
        start, lock = _real_thread()
        self._stop, self._done = lock(), lock()
        self._stop.acquire()
        self._done.acquire()
        start(self._loop, ())

    def _loop(self) -> None:
        try:
            while not self._stop.acquire(True, FLUSH_SECONDS):
                self.flush()
        except BaseException as exc:  # kept for finish(): the block's thread says it
            self.failed = exc
        finally:
            self._done.release()

    def flush(self) -> None:
        """What the recorder holds now (rows recorded meanwhile wait for the next round:
        a block switching without end keeps the loop turning). Written by C with the GIL
        let go where it is built, so that the block runs on meanwhile and its rows do
        not pile up faster than they are written; else a batch of tuples at a time."""
        recorder, writer = self.recorder, self.writer
        if not writer.takes(recorder.rows):
            for seq, rows in recorder.drain_held(BATCH_ROWS):
                writer.feed(encode_batch(seq, rows))
            return
        for _ in recorder.take_held(writer.write_rows):
            pass

    def finish(self) -> NativeWriter:
        """Stop the thread, write what is left (the recorder has stopped): the writer."""
        self._stop.release()
        self._done.acquire()
        if self.failed is not None:
            raise self.failed
        self.flush()
        return self.writer


@contextlib.contextmanager
def trace(path: str, *, generators: bool = False, title: str | None = None,
          user_files: Iterable[str] | None = None, source: str | None = None,
          source_name: str | None = None) -> Iterator[Recorder]:
    """Record the greenlet (and, with ``generators=True``, generator) switches of the block.

    The trace is written to ``path`` even if the block raises; the exception is recorded
    as the run's error and propagates.

    The lines reported (where each coroutine paused) are those of the calling file,
    unless ``user_files`` names the files (``co_filename``) to report instead: code
    compiled from a string, such as a notebook cell, has no file of its own to find.
    The viewer's source panel shows that file's text, or ``source``, named
    ``source_name`` (by default the file's base name, which also titles the run).
    """
    if user_files is None:
        caller = inspect.stack()[2].filename  # the file whose lines are worth showing
        files = [os.path.abspath(caller), caller]
    else:
        files = list(user_files)
        caller = files[0] if files else ""
    session = Session(files, generators=generators, passthrough=sys.stdout)
    recorder = session.recorder
    started = _dt.datetime.now(_dt.UTC)
    status, error = "finished", None
    session.start()
    spill = _Spill(recorder)
    try:
        yield recorder
    except BaseException as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        session.stop()
        if source is None:
            try:
                with open(caller, encoding="utf-8") as f:
                    source = f.read()
            except OSError:
                source = ""
        name = source_name or os.path.basename(caller)
        run: dict[str, Any] = {
            "id": "api-" + started.strftime("%Y%m%dT%H%M%S"),
            "demo": None,
            "title": title or name,
            "params": {},
            "status": status,
            "error": error,
            "started_at": started.isoformat(),
            "duration_ns": recorder.now(),
            "python": sys.version.split()[0],
            "source": {"file": name, "text": source},
        }
        writer = spill.finish()
        try:
            write_atomic(path, gzip_if_named(path, writer.chunks(run)))
        finally:
            writer.close()

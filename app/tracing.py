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

import contextlib
import datetime as _dt
import inspect
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from .files import gzip_if_named, write_atomic
from .tracer.events import encode_batch
from .tracer.export import native_trace_chunks
from .tracer.recorder import Recorder
from .tracer.session import Session

__all__ = ["trace"]


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
        drained = recorder.drain()
        batches = [encode_batch(0, drained[1])] if drained else []
        write_atomic(path, gzip_if_named(path, native_trace_chunks(run, batches)))

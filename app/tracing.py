"""The Python API: trace a block of code in this process.

    import coroscope

    with coroscope.trace("out.json"):
        gevent.joinall([gevent.spawn(work, n) for n in range(3)])

On leaving the block the native trace (``coroscope.trace`` v1) is written atomically:
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
from collections.abc import Iterator
from typing import Any

from .tracer.blocking import BlockingProbes
from .tracer.export import batch_bytes, native_trace_chunks
from .tracer.recorder import Recorder, TaskOutput

__all__ = ["trace"]


@contextlib.contextmanager
def trace(path: str, *, generators: bool = False, title: str | None = None) -> Iterator[Recorder]:
    """Record the greenlet (and, with ``generators=True``, generator) switches of the block.

    The trace is written to ``path`` even if the block raises; the exception is recorded
    as the run's error and propagates.
    """
    caller = inspect.stack()[2].filename  # the file whose lines are worth showing
    recorder = Recorder(user_files=[os.path.abspath(caller), caller], generators=generators)
    output = TaskOutput(recorder, passthrough=sys.stdout)
    probes = BlockingProbes(recorder)
    started = _dt.datetime.now(_dt.UTC)
    status, error = "finished", None
    saved = sys.stdout
    sys.stdout = output
    probes.install()
    recorder.start()
    try:
        yield recorder
    except BaseException as exc:
        status, error = "error", f"{type(exc).__name__}: {exc}"
        raise
    finally:
        recorder.stop()
        probes.uninstall()
        sys.stdout = saved
        output.close_lines()
        try:
            with open(caller, encoding="utf-8") as f:
                source = f.read()
        except OSError:
            source = ""
        run: dict[str, Any] = {
            "id": "api-" + started.strftime("%Y%m%dT%H%M%S"),
            "demo": None,
            "title": title or os.path.basename(caller),
            "params": {},
            "status": status,
            "error": error,
            "started_at": started.isoformat(),
            "duration_ns": recorder.now(),
            "python": sys.version.split()[0],
            "source": {"file": os.path.basename(caller), "text": source},
        }
        drained = recorder.drain()
        batches = [batch_bytes(0, drained[1])] if drained else []
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            for chunk in native_trace_chunks(run, batches):
                f.write(chunk)
        os.replace(tmp, path)

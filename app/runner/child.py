"""Entry point of a run's child process: ``python -m coroscope.runner.child SPEC_JSON``
(``app.runner.child`` in a checkout: see ``app/__init__.py``).

The child loads one demo file (or a user script) under the recorder and streams event
batches as frames on its own pipe (``events_fd``), never on stdout, which belongs to
the demo: the protocol, and the :class:`~.protocol.Spec` it is started with, are in
``protocol.py``.

A real OS thread (started before the demo can monkey-patch ``_thread``) flushes the
buffer every ``flush_ms``, so events reach the browser while the demo sleeps.

Nothing from Flask or the server is imported here: the child starts fast and a demo
that calls ``monkey.patch_all()`` patches only this process.
"""

from __future__ import annotations

# Keep these first: they must be the real, unpatched functions.
import _thread
import io
import os
import sys
import time

_real_sleep = time.sleep
_allocate_lock = _thread.allocate_lock

import builtins  # noqa: E402
import resource  # noqa: E402
import runpy  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

from ..tracer.blocking import BusyWatch  # noqa: E402
from ..tracer.events import json_bytes  # noqa: E402
from ..tracer.recorder import Recorder, TaskOutput  # noqa: E402
from ..tracer.session import Session  # noqa: E402
from .protocol import Spec, encode_batch, encode_frame  # noqa: E402

try:  # the C writer of the recorder's rows (setup.py builds it with the C hook)
    from ..tracer import _wire  # noqa: E402
    from ..tracer._hook import rows_api as _rows_api  # noqa: E402
except ImportError:  # pragma: no cover - exercised where the build failed
    _wire = None


class EventPipe:
    """Writes whole frames to the events fd; safe to call from both OS threads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = _allocate_lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data)
            while view:
                n = os.write(self.fd, view)
                view = view[n:]

    def frame(self, obj: dict[str, Any]) -> None:
        self.write(encode_frame(obj))

    def batch(self, seq: int, rows: list[Any], max_rows: int) -> None:
        for i in range(0, len(rows), max_rows):
            self.write(encode_batch(seq + i, rows[i : i + max_rows]) + b"\n")

    def send_rows(self, seq: int, rows: Any, limit: int, max_rows: int) -> tuple[int, int, int]:
        """Take at most about ``limit`` of the oldest rows out of ``rows`` (the C hook's
        RowBuffer) and write them as batches of at most ``max_rows``, the same lines as
        :meth:`batch` of the rows drained, spelled in C with the GIL let go:
        ``(rows sent, let go at, taken back at)``, CLOCK_MONOTONIC ns."""
        with self._lock:
            return _wire.send_rows(_rows_api, rows, self.fd, seq, limit, max_rows, json_bytes)


class Flusher:
    """Drains the recorder every ``interval`` seconds from a real OS thread."""

    def __init__(self, recorder: Recorder, output: TaskOutput, pipe: EventPipe,
                 spec: Spec) -> None:
        self.recorder = recorder
        self.output = output
        self.max_output = spec.max_output_bytes
        #: Off while a demo's module loads: importing gevent and monkey-patching is
        #: not a coroutine hogging the thread. A script is watched from its first line
        #: (BusyWatch itself waits for the Hub and ignores imports).
        self.watching = spec.mode == "script"
        self.watch = BusyWatch(recorder, recorder.thread_id,
                               int(spec.busy_ms * 1_000_000), recorder.native_id)
        self.pipe = pipe
        self.interval = spec.flush_ms / 1000
        self.max_rows = spec.batch_rows
        self.max_events = spec.max_events
        #: The run's wall-time bound, kept here as well as by the server: this thread
        #: sees the clock whatever the server's event loop is busy with.
        self.max_seconds = spec.max_seconds
        self._deadline = (time.monotonic() + self.max_seconds) if self.max_seconds else None
        self._stop = False
        self._look_failed = False
        self._done = _allocate_lock()
        #: The rows written by the C writer: the C hook's buffer, and the writer built.
        self.in_c = (_wire is not None and recorder.fast
                     and not os.environ.get("COROSCOPE_PURE_PYTHON"))

    def start(self) -> None:
        self._done.acquire()
        _thread.start_new_thread(self._loop, ())

    def flush(self) -> None:
        # Only what was there when it began: a program that switches without end refills
        # the buffer while it is written, and the loop must get back to the limits.
        if self.in_c and self.pipe.fd >= 0:
            self._send_in_c()
            return
        # In Python, a slice at a time: after a stall (this thread starved of CPU) the
        # backlog stays packed in the recorder and only one batch is ever tuples (a whole
        # backlog of 1M switches drained at once was 150 MB more at the child's peak).
        began = self.recorder.now()
        for seq, rows in self.recorder.drain_held(self.max_rows):
            self.pipe.batch(seq, rows, self.max_rows)
            # Holding the GIL to encode the batch, this thread kept the demo's one
            # waiting: that time is not the demo's running task hogging the thread.
            done = self.recorder.now()
            self.watch.note_pause(began, done)
            began = done

    def _send_in_c(self) -> None:
        """The rows go from the buffer to the pipe in C, never made tuples: this thread
        holds the GIL only to take them and to spell rows other than switches."""
        rec = self.recorder
        began = rec.now()
        for _, let_go, taken_back in rec.take_held(
                partial(self.pipe.send_rows, max_rows=self.max_rows)):
            self.watch.note_pause(began, let_go - rec.t0)
            began = rec.now()
            self.watch.note_pause(taken_back - rec.t0, began)

    def _loop(self) -> None:
        try:
            while not self._stop:
                _real_sleep(self.interval)
                self._look()
                self.flush()
                if self._deadline is not None and time.monotonic() >= self._deadline:
                    self.limit(f"time limit reached: {self.max_seconds:g} s")
                if self.max_events and self.recorder.count > self.max_events:
                    self.limit(f"event limit reached: more than {self.max_events} events")
                if self.max_output and self.output.written > self.max_output:
                    self.limit(f"output limit reached: more than {self.max_output} "
                               "characters printed")
        except OSError:  # the server went away: nobody is listening any more
            os._exit(4)
        except BaseException:
            # A fault of coroscope's own: the stream would stop without a word and the
            # run look frozen until its end. Say so, and end the run with what it has.
            why = "coroscope's event flusher failed:\n" + traceback.format_exc()
            try:
                self.flush()
            except BaseException:  # the same fault again: the rows since the last batch go
                why += "\nand the events since its last batch could not be sent"
            try:
                self.pipe.frame({"type": "done", "status": "crashed", "error": why,
                                 "t": self.recorder.now()})
            finally:
                os._exit(5)
        finally:
            self._done.release()

    def _look(self) -> None:
        """What the flusher watches besides the buffer: a coroutine hogging the thread,
        and threading being patched. These only add marks, read while the demo's thread
        changes what they read (a module half imported, a task being added): a failure
        is reported once on stderr and skipped, never allowed to stop the stream."""
        try:
            if self.watching:
                self.watch.poll()
            self.recorder.watch_dummy_threads()
        except Exception:
            if not self._look_failed:
                self._look_failed = True
                traceback.print_exc()

    def limit(self, why: str) -> None:
        """End the run now: a bound was hit. Rows so far are sent, so the trace stays
        whole up to here; the demo gets no chance to run on."""
        self.flush()
        self.pipe.frame({"type": "done", "status": "limit", "error": why,
                         "t": self.recorder.now()})
        os._exit(3)

    def stop(self) -> None:
        self._stop = True
        with self._done:
            pass
        self.flush()


def _leave_the_run(pipe: EventPipe, recorder: Recorder, die_with_the_run: bool = False) -> None:
    """In a forked copy of the demo: close the events pipe (writes to it are dropped)
    and stop tracing; the copy runs on as the program wrote it.

    ``die_with_the_run`` (a dashboard run): the copy also dies when the process that
    forked it dies, as that one dies with the server. fork clears PR_SET_PDEATHSIG, so
    a demo's sleeping grandchild outlived even ``kill -9`` of the server. A script run's
    copies are the script's business (a daemon it starts lives on, as under python)."""
    if die_with_the_run:
        die_with_parent()
    try:
        os.close(pipe.fd)
    except OSError:
        pass
    pipe.fd = -1
    pipe.write = lambda data: None  # type: ignore[method-assign]
    recorder.after_fork()


#: This process's pid, once it has called die_with_parent; in a forked copy, until the
#: copy calls it too, the pid of the process that forked it.
_asked_as: int | None = None
#: libc's prctl, looked up on the first call: a forked copy must not need the loader.
_prctl: Any = None


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process if its parent dies, however it dies: the
    server, for a run's child; the process that forked it, for a copy of the demo.
    (Linux's parent here is the thread that forked: a copy forked by a thread of the
    demo dies when that thread ends.)"""
    global _asked_as, _prctl
    parent, _asked_as = _asked_as, os.getpid()
    try:
        if _prctl is None:
            import ctypes

            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        _prctl(1, 9, 0, 0, 0)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):  # not Linux: the server's shutdown still kills us
        return
    if parent is not None and os.getppid() != parent:
        # The parent died between the fork and the prctl: its signal will never come.
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


#: The stack each new OS thread reserves under an address-space bound (see apply_limits).
THREAD_STACK_BYTES = 1 << 20


def apply_limits(spec: Spec) -> None:
    die_with_parent()
    mem = spec.max_memory_bytes
    if mem:
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        # A thread reserves its whole stack as address space: 8 MiB by default (ulimit
        # -s), so under a 2 GiB bound about 200 threads could start and the tutorial's
        # client threads failed with "can't start new thread". 1 MiB is plenty for
        # Python code (a program that needs more sets threading.stack_size itself).
        _thread.stack_size(THREAD_STACK_BYTES)


def run(spec: Spec) -> int:
    pipe = EventPipe(spec.events_fd)
    apply_limits(spec)
    pipe.frame(
        {
            "type": "hello",
            "pid": os.getpid(),
            "python": sys.version.split()[0],
            "started_unix": time.time(),
        }
    )
    file = spec.file
    script = spec.mode == "script"
    session = Session(spec.user_files or [file], generators=spec.generators,
                      passthrough=sys.stdout if script else None)
    recorder, output = session.recorder, session.output
    # As `python demo.py` would: the file's folder is importable (for its helpers); an
    # edited script's copy imports from the script's own folder (Target.for_edited_script).
    sys.path.insert(0, spec.import_dir or os.path.dirname(file))
    flusher = Flusher(recorder, output, pipe, spec)
    flusher.start()
    pid = os.getpid()
    # A demo that forks: the copy must not hold the events pipe open (the run would not
    # end until the copy did) nor, returning here, wait for a flusher thread it does
    # not have or send a second trace. Only the process that started the run is traced.
    os.register_at_fork(after_in_child=lambda: _leave_the_run(pipe, recorder, not script))

    status, error, code = "finished", None, 0
    session.start()
    try:
        if script:
            run_as_main(file, list(spec.argv))
        else:
            namespace = runpy.run_path(file, run_name="__coroscope_demo__")
            recorder.switched_at = max(recorder.switched_at, recorder.now())
            # A demo patches threading when it is imported: learn it now, before its first
            # switch or print, not whenever the flusher next looks (a race that lost the
            # Dummy-N names of gevent_dummythread in ~1 run in 10).
            recorder.watch_dummy_threads()
            flusher.watching = True
            recorder.mark("main()")  # what came before was loading the file
            namespace["main"](**spec.params)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code:
            status, error = "error", f"exit code {code} (SystemExit({exc.code!r}))"
        if not isinstance(exc.code, int | None):
            print(exc.code, file=sys.stderr)  # as Python prints sys.exit("message")
    except MemoryError as exc:
        mib = spec.max_memory_bytes >> 20
        status, code = "limit", 1
        error = f"memory limit reached ({mib} MiB of address space)\n" + user_traceback(exc, file)
    except BaseException as exc:
        status, error, code = "error", user_traceback(exc, file), 1
        if script:
            print(error, file=sys.stderr, end="")
    finally:
        if os.getpid() != pid:
            # A fork of the demo's process got here (untraced since the fork): it ends
            # as the program would, without the flusher it does not have.
            sys.stdout = session.saved_stdout
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        session.stop()
    # The run ends here, not after the flusher has woken from its sleep (up to flush_ms
    # later, more on a loaded machine): that wait was drawn as the demo still running.
    ended = recorder.now()
    flusher.stop()
    pipe.frame({"type": "done", "status": status, "error": error, "t": ended})
    if spec.untraced_rerun and status == "finished" and not script:
        # After `done`: the traced run is over and said so whatever happens now (the
        # server's time limit may still cut this short: then there are no figures).
        _rerun_untraced(pipe, namespace["main"], spec.params, spec.max_output_bytes)
    return code


class _Kept(io.StringIO):
    """What the untraced rerun prints, up to ``cap`` characters (0: no bound)."""

    def __init__(self, cap: int) -> None:
        super().__init__()
        self.cap = cap

    def write(self, s: str) -> int:
        room = self.cap - self.tell() if self.cap else len(s)
        return super().write(s[:max(0, room)]) if room > 0 else len(s)


def _rerun_untraced(pipe: EventPipe, main: Any, params: dict[str, Any], cap: int) -> None:
    """Run the demo's ``main()`` once more with no tracer installed, its printing kept
    aside (within the run's output bound), and send what it printed: a demo that times
    pure computation measures the tracer too, and the viewer shows both figures."""
    printed = _Kept(cap)
    saved, sys.stdout = sys.stdout, printed
    start = time.perf_counter()
    try:
        main(**params)
    except Exception as exc:  # it ran traced; untraced it fails: say so, keep the trace
        print(f"(the untraced run failed: {exc!r})", file=printed)
    finally:
        sys.stdout = saved
    pipe.frame({"type": "untraced", "printed": printed.getvalue().splitlines(),
                "seconds": time.perf_counter() - start})


def run_as_main(file: str, argv: list[str]) -> None:
    """Run ``file`` as ``python FILE ARGS`` does: ``__main__``, argv as typed, its folder
    on sys.path (runpy.run_path would put the absolute path in ``sys.argv[0]``)."""
    with open(file, "rb") as f:
        code = compile(f.read(), file, "exec")
    module = types.ModuleType("__main__")
    module.__file__ = file
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    sys.argv = list(argv)
    exec(code, module.__dict__)


def user_traceback(exc: BaseException, file: str) -> str:
    """The traceback as Python would print it for ``file``: without the runner's frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != file:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb or exc.__traceback__))


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv if argv is None else argv
    code = run(Spec.from_json(argv[1]))
    # os._exit: paused greenlets must not be woken by interpreter shutdown (their
    # GreenletExit would run demo code after the trace ended), and a demo's
    # leftover threads must not keep the child alive.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()

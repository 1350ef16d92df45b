"""Runs: start a demo in a child process, keep its whole trace, fan it out.

A :class:`Run` owns one child process (``python -m coroscope.runner.child``, started
with a ``runner.protocol.Spec``) and the read
end of its events pipe. One greenlet relays the pipe: event batches are counted from
their header and stored as the exact bytes the child wrote (about 20 bytes an event),
so relaying to a websocket never re-encodes. Every viewer walks the same list of
batches from its own index (:meth:`Run.follow`): a late viewer gets the history and
then the live tail, a slow viewer just lags behind, and nothing is copied per viewer.

This module uses gevent but knows nothing of Flask or websockets.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import os
import re
import secrets
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import orjson
from gevent import subprocess
from gevent.event import Event
from gevent.os import make_nonblocking, nb_read

from . import PACKAGE
from ._demos import Demo
from .runner.protocol import Spec, batch_header, decode_frame, encode_batch
from .tracer.checker import check_header, iter_rows
from .tracer.events import FINAL_STATUSES, LIVE_STATUSES, VERSION
from .tracer.export import chrome_trace_chunks, native_trace_chunks

#: The folder that holds this package: the checkout, or site-packages once installed.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: A checkout is run from its folder (``python -m app``): its children need it on their path.
_CHECKOUT = PACKAGE == "app"
#: Where a demo runs: the checkout, as `python demos/x.py` from it would; installed, not
#: in site-packages but a private scratch folder, made when a demo first runs (no demo
#: writes files; a user's edit might). Never on the child's sys.path: see Run.start.
DEMO_CWD = str(PROJECT_ROOT) if _CHECKOUT else ""
#: How long after its time limit a child that has not ended itself is killed.
_LIMIT_GRACE = 2.0
_F_SETPIPE_SZ = 1031  # Linux: a bigger pipe lets the child run ahead of a busy server


_scratch: list[str] = []


def _scratch_folder() -> str:
    """A folder of this user's own for installed demos to run in (made once, 0700)."""
    if not _scratch:
        _scratch.append(tempfile.mkdtemp(prefix="coroscope-demos-"))
    return _scratch[0]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # real-time signals have no name in the enum
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return str(number)


class RunError(Exception):
    """A run could not be started; ``status`` is the HTTP status that fits."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    """Bounds on every run, and on how many runs the server holds."""

    max_seconds: float = 60.0
    max_events: int = 5_000_000
    max_memory_bytes: int = 2 << 30
    max_output_bytes: int = 1 << 20
    max_concurrent: int = 8
    keep_finished: int = 100
    stderr_tail: int = 64 * 1024
    #: Reading an imported trace back (in its own process): a 256 MiB file parses to
    #: about 1.6 GB of Python objects and takes ~10 s here.
    import_seconds: float = 300.0
    import_memory_bytes: int = 4 << 30


@dataclass(frozen=True)
class Target:
    """What a run executes: a demo's ``main(**params)``, or a script as ``__main__``."""

    kind: str  # "demo" | "script" | "import" (a trace file read back: nothing runs)
    name: str  # the demo id, or the script path as the user gave it
    title: str
    file: str  # absolute path of the file to run
    user_files: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)  # as shown and exported
    call_params: dict[str, Any] = field(default_factory=dict)  # passed to main()
    argv: tuple[str, ...] = ()
    cwd: str = DEMO_CWD
    generators: bool = False
    passthrough: bool = False  # the child's stdin/stdout/stderr are the caller's
    pass_fd: int | None = None  # a descriptor the child inherits (an import's file)

    @classmethod
    def for_demo(cls, demo: Demo, params: dict[str, Any]) -> Target:
        return cls(
            kind="demo",
            name=demo.id,
            title=demo.title,
            file=str(demo.path_for(params)),
            user_files=tuple(demo.user_files(params)),
            params=params,
            # A variant that picks the file is not an argument of that file's main().
            call_params={k: v for k, v in params.items()
                         if not (k == "variant" and demo.variant_files)},
            generators=demo.generators,
        )

    @classmethod
    def for_import(cls, path: str, fd: int | None = None) -> Target:
        """A trace file to read back (checked in a child: see runner/importer.py); or the
        open descriptor ``fd`` of one, which the child reads as ``/proc/self/fd/N``."""
        if fd is not None:
            path = f"/proc/self/fd/{fd}"
        return cls(kind="import", name="import", title="importing a trace", file=path,
                   user_files=(), pass_fd=fd)

    @classmethod
    def for_script(cls, path: str, args: list[str], generators: bool = False) -> Target:
        full = os.path.abspath(path)
        return cls(kind="script", name=path, title=os.path.basename(path), file=full,
                   user_files=(full,), argv=(path, *args), cwd=os.getcwd(),
                   generators=generators, passthrough=True)

    def source(self) -> dict[str, str]:
        if not self.file or self.kind == "import":  # its source is the file's own
            return {"file": "", "text": ""}
        try:
            text = Path(self.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        return {"file": os.path.basename(self.file), "text": text}


class Run:
    @classmethod
    def from_stored(cls, meta: dict[str, Any], batches: list[bytes], limits: Limits) -> Run:
        """A run read back from the history on disk: ``meta`` and ``batches`` as
        ``RunStore.checked`` gives them (its fields typed, every batch well-formed)."""
        # The name goes into a download's file name (a header): only safe characters.
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", meta.get("demo") or meta.get("title") or "")
        target = Target(kind="import", name=name[:64] or "run",
                        title=meta.get("title") or "run", file="", user_files=(),
                        params=meta.get("params") or {})
        run = cls(target, limits)
        run.id = meta["id"]
        run.stored_meta = meta
        run.status, run.error = meta["status"], meta.get("error")
        run.duration_ns, run.python = meta.get("duration_ns"), meta.get("python")
        run.batches = batches
        run.events = sum(batch_header(b)[1] for b in batches)
        run.ended.set()
        return run

    @classmethod
    def from_trace(cls, trace: dict[str, Any], limits: Limits) -> Run:
        """A finished run read back from a native trace in this process (``serve FILE``:
        before the server starts, so nothing waits); it replays as recorded."""
        run = cls(Target.for_import(""), limits)
        version = check_header(trace)
        run._on_trace({"version": version, "run": trace["run"], "tasks": trace["tasks"]})
        rows = list(iter_rows(trace))
        for i in range(0, len(rows), 10_000):
            chunk = rows[i:i + 10_000]
            run.batches.append(encode_batch(i, chunk))
        run.events = len(rows)
        run._done_frame = {"type": "done", "status": "imported"}
        run._finish()
        return run

    def __init__(self, target: Target, limits: Limits) -> None:
        self.id = "r" + secrets.token_hex(6)
        self.target = target
        self.params = target.params
        self.limits = limits
        self.status = "starting"
        self.error: str | None = None
        self.started_at = _dt.datetime.now(_dt.UTC)
        self._t_start = time.monotonic()
        self.duration_ns: int | None = None
        self.events = 0
        self.batches: list[bytes] = []
        self.pid: int | None = None
        self.python: str | None = None
        self.exit_code: int | None = None
        self.ended = Event()
        self._wake = Event()
        self._done_frame: dict[str, Any] | None = None
        self._stopping: tuple[str, str] | None = None  # (status, why) when we kill it
        self._stderr = bytearray()
        self._proc: subprocess.Popen | None = None
        self._stderr_reader: gevent.Greenlet | None = None
        self._timer: gevent.Greenlet | None = None
        #: The header of the trace a run was imported from (version, run, tasks): given
        #: back verbatim by the export, with the events rebuilt from the rows.
        self.imported: dict[str, Any] | None = None
        #: Why an import was refused (the file is not a trace this version reads).
        self.refused: str | None = None
        #: The description a run read back from the history had when it was stored.
        self.stored_meta: dict[str, Any] | None = None
        #: Where batches and the final description are saved (None: memory only).
        self.store: Any = None
        self.title: str | None = None  # a name the user gave it
        self.unsaved: str | None = None  # why the history stopped saving it, if it did
        self._refused: Any = None  # the store that refused it

    # -- life of the child -------------------------------------------------------

    def start(self) -> None:
        r, w = os.pipe()
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        target = self.target
        importing = target.kind == "import"
        spec = Spec(
            mode=target.kind,
            file=target.file,
            user_files=target.user_files,
            params=target.call_params,
            argv=target.argv,
            events_fd=w,
            max_events=self.limits.max_events,
            max_seconds=self.limits.max_seconds,
            max_memory_bytes=(self.limits.import_memory_bytes if importing
                              else self.limits.max_memory_bytes),
            max_output_bytes=self.limits.max_output_bytes,
            generators=target.generators,
        )
        env = dict(os.environ)
        if _CHECKOUT:
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH")) if p
            )
        env["PYTHONUNBUFFERED"] = "1"
        try:
            quiet = not target.passthrough
            self._proc = subprocess.Popen(
                # -P: the working folder is not put on sys.path. It may be a shared one
                # (a scratch folder, a user's cwd): a greenlet.py planted there by another
                # user would otherwise run, as this user, in every child.
                [sys.executable, "-P", "-m",
                 f"{PACKAGE}.runner.importer" if importing else f"{PACKAGE}.runner.child",
                 spec.to_json()],
                pass_fds=(w,) if target.pass_fd is None else (w, target.pass_fd),
                stdin=subprocess.DEVNULL if quiet else None,
                stdout=subprocess.DEVNULL if quiet else None,
                stderr=subprocess.PIPE if quiet else None,
                # Its own process group, so cancel kills it all; a script run from the
                # shell stays in the shell's group so Ctrl+C reaches it as usual.
                start_new_session=quiet,
                cwd=target.cwd or _scratch_folder(),
                env=env,
            )
        except BaseException:
            os.close(r)
            raise
        finally:
            os.close(w)
        self.pid = self._proc.pid
        make_nonblocking(r)
        if self._proc.stderr is not None:
            self._stderr_reader = gevent.spawn(self._read_stderr)
        gevent.spawn(self._relay, r)
        seconds = self.limits.import_seconds if importing else self.limits.max_seconds
        if seconds:
            # The child ends itself at the limit, with its trace flushed (its own thread
            # keeps the time, whatever this loop is doing); this kill is for a child too
            # stuck to do so.
            grace = 0 if importing else _LIMIT_GRACE
            self._timer = gevent.spawn_later(seconds + grace, self._time_limit, seconds)

    def cancel(self) -> None:
        """Kill the child and its whole process group; the trace so far is kept."""
        self._kill("cancelled", "cancelled by the user")

    def _time_limit(self, seconds: float) -> None:
        self._kill("limit", f"time limit reached: {seconds:g} s")

    def _kill(self, status: str, why: str) -> None:
        if self.ended.is_set() or self._stopping is not None or self._proc is None:
            return
        self._stopping = (status, why)
        try:
            if self.target.passthrough:
                self._proc.kill()
            else:
                os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def _end_group(self) -> None:
        """A dashboard run is bounded: what the demo forked (its process group) ends with
        it. A script run from the shell is not: it lives in the shell's group, and what it
        leaves running is its own business, as without coroscope."""
        if self.target.passthrough or self._proc is None:
            return
        try:  # the group outlives its reaped leader while members remain
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        tail = self.limits.stderr_tail
        stream = self._proc.stderr
        try:
            for chunk in iter(lambda: stream.read1(65536), b""):
                self._stderr += chunk
                if len(self._stderr) > tail:
                    del self._stderr[:-tail]
        finally:
            stream.close()

    def _relay(self, fd: int) -> None:
        try:
            pending: list[bytes] = []  # the pieces of a line not yet ended
            while True:
                data = nb_read(fd, 1 << 20)
                if not data:
                    break
                if b"\n" not in data:  # a long line goes on: joined once, when it ends
                    pending.append(data)
                    continue
                lines = data.split(b"\n")
                if pending:
                    lines[0] = b"".join(pending) + lines[0]
                rest = lines.pop()
                pending = [rest] if rest else []
                for line in lines:
                    self._on_line(line)
        except Exception as exc:
            # A fault of the server's own: the run must still end (else it stays
            # "running" for ever, its viewers wait, and it holds a place among the runs).
            traceback.print_exc()
            self._kill("crashed", f"the server failed while relaying this run: {exc!r}")
        finally:
            os.close(fd)
            try:
                assert self._proc is not None
                self.exit_code = self._proc.wait()
                self._end_group()
                if self._stderr_reader is not None:
                    # Its tail may explain a crash: what the child wrote before it exited
                    # is in the pipe already. Not until EOF: a process the demo forked
                    # may hold the pipe open long after the run is over.
                    self._stderr_reader.join(0.5)
            finally:
                self._finish()

    def _on_line(self, line: bytes) -> None:
        header = batch_header(line)
        if header is not None:
            seq, n = header
            if seq != self.events:
                self._kill("crashed", f"event stream out of order: got seq {seq}, "
                                      f"expected {self.events}")
                return
            self.events += n
            self.batches.append(line)
            if self.store is not None:
                self._save(self.store.append, self.id, line)
            self._notify()
            return
        try:
            frame = decode_frame(line)
        except ValueError:
            self._kill("crashed", f"unreadable frame from the child: {line[:80]!r}")
            return
        if frame.get("type") == "hello":
            self.python = frame.get("python")
            if self.status == "starting":
                self.status = "running"
                self._notify()
        elif frame.get("type") == "done":
            self._done_frame = frame
        elif frame.get("type") == "trace" and self.target.kind == "import":
            self._on_trace(frame)
        elif frame.get("type") == "tasks" and self.imported is not None:
            self.imported["tasks"].extend(frame["tasks"])

    def _on_trace(self, frame: dict[str, Any]) -> None:
        """The header of a trace being imported (checked): the run is described by it."""
        self.imported = {"version": frame["version"], "run": frame["run"],
                         "tasks": frame["tasks"]}
        self.python = frame["run"].get("python")

    def _finish(self) -> None:
        elapsed = int((time.monotonic() - self._t_start) * 1e9)
        done = self._done_frame
        if self.target.kind == "import":
            self._finish_import(done)
        elif done is not None:
            self.status = done.get("status", "finished")
            self.error = done.get("error")
            self.duration_ns = done.get("t", elapsed)
        elif self._stopping is not None:
            self.status, self.error = self._stopping
        else:
            self.status = "crashed"
            self.error = f"the run's process {self._how_it_died()}"
        if self.duration_ns is None:
            self.duration_ns = elapsed
        if self._timer is not None:
            self._timer.kill(block=False)  # else it holds this run for max_seconds
            self._timer = None
        self._proc = None
        try:
            self._save_end()
        finally:
            self.ended.set()
            self._notify()

    def _how_it_died(self) -> str:
        """``killed by signal SIGKILL without finishing``, then the tail of its stderr."""
        code = self.exit_code
        how = (f"killed by signal {_signal_name(-code)}" if code is not None and code < 0
               else f"exited with code {code}")
        tail = self._stderr.decode("utf-8", "replace").strip()
        return f"{how} without finishing" + (f":\n{tail}" if tail else "")

    def _finish_import(self, done: dict[str, Any] | None) -> None:
        """An import ends as the run it holds, or refused with the reason."""
        if done is not None and done.get("status") == "imported" and self.imported is not None:
            info = self.imported["run"]
            if info["status"] in LIVE_STATUSES:
                # Downloaded while its run was going on: what it holds is all there is, and
                # nothing will add to it; "running" would be listed as live for ever.
                info = self.imported["run"] = dict(
                    info, status="cancelled", incomplete=True,
                    error=f"saved while its run was still {info['status']}: the trace holds "
                          f"what had been recorded until then ({self.events} events)")
            self.status, self.error = info["status"], info.get("error")
            self.duration_ns = info.get("duration_ns")
            return
        if done is not None:
            self.refused = done.get("error") or "the trace could not be read"
        elif self._stopping is not None:
            self.refused = f"reading it was stopped: {self._stopping[1]}"
        else:
            self.refused = f"the process that reads it {self._how_it_died()}"
        self.status, self.error = "error", self.refused

    def _save(self, write: Any, *args: Any) -> None:
        """Write to the history; if the disk refuses (full, read-only, permissions) the
        run goes on, live and exportable, only no longer saved, and says so (``unsaved``)."""
        try:
            write(*args)
        except OSError as exc:
            self.unsaved = f"not saved in the history: {exc}"
            print(f"coroscope: run {self.id} {self.unsaved}", file=sys.stderr)
            self.store.forget(self.id)
            self._refused, self.store = self.store, None

    def _save_end(self) -> None:
        """The final description, also after the disk refused a batch: if it can be
        written, the history says how the run ended (incomplete) instead of 'running'."""
        if self.store is not None:
            self._save(self.store.end, self.describe(source=True))
        elif self._refused is not None:
            meta = self.describe(source=True)
            meta.update(incomplete=True, events=self._refused.events_on_disk(self.id))
            try:
                self._refused.end(meta)
            except OSError:
                pass  # the registry lists it by what it knows (RunRegistry._as_listed)

    def _notify(self) -> None:
        wake, self._wake = self._wake, Event()
        wake.set()

    # -- viewers -----------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES and self.ended.is_set()

    def follow(self) -> Iterator[bytes]:
        """Every event batch in order: the history first, then live until the end."""
        i = 0
        while True:
            wake = self._wake
            while i < len(self.batches):
                yield self.batches[i]
                i += 1
            if self.ended.is_set():
                return
            wake.wait()

    # -- descriptions and export -----------------------------------------------------

    def describe(self, source: bool = False) -> dict[str, Any]:
        if self.stored_meta is not None:
            info = dict(self.stored_meta)
            return info if source else {k: v for k, v in info.items() if k != "source"}
        if self.imported is not None:
            info = dict(self.imported["run"], id=self.id, imported_from=self.imported["run"]["id"])
            if not self.ended.is_set():  # still being read: how far it got
                info.update(status=self.status, events=self.events)
            return info if source else {k: v for k, v in info.items() if k != "source"}
        target = self.target
        info: dict[str, Any] = {
            "id": self.id,
            "demo": target.name if target.kind == "demo" else None,
            "title": self.title or target.title,
            "params": self.params,
            "status": self.status,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "duration_ns": self.duration_ns,
            "events": self.events,
            "python": self.python,
        }
        if self.unsaved:
            info["unsaved"] = self.unsaved
        if target.kind == "script":
            info["script"] = {"argv": list(target.argv), "exit_code": self.exit_code}
        if source:
            info["source"] = target.source()
        return info

    def export_chunks(self, perfetto: bool = False, pause: Any = None) -> Iterator[bytes]:
        """The native trace (or, ``perfetto``, the Chrome Trace Event file) in pieces,
        valid at any moment of the run: the batches received so far."""
        batches = list(self.batches)
        if self.imported is not None:
            run, tasks = self.imported["run"], self.imported["tasks"]
        else:
            run, tasks = self.describe(source=True), None
        if perfetto:
            return chrome_trace_chunks(run, batches, tasks=tasks, pause=pause)
        version = self.imported["version"] if self.imported is not None else VERSION
        return native_trace_chunks(run, batches, tasks=tasks, version=version, pause=pause)

    def export(self) -> dict[str, Any]:
        """The native trace (``coroscope.trace``) as one object (small runs, tests)."""
        return orjson.loads(b"".join(self.export_chunks()))


class RunRegistry:
    """Every run the server knows, bounded in number; the only way runs are made."""

    def __init__(self, limits: Limits | None = None, store: Any = None) -> None:
        self.limits = limits or Limits()
        self.store = store  # a history.RunStore, or None: memory only
        self._runs: dict[str, Run] = {}
        self._reading: dict[str, Event] = {}  # stored runs being read back (get), by id

    def start(self, demo: Demo, params: dict[str, Any]) -> Run:
        return self.launch(Target.for_demo(demo, params))

    def launch(self, target: Target) -> Run:
        active = sum(1 for r in self._runs.values() if not r.ended.is_set())
        if active >= self.limits.max_concurrent:
            raise RunError(
                f"too many runs at once ({active}); at most {self.limits.max_concurrent} "
                "may run together: wait for one to end or cancel one",
                status=429,
            )
        run = Run(target, self.limits)
        if self.store is not None:  # before the child: the relay appends to what begin opens
            run.store = self.store
            run._save(self.store.begin, run.describe(source=True))
        try:
            run.start()
        except OSError as exc:  # no process to be had (fork failed, out of descriptors)
            if run.store is not None:
                run.store.forget(run.id)
                run._save(run.store.delete, run.id)
            raise RunError(f"could not start the run: {exc}", status=503) from exc
        self._runs[run.id] = run
        self._evict()
        return run

    def import_file(self, path: str = "", fd: int | None = None) -> Run:
        """Read a trace file (``path``, or the open descriptor ``fd``) back as a finished
        run. It is read and checked in a child process (runner/importer.py): this waits
        for it cooperatively, so the server goes on serving. A refused file leaves
        nothing behind: RunError says why."""
        run = self.launch(Target.for_import(path, fd))
        run.ended.wait()
        if run.refused is not None:
            self._runs.pop(run.id, None)
            if self.store is not None:
                try:
                    self.store.delete(run.id)
                except (KeyError, OSError):
                    pass
            raise RunError(run.refused)
        return run

    def add_imported(self, trace: dict[str, Any]) -> Run:
        """Hold a checked native trace as a finished run (see export.check_trace)."""
        run = Run.from_trace(trace, self.limits)
        self._runs[run.id] = run
        if self.store is not None:
            self.store.save_whole(run.describe(source=True), run.batches)
        self._evict()
        return run

    def get(self, run_id: str) -> Run | None:
        """A held run, or a stored one read back. Reading a big run takes seconds (in
        slices that let other requests in: see history.py), so it is read once and then held
        like a finished run (bounded by ``keep_finished``) while its events file stays as
        read; a run another process is writing is read again each time. Requests for a
        run being read wait for that one read."""
        run = self._runs.get(run_id)
        if run is not None and (run.stored_meta is None or self.store is None
                                or self.store.known_events(run_id) is not None):
            return run
        if self.store is None:
            return None
        reading = self._reading.get(run_id)
        if reading is not None:
            reading.wait()
            return self.get(run_id)  # held now, or read again (not kept, or it failed)
        self._reading[run_id] = reading = Event()
        try:
            self._runs.pop(run_id, None)  # changed on disk since it was read (by hand)
            try:
                meta = self._as_listed(self.store.meta(run_id))
            except KeyError:
                return None
            # Checked batches: up to the first bad one, the run then marked incomplete.
            run = Run.from_stored(*self.store.checked(meta), self.limits)
            if (run.status not in LIVE_STATUSES and run_id not in self._runs
                    and self.store.known_events(run_id) is not None):  # not since deleted
                self._runs[run_id] = run
                self._evict()
            return run
        finally:
            del self._reading[run_id]
            reading.set()

    def describe(self, run_id: str) -> dict[str, Any] | None:
        """What GET /api/runs/<id> answers: a held run's description; a stored one's
        from its meta.json and what checking its events found (as listed), its events
        read (:meth:`get`) only if they never were, or another process is writing it."""
        run = self._runs.get(run_id)
        if run is not None and run.stored_meta is None:
            return run.describe()
        if self.store is not None:
            try:
                meta = self._as_listed(self.store.listed_meta(run_id))
            except KeyError:
                return None
            if (meta["status"] not in LIVE_STATUSES
                    and self.store.known_events(run_id) is not None):
                return meta
        run = self.get(run_id)
        return None if run is None else run.describe()

    def _as_listed(self, meta: dict[str, Any]) -> dict[str, Any]:
        """A stored run that says it is running, is not held here and that no process is
        writing (see history.py) was cut short: it is listed as such, not 'running' (and a
        server's store saves it so, once). One that another process (`coroscope run`) is
        writing is running (its meta.json says 'starting' until it ends)."""
        if meta["status"] not in LIVE_STATUSES or meta["id"] in self._runs:
            return meta
        return self.store.settle(meta)

    def all(self) -> list[dict[str, Any]]:
        """Descriptions of every run: the ones still running first, then all the others,
        held or stored, newest first (each run once, as held if it is)."""
        held = {r.id: r.describe() for r in self._runs.values()}
        stored = ([self._as_listed(m) for m in self.store.list()]
                  if self.store is not None else [])
        runs = list(held.values()) + [m for m in stored if m["id"] not in held]
        runs.sort(key=lambda m: m.get("started_at") if isinstance(m.get("started_at"), str)
                  else "", reverse=True)
        runs.sort(key=lambda m: not (isinstance(m.get("status"), str)
                                     and m["status"] in LIVE_STATUSES))  # stable
        return runs

    def rename(self, run_id: str, title: str) -> dict[str, Any] | None:
        reading = self._reading.get(run_id)
        if reading is not None:  # read back now (get): renamed once it is held
            reading.wait()
        run = self._runs.get(run_id)
        if run is not None:
            run.title = title
            if run.imported is not None:
                run.imported["run"]["title"] = title
            if run.stored_meta is not None:  # read back from the history, and held
                run.stored_meta = dict(run.stored_meta, title=title)
        meta = None
        if self.store is not None:
            try:
                meta = self.store.rename(run_id, title)
            except KeyError:
                pass
        if run is not None:
            return run.describe()
        if meta is None:
            return None
        # A stored run: described as listed, without reading its events.
        return {k: v for k, v in self._as_listed(meta).items() if k != "source"}

    def delete(self, run_id: str) -> bool:
        run = self._runs.get(run_id)
        if run is not None:
            run.cancel()
            run.ended.wait(5)
            self._runs.pop(run_id, None)
        if self.store is not None:
            try:
                self.store.delete(run_id)
                return True
            except KeyError:
                pass
        return run is not None

    def _evict(self) -> None:
        ended = [r for r in self._runs.values() if r.ended.is_set()]
        for run in ended[: max(0, len(ended) - self.limits.keep_finished)]:
            del self._runs[run.id]

    def shutdown(self) -> None:
        """Kill every live run's process group and wait (briefly) until they are reaped."""
        live = [run for run in self._runs.values() if not run.ended.is_set()]
        for run in live:
            run.cancel()
        for run in live:
            run.ended.wait(5)

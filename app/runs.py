"""Runs as the server holds them: a log of one run's events that viewers follow.

A :class:`Run` is the log of one run: its description, and its event batches as the
exact bytes the child wrote (about 20 bytes an event), so relaying to a websocket never
re-encodes. It is built from one of three sources: a child process (a demo, a script,
or a trace file being imported: ``runner/supervisor.py`` starts and relays it), a run
read back from the history (:meth:`Run.from_stored`), or a checked trace held in memory
(:meth:`Run.from_trace`). Every viewer walks the same list of batches from its own
index (:meth:`Run.follow`): a late viewer gets the history and then the live tail, a
slow viewer just lags behind, and nothing is copied per viewer. The export reads the
same list (:meth:`Run.export_chunks`).

:class:`RunRegistry` is the only way runs are made: bounded in number, it holds the
live ones and the recent ones, and reads older ones back from the history.

This module uses gevent but knows nothing of Flask or websockets.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
import secrets
import sys
import tempfile
import time
import weakref
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gevent
import orjson
from gevent.event import Event

from .flight import ASKED_HERE, FlightSession, snapshot_of
from .runner.protocol import batch_header, encode_batch
from .runner.supervisor import Child, Target
from .tracer.checker import check_header, iter_rows
from .tracer.events import FINAL_STATUSES, LIVE_STATUSES, VERSION
from .tracer.export import chrome_trace_chunks, native_trace_chunks

if TYPE_CHECKING:  # the demo catalogue is not loaded for a script's run
    from ._demos import Demo


class SpilledBatches:
    """A run's batches in an unlinked temporary file, only where each ends in memory.

    What ``coroscope run`` and ``record`` keep (``RunRegistry(spill=True)``): their memory
    then stays flat however long the trace (3M events held as bytes were 60 MB more).
    The server keeps its runs' batches in memory instead: viewers read them with no
    system call, and a server's runs are bounded in number and events.
    Reads by index (``batches[i]``) and by slice (a lazy view), as a list of bytes is.
    """

    def __init__(self) -> None:
        fd, path = tempfile.mkstemp(prefix="coroscope-batches-")
        os.unlink(path)  # only this process holds it: nothing is left if it is killed
        self._file = open(fd, "r+b", buffering=0)  # noqa: SIM115 (lives as long as the run)
        self._ends = array("q")
        # Closed with the run it belongs to (the run is dropped, or the process ends).
        weakref.finalize(self, self._file.close)

    def append(self, batch: bytes) -> None:
        end = self._ends[-1] if self._ends else 0
        view = memoryview(batch)
        while view:
            written = os.pwrite(self._file.fileno(), view, end)
            view, end = view[written:], end + written
        self._ends.append(end)

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, i: int | slice) -> Any:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                raise ValueError("a view of spilled batches is a run of them (step 1)")
            return _BatchView(self, start, stop)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError("batch index out of range")
        end = self._ends[i]
        start = self._ends[i - 1] if i else 0
        return os.pread(self._file.fileno(), end - start, start)

    def __iter__(self) -> Iterator[bytes]:
        return iter(_BatchView(self, 0, len(self)))


class _BatchView:
    """Batches ``start`` to ``stop`` of a :class:`SpilledBatches`, read as iterated."""

    def __init__(self, batches: SpilledBatches, start: int, stop: int) -> None:
        self._batches, self._range = batches, range(start, stop)

    def __len__(self) -> int:
        return len(self._range)

    def __getitem__(self, i: int) -> bytes:
        return self._batches[self._range[i]]

    def __iter__(self) -> Iterator[bytes]:
        return (self._batches[i] for i in self._range)


#: How often a run another process writes is looked at for new batches (Run.tail).
TAIL_EVERY = 0.1


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

    def tail(self, store: Any) -> None:
        """Follow a stored run that another process (``coroscope run``) is writing: read
        what it appends to its events file every ``TAIL_EVERY`` seconds, as a child's
        batches are relayed, until it lets the file go; then take its final description.
        Its viewers see it live, as a run of this server's own."""
        self.ended.clear()
        gevent.spawn(self._tail, store, sum(len(b) + 1 for b in self.batches))

    def _tail(self, store: Any, offset: int) -> None:
        from .history import batch_problem

        problem = None
        try:
            writing = True
            while writing:
                writing = store.being_written(self.id)  # before reading: nothing is missed
                lines, offset = store.appended(self.id, offset)
                for line in lines:
                    # Checked as a stored batch is (the file is anyone's to damage): the
                    # run stops at the first that is not good, said so, what came kept.
                    n, problem = batch_problem(line, self.events,
                                               f"events.jsonl batch {len(self.batches) + 1}")
                    if problem is not None:
                        writing = False
                        break
                    self._append(line, n)
                if writing and not lines:
                    gevent.sleep(TAIL_EVERY)
            while problem is not None and store.being_written(self.id):
                gevent.sleep(TAIL_EVERY)  # no more batches taken: only how it ends
            meta = store.meta(self.id)
        except (OSError, KeyError) as exc:  # deleted or damaged meanwhile: as far as it got
            problem = problem or (exc.strerror if isinstance(exc, OSError) and exc.strerror
                                  else "the run was deleted while it was followed")
            meta = dict(self.stored_meta or {}, status="cancelled")
        if meta.get("status") in LIVE_STATUSES:  # its writer died without a word
            meta = store.settle(meta)
        if problem is not None:
            note = f"incomplete: {problem}; {self.events} events kept"
            meta = dict(meta, incomplete=True,
                        error=f"{meta['error']}\n{note}" if meta.get("error") else note)
        self.stored_meta = dict(meta, events=self.events)
        self.status, self.error = meta.get("status", "cancelled"), meta.get("error")
        self.duration_ns, self.python = meta.get("duration_ns"), meta.get("python")
        self.ended.set()
        self._notify()

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
        self.batches: list[bytes] | SpilledBatches = []
        self.python: str | None = None
        self.ended = Event()
        self._wake = Event()
        #: The process that feeds it (None: read back from a file, nothing runs).
        self.child: Child | None = None
        self._done_frame: dict[str, Any] | None = None
        #: The header of the trace a run was imported from (version, run, tasks): given
        #: back verbatim by the export, with the events rebuilt from the rows.
        self.imported: dict[str, Any] | None = None
        #: Why an import was refused (the file is not a trace this version reads).
        self.refused: str | None = None
        #: The description a run read back from the history had when it was stored.
        self.stored_meta: dict[str, Any] | None = None
        #: Where batches and the final description are saved (None: memory only).
        self.store: Any = None
        #: what the demo printed run once more without the tracer (Spec.untraced_rerun)
        self.untraced: dict[str, Any] | None = None
        self.title: str | None = None  # a name the user gave it
        self.unsaved: str | None = None  # why the history stopped saving it, if it did
        self._refused: Any = None  # the store that refused it
        #: A flight-recorded run (RunRegistry.launch ``flight``): its batches are the
        #: ring while it goes; when it ends, its last window (see _end_flight).
        self.flight: FlightSession | None = None
        self.flight_end: dict[str, Any] | None = None  # which window it kept, at its end
        self.snapshots: list[dict[str, Any]] = []  # those taken of it: id, reason, events
        self.flight_store: Any = None  # where it is saved whole at its end

    # -- fed by a child process -----------------------------------------------------

    def start(self) -> None:
        """Start the process that records it (``OSError`` if none can be had)."""
        self.child = Child(self.target, self.limits, self._append, self._on_frame,
                           self._finish)
        self.child.start()

    @property
    def pid(self) -> int | None:
        return None if self.child is None else self.child.pid

    @property
    def exit_code(self) -> int | None:
        return None if self.child is None else self.child.exit_code

    def cancel(self) -> None:
        """Kill the child and its whole process group; the trace so far is kept."""
        if self.child is not None:
            self.child.kill("cancelled", "cancelled by the user")

    def _append(self, batch: bytes, n: int) -> None:
        self.events += n
        self.batches.append(batch)
        if self.store is not None:
            self._save(self.store.append, self.id, batch)
        self._notify()

    def _on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "hello":
            self.python = frame.get("python")
            if self.status == "starting":
                self.status = "running"
                self._notify()
        elif kind == "done":
            self._done_frame = frame
        elif kind == "untraced" and isinstance(frame.get("printed"), list):
            self.untraced = {"printed": [str(line) for line in frame["printed"]][:100],
                             "seconds": frame.get("seconds")}
            figure, figure_zh = self.target.tutorial_figure
            if figure:
                self.untraced.update(tutorial=figure, tutorial_zh=figure_zh)
        elif kind == "trace" and self.target.kind == "import":
            self._on_trace(frame)
        elif kind == "tasks" and self.imported is not None:
            self.imported["tasks"].extend(frame["tasks"])

    def _on_trace(self, frame: dict[str, Any]) -> None:
        """The header of a trace being imported (checked): the run is described by it."""
        self.imported = {"version": frame["version"], "run": frame["run"],
                         "tasks": frame["tasks"]}
        self.python = frame["run"].get("python")

    def _finish(self) -> None:
        """The run is over (its child reaped, or it was read whole): say how, once."""
        elapsed = int((time.monotonic() - self._t_start) * 1e9)
        done, child = self._done_frame, self.child
        if self.target.kind == "import":
            self._finish_import(done)
        elif done is not None:
            self.status = done.get("status", "finished")
            self.error = done.get("error")
            self.duration_ns = done.get("t", elapsed)
        elif child is not None and child.stopped is not None:
            self.status, self.error = child.stopped
        else:
            self.status = "crashed"
            self.error = f"the run's process {child.how_it_died() if child else 'never ran'}"
        if self.duration_ns is None:
            self.duration_ns = elapsed
        try:
            if self.flight is not None:
                self._end_flight()
            self._save_end()
        finally:
            self.ended.set()
            self._notify()

    def _end_flight(self) -> None:
        """A flight-recorded run ended: what it keeps is its last window, made a trace of
        its own as a snapshot is (time from the window's start; ``flight`` says where that
        was in the run, ``run_ns`` how long the run was), saved in the history whole."""
        session = self.flight
        assert session is not None
        session.close()
        recorder = session.recorder
        batches, start, events, last = recorder.snapshot()
        self.flight_end = {"reason": f"the run {self.status}", "from_ns": start,
                           "to_ns": start + last, "run_ns": self.duration_ns,
                           "events_seen": recorder.events, "left_out": recorder.left_out}
        self.batches, self.events, self.duration_ns = batches, events, last
        if self.flight_store is not None:
            try:
                self.flight_store.save_whole(self.describe(source=True), batches)
            except OSError as exc:
                self.unsaved = f"not saved in the history: {exc}"

    def take_snapshot(self, reason: str) -> tuple[dict[str, Any], list[bytes]]:
        """The window now as a snapshot (flight.snapshot_of), listed in the run's own."""
        assert self.flight is not None
        meta, batches = snapshot_of(self, self.flight.recorder, reason)
        self.snapshots.append({"id": meta["id"], "reason": reason, "events": meta["events"],
                               "from_ns": meta["flight"]["from_ns"]})
        return meta, batches

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
        child = self.child
        if done is not None:
            self.refused = done.get("error") or "the trace could not be read"
        elif child is not None and child.stopped is not None:
            self.refused = f"reading it was stopped: {child.stopped[1]}"
        else:
            self.refused = ("the process that reads it "
                            f"{child.how_it_died() if child else 'never ran'}")
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
        """Every event batch in order: the history first, then live until the end. A
        flight-recorded run's are its last window, once it has ended (its ring is no list
        a viewer could walk, and the page keeps what it is sent)."""
        if self.flight is not None:
            self.ended.wait()
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
            if not self.ended.is_set():  # another process is writing it (tail)
                info.update(status="running", events=self.events)
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
        if self.untraced is not None:
            info["untraced"] = self.untraced
        if self.flight is not None:
            recorder = self.flight.recorder
            info["flight"] = dict({"window_ns": self.flight.window_ns,
                                   "block_ns": self.flight.block_ns,
                                   "events_seen": recorder.events,
                                   "snapshots": list(self.snapshots)},
                                  **(self.flight_end or {}))
        edit = target.describe_edit()
        if edit is not None:
            info["edited"] = edit
        if target.kind == "script":
            info["script"] = {"argv": list(target.argv), "exit_code": self.exit_code,
                              "path": target.origin or target.file,
                              "generators": target.generators}
            if not target.passthrough:  # run again from the dashboard, not the shell
                info["script"]["rerun"] = True
        if source:
            info["source"] = target.source()
        return info

    def export_chunks(self, perfetto: bool = False, pause: Any = None) -> Iterator[bytes]:
        """The native trace (or, ``perfetto``, the Chrome Trace Event file) in pieces,
        valid at any moment of the run: the batches received so far."""
        batches = self.batches[:len(self.batches)]  # those received so far
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

    def __init__(self, limits: Limits | None = None, store: Any = None,
                 spill: bool = False) -> None:
        self.limits = limits or Limits()
        self.store = store  # a history.RunStore, or None: memory only
        #: Keep the batches of the runs it starts in a temporary file (SpilledBatches).
        self.spill = spill
        self._runs: dict[str, Run] = {}
        self._reading: dict[str, Event] = {}  # stored runs being read back (get), by id

    def start(self, demo: Demo, params: dict[str, Any], source: str | None = None,
              untraced: bool = False, flight: tuple[int, int] | None = None) -> Run:
        """A run of ``demo``; ``source``: the user's edit of its file, run instead;
        ``untraced``: its main() once more untraced after (Demo.untraced_on_request);
        ``flight``: (window, block) in ns, a flight-recorded run (see launch)."""
        target = Target.for_demo(demo, params, source, untraced)
        try:
            return self.launch(target, flight=flight)
        except BaseException:
            if target.edited is not None:  # no child will run it: its folder goes now
                target.edited.remove()
            raise

    def start_script(self, run_id: str, source: str) -> Run:
        """Run the script of run ``run_id`` again, ``source`` as its text (an edit of it),
        in a bounded child as a demo is (Target.for_edited_script says where)."""
        info = self.description_with_source(run_id)
        if info is None:
            raise RunError(f"no run {run_id!r}", status=404)
        if info.get("demo") or not isinstance(info.get("script"), dict):
            raise RunError(f"run {run_id!r} is not a run of a script: only a script's "
                           "run can be run again with its source")
        try:
            target = Target.for_edited_script(info, source)
        except ValueError as exc:
            raise RunError(f"run {run_id!r} cannot be run again: {exc}") from None
        try:
            return self.launch(target)
        except BaseException:
            assert target.edited is not None
            target.edited.remove()
            raise

    def description_with_source(self, run_id: str) -> dict[str, Any] | None:
        """A run's description with its source text (held, or stored), or None."""
        run = self._runs.get(run_id)
        if run is not None:
            return run.describe(source=True)
        if self.store is not None:
            try:
                return self.store.meta(run_id)
            except KeyError:
                return None
        return None

    def launch(self, target: Target, limits: Limits | None = None,
               flight: tuple[int, int] | None = None) -> Run:
        """Start a run of ``target`` (within ``limits``, by default the registry's).
        ``flight``: (window, block) in ns: keep only the last window of its events (a
        FlightRecorder), with no bound on their number (the time limit holds), snapshot
        it after a block longer than ``block`` (0: never) and when asked (:meth:`snapshot`);
        saved in the history when it ends, as its last window."""
        active = sum(1 for r in self._runs.values() if not r.ended.is_set())
        if active >= self.limits.max_concurrent:
            raise RunError(
                f"too many runs at once ({active}); at most {self.limits.max_concurrent} "
                "may run together: wait for one to end or cancel one",
                status=429,
            )
        limits = limits or self.limits
        if flight is not None:
            limits = dataclasses.replace(limits, max_events=0)
        run = Run(target, limits)
        if flight is not None:
            run.flight = FlightSession(*flight, take=lambda reason: self._auto_snapshot(
                run, reason))
            run.batches = run.flight.recorder
            run.flight_store = self.store
        elif self.spill:
            run.batches = SpilledBatches()
        # Before the child: the relay appends to what begin opens. A flight-recorded run
        # is saved whole when it ends (its window; the ring is not a file to append to).
        if self.store is not None and flight is None:
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

    def snapshot(self, run_id: str, reason: str = ASKED_HERE) -> dict[str, Any]:
        """A snapshot of flight-recorded run ``run_id``'s window now: held and saved in
        the history as a run of its own (status ``snapshot``); its description.
        RunError: no such run (404), or one with no window to take (409)."""
        run = self._runs.get(run_id)
        if run is None or run.flight is None:
            if run is None and self.describe(run_id) is None:
                raise RunError(f"no run {run_id!r}", status=404)
            raise RunError(f"run {run_id!r} is not flight-recorded: only a run started with "
                           "a flight recorder keeps a window to take a snapshot of",
                           status=409)
        if run.ended.is_set():
            raise RunError(f"run {run_id!r} has ended: what it kept, its last window, is "
                           "the run itself now (open it)", status=409)
        return self._keep_snapshot(run, reason)

    def _auto_snapshot(self, run: Run, reason: str) -> None:
        if not run.ended.is_set():
            self._keep_snapshot(run, reason)

    def _keep_snapshot(self, run: Run, reason: str) -> dict[str, Any]:
        meta, batches = run.take_snapshot(reason)
        snap = Run.from_stored(meta, batches, self.limits)
        if self.store is not None:
            try:
                self.store.save_whole(meta, batches)
            except OSError as exc:
                meta = dict(meta, unsaved=f"not saved in the history: {exc}")
                snap.stored_meta = meta
        self._runs[snap.id] = snap
        self._evict()
        return snap.describe()

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
                                or not run.ended.is_set()  # followed as it is written
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
            if run.status in LIVE_STATUSES:  # another process writes it: follow it
                run.tail(self.store)
                self._runs[run_id] = run
            elif (run_id not in self._runs
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

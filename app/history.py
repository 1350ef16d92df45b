"""Run history on disk: every run survives restarts, crashes included.

Layout, one folder per run under ``<data dir>/runs/<run id>/``:

``meta.json``     the run's description (as ``Run.describe(source=True)``), replaced
                  atomically (write a temporary file, then ``os.replace``) when the run
                  starts, ends, or is renamed: never half-written.
``events.jsonl``  the event batches exactly as the child wrote them, one per line,
                  appended as they arrive. A crash can leave a partial last line: it is
                  ignored, and everything before it is kept.

and ``<data dir>/server.lock``, see "Who writes" below. The data dir, ``runs/`` and every
run's folder are created ``0700``, the files ``0600``: a trace holds what a program
printed and its source.

Why plain files and not SQLite: the relay already holds each batch as the bytes the
child wrote, so storing it is one ``write`` with no re-encoding, and reading a run back
is reading those lines; the files can be inspected, copied and deleted by hand. What
SQLite would add (transactions) is covered by append-only batches plus atomic renames.

Who writes. One server per data dir: the server's store (``RunStore(dir, server=True)``)
holds an ``flock`` on ``server.lock`` (its pid inside) for the server's whole life, and a
second server on the same folder is refused (:class:`DataDirError`, naming the first
one's pid). ``coroscope run``/``record`` open a store too, and may write their run while a
server runs. Every run being written holds an ``flock`` on its own ``events.jsonl``, taken
before its ``meta.json`` exists and let go only after its final description is saved. So a
run whose ``meta.json`` says ``starting``/``running`` is being written if that lock is
held (by any process: it is listed as running), and was cut short if it is free (the
process writing it was killed): it is listed as ``crashed`` and ``incomplete``, with the
events recorded up to then. The server's store rewrites such runs so on disk when it
opens, and when it finds one later (a ``coroscope run`` killed beside it), once: listings
then read its ``meta.json`` only. No other store ever rewrites a run it is not writing. A
rename made by another process while a run is written is kept when the run ends.

Every stored file is untrusted input: edited by hand, copied from another machine or
version, damaged by a full disk. Nothing read from it may stop the server, hang it or
fail a request:

* A file is read only if it is a regular file (opened with ``O_NONBLOCK | O_NOFOLLOW``,
  then ``fstat``: a FIFO, a device, a folder or a symbolic link is refused before any
  read, since ``read`` on a FIFO or ``/dev/zero`` never ends) and not bigger than its cap:
  :data:`META_MAX_BYTES`, :data:`EVENTS_MAX_BYTES`.
* A ``meta.json`` that cannot be read, or is not a description with a known ``status``,
  makes the run listed under its folder's name as unreadable (``crashed``, ``incomplete``,
  ``error`` says why), and it can still be renamed and deleted. Its ``id`` is always its
  folder's name; a field of the wrong type is left out (``params``: ``{}``). What is wrong
  with a run's files is said on stderr, one line a file, once. An entry of ``runs/`` named
  like a run but that is not a folder is skipped, with one warning line.
* ``events.jsonl`` is read up to the first line that is not a well-formed batch: its
  header (``{"type":"events","seq":S,"n":N,``), rows that are a JSON list of N rows of the
  shapes events.py documents, and ``seq`` following on without a gap. The run keeps the
  batches before it and is marked ``incomplete`` with the reason. Checking costs about
  what parsing costs (about 3 s for a 5M-event run here); the result is remembered per
  file until the file changes, so a run is checked once per server. Reading and checking
  let other requests in every ~10 ms (:class:`_Turns`): opening a big run never holds
  the server.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import reprlib
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import orjson

from .files import Refused, TooBig, kind_of, open_regular, read_capped, refuse_bigger, write_atomic
from .tracer.events import LIVE_STATUSES, RUN_STATUSES, TEXT_KINDS, batch_header

_RUN_ID = re.compile(r"^r[0-9a-f]{12}$")

#: A meta.json is a description (a few hundred bytes) plus the source text of the run's
#: file: a few KB, a big script a few hundred KB. 16 MiB leaves room for any real source
#: and bounds what listing the history (every run's meta.json) may read.
META_MAX_BYTES = 16 << 20
#: A run at the default limit (5M events) stores about 100-125 MB (20-25 bytes an event);
#: an import (256 MiB of JSON at most) less. A stored run is held whole in memory while it
#: is served, so this is what one request may make the server read: 4x the largest run a
#: default server records, and a 1 GB file (sparse, or not a run) is refused unread.
EVENTS_MAX_BYTES = 512 << 20
#: server.lock holds a pid and the URL the server answers on.
_LOCK_MAX_BYTES = 512
#: A server starting tries to lock it this many times, this far apart, before it says
#: another server holds it (it may be someone looking: see _lock_data_dir).
_LOCK_TRIES, _LOCK_WAIT = 10, 0.01

_WRITE = os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


class DataDirError(Exception):
    """The history folder cannot be used: another server holds it, or it is not a folder
    this process can write. The message is one line, for the user."""


def default_data_dir() -> Path:
    env = os.environ.get("COROSCOPE_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "coroscope"


#: How long reading a stored run back may hold the server's loop at a time.
_TURN_SECONDS = 0.01
#: What is read at once (from the page cache, about 1 ms).
_READ_CHUNK = 4 << 20


class _Turns:
    """Called between two slices of work: every ~10 ms, lets the server answer others.
    Not ``gevent.sleep(0)``: that only runs greenlets already ready, the loop does not poll
    sockets in between, so a request arriving meanwhile waited for the whole read (2.7 s
    opening a 4M-event run). A timer makes the loop go round and poll (as web/api.py's
    ``_pause``). In a process without a server it costs 1 ms in 10."""

    def __init__(self) -> None:
        self._since = time.perf_counter()

    def __call__(self) -> None:
        if time.perf_counter() - self._since >= _TURN_SECONDS:
            gevent.sleep(0.001)
            self._since = time.perf_counter()


def _read_lines(fd: int, name: str, cap: int, turn: _Turns) -> list[bytes]:
    """The non-empty lines of a file, read a slice at a time; a torn last line (no newline
    after it: a crash) is left out. Never one copy of the whole file: a line is joined
    from its pieces once its end is read."""
    refuse_bigger(fd, name, cap)
    lines: list[bytes] = []
    pending: list[bytes] = []  # the start of a line that goes on in the next slice
    total = 0
    while True:
        data = os.read(fd, min(cap + 1 - total, _READ_CHUNK))
        if not data:
            return lines
        total += len(data)
        if total > cap:
            raise TooBig(name, total, cap, grew=True)
        parts = data.split(b"\n")
        tail = parts.pop()
        if parts and pending:
            parts[0] = b"".join([*pending, parts[0]])
            pending = []
        if tail:
            pending.append(tail)
        lines.extend(line for line in parts if line)
        turn()


def _reason(exc: OSError, name: str) -> str:
    if isinstance(exc, Refused):
        return exc.strerror or str(exc)
    return f"{name} cannot be read ({exc.strerror or exc})"


def _write_atomic(path: Path, data: bytes) -> None:
    """Private to this user, on disk before it replaces the old one (a crash keeps one)."""
    write_atomic(path, data, mode=0o600, fsync=True)


def _make_private_dir(path: Path) -> None:
    """Create ``path`` 0700 (missing parents as ``mkdir -p`` makes them); a ``runs``
    folder an older coroscope made readable by all is made private (not the data dir:
    it may be a folder of the user's own)."""
    try:
        try:
            path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except FileExistsError:
            pass  # not a folder: said below
        st = os.stat(path)  # the data dir may be a link to another disk
    except OSError as exc:
        raise DataDirError(f"cannot use {path} for the history: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise DataDirError(f"cannot use {path} for the history: it is "
                           f"{kind_of(st.st_mode)}, not a folder")
    if path.name == "runs" and st.st_mode & 0o077 and st.st_uid == os.geteuid():
        with contextlib.suppress(OSError):
            os.chmod(path, 0o700)


def _lock_data_dir(root: Path) -> int:
    """Hold ``server.lock`` (with this pid inside) for the life of this process."""
    path = root / "server.lock"
    try:
        fd = open_regular(path, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | os.O_NOFOLLOW
                           | os.O_CLOEXEC)
    except OSError as exc:
        raise DataDirError(f"cannot lock the history in {root}: "
                           f"{_reason(exc, 'server.lock')}") from None
    for tries_left in range(_LOCK_TRIES - 1, -1, -1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError as exc:
            busy = exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN)
            if busy and tries_left:
                # Perhaps no server holds it: `coroscope run --open` looks with a shared
                # lock, for a moment (server_holding). A server holds it for good.
                time.sleep(_LOCK_WAIT)
                continue
            text = os.pread(fd, _LOCK_MAX_BYTES, 0).strip() if busy else None
            os.close(fd)
            if text is None:
                raise DataDirError(f"cannot lock the history in {root}: "
                                   f"{exc.strerror or exc}") from None
            pid = _holder(text)[0]
            raise DataDirError(
                f"another coroscope server (pid {pid}) is using the history in {root}; "
                "stop it, or start this one with a history of its own: --data-dir DIR"
            ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, b"%d\n" % os.getpid(), 0)
    return fd


def _holder(text: bytes) -> tuple[str, str | None]:
    """``(pid, url)`` from the text of ``server.lock``: ``PID [URL]``."""
    parts = text.decode("ascii", "replace").split()
    pid = parts[0] if parts and parts[0].isdigit() else "unknown"
    url = parts[1] if len(parts) > 1 and parts[1].startswith("http://") else None
    return pid, url


def server_holding(root: str | os.PathLike[str]) -> tuple[str, str | None] | None:
    """``(pid, url)`` of the server that holds the history in ``root``, or None if none
    does (``coroscope run --open`` shows its run there instead of starting another)."""
    try:
        fd = open_regular(Path(root) / "server.lock",
                           os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return _holder(os.pread(fd, _LOCK_MAX_BYTES, 0))
        return None
    finally:
        os.close(fd)


# -- checking what is read back ----------------------------------------------------------

def _short(value: Any) -> str:
    return reprlib.repr(value)  # bounded, however big the value


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", int: "an integer",
            float: "a number", bool: "a boolean", type(None): "null"}.get(type(value), "?")


def _is_str_or_none(value: Any) -> bool:
    return value is None or type(value) is str


#: Fields of a description, and the value a wrong one is replaced with (None: left out).
_FIELDS: dict[str, tuple[Any, Any]] = {
    "title": (_is_str_or_none, None),
    "demo": (_is_str_or_none, None),
    "error": (_is_str_or_none, None),
    "python": (_is_str_or_none, None),
    "started_at": (_is_str_or_none, None),
    "unsaved": (lambda v: type(v) is str, None),
    "imported_from": (lambda v: type(v) is str, None),
    "params": (lambda v: type(v) is dict, {}),
    "events": (lambda v: type(v) is int and v >= 0, 0),
    "duration_ns": (lambda v: v is None or (type(v) is int and v >= 0), None),
    "incomplete": (lambda v: type(v) is bool, None),
    "source": (lambda v: type(v) is dict and type(v.get("file")) is str
               and type(v.get("text")) is str, {"file": "", "text": ""}),
    "script": (lambda v: type(v) is dict and type(v.get("argv")) is list
               and all(type(a) is str for a in v["argv"])
               and (v.get("exit_code") is None or type(v.get("exit_code")) is int), None),
}


def _description(run_id: str, raw: Any, unreadable: str | None) -> tuple[dict[str, Any],
                                                                         list[str]]:
    """What can be trusted of a stored ``meta.json`` (``raw``, parsed), and its problems."""
    problems: list[str] = []
    if unreadable is None and type(raw) is not dict:
        unreadable = f"meta.json holds {_json_type(raw)}, not a run's description"
    meta: dict[str, Any] = dict(raw) if unreadable is None else {}
    if unreadable is None:
        if "id" not in meta:
            problems.append("meta.json has no id (its folder's name is used)")
        elif meta["id"] != run_id:
            problems.append(f"meta.json says id {_short(meta['id'])}, not its folder's name")
        for key, (ok, default) in _FIELDS.items():
            if key in meta and not ok(meta[key]):
                problems.append(f"meta.json: {key} {_short(meta[key])} is not valid "
                                f"({'left out' if default is None else 'ignored'})")
                if default is None:
                    del meta[key]
                else:
                    meta[key] = default
        status = meta.get("status")
        if type(status) is not str or status not in RUN_STATUSES:
            unreadable = ("meta.json has no status" if "status" not in meta else
                          f"meta.json: status {_short(status)} is not one of "
                          f"{', '.join(RUN_STATUSES)}")
    meta["id"] = run_id
    for key in ("demo", "error", "started_at", "duration_ns"):
        meta.setdefault(key, None)
    meta.setdefault("params", {})
    meta.setdefault("events", 0)
    if unreadable is not None:
        problems.append(unreadable)
        error = meta.get("error")
        meta.update(status="crashed", incomplete=True,
                    error=f"unreadable: {unreadable}" + (f"\n{error}" if error else ""))
    return meta, problems


_S, _I, _L, _D = str, int, list, dict


def _odd_row_ok(r: Any) -> bool:
    """The check of a row the fast path of :func:`_rows_ok` did not pass."""
    if type(r) is not _L or len(r) < 5 or type(r[0]) is not _I or type(r[2]) is not _I:
        return False
    kind, x = r[1], r[4]
    if type(kind) is not _I:
        return False
    if kind == 2:  # spawn: parent, task record
        return ((r[3] is None or type(r[3]) is _I) and type(x) is _D
                and type(x.get("name")) is _S and type(x.get("kind")) is _S
                and all(type(x[k]) is _S for k in ("args", "thread") if k in x))
    if kind == 5:  # block
        return type(x) is _D and type(x.get("call")) is _S and type(x.get("since")) is _I
    if kind == 7:  # taskinfo
        return type(x) is _D and type(x.get("thread")) is _S
    return False


def _rows_ok(rows: Any) -> bool:
    """Every row has the shape events.py gives its kind (what the exports and the page
    read from it), most rows decided inline: ~0.2 us a row."""
    if type(rows) is not _L:
        return False
    for r in rows:
        if type(r) is _L and len(r) >= 5 and type(r[0]) is _I and type(r[2]) is _I:
            k = r[1]
            if type(k) is _I:
                if k == 0 or k == 1:  # switch, throw: to, line, cause
                    if (type(r[3]) is _I and (r[4] is None or type(r[4]) is _I)
                            and (len(r) == 5 or r[5] is None or type(r[5]) is _S)):
                        continue
                elif k in TEXT_KINDS:  # stdout, mark, warning: text
                    if type(r[4]) is _S:
                        continue
                elif k == 3 or k == 6:  # finish, unblock
                    continue
        if not _odd_row_ok(r):
            return False
    return True


def _check_batches(lines: list[bytes], turn: _Turns) -> tuple[int, int, str | None]:
    """How many of ``lines`` are good batches in a row, their events, and why the next
    one is not (None: all are). ``turn`` is called after each batch."""
    events = 0
    for i, line in enumerate(lines):
        n, why = batch_problem(line, events, f"events.jsonl line {i + 1}")
        if why is not None:
            return i, events, why
        events += n
        turn()  # a big run: let the server answer others meanwhile
    return len(lines), events, None


def batch_problem(line: bytes, expected: int, where: str) -> tuple[int, str | None]:
    """``(events, None)`` if ``line`` is a good batch starting at event ``expected`` (its
    header, its JSON, its rows: each the shape its kind has), else ``(0, why)``. Every
    stored or followed batch is read through this (history, Run.tail)."""
    header = batch_header(line)
    if header is None:
        return 0, f"{where} is not an event batch"
    seq, n = header
    if seq != expected:
        return 0, f"{where} starts at event {seq}, expected {expected}"
    try:
        batch = orjson.loads(line)
    except orjson.JSONDecodeError:
        return 0, f"{where} is not JSON"
    rows = batch.get("rows")
    if (type(rows) is not _L or len(rows) != n or batch.get("seq") != seq
            or batch.get("n") != n):
        return 0, f"{where} does not hold the {n} rows its header says"
    if not _rows_ok(rows):
        return 0, f"{where} holds a row that is not an event"
    return n, None


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """A version of a file: any change to it, even in place, changes its ctime."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _with_events(meta: dict[str, Any], events: int, why: str | None) -> dict[str, Any]:
    """``meta`` with the events found on disk; ``incomplete`` with the reason if its
    batches go bad, or hold fewer events than the run had."""
    expected = meta.get("events")
    if (why is None and meta["status"] not in LIVE_STATUSES and type(expected) is int
            and events < expected):
        why = f"events.jsonl holds {events} of the run's {expected} events"
    meta = dict(meta, events=events)
    if why is not None:
        note = f"incomplete: {why}; {events} events kept"
        error = meta.get("error")
        meta.update(incomplete=True, error=f"{error}\n{note}" if error else note)
    return meta


@dataclass(frozen=True)
class StoredEvents:
    """The good batches of a stored run, their events, and why the rest is left out."""

    batches: list[bytes]
    events: int
    problem: str | None = None


class RunStore:
    def __init__(self, root: str | os.PathLike[str], server: bool = False) -> None:
        """``server``: this is a server's store: hold the data dir's lock (raise
        :class:`DataDirError` if another server does) and mark runs cut short on disk."""
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        _make_private_dir(self.root)
        _make_private_dir(self.runs_dir)
        self._open: dict[str, Any] = {}  # run id -> events file being appended to (locked)
        self._titles: dict[str, Any] = {}  # run id -> the title it was begun with
        self._begun: set[str] = set()  # every run this store began
        # run id -> (identity of its events file, good batches, events, problem)
        self._checked: dict[str, tuple[tuple[int, ...], int, int, str | None]] = {}
        self._warned: set[str] = set()
        self._server_stopped: set[str] = set()  # cut short before this server, not saved so
        self._lock_fd: int | None = None
        if server:
            self._lock_fd = _lock_data_dir(self.root)
            self._mark_interrupted()

    def announce(self, url: str) -> None:
        """Write where this server answers into its lock (see :func:`server_holding`)."""
        if self._lock_fd is not None:
            text = f"{os.getpid()} {url}\n".encode("ascii", "replace")[:_LOCK_MAX_BYTES]
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, text, 0)

    def _dir(self, run_id: str) -> Path:
        # Ids come from requests: only our own shape may reach the filesystem.
        if not _RUN_ID.match(run_id):
            raise KeyError(run_id)
        return self.runs_dir / run_id

    def _warn(self, run_id: str, why: str) -> None:
        self._say(f"run {run_id}: {why}")

    def _say(self, what: str) -> None:
        """One line on stderr, once (a listing may meet the same problem every time)."""
        if what not in self._warned:
            self._warned.add(what)
            line = what.replace("\n", " ")
            print(f"coroscope: history: {line}", file=sys.stderr, flush=True)

    # -- writing ----------------------------------------------------------------

    def begin(self, meta: dict[str, Any]) -> None:
        folder = self._dir(meta["id"])
        folder.mkdir(mode=0o700, exist_ok=True)
        # Locked before meta.json exists: a run that says it is running is being written
        # exactly while this lock is held (see the module docstring).
        fd = open_regular(folder / "events.jsonl",
                           _WRITE | os.O_APPEND | os.O_CREAT)
        try:
            # Waits (not LOCK_NB): a listing that meets the new file takes a shared lock on
            # it for a moment (being_written); no writer holds it, the run is new.
            fcntl.flock(fd, fcntl.LOCK_EX)
            f = open(fd, "ab")  # noqa: SIM115
        except BaseException:
            os.close(fd)
            raise
        self._open[meta["id"]] = f
        self._titles[meta["id"]] = meta.get("title")
        self._begun.add(meta["id"])
        _write_atomic(folder / "meta.json", orjson.dumps(meta))

    def append(self, run_id: str, batch: bytes) -> None:
        f = self._open.get(run_id)
        if f is not None:
            f.write(batch + b"\n")
            f.flush()  # a killed server keeps everything written so far

    def forget(self, run_id: str) -> None:
        """Stop saving a run (its disk failed): close its events file, keep what is there."""
        self._titles.pop(run_id, None)
        f = self._open.pop(run_id, None)
        if f is not None:
            try:
                f.close()
            except OSError:  # the buffered tail could not be written either
                pass

    def end(self, meta: dict[str, Any]) -> None:
        """The final description; the run's lock is let go only once it is saved."""
        run_id = meta["id"]
        f = self._open.get(run_id)
        if f is not None:
            f.flush()
        began = self._titles.get(run_id)
        if run_id in self._titles and meta.get("title") == began:
            # Renamed by another process (the server) while this one wrote it: keep that.
            title = self._raw_meta(run_id)[0]
            title = title.get("title") if type(title) is dict else None
            if type(title) is str and title != began:
                meta = dict(meta, title=title)
        _write_atomic(self._dir(run_id) / "meta.json", orjson.dumps(meta))
        self.forget(run_id)

    def save_whole(self, meta: dict[str, Any], batches: list[bytes]) -> None:
        """Store a finished run in one go (an import, or a CLI recording)."""
        folder = self._dir(meta["id"])
        folder.mkdir(mode=0o700, exist_ok=True)
        _write_atomic(folder / "events.jsonl", b"".join(b + b"\n" for b in batches))
        _write_atomic(folder / "meta.json", orjson.dumps(meta))

    def rename(self, run_id: str, title: str) -> dict[str, Any]:
        """Rename a stored run (an unreadable one is saved as listed, with its title)."""
        meta = self.meta(run_id)
        meta["title"] = title
        _write_atomic(self._dir(run_id) / "meta.json", orjson.dumps(meta))
        return meta

    def delete(self, run_id: str) -> None:
        folder = self._dir(run_id)
        try:
            is_dir = stat.S_ISDIR(os.lstat(folder).st_mode)
        except OSError:
            is_dir = False
        if not is_dir:
            raise KeyError(run_id)
        self._checked.pop(run_id, None)
        shutil.rmtree(folder)

    # -- reading ----------------------------------------------------------------

    def _raw_meta(self, run_id: str) -> tuple[Any, str | None]:
        """(parsed meta.json, None), or (None, why it cannot be read)."""
        try:
            fd = open_regular(self._dir(run_id) / "meta.json")
            try:
                data = read_capped(fd, "meta.json", META_MAX_BYTES)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return None, "meta.json is missing"
        except OSError as exc:
            return None, _reason(exc, "meta.json")
        try:
            return orjson.loads(data), None
        except orjson.JSONDecodeError as exc:
            return None, f"meta.json is not JSON ({exc})"

    def _is_run_dir(self, run_id: str) -> bool:
        try:
            return stat.S_ISDIR(os.lstat(self._dir(run_id)).st_mode)
        except OSError:
            return False

    def meta(self, run_id: str) -> dict[str, Any]:
        """A stored run's description, as far as it can be trusted (see the module
        docstring); KeyError if there is no such run (or it is being created)."""
        if not self._is_run_dir(run_id):
            raise KeyError(run_id)
        raw, why = self._raw_meta(run_id)
        if why == "meta.json is missing" and self.being_written(run_id):
            raise KeyError(run_id)  # another process is creating it: not a run yet
        meta, problems = _description(run_id, raw, why)
        if problems:
            self._warn(run_id, "; ".join(problems))
        return meta

    def stored_events(self, run_id: str) -> StoredEvents:
        """The batches of a run up to the first that is not good (see the module
        docstring); a torn last line (a crash) is left out without a word. Read and
        checked in slices that let the server answer others (:class:`_Turns`)."""
        path = self._dir(run_id) / "events.jsonl"
        turn = _Turns()
        try:
            fd = open_regular(path)
            try:
                st = os.fstat(fd)
                lines = _read_lines(fd, "events.jsonl", EVENTS_MAX_BYTES, turn)
            finally:
                os.close(fd)
        except FileNotFoundError:
            return StoredEvents([], 0)
        except OSError as exc:
            why = _reason(exc, "events.jsonl")
            with contextlib.suppress(OSError):  # for listings (see known_events)
                self._checked[run_id] = (_identity(os.lstat(path)), 0, 0, why)
            self._warn(run_id, why)
            return StoredEvents([], 0, why)
        key = _identity(st)
        cached = self._checked.get(run_id)
        if cached is not None and cached[0] == key:
            good, events, why = cached[1:]
        else:
            good, events, why = _check_batches(lines, turn)
            self._checked[run_id] = (key, good, events, why)
        if why is not None:
            self._warn(run_id, why)
        return StoredEvents(lines[:good], events, why)

    def appended(self, run_id: str, offset: int) -> tuple[list[bytes], int]:
        """The whole lines written to a run's events file past byte ``offset`` (a last
        line still being written waits for its newline), at most ``_READ_CHUNK`` bytes
        of them, and the offset after them: how a run another process is writing
        (``coroscope run``) is followed while it goes on. ``OSError`` as opening it."""
        fd = open_regular(self._dir(run_id) / "events.jsonl")
        try:
            size = refuse_bigger(fd, "events.jsonl", EVENTS_MAX_BYTES)
            if size < offset:
                raise Refused(errno.EINVAL, "events.jsonl shrank while it was followed")
            pieces = [os.pread(fd, min(size - offset, _READ_CHUNK), offset)]
            read = len(pieces[0])
            # A line longer than a slice (a batch of long printed lines) is read to its
            # end: the file's cap (checked above) bounds it.
            while b"\n" not in pieces[-1] and offset + read < size:
                pieces.append(os.pread(fd, min(size - offset - read, _READ_CHUNK),
                                       offset + read))
                if not pieces[-1]:
                    break
                read += len(pieces[-1])
        finally:
            os.close(fd)
        data = b"".join(pieces)
        end = data.rfind(b"\n")
        if end < 0:
            return [], offset
        return [line for line in data[:end].split(b"\n") if line], offset + end + 1

    def batches(self, run_id: str) -> list[bytes]:
        """The good batches of a run (see :meth:`stored_events`)."""
        return self.stored_events(run_id).batches

    def checked(self, meta: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
        """A stored run's description and batches, to open it: ``events`` as counted on
        disk; if the batches go bad, or fewer events are there than the run had, it is
        ``incomplete`` and ``error`` says why."""
        stored = self.stored_events(meta["id"])
        return _with_events(meta, stored.events, stored.problem), stored.batches

    def _run_ids(self) -> list[str]:
        """Every run folder's name; what is named like a run but is not a folder is
        skipped with a warning."""
        try:
            entries = list(os.scandir(self.runs_dir))
        except OSError as exc:
            self._say(f"cannot list {self.runs_dir}: {exc.strerror or exc}")
            return []
        ids = []
        for entry in entries:
            if not _RUN_ID.match(entry.name):
                continue  # not a run: a temporary file, a note of the user's
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                ids.append(entry.name)
            else:
                self._warn(entry.name, "skipped: it is not a folder")
        return ids

    def list(self) -> Iterator[dict[str, Any]]:
        """Every stored run's description, newest first (no source text)."""
        metas = []
        for run_id in self._run_ids():
            try:
                metas.append(self.listed_meta(run_id))
            except KeyError:
                continue
        return iter(sorted(metas, key=lambda m: m["started_at"] or "", reverse=True))

    def listed_meta(self, run_id: str) -> dict[str, Any]:
        """A stored run's description as listed (no source text; its events as checking
        them found, if they were: see :meth:`known_events`); KeyError as :meth:`meta`."""
        meta = self.meta(run_id)
        meta.pop("source", None)
        known = self.known_events(run_id)
        return meta if known is None else _with_events(meta, *known)

    def known_events(self, run_id: str) -> tuple[int, str | None] | None:
        """What checking a run's events found, if its file has not changed since (a
        listing never reads events: it shows what opening the run found)."""
        cached = self._checked.get(run_id)
        if cached is None:
            return None
        try:
            key = _identity(os.lstat(self._dir(run_id) / "events.jsonl"))
        except OSError:
            return None
        return (cached[2], cached[3]) if cached[0] == key else None

    def began(self, run_id: str) -> bool:
        """Whether this store began writing this run (it may have stopped since)."""
        return run_id in self._begun

    def being_written(self, run_id: str) -> bool:
        """Whether a process (this one or another) is writing this run now."""
        if run_id in self._open:
            return True
        with self._unless_written(run_id) as free:
            return not free

    @contextlib.contextmanager
    def _unless_written(self, run_id: str) -> Iterator[bool]:
        """True if no process writes this run, and none can start to meanwhile (its
        events file's lock is held here, shared); False if one does."""
        try:
            fd = open_regular(self._dir(run_id) / "events.jsonl")
        except (OSError, KeyError):  # no events file (or not a file): nobody writes it
            yield True
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                yield exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN)
            else:
                yield True
        finally:
            os.close(fd)  # lets go of the shared lock

    def _mark_interrupted(self) -> None:
        for run_id in self._run_ids():
            try:
                if self.meta(run_id)["status"] not in LIVE_STATUSES:
                    continue
            except KeyError:  # being created by another process
                continue
            with self._unless_written(run_id) as free:
                if not free:
                    continue  # `coroscope run` is writing it: it is running
                meta = self.meta(run_id)  # again, under the lock: it may have just ended
                if meta["status"] in LIVE_STATUSES:
                    try:
                        _write_atomic(self._dir(run_id) / "meta.json",
                                      orjson.dumps(self.interrupted(meta)))
                    except OSError as exc:
                        self._warn(run_id, f"cannot mark it cut short: {exc}")
                        self._server_stopped.add(run_id)

    def settle(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` of a run stored as ``starting``/``running``, as it is: ``running`` if a
        process writes it (see :meth:`being_written`), else cut short (:meth:`interrupted`,
        saying whose stop cut it). A server's store saves that in its ``meta.json``, once
        (under the run's lock, as at start-up): listings stop reading its events."""
        run_id = meta["id"]
        if run_id in self._open:
            return dict(meta, status="running")
        with self._unless_written(run_id) as free:
            if not free:
                return dict(meta, status="running")  # `coroscope run` is writing it
            if self.began(run_id):  # this server's own run: its end could not be saved
                cause = "disk"
            elif run_id in self._server_stopped:  # found so at start-up, not saved so
                cause = "server"
            else:  # begun by another process after this server opened
                cause = "writer"
            try:
                fresh = self.meta(run_id)  # again, under the lock: it may have just ended
            except KeyError:  # deleted meanwhile (reading a big run lets requests in)
                return self.interrupted(meta, cause)
            cut = (self.interrupted(fresh, cause) if fresh["status"] in LIVE_STATUSES
                   else fresh)
            if self._lock_fd is not None and cut is not fresh:
                try:
                    _write_atomic(self._dir(run_id) / "meta.json", orjson.dumps(cut))
                except OSError as exc:
                    self._warn(run_id, f"cannot mark it cut short: {exc}")
        if "source" not in meta:
            cut.pop("source", None)
        return cut

    def events_on_disk(self, run_id: str) -> int:
        """How many events the good stored batches of a run hold."""
        return self.stored_events(run_id).events

    #: Why a run stored as running is not (see :meth:`interrupted`).
    _CAUSES = {
        "server": "the server stopped while this run was running",
        "disk": "the disk refused this run's history before its end was saved",
        "writer": "the process recording it (coroscope run/record) stopped before the run "
                  "ended",
    }

    def interrupted(self, meta: dict[str, Any], cause: str = "server") -> dict[str, Any]:
        """The description of a run stored as running that is not: cut short, with the
        events that reached the disk; ``cause``: whose stop cut it (see ``_CAUSES``)."""
        events = self.events_on_disk(meta["id"])
        why = self._CAUSES[cause]
        return dict(meta, status="crashed", incomplete=True, events=events,
                    error=f"incomplete: {why}; {events} events were recorded up to then")

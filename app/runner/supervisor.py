"""The server's end of a run: start its child process, relay its frames, end it.

A :class:`Child` owns one process (``python -m coroscope.runner.child``, or
``.importer`` for a trace being read back, started with a :class:`~.protocol.Spec`) and
the read end of its events pipe. One greenlet reads the pipe a line at a time: an
event batch is checked to follow the previous one (its header only: the rows are never
parsed here) and handed on as the exact bytes the child wrote; any other line is a
frame (``hello``, ``done``, ``trace``...), decoded and handed on. The child keeps its own
time limit; :class:`Child` kills it (and its process group) a little later should it be
too stuck to, when it is cancelled, or when the stream is not what the protocol says.

It reports to whoever started it through three callbacks and knows nothing of what a
run looks like to a viewer (runs.py), of Flask, or of websockets.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gevent
from gevent import subprocess
from gevent.os import make_nonblocking, nb_read

from .. import PACKAGE
from .protocol import Spec, batch_header, decode_frame

if TYPE_CHECKING:  # the demo catalogue is not loaded for a script's run
    from .._demos import Demo
    from ..runs import Limits

#: The folder that holds this package: the checkout, or site-packages once installed.
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
#: A checkout is run from its folder (``python -m app``): its children need it on their path.
_CHECKOUT = PACKAGE == "app"
#: Where a demo runs: the checkout, as `python demos/x.py` from it would; installed, not
#: in site-packages but a private scratch folder, made when a demo first runs (no demo
#: writes files; a user's edit might). Never on the child's sys.path: see Child.start.
DEMO_CWD = str(PROJECT_ROOT) if _CHECKOUT else ""
#: How long after its time limit a child that has not ended itself is killed.
_LIMIT_GRACE = 2.0
_F_SETPIPE_SZ = 1031  # Linux: a bigger pipe lets the child run ahead of a busy server

_scratch: list[str] = []


def _scratch_folder() -> str:
    """A folder of this user's own for installed demos to run in (made once, 0700, and
    removed when this process ends)."""
    if not _scratch:
        import atexit
        import shutil

        _scratch.append(tempfile.mkdtemp(prefix="coroscope-demos-"))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return _scratch[0]


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:  # real-time signals have no name in the enum
        if signal.SIGRTMIN <= number <= signal.SIGRTMAX:
            return f"SIGRTMIN+{number - signal.SIGRTMIN}"
        return str(number)


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
    #: A demo whose file the user edited: its folder (private, removed when the run ends)
    #: and the unified diff against the tutorial's text.
    edited: Edit | None = None
    untraced_rerun: bool = False  # main() runs once more untraced (Demo.untraced_rerun)
    #: What the tutorial printed for the same experiment (English, Chinese), kept with the
    #: untraced figures so that every viewer (a standalone file too) can show all three.
    tutorial_figure: tuple[str, str] = ("", "")
    #: A script: its path where it was first run (an edited one runs from a copy).
    origin: str = ""
    #: The folder put first on the child's sys.path ("": the file's own).
    import_dir: str = ""

    @classmethod
    def for_demo(cls, demo: Demo, params: dict[str, Any], source: str | None = None,
                 untraced: bool = False) -> Target:
        """``untraced``: run main() once more untraced although the demo does not by
        itself (Demo.untraced_on_request)."""
        edited = None if source is None else Edit.of(demo, params, source)
        return cls(
            kind="demo",
            name=demo.id,
            title=demo.title,
            file=str(demo.path_for(params)) if edited is None else edited.file,
            user_files=(tuple(demo.user_files(params)) if edited is None
                        else edited.user_files),
            edited=edited,
            params=params,
            # A variant that picks the file is not an argument of that file's main().
            call_params={k: v for k, v in params.items()
                         if not (k == "variant" and demo.variant_files)},
            generators=demo.generators,
            untraced_rerun=demo.untraced_rerun or untraced,
            tutorial_figure=(demo.tutorial_figure, demo.tutorial_figure_zh),
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

    @classmethod
    def for_edited_script(cls, info: dict[str, Any], source: str) -> Target:
        """A script run before (``info``: that run's description, with its source) run
        again from the dashboard with ``source`` as its text, bounded like a demo.

        It runs from the script's own folder (its working folder, and first on
        sys.path, so its imports and relative files work as they did) when that folder
        still exists here and is safe to import from: this user's, writable by no one
        else. Otherwise from the private folder the edited copy is written to. argv is
        the first run's, its first item the script's name."""
        script = info.get("script")
        text = (info.get("source") or {}).get("text")
        name = (info.get("source") or {}).get("file") or ""
        if not isinstance(script, dict) or not isinstance(text, str) or not text or not name:
            raise ValueError("its source is not known")
        argv = script.get("argv")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            argv = [name]
        origin = script.get("path") if isinstance(script.get("path"), str) else ""
        edited = info.get("edited")
        diff = edited.get("diff") if isinstance(edited, dict) else None
        original = unpatch(text, diff) if isinstance(diff, str) and diff else text
        edit = Edit.of_script(os.path.basename(name), original, source)
        home = script_home(origin)
        return cls(
            kind="script", name=os.path.basename(name), title=info.get("title") or name,
            file=edit.file, user_files=edit.user_files, edited=edit,
            argv=(os.path.basename(name), *argv[1:]), cwd=home or edit.folder,
            import_dir=home or edit.folder, origin=origin,
            generators=script.get("generators") is True,
        )

    def describe_edit(self) -> dict[str, Any] | None:
        """``{"file", "diff"}`` of an edited demo or script (kept with the run and its
        export); a script run again unchanged has none."""
        if self.edited is None or not self.edited.diff:
            return None
        return {"file": os.path.basename(self.file), "diff": self.edited.diff}

    def source(self) -> dict[str, str]:
        if not self.file or self.kind == "import":  # its source is the file's own
            return {"file": "", "text": ""}
        if self.edited is not None:
            return {"file": os.path.basename(self.file), "text": self.edited.text}
        try:
            text = Path(self.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        return {"file": os.path.basename(self.file), "text": text}


@dataclass(frozen=True)
class Edit:
    """A demo's file as the user changed it, written to a private folder with the demo's
    helper files beside it (a demo imports them from its folder), under the same name
    (so tracebacks and the source panel name the tutorial's file)."""

    folder: str
    file: str
    user_files: tuple[str, ...]
    diff: str
    text: str  #: the edited source (its file is removed when the run ends)

    @classmethod
    def of(cls, demo: Demo, params: dict[str, Any], source: str) -> Edit:
        import difflib
        import shutil

        original = demo.path_for(params)
        folder = tempfile.mkdtemp(prefix="coroscope-edit-", dir=_scratch_folder())
        file = os.path.join(folder, original.name)
        extras = []
        try:
            with open(file, "w", encoding="utf-8") as f:
                f.write(source)
            for name in demo.extra_files:
                shutil.copyfile(demo.folder / name, os.path.join(folder, name))
                extras.append(os.path.join(folder, name))
        except BaseException:  # nothing left behind (a full disk)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        before = original.read_text(encoding="utf-8").splitlines(keepends=True)
        diff = "".join(difflib.unified_diff(before, source.splitlines(keepends=True),
                                            f"a/{original.name}", f"b/{original.name}"))
        return cls(folder, file, (file, *extras), diff, source)

    @classmethod
    def of_script(cls, name: str, original: str, source: str) -> Edit:
        """A script's text as the user changed it, alone in a private folder."""
        import difflib
        import shutil

        folder = tempfile.mkdtemp(prefix="coroscope-edit-", dir=_scratch_folder())
        file = os.path.join(folder, name)
        try:
            with open(file, "w", encoding="utf-8") as f:
                f.write(source)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        diff = "".join(difflib.unified_diff(original.splitlines(keepends=True),
                                            source.splitlines(keepends=True),
                                            f"a/{name}", f"b/{name}"))
        return cls(folder, file, (file,), diff, source)

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def script_home(path: str) -> str:
    """The folder of the script at ``path`` if an edit of it may run from there: it
    exists, is this user's and no one else may write to it (a module planted in a
    shared folder would run as this user); "" if not."""
    import stat

    folder = os.path.dirname(path) if path and os.path.isabs(path) else ""
    try:
        st = os.stat(folder) if folder else None
    except OSError:
        return ""
    if (st is None or not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid()
            or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return ""
    return folder


def unpatch(after: str, diff: str) -> str:
    """The text before a unified diff (difflib's, as :class:`Edit` makes it) from the
    text after it (static/js/edit.js has the same)."""
    import re

    lines = after.splitlines()
    out: list[str] = []
    pos = 0  # the next line of ``after`` not yet copied
    body = False  # past the file names
    for line in diff.splitlines():
        hunk = re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", line)
        if hunk:
            # "+c,d": d lines from line c; with d = 0, c is the line before them.
            start = int(hunk[1]) if hunk[2] == "0" else int(hunk[1]) - 1
            out.extend(lines[pos:start])
            pos = max(pos, start)
            body = True
        elif not body:
            continue
        elif line.startswith("-"):
            out.append(line[1:])
        elif line.startswith("+"):
            pos += 1
        elif line.startswith(" "):
            out.append(line[1:])
            pos += 1
    out.extend(lines[pos:])
    return "".join(f"{line}\n" for line in out)


class Child:
    """One run's child process, from start to reaped.

    ``on_batch(line, n)``: an event batch of ``n`` rows, the next in order, as the child
    wrote it. ``on_frame(frame)``: any other frame, decoded. ``on_end()``: the process
    is reaped and its pipe read to the end (always called once, also after a fault of
    the relay's own); then :attr:`stopped` says why it was killed, if it was, and
    :meth:`how_it_died` how it ended.
    """

    def __init__(self, target: Target, limits: Limits, on_batch: Callable[[bytes, int], None],
                 on_frame: Callable[[dict[str, Any]], None], on_end: Callable[[], None]) -> None:
        self.target = target
        self.limits = limits
        self._on_batch, self._on_frame, self._on_end = on_batch, on_frame, on_end
        self.pid: int | None = None
        self.exit_code: int | None = None
        #: ``(status, why)`` once this side killed it (cancel, time limit, a bad stream).
        self.stopped: tuple[str, str] | None = None
        self.events = 0  # rows relayed so far: the seq the next batch must start at
        self._ended = False
        self._stderr = bytearray()
        self._proc: subprocess.Popen | None = None
        self._stderr_reader: gevent.Greenlet | None = None
        self._timer: gevent.Greenlet | None = None

    def start(self) -> None:
        """Start the process and its relay; ``OSError`` if no process can be had."""
        r, w = os.pipe()
        try:
            fcntl.fcntl(w, _F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        target, limits = self.target, self.limits
        importing = target.kind == "import"
        spec = Spec(
            mode=target.kind,
            file=target.file,
            user_files=target.user_files,
            params=target.call_params,
            argv=target.argv,
            events_fd=w,
            max_events=limits.max_events,
            max_seconds=limits.max_seconds,
            max_memory_bytes=(limits.import_memory_bytes if importing
                              else limits.max_memory_bytes),
            max_output_bytes=limits.max_output_bytes,
            generators=target.generators,
            untraced_rerun=target.untraced_rerun,
            import_dir=target.import_dir,
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
        seconds = limits.import_seconds if importing else limits.max_seconds
        if seconds:
            # The child ends itself at the limit, with its trace flushed (its own thread
            # keeps the time, whatever this loop is doing); this kill is for a child too
            # stuck to do so.
            grace = 0 if importing else _LIMIT_GRACE
            self._timer = gevent.spawn_later(seconds + grace, self.kill, "limit",
                                             f"time limit reached: {seconds:g} s")

    def kill(self, status: str, why: str) -> None:
        """Kill the process (a dashboard run: its whole group); ``status`` and ``why`` are
        what the run will say. Once only, and never after it ended."""
        if self._ended or self.stopped is not None or self._proc is None:
            return
        self.stopped = (status, why)
        try:
            if self.target.passthrough:
                self._proc.kill()
            else:
                os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def how_it_died(self) -> str:
        """``killed by signal SIGKILL without finishing``, then the tail of its stderr."""
        code = self.exit_code
        how = (f"killed by signal {_signal_name(-code)}" if code is not None and code < 0
               else f"exited with code {code}")
        tail = self._stderr.decode("utf-8", "replace").strip()
        return f"{how} without finishing" + (f":\n{tail}" if tail else "")

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
            self.kill("crashed", f"the server failed while relaying this run: {exc!r}")
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
                self._ended = True
                if self._timer is not None:
                    self._timer.kill(block=False)  # else it holds the run for max_seconds
                    self._timer = None
                self._proc = None
                try:
                    self._on_end()
                finally:
                    if self.target.edited is not None:
                        self.target.edited.remove()

    def _on_line(self, line: bytes) -> None:
        header = batch_header(line)
        if header is not None:
            seq, n = header
            if seq != self.events:
                self.kill("crashed", f"event stream out of order: got seq {seq}, "
                                     f"expected {self.events}")
                return
            self.events += n
            self._on_batch(line, n)
            return
        try:
            frame = decode_frame(line)
        except ValueError:
            self.kill("crashed", f"unreadable frame from the child: {line[:80]!r}")
            return
        self._on_frame(frame)

"""The CLI's files are the user's: input traces that are not files, too big, or not traces,
and --out paths that are not regular files or cannot be written. Every refusal is one
line ``coroscope: cannot VERB PATH: WHY`` on stderr, exit code 2, no traceback."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys

import pytest

from app.files import MAX_TRACE_BYTES
from app.tracer.events import VERSION
from app.tracer.export import TraceError, check_trace

from .conftest import ROOT

#: Bounds a hang (the old code blocked on a FIFO for ever); never reached when it works.
HANG = 60

SIZE_LIMIT = (f"{MAX_TRACE_BYTES:,} bytes ({MAX_TRACE_BYTES >> 20} MiB; a 2-million-event "
              "trace is about 180 MB)")
NOT_A_FILE = "not a regular file: give a trace file (.json or .json.gz) that coroscope wrote"
ONLY_REGULAR = "and coroscope replaces only regular files: give a new file name, or that of " \
               "a regular file"


def coroscope(*args: str, memory: int | None = None) -> subprocess.CompletedProcess:
    """``python -m app ARGS``; ``memory``: a bound on its address space, in bytes."""
    def limit() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "app", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=HANG, preexec_fn=limit)


def refused(result: subprocess.CompletedProcess, line: str) -> None:
    assert (result.returncode, result.stderr, result.stdout) == (2, line + "\n", ""), result


def trace_error(trace) -> str:
    """What check_trace says of ``trace`` (its wording is the tracer's to choose)."""
    with pytest.raises(TraceError) as caught:
        check_trace(trace)
    return str(caught.value)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("recorded") / "good.json"
    result = coroscope("record", "greenlet_eat_play", "--out", str(path))
    assert result.returncode == 0, result.stderr
    return str(path)


def test_a_fifo_or_a_device_is_refused_as_a_trace_without_blocking(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    out = tmp_path / "out.json"
    refused(coroscope("export", str(fifo), "--out", str(out)),
            f"coroscope: cannot convert {fifo}: it is a FIFO (named pipe), {NOT_A_FILE}")
    refused(coroscope("serve", "--no-browser", "--port", "0", str(fifo)),
            f"coroscope: cannot open {fifo}: it is a FIFO (named pipe), {NOT_A_FILE}")
    refused(coroscope("export", "/dev/null", "--out", str(out)),
            f"coroscope: cannot convert /dev/null: it is a character device, {NOT_A_FILE}")
    refused(coroscope("export", str(tmp_path), "--out", str(out)),
            f"coroscope: cannot convert {tmp_path}: it is a folder, {NOT_A_FILE}")
    refused(coroscope("export", str(tmp_path / "nope.json"), "--out", str(out)),
            f"coroscope: cannot convert {tmp_path / 'nope.json'}: No such file or directory")
    assert not out.exists()


def test_a_file_over_the_cap_is_refused_before_it_is_read(tmp_path):
    """A sparse 1 GiB file costs no disk; read whole it took 2 GB. With 640 MiB of address
    space the command can only answer if it never reads the file."""
    huge, over = tmp_path / "huge.json", tmp_path / "over.json"
    with open(huge, "wb") as f:
        f.truncate(1 << 30)
    with open(over, "wb") as f:
        f.truncate(MAX_TRACE_BYTES + 1)
    out = tmp_path / "out.json"
    refused(coroscope("export", str(huge), "--out", str(out), memory=640 << 20),
            f"coroscope: cannot convert {huge}: it is 1,073,741,824 bytes, and a trace file "
            f"may be at most {SIZE_LIMIT}")
    refused(coroscope("serve", "--no-browser", "--port", "0", str(huge), memory=640 << 20),
            f"coroscope: cannot open {huge}: it is 1,073,741,824 bytes, and a trace file "
            f"may be at most {SIZE_LIMIT}")
    refused(coroscope("export", str(over), "--out", str(out), memory=640 << 20),
            f"coroscope: cannot convert {over}: it is {MAX_TRACE_BYTES + 1:,} bytes, and a "
            f"trace file may be at most {SIZE_LIMIT}")
    assert not out.exists()


@pytest.mark.parametrize("trace", [
    {"run": []},
    {"format": "coroscope.trace", "version": VERSION, "run": [], "tasks": [], "events": []},
    [1, 2],
], ids=["run-only", "run-is-a-list", "array"])
def test_export_checks_the_trace_before_converting_it(tmp_path, trace):
    path, out = tmp_path / "t.json", tmp_path / "out.json"
    path.write_text(json.dumps(trace))
    refused(coroscope("export", str(path), "--out", str(out)),
            f"coroscope: cannot convert {path}: {trace_error(trace)}")
    assert not out.exists()


def test_not_json_is_refused_in_one_line(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{not json")
    result = coroscope("export", str(path), "--out", str(tmp_path / "out.json"))
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"coroscope: cannot convert {path}: not JSON: ")


def test_a_trace_from_a_newer_coroscope_says_so(tmp_path):
    path = tmp_path / "v99.json"
    trace = {"format": "coroscope.trace", "version": 99}
    path.write_text(json.dumps(trace))
    why = trace_error(trace)
    assert "written by a newer coroscope" in why and "upgrade coroscope" in why
    refused(coroscope("export", str(path), "--out", str(tmp_path / "out.json")),
            f"coroscope: cannot convert {path}: {why}")
    refused(coroscope("serve", "--no-browser", "--port", "0", str(path)),
            f"coroscope: cannot open {path}: {why}")


def _specials(tmp_path):
    """Paths that are not regular files, made here (never /dev itself: as root the old
    code replaced the node it was given)."""
    target = tmp_path / "target.json"
    target.write_text("keep me")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    made = [(link, "a symbolic link"), (fifo, "a FIFO (named pipe)"),
            (tmp_path / "folder", "a folder")]
    (tmp_path / "folder").mkdir()
    try:  # a copy of /dev/null's node, where the test may make one (root)
        os.mknod(tmp_path / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        made.append((tmp_path / "null", "a character device"))
    except PermissionError:
        pass
    return made


def test_out_never_replaces_what_is_not_a_regular_file(tmp_path, recorded):
    script = tmp_path / "prog.py"
    script.write_text("print('ran')\n")
    for path, kind in _specials(tmp_path):
        before = os.lstat(path)
        expected = f"coroscope: cannot write {path}: it is {kind}, {ONLY_REGULAR}"
        refused(coroscope("export", recorded, "--out", str(path)), expected)
        refused(coroscope("record", "greenlet_eat_play", "--out", str(path)), expected)
        refused(coroscope("run", "--out", str(path), str(script)), expected)
        after = os.lstat(path)
        assert (after.st_mode, after.st_ino, after.st_rdev) == \
            (before.st_mode, before.st_ino, before.st_rdev), path
    assert (tmp_path / "target.json").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["target.json", "link.json", "fifo.json", "folder", "prog.py"]
        + (["null"] if (tmp_path / "null").exists() else [])), "no temporary file is left"


def test_out_in_a_missing_folder_is_refused_before_the_work(tmp_path, recorded):
    marker = tmp_path / "ran"
    script = tmp_path / "prog.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    history = tmp_path / "history"
    out = tmp_path / "missing" / "t.json"
    expected = (f"coroscope: cannot write {out}: there is no folder {out.parent}: "
                "create it first, or write elsewhere")
    refused(coroscope("run", "--data-dir", str(history), "--out", str(out), str(script)),
            expected)
    assert not marker.exists(), "the script must not run when its trace cannot be written"
    refused(coroscope("record", "gevent_eat_play", "--data-dir", str(history),
                      "--out", str(out)), expected)
    assert not history.exists(), "no run may start when its trace cannot be written"
    refused(coroscope("export", recorded, "--out", str(out)), expected)
    not_a_folder = tmp_path / "prog.py" / "t.json"
    refused(coroscope("export", recorded, "--out", str(not_a_folder)),
            f"coroscope: cannot write {not_a_folder}: Not a directory")


def test_out_still_replaces_a_regular_file_atomically(tmp_path, recorded):
    out = tmp_path / "out.json"
    out.write_text("old")
    result = coroscope("export", recorded, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert json.loads(out.read_text())["traceEvents"]
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]

"""The flight recorder: only the last window of a long run is kept; snapshots of it are
valid traces of their own, written on SIGUSR1, after a long block, and at the end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from app.flight import FlightRecorder, parse_duration
from app.tracer.checker import check_trace
from app.tracer.events import BLOCK, FINISH, SPAWN, STDOUT, SWITCH, UNBLOCK, encode_batch
from app.tracer.export import native_trace_chunks

from .conftest import ROOT, validate_trace

MS = 1_000_000


def test_durations():
    assert [parse_duration(t) for t in ("30s", "200ms", "5m", "1.5h", "2")] == [
        30_000 * MS, 200 * MS, 300_000 * MS, 5_400_000 * MS, 2_000 * MS]
    for bad in ("", "0s", "-1s", "fast", "3 days"):
        try:
            parse_duration(bad)
        except ValueError as exc:
            assert "is not a duration like 30s, 200ms or 5m" in str(exc)
        else:
            raise AssertionError(bad)


def spawn(t, task, parent, name):
    return [t, SPAWN, task, parent, {"name": name, "kind": "greenlet"}]


def test_the_ring_keeps_a_window_and_a_snapshot_opens_cleanly():
    blocks, unblocks = [], []
    rec = FlightRecorder(100 * MS, on_block=lambda *a: blocks.append(a),
                         on_unblock=lambda *a: unblocks.append(a))
    seq = 0

    def feed(*rows):
        nonlocal seq
        rec.append(encode_batch(seq, list(rows)))
        seq += len(rows)

    feed([0, SPAWN, 0, None, {"name": "main", "kind": "main"}], spawn(1, 1, 0, "short"),
         spawn(2, 2, 0, "long"))
    feed([10 * MS, SWITCH, 0, 1, 3, "switch"], [11 * MS, FINISH, 1, None, None],
         [11 * MS, SWITCH, 1, 0, None, "finish"])
    feed([50 * MS, SWITCH, 0, 2, 4, "switch"])
    for k in range(1, 6):  # 100 ms apart: each pushes the older ones out of the window
        feed([k * 100 * MS, STDOUT, 2, None, f"tick {k}"])
    feed([560 * MS, BLOCK, 2, None, {"call": "time.sleep(1)", "since": 555 * MS}],
         [570 * MS, UNBLOCK, 2, None, None], [571 * MS, SWITCH, 2, 0, 9, "switch"])
    # A batch stays while any of it may be in the window: 400 ms holds 460..500.
    assert rec.events == 15 and len(rec) == 3
    assert rec.dropped == 15 - 1 - 1 - 3
    assert blocks == [(2, 555 * MS, "time.sleep(1)")] and unblocks == [(2, 570 * MS)]
    batches, start, n, last = rec.snapshot()
    # main and long spawned at the window's start; its last event at 571 - 400 ms
    assert start == 400 * MS and n == 2 + 5 and last == 171 * MS
    trace = json.loads(b"".join(native_trace_chunks(
        {"id": "r000000000001", "demo": None, "params": {}, "status": "snapshot",
         "started_at": "2026-01-01T00:00:00+00:00", "duration_ns": 71 * MS, "events": n},
        batches)))
    check_trace(trace)
    assert [(e["t"], e["kind"]) for e in trace["events"]] == [
        (0, "spawn"), (0, "spawn"), (0, "stdout"), (100 * MS, "stdout"), (160 * MS, "block"),
        (170 * MS, "unblock"), (171 * MS, "switch")]
    assert [t["name"] for t in trace["tasks"]] == ["main", "long"]  # "short" ended before
    assert trace["events"][4]["since"] == 155 * MS  # rebased with the window


def test_a_row_naming_a_task_nothing_is_known_of_is_left_out_and_counted():
    rec = FlightRecorder(10 * MS)
    rec.append(encode_batch(0, [[0, SPAWN, 0, None, {"name": "main", "kind": "main"}],
                                [1, SWITCH, 0, 7, 3, "switch"]]))
    batches, _, n, _ = rec.snapshot()
    assert n == 1 and rec.left_out == 1


SCRIPT = """\
import os, time
import gevent


def worker(n):
    while not os.path.exists('stop'):
        gevent.sleep(0.01)


def stall():
    while not os.path.exists('stall'):
        gevent.sleep(0.01)
    time.sleep(0.3)  # holds the Hub: the moment to capture
    open('stalled', 'w').close()


jobs = [gevent.spawn(worker, i) for i in range(3)] + [gevent.spawn(stall)]
gevent.joinall(jobs)
print('done')
"""


def start(tmp_path: Path, *options: str) -> tuple[subprocess.Popen, int]:
    (tmp_path / "prog.py").write_text(SCRIPT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--flight-recorder", "0.5s", *options,
         "--data-dir", str(tmp_path / "data"), "--out", "prog.json", "prog.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    line = proc.stderr.readline()
    m = re.fullmatch(r"coroscope: flight recorder: the last 0\.5 s are kept; "
                     r"`coroscope snapshot (\d+)` writes them now\n", line)
    assert m, line
    assert int(m[1]) == proc.pid
    return proc, proc.pid


def wait_for(path: Path, proc: subprocess.Popen, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.02)


def test_a_long_block_and_sigusr1_write_snapshots(tmp_path):
    proc, pid = start(tmp_path, "--snapshot-on-block", "200ms")
    try:
        time.sleep(0.7)  # more than a window of workers switching
        asked = subprocess.run([sys.executable, "-m", "app", "snapshot", str(pid)],
                               capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert asked.returncode == 0, asked.stderr
        wait_for(tmp_path / "prog.snapshot-1.json", proc)
        (tmp_path / "stall").touch()
        wait_for(tmp_path / "stalled", proc)
        wait_for(tmp_path / "prog.snapshot-2.json", proc)
        (tmp_path / "stop").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 0 and out == "done\n", err
    first = json.loads((tmp_path / "prog.snapshot-1.json").read_text())
    stall = json.loads((tmp_path / "prog.snapshot-2.json").read_text())
    final = json.loads((tmp_path / "prog.json").read_text())
    for trace in (first, stall, final):
        validate_trace(trace)
        assert trace["run"]["status"] == "snapshot"
        assert trace["run"]["duration_ns"] <= 1.5e9  # a window (0.5 s), give or take a batch
        assert {t["name"] for t in trace["tasks"]} >= {"main", "Hub", "worker"}
    assert first["run"]["flight"]["reason"] == "asked (SIGUSR1)"
    assert stall["run"]["flight"]["reason"] == (
        "stall blocked over 200 ms in time.sleep(0.3)")
    blocks = [e for e in stall["events"] if e["kind"] == "block"]
    names = {t["id"]: t["name"] for t in stall["tasks"]}
    assert [(names[e["task"]], e["call"]) for e in blocks] == [("stall", "time.sleep(0.3)")]
    assert final["run"]["flight"]["reason"] == "the run finished"
    assert final["run"]["flight"]["events_seen"] > final["run"]["events"]
    # Each snapshot is in the history too.
    stored = [json.loads(p.read_text())["flight"]["reason"]
              for p in (tmp_path / "data" / "runs").glob("*/meta.json")]
    assert sorted(stored) == sorted(["asked (SIGUSR1)", "the run finished",
                                     "stall blocked over 200 ms in time.sleep(0.3)"])
    assert "coroscope: finished, exit code 0," in err and "3 snapshot(s)" in err


def test_snapshot_asks_only_a_flight_recorder(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "app", "snapshot", str(os.getpid())],
                          capture_output=True, text=True, timeout=60, env=env)
    assert (done.returncode, done.stderr) == (2, (
        f"coroscope: cannot ask process {os.getpid()}: it is not a `coroscope run "
        "--flight-recorder` of yours (or it is not ready yet)\n"))
    # Not even one whose command line says so: SIGUSR1 would have killed it.
    impostor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "run",
                                 "--flight-recorder", "5s"])
    try:
        done = subprocess.run([sys.executable, "-m", "app", "snapshot", str(impostor.pid)],
                              capture_output=True, text=True, timeout=60, env=env)
        assert done.returncode == 2 and impostor.poll() is None
    finally:
        impostor.kill()
        impostor.wait()
    (tmp_path / "prog.py").write_text("")
    done = subprocess.run([sys.executable, "-m", "app", "run", "--flight-recorder", "soon",
                           "prog.py"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=env)
    assert (done.returncode, done.stderr) == (2, (
        "coroscope: cannot use --flight-recorder: 'soon' is not a duration like 30s, "
        "200ms or 5m\n"))

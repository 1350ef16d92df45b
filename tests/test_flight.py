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

import pytest

from app.flight import FlightRecorder, parse_duration
from app.tracer.checker import check_trace
from app.tracer.events import BLOCK, FINISH, SPAWN, STDOUT, SWITCH, UNBLOCK, encode_batch
from app.tracer.export import native_trace_chunks

from .conftest import ROOT, validate_trace

SHOTS = ROOT / "docs" / "screenshots"

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


# -- the dashboard's flight-recorded runs (POST /api/runs, the websocket, a snapshot) --

def test_a_dashboard_run_keeps_its_window_and_snapshots_it(server):
    """A demo started with a flight recorder: a snapshot asked for while it runs, one on
    its long block, and the run itself ends as its last window; all in History."""
    status, run = server.request("POST", "/api/runs", {
        "demo": "gevent_unpatched_sleep", "params": {"eat_seconds": 1.5, "play_seconds": 1.0},
        "flight_recorder": "0.5s", "snapshot_on_block": "200ms"})
    assert status == 201, run
    assert run["flight"] == {"window_ns": 500 * MS, "block_ns": 200 * MS,
                             "events_seen": run["flight"]["events_seen"], "snapshots": []}
    # The ring has no list to download while it goes: a snapshot is how to look.
    status, body = server.get(f"/api/runs/{run['id']}/trace.json")
    assert status == 409 and "take a snapshot" in body["error"]
    deadline = time.monotonic() + 30
    while server.get(f"/api/runs/{run['id']}")[1]["flight"]["events_seen"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    status, asked = server.request("POST", f"/api/runs/{run['id']}/snapshot")
    assert status == 201, asked
    assert asked["status"] == "snapshot"
    assert asked["flight"]["reason"] == "asked from the dashboard"
    assert asked["flight"]["run"] == run["id"]
    done = server.wait_run(run["id"])
    assert done["status"] == "finished"
    flight = done["flight"]
    reasons = [s["reason"] for s in flight["snapshots"]]
    assert reasons[0] == "asked from the dashboard"
    assert "eat blocked over 200 ms in time.sleep(1.5)" in reasons, reasons
    # The run kept its last window: it starts mid-run, and is shorter than the run.
    assert flight["reason"] == "the run finished"
    assert 0 < flight["from_ns"] < flight["run_ns"]
    assert done["duration_ns"] < flight["run_ns"]
    assert flight["events_seen"] > done["events"]
    trace = _trace(server, run["id"])
    assert [e["seq"] for e in trace["events"]] == list(range(len(trace["events"])))
    assert all(0 <= e["t"] <= done["duration_ns"] for e in trace["events"])
    # eat and play were spawned long before the window: named all the same.
    assert {t["name"] for t in trace["tasks"]} >= {"main", "eat", "play"}
    # Each snapshot is a trace of its own, listed in History as the CLI's are.
    _, listed = server.get("/api/runs")
    by_id = {r["id"]: r for r in listed}
    for snap in flight["snapshots"]:
        assert by_id[snap["id"]]["status"] == "snapshot"
        validate = _trace(server, snap["id"])
        assert validate["run"]["flight"]["reason"] == snap["reason"]
        assert [e["seq"] for e in validate["events"]] == list(range(len(validate["events"])))
        # One asked for early on a loaded machine may come before eat is spawned: it names
        # main, and only the tasks of this demo.
        assert "main" in {t["name"] for t in validate["tasks"]}
        assert {t["name"] for t in validate["tasks"]} <= {"main", "eat", "play", "Hub"}
    blocked = _trace(server, next(s["id"] for s in flight["snapshots"]
                                  if "blocked" in s["reason"]))
    names = {t["id"]: t["name"] for t in blocked["tasks"]}
    assert set(names.values()) >= {"main", "eat"}
    assert [(names[e["task"]], e["call"]) for e in blocked["events"] if e["kind"] == "block"
            ][:1] == [("eat", "time.sleep(1.5)")]
    # Over, it has nothing more to give.
    status, body = server.request("POST", f"/api/runs/{run['id']}/snapshot")
    assert status == 409 and "has ended" in body["error"]


def _trace(server, run_id: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/api/runs/{run_id}/trace.json",
                                timeout=30) as resp:
        trace = json.loads(resp.read())
    validate_trace(trace)
    return trace


def test_a_flight_recorded_run_is_not_bound_by_max_events(tmp_path):
    from .conftest import Server

    srv = Server(tmp_path / "server.log", "--max-events", "1000")
    try:
        status, run = srv.request("POST", "/api/runs", {
            "demo": "greenlet_switch_cost", "params": {"n": 20000},
            "flight_recorder": "2s"})
        assert status == 201, run
        done = srv.wait_run(run["id"], timeout=120)
        assert done["status"] == "finished", done
        assert done["flight"]["events_seen"] > 1000
        status, plain = srv.request("POST", "/api/runs", {
            "demo": "greenlet_switch_cost", "params": {"n": 20000}})
        assert srv.wait_run(plain["id"], timeout=120)["status"] == "limit"
    finally:
        srv.stop()


def test_flight_recorder_errors_are_clear(server):
    bad = [
        ({"flight_recorder": "soon"},
         "\"flight_recorder\": 'soon' is not a duration like 30s, 200ms or 5m"),
        ({"flight_recorder": 10}, "\"flight_recorder\" must be a duration as a string, "
         "like \"10s\" or \"200ms\", got int"),
        ({"flight_recorder": "1h"}, "\"flight_recorder\": a window of at most 300 s is "
         "kept here, got '1h'"),
        ({"snapshot_on_block": "200ms"}, "\"snapshot_on_block\" needs \"flight_recorder\": "
         "a window like \"10s\" to take the snapshot of"),
        ({"flight_recorder": "2s", "snapshot_on_block": "-1ms"},
         "\"snapshot_on_block\": '-1ms' is not a duration like 30s, 200ms or 5m"),
    ]
    for extra, error in bad:
        assert server.request("POST", "/api/runs", {"demo": "greenlet_eat_play", **extra}
                              ) == (400, {"error": error}), extra
    assert server.request("POST", "/api/runs/rdeadbeef/snapshot") == (
        404, {"error": "no run 'rdeadbeef'"})
    _, plain = server.request("POST", "/api/runs", {"demo": "greenlet_eat_play"})
    server.wait_run(plain["id"])
    status, body = server.request("POST", f"/api/runs/{plain['id']}/snapshot")
    assert status == 409 and body["error"].startswith(
        f"run {plain['id']!r} is not flight-recorded")
    # The websocket says the same in an error frame, and the server goes on.
    from .conftest import follow_run, ws_connect

    ws = ws_connect(server)
    try:
        ws.send(json.dumps({"type": "start", "demo": "greenlet_eat_play",
                            "flight_recorder": "fast"}))
        assert json.loads(ws.recv()) == {"type": "error", "error": (
            "\"flight_recorder\": 'fast' is not a duration like 30s, 200ms or 5m")}
        frame, rows, end = follow_run(ws, {"type": "start", "demo": "greenlet_eat_play",
                                           "flight_recorder": "10s"})
    finally:
        ws.close()
    assert frame["run"]["flight"]["window_ns"] == 10_000 * MS
    # A run shorter than its window keeps it all, from its start.
    assert end["run"]["flight"]["from_ns"] == 0 and end["run"]["status"] == "finished"
    assert len(rows) == end["run"]["events"] > 0


@pytest.mark.browser
def stats_title(page, flight: dict, zh: bool = False) -> str:
    """The statistics panel's title for a trace whose run's ``flight`` is this: how long
    a window it holds (whole batches: a little over the 2 s chosen), as the flight bar."""
    if flight["from_ns"] > 0:
        kept = page.evaluate("async (ns) => (await import('/static/js/format.js'))"
                             ".formatDuration(ns)", flight["to_ns"] - flight["from_ns"])
        return f"统计 · 仅最后 {kept}" if zh else f"Statistics · the last {kept} only"
    return "统计 · 整个运行" if zh else "Statistics · whole run"


def test_the_page_runs_a_flight_recorded_demo_and_opens_its_snapshot(server, page):
    from .conftest import choose_demo, header_says, header_texts, record_header, state

    page.goto(server.url + "/")
    choose_demo(page, "gevent_unpatched_sleep", eat_seconds=1.5, play_seconds=1)
    assert page.get_by_test_id("flight-block").is_hidden()  # only with a window
    page.get_by_test_id("flight-window").select_option("2s")
    page.get_by_test_id("flight-block").select_option("200ms")
    page.get_by_test_id("run").click()
    bar = page.get_by_test_id("flight-bar")
    bar.wait_for(state="visible", timeout=20_000)
    page.wait_for_function("window.coroscope.status === 'running'")
    text = page.get_by_test_id("flight-text").inner_text()
    assert text.startswith("Flight recorder: keeping the last 2 s · "), text
    assert "a snapshot on a block over 200 ms" in text
    # Events are shown when it ends: while it goes, the timeline holds none.
    assert state(page)["events"] == 0
    page.get_by_test_id("snapshot").click()
    page.get_by_test_id("flight-snap").first.wait_for(timeout=20_000)
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=60_000)
    page.evaluate("window.coroscope.redraw()")  # the ended run's frame, now
    s = state(page)
    assert s["seqOk"] is True and s["lastError"] is None and s["events"] > 0
    assert {t["name"] for t in s["tasks"]} >= {"main", "eat", "play"}
    info = server.get(f"/api/runs/{s['runId']}")[1]
    assert page.get_by_test_id("flight-text").inner_text().startswith("Flight recorder: ")
    assert page.get_by_test_id("snapshot").is_hidden()
    # The statistics say whether they are of a window that starts mid-run (the ring drops
    # whole batches: a run this short may keep all of its few).
    title = page.get_by_test_id("stats-title")
    assert title.inner_text() == stats_title(page, info["flight"])
    # One asked for, one (at least) on eat's block; each opens as a snapshot.
    snaps = page.get_by_test_id("flight-snap")
    assert snaps.count() == len(info["flight"]["snapshots"]) >= 2
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "flight-recorder.png"))
    # Every text the header shows while the snapshot opens: it is opened, not run.
    record_header(page)
    snaps.first.click()
    page.wait_for_function("window.coroscope.status === 'snapshot'", timeout=20_000)
    assert page.get_by_test_id("flight-text").inner_text().startswith(
        "A flight recorder's window: from ")
    header_says(page, "snapshot of the last 2 s: ")
    seen = header_texts(page)
    assert seen and not any(text.startswith("running") for text in seen), seen
    snap = server.get(f"/api/runs/{state(page)['runId']}")[1]["flight"]
    assert title.inner_text() == stats_title(page, snap)
    page.get_by_test_id("lang").click()  # 中文: the bar too
    assert page.get_by_test_id("flight-text").inner_text().startswith("飞行记录器的窗口：")
    assert title.inner_text() == stats_title(page, snap, zh=True)
    assert page.get_by_test_id("flight-window").input_value() == "2s"
    assert "飞行记录" in page.get_by_test_id("flight-window").inner_text()
    page.get_by_test_id("lang").click()
    # In History: the run with its badge, and the snapshots.
    page.get_by_test_id("history").click()
    panel = page.get_by_test_id("history-panel")
    panel.locator(".badge.flight").first.wait_for(timeout=20_000)
    assert panel.locator(".badge.status-snapshot").count() >= 2
    # A window that starts mid-run (as a longer run keeps): its statistics say so.
    _, trace = server.get(f"/api/runs/{s['runId']}/trace.json")
    trace["run"]["flight"] = dict(trace["run"]["flight"], from_ns=500 * MS, to_ns=2600 * MS)
    assert page.evaluate("(t) => window.coroscope.loadTrace(t)", trace) is True
    assert title.inner_text() == "Statistics · the last 2.100 s only"

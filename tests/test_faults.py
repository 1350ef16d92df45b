"""Faults never take the dashboard down: each run ends with its cause, others go on."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from .conftest import follow_run, validate_trace, ws_connect


def start(server, demo: str, **params) -> dict:
    status, run = server.request("POST", "/api/runs", {"demo": demo, "params": params})
    assert status == 201, run
    return run


def ended(server, run: dict, timeout: float = 20) -> tuple[dict, dict]:
    done = server.wait_run(run["id"], timeout=timeout)
    status, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    assert status == 200
    validate_trace(trace)  # the trace so far stays exportable, whatever happened
    return done, trace


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it has state Z in /proc.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().split(") ", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def test_a_demo_that_raises_ends_in_error_with_its_traceback(fault_server):
    done, trace = ended(fault_server, start(fault_server, "fault_raises"))
    assert done["status"] == "error"
    assert done["error"].startswith("Traceback (most recent call last):")
    assert "raises.py" in done["error"] and "app/runner" not in done["error"]
    assert done["error"].rstrip().endswith("ValueError: this demo fails on purpose")
    assert [e["text"] for e in trace["events"] if e["kind"] == "stdout"] == ["about to fail"]


def test_a_hanging_demo_is_ended_by_the_time_limit(fault_server):
    t0 = time.monotonic()
    done, trace = ended(fault_server, start(fault_server, "fault_hangs"))
    assert done["status"] == "limit" and done["error"] == "time limit reached: 3 s"
    assert 2.9 < time.monotonic() - t0 < 6
    # A plain loop, no gevent: no Hub is starved, so no busy span (tests/test_cli_run.py
    # has the busy greenlet that does get one).
    assert not any(e["kind"] == "block" for e in trace["events"])


def test_a_stdout_flood_is_ended_by_the_output_limit(fault_server):
    done, trace = ended(fault_server, start(fault_server, "fault_floods"))
    assert done["status"] == "limit"
    assert done["error"] == "output limit reached: more than 65536 characters printed"
    lines = [e["text"] for e in trace["events"] if e["kind"] == "stdout"]
    assert lines[:2] == ["line 0 of a flood", "line 1 of a flood"]
    assert lines == [f"line {i} of a flood" for i in range(len(lines))]  # nothing lost


def test_endless_switching_is_ended_by_the_event_limit(fault_server):
    done, trace = ended(fault_server, start(fault_server, "fault_switches_forever"))
    assert done["status"] == "limit"
    assert done["error"] == "event limit reached: more than 200000 events"
    assert 200_000 < len(trace["events"]) < 2_000_000


def test_a_demo_that_kills_itself_is_recorded_as_crashed(fault_server):
    done, trace = ended(fault_server, start(fault_server, "fault_kills_itself"))
    assert done["status"] == "crashed"
    assert done["error"].startswith("the run's process killed by signal SIGKILL")


def test_a_real_time_signal_is_named_and_the_run_ends(fault_server):
    done, trace = ended(fault_server, start(fault_server, "fault_rt_signal"))
    assert done["status"] == "crashed"
    assert done["error"].startswith("the run's process killed by signal SIGRTMIN+1 ")


def test_a_forked_copy_ends_with_the_run_and_sends_no_trace(fault_server):
    # The copy used to keep the events pipe open and then hang for ever in the flusher's
    # shutdown: the run ended only when the time limit killed the process group.
    done, trace = ended(fault_server, start(fault_server, "fault_fork_returns"))
    printed = [e["text"] for e in trace["events"] if e["kind"] == "stdout"]
    assert done["status"] == "finished" and len(printed) == 1, (done, printed)
    copy = int(printed[0].split()[1])
    # The run is bounded: what the demo forked ends with it (the copy would sleep 2 s).
    deadline = time.monotonic() + 1
    while alive(copy) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(copy)
    _, again = fault_server.get(f"/api/runs/{done['id']}/trace.json")
    assert again == trace  # nothing arrived from the copy


def test_a_non_utf8_file_name_is_printed_escaped(fault_server):
    done, trace = ended(fault_server, start(fault_server, "fault_prints_surrogate"))
    printed = [e["text"] for e in trace["events"] if e["kind"] == "stdout"]
    assert printed == ["found caf\\udce9.txt", "still here"]
    # The demo's own error, not coroscope's, though its traceback quotes the name.
    assert done["status"] == "error", done
    assert "ValueError: cannot open caf\\udce9.txt" in done["error"]


def test_a_memory_hog_is_ended_by_the_memory_limit(fault_server):
    done, _ = ended(fault_server, start(fault_server, "fault_memory_hog"))
    assert done["status"] == "limit"
    assert done["error"].startswith("memory limit reached (512 MiB of address space)")


def test_cancel_kills_the_whole_process_group_and_frees_its_port(fault_server):
    run = start(fault_server, "fault_forks")
    deadline = time.monotonic() + 10
    grandchild = None
    while grandchild is None and time.monotonic() < deadline:
        _, trace = fault_server.get(f"/api/runs/{run['id']}/trace.json")
        for e in trace["events"]:
            if e["kind"] == "stdout" and e["text"].startswith("grandchild "):
                grandchild = int(e["text"].split()[1])
        time.sleep(0.05)
    assert grandchild is not None and alive(grandchild)
    status, done = fault_server.request("POST", f"/api/runs/{run['id']}/cancel")
    assert status == 200 and done["status"] == "cancelled"
    time.sleep(0.2)
    assert not alive(grandchild)
    assert children_of(fault_server.proc.pid) == []  # no zombie left unreaped

    run = start(fault_server, "fault_listens")
    port = None
    while port is None and time.monotonic() < deadline + 10:
        _, trace = fault_server.get(f"/api/runs/{run['id']}/trace.json")
        port = next((int(e["text"].split()[-1]) for e in trace["events"]
                     if e["kind"] == "stdout"), None)
        time.sleep(0.05)
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    fault_server.request("POST", f"/api/runs/{run['id']}/cancel")
    time.sleep(0.2)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_faults_leave_other_runs_untouched(fault_server):
    bad = [start(fault_server, d) for d in ("fault_kills_itself", "fault_raises")]
    ws = ws_connect(fault_server)
    try:
        _, rows, end = follow_run(ws, {"type": "start", "demo": "gevent_eat_play",
                                       "params": {"eat_seconds": 0.3, "play_seconds": 0.1}})
    finally:
        ws.close()
    assert end["run"]["status"] == "finished" and len(rows) == end["run"]["events"]
    for run in bad:
        ended(fault_server, run)
    assert fault_server.get("/api/demos")[0] == 200


def test_too_many_runs_at_once_is_429(fault_server):
    runs = [start(fault_server, "fault_hangs") for _ in range(4)]
    status, body = fault_server.request("POST", "/api/runs", {"demo": "fault_hangs"})
    assert status == 429
    assert body["error"].startswith("too many runs at once (4); at most 4 may run together")
    for run in runs:
        fault_server.request("POST", f"/api/runs/{run['id']}/cancel")


def test_a_viewer_leaving_mid_stream_does_not_stop_the_run(fault_server):
    ws = ws_connect(fault_server)
    ws.send(json.dumps({"type": "start", "demo": "gevent_eat_play",
                        "params": {"eat_seconds": 0.5, "play_seconds": 0.1}}))
    run_id = json.loads(ws.recv())["run"]["id"]
    ws.close()
    done = fault_server.wait_run(run_id)
    assert done["status"] == "finished"
    _, trace = fault_server.get(f"/api/runs/{run_id}/trace.json")
    assert trace["run"]["events"] == done["events"] > 10


def test_sigterm_on_the_server_leaves_no_children(tmp_path):
    from .conftest import Server

    srv = Server(tmp_path / "s.log", "--extra-demos",
                 str(Path(__file__).parent / "fault_demos" / "registry.py"))
    try:
        run = start(srv, "fault_hangs")
        time.sleep(0.3)
        kids = children_of(srv.proc.pid)
        assert kids
    finally:
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(10)
        srv.log.close()
    time.sleep(0.2)
    assert not any(alive(k) for k in kids), "a run outlived its server"
    assert run["id"]

"""Every file of the run history is untrusted input (see app/store.py).

Whatever lies in a data dir (a description of the wrong shape, a FIFO, a device, a huge
file, garbage batches), the real server starts, answers every request in JSON without a
500, lists what it can trust and lets a bad run be deleted. One server per data dir; a
`coroscope run` may write its run beside a server, and neither marks the other's live run
crashed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from .conftest import ROOT, Server, follow_run, validate_trace, ws_connect

STATUSES = "starting, running, finished, error, cancelled, limit, crashed"
ROWS = [[0, 2, 0, None, {"name": "main", "kind": "main"}],
        [10, 4, 0, None, "hello"],
        [20, 3, 0, None, None]]


def rid(n: int) -> str:
    return f"r{n:012x}"


def meta_of(run_id: str, **fields) -> dict:
    return {"id": run_id, "demo": None, "title": f"stored {run_id}", "params": {},
            "status": "finished", "error": None, "started_at": "2024-05-01T12:00:00+00:00",
            "duration_ns": 1000, "events": len(ROWS), "python": "3.11.7", **fields}


def batch(seq: int, rows: list) -> bytes:
    return b'{"type":"events","seq":%d,"n":%d,"rows":%s}' % (
        seq, len(rows), json.dumps(rows, separators=(",", ":")).encode())


GOOD_EVENTS = batch(0, ROWS) + b"\n"


def stored(data, run_id: str, meta=None, events: bytes | None = GOOD_EVENTS):
    """A run folder as a user (or a damaged disk) left it; ``meta``: JSON-able or bytes."""
    folder = data / "runs" / run_id
    folder.mkdir(parents=True)
    if meta is not None:
        (folder / "meta.json").write_bytes(meta if isinstance(meta, bytes)
                                           else json.dumps(meta).encode())
    if events is not None:
        (folder / "events.jsonl").write_bytes(events)
    return folder


def listed(srv: Server) -> dict[str, dict]:
    status, runs = srv.get("/api/runs")
    assert status == 200, runs
    ids = [r["id"] for r in runs]
    assert len(ids) == len(set(ids)), ids  # each run once
    return {r["id"]: r for r in runs}


def assert_deleted(srv: Server, data, run_id: str) -> None:
    assert srv.request("DELETE", f"/api/runs/{run_id}") == (200, {"deleted": run_id})
    assert srv.get(f"/api/runs/{run_id}") == (404, {"error": f"no run {run_id!r}"})
    assert not (data / "runs" / run_id).exists()


def assert_still_serving(srv: Server) -> None:
    assert srv.proc.poll() is None
    assert srv.get("/api/demos")[0] == 200
    assert "Traceback" not in srv.output(), srv.output()


def warnings(srv: Server) -> list[str]:
    return [line for line in srv.output().splitlines() if line.startswith("coroscope: history")]


def test_a_description_that_is_not_an_object_does_not_stop_the_server(tmp_path):
    """`[]`, `"hello"`, and a running run whose batch has no "n": the server used to die
    at start-up in _mark_interrupted / events_on_disk."""
    data = tmp_path / "data"
    stored(data, rid(1), b"[]")
    stored(data, rid(2), b'"hello"')
    stored(data, rid(3), meta_of(rid(3), status="running", events=0),
           GOOD_EVENTS + b'{"type":"events","seq":3}\n')
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        runs = listed(srv)
        for n, what in ((1, "an array"), (2, "a string")):
            assert runs[rid(n)] == {
                "id": rid(n), "demo": None, "error": f"unreadable: meta.json holds {what}, "
                "not a run's description", "started_at": None, "duration_ns": None,
                "params": {}, "events": 0, "status": "crashed", "incomplete": True}
            assert srv.get(f"/api/runs/{rid(n)}")[0] == 200
        cut = runs[rid(3)]
        assert cut["status"] == "crashed" and cut["incomplete"] is True and cut["events"] == 3
        assert cut["error"] == ("incomplete: the server stopped while this run was running; "
                                "3 events were recorded up to then\nincomplete: events.jsonl "
                                "line 2 is not an event batch; 3 events kept")
        # Marked on disk by the server that holds the data dir.
        on_disk = json.loads((data / "runs" / rid(3) / "meta.json").read_text())
        assert on_disk["status"] == "crashed" and on_disk["events"] == 3
        status, trace = srv.get(f"/api/runs/{rid(3)}/trace.json")
        assert status == 200 and len(trace["events"]) == 3
        assert sorted(warnings(srv)) == [
            f"coroscope: history: run {rid(1)}: meta.json holds an array, not a run's "
            "description",
            f"coroscope: history: run {rid(2)}: meta.json holds a string, not a run's "
            "description",
            f"coroscope: history: run {rid(3)}: events.jsonl line 2 is not an event batch"]
        for n in (1, 2, 3):
            assert_deleted(srv, data, rid(n))
        assert_still_serving(srv)
    finally:
        srv.stop()


def test_descriptions_with_wrong_fields_are_listed_under_their_folder_and_deletable(tmp_path):
    """`{}`, an integer started_at beside a string one, non-string title or status, no id,
    someone else's id: GET /api/runs was a 500 and DELETE could not reach them."""
    data = tmp_path / "data"
    stored(data, rid(1), {})
    stored(data, rid(2), meta_of(rid(2), started_at=5))
    stored(data, rid(3), meta_of(rid(3), title=7))
    stored(data, rid(4), meta_of(rid(4), status=5))
    stored(data, rid(5), meta_of(rid(5), status=["running"]))
    no_id = meta_of(rid(6))
    del no_id["id"]
    stored(data, rid(6), no_id)
    stored(data, rid(7), meta_of(rid(0xfff)))  # says it is another run
    stored(data, rid(8), meta_of(rid(8), params="x", events=-1, source=3))
    stored(data, rid(9), meta_of(rid(9)))  # a good one
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        runs = listed(srv)
        assert sorted(runs) == [rid(n) for n in range(1, 10)]
        assert runs[rid(1)]["status"] == "crashed" and runs[rid(1)]["incomplete"] is True
        assert runs[rid(1)]["error"] == "unreadable: meta.json has no status"
        assert runs[rid(2)]["started_at"] is None and runs[rid(2)]["status"] == "finished"
        assert "title" not in runs[rid(3)] and runs[rid(3)]["status"] == "finished"
        assert runs[rid(4)]["status"] == "crashed" and runs[rid(4)]["title"] == f"stored {rid(4)}"
        assert runs[rid(4)]["error"] == f"unreadable: meta.json: status 5 is not one of {STATUSES}"
        assert runs[rid(5)]["error"] == ("unreadable: meta.json: status ['running'] is not one "
                                         f"of {STATUSES}")
        assert runs[rid(6)]["status"] == "finished" and runs[rid(7)]["status"] == "finished"
        assert rid(0xfff) not in runs
        assert runs[rid(8)]["params"] == {} and runs[rid(8)]["events"] == 0
        assert runs[rid(9)] == meta_of(rid(9))
        # Newest first, the undated last.
        order = [r["id"] for r in srv.get("/api/runs")[1]]
        assert order.index(rid(9)) < order.index(rid(2))
        assert order.index(rid(9)) < order.index(rid(1))
        # Each opens, exports, renames.
        for n in range(1, 10):
            status, run = srv.get(f"/api/runs/{rid(n)}")
            assert status == 200 and run["id"] == rid(n)
            assert srv.get(f"/api/runs/{rid(n)}/trace.json")[0] == 200
            assert srv.get(f"/api/runs/{rid(n)}/trace.perfetto.json")[0] == 200
        status, run = srv.request("PATCH", f"/api/runs/{rid(1)}", {"title": "found again"})
        assert status == 200 and run["title"] == "found again" and run["status"] == "crashed"
        assert listed(srv)[rid(1)]["title"] == "found again"
        assert len(warnings(srv)) == 8  # one line a bad run, however often it is listed
        assert warnings(srv)[0].startswith("coroscope: history: run r")
        for n in range(1, 10):
            assert_deleted(srv, data, rid(n))
        assert srv.get("/api/runs") == (200, [])
        assert_still_serving(srv)
    finally:
        srv.stop()


def _timed_get(srv: Server, path: str, timeout: float = 20.0) -> tuple[int, dict]:
    """A GET that must be answered: a FIFO opened for reading used to block the server."""
    try:
        with urllib.request.urlopen(srv.url + path, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_a_fifo_is_refused_without_blocking_the_server(tmp_path):
    data = tmp_path / "data"
    os.mkfifo(stored(data, rid(1), meta_of(rid(1)), events=None) / "events.jsonl")
    os.mkfifo(stored(data, rid(2), None, events=None) / "meta.json")
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_bytes(GOOD_EVENTS)
    (stored(data, rid(3), meta_of(rid(3)), events=None) / "events.jsonl").symlink_to(elsewhere)
    os.mkfifo(data / "runs" / rid(4))  # named like a run, not a folder: skipped
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        t0 = time.monotonic()
        status, run = _timed_get(srv, f"/api/runs/{rid(1)}")
        assert status == 200, run
        assert time.monotonic() - t0 < 15  # answered, not timed out (a loaded machine)
        assert run["status"] == "finished" and run["incomplete"] is True and run["events"] == 0
        assert run["error"] == ("incomplete: events.jsonl is a FIFO, not a regular file; "
                                "0 events kept")
        assert _timed_get(srv, f"/api/runs/{rid(1)}/trace.json")[0] == 200
        runs = listed(srv)
        assert sorted(runs) == [rid(1), rid(2), rid(3)]
        assert runs[rid(1)]["incomplete"] is True  # what opening it found
        assert runs[rid(2)]["error"] == "unreadable: meta.json is a FIFO, not a regular file"
        status, run = _timed_get(srv, f"/api/runs/{rid(3)}")
        assert run["error"] == "incomplete: events.jsonl is a symbolic link; 0 events kept"
        assert f"coroscope: history: run {rid(4)}: skipped: it is not a folder" in warnings(srv)
        assert srv.request("DELETE", f"/api/runs/{rid(4)}") == (404, {"error":
                                                                     f"no run {rid(4)!r}"})
        for n in (1, 2, 3):
            assert_deleted(srv, data, rid(n))
        assert elsewhere.read_bytes() == GOOD_EVENTS
        assert_still_serving(srv)
    finally:
        srv.stop()


def test_a_device_is_refused(tmp_path):
    data = tmp_path / "data"
    null = os.makedev(1, 3)  # /dev/null's numbers: nothing to read, but not a file
    try:
        os.mknod(stored(data, rid(1), meta_of(rid(1)), events=None) / "events.jsonl",
                 0o600 | stat.S_IFCHR, null)
        os.mknod(stored(data, rid(2), None, events=None) / "meta.json",
                 0o600 | stat.S_IFCHR, null)
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD")
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        runs = listed(srv)
        assert runs[rid(2)]["error"] == ("unreadable: meta.json is a character device, not a "
                                         "regular file")
        status, run = _timed_get(srv, f"/api/runs/{rid(1)}")
        assert status == 200 and run["error"] == ("incomplete: events.jsonl is a character "
                                                  "device, not a regular file; 0 events kept")
        for n in (1, 2):
            assert_deleted(srv, data, rid(n))
        assert_still_serving(srv)
    finally:
        srv.stop()


def test_huge_files_are_refused_unread(tmp_path):
    data = tmp_path / "data"
    with open(stored(data, rid(1), meta_of(rid(1)), events=None) / "events.jsonl", "wb") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB of zeros that take no room
    with open(stored(data, rid(2), None) / "meta.json", "wb") as f:
        f.truncate(17 << 20)
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        status, run = _timed_get(srv, f"/api/runs/{rid(1)}")
        assert status == 200 and run["events"] == 0 and run["incomplete"] is True
        assert run["error"] == ("incomplete: events.jsonl is 1073741824 bytes, more than the "
                                "512 MiB it may have; 0 events kept")
        runs = listed(srv)
        assert runs[rid(2)]["error"] == ("unreadable: meta.json is 17825792 bytes, more than "
                                         "the 16 MiB it may have")
        for n in (1, 2):
            assert_deleted(srv, data, rid(n))
        assert_still_serving(srv)
    finally:
        srv.stop()


def test_garbage_batches_keep_the_run_up_to_the_first_bad_one(tmp_path):
    """Lines that are not batches, rows that are not rows, a seq gap: trace.json and the
    websocket replay used to fail (a 500, a dead socket, or a stream with a gap)."""
    data = tmp_path / "data"
    more = [[30, 4, 0, None, "more"]]
    cases = {
        1: (b"hello\n", 3, "line 2 is not an event batch"),
        2: (batch(3, [5]) + b"\n", 3, "line 2 holds a row that is not an event"),
        3: (batch(3, [[30]]) + b"\n", 3, "line 2 holds a row that is not an event"),
        4: (batch(3, [[30, 5, 0, None, "not a block"]]) + b"\n", 3,
            "line 2 holds a row that is not an event"),
        5: (batch(9, more) + b"\n", 3, "line 2 starts at event 9, expected 3"),
        6: (b'{"type":"events","seq":3,"n":2,"rows":[[30,4,0,null,"x"]]}\n', 3,
            "line 2 does not hold the 2 rows its header says"),
        7: (b'{"type":"events","seq":3,"n":1,"rows":[[30,4,0,null,"x"]\n', 3,
            "line 2 is not JSON"),
    }
    for n, (tail, _, _) in cases.items():
        stored(data, rid(n), meta_of(rid(n), events=4), GOOD_EVENTS + tail + batch(4, more)
               + b"\n")
    stored(data, rid(8), meta_of(rid(8), events=4), GOOD_EVENTS + batch(3, more) + b"\n")
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        for n, (_, kept, why) in cases.items():
            status, run = srv.get(f"/api/runs/{rid(n)}")
            assert status == 200, run
            assert run["events"] == kept and run["incomplete"] is True
            assert run["error"] == f"incomplete: events.jsonl {why}; {kept} events kept"
            status, trace = srv.get(f"/api/runs/{rid(n)}/trace.json")
            assert status == 200, trace
            validate_trace(trace)
            assert len(trace["events"]) == kept and trace["run"]["incomplete"] is True
            assert srv.get(f"/api/runs/{rid(n)}/trace.perfetto.json")[0] == 200
            ws = ws_connect(srv)
            try:
                frame, rows, end = follow_run(ws, {"type": "subscribe", "run": rid(n)})
            finally:
                ws.close()
            assert rows == ROWS and end["run"]["events"] == kept
            assert listed(srv)[rid(n)]["incomplete"] is True
        status, run = srv.get(f"/api/runs/{rid(8)}")  # the good one, for comparison
        assert status == 200 and run["events"] == 4 and "incomplete" not in run
        assert srv.get(f"/api/runs/{rid(8)}/trace.json")[1]["events"][3]["text"] == "more"
        assert_still_serving(srv)
    finally:
        srv.stop()


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_history_is_private(tmp_path):
    parent = tmp_path / "home"
    parent.mkdir(mode=0o755)
    data = parent / "share" / "coroscope"
    old = os.umask(0o022)
    try:
        srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    finally:
        os.umask(old)
    try:
        _, run = srv.request("POST", "/api/runs", {"demo": "greenlet_eat_play", "params": {}})
        srv.wait_run(run["id"])
        assert srv.request("PATCH", f"/api/runs/{run['id']}", {"title": "x"})[0] == 200
        folder = data / "runs" / run["id"]
        assert _mode(parent) == 0o755  # the user's own folder is left as it was
        assert (_mode(data), _mode(data / "runs"), _mode(folder)) == (0o700, 0o700, 0o700)
        assert _mode(data / "server.lock") == 0o600
        assert (_mode(folder / "meta.json"), _mode(folder / "events.jsonl")) == (0o600, 0o600)
        assert sorted(p.name for p in folder.iterdir()) == ["events.jsonl", "meta.json"]
    finally:
        srv.stop()
    # A runs folder an older version made readable by all is made private.
    os.chmod(data / "runs", 0o755)
    srv = Server(tmp_path / "s2.log", "--data-dir", str(data))
    try:
        assert _mode(data / "runs") == 0o700 and listed(srv)[run["id"]]["title"] == "x"
    finally:
        srv.stop()


def _cli(*args: str, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "app", *args], cwd=cwd,
                            env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1"),
                            **kwargs)


def test_a_second_server_on_the_same_history_exits_at_once(tmp_path):
    data = tmp_path / "data"
    srv = Server(tmp_path / "a.log", "--data-dir", str(data))
    try:
        params = {"variant": "sync", "tasks": 40, "seconds": 1.0}  # 40 s: live throughout
        _, run = srv.request("POST", "/api/runs", {"demo": "gevent_sync_async", "params": params})
        _wait("the run to be running",
              lambda: srv.get(f"/api/runs/{run['id']}")[1]["status"] == "running")
        second = _cli("serve", "--no-browser", "--port", "0", "--data-dir", str(data),
                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            out, err = second.communicate(timeout=60)
        finally:
            if second.poll() is None:  # the old code served on: do not leak it
                second.kill()
                second.communicate()
        assert second.returncode == 1 and out == ""
        assert err == (f"coroscope: another coroscope server (pid {srv.proc.pid}) is using the "
                       f"history in {data}; stop it, or start this one with a history of its "
                       "own: --data-dir DIR\n")
        assert (data / "server.lock").read_text() == f"{srv.proc.pid} {srv.url}/\n"
        # The first one's live run was not touched.
        on_disk = json.loads((data / "runs" / run["id"] / "meta.json").read_text())
        assert on_disk["status"] == "starting"
        assert srv.get(f"/api/runs/{run['id']}")[1]["status"] == "running"
        status, cancelled = srv.request("POST", f"/api/runs/{run['id']}/cancel")
        assert status == 200 and cancelled["status"] == "cancelled"
        assert_still_serving(srv)
    finally:
        srv.stop()
    # Once it is gone, a server may use that history again.
    srv = Server(tmp_path / "b.log", "--data-dir", str(data))
    try:
        assert listed(srv)[run["id"]]["status"] == "cancelled"
    finally:
        srv.stop()


WAITS = """\
import os, time
print("waiting", flush=True)
deadline = time.monotonic() + 120
while not os.path.exists("go") and time.monotonic() < deadline:
    time.sleep(0.05)
print("done")
"""


def _wait(what, predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_a_cli_run_beside_a_server_is_running_then_finished_never_crashed(tmp_path):
    """`coroscope run` writes its run into the history a server uses. Started before the
    server, the server does not mark it crashed; listed while it runs, it is running; a
    rename made meanwhile survives its end."""
    data = tmp_path / "data"
    (tmp_path / "prog.py").write_text(WAITS)
    with open(tmp_path / "cli.log", "w") as log:
        cli = _cli("run", "--data-dir", str(data), "--out", "t.json", "prog.py", cwd=tmp_path,
                   stdout=log, stderr=subprocess.STDOUT)
    srv = None
    try:
        folder = _wait("the CLI run's folder", lambda: [
            p for p in (data / "runs").glob("r*") if (p / "meta.json").exists()]
            if (data / "runs").exists() else [])[0]
        srv = Server(tmp_path / "s.log", "--data-dir", str(data))
        for _ in range(3):  # listed running, again and again, never crashed
            run = listed(srv)[folder.name]
            assert run["status"] == "running" and "incomplete" not in run, run
            time.sleep(0.2)
        assert json.loads((folder / "meta.json").read_text())["status"] == "starting"
        status, run = srv.request("PATCH", f"/api/runs/{folder.name}", {"title": "renamed"})
        assert status == 200 and run["title"] == "renamed" and run["status"] == "running"
        (tmp_path / "go").touch()
        assert cli.wait(60) == 0, (tmp_path / "cli.log").read_text()
        run = listed(srv)[folder.name]
        assert run["status"] == "finished" and run["title"] == "renamed" and run["events"] > 0
        assert "incomplete" not in run
        status, trace = srv.get(f"/api/runs/{folder.name}/trace.json")
        assert status == 200 and len(trace["events"]) == run["events"]
        assert [e["text"] for e in trace["events"] if e["kind"] == "stdout"] == ["waiting", "done"]
        assert_still_serving(srv)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        if srv is not None:
            srv.stop()


def test_a_cli_recording_does_not_mark_the_servers_live_run_crashed(tmp_path):
    data = tmp_path / "data"
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        params = {"variant": "sync", "tasks": 40, "seconds": 1.0}  # 40 s: live throughout
        _, live = srv.request("POST", "/api/runs", {"demo": "gevent_sync_async",
                                                    "params": params})
        _wait("the run to be running",
              lambda: srv.get(f"/api/runs/{live['id']}")[1]["status"] == "running")
        record = _cli("record", "greenlet_eat_play", "--out", str(tmp_path / "t.json"),
                      "--data-dir", str(data), cwd=ROOT, stdout=subprocess.PIPE,
                      stderr=subprocess.STDOUT, text=True)
        out, _ = record.communicate(timeout=120)
        assert record.returncode == 0, out
        on_disk = json.loads((data / "runs" / live["id"] / "meta.json").read_text())
        assert on_disk["status"] == "starting"  # not rewritten by the CLI's store
        runs = listed(srv)
        assert runs[live["id"]]["status"] == "running"
        recorded = [r for r in runs.values() if r["demo"] == "greenlet_eat_play"]
        assert len(recorded) == 1 and recorded[0]["status"] == "finished"
        status, cancelled = srv.request("POST", f"/api/runs/{live['id']}/cancel")
        assert status == 200 and cancelled["status"] == "cancelled"
        assert_still_serving(srv)
    finally:
        srv.stop()


def test_run_open_shows_the_run_in_the_server_already_serving_the_history(tmp_path):
    """`coroscope run --open` beside a server on the same history: the server cannot be
    started twice, so the run (saved in that history) is opened in the running one."""
    import os
    import stat
    import subprocess
    import sys
    import textwrap

    from .conftest import ROOT, Server

    data = tmp_path / "history"
    srv = Server(tmp_path / "server.log", "--data-dir", str(data))
    try:
        script = tmp_path / "prog.py"
        script.write_text(textwrap.dedent("""
            import greenlet
            g = greenlet.greenlet(lambda: print('in g'))
            g.switch()
        """))
        opened = tmp_path / "opened.txt"
        browser = tmp_path / "browser.sh"
        browser.write_text(f"#!/bin/sh\necho \"$1\" >> {opened}\n")
        browser.chmod(browser.stat().st_mode | stat.S_IXUSR)
        result = subprocess.run(
            [sys.executable, "-m", "app", "run", "--open", "--data-dir", str(data),
             "--out", str(tmp_path / "t.json"), str(script)],
            cwd=tmp_path, capture_output=True, text=True, timeout=60,
            env=dict(os.environ, PYTHONPATH=str(ROOT), BROWSER=f"{browser} %s"))
        assert result.returncode == 0, result.stderr
        assert "in g" in result.stdout
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        url = opened.read_text().strip()
        assert url.startswith(f"{srv.url}/#run=r"), url
        run_id = url.split("#run=")[1]
        assert f"shown by the server already running (pid {srv.proc.pid}): {url}" \
            in result.stderr
        status, run = srv.get(f"/api/runs/{run_id}")
        assert status == 200 and run["status"] == "finished" and run["title"] == "prog.py"
    finally:
        srv.stop()

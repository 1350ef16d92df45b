"""Every file of the run history is untrusted input (see app/history.py).

Whatever lies in a data dir (a description of the wrong shape, a FIFO, a device, a huge
file, garbage batches), the real server starts, answers every request in JSON without a
500, lists what it can trust and lets a bad run be deleted. One server per data dir; a
`coroscope run` may write its run beside a server, and neither marks the other's live run
crashed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from .conftest import ROOT, Poller, Server, follow_run, validate_trace, ws_connect

STATUSES = "starting, running, finished, error, cancelled, limit, crashed, snapshot"
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


@contextlib.contextmanager
def serving(tmp_path, data) -> Iterator[Server]:
    """A real server on the history ``data``; after the test's body, it must still serve."""
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        yield srv
        assert_still_serving(srv)
    finally:
        srv.stop()


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
    with serving(tmp_path, data) as srv:
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
    with serving(tmp_path, data) as srv:
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
    with serving(tmp_path, data) as srv:
        t0 = time.monotonic()
        status, run = _timed_get(srv, f"/api/runs/{rid(1)}")
        assert status == 200, run
        assert time.monotonic() - t0 < 15  # answered, not timed out (a loaded machine)
        assert run["status"] == "finished" and run["incomplete"] is True and run["events"] == 0
        assert run["error"] == ("incomplete: events.jsonl is a FIFO (named pipe), not a "
                                "regular file; 0 events kept")
        assert _timed_get(srv, f"/api/runs/{rid(1)}/trace.json")[0] == 200
        runs = listed(srv)
        assert sorted(runs) == [rid(1), rid(2), rid(3)]
        assert runs[rid(1)]["incomplete"] is True  # what opening it found
        assert runs[rid(2)]["error"] == ("unreadable: meta.json is a FIFO (named pipe), "
                                         "not a regular file")
        status, run = _timed_get(srv, f"/api/runs/{rid(3)}")
        assert run["error"] == "incomplete: events.jsonl is a symbolic link; 0 events kept"
        assert f"coroscope: history: run {rid(4)}: skipped: it is not a folder" in warnings(srv)
        assert srv.request("DELETE", f"/api/runs/{rid(4)}") == (404, {"error":
                                                                     f"no run {rid(4)!r}"})
        for n in (1, 2, 3):
            assert_deleted(srv, data, rid(n))
        assert elsewhere.read_bytes() == GOOD_EVENTS


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
    with serving(tmp_path, data) as srv:
        runs = listed(srv)
        assert runs[rid(2)]["error"] == ("unreadable: meta.json is a character device, not a "
                                         "regular file")
        status, run = _timed_get(srv, f"/api/runs/{rid(1)}")
        assert status == 200 and run["error"] == ("incomplete: events.jsonl is a character "
                                                  "device, not a regular file; 0 events kept")
        for n in (1, 2):
            assert_deleted(srv, data, rid(n))


def test_huge_files_are_refused_unread(tmp_path):
    data = tmp_path / "data"
    with open(stored(data, rid(1), meta_of(rid(1)), events=None) / "events.jsonl", "wb") as f:
        f.truncate(1 << 30)  # sparse: 1 GiB of zeros that take no room
    with open(stored(data, rid(2), None) / "meta.json", "wb") as f:
        f.truncate(17 << 20)
    with serving(tmp_path, data) as srv:
        status, run = _timed_get(srv, f"/api/runs/{rid(1)}")
        assert status == 200 and run["events"] == 0 and run["incomplete"] is True
        assert run["error"] == ("incomplete: events.jsonl is 1073741824 bytes, more than the "
                                "512 MiB it may have; 0 events kept")
        runs = listed(srv)
        assert runs[rid(2)]["error"] == ("unreadable: meta.json is 17825792 bytes, more than "
                                         "the 16 MiB it may have")
        for n in (1, 2):
            assert_deleted(srv, data, rid(n))


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
    with serving(tmp_path, data) as srv:
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
        # The address with its edit secret: the file is this user's only (0600).
        lock = data / "server.lock"
        assert re.fullmatch(rf"{srv.proc.pid} {srv.url}/\?edit=[\w-]+\n", lock.read_text())
        assert lock.stat().st_mode & 0o077 == 0
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
    with serving(tmp_path, data) as srv:
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
        page = opened.read_text().strip()  # a private page that sends it on, not the url
        assert page.startswith("file://") and "edit" not in page
        url = re.search(r'location\.replace\("([^"]+)"\)', Path(page[7:]).read_text())[1]
        assert re.fullmatch(rf"{srv.url}/\?edit=[\w-]+#run=r[0-9a-f]{{12}}", url), url
        run_id = url.split("#run=")[1]
        assert f"shown by the server already running (pid {srv.proc.pid}): {url}" \
            in result.stderr
        status, run = srv.get(f"/api/runs/{run_id}")
        assert status == 200 and run["status"] == "finished" and run["title"] == "prog.py"
    finally:
        srv.stop()


def test_opening_a_big_stored_run_does_not_hold_the_server(tmp_path):
    """2M events (77 MB): opening it read and checked the whole file on the server's loop
    (its gevent.sleep(0) let no request in): every request waited 2.2 s here, and again
    ~150 ms on each later request for the run, which read it all again. Now it is read in
    slices that let others in, and held once read."""
    data = tmp_path / "data"
    events = 2_000_000
    folder = stored(data, rid(1), meta_of(rid(1), events=events), events=None)
    with open(folder / "events.jsonl", "wb") as f:
        for seq in range(0, events, 10_000):  # as a run writes them; half spawns
            rows = [[i * 10, 2, i, 0, {"name": "t", "kind": "greenlet"}] if i % 2
                    else [i * 10, 0, 1, 0, 12, "switch"]
                    for i in range(seq, min(events, seq + 10_000))]
            f.write(b'{"type":"events","seq":%d,"n":%d,"rows":%s}\n'
                    % (seq, len(rows), orjson.dumps(rows)))
    with serving(tmp_path, data) as srv:
        poller = Poller(srv.url + "/api/demos", every=0.01)
        poller.start()
        status, run = _timed_get(srv, f"/api/runs/{rid(1)}", timeout=120)
        assert status == 200 and run["events"] == events and "incomplete" not in run, run
        for _ in range(3):  # every later request for it read the file again
            assert _timed_get(srv, f"/api/runs/{rid(1)}")[1] == run
            assert srv.request("POST", f"/api/runs/{rid(1)}/cancel")[1] == run
        slowest = poller.stop().worst
        assert poller.count > 0 and not poller.failures
        assert slowest < 1.0, f"GET /api/demos waited {slowest:.2f} s for the stored run"
        # Held once read: a rename shows, and a delete lets it go.
        status, renamed = srv.request("PATCH", f"/api/runs/{rid(1)}", {"title": "big"})
        assert status == 200 and renamed == dict(run, title="big")
        assert srv.get(f"/api/runs/{rid(1)}")[1]["title"] == "big"
        assert listed(srv)[rid(1)] == dict(run, title="big")
        assert_deleted(srv, data, rid(1))


def test_a_cli_run_killed_beside_a_server_is_cut_short_by_its_process(tmp_path):
    """`coroscope run` killed (kill -9, out of memory) while a server shares its history:
    it was listed "the server stopped while this run was running" (the server never did),
    and every listing read its whole events file again (1.4 s for a big one). The server
    says which process stopped, and saves it so once."""
    data = tmp_path / "data"
    (tmp_path / "prog.py").write_text(WAITS)
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    cli = None
    try:
        with open(tmp_path / "cli.log", "w") as log:
            cli = _cli("run", "--data-dir", str(data), "--out", "t.json", "prog.py",
                       cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                       start_new_session=True)  # its group: the CLI and its child
        run_id = _wait("the CLI run listed running", lambda: next(
            (r["id"] for r in srv.get("/api/runs")[1] if r["status"] == "running"), None))
        os.killpg(cli.pid, signal.SIGKILL)
        cli.wait(30)
        run = _wait("the run listed cut short",
                    lambda: (r := listed(srv)[run_id])["status"] == "crashed" and r)
        assert run["incomplete"] is True
        assert run["error"] == ("incomplete: the process recording it (coroscope run/record) "
                                "stopped before the run ended; "
                                f"{run['events']} events were recorded up to then"), run
        on_disk = json.loads((data / "runs" / run_id / "meta.json").read_text())
        assert on_disk["status"] == "crashed" and on_disk["error"] == run["error"]
        assert listed(srv)[run_id] == run and srv.get(f"/api/runs/{run_id}")[1] == run
        status, trace = srv.get(f"/api/runs/{run_id}/trace.json")
        assert status == 200 and len(trace["events"]) == run["events"]
        assert_still_serving(srv)
    finally:
        if cli is not None and cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)
            cli.wait()
        srv.stop()


def test_beginning_a_run_waits_for_a_listing_glancing_at_its_events_file(tmp_path):
    """A listing meeting a run's new events file takes a shared lock on it for a moment
    (is it being written?); begin's LOCK_NB then failed: 2-6 runs in 20,000 were not saved
    in the history."""
    from app.history import RunStore

    store = RunStore(tmp_path / "data")
    folder = tmp_path / "data" / "runs" / rid(1)
    folder.mkdir()
    fd = os.open(folder / "events.jsonl", os.O_RDONLY | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_SH)  # the listing's glance, made long
    glance = threading.Timer(0.2, os.close, (fd,))
    glance.start()
    try:
        store.begin(meta_of(rid(1), status="starting", events=0))  # was BlockingIOError
        store.append(rid(1), batch(0, ROWS))
        store.end(meta_of(rid(1)))
    finally:
        glance.join()
    assert RunStore(tmp_path / "data").checked(store.meta(rid(1)))[1] == [batch(0, ROWS)]


def test_a_server_starting_while_run_open_looks_for_one_is_not_refused(tmp_path):
    """`coroscope run --open` looks for a server with a shared lock on server.lock, for a
    moment; a server starting then was refused ("another coroscope server (pid N) is using
    the history", N long gone): 302 of 5,000 starts."""
    from app.history import DataDirError, RunStore, server_holding

    data = tmp_path / "data"
    RunStore(data)
    (data / "server.lock").write_text("999999 http://127.0.0.1:1/\n")  # a server gone
    assert server_holding(data) is None
    fd = os.open(data / "server.lock", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_SH)  # the look, made long
    look = threading.Timer(0.02, os.close, (fd,))
    look.start()
    try:
        store = RunStore(data, server=True)  # was DataDirError
    finally:
        look.join()
    try:
        assert server_holding(data) == (str(os.getpid()), None)
        with pytest.raises(DataDirError, match=f"another coroscope server \\(pid {os.getpid()}"):
            RunStore(data, server=True)  # a server that holds it still refuses a second
    finally:
        os.close(store._lock_fd)

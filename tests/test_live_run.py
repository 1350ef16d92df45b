"""`coroscope run --live`: a script's switches in the dashboard while it runs, whether a
server already serves the history (it follows the run as the CLI writes it) or not (the
CLI serves the dashboard itself, and goes on serving once the script has ended)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import ROOT, Server, validate_trace, ws_connect

#: A script that prints, then switches greenlets for as long as the file `go` is absent:
#: the test sees its first batches live, then lets it end.
SCRIPT = """\
import os, time
from greenlet import greenlet

print('started', flush=True)


def ping():
    n = 0
    while not os.path.exists('go'):
        n += 1
        time.sleep(0.01)
        main.switch(n)


main = greenlet.getcurrent()
g = greenlet(ping)
while not g.dead:
    g.switch()
print('ended', flush=True)
"""


def cli_run(tmp_path: Path, data: Path, *extra: str) -> subprocess.Popen:
    (tmp_path / "prog.py").write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, "-m", "app", "run", "--live", "--no-browser", "--data-dir",
         str(data), "--out", str(tmp_path / "prog.json"), *extra, "prog.py"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1"))


def live_url(proc: subprocess.Popen) -> tuple[str, str]:
    """Where the CLI says the run is live (its first line on stderr): the server's
    address and the run's id. The address carries the server's edit secret."""
    line = proc.stderr.readline()
    m = re.search(r"coroscope: live.*: (http://127\.0\.0\.1:\d+)/\?edit=[\w-]+#run="
                  r"(r[0-9a-f]{12})$", line.strip())
    assert m, line + proc.stderr.read() if proc.poll() is not None else line
    return m[1], m[2]


def watch_live(server_like, run_id: str, tmp_path: Path) -> tuple[list, dict]:
    """Subscribe to the run while it goes on; rows must arrive before the script ends;
    then let it end and collect the rest."""
    ws = ws_connect(server_like)
    try:
        ws.send(json.dumps({"type": "subscribe", "run": run_id}))
        frame = json.loads(ws.recv())
        # live: "starting" until the script's process says hello (a loaded machine)
        assert frame["type"] == "run" and frame["run"]["status"] in ("starting", "running")
        rows: list = []
        while len([r for r in rows if r[1] == 0]) < 20:  # switches, while it runs
            msg = json.loads(ws.recv())
            assert msg["type"] == "events", msg
            assert msg["seq"] == len(rows)
            rows.extend(msg["rows"])
        assert not (tmp_path / "prog.json").exists()  # the script has not ended
        (tmp_path / "go").write_text("")
        while True:
            msg = json.loads(ws.recv())
            if msg["type"] == "end":
                return rows, msg
            assert msg["seq"] == len(rows)
            rows.extend(msg["rows"])
    finally:
        ws.close()


def stopped(proc: subprocess.Popen, timeout: float = 30) -> int:
    """The exit code of `proc`, asked to stop; if it is still running after `timeout`,
    the failure says where each of its threads was (PYTHONFAULTHANDLER: SIGABRT dumps)."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=30)
        raise AssertionError(f"still running {timeout} s after being asked to stop; "
                             f"its stderr:\n{err[-8000:]}") from None


class At:
    """What ws_connect needs of a server: its URLs."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.ws_url = self.url.replace("http://", "ws://") + "/ws"


def test_live_in_the_server_already_serving_the_history(tmp_path):
    data = tmp_path / "data"
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    try:
        proc = cli_run(tmp_path, data)
        try:
            url, run_id = live_url(proc)
            assert url == srv.url
            rows, end = watch_live(srv, run_id, tmp_path)
            assert proc.wait(60) == 0
        finally:
            proc.kill()
            proc.communicate()
        assert end["run"]["status"] == "finished" and end["run"]["events"] == len(rows)
        trace = json.loads((tmp_path / "prog.json").read_text())
        validate_trace(trace)
        assert [[e["t"], e["kind"]] for e in trace["events"]] == [
            [r[0], ["switch", "throw", "spawn", "finish", "stdout", "block", "unblock",
                    "taskinfo", "mark"][r[1]]] for r in rows]
        status, listed = srv.get("/api/runs")
        assert [r["status"] for r in listed if r["id"] == run_id] == ["finished"]
    finally:
        srv.stop()


def test_live_without_a_server_serves_the_dashboard_itself(tmp_path):
    proc = cli_run(tmp_path, tmp_path / "data")
    try:
        url, run_id = live_url(proc)
        at = At(url)
        rows, end = watch_live(at, run_id, tmp_path)
        assert end["run"]["status"] == "finished"
        # The script ended, its trace is written, and the dashboard stays for a look.
        deadline = time.monotonic() + 30
        while not (tmp_path / "prog.json").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        line = proc.stderr.readline()
        while "the dashboard stays on" not in line and line:
            line = proc.stderr.readline()
        assert f"the dashboard stays on {at.url}/?edit=" in line and "(Ctrl+C to stop)" in line
        assert proc.poll() is None
        with __import__("urllib.request").request.urlopen(f"{at.url}/api/runs/{run_id}") as r:
            assert json.loads(r.read())["events"] == len(rows)
        proc.send_signal(signal.SIGINT)
        assert stopped(proc) == 0
        assert "started" in proc.stdout.read()
    finally:
        proc.kill()
        proc.communicate()


def _followed(tmp_path: Path, lines: list[bytes]):
    """A run another process writes (a second store stands for `coroscope run`), followed
    by a server's registry while ``lines`` are appended to its events file; then ended."""
    import gevent

    from app.history import RunStore
    from app.runs import RunRegistry

    data = tmp_path / "data"
    writer = RunStore(data)
    meta = {"id": "r0123456789ab", "demo": None, "title": "prog.py", "params": {},
            "status": "starting", "error": None, "started_at": "2026-01-01T00:00:00+00:00",
            "duration_ns": None, "events": 0, "python": "3.11.7"}
    writer.begin(meta)
    registry = RunRegistry(store=RunStore(data, server=True))
    run = registry.get(meta["id"])
    assert run is not None and not run.ended.is_set()  # followed, not a snapshot
    for line in lines:
        writer.append(meta["id"], line)
        gevent.sleep(0.3)
    writer.end(dict(meta, status="finished", duration_ns=5, events=99))
    assert run.ended.wait(10)
    return run


def test_a_followed_run_stops_at_a_bad_batch_and_says_so(tmp_path):
    from app.tracer.events import encode_batch

    good = encode_batch(0, [[0, 2, 0, None, {"name": "main", "kind": "main"}]])
    bad = b'{"type":"events","seq":1,"n":1,"rows":"not rows"}'
    run = _followed(tmp_path, [good, bad, encode_batch(2, [[3, 3, 0, None, None]])])
    assert run.events == 1 and list(run.batches) == [good]
    info = run.describe()
    assert info["status"] == "finished" and info["incomplete"] is True
    assert info["error"] == ("incomplete: events.jsonl batch 2 does not hold the 1 rows its "
                             "header says; 1 events kept")
    assert b"".join(run.export_chunks(perfetto=True))  # what was kept still exports


def test_a_followed_run_reads_a_batch_longer_than_a_slice(tmp_path):
    from app.history import _READ_CHUNK
    from app.tracer.events import encode_batch

    rows = [[0, 2, 0, None, {"name": "main", "kind": "main"}]]
    rows += [[i, 4, 0, None, "x" * 1000] for i in range(1, _READ_CHUNK // 900)]
    big = encode_batch(0, rows)
    assert len(big) > _READ_CHUNK
    run = _followed(tmp_path, [big])
    assert run.events == len(rows) and "incomplete" not in run.describe()

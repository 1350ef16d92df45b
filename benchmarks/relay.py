"""Relay throughput: a million switches from the child to real websocket clients.

Compares, in one run: the traced child alone (its events drained from the pipe as
fast as possible) vs. end-to-end through the real server to a websocket client, and
reports the server's peak memory per stored event and the lag of the slowest of many
concurrent viewers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Server, ws_connect  # noqa: E402

DEMO = "greenlet_switch_cost"


def child_alone(n: int) -> tuple[float, int]:
    """Seconds for the traced child to run and flush ``n`` switching iterations."""
    from demos import DEMOS

    demo = DEMOS[DEMO]
    r, w = os.pipe()
    spec = {"file": str(demo.path), "params": {"variant": "switching", "n": n},
            "events_fd": w, "max_events": 10_000_000}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "app.runner.child", json.dumps(spec)],
                            pass_fds=(w,), cwd=ROOT)
    os.close(w)
    events = 0
    with os.fdopen(r, "rb") as f:
        for line in f:
            if line.startswith(b'{"type":"events"'):
                events += int(line.split(b'"n":', 1)[1].split(b",", 1)[0])
    proc.wait()
    return time.perf_counter() - t0, events


def watch(server: Server, message: dict, out: dict, key) -> None:
    ws = ws_connect(server)
    try:
        ws.send(json.dumps(message))
        first = json.loads(ws.recv())
        assert first["type"] == "run", first
        out.setdefault("run_id", first["run"]["id"])
        rows = 0
        while True:
            frame = ws.recv()
            if frame.startswith('{"type":"end"'):
                break
            head = frame[:80]
            seq = int(head.split('"seq":', 1)[1].split(",", 1)[0])
            assert seq == rows, f"gap: got seq {seq}, expected {rows}"
            rows += int(head.split('"n":', 1)[1].split(",", 1)[0])
        out[key] = (time.perf_counter(), rows)
    finally:
        ws.close()


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(report, quick: bool = False) -> None:
    n = 100_000 if quick else 500_000  # 2 switches per iteration
    alone, events = child_alone(n)
    server = Server(Path(os.environ.get("TMPDIR", "/tmp")) / "coroscope-bench-server.log")
    try:
        rss0 = rss_kib(server.proc.pid)
        out: dict = {}
        t0 = time.perf_counter()
        watch(server, {"type": "start", "demo": DEMO,
                       "params": {"variant": "switching", "n": n}}, out, "a")
        end_to_end = out["a"][0] - t0
        assert out["a"][1] == events, (out["a"][1], events)
        report("relay.child_alone", alone, "s", f"{events} events, traced child + pipe drain")
        report("relay.websocket_end_to_end", end_to_end, "s",
               f"ratio to child alone {end_to_end / alone:.2f} (target <= 1.3)")
        report("relay.throughput", events / end_to_end / 1e6, "M events/s")
        rss1 = rss_kib(server.proc.pid)
        report("relay.server_rss_growth", (rss1 - rss0) * 1024 / events, "bytes/event",
               f"RSS {rss0 / 1024:.0f} -> {rss1 / 1024:.0f} MiB, peak "
               f"{peak_rss_kib(server.proc.pid) / 1024:.0f} MiB (target <= ~100 B/event)")

        # 50 viewers of one running demo.
        viewers = 10 if quick else 50
        out = {}
        ws = ws_connect(server)
        ws.send(json.dumps({"type": "start", "demo": DEMO,
                            "params": {"variant": "switching", "n": n // 5}}))
        run_id = json.loads(ws.recv())["run"]["id"]
        threads = [threading.Thread(target=watch, args=(
            server, {"type": "subscribe", "run": run_id}, out, i)) for i in range(viewers)]
        for th in threads:
            th.start()
        while True:  # the starter reads its own stream to the end
            if ws.recv().startswith('{"type":"end"'):
                break
        t_end = time.perf_counter()
        ws.close()
        for th in threads:
            th.join()
        counts = {out[i][1] for i in range(viewers)}
        lag = max(out[i][0] for i in range(viewers)) - t_end
        report("relay.many_viewers.slowest_lag", max(lag, 0) * 1e3, "ms",
               f"{viewers} viewers, every one got all {counts.pop()} events: "
               f"{len(counts) == 0}")
    finally:
        server.stop()

    # Many runs at once: 20 runs, each watched by its starter; the server allows 20.
    runs = 5 if quick else 20
    server = Server(Path(os.environ.get("TMPDIR", "/tmp")) / "coroscope-bench-server2.log",
                    "--max-runs", str(runs))
    try:
        out = {}
        t0 = time.perf_counter()
        threads = [threading.Thread(target=watch, args=(
            server, {"type": "start", "demo": DEMO,
                     "params": {"variant": "switching", "n": n // 20}}, out, i))
            for i in range(runs)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        wall = time.perf_counter() - t0
        totals = {out[i][1] for i in range(runs)}
        report("relay.many_runs.wall", wall, "s",
               f"{runs} runs of {totals.pop()} events at once, all complete: "
               f"{len(totals) == 0 and len(out) == runs + 1}; per run "
               f"{wall / runs * 1e3:.0f} ms")
    finally:
        server.stop()

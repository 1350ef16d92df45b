"""Soak test: many clients starting, watching and cancelling runs; nothing may leak.

``python -m benchmarks.soak [--seconds 60] [--clients 50]`` (loopback only; it stops by
itself). Afterwards it checks: no child process left, the server's open file
descriptors back to the baseline, its RSS stable within 10% between the end of the
warm-up and the end, and every run that finished with a complete, gapless trace.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import Server, ws_connect  # noqa: E402

DEMOS = [
    ("gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1}),
    ("greenlet_switch_cost", {"variant": "switching", "n": 20000}),
    ("gevent_socket_server", {"clients": 5, "messages": 2}),
    ("yield_producer_consumer", {"n": 200}),
]


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.split(") ", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def client(server: Server, deadline: float, seed: int, stats: dict, lock) -> None:
    rnd = random.Random(seed)
    ws = ws_connect(server)
    try:
        while time.monotonic() < deadline:
            demo, params = rnd.choice(DEMOS)
            ws.send(json.dumps({"type": "start", "demo": demo, "params": params}))
            first = json.loads(ws.recv())
            while first["type"] == "error" and first["error"].startswith("no run"):
                first = json.loads(ws.recv())  # a late cancel of a run already dropped
            if first["type"] == "error":  # too many runs: back off
                with lock:
                    stats["refused"] += 1
                time.sleep(rnd.uniform(0.05, 0.3))
                continue
            run_id, rows, cancel_after = first["run"]["id"], 0, rnd.choice([None, 1, 3])
            frames = 0
            while True:
                msg = json.loads(ws.recv())
                if msg["type"] == "end":
                    break
                assert msg["type"] != "run", "a second run interleaved"
                if msg["type"] == "events":
                    assert msg["seq"] == rows, f"gap in {run_id}"
                    rows += msg["n"]
                    frames += 1
                    if cancel_after is not None and frames == cancel_after:
                        ws.send(json.dumps({"type": "cancel", "run": run_id}))
            assert msg["run"]["events"] == rows, f"{run_id}: end says {msg['run']['events']}"
            with lock:
                stats[msg["run"]["status"]] = stats.get(msg["run"]["status"], 0) + 1
                stats["runs"].append(run_id)
    finally:
        ws.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    server = Server(Path("/tmp/coroscope-soak.log"), "--max-runs", "20", "--keep-runs", "40")
    try:
        pid = server.proc.pid
        fd0 = fds(pid)
        stats: dict = {"refused": 0, "runs": []}
        lock = threading.Lock()
        deadline = time.monotonic() + args.seconds
        threads = [threading.Thread(target=client, args=(server, deadline, i, stats, lock))
                   for i in range(args.clients)]
        for th in threads:
            th.start()
        samples = []
        while any(th.is_alive() for th in threads):
            time.sleep(min(5.0, args.seconds / 6))
            samples.append(rss_kib(pid))
        for th in threads:
            th.join()
        print("soak: RSS samples (MiB):", " ".join(f"{x / 1024:.0f}" for x in samples))
        rss_warm = samples[len(samples) // 3]
        time.sleep(1.0)
        rss_end, fd_end, kids = rss_kib(pid), fds(pid), children(pid)
        complete = 0
        for run_id in stats["runs"][-40:]:  # the ones the server still holds
            status, trace = server.get(f"/api/runs/{run_id}/trace.json")
            if status == 200:
                assert [e["seq"] for e in trace["events"]] == list(range(len(trace["events"])))
                complete += 1
        counts = {k: v for k, v in stats.items() if k != "runs"}
        print(f"soak: {len(stats['runs'])} runs by {args.clients} clients in {args.seconds:g} s;"
              f" {counts}")
        print(f"soak: children left {len(kids)}, fds {fd0} -> {fd_end}, RSS "
              f"{rss_warm / 1024:.1f} -> {rss_end / 1024:.1f} MiB, "
              f"{complete} held traces gapless")
        ok = (not kids and fd_end <= fd0 and abs(rss_end - rss_warm) <= 0.1 * rss_warm
              and "Traceback" not in server.output())
        print("soak: PASS" if ok else "soak: FAIL")
        return 0 if ok else 1
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())

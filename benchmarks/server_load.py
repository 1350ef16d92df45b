"""The server under its heaviest requests: is it still answering?

Measured side by side in one run against the real server on loopback: the latency of
``GET /api/demos`` (a cheap request a page makes) at rest, while a big trace is
imported, and while two Perfetto exports of it download at once; the server's memory
growth for each; and, for the import, its time against parsing the same file with
orjson alone (the one-pass check is meant to cost about a parse, not 170x one).

    python -m benchmarks.server_load [EVENTS]     (default 1,100,000 events, ~97 MB)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import orjson

from tests.conftest import Poller, Server


def synthetic_trace(n: int) -> bytes:
    """A valid native trace of ``n`` events: two greenlets switching, a line printed
    every 50 events (the shape of a switch-heavy run)."""
    events = [{"seq": 0, "t": 0, "kind": "spawn", "task": 0, "parent": None},
              {"seq": 1, "t": 10, "kind": "spawn", "task": 1, "parent": 0}]
    for i in range(2, n):
        a = i % 2
        if i % 50 == 0:
            events.append({"seq": i, "t": i * 1000, "kind": "stdout", "task": a,
                           "text": f"line {i} of a long enough printed text"})
        else:
            events.append({"seq": i, "t": i * 1000, "kind": "switch", "from": a, "to": 1 - a,
                           "line": 12, "cause": "switch"})
    run = {"id": "rbig00000000", "demo": None, "title": "big", "params": {},
           "status": "finished", "error": None, "started_at": "2026-11-29T00:00:00+00:00",
           "duration_ns": n * 1000, "events": n, "python": "3.11.7",
           "source": {"file": "big.py", "text": "print(1)\n"}}
    tasks = [{"id": 0, "name": "main", "kind": "main", "parent": None, "spawned_at": 0},
             {"id": 1, "name": "worker", "kind": "greenlet", "parent": 0, "spawned_at": 10}]
    return orjson.dumps({"format": "coroscope.trace", "version": 2, "run": run,
                         "tasks": tasks, "events": events})


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Probe(Poller):
    """GET /api/demos every 20 ms (the tests' Poller); also the server's peak RSS."""

    def __init__(self, url: str, pid: int) -> None:
        super().__init__(url, every=0.02)
        self.pid = pid
        self.peak = 0.0

    def after_each(self) -> None:
        self.peak = max(self.peak, rss_mb(self.pid))

    def report(self, label: str, base_rss: float, base_p50: float | None = None) -> float:
        self.stop()
        assert not self.failures, self.failures
        lat = sorted(x * 1000 for x in self.latencies)
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        ratio = f"  p50 {p50 / base_p50:4.1f}x at rest" if base_p50 else ""
        print(f"{label:34} n={len(lat):4}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  "
              f"max {lat[-1]:6.1f} ms  RSS +{self.peak - base_rss:5.0f} MB{ratio}")
        return p50


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 1_100_000
    body = synthetic_trace(n)
    t0 = time.perf_counter()
    orjson.loads(body)
    parse = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(Path(tmp) / "server.log", "--data-dir", str(Path(tmp) / "history"))
        try:
            pid = srv.proc.pid
            demos = f"{srv.url}/api/demos"
            base = rss_mb(pid)
            probe = Probe(demos, pid)
            probe.start()
            time.sleep(3)
            rest = probe.report("at rest", base)

            probe = Probe(demos, pid)
            probe.start()
            t0 = time.perf_counter()
            req = urllib.request.Request(f"{srv.url}/api/import", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=600) as resp:
                run = orjson.loads(resp.read())
            took = time.perf_counter() - t0
            probe.report(f"importing {len(body) >> 20} MB ({n:,} events)", base, rest)
            print(f"  import answered in {took:.2f} s = {took / parse:.1f}x orjson.loads of "
                  f"the same bytes ({parse:.2f} s); held after: +{rss_mb(pid) - base:.0f} MB")

            url = f"{srv.url}/api/runs/{run['id']}/trace.perfetto.json"
            fetch = ("import shutil,sys,urllib.request\nwith urllib.request.urlopen("
                     "sys.argv[1]) as r, open('/dev/null','wb') as f: shutil.copyfileobj(r,f)")
            base = rss_mb(pid)
            probe = Probe(demos, pid)
            probe.start()
            t0 = time.perf_counter()
            procs = [subprocess.Popen([sys.executable, "-c", fetch, url]) for _ in range(2)]
            for p in procs:
                p.wait()
            took = time.perf_counter() - t0
            probe.report("two Perfetto downloads at once", base, rest)
            print(f"  both downloaded in {took:.2f} s")
        finally:
            srv.stop()


if __name__ == "__main__":
    main(sys.argv[1:])

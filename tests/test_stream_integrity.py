"""A long stream to a deliberately slow websocket reader arrives whole.

simple-websocket 1.1.0 writes frames with socket.send and drops what a partial write
left behind; under gevent with backpressure that corrupts the stream. This test fills
the socket buffers on purpose and checks every one of 500,000+ events.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from app.tracer.events import SPAWN, STDOUT, SWITCH

from .conftest import ws_connect

N = 250_000  # iterations: 2 switches each in the switching half of the demo


@pytest.mark.slow
def test_half_a_million_switches_reach_a_slow_reader_intact(server):
    ws = ws_connect(server, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    try:
        ws.send(json.dumps({"type": "start", "demo": "greenlet_switch_cost",
                            "params": {"n": N}}))
        assert json.loads(ws.recv())["type"] == "run"
        time.sleep(1.0)  # let the server's writes back up against a full socket
        rows, frames = [], 0
        while True:
            msg = json.loads(ws.recv())  # a corrupted frame fails here or below
            if msg["type"] == "end":
                end = msg["run"]
                break
            assert msg["type"] == "events" and msg["seq"] == len(rows)
            rows.extend(msg["rows"])
            frames += 1
            if frames % 20 == 0:
                time.sleep(0.02)  # keep reading slowly
    finally:
        ws.close()
    assert end["status"] == "finished" and end["events"] == len(rows)
    switches = [r for r in rows if r[1] == SWITCH]
    assert len(switches) >= 2 * N
    tasks = {r[2]: r[4]["name"] for r in rows if r[1] == SPAWN}
    f1 = next(tid for tid, name in tasks.items() if name == "f1")
    f2 = next(tid for tid, name in tasks.items() if name == "f2")
    ping_pong = [(r[2], r[3]) for r in switches if {r[2], r[3]} == {f1, f2}]
    assert len(ping_pong) >= 2 * N - 2
    assert all(a != b for a, b in ping_pong)
    times = [r[0] for r in rows]
    assert times == sorted(times)
    printed = [r[4] for r in rows if r[1] == STDOUT]
    assert printed[0].startswith("sequential run time is")
    assert printed[1].startswith("switching run time is")

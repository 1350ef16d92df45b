"""End to end through the real server: a demo's events over a real websocket."""

from __future__ import annotations

import json

from app.tracer.events import KIND_NAMES, row_to_event

from .conftest import follow_run, validate_trace, ws_connect

FAST = {"eat_seconds": 0.4, "play_seconds": 0.2}


def test_stream_equals_export_and_validates(server):
    ws = ws_connect(server)
    try:
        run_frame, rows, end = follow_run(
            ws, {"type": "start", "demo": "gevent_eat_play", "params": FAST}
        )
    finally:
        ws.close()
    run = run_frame["run"]
    assert run_frame["kinds"] == list(KIND_NAMES)
    assert run["demo"] == "gevent_eat_play" and run["params"] == dict(FAST, joinall=0)
    assert "def eat(name, seconds):" in run["source"]["text"]
    assert end["run"]["status"] == "finished" and end["run"]["events"] == len(rows)

    status, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    assert status == 200
    validate_trace(trace)
    assert trace["events"] == [row_to_event(i, r) for i, r in enumerate(rows)]
    assert [t["name"] for t in trace["tasks"]] == ["main", "Hub", "eat", "play"]
    texts = [(e["task"], e["text"]) for e in trace["events"] if e["kind"] == "stdout"]
    assert texts == [(2, "egon eat 1"), (3, "egon play 1"), (3, "egon play 2"),
                     (2, "egon eat 2"), (0, "主"),
                     (0, "g1.value = 'eat finished', g2.value = 'play finished'")]
    # The run took about max(eat, play) seconds, not their sum.
    assert 0.38e9 < trace["run"]["duration_ns"] < 0.55e9


def test_late_viewer_gets_full_history_then_end(server):
    status, run = server.request("POST", "/api/runs",
                                 {"demo": "gevent_eat_play", "params": FAST})
    assert status == 201 and run["status"] in ("starting", "running")
    server.wait_run(run["id"])
    ws = ws_connect(server)
    try:
        _, rows, end = follow_run(ws, {"type": "subscribe", "run": run["id"]})
        # The same connection can follow another run afterwards.
        _, rows2, end2 = follow_run(ws, {"type": "subscribe", "run": run["id"]})
    finally:
        ws.close()
    assert rows == rows2 and len(rows) == end["run"]["events"] == end2["run"]["events"]
    status, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    assert [row_to_event(i, r) for i, r in enumerate(rows)] == trace["events"]


def test_two_viewers_of_one_live_run_see_the_same_events(server):
    a, b = ws_connect(server), ws_connect(server)
    try:
        a.send(json.dumps({"type": "start", "demo": "gevent_eat_play", "params": FAST}))
        run_frame = json.loads(a.recv())
        run_id = run_frame["run"]["id"]
        _, rows_b, _ = follow_run(b, {"type": "subscribe", "run": run_id})
        rows_a = []
        while True:
            msg = json.loads(a.recv())
            if msg["type"] == "end":
                break
            rows_a.extend(msg["rows"])
    finally:
        a.close()
        b.close()
    assert rows_a == rows_b and len(rows_a) > 10


def test_bad_messages_get_error_frames_and_the_connection_survives(server):
    ws = ws_connect(server)
    try:
        for message, expected in [
            ("not json", "not JSON"),
            ("[1, 2]", "must be a JSON object, got list"),
            ('{"type": "dance"}', "unknown message type 'dance'"),
            ('{"type": "start", "demo": "nope"}', "no demo 'nope'"),
            ('{"type": "start", "demo": "gevent_eat_play", "params": {"eat_seconds": 99}}',
             "parameter 'eat_seconds' must be <= 10.0, got 99.0"),
            ('{"type": "subscribe"}', "needs \\\"run\\\""),
            ('{"type": "subscribe", "run": "r0"}', "no run 'r0'"),
        ]:
            ws.send(message)
            reply = json.loads(ws.recv())
            assert reply["type"] == "error", (message, reply)
            assert expected.replace('\\"', '"') in reply["error"], (message, reply)
        ws.send_binary(b"\x00\x01")
        assert "binary frames" in json.loads(ws.recv())["error"]
        # Still usable: a real run streams to the end.
        _, rows, end = follow_run(ws, {"type": "start", "demo": "greenlet_eat_play"})
        assert end["run"]["status"] == "finished" and len(rows) == end["run"]["events"]
    finally:
        ws.close()

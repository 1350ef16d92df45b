"""Whatever a client sends on /ws, it gets an answer and the connection keeps working."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import follow_run, ws_connect

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
messages = st.one_of(
    json_values.map(json.dumps),
    st.text(max_size=200),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["start", "subscribe", "cancel", "Start", "", "stop"])},
        optional={"demo": json_values, "run": json_values, "params": json_values},
    ).map(json.dumps),
)


@pytest.fixture(scope="module")
def ws(server):
    conn = ws_connect(server)
    yield conn
    conn.close()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages)
def test_any_message_gets_an_error_frame_or_a_run(ws, message):
    ws.send(message)
    reply = json.loads(ws.recv())
    if reply["type"] == "run":  # a valid start: follow it to its end, cancelling at once
        ws.send(json.dumps({"type": "cancel", "run": reply["run"]["id"]}))
        while reply["type"] != "end":
            reply = json.loads(ws.recv())
        return
    assert reply["type"] == "error" and isinstance(reply["error"], str) and reply["error"]


def test_huge_and_binary_frames_get_errors_and_the_connection_lives(server):
    ws = ws_connect(server)
    try:
        ws.send("x" * (1 << 20))
        assert json.loads(ws.recv())["error"] == (
            "message too big: 1048576 characters, at most 65536")
        ws.send_binary(b"\xff" * 1000)
        assert "binary frames" in json.loads(ws.recv())["error"]
        _, rows, end = follow_run(ws, {"type": "start", "demo": "greenlet_eat_play"})
        assert end["run"]["status"] == "finished" and len(rows) == 14
    finally:
        ws.close()

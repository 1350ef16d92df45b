"""The REST API over the real server: codes and JSON error bodies."""

from __future__ import annotations

import socket
import time

from demos import DEMOS

from .conftest import Server


def test_demos_are_listed_with_their_params(server):
    status, demos = server.get("/api/demos")
    assert status == 200
    assert [d["id"] for d in demos] == list(DEMOS)
    eat_play = next(d for d in demos if d["id"] == "gevent_eat_play")
    assert eat_play["params"][0] == {
        "name": "eat_seconds", "type": "float", "default": 2.0, "min": 0.0, "max": 10.0,
        "help": "how long eat sleeps", "help_zh": "eat 中 sleep 的时长（秒）"}
    assert eat_play["title_zh"] and eat_play["description_zh"]
    assert eat_play["description"]


def test_unknown_demo_and_run_are_404_with_json_errors(server):
    assert server.request("POST", "/api/runs", {"demo": "nope"}) == (
        404, {"error": "no demo 'nope'; see GET /api/demos"})
    assert server.get("/api/runs/rdeadbeef") == (404, {"error": "no run 'rdeadbeef'"})
    assert server.get("/api/runs/rdeadbeef/trace.json") == (
        404, {"error": "no run 'rdeadbeef'"})
    status, body = server.get("/api/nothing-here")
    assert status == 404 and body["error"].startswith("Not Found")


def test_bad_params_are_400_naming_the_parameter(server):
    cases = [
        ({"demo": "gevent_eat_play", "params": {"eat_seconds": "2"}},
         "parameter 'eat_seconds' must be a finite number, got '2'"),
        ({"demo": "gevent_eat_play", "params": {"eat_seconds": -1}},
         "parameter 'eat_seconds' must be >= 0.0, got -1.0"),
        ({"demo": "gevent_eat_play", "params": {"speed": 1}},
         "unknown parameter 'speed' for demo 'gevent_eat_play'; "
         "known: eat_seconds, play_seconds, joinall"),
        ({"demo": "greenlet_switch_cost", "params": {"n": 1.5}},
         "parameter 'n' must be an integer, got float"),
        ({"demo": "gevent_eat_play", "params": [1]}, "params must be an object, got list"),
        ({"params": {}}, 'missing "demo": the id of a demo (see GET /api/demos)'),
    ]
    for body, error in cases:
        assert server.request("POST", "/api/runs", body) == (400, {"error": error}), body


def test_run_lifecycle_and_status(server):
    status, run = server.request("POST", "/api/runs", {"demo": "greenlet_eat_play"})
    assert status == 201 and run["id"].startswith("r")
    done = server.wait_run(run["id"])
    assert done["status"] == "finished" and done["error"] is None
    assert done["events"] == 14 and done["duration_ns"] > 0  # 13 and the main() mark
    status, runs = server.get("/api/runs")
    assert run["id"] in [r["id"] for r in runs]


def raw_http(server, request: bytes) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and (b"}" in data or b" 101 " in data.split(b"\r\n")[0]):
                break
    return int(data.split(b" ", 2)[1]), data


def ws_handshake(host: str, origin: str | None, deflate: bool = False) -> bytes:
    lines = [
        "GET /ws HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if deflate:  # what Chromium offers on every websocket
        lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_websocket_compression_is_declined_on_loopback(server):
    host = f"127.0.0.1:{server.port}"
    status, head = raw_http(server, ws_handshake(host, f"http://{host}", deflate=True))
    assert status == 101
    assert b"sec-websocket-extensions" not in head.split(b"\r\n\r\n")[0].lower()


def test_wildcard_bind_answers_its_own_url_and_compresses(tmp_path):
    """Bound to 0.0.0.0 (a classroom): the printed 127.0.0.1 URL works, the machine's
    own name works, a foreign Host is still refused, and clients that may be remote
    get permessage-deflate."""
    import socket as _socket

    srv = Server(tmp_path / "wild.log", "--host", "0.0.0.0")
    try:
        status, body = raw_http(srv, f"GET /api/demos HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}"
                                     "\r\n\r\n".encode())
        assert status == 200
        machine = f"{_socket.gethostname()}:{srv.port}"
        status, _ = raw_http(srv, f"GET /api/demos HTTP/1.1\r\nHost: {machine}\r\n\r\n"
                             .encode())
        assert status == 200
        status, body = raw_http(srv, ws_handshake(f"evil.example:{srv.port}", None))
        assert status == 403 and b"is not this server" in body
        host = f"127.0.0.1:{srv.port}"
        status, head = raw_http(srv, ws_handshake(host, f"http://{host}", deflate=True))
        assert status == 101
        assert b"permessage-deflate" in head.split(b"\r\n\r\n")[0].lower()
    finally:
        srv.stop()


def test_forged_origin_and_host_are_refused(server):
    host = f"127.0.0.1:{server.port}"
    status, body = raw_http(server, ws_handshake(host, "http://evil.example"))
    assert status == 403 and b"Origin 'http://evil.example' may not use this server" in body
    status, body = raw_http(server, ws_handshake("evil.example", None))
    assert status == 403 and b"Host 'evil.example' is not this server" in body
    status, body = raw_http(server, ws_handshake(f"rebind.example:{server.port}",
                                                 f"http://rebind.example:{server.port}"))
    assert status == 403
    status, _ = raw_http(server, ws_handshake(host, f"http://{host}"))
    assert status == 101
    post = (f"POST /api/runs HTTP/1.1\r\nHost: {host}\r\nOrigin: http://evil.example\r\n"
            "Content-Type: application/json\r\nContent-Length: 27\r\n\r\n"
            '{"demo": "gevent_eat_play"}').encode()
    status, body = raw_http(server, post)
    assert status == 403


def test_no_request_path_reaches_files_outside_the_app(server):
    port = server.port
    for path in ("/static/../app/cli.py", "/static/%2e%2e/app/cli.py",
                 "/static/..%2fapp%2fcli.py", "/static//etc/passwd", "/static/%2fetc%2fpasswd",
                 "/api/runs/..%2f..%2fetc%2fpasswd/trace.json", "/api/demos/..%2fREADME.md"):
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
               "Connection: close\r\n\r\n").encode()
        status, body = raw_http(server, req)
        if status == 308:  # werkzeug merges the double slash: it stays under /static/
            assert f"Location: http://127.0.0.1:{port}/static/etc/passwd".encode() in body
            continue
        assert status in (400, 404), (path, status)
        assert b"root:" not in body and b"def main" not in body, path


def test_binding_elsewhere_warns(tmp_path):
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    log = tmp_path / "log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--no-browser",
                                 "--port", "0", "--host", "0.0.0.0"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 20
            while "warning" not in log.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            proc.terminate()
            proc.wait(10)
    assert "warning: bound to 0.0.0.0: anyone who can reach this address" in log.read_text()


def test_a_sleeping_demo_is_timed_untraced_only_when_asked(server):
    params = {"variant": "async", "tasks": 2, "seconds": 0.1}
    status, run = server.request("POST", "/api/runs", {"demo": "asyncio_sync_async",
                                                       "params": params})
    assert status == 201
    assert "untraced" not in server.wait_run(run["id"])  # not unless asked: it doubles the wait
    status, run = server.request("POST", "/api/runs", {"demo": "asyncio_sync_async",
                                                       "params": params, "untraced": True})
    assert status == 201
    done = server.wait_run(run["id"])
    for _ in range(100):  # the untraced figures come after the run's end
        if "untraced" in done:
            break
        time.sleep(0.1)
        done = server.get(f"/api/runs/{run['id']}")[1]
    assert done["untraced"]["printed"][0] == "Asynchronous:"
    last = done["untraced"]["printed"][-1]
    assert last.startswith("total ") and 0.1 <= float(last.split()[1]) < 5, last
    assert 0.1 <= done["untraced"]["seconds"] < 5
    demos = {d["id"]: d for d in server.get("/api/demos")[1]}
    assert [i for i, d in demos.items() if d["untraced_on_request"]] == [
        "gevent_patch_order", "gevent_sync_async", "asyncio_sync_async"]
    assert server.request("POST", "/api/runs", {"demo": "greenlet_eat_play",
                                                "untraced": True}) == (400, {
        "error": "demo 'greenlet_eat_play' is not timed untraced: only the demos that time "
                 "their run (untraced_rerun or untraced_on_request in GET /api/demos) take "
                 "\"untraced\""})
    assert server.request("POST", "/api/runs", {"demo": "gevent_sync_async",
                                                "untraced": 1}) == (
        400, {"error": "\"untraced\" must be true or false"})

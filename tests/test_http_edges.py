"""The real server at its edges: download names of any run, cross-site requests without an
Origin, a wildcard bind reached by address, integer parameters, and a demo's forked
grandchild when the server is killed."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

from .conftest import ROOT, Server

FOREIGN = ("a page of another site may not use this server (only its own pages, "
           "Sec-Fetch-Site 'same-origin', may)")


def call(port: int, method: str, path: str, body=None, host: str | None = None,
         **headers: str) -> tuple[int, dict[str, str], bytes]:
    """(status, lower-cased headers, body) of one request to 127.0.0.1:``port``, sent with
    the Host and headers given (``Sec_Fetch_Site="x"`` sends ``Sec-Fetch-Site: x``)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    sent = {"Host": host or f"127.0.0.1:{port}"}
    sent.update({name.replace("_", "-"): value for name, value in headers.items()})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    try:
        conn.request(method, path, body=data, headers=sent)
        resp = conn.getresponse()
        got = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, got, b"" if resp.status == 101 else resp.read()
    finally:
        conn.close()


def upgrade(port: int, host: str | None = None, **headers: str):
    """A websocket handshake on /ws, as a browser sends it."""
    return call(port, "GET", "/ws", host=host, Upgrade="websocket", Connection="Upgrade",
                Sec_WebSocket_Key="dGhlIHNhbXBsZSBub25jZQ==", Sec_WebSocket_Version="13",
                **headers)


def error(result) -> tuple[int, dict]:
    return result[0], json.loads(result[2])


# -- 3. Content-Disposition of exports -------------------------------------------------

ATTACHMENT = re.compile(r"attachment; filename=\"([ !#-\[\]-~]*)\"; "
                        r"filename\*=UTF-8''([A-Za-z0-9!#$&+^_`|~.%-]+)")


def download_name(port: int, path: str) -> str:
    """GET ``path``: 200, a JSON body, and the name its Content-Disposition gives, read as
    RFC 6266 says (filename*, UTF-8); the ASCII fallback must be that name made ASCII."""
    status, headers, body = call(port, "GET", path)
    assert status == 200, (path, status, body[:300])
    json.loads(body)
    match = ATTACHMENT.fullmatch(headers["content-disposition"])
    assert match, headers["content-disposition"]
    name = urllib.parse.unquote(match[2], errors="strict")
    assert match[1] == "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return name


EXTRA_DEMOS = """
from demos import Demo

DEMOS = [Demo(id, "named by the test", "Prints a line.", "hello.py")
         for id in ("协程演示", "🚀", "crlf\\r\\ndemo\\u202e")]
"""


def test_exports_download_under_any_name(tmp_path):
    """Runs whose names are not ASCII or hold a CR LF: demos with such ids (their names
    reach the header as they are), a script 协程.py run into the history, imported traces
    with a Chinese demo or title, renamed to one with a CR LF. Their exports were 500s."""
    (tmp_path / "hello.py").write_text("def main():\n    print('hi')\n")
    (tmp_path / "registry.py").write_text(EXTRA_DEMOS)
    (tmp_path / "协程.py").write_text("print('hi')\n")
    history = tmp_path / "history"
    subprocess.run([sys.executable, "-m", "app", "run", "--data-dir", str(history),
                    "--out", str(tmp_path / "t.json"), "协程.py"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    trace = json.loads((tmp_path / "t.json").read_text())
    srv = Server(tmp_path / "server.log", "--data-dir", str(history),
                 "--extra-demos", str(tmp_path / "registry.py"))
    try:
        exact = {}
        for demo, name in (("协程演示", "协程演示"), ("🚀", "🚀"),
                           ("crlf\r\ndemo\u202e", "crlfdemo")):  # CR, LF, bidi override: gone
            status, run = srv.request("POST", "/api/runs", {"demo": demo})
            assert status == 201, run
            assert srv.wait_run(run["id"])["status"] == "finished"
            exact[run["id"]] = name
        named = [run["id"] for run in srv.get("/api/runs")[1] if run["title"] == "协程.py"]
        assert len(named) == 1, "the script run is in the history"
        for run in (dict(trace["run"], demo="协程.py", title="协程"),
                    dict(trace["run"], demo=None, title="导入的运行")):
            status, info = srv.request("POST", "/api/import", dict(trace, run=run))
            assert status == 201, info
            named.append(info["id"])
        for run_id in (named[0], named[-1]):
            status, info = srv.request("PATCH", f"/api/runs/{run_id}",
                                       {"title": '火箭\r\n🚀 "q" 100%\\/x\u202e'})
            assert status == 200, info
        for run_id in list(exact) + named:
            for suffix in (".json", ".perfetto.json"):
                got = download_name(srv.port, f"/api/runs/{run_id}/trace{suffix}")
                if run_id in exact:
                    assert got == f"coroscope-{exact[run_id]}-{run_id}{suffix}"
                else:  # named by runs.py from the demo or title: some name, well sent
                    assert got.startswith("coroscope-") and got.endswith(f"-{run_id}{suffix}")
    finally:
        srv.stop()
    assert "Traceback" not in srv.output(), srv.output()


# -- 4. Sec-Fetch-Site, and a wildcard bind reached by address --------------------------

def test_cross_site_requests_without_origin_are_refused(server):
    port = server.port
    for site in ("cross-site", "same-site"):
        refusal = (403, {"error": f"Sec-Fetch-Site {site!r}: {FOREIGN}"})
        assert error(call(port, "POST", "/api/runs", {"demo": "greenlet_eat_play"},
                          Sec_Fetch_Site=site)) == refusal
        assert error(call(port, "DELETE", "/api/runs/rdeadbeef", Sec_Fetch_Site=site)) == \
            refusal
        assert error(upgrade(port, Sec_Fetch_Site=site)) == refusal
        # Reading is not changing: a link from another site still opens the dashboard.
        assert call(port, "GET", "/api/demos", Sec_Fetch_Site=site)[0] == 200
    for site in ("same-origin", "none"):
        status, _, body = call(port, "POST", "/api/runs", {"demo": "greenlet_eat_play"},
                               Sec_Fetch_Site=site)
        assert status == 201, body
        server.wait_run(json.loads(body)["id"])
    assert upgrade(port, Origin=server.url, Sec_Fetch_Site="same-origin")[0] == 101


def _addresses_of_this_machine() -> list[str]:
    """Host spellings of this machine's non-loopback addresses, and 127.0.0.2."""
    found = ["127.0.0.2"]
    if shutil.which("hostname"):
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout
        found += [f"[{a}]" if ":" in a else a for a in out.split()]
    return found


def test_wildcard_bind_accepts_its_addresses_but_not_other_names(tmp_path):
    srv = Server(tmp_path / "wild.log", "--host", "0.0.0.0")
    port = srv.port
    try:
        addresses = _addresses_of_this_machine()
        for address in addresses:
            assert call(port, "GET", "/api/demos", host=f"{address}:{port}")[0] == 200, address
        # A classroom client on the LAN address: the dashboard's own requests work.
        lan = f"{addresses[-1]}:{port}"
        status, _, body = call(port, "POST", "/api/runs", {"demo": "greenlet_eat_play"},
                               host=lan, Origin=f"http://{lan}", Sec_Fetch_Site="same-origin")
        assert status == 201, body
        srv.wait_run(json.loads(body)["id"])
        assert upgrade(port, host=lan, Origin=f"http://{lan}")[0] == 101
        # Names stay refused (DNS rebinding), as do an address on another port or none.
        for host in (f"evil.example:{port}", f"127.0.0.2.nip.io:{port}",
                     f"127.0.0.2:{port + 1}", "127.0.0.2", f"[::2]:{port + 1}",
                     f"127.1:{port}"):
            assert error(call(port, "GET", "/api/demos", host=host)) == (
                403, {"error": f"Host {host!r} is not this server"}), host
    finally:
        srv.stop()
    assert "Traceback" not in srv.output(), srv.output()


def test_loopback_bind_still_refuses_other_addresses(server):
    host = f"127.0.0.2:{server.port}"
    assert error(call(server.port, "GET", "/api/demos", host=host)) == (
        403, {"error": f"Host {host!r} is not this server"})


# -- 5. integer parameters -----------------------------------------------------------------

def test_integer_parameters_take_only_integers(server):
    written = "write it without a decimal point or exponent (1000, not 1000.0 or 1e3)"
    cases = [
        (1e23, f"parameter 'n' must be an integer, got 1e+23: {written}"),
        (3.0, f"parameter 'n' must be an integer, got 3.0: {written}"),
        (True, "parameter 'n' must be an integer, not a boolean"),
        (1.5, "parameter 'n' must be an integer, got float"),
        ("3", "parameter 'n' must be an integer, got str"),
        (10**30, "parameter 'n' must be <= 2000000, got 1000000000000000000000000000000"),
    ]
    for value, message in cases:
        assert server.request("POST", "/api/runs", {"demo": "greenlet_switch_cost",
                                                    "params": {"n": value}}) == (
            400, {"error": message}), value
    status, run = server.request("POST", "/api/runs",
                                 {"demo": "greenlet_switch_cost", "params": {"n": 3}})
    assert status == 201 and run["params"]["n"] == 3
    server.wait_run(run["id"])


# -- 6. a demo's forked grandchild dies with the server -----------------------------------

def _start_time(pid: int) -> str | None:
    """The process's start time, or None if it is gone (a zombie is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == "Z" else fields[19]


def test_a_forked_grandchild_dies_when_the_server_is_killed(tmp_path):
    srv = Server(tmp_path / "forks.log", "--extra-demos",
                 str(ROOT / "tests" / "fault_demos" / "registry.py"))
    grandchild = started = None
    try:
        status, run = srv.request("POST", "/api/runs", {"demo": "fault_forks"})
        assert status == 201, run
        deadline = time.monotonic() + 60
        while grandchild is None and time.monotonic() < deadline:
            _, _, body = call(srv.port, "GET", f"/api/runs/{run['id']}/trace.json")
            for event in json.loads(body)["events"]:
                if event["kind"] == "stdout" and event["text"].startswith("grandchild "):
                    grandchild = int(event["text"].split()[1])
            time.sleep(0.05)
        assert grandchild is not None, "the demo never said which pid it forked"
        started = _start_time(grandchild)
        assert started is not None, "the grandchild sleeps for 120 s"
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(30)
        deadline = time.monotonic() + 30
        while _start_time(grandchild) == started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _start_time(grandchild) != started, "the grandchild outlived the server"
    finally:
        if grandchild is not None and started is not None and _start_time(grandchild) == started:
            os.kill(grandchild, signal.SIGKILL)
        srv.stop()

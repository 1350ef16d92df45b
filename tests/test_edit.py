"""Change the code and run again: a demo's edited source runs in the same bounded child
as the demo, for a browser holding the server's edit secret only, and the run keeps its
diff against the tutorial's text."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest

from demos import DEMOS

from .conftest import Server, validate_trace, ws_connect


def token_of(srv: Server) -> str:
    m = re.search(r"serving on http://127\.0\.0\.1:\d+/\?edit=([\w-]+) ", srv.output())
    assert m, srv.output()
    return m[1]


def call(srv: Server, method: str, path: str, body=None, cookie: str | None = None):
    headers = {"Content-Type": "application/json"}
    if cookie is not None:
        headers["Cookie"] = f"coroscope_edit_{srv.port}={cookie}"
    req = urllib.request.Request(srv.url + path, method=method, headers=headers,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@pytest.fixture()
def edit_server(tmp_path, monkeypatch):
    """A server of its own, its scratch folders in ``tmp_path/tmp`` (to see them go)."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    srv = Server(tmp_path / "s.log")
    yield srv
    srv.stop()


EAT_PLAY = DEMOS["greenlet_eat_play"].source()
EDITED = EAT_PLAY.replace("print('%s eat 1' % name)", "print('%s eats first' % name)")


def test_the_printed_address_sets_the_secret_in_a_cookie(edit_server):
    token = token_of(edit_server)
    opener = urllib.request.build_opener(NoRedirect)
    for given, cookie in ((token, True), ("wrong", False)):
        try:
            opener.open(f"{edit_server.url}/?edit={given}", timeout=30)
            raise AssertionError("expected a redirect")
        except urllib.error.HTTPError as err:
            assert err.code == 303 and err.headers["Location"] == "/"
            set_cookie = err.headers.get("Set-Cookie") or ""
            if cookie:  # the secret leaves the address bar, kept where only this site reads it
                assert set_cookie.startswith(f"coroscope_edit_{edit_server.port}={token};")
                assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
            else:
                assert set_cookie == ""
    assert call(edit_server, "GET", "/api/edit") == (200, {
        "allowed": False, "why": "editing needs the address the server printed when it "
                                 "started (it ends in ?edit=...): open it once in this browser"})
    assert call(edit_server, "GET", "/api/edit", cookie=token) == (
        200, {"allowed": True, "why": None})


def test_an_edited_demo_runs_and_keeps_its_diff(edit_server, tmp_path):
    token = token_of(edit_server)
    body = {"demo": "greenlet_eat_play", "params": {}, "source": EDITED}
    status, refused = call(edit_server, "POST", "/api/runs", body)
    assert status == 403 and "?edit=" in refused["error"]
    status, run = call(edit_server, "POST", "/api/runs", body, cookie=token)
    assert status == 201, run
    assert run["edited"]["file"] == "greenlet_eat_play.py"
    diff = run["edited"]["diff"]
    assert diff.startswith("--- a/greenlet_eat_play.py\n+++ b/greenlet_eat_play.py\n")
    assert "-    print('%s eat 1' % name)\n+    print('%s eats first' % name)\n" in diff
    done = edit_server.wait_run(run["id"])
    assert done["status"] == "finished"
    status, trace = call(edit_server, "GET", f"/api/runs/{run['id']}/trace.json")
    validate_trace(trace)
    printed = [e["text"] for e in trace["events"] if e["kind"] == "stdout"]
    assert printed[0] == "egon eats first" and "egon eat 1" not in printed
    assert trace["run"]["edited"]["diff"] == diff  # in the export too
    assert trace["run"]["source"] == {"file": "greenlet_eat_play.py", "text": EDITED}
    # The paused lines are the edited file's, named as the tutorial's.
    lines = {e["line"] for e in trace["events"] if e["kind"] == "switch" and e["line"]}
    assert lines and all(EDITED.splitlines()[n - 1].strip() for n in lines)
    # Its private folder is gone once the run has ended; nothing else was written.
    assert list((tmp_path / "tmp").glob("coroscope-demos-*/coroscope-edit-*")) == []


def test_an_edit_that_imports_the_demos_helper_finds_it(edit_server):
    token = token_of(edit_server)
    demo = DEMOS["gevent_patch_order"]
    source = demo.source({"variant": "patch_first"}) + "\nprint('edited')\n"
    status, run = call(edit_server, "POST", "/api/runs", {
        "demo": "gevent_patch_order", "params": {"variant": "patch_first", "clients": 1},
        "source": source}, cookie=token)
    assert status == 201, run
    assert edit_server.wait_run(run["id"])["status"] == "finished"
    status, trace = call(edit_server, "GET", f"/api/runs/{run['id']}/trace.json")
    assert "edited" in [e["text"] for e in trace["events"] if e["kind"] == "stdout"]


def test_the_websocket_runs_an_edit_only_with_the_cookie(edit_server):
    token = token_of(edit_server)
    start = {"type": "start", "demo": "greenlet_eat_play", "params": {}, "source": EDITED}
    ws = ws_connect(edit_server)
    try:
        ws.send(json.dumps(start))
        assert json.loads(ws.recv()) == {"type": "error", "error": (
            "editing needs the address the server printed when it started (it ends in "
            "?edit=...): open it once in this browser")}
    finally:
        ws.close()
    ws = ws_connect(edit_server, cookie=f"coroscope_edit_{edit_server.port}={token}")
    try:
        ws.send(json.dumps(start))
        frame = json.loads(ws.recv())
        assert frame["type"] == "run" and frame["run"]["edited"]["file"] == "greenlet_eat_play.py"
    finally:
        ws.close()


@pytest.mark.parametrize(("source", "error"), [
    (42, "\"source\" must be the demo's code as a string"),
    ("print('\ud800')", "\"source\" is not text a Python file can hold (a lone surrogate "
                        "in it)"),
    ("x" * (256 * 1024 + 1), "\"source\" is 262145 characters; at most 262144 may be run"),
])
def test_a_bad_source_is_refused(edit_server, tmp_path, source, error):
    status, body = call(edit_server, "POST", "/api/runs", {
        "demo": "greenlet_eat_play", "source": source}, cookie=token_of(edit_server))
    assert (status, body) == (400, {"error": error})
    assert list((tmp_path / "tmp").glob("coroscope-demos-*/coroscope-edit-*")) == []


def test_editing_is_off_on_another_address_unless_allowed(tmp_path):
    srv = Server(tmp_path / "s.log", "--host", "0.0.0.0")
    try:
        assert "?edit=" not in srv.output()
        status, body = call(srv, "POST", "/api/runs", {
            "demo": "greenlet_eat_play", "source": EDITED}, cookie="anything")
        assert status == 403 and body["error"].startswith("editing demos is off on this server")
        assert call(srv, "GET", "/api/edit")[1]["allowed"] is False
    finally:
        srv.stop()
    srv = Server(tmp_path / "t.log", "--host", "0.0.0.0", "--allow-edit")
    try:
        token = token_of(srv)
        status, run = call(srv, "POST", "/api/runs", {
            "demo": "greenlet_eat_play", "source": EDITED}, cookie=token)
        assert status == 201, run
        srv.wait_run(run["id"])
    finally:
        srv.stop()



def test_a_secret_of_any_text_is_refused_not_a_crash(edit_server):
    """A cookie or an address holding non-ASCII text (another local server may set one:
    cookies are not kept apart by port) was a 500, and broke every websocket handshake."""
    status, body = call(edit_server, "GET", "/api/edit", cookie="é")
    assert status == 200 and body["allowed"] is False
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"{edit_server.url}/?edit=%C3%A9", timeout=30)
        raise AssertionError("expected a redirect")
    except urllib.error.HTTPError as err:
        assert err.code == 303 and not err.headers.get("Set-Cookie")
    ws = ws_connect(edit_server, cookie=f"coroscope_edit_{edit_server.port}=é")
    try:
        ws.send(json.dumps({"type": "start", "demo": "greenlet_eat_play"}))
        assert json.loads(ws.recv())["type"] == "run"
    finally:
        ws.close()


def test_the_browser_is_never_given_the_secret_on_its_command_line(tmp_path):
    """Every user can read a process's command line (/proc/PID/cmdline): the browser is
    opened on a private page (0600, in a 0700 folder) that sends it on to the address."""
    import os
    import stat
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    seen = tmp_path / "argv"
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {seen}\n')
    browser.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--port", "0", "--quiet",
         "--data-dir", str(tmp_path / "data")], cwd=ROOT, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        env=dict(os.environ, BROWSER=f"{browser} %s", DISPLAY=""))
    try:
        line = proc.stdout.readline()
        token = re.search(r"\?edit=([\w-]+) ", line)[1]
        deadline = time.monotonic() + 30
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        argv = seen.read_text()
        assert argv.startswith("file://") and token not in argv and "edit" not in argv
        page = argv[len("file://"):]
        assert stat.S_IMODE(os.stat(page).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(page)).st_mode) == 0o700
        with open(page, encoding="utf-8") as f:
            assert line.split()[3] in f.read()  # the printed address, secret and all
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    # Kept a while for a browser that reads it late; an old one goes at the next opening.
    os.utime(page, (time.time() - 3600, time.time() - 3600))
    from app.browser import redirect_page

    fresh = redirect_page("http://127.0.0.1:1/")
    assert not os.path.exists(page) and os.path.dirname(fresh) == os.path.dirname(page)
    os.unlink(fresh)


def test_the_access_log_never_writes_the_secret(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from .conftest import ROOT

    log = tmp_path / "log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--no-browser", "--port", "0",
             "--data-dir", str(tmp_path / "data")], cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        deadline = time.monotonic() + 30
        while "serving on" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        m = re.search(r"serving on (http://127\.0\.0\.1:\d+)/\?edit=([\w-]+) ", log.read_text())
        url, token = m[1], m[2]
        opener = urllib.request.build_opener(NoRedirect)
        try:
            opener.open(f"{url}/?edit={token}", timeout=30)
        except urllib.error.HTTPError as err:
            assert err.code == 303
        deadline = time.monotonic() + 10
        while "GET /?edit=" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        proc.terminate()
        proc.wait(30)
    text = log.read_text()
    assert '"GET /?edit=... HTTP/1.1" 303' in text
    assert text.count(token) == 1  # the address printed once at start, for its user

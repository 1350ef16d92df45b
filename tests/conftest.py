"""Shared fixtures: the real server on a loopback port, and trace checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "app" / "tracer" / "trace.schema.json").read_text())
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session", autouse=True)
def data_dir(tmp_path_factory):
    """Run history of every server and CLI the tests start: a temporary folder."""
    path = tmp_path_factory.mktemp("history")
    os.environ["COROSCOPE_DATA_DIR"] = str(path)
    yield path


def validate_trace(trace: dict) -> None:
    """Schema-valid and gapless: ``events[i].seq == i``, ``run.events == len(events)``."""
    jsonschema.Draft202012Validator(SCHEMA).validate(trace)
    seqs = [e["seq"] for e in trace["events"]]
    assert seqs == list(range(len(seqs))), "event seq must be gapless from 0"
    assert trace["run"]["events"] == len(seqs)
    ids = {t["id"] for t in trace["tasks"]}
    for e in trace["events"]:
        for key in ("from", "to", "task"):
            if key in e:
                assert e[key] in ids, f"event {e['seq']} names unknown task {e[key]}"


class Server:
    """A real ``coroscope serve`` in a subprocess, on a free loopback port."""

    def __init__(self, log_path: Path, *options: str) -> None:
        self.log_path = log_path
        self.log = open(log_path, "w+")  # a file, not a pipe: a full pipe would block it
        if "--data-dir" not in options:  # one server per history (history.py: server.lock)
            options = (*options, "--data-dir", str(log_path.with_suffix(".data")))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--no-browser", "--port", "0", "--quiet",
             *options],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        deadline = time.monotonic() + 30
        m = None
        while m is None and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", log_path.read_text())
        if m is None:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {log_path.read_text()}")
        self.port = int(m[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"

    @property
    def edit_token(self) -> str:
        """The secret in the address the server printed (``?edit=...``)."""
        m = re.search(r"serving on http://\S+/\?edit=([\w-]+)", self.output())
        assert m, self.output()
        return m[1]

    def get(self, path: str):
        """(status, parsed JSON body) of a GET."""
        return self.request("GET", path)

    def request(self, method: str, path: str, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())

    def wait_run(self, run_id: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, run = self.get(f"/api/runs/{run_id}")
            assert status == 200
            if run["status"] not in ("starting", "running"):
                return run
            time.sleep(0.05)
        raise AssertionError(f"run {run_id} did not end in {timeout} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def output(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text()


class Poller(threading.Thread):
    """GETs ``url`` every ``every`` seconds until stopped; keeps how long each answer took
    (the tests that check the server never holds its loop, and benchmarks/server_load.py)."""

    def __init__(self, url: str, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.every = every
        self.latencies: list[float] = []  # seconds
        self.failures: list[str] = []
        self.stopped = threading.Event()

    @property
    def worst(self) -> float:
        return max(self.latencies, default=0.0)

    @property
    def count(self) -> int:
        return len(self.latencies)

    def run(self) -> None:
        while not self.stopped.is_set():
            t0 = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=120) as resp:
                    resp.read()
            except OSError as exc:
                self.failures.append(repr(exc))
            self.latencies.append(time.monotonic() - t0)
            self.after_each()
            self.stopped.wait(self.every)

    def after_each(self) -> None:
        """Called after each answer (a benchmark samples the server's memory here)."""

    def stop(self) -> Poller:
        self.stopped.set()
        self.join(130)
        return self


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The real gevent server, started once for the session."""
    srv = Server(tmp_path_factory.mktemp("server") / "server.log")
    yield srv
    srv.stop()
    # No tracebacks, no "Invalid HTTP method" after websockets closed, nothing unexpected.
    assert "Traceback" not in srv.output() and "Invalid" not in srv.output(), srv.output()


@pytest.fixture(scope="session")
def fault_server(tmp_path_factory):
    """A second real server, with tight limits and the misbehaving demos registered."""
    srv = Server(tmp_path_factory.mktemp("faults") / "server.log",
                 "--max-seconds", "3", "--max-events", "200000", "--max-output-kb", "64",
                 "--max-memory-mb", "512", "--max-runs", "4",
                 "--extra-demos", str(ROOT / "tests" / "fault_demos" / "registry.py"))
    yield srv
    srv.stop()
    assert "Traceback" not in srv.output(), srv.output()


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium; missing it fails in CI and skips (with the reason) elsewhere."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install -y chromium)")
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path):
    """Headless Debian Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh 1280x800 page."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    yield pg
    context.close()


def state(page) -> dict:
    """The page's read-only ``window.coroscope`` state, without its methods."""
    return page.evaluate(
        "() => JSON.parse(JSON.stringify(window.coroscope, (k, v) =>"
        " typeof v === 'function' ? undefined : v))"
    )


def header_says(page, prefix: str, timeout: float = 20_000) -> str:
    """Wait until the header's status starts with ``prefix``; return it. The header is
    drawn in the next animation frame after ``window.coroscope.status`` changes, so a
    test that has waited for the status must still wait for its text."""
    from playwright.sync_api import expect

    status = page.get_by_test_id("status")
    expect(status).to_have_text(re.compile("^" + re.escape(prefix)), timeout=timeout)
    return status.inner_text()


# A JavaScript expression: the timeline's wrap and its canvas, in device pixels. Equal when
# the canvas has been sized to its wrap (a canvas drawn at a stale size is not).
CANVAS_AND_WRAP = """(() => {
  const wrap = document.getElementById('timeline-wrap'), d = window.devicePixelRatio || 1;
  const canvas = document.querySelector('[data-testid=timeline]');
  return { wrap: [Math.round(wrap.clientWidth * d), Math.round(wrap.clientHeight * d)],
           canvas: [canvas.width, canvas.height] };
})()"""


def record_header(page) -> None:
    """From now on, keep every text the header's status shows (read with
    :func:`header_texts`): states that last less than a test's look at them."""
    page.evaluate("""() => {
      window.__headerTexts = [];
      const el = document.querySelector('[data-testid=status]');
      new MutationObserver(() => window.__headerTexts.push(el.textContent))
        .observe(el, { childList: true, characterData: true, subtree: true });
    }""")


def header_texts(page) -> list[str]:
    """Every text the header's status showed since :func:`record_header`, in order."""
    return page.evaluate("window.__headerTexts")


def choose_demo(page, demo: str, **params) -> None:
    """Pick a demo in the dashboard's picker and fill in its parameter fields."""
    page.get_by_test_id("demo-select").select_option(demo)
    for name, value in params.items():
        page.locator(f"[name={name}]").fill(str(value))


def allow_editing(page, server: Server) -> None:
    """Give the page's browser the server's edit secret, as opening the address the server
    printed does (the README's screenshots show the page as its user sees it)."""
    page.context.add_cookies([{"name": f"coroscope_edit_{server.port}",
                               "value": server.edit_token,
                               "url": server.url}])


def ws_connect(server: Server, **kwargs):
    """A real websocket client connected to ``/ws`` (Origin set as a browser would)."""
    import websocket

    kwargs.setdefault("origin", server.url)
    # websocket-client checks text frames with a pure-Python UTF-8 automaton (about 6 MB/s):
    # json.loads does that check anyway, so skip it, or the client is what gets measured.
    kwargs.setdefault("skip_utf8_validation", True)
    return websocket.create_connection(server.ws_url, timeout=60, **kwargs)


def follow_run(ws, first_message: dict) -> tuple[dict, list[list], dict]:
    """Send ``first_message``; collect the run frame, every row (seq-checked) and the end."""
    ws.send(json.dumps(first_message))
    frame = json.loads(ws.recv())
    assert frame["type"] == "run", frame
    rows: list[list] = []
    while True:
        msg = json.loads(ws.recv())
        if msg["type"] == "end":
            return frame, rows, msg
        assert msg["type"] == "events", msg
        assert msg["seq"] == len(rows), "batches must arrive gapless and in order"
        assert msg["n"] == len(msg["rows"])
        rows.extend(msg["rows"])

"""Shared fixtures: the real server on a loopback port, and trace checks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--no-browser", "--port", "0", "--quiet"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.proc.kill()
            raise RuntimeError(f"server did not start: {line!r} {self.proc.stdout.read()}")
        self.port = int(m[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/ws"

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
        self.proc.stdout.close()


@pytest.fixture(scope="session")
def server():
    """The real gevent server, started once for the session."""
    srv = Server()
    yield srv
    srv.stop()


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

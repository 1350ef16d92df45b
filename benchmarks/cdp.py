"""Headless Chromium driven over the DevTools protocol with the Runtime domain alone.

Why not Playwright for the streaming figures: Playwright enables the Network domain on
every page, and Chromium then copies the payload of every websocket frame into a
``Network.webSocketFrameReceived`` event for the driver. For a million-event stream that
is ~33 MB more to serialise in the browser and parse in Playwright's Node process, on a
2-core machine already shared by the traced child and the server: the same page measured
1.9x the child alone under Playwright and 1.3-1.5x without it. A learner's browser has no
driver attached, so the stream is measured here with nothing but ``Runtime.evaluate``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

from tests.conftest import CHROMIUM, CHROMIUM_ARGS


class CdpPage:
    def __init__(self, url: str) -> None:
        import websocket

        self.profile = tempfile.mkdtemp(prefix="coroscope-cdp-")
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", *CHROMIUM_ARGS, "--remote-debugging-port=0",
             f"--user-data-dir={self.profile}", "--window-size=1280,720", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._id = 0
        try:
            port = self._port()
            target = self._page_target(port)
            self.ws = websocket.create_connection(target, timeout=120, suppress_origin=True)
        except BaseException:
            self.close()
            raise

    def _port(self) -> int:
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(path):
                text = open(path).read().split()
                if text:
                    return int(text[0])
            time.sleep(0.05)
        raise RuntimeError("Chromium did not open its DevTools port")

    def _page_target(self, port: int) -> str:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as r:
                pages = [t for t in json.load(r) if t["type"] == "page"]
            if pages:
                return pages[0]["webSocketDebuggerUrl"]
            time.sleep(0.05)
        raise RuntimeError("Chromium opened no page")

    def evaluate(self, expression: str):
        """The value of a JS expression (awaited if it is a promise)."""
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": "Runtime.evaluate", "params": {
            "expression": expression, "awaitPromise": True, "returnByValue": True}}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                result = message["result"]
                if "exceptionDetails" in result:
                    raise RuntimeError(result["exceptionDetails"])
                return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(expression)
            time.sleep(0.05)

    def close(self) -> None:
        if getattr(self, "ws", None) is not None:
            self.ws.close()
        self.proc.terminate()
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

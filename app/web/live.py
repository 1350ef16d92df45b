"""The websocket endpoint ``/ws``: parse, dispatch, relay (protocol in docs/trace-format.md).

simple-websocket 1.1.0 writes frames with ``socket.send`` and ignores how many bytes
went out. Under gevent with a slow reader, ``send`` writes part of a frame and the
rest is lost: the stream is corrupted. :class:`SafeSocket` makes every write a
``sendall``, and :func:`guard` serialises whole-frame encoding + write under one
lock, so frames from the relay and the reader's pongs never interleave and the
permessage-deflate context is advanced in the order frames hit the wire.

Compression is declined on loopback (:class:`LoopbackDeflate`): Chromium always offers
permessage-deflate and simple-websocket always accepts it, so a million-event stream
(~33 MB of JSON) was deflated by the server and inflated by the page for nothing a
loopback socket needs. Measured side by side (two servers, same page, no driver
instrumentation): the dashboard's live stream went from 1.8x to 1.4-1.5x the traced
child alone, the bare-WebSocket floor from 1.3x to 1.1x.
"""

from __future__ import annotations

from typing import Any

import gevent
import orjson
import simple_websocket.ws
from flask import current_app, g, has_app_context, jsonify, request
from flask_sock import Sock
from gevent.lock import RLock
from simple_websocket import ConnectionClosed
from wsproto.extensions import PerMessageDeflate

from ..runs import Run, RunError
from ..tracer.events import KIND_NAMES
from . import edit_refusal, registry

sock = Sock()

#: How often a flight-recorded run's viewers hear how it goes (seconds).
FLIGHT_EVERY = 1.0


class LoopbackDeflate(PerMessageDeflate):
    """permessage-deflate, accepted only when the app's ``WS_COMPRESSION`` is on."""

    def accept(self, offer: str) -> bool | None | str:
        if has_app_context() and current_app.config.get("WS_COMPRESSION"):
            return super().accept(offer)
        return None  # declined: the extension stays disabled for this connection


# simple-websocket offers no option for this; it builds its extension from this name.
simple_websocket.ws.PerMessageDeflate = LoopbackDeflate


class SafeSocket:
    """A socket whose ``send`` never writes part of its data."""

    def __init__(self, raw: Any, lock: RLock) -> None:
        self._raw = raw
        self._lock = lock

    def send(self, data: bytes) -> int:
        with self._lock:
            self._raw.sendall(data)
        return len(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def guard(ws: Any) -> RLock:
    """Make ``ws`` safe to send on from several greenlets; return its send lock."""
    lock = RLock()
    ws.sock = SafeSocket(ws.sock, lock)
    unsafe_send = ws.send

    def send(data: Any) -> None:
        with lock:
            unsafe_send(data)

    ws.send = send
    return lock


class Connection:
    """One browser tab: at most one subscription at a time."""

    def __init__(self, ws: Any, send_lock: RLock) -> None:
        self.ws = ws
        self.send_lock = send_lock
        self.registry = registry()
        self.max_bytes = current_app.config["MAX_MESSAGE_BYTES"]
        #: Why this tab may not run edited code (its handshake's cookie), or None.
        self.edit_refused = edit_refusal()
        self.relay: gevent.Greenlet | None = None

    def send_json(self, obj: dict[str, Any]) -> None:
        self.ws.send(orjson.dumps(obj).decode())

    def error(self, message: str) -> None:
        self.send_json({"type": "error", "error": message})

    def serve(self) -> None:
        try:
            while True:
                data = self.ws.receive()
                self.dispatch(data)
        finally:
            self.stop_relay()

    def stop_relay(self) -> None:
        """Stop the current relay between two frames, never in the middle of one."""
        if self.relay is not None:
            with self.send_lock:
                self.relay.kill()
            self.relay = None

    def dispatch(self, data: Any) -> None:
        if isinstance(data, bytes):
            return self.error("binary frames are not understood; send JSON text")
        if len(data) > self.max_bytes:
            return self.error(f"message too big: {len(data)} characters, at most "
                              f"{self.max_bytes}")
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return self.error(f"not JSON: {exc}")
        if not isinstance(msg, dict):
            return self.error(f"a message must be a JSON object, got {type(msg).__name__}")
        kind = msg.get("type")
        handler = {"start": self.on_start, "subscribe": self.on_subscribe,
                   "cancel": self.on_cancel}.get(kind)  # type: ignore[arg-type]
        if handler is None:
            return self.error(
                f"unknown message type {kind!r}; expected one of start, subscribe, cancel"
            )
        handler(msg)

    def _run_named(self, msg: dict[str, Any]) -> Run | None:
        run_id = msg.get("run")
        if not isinstance(run_id, str):
            self.error(f"{msg['type']!r} needs \"run\": a run id")
            return None
        run = self.registry.get(run_id)
        if run is None:
            self.error(f"no run {run_id!r}")
        return run

    def on_start(self, msg: dict[str, Any]) -> None:
        from .api import start_run

        try:
            run = start_run(msg, self.edit_refused)
        except RunError as exc:
            return self.error(str(exc))
        self.follow(run)

    def on_subscribe(self, msg: dict[str, Any]) -> None:
        run = self._run_named(msg)
        if run is not None:
            self.follow(run)

    def on_cancel(self, msg: dict[str, Any]) -> None:
        run = self._run_named(msg)
        if run is not None:
            run.cancel()

    def follow(self, run: Run) -> None:
        self.stop_relay()
        self.relay = gevent.spawn(self._relay, run)

    def _relay(self, run: Run) -> None:
        try:
            self.send_json({"type": "run", "run": run.describe(source=True),
                            "kinds": list(KIND_NAMES)})
            # A flight-recorded run sends its events when it ends (its last window);
            # meanwhile, how it goes: the events seen, the snapshots taken.
            while run.flight is not None and not run.ended.wait(FLIGHT_EVERY):
                self.send_json({"type": "flight", "run": run.describe()})
            for batch in run.follow():
                self.ws.send(batch.decode())
            self.send_json({"type": "end", "run": run.describe()})
        except (ConnectionClosed, OSError):
            # A vanished client shows up as BrokenPipe/ConnectionReset on send.
            pass


def limit_sockets(app: Any) -> None:
    """Cap the open websockets (``MAX_WEBSOCKETS``): past it a handshake is refused with
    503 and a JSON error before it is accepted. Each holds a descriptor for as long as
    the tab is open; without a cap, idle tabs (or a script) could take every descriptor
    and leave none for plain requests: ~510 idle websockets did so under ulimit -n 1024."""
    app.config.setdefault("MAX_WEBSOCKETS", 256)
    state = app.extensions.setdefault("coroscope.websockets", {"open": 0})

    @app.before_request
    def _admit_websocket():
        if request.path != "/ws" or request.headers.get("Upgrade", "").lower() != "websocket":
            return None
        cap = app.config["MAX_WEBSOCKETS"]
        if state["open"] >= cap:
            return jsonify(error=f"too many live connections ({cap}): close another "
                                 "tab of this dashboard, or start the server with a "
                                 "higher --max-sockets"), 503
        state["open"] += 1
        g.coroscope_websocket = True
        return None

    @app.teardown_request
    def _release_websocket(exc: BaseException | None) -> None:
        if g.pop("coroscope_websocket", False):
            state["open"] -= 1


@sock.route("/ws")
def ws_endpoint(ws: Any) -> None:
    # Tell the gevent handler this connection now speaks websocket (see server.py).
    request.environ["coroscope.websocket"] = True
    lock = guard(ws)
    try:
        Connection(ws, lock).serve()
    except OSError:
        pass

"""The Flask side: pages, the REST API and the websocket, over a RunRegistry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from ..runs import Limits, RunRegistry

ROOT = Path(__file__).resolve().parent.parent.parent

#: Hostnames a browser may use to reach a loopback-bound server.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def build_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        "coroscope",
        static_folder=str(ROOT / "static"),
        template_folder=str(ROOT / "templates"),
    )
    app.config.update(
        # host:port strings this server answers to; None: any loopback name, any port.
        ALLOWED_HOSTS=None,
        LIMITS=Limits(),
        # Folder of the run history (None: keep runs in memory only, as the tests do).
        DATA_DIR=None,
        # Hard cap: simple-websocket closes the connection above it. Anything above
        # MAX_MESSAGE_BYTES but below it gets an error frame and the connection lives on.
        SOCK_SERVER_OPTIONS={"max_message_size": 16 << 20},
        MAX_MESSAGE_BYTES=64 << 10,
        # permessage-deflate on /ws: off on loopback, where it only costs CPU on both ends
        # (see app/web/live.py); `serve` turns it on when bound to another address.
        WS_COMPRESSION=False,
        # Imported trace files: about 100 bytes an event in JSON, so ~2M events.
        MAX_CONTENT_LENGTH=256 << 20,
        JSON_SORT_KEYS=False,
    )
    app.config.update(config or {})
    store = None
    if app.config["DATA_DIR"] is not None:
        from ..store import RunStore

        store = RunStore(app.config["DATA_DIR"])
    app.extensions["coroscope.runs"] = RunRegistry(app.config["LIMITS"], store)

    from . import api, live, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    live.sock.init_app(app)

    @app.before_request
    def _check_host_and_origin():
        why = forbidden_reason(app.config["ALLOWED_HOSTS"])
        if why:
            return jsonify(error=why), 403
        return None

    @app.errorhandler(HTTPException)
    def _json_errors(exc: HTTPException):
        return jsonify(error=f"{exc.name}: {exc.description}"), exc.code

    @app.errorhandler(Exception)
    def _internal_error(exc: Exception):
        # A fault of the server's own (a disk that refuses a write, a bug): the request
        # fails with what happened, in JSON like every other error; the server goes on.
        if isinstance(exc, HTTPException):
            return _json_errors(exc)
        app.logger.exception("while serving %s %s", request.method, request.path)
        return jsonify(error=f"internal error: {exc}"), 500

    return app


def _host_allowed(host: str, allowed: frozenset[str] | None) -> bool:
    if allowed is not None:
        return host in allowed
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_NAMES


def forbidden_reason(allowed: frozenset[str] | None) -> str | None:
    """Why this request must be refused (DNS rebinding, cross-site use), or None.

    The Host header must name this server: a page on another site that rebinds its
    own domain to 127.0.0.1 still sends its own Host. A browser sends Origin on every
    websocket handshake and cross-site POST; when present it must be this server.
    """
    host = request.host
    if not _host_allowed(host, allowed):
        return f"Host {host!r} is not this server"
    origin = request.headers.get("Origin")
    stateful = request.method not in ("GET", "HEAD", "OPTIONS") or request.headers.get(
        "Upgrade", ""
    ).lower() == "websocket"
    if origin is not None and stateful and origin not in (f"http://{host}", f"https://{host}"):
        return f"Origin {origin!r} may not use this server (expected http://{host})"
    return None


def registry() -> RunRegistry:
    from flask import current_app

    return current_app.extensions["coroscope.runs"]

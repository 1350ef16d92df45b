"""The Flask side: pages, the REST API and the websocket, over a RunRegistry."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException

from .. import resources
from ..files import MAX_TRACE_BYTES
from ..runs import Limits, RunRegistry

#: Hostnames a browser may use to reach a loopback-bound server.
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def build_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        "coroscope",
        static_folder=str(resources("static")),
        template_folder=str(resources("templates")),
    )
    app.config.update(
        # host:port strings this server answers to; None: any loopback name, any port.
        ALLOWED_HOSTS=None,
        # Bound to a wildcard address (0.0.0.0, ::): its port. A Host that is an IP
        # address with this port is accepted too (see _host_allowed). None: not so bound.
        ANY_ADDRESS_PORT=None,
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
        MAX_CONTENT_LENGTH=MAX_TRACE_BYTES,
        JSON_SORT_KEYS=False,
        # Editing a demo runs the code the page sends (in the same bounded child as any
        # demo). Off unless this is on: serve sets it on for a loopback bind, and for
        # another address only with --allow-edit.
        ALLOW_EDIT=True,
        # ...and only for a browser holding this secret in its edit cookie, which
        # the page sets when opened with ?edit=TOKEN, the address the server prints and
        # opens. Other users of this machine can reach a loopback port too.
        EDIT_TOKEN=secrets.token_urlsafe(18),
    )
    app.config.update(config or {})
    store = None
    if app.config["DATA_DIR"] is not None:
        from ..history import RunStore

        # The server's store: it holds the data dir's lock for the life of this process
        # (store.DataDirError if another server does; `serve` says so and exits).
        store = RunStore(app.config["DATA_DIR"], server=True)
    app.extensions["coroscope.runs"] = RunRegistry(app.config["LIMITS"], store)

    from . import api, live, views

    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    live.sock.init_app(app)
    live.limit_sockets(app)

    @app.before_request
    def _check_host_and_origin():
        why = forbidden_reason(app.config["ALLOWED_HOSTS"], app.config["ANY_ADDRESS_PORT"])
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


def _host_allowed(host: str, allowed: frozenset[str] | None,
                  any_address_port: int | None = None) -> bool:
    if allowed is not None:
        return host in allowed or _is_address_on(host, any_address_port)
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name in LOOPBACK_NAMES


def _is_address_on(host: str, port: int | None) -> bool:
    """``host`` is ``ADDRESS:port``, ADDRESS an IPv4 address or a bracketed IPv6 one.

    For a wildcard bind, where the machine's addresses (a classroom's LAN address, one
    behind NAT) cannot all be listed. An address is safe to accept: DNS rebinding needs
    a *name* the attacker controls, since the browser sends the name it resolved as the
    Host (and takes the page's origin from it); a page served from an address is that
    address's own origin. So any IP literal may name this server, names stay listed.
    """
    import ipaddress

    name, sep, given = host.rpartition(":")
    if port is None or not sep or given != str(port):
        return False
    try:
        if name.startswith("[") and name.endswith("]"):
            ipaddress.IPv6Address(name[1:-1])
        else:
            ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def forbidden_reason(allowed: frozenset[str] | None,
                     any_address_port: int | None = None) -> str | None:
    """Why this request must be refused (DNS rebinding, cross-site use), or None.

    The Host header must name this server: a page on another site that rebinds its
    own domain to 127.0.0.1 still sends its own Host. A browser sends Origin on every
    websocket handshake and cross-site POST; when present it must be this server. It
    also says where a request comes from in Sec-Fetch-Site, even where it sends no
    Origin: a request that changes something must come from this server's own pages
    (``same-origin``) or the user (``none``), not from another site's.
    """
    host = request.host
    if not _host_allowed(host, allowed, any_address_port):
        return f"Host {host!r} is not this server"
    origin = request.headers.get("Origin")
    stateful = request.method not in ("GET", "HEAD", "OPTIONS") or request.headers.get(
        "Upgrade", ""
    ).lower() == "websocket"
    if origin is not None and stateful and origin not in (f"http://{host}", f"https://{host}"):
        return f"Origin {origin!r} may not use this server (expected http://{host})"
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and stateful and fetch_site not in ("same-origin", "none"):
        return (f"Sec-Fetch-Site {fetch_site!r}: a page of another site may not use this "
                "server (only its own pages, Sec-Fetch-Site 'same-origin', may)")
    return None


def edit_cookie() -> str:
    """The name of the cookie that carries EDIT_TOKEN (set by views.index): one per port,
    since a browser sends a host's cookies to every port of it. Two servers side by side
    (`run --live` beside `serve`) then keep their secrets apart."""
    host = request.host
    port = host.rsplit(":", 1)[1] if ":" in host.rsplit("]", 1)[-1] else "80"
    return f"coroscope_edit_{port}"


def is_edit_token(given: str) -> bool:
    """Whether ``given`` is this server's edit secret, compared in constant time (any
    text a request brings, not only ASCII: compare_digest refuses other str)."""
    from flask import current_app

    token = current_app.config["EDIT_TOKEN"].encode()
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token)


def edit_refusal() -> str | None:
    """Why this request may not run edited code, or None if it may."""
    from flask import current_app

    if not current_app.config["ALLOW_EDIT"]:
        return ("editing demos is off on this server: it is bound to an address others "
                "can reach (start it with --allow-edit to allow it)")
    if not is_edit_token(request.cookies.get(edit_cookie(), "")):
        return ("editing needs the address the server printed when it started (it ends "
                "in ?edit=...): open it once in this browser")
    return None


def registry() -> RunRegistry:
    from flask import current_app

    return current_app.extensions["coroscope.runs"]

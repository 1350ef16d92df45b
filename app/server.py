"""Serve the dashboard with gevent's WSGI server (the process must be monkey-patched first)."""

from __future__ import annotations

import errno
import re
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer

from . import create_app
from .browser import open_dashboard

DEFAULT_PORT = 8765
_SECRET = re.compile(r"([?&])edit=[^ &#]*")


class Handler(WSGIHandler):
    """gevent's handler, told to stop after a websocket.

    flask-sock has already spoken the websocket protocol on the raw socket when the
    app returns: nothing more may be written, and what follows on the socket (the
    client's close frame) must not be parsed as a new HTTP request.
    """

    def format_request(self) -> str:
        # The access log (without --quiet) must not write the edit secret where a service
        # manager's journal keeps it.
        return _SECRET.sub(r"\1edit=...", super().format_request())

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
            # simple-websocket takes this socket as it is; from gevent's own environment
            # it would dup() it: two descriptors for every open websocket.
            environ["werkzeug.socket"] = self.socket
        return environ

    def run_application(self) -> None:
        result = self.application(self.environ, self.start_response)
        if self.environ.get("coroscope.websocket"):
            self.close_connection = True
            self.headers_sent = True
            close = getattr(result, "close", None)
            if close is not None:
                close()
            return
        self.result = result
        try:
            self.process_result()
        finally:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
            self.result = None


def bind(host: str, port: int, tries: int = 20) -> socket.socket:
    """A listening socket on ``port``, or the next free one (0 means any)."""
    last: OSError | None = None
    candidates = [port + i for i in range(tries)] if port else [0]
    candidates.append(0)
    for candidate in candidates:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE:
                raise
            last = exc
            continue
        sock.listen(128)
        return sock
    raise last or OSError("no free port")


def load_trace_file(path: str) -> dict[str, Any]:
    """Read and check a native trace; if it cannot be used, say why and exit (code 2)."""
    from .cli import Refused, cannot, read_trace_file

    try:
        return read_trace_file(path)
    except Refused as exc:
        raise SystemExit(cannot("open", path, exc)) from None


#: Addresses (as given to --host) that only this machine can reach, and that all can.
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
WILDCARD_HOSTS = ("0.0.0.0", "::")


def host_names(host: str) -> set[str]:
    """The names a browser may put in its Host header to reach a server bound to ``host``.

    Loopback: the loopback names. A wildcard (``0.0.0.0``, ``::``): those, plus this
    machine's name and addresses, which is how others on the network reach it (and any
    IP address, which ``forbidden_reason`` accepts on a wildcard bind). Any other
    address: itself. Everything else is refused (see ``forbidden_reason``).
    """
    from .web import LOOPBACK_NAMES  # the names forbidden_reason accepts by default

    names = {_as_host(host)}
    if host in LOOPBACK_HOSTS + WILDCARD_HOSTS:
        names |= set(LOOPBACK_NAMES)
    if host in WILDCARD_HOSTS:
        machine = socket.gethostname()
        names |= {machine, socket.getfqdn()}
        try:
            infos = socket.getaddrinfo(machine, None)
        except OSError:
            infos = []
        names |= {_as_host(info[4][0]) for info in infos}
    return names


def _as_host(address: str) -> str:
    """An address as a Host header (and a URL) spells it: IPv6 in brackets."""
    return f"[{address}]" if ":" in address else address


@dataclass
class Served:
    """A dashboard server made and bound, not yet serving (see :func:`start`)."""

    server: WSGIServer
    app: Any
    url: str  #: the dashboard's address
    url_to_open: str  #: what the browser should show first (a trace given, or the page)

    @property
    def runs(self) -> Any:
        """The server's RunRegistry: runs launched on it are the dashboard's own."""
        return self.app.extensions["coroscope.runs"]

    def serve_until_stopped(self) -> None:
        """Serve until Ctrl+C or SIGTERM (a service manager, `kill`); then every live
        run's process group dies with it. Both are the loop's own signal watchers: a
        KeyboardInterrupt could land in any greenlet's code, not where it is awaited."""
        gevent.signal_handler(signal.SIGTERM, self.server.stop)
        gevent.signal_handler(signal.SIGINT, self.server.stop)
        try:
            self.server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.runs.shutdown()


def start(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    config: dict[str, Any] | None = None,
    quiet: bool = False,
    traces: list[str] = (),  # type: ignore[assignment]
) -> Served:
    """Bind, build the app on ``config`` and hold the ``traces`` given; say where it is.
    Nothing is answered until the caller serves (``served.server.start()``, or
    :meth:`Served.serve_until_stopped`)."""
    loaded = [load_trace_file(path) for path in traces]
    listener = bind(host, port)
    port = listener.getsockname()[1]
    shown = _as_host(host)
    loopback = host in LOOPBACK_HOSTS
    allowed = {f"{name}:{port}" for name in host_names(host)}
    config = dict(config or {})
    # Editing runs the page's code: on by default only where nobody else can reach it.
    config.setdefault("ALLOW_EDIT", loopback)
    app = create_app(dict(config, ALLOWED_HOSTS=frozenset(allowed),
                          ANY_ADDRESS_PORT=port if host in WILDCARD_HOSTS else None,
                          WS_COMPRESSION=not loopback))
    url = f"http://{'127.0.0.1' if host == '0.0.0.0' else shown}:{port}/"
    if app.config["ALLOW_EDIT"]:  # the address that lets this browser edit (views.index)
        url += f"?edit={app.config['EDIT_TOKEN']}"
    url_to_open = url
    for path, trace in zip(traces, loaded, strict=True):
        run = app.extensions["coroscope.runs"].add_imported(trace)
        print(f"{path}: {run.events} events, open {url}#run={run.id}", flush=True)
        url_to_open = f"{url}#run={run.id}"
    store = app.extensions["coroscope.runs"].store
    if store is not None:  # `coroscope run --open` finds this server through its history
        store.announce(url)
    server = WSGIServer(listener, app, handler_class=Handler, log=None if quiet else "default")
    print(f"coroscope serving on {url}  (Ctrl+C to stop)", flush=True)
    if not loopback:
        print(
            f"warning: bound to {host}: anyone who can reach this address can run the demos"
            + (", and with this address's ?edit= secret, any code" if app.config["ALLOW_EDIT"]
               else ""),
            file=sys.stderr,
            flush=True,
        )
    return Served(server, app, url, url_to_open)


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    open_browser: bool = True,
    config: dict[str, Any] | None = None,
    quiet: bool = False,
    traces: list[str] = (),  # type: ignore[assignment]
) -> None:
    served = start(host, port, config, quiet, traces)
    if open_browser:
        gevent.spawn_later(0.3, open_dashboard, served.url_to_open)
    served.serve_until_stopped()

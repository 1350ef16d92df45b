"""``coroscope`` command line: ``coroscope serve [--host H] [--port P] [--no-browser]``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coroscope", description="See coroutines switch: a local tracing dashboard."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the dashboard and open it in a browser")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; anything else prints a warning)")
    serve.add_argument("--port", type=int, default=8765,
                       help="port to try first; the next free one is used if taken (default 8765)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser")
    serve.add_argument("--quiet", action="store_true", help="do not log every request")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        # Before Flask, werkzeug or ssl load: flask-sock's reader "thread" must be a
        # greenlet. Only this server process is patched; demos run in children.
        from gevent import monkey

        monkey.patch_all()
        from .server import serve

        serve(host=args.host, port=args.port, open_browser=not args.no_browser,
              quiet=args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``coroscope`` command line: ``serve``, ``record``, ``demos``."""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coroscope", description="See coroutines switch: a local tracing dashboard."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the dashboard and open it in a browser")
    serve.add_argument("traces", nargs="*", metavar="TRACE.json",
                       help="native trace files to open (they replay as recorded)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; anything else prints a warning)")
    serve.add_argument("--port", type=int, default=8765,
                       help="port to try first; the next free one is used if taken (default 8765)")
    serve.add_argument("--no-browser", action="store_true", help="do not open a browser")
    serve.add_argument("--quiet", action="store_true", help="do not log every request")
    serve.add_argument("--max-seconds", type=float, default=60.0,
                       help="wall-time limit of a run (default 60)")
    serve.add_argument("--max-events", type=int, default=5_000_000,
                       help="events a run may record (default 5000000)")
    serve.add_argument("--max-memory-mb", type=int, default=2048,
                       help="address space of a run's process, MiB (default 2048)")
    serve.add_argument("--max-output-kb", type=int, default=1024,
                       help="what a run may print, KiB (default 1024)")
    serve.add_argument("--max-runs", type=int, default=8,
                       help="runs that may run at once (default 8)")
    serve.add_argument("--data-dir", help="where the run history is kept (default "
                       "$COROSCOPE_DATA_DIR, else ~/.local/share/coroscope)")
    serve.add_argument("--keep-runs", type=int, default=100,
                       help="finished runs kept in memory, oldest dropped first (default 100)")
    serve.add_argument("--extra-demos", metavar="FILE", action="append", default=[],
                       help="register more demos from a registry file defining DEMOS")

    record = sub.add_parser("record", help="run a built-in demo under the tracer, write its trace")
    record.add_argument("demo", help="demo id (see `coroscope demos`)")
    record.add_argument("--param", action="append", default=[], metavar="K=V",
                        help="a demo parameter, e.g. --param n=1000 (repeatable)")
    record.add_argument("--out", required=True, help="where to write the native trace JSON")
    record.add_argument("--data-dir", help="run history folder (as for serve)")

    sub.add_parser("demos", help="list the built-in demos and their parameters")

    run = sub.add_parser(
        "run", help="run a Python script under the tracer, as `python SCRIPT ARGS` would",
        description="Options go before SCRIPT; everything after it is the script's own "
                    "arguments (as with `python -m cProfile -o OUT SCRIPT ARGS`).")
    run.add_argument("--out", help="trace file to write (default: SCRIPT-NAME.coroscope.json)")
    run.add_argument("--open", action="store_true",
                     help="then show the trace in the dashboard")
    run.add_argument("--data-dir", help="run history folder (as for serve)")
    run.add_argument("--generators", action="store_true",
                     help="also trace generator send/yield (slower: a profile hook)")
    run.add_argument("script", help="the Python file to run")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")

    export = sub.add_parser("export", help="convert a native trace to another format")
    export.add_argument("trace", help="a native coroscope trace JSON file")
    export.add_argument("--format", choices=["perfetto"], default="perfetto",
                        help="perfetto: Chrome Trace Event JSON for ui.perfetto.dev")
    export.add_argument("--out", required=True, help="where to write the converted file")
    return parser


def _export(args: argparse.Namespace) -> int:
    import orjson

    from .tracer.export import to_chrome_trace

    try:
        with open(args.trace, "rb") as f:
            trace = orjson.loads(f.read())
        converted = to_chrome_trace(trace)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"coroscope: cannot convert {args.trace}: {exc!r}", file=sys.stderr)
        return 2
    _write_atomic(args.out, orjson.dumps(converted))
    print(f"{args.trace} -> {args.out} ({len(converted['traceEvents'])} trace events)")
    return 0


def _write_atomic(path: str, data: bytes) -> None:
    """Write to a temporary name then rename: never a half-written file under ``path``."""
    import os

    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _data_dir(args: argparse.Namespace) -> str:
    from .store import default_data_dir

    return str(args.data_dir or default_data_dir())


def _history(args: argparse.Namespace):
    from .store import RunStore

    return RunStore(_data_dir(args))


def _parse_param(text: str) -> tuple[str, object]:
    import json

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise SystemExit(f"coroscope: --param needs K=V, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value  # a bare word: a choice such as variant=serial


def _record(args: argparse.Namespace) -> int:
    import orjson

    from demos import DEMOS, ParamError

    from .runs import RunRegistry

    demo = DEMOS.get(args.demo)
    if demo is None:
        print(f"coroscope: no demo {args.demo!r}; known: {', '.join(DEMOS)}", file=sys.stderr)
        return 2
    try:
        params = demo.resolve_params(dict(_parse_param(p) for p in args.param))
    except ParamError as exc:
        print(f"coroscope: {exc}", file=sys.stderr)
        return 2
    run = RunRegistry(store=_history(args)).start(demo, params)
    run.ended.wait()
    _write_atomic(args.out, orjson.dumps(run.export()))
    seconds = (run.duration_ns or 0) / 1e9
    print(f"{demo.id}: {run.status} in {seconds:.3f} s, {run.events} events -> {args.out}")
    if run.unsaved:
        print(f"coroscope: this run is {run.unsaved}", file=sys.stderr)
    if run.error:
        print(run.error, file=sys.stderr)
    return 0 if run.status == "finished" else 1


def _run_script(args: argparse.Namespace) -> int:
    import os

    import orjson

    from .runs import Limits, RunRegistry, Target

    if not os.path.isfile(args.script):
        print(f"coroscope: no such script: {args.script}", file=sys.stderr)
        return 2
    out = args.out or f"{os.path.splitext(os.path.basename(args.script))[0]}.coroscope.json"
    registry = RunRegistry(Limits(max_seconds=0), store=_history(args))
    run = registry.launch(Target.for_script(args.script, args.args, args.generators))
    try:
        run.ended.wait()
    except KeyboardInterrupt:
        run.ended.wait(5)
    _write_atomic(out, orjson.dumps(run.export()))
    code = run.exit_code if run.exit_code is not None else 1
    print(f"coroscope: {run.status}, exit code {code}, {run.events} events -> {out}",
          file=sys.stderr)
    if run.unsaved:
        print(f"coroscope: this run is {run.unsaved}", file=sys.stderr)
    if args.open:
        _serve_trace(out)
    return code if code >= 0 else 128 - code


def _serve_trace(path: str) -> None:
    """Replace this process with `coroscope serve PATH` (a fresh, monkey-patched server)."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", "app", "serve", path])


def _demos() -> int:
    from demos import DEMOS

    for demo in DEMOS.values():
        params = ", ".join(
            f"{p.name}={p.default!r}" + (f" ({'|'.join(p.choices)})" if p.choices else
                                        f" [{p.min:g}..{p.max:g}]")
            for p in demo.params
        )
        print(f"{demo.id:26} {demo.title}" + (f"\n{'':26} {params}" if params else ""))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        # Before Flask, werkzeug or ssl load: flask-sock's reader "thread" must be a
        # greenlet. Only this server process is patched; demos run in children.
        from gevent import monkey

        monkey.patch_all()
        from demos import load_extra

        from .runs import Limits
        from .server import serve

        for registry_file in args.extra_demos:
            load_extra(registry_file)
        limits = Limits(max_seconds=args.max_seconds, max_events=args.max_events,
                        max_memory_bytes=args.max_memory_mb << 20,
                        max_output_bytes=args.max_output_kb << 10,
                        max_concurrent=args.max_runs, keep_finished=args.keep_runs)
        serve(host=args.host, port=args.port, open_browser=not args.no_browser,
              quiet=args.quiet, traces=args.traces,
              config={"LIMITS": limits, "DATA_DIR": _data_dir(args)})
    elif args.command == "record":
        return _record(args)
    elif args.command == "demos":
        return _demos()
    elif args.command == "export":
        return _export(args)
    elif args.command == "run":
        return _run_script(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``coroscope`` command line: ``serve``, ``record``, ``run``, ``export``, ``demos``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import NoReturn


def _version() -> str:
    from . import version

    return version()


class _VersionAction(argparse.Action):
    """``--version``: the version is looked up only when asked for (reading the installed
    distribution's metadata costs every other command 30 ms of imports)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, default=default, nargs=0,
                         help=help or "show program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        parser._print_message(f"coroscope {_version()}\n", sys.stdout)
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coroscope", description="See coroutines switch: a local tracing dashboard."
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start the dashboard and open it in a browser")
    serve.add_argument("traces", nargs="*", metavar="TRACE.json",
                       help="native trace files to open, .json or .json.gz (they replay as "
                            "recorded)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; anything else prints a warning)")
    serve.add_argument("--allow-edit", action="store_true",
                       help="let the page run edited demo code although --host is not a "
                            "loopback address (on loopback it may, by default)")
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
    serve.add_argument("--max-sockets", type=int, default=256,
                       help="live connections (browser tabs) open at once (default 256)")
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
    record.add_argument("--out", required=True,
                        help="where to write the native trace (.json; .json.gz: compressed)")
    record.add_argument("--data-dir", help="run history folder (as for serve)")

    sub.add_parser("demos", help="list the built-in demos and their parameters")

    run = sub.add_parser(
        "run", help="run a Python script under the tracer, as `python SCRIPT ARGS` would",
        description="Options go before SCRIPT; everything after it is the script's own "
                    "arguments (as with `python -m cProfile -o OUT SCRIPT ARGS`).")
    run.add_argument("--out", help="trace file to write (default: SCRIPT-NAME.coroscope.json; "
                                   "a name ending in .gz is written gzip-compressed)")
    run.add_argument("--open", action="store_true",
                     help="then show the trace in the dashboard")
    run.add_argument("--live", action="store_true",
                     help="show the run in the dashboard while it goes on (the server "
                          "already serving the history, else one started here)")
    run.add_argument("--no-browser", action="store_true",
                     help="with --live: do not open a browser, only print the address")
    run.add_argument("--flight-recorder", metavar="WINDOW",
                     help="keep only the last WINDOW of events (30s, 5m): for programs "
                          "that run for hours; snapshots of it are written on SIGUSR1 "
                          "(coroscope snapshot PID) and to --out at the end")
    run.add_argument("--snapshot-on-block", metavar="DURATION",
                     help="with --flight-recorder: also write a snapshot when the thread "
                          "is blocked longer than DURATION (200ms), at most once a window")
    run.add_argument("--data-dir", help="run history folder (as for serve)")
    run.add_argument("--generators", action=argparse.BooleanOptionalAction, default=True,
                     help="trace generator send/yield as switches too (the default; "
                          "--no-generators: greenlets only, no profile hook)")
    run.add_argument("script", help="the Python file to run")
    run.add_argument("args", nargs=argparse.REMAINDER, help="the script's arguments")

    snap = sub.add_parser("snapshot", help="ask a `coroscope run --flight-recorder` for a "
                                           "snapshot of its window now")
    snap.add_argument("pid", type=int, help="the process id it printed when it started")

    export = sub.add_parser("export", help="convert a native trace to another format")
    export.add_argument("trace", help="a native coroscope trace file (.json or .json.gz)")
    export.add_argument("--format", choices=["perfetto", "html"], default="perfetto",
                        help="perfetto: Chrome Trace Event JSON for ui.perfetto.dev; html: "
                             "one file with the run and the viewer, that opens offline")
    export.add_argument("--out", required=True,
                        help="where to write the converted file (a name ending in .gz: "
                             "gzip-compressed)")
    return parser


def _export(args: argparse.Namespace) -> int:

    from .tracer.checker import iter_rows
    from .tracer.events import encode_batch
    from .tracer.export import chrome_trace_chunks, native_trace_chunks

    why = out_problem(args.out)
    if why:
        return cannot("write", args.out, why)
    try:
        trace = read_trace_file(args.trace)
    except Refused as exc:
        return cannot("convert", args.trace, exc)
    rows = list(iter_rows(trace))
    batches = [encode_batch(i, rows[i:i + 10_000]) for i in range(0, len(rows), 10_000)]
    del rows
    run, tasks, version = trace["run"], trace["tasks"], trace["version"]
    del trace  # the rows, as bytes, are all the conversion needs
    if args.format == "html":
        from .standalone import html_chunks

        pieces = html_chunks(native_trace_chunks(run, batches, tasks=tasks, version=version))
    else:
        pieces = chrome_trace_chunks(run, batches, tasks=tasks)
    try:
        _write_atomic(args.out, pieces)
    except (Refused, OSError) as exc:
        return cannot("write", args.out, exc)
    print(f"{args.trace} -> {args.out} ({run['events']} events)")
    return 0




class Refused(Exception):
    """A file named on the command line cannot be used; the message says why."""


def cannot(verb: str, path: str, why: object) -> int:
    """Say ``coroscope: cannot VERB PATH: WHY`` on one line of stderr; return exit code 2."""
    if isinstance(why, OSError) and why.strerror:  # "No space left on device", not the errno
        why = why.strerror
    text = " ".join(str(why).split())  # one line, whatever the reason holds
    if len(text) > 500:
        text = text[:500] + "..."
    print(f"coroscope: cannot {verb} {path}: {text}", file=sys.stderr)
    return 2


def read_trace_file(path: str) -> dict:
    """The native trace in the file ``path``, parsed and checked; else raise Refused.

    Only a regular file of at most MAX_TRACE_BYTES is opened: a FIFO or a device would
    block or never end (``/dev/zero``), and the size is known before reading.
    """
    import orjson

    from .files import MAX_TRACE_BYTES, NAMED_FLAGS, NotRegular, TooBig, read_regular, unpack_trace
    from .tracer.export import TraceError, check_trace

    try:  # following a link is fine: the user named the file
        data = read_regular(path, MAX_TRACE_BYTES, NAMED_FLAGS)
        data = unpack_trace(data, "it")  # a .json.gz (by its first bytes, not its name)
    except NotRegular as exc:
        raise Refused(f"it is {exc.kind}, not a regular file: give a trace file (.json or "
                      ".json.gz) that coroscope wrote") from None
    except TooBig as exc:
        raise (Refused(exc.strerror) if exc.grew else _too_big(exc.size)) from None
    except OSError as exc:
        raise Refused(exc.strerror or exc) from None
    try:
        return check_trace(orjson.loads(data))
    except orjson.JSONDecodeError as exc:
        raise Refused(f"not JSON: {exc}") from None
    except TraceError as exc:
        raise Refused(exc) from None


def _too_big(size: int) -> Refused:
    from .files import MAX_TRACE_BYTES

    return Refused(f"it is {size:,} bytes, and a trace file may be at most "
                   f"{MAX_TRACE_BYTES:,} bytes ({MAX_TRACE_BYTES >> 20} MiB; a 2-million-event "
                   "trace is about 180 MB)")


def out_problem(path: str) -> str | None:
    """Why ``path`` cannot be written as an output file (checked before the work), or None.

    Only a regular file is ever replaced: a symbolic link, a FIFO or a device (as root,
    ``/dev/full`` itself) must not become a trace. The folder must exist and be writable.
    """
    import os
    import stat

    from .files import kind_of

    if not path:
        return "give a file name"
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return exc.strerror or str(exc)
    if mode is not None and not stat.S_ISREG(mode):
        return (f"it is {kind_of(mode)}, and coroscope replaces only regular files: give "
                "a new file name, or that of a regular file")
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        return f"there is no folder {folder}: create it first, or write elsewhere"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"the folder {folder} is not writable: write elsewhere"
    return None


def _write_atomic(path: str, data: bytes | Iterable[bytes]) -> None:
    """Write ``path`` whole or not at all (files.py); Refused if it is no longer a file
    that may be replaced (see out_problem): it may have changed while the work was done."""
    from .files import gzip_if_named, write_atomic

    def still_replaceable() -> None:
        why = out_problem(path)
        if why:
            raise Refused(why)

    write_atomic(path, gzip_if_named(path, [data] if isinstance(data, bytes) else data),
                 before_replace=still_replaceable)


def _data_dir(args: argparse.Namespace) -> str:
    from .history import default_data_dir

    return str(args.data_dir or default_data_dir())


def _history(args: argparse.Namespace):
    """The history this command's run is saved in (beside a server's, if one runs: see
    history.py), or None if the folder cannot be used: the run goes on, unsaved."""
    from .history import DataDirError, RunStore

    try:
        return RunStore(_data_dir(args))
    except DataDirError as exc:
        print(f"coroscope: {exc}; this run is not saved in the history", file=sys.stderr)
        return None


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

    from ._demos import DEMOS, ParamError
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
    why = out_problem(args.out)
    if why:
        return cannot("write", args.out, why)
    run = RunRegistry(store=_history(args), spill=True).start(demo, params)
    run.ended.wait()
    try:
        _write_atomic(args.out, run.export_chunks())
    except (Refused, OSError) as exc:
        return cannot("write", args.out, exc)
    seconds = (run.duration_ns or 0) / 1e9
    print(f"{demo.id}: {run.status} in {seconds:.3f} s, {run.events} events -> {args.out}")
    if run.unsaved:
        print(f"coroscope: this run is {run.unsaved}", file=sys.stderr)
    if run.error:
        print(run.error, file=sys.stderr)
    return 0 if run.status == "finished" else 1


def _run_script(args: argparse.Namespace) -> int:
    import os

    import gevent

    from .runner.supervisor import Target
    from .runs import Limits, RunRegistry
    from .tracer.export import NativeWriter

    if not os.path.isfile(args.script):
        print(f"coroscope: no such script: {args.script}", file=sys.stderr)
        return 2
    out = args.out or f"{os.path.splitext(os.path.basename(args.script))[0]}.coroscope.json"
    why = out_problem(out)
    if why:
        return cannot("write", out, why)
    # Generators are traced by default, but only those of the script's own file can be
    # (its user_files): a script that defines none runs without the profile hook, which
    # would record nothing there and slow every call (2.3x a call-heavy gevent script).
    generators = _generator_names(args.script)
    target = Target.for_script(args.script, args.args, args.generators and bool(generators))
    if args.flight_recorder or args.snapshot_on_block:
        return _run_flight(args, target, out)
    limits = Limits(max_seconds=0)  # a script of the user's own: no time limit
    served = _live_server(args) if args.live else None
    if served is not None:  # this process serves the dashboard the run is shown in
        served.server.start()
        run = served.runs.launch(target, limits)
        _show_live(args, f"{served.url_to_open}#run={run.id}", "")
    else:
        run = RunRegistry(limits, store=_history(args), spill=True).launch(target)
        if args.live:  # a server holds the history: it follows the run as it is written
            held = _server_holding(args)
            _show_live(args, f"{held[1]}#run={run.id}" if held and held[1] else "",
                       f" by the server already running (pid {held[0]})" if held else "")
    # The trace's events are written as they come, on this process's own core while the
    # script runs on another; at the end only the head is left (tracer/export.py).
    writer = NativeWriter()
    writing = gevent.spawn(lambda: [writer.feed(batch) for batch in run.follow()])
    interrupted = False
    try:
        run.ended.wait()
        writing.join()
    except KeyboardInterrupt:
        interrupted = True
        run.ended.wait(5)
        writing.join(5)
    try:
        _write_atomic(out, writer.chunks(run.describe(source=True)) if writing.successful()
                      else run.export_chunks())
    except (Refused, OSError) as exc:
        return cannot("write", out, exc)
    finally:
        writer.close()
    code = run.exit_code if run.exit_code is not None else 1
    print(f"coroscope: {run.status}, exit code {code}, {run.events} events -> {out}",
          file=sys.stderr)
    if run.unsaved:
        print(f"coroscope: this run is {run.unsaved}", file=sys.stderr)
    if generators and not args.generators:
        print(f"coroscope: generators were not traced (--no-generators): the send/yield "
              f"switches of {', '.join(generators)} are not in the trace", file=sys.stderr)
    if args.open and served is None:
        _open_trace(args, out, run)
    if served is not None and not interrupted:
        print(f"coroscope: the dashboard stays on {served.url} (Ctrl+C to stop)",
              file=sys.stderr, flush=True)
        served.serve_until_stopped()
    elif served is not None:
        served.runs.shutdown()
    return code if code >= 0 else 128 - code


def _run_flight(args: argparse.Namespace, target, out: str) -> int:
    """``run --flight-recorder WINDOW``: the run keeps its last WINDOW of events only
    (flight.py); snapshots on SIGUSR1, after a long block, and at the end (``out``)."""
    import os
    import signal

    import gevent

    from .flight import FlightSession, announce_flight_recorder, parse_duration
    from .runs import Limits, RunRegistry

    if args.live or args.open:
        return cannot("use", "--flight-recorder", "it keeps a window, not the run, so it "
                      "does not combine with --live or --open: open its snapshots from "
                      "the dashboard's History")
    try:
        window = parse_duration(args.flight_recorder or "")
        block_ns = parse_duration(args.snapshot_on_block) if args.snapshot_on_block else 0
    except ValueError as exc:
        return cannot("use", "--flight-recorder" if args.flight_recorder else
                      "--snapshot-on-block", f"{exc} (--snapshot-on-block needs "
                      "--flight-recorder)" if not args.flight_recorder else exc)
    store = _history(args)
    stem = out[:-len(".json")] if out.endswith(".json") else out
    taken: list[str] = []

    def snapshot(reason: str, path: str | None = None) -> None:
        from .tracer.export import native_trace_chunks

        meta, batches = _flight_snapshot(run, recorder, reason)
        path = path or f"{stem}.snapshot-{len(taken) + 1}.json"
        try:
            _write_atomic(path, native_trace_chunks(meta, batches))
            if store is not None:  # listed in the dashboard's History
                store.save_whole(meta, batches)
        except (Refused, OSError) as exc:
            cannot("write", path, exc)
            return
        taken.append(path)
        print(f"coroscope: snapshot ({reason}): {meta['events']} events, the last "
              f"{meta['duration_ns'] / 1e9:.1f} s -> {path}", file=sys.stderr, flush=True)

    session = FlightSession(window, block_ns, snapshot)
    recorder = session.recorder
    run = RunRegistry(Limits(max_seconds=0, max_events=0)).launch(target)
    run.batches = recorder  # before the relay has run: it appends into the ring
    gevent.signal_handler(signal.SIGUSR1, lambda: gevent.spawn(snapshot, "asked (SIGUSR1)"))
    announced = announce_flight_recorder()  # only now may `coroscope snapshot` signal it
    print(f"coroscope: flight recorder: the last {window / 1e9:g} s are kept; "
          f"`coroscope snapshot {os.getpid()}` writes them now", file=sys.stderr, flush=True)
    try:
        run.ended.wait()
    except KeyboardInterrupt:
        run.ended.wait(5)
    finally:
        announced.unlink(missing_ok=True)
        session.close()
    snapshot(f"the run {run.status}", out)
    code = run.exit_code if run.exit_code is not None else 1
    print(f"coroscope: {run.status}, exit code {code}, {recorder.events} events seen, "
          f"{len(taken)} snapshot(s)", file=sys.stderr)
    return code if code >= 0 else 128 - code


def _flight_snapshot(run, recorder, reason: str) -> tuple[dict, list[bytes]]:
    """A snapshot's description and its batches (see flight.snapshot_of)."""
    from .flight import snapshot_of

    return snapshot_of(run, recorder, reason)


def _snapshot(args: argparse.Namespace) -> int:
    """``coroscope snapshot PID``: SIGUSR1 to a flight-recording ``coroscope run`` of this
    user's, and only to one that announced itself ready (flight.py): to any other
    process SIGUSR1 means "terminate"."""
    import os
    import signal

    from .flight import is_flight_recorder

    try:
        handle = os.pidfd_open(args.pid)  # this process, even if its pid is reused later
    except OSError:
        return cannot("ask", f"process {args.pid}", "there is no such process")
    try:
        if not is_flight_recorder(args.pid):
            return cannot("ask", f"process {args.pid}", "it is not a `coroscope run "
                          "--flight-recorder` of yours (or it is not ready yet)")
        signal.pidfd_send_signal(handle, signal.SIGUSR1)
    except OSError as exc:
        return cannot("ask", f"process {args.pid}", exc)
    finally:
        os.close(handle)
    print(f"coroscope: asked {args.pid} for a snapshot; it says on its terminal where it "
          "wrote it", file=sys.stderr)
    return 0


def _server_holding(args: argparse.Namespace) -> tuple[str, str | None] | None:
    from .history import server_holding

    return server_holding(_data_dir(args))


def _live_server(args: argparse.Namespace):  # -> server.Served | None
    """For ``run --live``: a dashboard served by this process on the history, or None if
    a server already holds the history (it shows the run as this process writes it)."""
    from .history import DataDirError
    from .server import start

    if _server_holding(args) is not None:
        return None
    try:
        return start(port=0, quiet=True, config={"DATA_DIR": _data_dir(args)})
    except DataDirError:  # a server took the history meanwhile: it shows the run
        return None


def _show_live(args: argparse.Namespace, url: str, where: str) -> None:
    if not url:
        print("coroscope: a server holds this history but says no address: the run is "
              "shown there once you open it", file=sys.stderr, flush=True)
        return
    print(f"coroscope: live{where}: {url}", file=sys.stderr, flush=True)
    if not args.no_browser:
        from .browser import open_dashboard

        open_dashboard(url)


def _generator_names(path: str) -> list[str]:
    """The generators (functions and expressions) the script's own code defines."""
    import inspect
    import types

    try:
        with open(path, "rb") as f:
            code = compile(f.read(), path, "exec")
    except (OSError, SyntaxError, ValueError):
        return []
    names, todo = set(), [code]
    while todo:
        code = todo.pop()
        if code.co_flags & inspect.CO_GENERATOR:
            names.add(f"{code.co_name}()")
        todo.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return sorted(names)


def _open_trace(args: argparse.Namespace, path: str, run) -> None:
    """Show the run in the dashboard: the one already serving this history if there is
    one (the run was saved there), else a new server on the trace file."""
    from .history import server_holding

    held = server_holding(_data_dir(args))
    if held is None:
        _serve_trace(path)
    elif held[1] is not None and not run.unsaved:
        from .browser import open_dashboard

        url = f"{held[1]}#run={run.id}"
        print(f"coroscope: shown by the server already running (pid {held[0]}): {url}",
              file=sys.stderr)
        open_dashboard(url)
    else:
        print(f"coroscope: a coroscope server (pid {held[0]}) holds this history; open "
              f"{path} there with Open...", file=sys.stderr)


def _serve_trace(path: str) -> None:
    """Replace this process with `coroscope serve PATH` (a fresh, monkey-patched server)."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    from . import PACKAGE

    os.execv(sys.executable, [sys.executable, "-m", PACKAGE, "serve", path])


def _demos() -> int:
    from ._demos import DEMOS

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
        from ._demos import load_extra
        from .runs import Limits
        from .server import serve

        for registry_file in args.extra_demos:
            load_extra(registry_file)
        limits = Limits(max_seconds=args.max_seconds, max_events=args.max_events,
                        max_memory_bytes=args.max_memory_mb << 20,
                        max_output_bytes=args.max_output_kb << 10,
                        max_concurrent=args.max_runs, keep_finished=args.keep_runs)
        from .history import DataDirError

        try:
            serve(host=args.host, port=args.port, open_browser=not args.no_browser,
                  quiet=args.quiet, traces=args.traces,
                  config={"LIMITS": limits, "DATA_DIR": _data_dir(args),
                          "MAX_WEBSOCKETS": args.max_sockets,
                          **({"ALLOW_EDIT": True} if args.allow_edit else {})})
        except DataDirError as exc:  # another server holds the history, or it is unusable
            print(f"coroscope: {exc}", file=sys.stderr)
            return 1
    elif args.command == "record":
        return _record(args)
    elif args.command == "demos":
        return _demos()
    elif args.command == "export":
        return _export(args)
    elif args.command == "snapshot":
        return _snapshot(args)
    elif args.command == "run":
        if args.live:  # this process may serve the dashboard: patched as `serve` is
            from gevent import monkey

            monkey.patch_all()
            return _run_script(args)
        code = _run_script(args)
        if argv is None:  # this process's own command line: it ends with the run
            _exit_now(code)
        return code
    return 0


def _exit_now(code: int) -> NoReturn:
    """End the process as returning from ``main`` would (atexit handlers run, stdout and
    stderr flushed), without the interpreter's teardown: after a script's run nothing is
    left to write, and tearing down gevent's hub and every module took 15 ms that the
    user waited for."""
    import atexit
    import os

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: as Python's own exit says it
            code = code or 120
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())

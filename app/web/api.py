"""REST API: demos, runs, the native export. Every error is JSON ``{"error": ...}``."""

from __future__ import annotations

import os
import tempfile
from typing import Any

import gevent
from flask import Blueprint, Response, current_app, jsonify, request

from .._demos import DEMOS, ParamError
from ..files import gzip_chunks
from ..runs import RunError
from ..standalone import html_chunks
from . import edit_refusal, registry

bp = Blueprint("api", __name__, url_prefix="/api")


def _error(message: str, status: int):
    return jsonify(error=message), status


@bp.get("/demos")
def list_demos():
    return jsonify([d.describe() for d in DEMOS.values()])


@bp.get("/demos/<demo_id>")
def get_demo(demo_id: str):
    demo = DEMOS.get(demo_id)
    if demo is None:
        return _error(f"no demo {demo_id!r}; see GET /api/demos", 404)
    return jsonify(dict(demo.describe(), source=demo.source()))


@bp.get("/edit")
def can_edit():
    """Whether this browser may run edited code, and if not, why (the page asks)."""
    why = edit_refusal()
    return jsonify(allowed=why is None, why=why)


#: The largest edited source a run takes (the demos are 1-5 KB).
MAX_SOURCE_CHARS = 256 << 10


def start_run(body: object, edit_refused: str | None = "no edits here"):
    """Validate a start request (shared by POST /api/runs and the websocket).
    ``edit_refused``: why this client may not send edited code (None: it may)."""
    if not isinstance(body, dict):
        raise RunError("the body must be a JSON object like {\"demo\": id, \"params\": {}}")
    if "script" in body:
        return _start_script(body, edit_refused)
    demo_id = body.get("demo")
    if not isinstance(demo_id, str):
        raise RunError("missing \"demo\": the id of a demo (see GET /api/demos)")
    demo = DEMOS.get(demo_id)
    if demo is None:
        raise RunError(f"no demo {demo_id!r}; see GET /api/demos", status=404)
    try:
        params = demo.resolve_params(body.get("params"))
    except ParamError as exc:
        raise RunError(str(exc)) from None
    untraced = body.get("untraced", False)
    if not isinstance(untraced, bool):
        raise RunError("\"untraced\" must be true or false")
    if untraced and not (demo.untraced_on_request or demo.untraced_rerun):
        raise RunError(f"demo {demo_id!r} is not timed untraced: only the demos that time "
                       "their run (untraced_rerun or untraced_on_request in GET /api/demos) "
                       "take \"untraced\"")
    source = body.get("source")
    if source is not None:
        _check_source(source, "the demo's", edit_refused)
    flight = _flight(body)
    return registry().start(demo, params, source=source, untraced=untraced, flight=flight)


#: The longest window a dashboard run may keep (the ring is the server's memory).
MAX_FLIGHT_WINDOW_NS = 300 * 10**9


def _flight(body: dict) -> tuple[int, int] | None:
    """``"flight_recorder": "10s"`` (and ``"snapshot_on_block": "200ms"``): a run that
    keeps only its last window of events, as ``coroscope run --flight-recorder``."""
    from ..flight import parse_duration

    window, block = body.get("flight_recorder"), body.get("snapshot_on_block")
    if window is None:
        if block is not None:
            raise RunError("\"snapshot_on_block\" needs \"flight_recorder\": a window "
                           "like \"10s\" to take the snapshot of")
        return None
    durations = []
    for name, value in (("flight_recorder", window), ("snapshot_on_block", block)):
        if value is None:
            durations.append(0)
            continue
        if not isinstance(value, str):
            raise RunError(f"\"{name}\" must be a duration as a string, like \"10s\" or "
                           f"\"200ms\", got {type(value).__name__}")
        try:
            durations.append(parse_duration(value))
        except ValueError as exc:
            raise RunError(f"\"{name}\": {exc}") from None
    if durations[0] > MAX_FLIGHT_WINDOW_NS:
        raise RunError(f"\"flight_recorder\": a window of at most "
                       f"{MAX_FLIGHT_WINDOW_NS // 10**9} s is kept here, got {window!r}")
    return durations[0], durations[1]


def _check_source(source: object, whose: str, edit_refused: str | None) -> None:
    if not isinstance(source, str):
        raise RunError(f"\"source\" must be {whose} code as a string")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800") cannot be a file's text
        raise RunError("\"source\" is not text a Python file can hold (a lone "
                       "surrogate in it)") from None
    if len(source) > MAX_SOURCE_CHARS:
        raise RunError(f"\"source\" is {len(source)} characters; at most "
                       f"{MAX_SOURCE_CHARS} may be run")
    if edit_refused is not None:
        raise RunError(edit_refused, status=403)


def _start_script(body: dict, edit_refused: str | None):
    """``{"script": RUN_ID, "source": TEXT}``: the script of that run, run again with
    ``source`` as its text (code from the page: only with the edit secret)."""
    run_id = body["script"]
    if not isinstance(run_id, str):
        raise RunError("\"script\" must be the id of a run of a script")
    unknown = sorted(set(body) - {"script", "source", "type"})
    if unknown:
        raise RunError(f"unknown field {unknown[0]!r} with \"script\"; a script is run "
                       "again with {\"script\": run id, \"source\": its text}")
    if "source" not in body:
        raise RunError("missing \"source\": the script's code to run")
    _check_source(body["source"], "the script's", edit_refused)
    return registry().start_script(run_id, body["source"])


@bp.post("/runs")
def create_run():
    body = request.get_json(silent=True)
    if body is None:
        return _error("the body must be JSON (Content-Type: application/json)", 400)
    try:
        run = start_run(body, edit_refusal())
    except RunError as exc:
        return _error(str(exc), exc.status)
    return jsonify(run.describe()), 201


@bp.get("/runs")
def list_runs():
    return jsonify(registry().all())


def _run_or_404(run_id: str):
    run = registry().get(run_id)
    if run is None:
        return None, _error(f"no run {run_id!r}", 404)
    return run, None


@bp.get("/runs/<run_id>")
def get_run(run_id: str):
    # A stored run is described from its meta.json, its events not read again.
    info = registry().describe(run_id)
    return jsonify(info) if info is not None else _error(f"no run {run_id!r}", 404)


@bp.patch("/runs/<run_id>")
def rename_run(run_id: str):
    body = request.get_json(silent=True)
    title = body.get("title") if isinstance(body, dict) else None
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        return _error("send {\"title\": \"a new name\"} (1 to 200 characters)", 400)
    info = registry().rename(run_id, title.strip())
    return jsonify(info) if info is not None else _error(f"no run {run_id!r}", 404)


@bp.delete("/runs/<run_id>")
def delete_run(run_id: str):
    if not registry().delete(run_id):
        return _error(f"no run {run_id!r}", 404)
    return jsonify(deleted=run_id)


@bp.post("/runs/<run_id>/snapshot")
def snapshot_run(run_id: str):
    """A flight-recorded run's window now, as a run of its own (status ``snapshot``)."""
    try:
        return jsonify(registry().snapshot(run_id)), 201
    except RunError as exc:
        return _error(str(exc), exc.status)


@bp.post("/runs/<run_id>/cancel")
def cancel_run(run_id: str):
    run, err = _run_or_404(run_id)
    if err:
        return err
    run.cancel()
    run.ended.wait(5)
    return jsonify(run.describe())


#: What an import may be sent as: the trace's JSON, or a .json.gz of it (unpacked, up to
#: the same size, by the importer: files.unpack_trace).
_IMPORT_TYPES = ("application/json", "application/gzip", "application/x-gzip")


@bp.post("/import")
def import_trace():
    """A native trace file, posted as the body: read and checked in a child process,
    then held as a finished run. The body goes to a temporary file as it arrives; the
    server's loop never parses it (a 178 MB trace held every request for minutes)."""
    if request.mimetype not in _IMPORT_TYPES:
        return _error("send the trace as Content-Type: application/json, or "
                      "application/gzip for a .json.gz (got "
                      f"{request.mimetype or 'none'})", 415)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return _error(f"trace too big: {request.content_length >> 20} MiB, at most "
                      f"{limit >> 20} MiB", 413)
    fd, path = tempfile.mkstemp(prefix="coroscope-import-", suffix=".json")
    os.unlink(path)  # only the descriptor holds it: nothing is left if the server is killed
    try:
        size = _receive(request.environ["wsgi.input"], fd, limit)
        if size is None:
            return _error(f"trace too big: more than {limit >> 20} MiB", 413)
        if size == 0:
            return _error("empty body: post the contents of a coroscope trace.json", 400)
        try:
            run = registry().import_file(fd=fd)
        except RunError as exc:
            return _error(str(exc), exc.status)
    finally:
        os.close(fd)
    return jsonify(run.describe()), 201


def _receive(stream: Any, fd: int, limit: int) -> int | None:
    """Copy a request body (sized or chunked) to ``fd``; None once it exceeds ``limit``."""
    size = 0
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            return size
        size += len(chunk)
        if size > limit:
            return None
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view):]


#: The downloads of a run: what each holds, its file name's ending and its type.
_DOWNLOADS = {
    "json": ("native", ".json", "application/json"),
    "json.gz": ("native.gz", ".json.gz", "application/gzip"),
    "perfetto.json": ("perfetto", ".perfetto.json", "application/json"),
    "html": ("html", ".html", "text/html"),  # the run and the viewer, offline: standalone.py
}


@bp.get("/runs/<run_id>/trace.<any(json, 'json.gz', 'perfetto.json', html):kind>")
def export_run(run_id: str, kind: str):
    """A run's trace, streamed from its stored batches (see tracer/export.py)."""
    run, err = _run_or_404(run_id)
    if err:
        return err
    if run.flight is not None and not run.ended.is_set():
        return _error(f"run {run_id!r} is flight-recorded: it keeps only its last window, "
                      f"and that until it ends; take a snapshot (POST /api/runs/{run_id}"
                      "/snapshot) and download that", 409)
    what, ending, mimetype = _DOWNLOADS[kind]
    body = run.export_chunks(perfetto=what == "perfetto", pause=_pause)
    if what == "html":
        body = html_chunks(body)
    elif what == "native.gz":
        body = gzip_chunks(body)
    return _download(body, f"coroscope-{_stem(run)}-{run.id}{ending}", mimetype)


def _stem(run: Any) -> str:
    """A download's name: the demo, else the run's title (an import's, a script's)."""
    info = run.describe()
    return info.get("demo") or info.get("title") or run.target.name


def _pause() -> None:
    """Between two batches of a download (10-30 ms of work each): other requests run.
    Not sleep(0): that only runs greenlets already ready, and the loop does not poll
    sockets in between, so a request arriving meanwhile waited for the whole download
    (2.4 s measured). A timer makes the loop go round and poll."""
    gevent.sleep(0.001)


def _download(body: Any, filename: str, mimetype: str = "application/json") -> Response:
    """A download: ``body`` is bytes or pieces of bytes (streamed)."""
    return Response(body, mimetype=mimetype,
                    headers={"Content-Disposition": _attachment(filename)})


def _attachment(filename: str) -> str:
    """``Content-Disposition: attachment`` naming ``filename`` as RFC 6266 says: a quoted
    ASCII ``filename`` for old clients, then ``filename*`` (RFC 5987: UTF-8, percent-encoded)
    with the real name, which browsers prefer. The name is the user's (a script path, an
    imported or renamed title: ``协程.py``, an emoji, a CR LF): a header is Latin-1 and one
    line, so sent raw it made the export a 500. Control and format characters (CR, LF,
    bidi overrides) are dropped; path separators become ``_``."""
    import unicodedata
    from urllib.parse import quote

    name = "".join("_" if c in "/\\" else c for c in filename
                   if unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp"))
    # In the quoted fallback: printable ASCII only, without the quote and the backslash
    # that end or escape it, nor the % that some clients would percent-decode.
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"

"""REST API: demos, runs, the native export. Every error is JSON ``{"error": ...}``."""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, jsonify, request

from demos import DEMOS, ParamError

from ..runs import RunError
from ..tracer.export import TraceError, check_trace, to_chrome_trace
from . import registry

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


def start_run(body: object):
    """Validate a start request (shared by POST /api/runs and the websocket)."""
    if not isinstance(body, dict):
        raise RunError("the body must be a JSON object like {\"demo\": id, \"params\": {}}")
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
    return registry().start(demo, params)


@bp.post("/runs")
def create_run():
    body = request.get_json(silent=True)
    if body is None:
        return _error("the body must be JSON (Content-Type: application/json)", 400)
    try:
        run = start_run(body)
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
    run, err = _run_or_404(run_id)
    return err or jsonify(run.describe())


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


@bp.post("/runs/<run_id>/cancel")
def cancel_run(run_id: str):
    run, err = _run_or_404(run_id)
    if err:
        return err
    run.cancel()
    run.ended.wait(5)
    return jsonify(run.describe())


@bp.post("/import")
def import_trace():
    """A native trace file, posted as the body: checked, then held as a finished run."""
    data = request.get_data(cache=False)
    if not data:
        return _error("empty body: post the contents of a coroscope trace.json", 400)
    try:
        trace = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return _error(f"not JSON: {exc}", 400)
    try:
        check_trace(trace)
    except TraceError as exc:
        return _error(str(exc), 400)
    run = registry().add_imported(trace)
    return jsonify(run.describe()), 201


@bp.get("/runs/<run_id>/trace.json")
def export_run(run_id: str):
    run, err = _run_or_404(run_id)
    if err:
        return err
    return _download(orjson.dumps(run.export()), f"coroscope-{run.target.name}-{run.id}.json")


@bp.get("/runs/<run_id>/trace.perfetto.json")
def export_run_perfetto(run_id: str):
    run, err = _run_or_404(run_id)
    if err:
        return err
    body = orjson.dumps(to_chrome_trace(run.export()))
    return _download(body, f"coroscope-{run.target.name}-{run.id}.perfetto.json")


def _download(body: bytes, filename: str) -> Response:
    return Response(body, mimetype="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})

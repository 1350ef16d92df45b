"""Traces travel: record -> export -> import -> export is the identity; bad files say why."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import time
import urllib.request

import pytest

from app.tracer.events import row_to_event
from app.tracer.export import TraceError, check_trace

from .conftest import ROOT, follow_run, validate_trace, ws_connect


@pytest.fixture(scope="module")
def recorded(server):
    status, run = server.request("POST", "/api/runs", {
        "demo": "gevent_unpatched_sleep", "params": {"eat_seconds": 0.2, "play_seconds": 0.1}})
    server.wait_run(run["id"])
    req = urllib.request.Request(f"{server.url}/api/runs/{run['id']}/trace.json")
    with urllib.request.urlopen(req) as resp:
        return resp.read()


def post_import(server, body: bytes):
    req = urllib.request.Request(f"{server.url}/api/import", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_round_trip_is_byte_identical_and_replays_the_same_events(server, recorded):
    status, run = post_import(server, recorded)
    assert status == 201 and run["status"] == "finished"
    with urllib.request.urlopen(f"{server.url}/api/runs/{run['id']}/trace.json") as resp:
        again = resp.read()
    assert json.loads(again) == json.loads(recorded)
    validate_trace(json.loads(again))
    ws = ws_connect(server)
    try:
        frame, rows, end = follow_run(ws, {"type": "subscribe", "run": run["id"]})
    finally:
        ws.close()
    original = json.loads(recorded)
    assert [row_to_event(i, r) for i, r in enumerate(rows)] == original["events"]
    assert frame["run"]["source"] == original["run"]["source"]
    assert end["run"]["status"] == "finished"


@pytest.mark.parametrize("mutate, message", [
    (lambda t: t.update(format="chrome"),
     "not a coroscope trace: \"format\" is 'chrome', expected 'coroscope.trace'"),
    (lambda t: t.update(version=99),
     "this trace is version 99; this coroscope reads versions up to 3"),
    (lambda t: t["events"][3].update(kind="swtich"), "events[3]"),
    (lambda t: t["events"][2].pop("t"), "events[2]: 't' is a required property"),
    (lambda t: t["events"][4].update(seq=40), "events[4].seq is 40, expected 4"),
    (lambda t: t["events"].pop(5), "events[5].seq is 6, expected 5"),
    (lambda t: t["tasks"].pop(), "names task 3, which is not in \"tasks\""),
    (lambda t: t["run"].update(status="exploded"), "run.status: 'exploded' is not one of"),
])
def test_a_broken_trace_is_refused_saying_where(server, recorded, mutate, message):
    trace = json.loads(recorded)
    mutate(trace)
    with pytest.raises(TraceError) as err:
        check_trace(trace)
    assert message in str(err.value)
    status, body = post_import(server, json.dumps(trace).encode())
    assert status == 400 and message in body["error"]


def test_not_json_and_empty_bodies_are_400(server):
    assert post_import(server, b"{oops")[0] == 400
    assert post_import(server, b"")[1] == {
        "error": "empty body: post the contents of a coroscope trace.json"}
    assert post_import(server, b"[1,2]")[1]["error"].startswith(
        "not a coroscope trace: the file holds a JSON array")


def test_serve_opens_a_trace_file_and_refuses_a_broken_one(tmp_path, recorded):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(recorded)
    broken = json.loads(recorded)
    broken["version"] = 7
    bad.write_text(json.dumps(broken))
    result = subprocess.run([sys.executable, "-m", "app", "serve", "--no-browser", str(bad)],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"cannot open {bad}: this trace is version 7" in result.stderr
    proc = subprocess.Popen([sys.executable, "-m", "app", "serve", "--no-browser", "--port",
                             "0", "--quiet", str(good)], cwd=ROOT, stdout=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"{good}: ") and "#run=r" in line
        url, run_id = line.split("open ", 1)[1].strip().split("#run=")
        url, secret = url.split("?edit=")  # the address that also lets this browser edit
        assert re.fullmatch(r"[\w-]{24}", secret)
        time.sleep(0.2)
        with urllib.request.urlopen(f"{url}api/runs/{run_id}/trace.json") as resp:
            assert json.loads(resp.read()) == json.loads(recorded)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def test_check_trace_does_not_modify_its_input(recorded):
    trace = json.loads(recorded)
    before = copy.deepcopy(trace)
    check_trace(trace)
    assert trace == before


def test_a_version_1_trace_without_marks_still_opens(server, recorded):
    """Version 2 added the "mark" kind; files written before it open as they did."""
    old = json.loads(recorded)
    assert old["version"] == 3 and [e["text"] for e in old["events"]
                                    if e["kind"] == "mark"] == ["main()"]
    old["version"] = 1
    old["events"] = [e for e in old["events"] if e["kind"] != "mark"]
    for i, e in enumerate(old["events"]):
        e["seq"] = i
    old["run"]["events"] = len(old["events"])
    status, run = post_import(server, json.dumps(old).encode())
    assert status == 201, run
    _, back = server.get(f"/api/runs/{run['id']}/trace.json")
    assert back["events"] == old["events"]


# -- the one-pass checker agrees with the JSON Schema it replaced ----------------------

def _mutations(trace: dict):
    """(where, mutated copy) pairs: one change each, valid or not, at every event kind."""
    seen: set[str] = set()
    firsts = []
    for i, e in enumerate(trace["events"]):
        if e["kind"] not in seen:
            seen.add(e["kind"])
            firsts.append(i)
    values = [None, True, -1, 0, 1, 2.5, 1e23, "x", "", [], {}, 10**6]
    for i in firsts:
        event = trace["events"][i]
        for key in [*event.keys(), "extra", "cause", "line", "task", "text"]:
            for value in values:
                t = copy.deepcopy(trace)
                t["events"][i][key] = value
                yield f"events[{i}].{key}={value!r}", t
            if key in event:
                t = copy.deepcopy(trace)
                del t["events"][i][key]
                yield f"events[{i}] without {key}", t
        t = copy.deepcopy(trace)
        t["events"][i] = [event["t"], 0]
        yield f"events[{i}] as a list", t
    for key in ("id", "demo", "status", "duration_ns", "events", "params", "source", "title"):
        for value in values:
            t = copy.deepcopy(trace)
            t["run"][key] = value
            yield f"run.{key}={value!r}", t
    for key in ("id", "name", "kind", "parent", "spawned_at", "args", "other"):
        for value in values:
            t = copy.deepcopy(trace)
            t["tasks"][1][key] = value
            yield f"tasks[1].{key}={value!r}", t


def test_the_checker_accepts_and_refuses_what_the_schema_does(recorded):
    """check_trace replaced a jsonschema check (170x the parse time): every change the
    schema refuses is refused, every change it accepts is accepted, unless it breaks
    what the schema cannot say (seq, task ids), which check_trace always checked."""
    import jsonschema

    schema = jsonschema.Draft202012Validator(
        json.loads((ROOT / "app" / "tracer" / "trace.schema.json").read_text()))
    trace = json.loads(recorded)
    checked = 0
    for where, mutated in _mutations(trace):
        schema_ok = not any(True for _ in schema.iter_errors(mutated))
        try:
            check_trace(mutated)
            ours = None
        except TraceError as exc:
            ours = str(exc)
        if not schema_ok:
            assert ours is not None, f"{where}: the schema refuses it, check_trace accepted it"
        elif ours is not None:
            # Also refused on purpose: 1e+23 where an integer goes. JSON Schema counts an
            # integral float as an integer; a trace's times and ids are written as
            # integers, and 1e23 ns is no time the viewer could place.
            assert ("seq" in ours or "names task" in ours or "run.events" in ours
                    or "task id" in ours or "1e+23 is not an integer" in ours), \
                f"{where}: the schema accepts it, but: {ours}"
        checked += 1
    assert checked > 300


def test_the_streamed_export_is_byte_for_byte_the_whole_one(server, recorded):
    """The download is written batch by batch; it must be exactly orjson.dumps of the
    whole export as the previous writer built it (run, tasks, then every event)."""
    import orjson

    from app.tracer.events import SPAWN, TASKINFO, encode_batch
    from app.tracer.export import native_trace_chunks

    trace = json.loads(recorded)
    rows = [list(r) for r in _rows_of(trace)]
    # The previous writer, kept here as the reference: everything in memory.
    tasks, by_id = [], {}
    for row in rows:
        if row[1] == SPAWN:
            task = {"id": row[2], "name": row[4]["name"], "kind": row[4]["kind"],
                    "parent": row[3], "spawned_at": row[0]}
            task.update({k: row[4][k] for k in ("args", "thread") if k in row[4]})
            tasks.append(task)
            by_id[task["id"]] = task
        elif row[1] == TASKINFO and row[2] in by_id:
            by_id[row[2]].update(row[4])
    whole = orjson.dumps({"format": "coroscope.trace", "version": 3,
                          "run": dict(trace["run"], events=len(rows)), "tasks": tasks,
                          "events": [row_to_event(i, r) for i, r in enumerate(rows)]})
    for size in (1, 3, 7, len(rows)):  # batches of any size, a spawn in any of them
        batches = [encode_batch(i, rows[i:i + size]) for i in range(0, len(rows), size)]
        assert b"".join(native_trace_chunks(trace["run"], batches)) == whole
    assert whole == recorded  # and the server's download is that too


def _rows_of(trace):
    from app.tracer.checker import iter_rows

    return iter_rows(trace)

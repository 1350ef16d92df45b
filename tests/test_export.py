"""The Chrome Trace Event / Perfetto export: structure that the viewers rely on."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict

import pytest

from .conftest import ROOT


def check_chrome_trace(doc: dict) -> dict[str, int]:
    """Structural checks of the Trace Event Format; returns counts per phase."""
    events = doc["traceEvents"]
    named = {e["tid"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    counts: dict[str, int] = defaultdict(int)
    starts, ends = {}, {}
    running: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        counts[e["ph"]] += 1
        if e["ph"] == "M":
            continue
        assert e["tid"] in named, f"track {e['tid']} has no thread_name"
        assert isinstance(e["ts"], float | int) and e["ts"] >= 0
        if e["ph"] == "X":
            assert "dur" in e and e["dur"] >= 0
            if e["cat"] == "run":
                running[e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
        elif e["ph"] == "s":
            starts[e["id"]] = e
        elif e["ph"] == "f":
            ends[e["id"]] = e
            assert e["bp"] == "e"
        elif e["ph"] == "i" and e["cat"] == "mark":  # main() called: a line across tracks
            assert e["s"] == "g" and e["name"] == "main()"
        elif e["ph"] == "i":
            assert e["s"] == "t" and "text" in e["args"]
    # Events come unsorted (the format allows it; viewers sort): what must hold is that a
    # track runs one span at a time, and that a flow starts where its switch is.
    for tid, spans in running.items():
        spans.sort()
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert start >= end - 1e-3, f"running spans overlap on track {tid}"
    assert starts.keys() == ends.keys(), "every flow start has its end, same id"
    for flow_id, s in starts.items():
        assert ends[flow_id]["ts"] == s["ts"]
    return counts


def test_perfetto_export_of_a_gevent_run(server):
    status, run = server.request("POST", "/api/runs", {
        "demo": "gevent_unpatched_sleep", "params": {"eat_seconds": 0.2, "play_seconds": 0.1}})
    server.wait_run(run["id"])
    status, native = server.get(f"/api/runs/{run['id']}/trace.json")
    status, doc = server.get(f"/api/runs/{run['id']}/trace.perfetto.json")
    assert status == 200
    counts = check_chrome_trace(doc)
    switches = sum(1 for e in native["events"] if e["kind"] in ("switch", "throw"))
    printed = [e["text"] for e in native["events"] if e["kind"] == "stdout"]
    assert counts["s"] == counts["f"] == switches
    assert counts["i"] == len(printed) + 1  # and the main() mark
    names = sorted(e["args"]["name"] for e in doc["traceEvents"] if e["name"] == "thread_name")
    assert names == ["Hub #1", "eat #2", "main #0", "play #3"]
    blocked = [e for e in doc["traceEvents"] if e.get("cat") == "block"]
    assert [e["name"] for e in blocked] == ["blocked: time.sleep(0.2)", "blocked: time.sleep(0.1)"]
    assert abs(blocked[0]["dur"] - 200_000) < 40_000  # microseconds
    stdout = [e["args"]["text"] for e in doc["traceEvents"] if e.get("cat") == "stdout"]
    assert sorted(stdout) == sorted(printed)  # the same lines, grouped by track


def test_cli_export_converts_a_recorded_trace(tmp_path):
    native, out = tmp_path / "t.json", tmp_path / "t.perfetto.json"
    subprocess.run([sys.executable, "-m", "app", "record", "greenlet_eat_play",
                    "--out", str(native)], cwd=ROOT, check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "app", "export", str(native),
                             "--format", "perfetto", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    counts = check_chrome_trace(json.loads(out.read_text()))
    assert counts["s"] == 5 and counts["i"] == 5  # 4 printed lines and the main() mark
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = subprocess.run([sys.executable, "-m", "app", "export", str(bad), "--out",
                             str(tmp_path / "x.json")], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and "cannot convert" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_the_native_writer_fed_batch_by_batch_writes_the_same_bytes(tmp_path):
    """`coroscope run` writes the events as they come (NativeWriter): the file must be
    byte for byte what the export of the same batches gives, however they were cut."""
    import orjson

    from app.tracer.events import encode_batch
    from app.tracer.export import NativeWriter, native_trace_chunks

    rows = [[0, 2, 0, None, {"name": "main", "kind": "main"}],
            [5, 2, 1, 0, {"name": "eat", "kind": "greenlet", "args": "'egon'"}],
            [9, 7, 1, None, {"thread": "Dummy-1"}]]
    for t in range(10, 400, 3):
        rows.append([t, 0, t % 2, 1 - t % 2, 7 if t % 5 else None, "timer 1 s"])
        if t % 11 == 0:
            rows.append([t + 1, 4, t % 2, None, f"line {t} \u4e3b \"quoted\""])
    rows += [[500, 5, 1, None, {"call": "time.sleep(2)", "since": 480}],
             [600, 6, 1, None, None], [601, 3, 1, None, None], [602, 8, 0, None, "main()"],
             [603, 9, 0, None, "coroutine 'f' was never awaited"]]
    run = {"id": "r000000000002", "demo": None, "params": {}, "status": "finished",
           "started_at": "2026-01-01T00:00:00+00:00", "duration_ns": 700, "events": 0,
           "source": {"file": "x.py", "text": "print('x')\n"}}
    reference = None
    for size in (1, 4, 7, 50, len(rows)):
        batches = [encode_batch(i, rows[i:i + size]) for i in range(0, len(rows), size)]
        whole = b"".join(native_trace_chunks(run, batches))
        writer = NativeWriter()
        for batch in batches:
            writer.feed(batch)
        try:
            assert b"".join(writer.chunks(run)) == whole, size
        finally:
            writer.close()
        reference = reference or whole
        assert whole == reference
    trace = orjson.loads(reference)
    assert trace["run"]["events"] == len(rows) == len(trace["events"])
    # The inline spelling of switch rows is row_to_event's, field for field.
    from app.tracer.events import row_to_event

    assert trace["events"] == [row_to_event(i, row) for i, row in enumerate(rows)]
    assert trace["tasks"][1] == {"id": 1, "name": "eat", "kind": "greenlet", "parent": 0,
                                 "spawned_at": 5, "args": "'egon'", "thread": "Dummy-1"}


def _python_piece(batch: bytes, seq: int) -> bytes:
    """The Python writer's piece of one batch: the reference the C reader must equal."""
    import orjson

    from app.tracer.export import _events_piece

    rows = orjson.loads(batch)["rows"]
    return _events_piece(seq, rows) if rows else b""


def _c_piece(batch: bytes, seq: int) -> tuple[bytes, int] | None:
    from app.tracer import export

    assert export._wire is not None, "setup.py should have built app/tracer/_wire.c"
    return export._wire.events_piece(batch, seq, export._event_bytes)


def test_the_c_reader_spells_every_batch_as_the_python_writer():
    """The C reader of stored batches (_wire.events_piece) gives the Python writer's bytes,
    for every row shape; what it does not take it hands back (a row) or refuses (a batch:
    None), and the Python path then gives the same as before."""
    import orjson
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from app.tracer.events import encode_batch

    ints = st.one_of(st.integers(-5, 300), st.integers(-(2**63), 2**63 - 1))
    text = st.one_of(st.sampled_from(["switch", "timer 1 s", "io fd 7", "wait", ""]),
                     st.text(max_size=12))
    switch = st.tuples(st.integers(0, 2**62), st.just(0), ints, ints,
                       st.one_of(st.none(), ints, st.floats(allow_nan=False)), text)
    short_switch = st.tuples(st.integers(0, 2**62), st.sampled_from([0, 1]), ints, ints,
                             st.one_of(st.none(), ints))
    other = st.one_of(
        st.tuples(st.integers(0, 9), st.just(2), ints, st.one_of(st.none(), ints),
                  st.fixed_dictionaries({"name": text, "kind": st.just("greenlet")})),
        st.tuples(st.integers(0, 9), st.sampled_from([3, 6]), ints, st.none(), st.none()),
        st.tuples(st.integers(0, 9), st.sampled_from([4, 8, 9]), ints, st.none(), text),
        st.tuples(st.integers(0, 9), st.just(5), ints, st.none(),
                  st.fixed_dictionaries({"call": text, "since": ints})),
        st.tuples(st.integers(0, 9), st.just(7), ints, st.none(),
                  st.fixed_dictionaries({"thread": text})),
        st.tuples(st.integers(0, 9), st.just(1), ints, ints, ints, st.just("throw")),
    )

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(switch, short_switch, other), max_size=30),
           st.integers(0, 2**40))
    def check(rows, seq):
        batch = encode_batch(seq, [list(r) for r in rows])
        assert _c_piece(batch, seq) == (_python_piece(batch, seq), len(rows))

    check()
    # Spellings orjson never writes: the C reader must not copy them as they are.
    reference_rows = b"[5,0,1,2,9,\"switch\"]"
    for rows in (b"[007,0,1,2,9,\"s\"]", b"[-0,0,1,2,9,\"s\"]", b"[5,0,1,2,9.0,\"s\"]",
                 b"[5,0,1,2,9,\"\\u0073\"]", b"[5,0,1,2,9,\"\\/\"]",
                 b"[1234567890123456789012,0,1,2,9,\"s\"]", b"[5, 0,1,2,9,\"s\"]",
                 b"[5,0,1,2,9,\"s\"] ", b"[5,0,1,2,9,\"s\",7]", b"[5,0e0,1,2,9,\"s\"]",
                 b"[5,0,1,2,9,\"caf\xc3\xa9\"]", b"[5,0,1,2,9,null]",
                 reference_rows + b"," + reference_rows):
        batch = b'{"type":"events","seq":3,"n":1,"rows":[' + rows + b"]}"
        try:
            expected = _python_piece(batch, 3)
        except orjson.JSONDecodeError:  # not JSON: refused by both
            with pytest.raises(orjson.JSONDecodeError):
                _c_piece(batch, 3)
            continue
        got = _c_piece(batch, 3)
        assert got is None or got[0] == expected, rows
    # Not a batch as the child writes it: left to the Python path whole.
    for batch in (b'{"seq":0,"type":"events","n":0,"rows":[]}',
                  b'{"type":"events","seq":0,"n":1,"rows":[[5,0,1,2,9,"s"]]}\n',
                  b'{"type":"events","seq":0,"n":1,"rows":[[5,0,1,2,9,"s"]],"x":1}',
                  b'{"type":"events","seq":0,"n":1,"rows":[[5,0,1,2,9,"s"]'):
        assert _c_piece(batch, 0) is None
    assert _c_piece(b'{"type":"events","seq":0,"n":0,"rows":[]}', 0) == (b"", 0)


def test_the_native_writer_writes_the_same_bytes_with_and_without_the_c_reader(
        tmp_path, monkeypatch):
    """NativeWriter and the export of stored batches, through the C reader and through
    Python alone (as where it could not be built): the same file, the same task table."""
    from app.tracer import export
    from app.tracer.events import encode_batch

    rows = [[0, 2, 0, None, {"name": "main", "kind": "main"}],
            [1, 2, 1, 0, {"name": "\u4e3b", "kind": "greenlet", "args": "x=1"}]]
    for t in range(2, 30_000):
        rows.append([t, 0, t % 2, 1 - t % 2, None if t % 7 else 12, "switch"])
        if t % 1000 == 0:
            rows.append([t, 7, 1, None, {"thread": f"Dummy-{t}"}])
            rows.append([t, 4, 1, None, "printed \"text\" \u00e9"])
    run = {"id": "r000000000003", "status": "finished", "events": 0}
    batches = [encode_batch(i, rows[i:i + 10_000]) for i in range(0, len(rows), 10_000)]

    def written() -> tuple[bytes, bytes]:
        writer = export.NativeWriter()
        try:
            for batch in batches:
                writer.feed(batch)
            return b"".join(writer.chunks(run)), b"".join(export.native_trace_chunks(run,
                                                                                     batches))
        finally:
            writer.close()

    fast = written()
    monkeypatch.setenv("COROSCOPE_PURE_PYTHON", "1")
    assert written() == fast
    assert fast[0] == fast[1]


def test_perfetto_shows_an_asyncio_run_with_its_loop_and_warnings(tmp_path):
    """asyncio in Perfetto: the event loop's track right after main's (as the Hub's),
    the tasks' switches as flows, and a warning as an instant on its task's track."""
    import orjson

    from .test_cli_run import coroscope_run

    _, trace = coroscope_run(tmp_path, """
        import asyncio


        async def forgotten():
            pass


        async def eat():
            forgotten()
            await asyncio.sleep(0.01)


        asyncio.run(eat())
    """)
    (tmp_path / "a.json").write_bytes(orjson.dumps(trace))
    done = subprocess.run([sys.executable, "-m", "app", "export", str(tmp_path / "a.json"),
                           "--out", str(tmp_path / "a.perfetto.json")], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    events = orjson.loads((tmp_path / "a.perfetto.json").read_bytes())["traceEvents"]
    names = [e["args"]["name"] for e in events if e.get("name") == "thread_name"]
    assert names[:3] == ["main #0", "event loop #1", "eat #2"]
    warnings = [e for e in events if e.get("cat") == "warning"]
    eat_tid = next(e["tid"] for e in events if e.get("name") == "thread_name"
                   and e["args"]["name"] == "eat #2")
    assert [(e["tid"], e["name"]) for e in warnings] == [
        (eat_tid, "warning: coroutine 'forgotten' was never awaited")]
    flows = [e for e in events if e["ph"] in ("s", "f")]
    assert flows and len(flows) % 2 == 0

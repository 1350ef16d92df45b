"""`with coroscope.trace(path):` records the block in this process."""

from __future__ import annotations

import json

import gevent
import greenlet
import pytest

import coroscope

from .conftest import validate_trace


def work(n):
    gevent.sleep(0.01 * n)
    print("done", n)


def test_trace_block_writes_a_valid_native_trace(tmp_path, capsys):
    out = tmp_path / "api.json"
    with coroscope.trace(str(out)):
        gevent.joinall([gevent.spawn(work, n) for n in (2, 1)])
    assert capsys.readouterr().out == "done 1\ndone 2\n"  # still printed
    trace = json.loads(out.read_text())
    validate_trace(trace)
    names = {t["id"]: t["name"] for t in trace["tasks"]}
    assert sorted(names.values()) == ["Hub", "main", "work", "work"]
    assert [(names[e["task"]], e["text"]) for e in trace["events"]
            if e["kind"] == "stdout"] == [("work", "done 1"), ("work", "done 2")]
    assert trace["run"]["status"] == "finished"
    assert trace["run"]["source"]["file"] == "test_python_api.py"
    assert greenlet.gettrace() is None  # the hook is gone afterwards


def test_a_raising_block_still_writes_its_trace(tmp_path):
    out = tmp_path / "err.json"
    with pytest.raises(ZeroDivisionError), coroscope.trace(str(out)):
        gevent.spawn(work, 0).join()
        1 / 0  # noqa: B018
    trace = json.loads(out.read_text())
    validate_trace(trace)
    assert trace["run"]["status"] == "error"
    assert trace["run"]["error"] == "ZeroDivisionError: division by zero"


@pytest.mark.parametrize("pure", [False, True], ids=["c", "pure-python"])
def test_a_long_block_is_written_out_while_it_runs(tmp_path, monkeypatch, pure):
    """The block's rows leave the recorder as it runs (an OS thread of the API's own
    spells them into the trace's file: from C, or a batch of tuples at a time where C is
    not used), so its memory does not grow with its trace; the trace still holds every
    switch, in order."""
    import time

    from app.tracer.export import NativeWriter

    if pure:
        monkeypatch.setenv("COROSCOPE_PURE_PYTHON", "1")

    out = tmp_path / "long.json"
    n = 20_000
    with coroscope.trace(str(out)) as recorder:
        main = greenlet.getcurrent()
        other = greenlet.greenlet(lambda: [main.switch() for _ in iter(int, 1)])
        for _ in range(n):
            other.switch()
        deadline = time.monotonic() + 30
        while len(recorder.rows) >= 100 and time.monotonic() < deadline:
            time.sleep(0.05)  # the thread takes the GIL meanwhile
        held, seen = len(recorder.rows), recorder.count
        assert NativeWriter.takes(recorder.rows) is not pure
    assert seen > 2 * n and held < 100, (held, seen)
    trace = json.loads(out.read_text())
    validate_trace(trace)
    events = trace["events"]
    assert [e["seq"] for e in events] == list(range(len(events)))
    names = {t["id"]: t["name"] for t in trace["tasks"]}
    switches = [(names[e["from"]], names[e["to"]]) for e in events if e["kind"] == "switch"]
    assert switches[: 2 * n] == [("main", "<lambda>"), ("<lambda>", "main")] * n


def test_the_apis_c_writer_writes_the_events_the_python_writer_would(monkeypatch):
    """The API writes the block's rows as export events from C (NativeWriter.write_rows,
    _wire.write_events, with the GIL let go): byte for byte the export NativeWriter.feed
    makes of the same rows as one batch, task table included, with causes that need
    escaping or are not ASCII, printed lines (one with a lone surrogate), a limit that
    takes whole chunks of the oldest rows, and writes cut every 5,000 rows."""
    from app.tracer.events import encode_batch
    from app.tracer.export import NativeWriter

    from .test_child import record_mixed

    recorder = record_mixed(monkeypatch)
    rows = recorder.rows
    held = len(rows)
    assert held > 24_000 and NativeWriter.takes(rows)
    python, c = NativeWriter(), NativeWriter()
    try:
        python.feed(encode_batch(0, [rows[i] for i in range(held)]))
        c.WRITE_ROWS = 5000
        first = recorder.drain_with(lambda seq, rows: c.write_rows(seq, rows, 16_500))
        rest = recorder.drain_with(lambda seq, rows: c.write_rows(seq, rows, held))
        assert (first[0], rest[0]) == (16_384, held - 16_384) and len(rows) == 0
        run = {"status": "finished"}
        expected = b"".join(python.chunks(run))
        assert b"".join(c.chunks(run)) == expected
        trace = json.loads(expected)
        assert len(trace["events"]) == c.events == held
        assert {t["name"] for t in trace["tasks"]} >= {"ping", "bounce"}
        assert b"\\udcff" in expected and "caf\u00e9".encode() in expected
        with pytest.raises(ValueError, match="rows from seq 0 after"):
            c.write_rows(0, rows, 10)
    finally:
        python.close()
        c.close()


def test_threads_that_were_there_before_the_block_are_not_the_traced_programs(tmp_path):
    """A thread already running when the block starts (a Jupyter kernel's parent poller,
    sleeping a second at a time) is not the traced program: its time.sleep calls made
    while the block runs are not recorded. A thread the block starts is, as is the
    block's own thread."""
    import threading
    import time

    out = tmp_path / "threads.json"
    stop = threading.Event()
    slept = []

    def poller():
        while not stop.is_set():
            time.sleep(0.005)
            slept.append(1)

    before = threading.Thread(target=poller, name="poller")
    before.start()
    try:
        with coroscope.trace(str(out)):
            at_start = len(slept)
            started = threading.Thread(target=time.sleep, args=(0.02,), name="started")
            started.start()
            started.join()
            time.sleep(0.1)
            during = len(slept) - at_start
    finally:
        stop.set()
        before.join()
    assert during >= 1  # the poller did sleep while the block ran
    trace = json.loads(out.read_text())
    validate_trace(trace)
    tasks = {t["id"]: t for t in trace["tasks"]}
    blocks = [(tasks[e["task"]]["kind"], e["call"]) for e in trace["events"]
              if e["kind"] == "block"]
    assert blocks == [("thread", "time.sleep(0.02)"), ("main", "time.sleep(0.1)")], blocks
    assert [t["kind"] for t in trace["tasks"]].count("thread") == 1

"""The child process's event flusher: it keeps the stream live, and never dies silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from app.tracer.events import STDOUT

from .conftest import ROOT

HALF_IMPORTED_MONKEY = '''
import sys, time, types

def main():
    # What the flusher's thread sees while the demo's thread is inside
    # `import gevent.monkey`: the module is in sys.modules, its names are not yet.
    real = sys.modules.get("gevent.monkey")
    sys.modules["gevent.monkey"] = types.ModuleType("gevent.monkey")
    try:
        print("before")
        time.sleep(0.4)
    finally:
        if real is None:
            del sys.modules["gevent.monkey"]
        else:
            sys.modules["gevent.monkey"] = real
    print("after")
    time.sleep(0.2)
'''

SABOTAGED_FLUSHER = '''
import gc, time

def main():
    print("before")
    time.sleep(0.2)
    flusher = next(o for o in gc.get_objects() if type(o).__name__ == "Flusher")
    flusher.max_events = "many"  # its next comparison with an int raises TypeError
    time.sleep(5)
    print("never")
'''


def run_child(tmp_path, source: str) -> tuple[int, list[dict], str]:
    """Run one demo file in the real child; its frames in arrival order, and stderr."""
    demo = tmp_path / "demo.py"
    demo.write_text(textwrap.dedent(source))
    r, w = os.pipe()
    spec = {"file": str(demo), "events_fd": w, "params": {}, "flush_ms": 20}
    proc = subprocess.Popen([sys.executable, "-m", "app.runner.child", json.dumps(spec)],
                            pass_fds=(w,), cwd=ROOT, stderr=subprocess.PIPE)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        frames = [json.loads(line) for line in f]
    _, stderr = proc.communicate(timeout=30)
    return proc.returncode, frames, stderr.decode()


def printed_in(frame: dict) -> list[str]:
    return [row[4] for row in frame.get("rows", ()) if row[1] == STDOUT]


def test_a_half_imported_gevent_monkey_does_not_stop_the_stream(tmp_path):
    # The flusher looked for gevent.monkey.is_module_patched while the demo was importing
    # gevent.monkey, died of the AttributeError, and the run streamed nothing until it
    # ended (1 run in 5 on a loaded machine, any gevent demo). Now "before" is sent while
    # the demo sleeps, in an earlier frame than "after".
    code, frames, stderr = run_child(tmp_path, HALF_IMPORTED_MONKEY)
    assert code == 0, stderr
    where = {text: i for i, frame in enumerate(frames) for text in printed_in(frame)}
    assert where["before"] < where["after"], frames
    assert frames[-1]["type"] == "done" and frames[-1]["status"] == "finished"
    assert "Traceback" not in stderr


def test_a_failing_flusher_ends_the_run_as_crashed_with_its_rows(tmp_path):
    code, frames, stderr = run_child(tmp_path, SABOTAGED_FLUSHER)
    assert code == 5
    done = frames[-1]
    assert done["type"] == "done" and done["status"] == "crashed"
    assert done["error"].startswith("coroscope's event flusher failed:\nTraceback")
    assert "TypeError" in done["error"]
    printed = [text for frame in frames for text in printed_in(frame)]
    assert printed == ["before"]
    seqs = [(f["seq"], f["n"]) for f in frames if f["type"] == "events"]
    assert all(a + n == b for (a, n), (b, _) in zip(seqs, seqs[1:], strict=False))


LIBRARY = '''
def hop(other):
    other.switch()
'''


def record_mixed(monkeypatch):
    """A recorder (C hook) that has recorded 12,000 switches paused in a library (causes
    that need escaping, or are not ASCII), spawns, and printed lines (one with a lone
    surrogate): its rows are still held."""
    import greenlet

    from app.tracer import recorder as recorder_module

    causes = ['wait "quoted"', "back\\slash", "caf\u00e9", "tab\there", "del\x7f", "\udcff",
              "timer 1 s", ""]
    asked = iter(range(1 << 30))
    monkeypatch.setattr(recorder_module, "_library_pause",
                        lambda frame, to_hub: (causes[next(asked) % len(causes)], False))
    library: dict = {}
    exec(compile(LIBRARY, "<a library>", "exec"), library)
    recorder = recorder_module.Recorder([__file__], fast=True)
    assert recorder.fast
    recorder.start()
    try:
        def ping(n):
            for i in range(n):
                if i % 3:
                    pong.switch()
                else:
                    library["hop"](pong)
                if i % 997 == 0:
                    recorder.record_stdout(1, f"line {i} \u4e3b \"q\"" if i % 2 else "x\udcff")

        def bounce():
            while True:
                ping_g.switch()

        ping_g, pong = greenlet.greenlet(ping), greenlet.greenlet(bounce)
        ping_g.switch(12_000)
    finally:
        recorder.stop()
    return recorder


def test_the_c_writer_sends_the_lines_the_python_writer_would(monkeypatch):
    """The child sends its rows through the C writer (_wire.send_rows): the lines on the
    pipe are byte for byte what encode_batch makes of the same rows drained in Python,
    with switches paused in a library (causes that need escaping, or are not ASCII),
    printed lines (one with a lone surrogate), batches cut at max_rows, and a limit that
    takes whole chunks of the oldest rows."""
    import threading

    from app.runner.child import EventPipe, _wire
    from app.tracer.events import encode_batch

    assert _wire is not None, "setup.py should have built app/tracer/_wire.c"
    recorder = record_mixed(monkeypatch)
    rows = recorder.rows
    held = len(rows)
    assert held > 24_000
    expected = b""
    for start, stop in ((0, 16_384), (16_384, held)):  # a limit of 16,384: two chunks
        for i in range(start, stop, 5000):
            expected += encode_batch(i, [rows[j] for j in range(i, min(i + 5000, stop))])
            expected += b"\n"
    r, w = os.pipe()
    received = []
    reader = threading.Thread(target=lambda: received.append(b"".join(iter(
        lambda: os.read(r, 1 << 16), b""))))
    reader.start()
    pipe = EventPipe(w)
    first = recorder.drain_with(lambda seq, rows: pipe.send_rows(seq, rows, 16_500, 5000))
    rest = recorder.drain_with(lambda seq, rows: pipe.send_rows(seq, rows, held, 5000))
    os.close(w)
    reader.join()
    os.close(r)
    assert (first[0], rest[0]) == (16_384, held - 16_384)
    assert len(rows) == 0 and recorder.count == held
    assert received[0] == expected
    assert b"\\udcff" in expected and "caf\u00e9".encode() in expected

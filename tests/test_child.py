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

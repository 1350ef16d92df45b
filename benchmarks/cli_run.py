"""`coroscope run` as a user meets it: a whole process, against the same script untraced.

A script switches two greenlets N times. Measured side by side, alternating, best of
``repeat``: the script under a no-op ``greenlet.settrace`` callback (the floor any
tracer of every switch pays), and ``coroscope run --out trace.json`` of it (the traced
child, the CLI relaying and storing its batches, and the trace written). For each, the
wall time and the peak RSS of the largest process of the tree (``wait4``'s
``ru_maxrss``). Printed: the ratio of the two wall times, and the peaks at N and 3N
(flat memory: 3N within 1.2x of N); the same with ``--flight-recorder 0.2s``, and the
script run inside ``with coroscope.trace("trace.json"):`` (the Python API, in one
process).

    python -m benchmarks.cli_run [N]        # default 1,000,000 switches
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """\
import sys

from greenlet import greenlet


def a(n):
    for _ in range(n // 2):
        gb.switch()


def b():
    while True:
        ga.switch()


ga, gb = greenlet(a), greenlet(b)
ga.switch(int(sys.argv[1]))
print('done', sys.argv[1])
"""

NOOP = ("import runpy, sys, greenlet; greenlet.settrace(lambda event, args: None); "
        "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')")


# The Python API around the same script, as a user's program would: argv[1] the trace,
# the rest the script's own.
API = ("import os, runpy, sys, coroscope\n"
       "out, sys.argv = sys.argv[1], sys.argv[2:]\n"
       "with coroscope.trace(out, user_files=[os.path.abspath(sys.argv[0])]):\n"
       "    runpy.run_path(sys.argv[0], run_name='__main__')\n")


def measure(argv: list[str], cwd: str) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MB of the largest process of the tree, peak RSS in MB
    of the process started itself: VmHWM, read every 10 ms until it exits)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    own = 0.0
    while True:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        own = max(own, int(line.split()[1]) / 1024)
        except OSError:
            pass
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"{argv} exited with {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, own


def main(argv: list[str]) -> None:
    n = int(argv[0]) if argv else 1_000_000
    repeat = 3
    # Compiled first, as an installed package is (pip compiles it): a checkout whose
    # bytecode cannot be cached (PYTHONDONTWRITEBYTECODE) would be measured compiling
    # its modules at every start, which no user's command does twice.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "app"),
                    str(ROOT / "demos")], check=True, stdout=subprocess.DEVNULL)
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "switches.py"
        script.write_text(SCRIPT)
        out = str(Path(tmp) / "trace.json")
        flight = str(Path(tmp) / "flight.json")
        api_out = str(Path(tmp) / "api.json")
        data = str(Path(tmp) / "history")
        print(f"coroscope run of a script switching two greenlets, Python "
              f"{sys.version.split()[0]}, best of {repeat}")
        peaks = {}
        for count in (n, 3 * n):
            best = {"no-op hook": (1e9, 0.0, 0.0), "coroscope run": (1e9, 0.0, 0.0),
                    "flight recorder 0.2s": (1e9, 0.0, 0.0),
                    "coroscope.trace()": (1e9, 0.0, 0.0)}
            for _ in range(repeat):
                for mode, cmd in (
                    ("no-op hook", [sys.executable, "-c", NOOP, str(script), str(count)]),
                    ("coroscope run", [sys.executable, "-m", "app", "run", "--out", out,
                                       "--data-dir", data, str(script), str(count)]),
                    ("flight recorder 0.2s", [sys.executable, "-m", "app", "run",
                                            "--flight-recorder", "0.2s", "--out", flight,
                                            "--data-dir", data, str(script), str(count)]),
                    ("coroscope.trace()", [sys.executable, "-c", API, api_out, str(script),
                                           str(count)]),
                ):
                    wall, rss, own = measure(cmd, tmp)
                    best[mode] = (min(best[mode][0], wall), max(best[mode][1], rss),
                                  max(best[mode][2], own))
            noop, noop_rss, _ = best["no-op hook"]
            traced, traced_rss, cli_rss = best["coroscope run"]
            flown, flown_rss, flown_cli = best["flight recorder 0.2s"]
            api, api_rss, _ = best["coroscope.trace()"]
            size = os.path.getsize(out) / 1e6
            print(f"{count:>10,} switches: no-op hook {noop:5.2f} s ({noop_rss:4.0f} MB), "
                  f"coroscope run {traced:5.2f} s ({traced_rss:4.0f} MB, its own "
                  f"{cli_rss:4.0f} MB, trace {size:.0f} MB) ratio {traced / noop:4.1f}x; "
                  f"flight recorder 0.2s {flown:5.2f} s ({flown_rss:4.0f} MB, its own "
                  f"{flown_cli:4.0f} MB); coroscope.trace() {api:5.2f} s ({api_rss:4.0f} MB) "
                  f"ratio {api / noop:4.1f}x")
            peaks[count] = (traced_rss, cli_rss, flown_rss, flown_cli)
        for i, what in enumerate(("coroscope run, largest process",
                                  "coroscope run, the command itself",
                                  "flight recorder, largest process",
                                  "flight recorder, the command itself")):
            print(f"{what}: peak RSS at {3 * n:,} / at {n:,}: "
                  f"{peaks[3 * n][i] / peaks[n][i]:.2f}x")


if __name__ == "__main__":
    main(sys.argv[1:])

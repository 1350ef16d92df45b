"""Opening big traces in the real Debian Chromium: 1M, 3M and 10M events, side by side.

Each trace (main, a Hub and 8 workers switching through it, as browser.py's synthetic
trace) is written to a file, chosen in a file input and read by the page's incremental
loader (static/js/loader.js), as Open... of a file does. Per size: the load time (from
the call to the run shown, measured in the page), the JS heap after a forced GC (V8's
own objects) and the typed columns' bytes beside it (array buffers live outside the
heap), then the redraw time at full zoom-out and zoomed in.

``python -m benchmarks.viewer_big [--sizes 1000000,3000000,10000000] [--gzip]``
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402

from .browser import redraw_times  # noqa: E402

OPEN = """async () => {
  const file = document.getElementById('bench-file').files[0];
  const t0 = performance.now();
  await window.coroscope.openTrace(file);
  const ms = performance.now() - t0;
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return [ms, performance.now() - t0, window.coroscope.events, window.coroscope.lastError];
}"""

def write_trace(path: Path, n: int, packed: bool) -> None:
    """The synthetic trace of browser.py, spelt as the exporter writes (no spaces, no
    newlines: app/tracer/export.py)."""
    opener = gzip.open(path, "wt", compresslevel=1) if packed else open(path, "w")
    with opener as f:
        tasks = [{"id": 0, "name": "main", "kind": "main"}, {"id": 1, "name": "Hub", "kind": "hub"}]
        tasks += [{"id": w, "name": "worker", "kind": "greenlet"} for w in range(2, 10)]
        head = ",".join(f'{{"id":{t["id"]},"name":"{t["name"]}","kind":"{t["kind"]}",'
                        f'"parent":null,"spawned_at":0}}' for t in tasks)
        f.write('{"format":"coroscope.trace","version":3,"run":{"id":"synthetic",'
                '"demo":null,"title":"synthetic","params":{},"status":"finished",'
                '"error":null,"started_at":"2026-01-01T00:00:00+00:00",'
                f'"duration_ns":{n * 500 + 1000},"events":{n}}},"tasks":[{head}],'
                '"events":[')
        lines = [f'{{"seq":{w},"t":0,"kind":"spawn","task":{w},"parent":'
                 f'{"null" if w < 2 else 1}}}' for w in range(10)]
        seq, t, sep = 10, 1000, ""
        while seq < n:
            w = 2 + seq % 8
            lines.append(f'{{"seq":{seq},"t":{t},"kind":"switch","from":1,"to":{w},'
                         '"line":null,"cause":"wake"}')
            lines.append(f'{{"seq":{seq + 1},"t":{t + 700},"kind":"switch","from":{w},'
                         '"to":1,"line":12,"cause":"timer 0 s"}')
            seq += 2
            t += 1000
            if len(lines) >= 100_000 and seq < n:
                f.write(sep + ",".join(lines))
                lines, sep = [], ","
        f.write(sep + ",".join(lines[: len(lines) - (seq - n)]) + "]}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.viewer_big")
    parser.add_argument("--sizes", default="1000000,3000000,10000000")
    parser.add_argument("--gzip", action="store_true", help="open .json.gz files instead")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if not os.path.exists(CHROMIUM):
        print(f"# {CHROMIUM} is not installed")
        return 1
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="coroscope-big-"))
    server = Server(tmp / "server.log")
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=[*CHROMIUM_ARGS, "--js-flags=--expose-gc"])
            for n in sizes:
                path = tmp / (f"trace-{n}.json" + (".gz" if args.gzip else ""))
                t0 = time.perf_counter()
                write_trace(path, n, args.gzip)
                print(f"# wrote {path.name}: {path.stat().st_size / 2**20:.0f} MB in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                cdp = page.context.new_cdp_session(page)
                page.goto(server.url + "/")
                page.wait_for_function("typeof window.coroscope?.openTrace === 'function'")
                page.evaluate("""() => { const i = document.createElement('input');
                    i.type = 'file'; i.id = 'bench-file'; i.hidden = true;
                    document.body.append(i); }""")
                page.set_input_files("#bench-file", str(path))
                cdp.send("HeapProfiler.collectGarbage")
                base = cdp.send("Runtime.getHeapUsage")["usedSize"]
                ms, drawn_ms, events, error = page.evaluate(OPEN)
                if error or events != n:
                    print(f"# {n}: failed: {error} ({events} events)")
                    page.close()
                    continue
                cdp.send("HeapProfiler.collectGarbage")
                heap = cdp.send("Runtime.getHeapUsage")["usedSize"]
                columns = page.evaluate("window.coroscope.storeBytes()")
                if n == sizes[-1]:
                    page.screenshot(path=str(tmp / f"viewer-{n}.png"))
                    print(f"# screenshot {tmp / f'viewer-{n}.png'}", flush=True)
                full, zoomed = redraw_times(page, 16)
                rows.append((n, path.stat().st_size, ms, drawn_ms, base, heap, columns,
                             sorted(full)[2], max(full), sorted(zoomed)[8], max(zoomed)))
                page.close()
                path.unlink()
            browser.close()
    finally:
        server.stop()
    print("| events | file MB | load s | to first draw s | JS heap MB | typed columns MB "
          "| bytes/event | redraw fit ms (median/worst) | redraw zoomed ms (median/worst) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, size, ms, drawn, base, heap, columns, fm, fw, zm, zw in rows:
        per = (heap - base + columns) / n
        print(f"| {n:,} | {size / 2**20:.0f} | {ms / 1000:.2f} | {drawn / 1000:.2f} "
              f"| {heap / 2**20:.0f} | {columns / 2**20:.0f} | {per:.0f} "
              f"| {fm:.1f} / {fw:.1f} | {zm:.1f} / {zw:.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

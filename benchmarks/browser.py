"""Browser figures, in the real Debian Chromium: streaming ingest, load, redraw, first switch.

Each figure is measured in the page with performance.now() through the read-only
``window.coroscope`` state the dashboard exposes.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402

from .cdp import CdpPage  # noqa: E402
from .relay import child_alone  # noqa: E402

SYNTHETIC = """
(n) => {
  // main, Hub and 8 workers; every worker switch goes through the Hub.
  const tasks = [{id: 0, name: 'main', kind: 'main', parent: null, spawned_at: 0},
                 {id: 1, name: 'Hub', kind: 'hub', parent: null, spawned_at: 0}];
  const events = [{seq: 0, t: 0, kind: 'spawn', task: 0, parent: null},
                  {seq: 1, t: 0, kind: 'spawn', task: 1, parent: null}];
  for (let w = 2; w < 10; w++) {
    tasks.push({id: w, name: 'worker', kind: 'greenlet', parent: 1, spawned_at: 0});
    events.push({seq: events.length, t: 0, kind: 'spawn', task: w, parent: 1});
  }
  let t = 1000;
  while (events.length < n) {
    const w = 2 + (events.length % 8);
    events.push({seq: events.length, t, kind: 'switch', from: 1, to: w, line: null,
                 cause: 'wake'});
    t += 700;
    events.push({seq: events.length, t, kind: 'switch', from: w, to: 1, line: 12,
                 cause: 'timer 0 s'});
    t += 300;
  }
  return {format: 'coroscope.trace', version: 1,
          run: {id: 'synthetic', demo: null, title: 'synthetic', params: {},
                status: 'finished', error: null, started_at: '2026-01-01T00:00:00+00:00',
                duration_ns: t, events: events.length},
          tasks, events};
}
"""

RAW_STREAM = """(n) => new Promise((resolve) => {
  // The floor: a bare WebSocket in the page that only parses each frame.
  const ws = new WebSocket(`ws://${location.host}/ws`);
  const t0 = performance.now();
  let rows = 0;
  ws.onopen = () => ws.send(JSON.stringify({type: 'start', demo: 'greenlet_switch_cost',
                                            params: {variant: 'switching', n}}));
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'events') rows += m.rows.length;
    if (m.type === 'end') { ws.close(); resolve([performance.now() - t0, rows]); }
  };
})"""

DASHBOARD_STREAM = """(n) => new Promise((resolve, reject) => {
  // The dashboard as a user drives it: pick the demo, set its fields, press Run; done
  // when the page has every event and shows the run finished.
  const pick = (name, text) => {
    const el = document.querySelector(`[name=${name}]`);
    el.value = [...el.options].find((o) => o.text === text).value;
    el.dispatchEvent(new Event('change', {bubbles: true}));
  };
  const demo = document.querySelector('[data-testid=demo-select]');
  demo.value = 'greenlet_switch_cost';
  demo.dispatchEvent(new Event('change', {bubbles: true}));
  requestAnimationFrame(() => {
    pick('variant', 'switching');
    document.querySelector('[name=n]').value = String(n);
    const t0 = performance.now();
    document.querySelector('[data-testid=run]').click();
    const poll = () => {
      const c = window.coroscope;
      const ms = performance.now() - t0;
      if (c.status === 'finished' && c.events >= 2 * n) resolve([ms, c.events, c.seqOk]);
      else if (ms > 120000) reject(new Error('stream timed out'));
      else setTimeout(poll, 2);
    };
    poll();
  });
})"""

REDRAW = """
async () => {
  // Time one full redraw: ask for one, wait two frames, read what the page measured.
  const c = window.coroscope;
  const frame = () => new Promise(r => requestAnimationFrame(() => r()));
  await frame(); await frame();
  return c.lastRedrawMs;
}
"""


def redraw_times(page, zooms: int) -> tuple[list[float], list[float]]:
    """Redraw times in ms with the mouse over the timeline: 5 after Fit (full zoom-out),
    then one per wheel step in, ``zooms`` steps."""
    box = page.get_by_test_id("timeline").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    full = []
    for _ in range(5):
        page.get_by_text("Fit").first.click()
        full.append(page.evaluate(REDRAW))
    zoomed = []
    for _ in range(zooms):
        page.mouse.wheel(0, -400)
        zoomed.append(page.evaluate(REDRAW))
    return full, zoomed


def run(report, quick: bool = False) -> None:
    if not os.path.exists(CHROMIUM):
        report("browser.skipped", 0, "", f"{CHROMIUM} is not installed")
        return
    from playwright.sync_api import sync_playwright

    n_events = 200_000 if quick else 1_000_000
    iterations = n_events // 2
    alone, events = child_alone(iterations)
    server = Server(Path(os.environ.get("TMPDIR", "/tmp")) / "coroscope-bench-browser.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(server.url + "/")
            # Run -> first switch drawn (a small demo).
            firsts = []
            for _ in range(3):
                page.get_by_test_id("demo-select").select_option("greenlet_eat_play")
                page.get_by_test_id("run").click()
                page.wait_for_function("window.coroscope.status === 'finished'")
                firsts.append(page.evaluate(
                    "window.coroscope.firstSwitchDrawnAt - window.coroscope.runClickedAt"))
            report("browser.run_to_first_switch_drawn", sorted(firsts)[1], "ms",
                   f"median of 3; all {', '.join(f'{x:.0f}' for x in firsts)} ms "
                   "(target < 300 ms)")

            # The same stream under Playwright, to show what its instrumentation costs.
            page.get_by_test_id("demo-select").select_option("greenlet_switch_cost")
            page.locator("[name=variant]").select_option("switching")
            page.locator("[name=n]").fill(str(iterations))
            t0 = time.perf_counter()
            page.get_by_test_id("run").click()
            page.wait_for_function(f"window.coroscope.status === 'finished' && "
                                   f"window.coroscope.events >= {2 * iterations}",
                                   timeout=120_000)
            under_playwright = time.perf_counter() - t0

            # Load and redraw of a synthetic 1M-event trace.
            page.reload()
            page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
            # (void: the expression's value would otherwise be serialised back to Python)
            page.evaluate(f"void (window.__trace = ({SYNTHETIC})({n_events}))")
            t_load = page.evaluate("""() => { const t0 = performance.now();
                window.coroscope.loadTrace(window.__trace); return performance.now() - t0; }""")
            report("browser.load_1m", t_load, "ms", f"{n_events} events (target <= 2000 ms)")
            full, zoomed = redraw_times(page, 12)
            report("browser.redraw_full_zoom_out", max(full), "ms",
                   f"worst of {len(full)}, median {sorted(full)[len(full) // 2]:.1f} ms "
                   "(target <= 16 ms)")
            report("browser.redraw_zoomed_in", max(zoomed), "ms",
                   f"worst of {len(zoomed)} zoom steps, median "
                   f"{sorted(zoomed)[len(zoomed) // 2]:.1f} ms (target <= 16 ms)")
            browser.close()
        stream(report, server, iterations, alone, under_playwright)
    finally:
        server.stop()


def stream(report, server: Server, iterations: int, alone: float,
           under_playwright: float) -> None:
    """A million switches, live, to a page with no driver instrumentation (see cdp.py):
    the child alone, the bare-WebSocket floor and the dashboard, interleaved, best of
    three each."""
    page = CdpPage(server.url + "/")
    try:
        page.wait_for("typeof window.coroscope?.loadTrace === 'function' && "
                      "document.querySelectorAll('[data-testid=demo-select] option').length > 3")
        bare, dash, alone_runs = [], [], [alone]
        for rep in range(3):
            if rep:  # the child alone, interleaved too: best of three against best of three
                alone_runs.append(child_alone(iterations)[0])
            ms, rows = page.evaluate(f"({RAW_STREAM})({iterations})")
            bare.append(ms / 1000)
            ms, got, ok = page.evaluate(f"({DASHBOARD_STREAM})({iterations})")
            dash.append(ms / 1000)
    finally:
        page.close()
    wall, floor, alone = min(dash), min(bare), min(alone_runs)
    report("browser.stream_end_to_end", wall, "s",
           f"{got} events, seqOk {ok}; ratio to traced child alone {wall / alone:.2f} "
           f"(target <= 1.3); {got / wall / 1e6:.2f} M events/s (target >= 1); "
           f"all {', '.join(f'{x:.2f}' for x in dash)} s")
    report("browser.stream_bare_websocket", floor, "s",
           f"{rows} events to a page that only JSON.parses them: the floor on this machine; "
           f"ratio to child alone {floor / alone:.2f}; the dashboard takes "
           f"{wall / floor:.2f}x this floor")
    report("browser.stream_under_playwright", under_playwright, "s",
           f"the dashboard stream with Playwright attached: ratio to child alone "
           f"{under_playwright / alone:.2f}, {under_playwright / wall:.2f}x the same page "
           "without it (Network-domain copies of every frame)")

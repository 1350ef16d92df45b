"""The viewer in the real Debian Chromium: player, source marks, console, stats, Hub
folding, language, import errors, learning mode, compare, and a 1M-event redraw."""

from __future__ import annotations

import copy
import json

import pytest

from app.spans import compute_stats
from demos import DEMOS

from .conftest import (
    ROOT,
    allow_editing,
    choose_demo,
    header_says,
    header_texts,
    record_header,
    state,
)

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"

CURSOR_X = "() => document.querySelector('.play-cursor').getBoundingClientRect().left + 1"


def record(server, demo: str, params: dict | None = None) -> dict:
    """Run a demo on the server and return its native trace."""
    status, run = server.request("POST", "/api/runs", {"demo": demo, "params": params or {}})
    assert status == 201, run
    server.wait_run(run["id"])
    _, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    return trace


def open_run(page, server, run_id: str) -> None:
    """Open the page on `#run=<id>`, as `coroscope serve trace.json` does."""
    page.goto(f"{server.url}/#run={run_id}")
    # Wait for the end frame: before it the status may still be "idle" or "starting".
    page.wait_for_function(
        f"window.coroscope && window.coroscope.runId === {json.dumps(run_id)}"
        " && ['finished', 'error', 'cancelled', 'limit', 'crashed']"
        ".includes(window.coroscope.status)", timeout=20_000)
    # And its frame: the panels drawn from the ended run (the wait may have been true at
    # once, before a frame since the end).
    page.evaluate("window.coroscope.redraw()")


def expected_marks(trace: dict, cursor: int) -> list[dict]:
    """Where each task is paused at `cursor` (switches at `cursor` have happened)."""
    switches = [e for e in trace["events"] if e["kind"] in ("switch", "throw") and e["t"] <= cursor]
    finished = {e["task"]: e["t"] for e in trace["events"] if e["kind"] == "finish"}
    running = switches[-1]["to"] if switches else 0
    marks = []
    for task in trace["tasks"]:
        if task["spawned_at"] > cursor or finished.get(task["id"], cursor + 1) <= cursor:
            continue
        outs = [e for e in switches if e["from"] == task["id"]]
        line = outs[-1]["line"] if outs else None
        if line is None and task["id"] != running:
            continue
        marks.append({"task": task["id"], "line": line, "running": task["id"] == running})
    return marks


def lane_order(trace: dict) -> list[int]:
    rank = {"main": 0, "hub": 1}
    return [t["id"] for t in sorted(trace["tasks"], key=lambda t: rank.get(t["kind"], 2))]


def test_step_through_every_switch(server, page):
    trace = record(server, "greenlet_eat_play")
    open_run(page, server, trace["run"]["id"])
    switches = [e for e in trace["events"] if e["kind"] in ("switch", "throw")]
    prints = [e for e in trace["events"] if e["kind"] == "stdout"]
    assert len(switches) == 5
    page.evaluate("window.coroscope.seek(0)")
    s = state(page)
    assert s["cursor"] == 0 and s["consoleCurrent"] == 0 and not s["playing"]
    assert s["sourceMarks"] == [{"task": 0, "line": None, "running": True}]
    order = lane_order(trace)
    for k, sw in enumerate(switches):
        if k % 2:
            page.keyboard.press("ArrowRight")  # the keyboard and the API step alike
        else:
            assert page.evaluate("window.coroscope.stepNext()") is True
        page.wait_for_function(f"window.coroscope.cursor === {sw['t']}")
        s = state(page)
        assert s["cursor"] == sw["t"]
        marks = expected_marks(trace, sw["t"])
        key = {tid: i for i, tid in enumerate(order)}
        assert sorted(s["sourceMarks"], key=lambda m: key[m["task"]]) == marks, k
        assert s["consoleCurrent"] == sum(1 for p in prints if p["t"] <= sw["t"])
        # The source panel shows the same marks: one chip per paused task, on its line.
        shown = page.evaluate("""() => [...document.querySelectorAll('.src-line.marked')]
            .map(r => [Number(r.dataset.line), r.classList.contains('running'),
                       r.querySelectorAll('.src-chip').length])""")
        lines = {}
        for m in marks:
            if m["line"] is not None:
                lines.setdefault(m["line"], []).append(m["running"])
        assert sorted(shown) == sorted([ln, any(r), len(r)] for ln, r in lines.items())
        # Console rows after the cursor are dimmed.
        dimmed = page.locator(".console-row.future").count()
        assert dimmed == len(prints) - s["consoleCurrent"]
    # Past the last switch there is nothing more; back steps retrace the same times.
    assert page.evaluate("window.coroscope.stepNext()") is False
    for sw in reversed(switches[:-1]):
        page.keyboard.press("ArrowLeft")
        page.wait_for_function(f"window.coroscope.cursor === {sw['t']}")
    # The first switch: main paused at its line 26, eat runs.
    assert state(page)["sourceMarks"] == expected_marks(trace, switches[0]["t"])
    assert {"task": 0, "line": 26, "running": False} in state(page)["sourceMarks"]
    # Clicking a console line moves the cursor to it.
    page.locator(".console-row", has_text="egon play 2").click()
    s = state(page)
    assert s["cursor"] == prints[3]["t"] and s["consoleCurrent"] == 4
    # Space plays, +/- change the speed. A run this short plays switch by switch unless
    # real time is chosen (tests/test_learner_view.py plays it switch by switch).
    assert state(page)["pace"] == 2
    page.evaluate("window.coroscope.seek(0)")
    page.get_by_test_id("speed").select_option("1")
    assert state(page)["pace"] is None
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("+")
    assert state(page)["speed"] == 2
    for _ in range(4):
        page.keyboard.press("-")
    assert state(page)["speed"] == 0.1  # this run lasts ~30 ms: a tenth of real time
    # Space plays from 0 to the end, and stops there. Not "playing is True" right after
    # the key: at 0.1x this run plays in ~0.3 s, which a starved core may spend before the
    # next evaluate (seen under load); the cursor at the end and stopped is what matters.
    end = max(trace["run"]["duration_ns"], trace["events"][-1]["t"])
    page.keyboard.press(" ")
    page.wait_for_function(f"!window.coroscope.playing && window.coroscope.cursor === {end}",
                           timeout=10_000)


def test_zoom_pan_and_fit(server, page):
    trace = record(server, "greenlet_eat_play")
    open_run(page, server, trace["run"]["id"])
    end = max(trace["run"]["duration_ns"], trace["events"][-1]["t"])
    # The view fits the run at the next frame after the end arrives.
    page.wait_for_function(f"window.coroscope.view.t1 === {end}", timeout=5_000)
    # From main() (the loading before it is folded away: tests/test_learner_view.py).
    main = next(e["t"] for e in trace["events"] if e["kind"] == "mark")
    v = state(page)["view"]
    assert v["t0"] == main and v["t1"] == end
    box = page.get_by_test_id("timeline").bounding_box()
    x, y = box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    before = state(page)["view"]
    page.mouse.wheel(0, -300)
    page.wait_for_timeout(100)
    after = state(page)["view"]
    width0, width1 = before["t1"] - before["t0"], after["t1"] - after["t0"]
    assert width1 < width0 * 0.8
    # The time under the mouse stays under the mouse.
    frac = page.evaluate(f"""() => {{ const c = document.querySelector('[data-testid=timeline]');
        const r = c.getBoundingClientRect(); return {x} - r.left; }}""")
    plot_x0 = page.evaluate("window.coroscope.plot.x0")  # the gutter, sized to the labels
    plot_w = box["width"] - 28 - plot_x0
    t_before = before["t0"] + (frac - plot_x0) / plot_w * width0
    t_after = after["t0"] + (frac - plot_x0) / plot_w * width1
    assert abs(t_before - t_after) < width0 * 0.01
    # Drag left: a later window of the same width.
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 100, y, steps=5)
    page.mouse.up()
    page.wait_for_timeout(100)
    dragged = state(page)["view"]
    assert abs((dragged["t1"] - dragged["t0"]) - width1) < 1e-6 * width1
    assert dragged["t0"] > after["t0"]
    assert abs((dragged["t0"] - after["t0"]) - 100 / plot_w * width1) < 0.05 * width1
    page.get_by_test_id("fit").click()
    page.evaluate("window.coroscope.redraw()")  # the fit is taken in the frame
    v = state(page)["view"]
    assert v["t0"] == main and v["t1"] == end


@pytest.mark.parametrize("demo,params", [
    ("gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1}),
    ("gevent_unpatched_sleep", {"eat_seconds": 0.15, "play_seconds": 0.05}),
    ("gevent_dummythread", {}),
])
def test_stats_equal_compute_stats(server, page, demo, params):
    trace = record(server, demo, params)
    open_run(page, server, trace["run"]["id"])
    page.wait_for_function("window.coroscope.stats !== null")
    got = state(page)["stats"]
    assert got == compute_stats(trace)
    # The same numbers for a loaded export.
    page.evaluate("t => window.coroscope.loadTrace(t)", trace)
    page.evaluate("window.coroscope.computeStats()")
    assert state(page)["stats"] == compute_stats(trace)


INCREMENTAL_STATS = """
async ([trace, step]) => {
  // The live path: rows arrive a few at a time and the accumulator reads only the new
  // ones; after every batch its result must be what a full pass gives.
  const { Store } = await import('/static/js/store.js');
  const { StatsAccumulator, computeStats } = await import('/static/js/analysis.js');
  const { exportToBatches } = await import('/static/js/codec.js');
  const store = new Store();
  const acc = new StatsAccumulator();
  const rows = exportToBatches(trace).flatMap((b) => b.rows);
  let mismatches = 0;
  for (let i = 0; i < rows.length; i += step) {
    store.append(i, rows.slice(i, i + step));
    acc.feed(store);
    const end = store.lastT;
    const live = JSON.stringify(acc.result(store, end));
    if (live !== JSON.stringify(computeStats(store, end))) mismatches++;
  }
  const stats = acc.result(store, trace.run.duration_ns);
  return { mismatches, irregular: acc.irregular, stats };
}
"""


def test_live_stats_read_only_new_rows_and_equal_compute_stats(server, page):
    trace = record(server, "gevent_unpatched_sleep", {"eat_seconds": 0.2, "play_seconds": 0.1})
    page.goto(server.url + "/")
    got = page.evaluate(INCREMENTAL_STATS, [trace, 3])
    assert got["mismatches"] == 0 and not got["irregular"]
    assert got["stats"] == compute_stats(trace)
    # A trace whose switch names a task before its spawn row: compute_stats still counts
    # it (it knows every task first); the accumulator notices and takes the full pass.
    events = trace["events"]
    k = next(i for i, e in enumerate(events) if e["kind"] == "spawn" and e["task"] > 0)
    spawn = events.pop(k)
    first_use = next(i for i, e in enumerate(events)
                     if e["kind"] == "switch" and spawn["task"] in (e["from"], e["to"]))
    events.insert(first_use + 1, dict(spawn, t=events[first_use]["t"]))
    for seq, e in enumerate(events):
        e["seq"] = seq
    got = page.evaluate(INCREMENTAL_STATS, [trace, 2])
    assert got["irregular"] and got["mismatches"] == 0
    assert got["stats"] == compute_stats(trace)


def test_blocking_demo_warns_that_the_hub_starved(server, page):
    allow_editing(page, server)
    trace = record(server, "gevent_unpatched_sleep", {"eat_seconds": 0.3, "play_seconds": 0.2})
    open_run(page, server, trace["run"]["id"])
    s = state(page)
    # The header shows the demo and parameters of the run opened, not the default demo.
    page.wait_for_function("document.querySelector('[data-testid=demo-select]').value"
                           " === 'gevent_unpatched_sleep'")
    assert page.locator("[name=eat_seconds]").input_value() == "0.3"
    assert page.locator("[name=play_seconds]").input_value() == "0.2"
    starved = compute_stats(trace)["hub_starved"]
    assert len(starved) == 2
    warned = [(w["task"], w["t"], w["until"]) for w in s["warnings"] if w["kind"] == "starved"]
    assert warned == [(x["task"], x["since"], x["until"]) for x in starved]
    assert page.get_by_test_id("warnings").locator("li").count() >= 2
    assert "time.sleep(0.3)" in page.get_by_test_id("warnings").inner_text()
    # Hovering the "!" marker of a warning explains it in the tooltip.
    k = next(i for i, w in enumerate(s["warnings"]) if w["kind"] == "starved")
    mark = page.evaluate(f"window.coroscope.warningMarker({k})")
    box = page.get_by_test_id("timeline").bounding_box()
    page.mouse.move(box["x"] + mark["x"], box["y"] + mark["y"])
    tip = page.get_by_test_id("timeline").locator("xpath=..").locator(".tooltip")
    tip.wait_for(state="visible")
    assert "Hub starved for" in tip.inner_text() and "time.sleep(0.3)" in tip.inner_text()
    page.mouse.move(box["x"] + mark["x"], box["y"] + 5)  # off the marker: not the warning
    assert "Hub starved" not in tip.inner_text() or not tip.is_visible()
    page.evaluate(f"window.coroscope.seek({starved[0]['since'] + 1000})")
    page.wait_for_timeout(300)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "blocking.png"))


def test_loading_the_demo_is_shaded_until_main_is_called(server, page):
    trace = record(server, "gevent_monkey_patch", {"eat_seconds": 0.3, "play_seconds": 0.2})
    marks = [e for e in trace["events"] if e["kind"] == "mark"]
    first_switch = next(e["t"] for e in trace["events"] if e["kind"] == "switch")
    assert [m["text"] for m in marks] == ["main()"] and 0 < marks[0]["t"] < first_switch
    open_run(page, server, trace["run"]["id"])
    assert state(page)["marks"] == [{"t": marks[0]["t"], "text": "main()"}]
    # The loading is folded away unless shown (tests/test_learner_view.py).
    page.get_by_test_id("loading-toggle").check()
    page.wait_for_function("window.coroscope.view.t0 === 0")
    page.evaluate("window.coroscope.redraw()")
    # Below the lanes: shaded while the file loads (imports, monkey.patch_all()), plain after.
    # The shade is the page's white under rgba(91, 98, 112, 0.07); after main() the white
    # shows plain (at one of ten times at least: a busy span drawn across the lanes on a
    # loaded machine may cover some).
    before = page.evaluate(f"window.coroscope.pixelAt({marks[0]['t'] // 2}, 30)")
    shade = [round(255 - 0.07 * (255 - c)) for c in (91, 98, 112)]
    assert all(abs(got - want) <= 2
               for got, want in zip(before[:3], shade, strict=True)), (before, shade)
    end = trace["run"]["duration_ns"]
    times = [first_switch + (end - first_switch) * k // 10 for k in range(1, 10)]
    after = [page.evaluate(f"window.coroscope.pixelAt({t}, 30)") for t in times]
    assert [255, 255, 255, 255] in after, after
    # Hovering the shade says what it is.
    box = page.get_by_test_id("timeline").bounding_box()
    x = page.evaluate(f"window.coroscope.xAt({marks[0]['t'] // 2})")
    page.mouse.move(box["x"] + x, box["y"] + box["height"] - 30)
    tip = page.get_by_test_id("timeline").locator("xpath=..").locator(".tooltip")
    tip.wait_for(state="visible")
    assert "LOADING THE DEMO FILE" in tip.inner_text() and "monkey.patch_all()" in tip.inner_text()


def test_lanes_of_the_same_function_are_told_apart_by_their_arguments(server, page):
    # Ten greenlets running task(pid) print "Task 0 done" .. "Task 9 done": their lanes say
    # task(0) .. task(9) (they said task, task #2, .. task #10: off by one from the prints).
    trace = record(server, "gevent_sync_async", {"tasks": 3, "seconds": 0.01})
    open_run(page, server, trace["run"]["id"])
    assert [lane["label"] for lane in state(page)["lanes"]] == [
        "main", "task(0)", "task(1)", "task(2)"]
    label = {lane["id"]: lane["label"] for lane in state(page)["lanes"]}
    printed = {label[line["task"]]: line["text"] for line in state(page)["stdout"]}
    assert printed["task(1)"] == "Task 1 done"


def test_parked_at_the_end_is_a_warning(server, page):
    trace = record(server, "greenlet_eat_play")
    open_run(page, server, trace["run"]["id"])
    parked = [w for w in state(page)["warnings"] if w["kind"] == "parked"]
    # eat is left paused at line 10: nothing switches back to it.
    assert [(w["task"], w["detail"]) for w in parked] == [(1, "10")]


def test_a_sleep0_loop_is_a_warning(page, server):
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
    events = [{"seq": 0, "t": 0, "kind": "spawn", "task": 0, "parent": None},
              {"seq": 1, "t": 10, "kind": "spawn", "task": 1, "parent": 0}]
    t = 20
    for _ in range(100):
        events.append({"seq": len(events), "t": t, "kind": "switch", "from": 0, "to": 1,
                       "line": 5, "cause": "timer 0 s"})
        events.append({"seq": len(events), "t": t + 500, "kind": "switch", "from": 1, "to": 0,
                       "line": None, "cause": "wake"})
        t += 1000
    trace = {"format": "coroscope.trace", "version": 1,
             "run": {"id": "spin", "demo": None, "title": "spin", "params": {},
                     "status": "finished",
                     "error": None, "started_at": "2026-01-01T00:00:00+00:00", "duration_ns": t,
                     "events": len(events)},
             "tasks": [{"id": 0, "name": "main", "kind": "main", "parent": None, "spawned_at": 0},
                       {"id": 1, "name": "Hub", "kind": "hub", "parent": 0, "spawned_at": 10}],
             "events": events}
    page.evaluate("t => window.coroscope.loadTrace(t)", trace)
    spins = [w for w in state(page)["warnings"] if w["kind"] == "spin"]
    assert len(spins) == 1 and spins[0]["task"] == 0 and spins[0]["count"] == 100


def test_million_events_redraw(server, page):
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
    from benchmarks.browser import SYNTHETIC
    page.evaluate(f"void (window.__trace = ({SYNTHETIC})(1000000))")  # void: no 1M-event reply
    load = page.evaluate("""() => { const t0 = performance.now();
        window.coroscope.loadTrace(window.__trace); return performance.now() - t0; }""")
    assert state(page)["events"] == 1_000_000
    full = [page.evaluate("window.coroscope.redraw()") for _ in range(5)]
    box = page.get_by_test_id("timeline").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    zoomed = []
    for _ in range(10):
        page.mouse.wheel(0, -400)
        zoomed.append(page.evaluate("window.coroscope.redraw()"))
    # Stepping and the panels stay instant with a million events.
    page.evaluate("window.coroscope.seek(1e6)")
    step = page.evaluate("""() => { const t0 = performance.now();
        for (let i = 0; i < 100; i++) window.coroscope.stepNext();
        return performance.now() - t0; }""")
    print(f"\n1M events: load {load:.0f} ms; redraw full zoom-out "
          f"{', '.join(f'{x:.1f}' for x in full)} ms; zoomed in "
          f"{', '.join(f'{x:.1f}' for x in zoomed)} ms; 100 steps {step:.0f} ms")
    # Per-pixel, not per-event, work: far under 50 ms (the 16 ms target is measured by
    # benchmarks/browser.py). The median: one redraw descheduled on a shared core, or a
    # collection, is not what this checks.
    assert sorted(full)[2] < 50 and sorted(zoomed)[5] < 50


def test_hub_toggle_folds_and_is_remembered(server, page):
    trace = record(server, "gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1})
    open_run(page, server, trace["run"]["id"])
    raw = [e for e in trace["events"] if e["kind"] in ("switch", "throw")]
    s = state(page)
    assert s["showHub"] is False
    assert [lane["name"] for lane in s["lanes"]] == ["main", "eat", "play"]
    # Folded: every Hub -> X switch becomes one arrow; switches into the Hub vanish.
    assert s["arrows"] == sum(1 for e in raw if e["from"] == 1)
    page.get_by_test_id("hub-toggle").check()
    s = state(page)
    assert s["showHub"] is True and s["arrows"] == len(raw)
    assert [lane["name"] for lane in s["lanes"]] == ["main", "Hub", "eat", "play"]
    open_run(page, server, trace["run"]["id"])
    page.reload()
    page.wait_for_function("window.coroscope.status === 'finished'")
    assert state(page)["showHub"] is True
    page.get_by_test_id("hub-toggle").uncheck()
    page.reload()
    page.wait_for_function("window.coroscope.status === 'finished'")
    assert state(page)["showHub"] is False


def test_hover_explains_the_switch(server, page):
    trace = record(server, "greenlet_eat_play")
    open_run(page, server, trace["run"]["id"])
    sw = [e for e in trace["events"] if e["kind"] == "switch"][2]  # play -> eat at line 15
    page.evaluate(f"window.coroscope.seek({sw['t']})")
    # Zoom on that switch so it stands alone, then hover it.
    box = page.get_by_test_id("timeline").bounding_box()
    for _ in range(30):
        x = page.evaluate(CURSOR_X)
        page.mouse.move(x, box["y"] + box["height"] * 0.5)
        page.mouse.wheel(0, -300)
        page.wait_for_timeout(30)
    x = page.evaluate(CURSOR_X)
    page.mouse.move(x, box["y"] + box["height"] * 0.5)
    tip = page.locator("#timeline-wrap > .tooltip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert "play" in text and "eat" in text and "switch" in text
    assert "line 15" in text and "g1.switch()" in text  # where play paused
    assert "line 8" in text and "g2.switch('egon')" in text  # where eat resumes


def test_language_toggle_is_remembered(server, page):
    allow_editing(page, server)
    page.goto(server.url + "/")
    run = page.get_by_test_id("run")
    page.wait_for_function("document.querySelector('[data-testid=run]').textContent == 'Run'")
    page.get_by_test_id("lang").click()
    assert run.inner_text() == "运行"
    assert page.get_by_test_id("history").inner_text() == "历史"
    page.reload()
    page.wait_for_function("document.querySelector('[data-testid=run]').textContent === '运行'")
    assert state(page)["language"] == "zh"
    choose_demo(page, "gevent_eat_play", eat_seconds=0.4, play_seconds=0.2)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    page.evaluate("window.coroscope.seek(300e6)")
    page.wait_for_timeout(200)
    assert "统计" in page.locator(".stats-panel").inner_text()
    # The demo itself speaks Chinese too: picker, title, description, parameter help.
    picked = page.get_by_test_id("demo-select").locator("option:checked").inner_text()
    assert picked == DEMOS["gevent_eat_play"].title_zh
    assert page.locator("#run-title").inner_text() == DEMOS["gevent_eat_play"].title_zh
    assert page.locator("#run-desc").inner_text() == DEMOS["gevent_eat_play"].description_zh
    help_zh = DEMOS["gevent_eat_play"].params[0].help_zh
    assert page.locator("label.param", has=page.locator("[name=eat_seconds]")).get_attribute(
        "title") == help_zh
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "chinese.png"))
    page.get_by_test_id("lang").click()
    assert run.inner_text() == "Run"
    assert page.locator("#run-title").inner_text() == DEMOS["gevent_eat_play"].title
    assert page.get_by_test_id("demo-select").input_value() == "gevent_eat_play"


DROP = """
([name, text]) => {
  // What a browser does when a file is dragged over the page and dropped: the same
  // DataTransfer (kind "Files") on dragenter, dragover and drop.
  const data = new DataTransfer();
  data.items.add(new File([text], name, { type: 'application/json' }));
  const fire = (type) => window.dispatchEvent(
    new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
  fire('dragenter');
  const shown = !document.querySelector('[data-testid=dropzone]')?.hidden;
  fire('dragover');
  fire('drop');
  return shown;
}
"""


def test_editing_the_picker_while_a_run_starts_is_kept(server, page):
    """The picker follows runs opened from History or a link, not the one just started from
    it: a demo picked right after Run (before the server's first frame) stays picked."""
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                           ".length > 3")
    choose_demo(page, "greenlet_eat_play")
    page.evaluate("""() => {
      document.querySelector('[data-testid=run]').click();
      const sel = document.querySelector('[data-testid=demo-select]');
      sel.value = 'yield_blocking';  // synchronously: no frame of the run has arrived yet
      sel.dispatchEvent(new Event('change', {bubbles: true}));
      document.querySelector('[name=n]').value = '7';
    }""")
    page.wait_for_function(
        "window.coroscope.status === 'finished' && window.coroscope.switches === 5")
    assert page.get_by_test_id("demo-select").input_value() == "yield_blocking"
    assert page.locator("[name=n]").input_value() == "7"


def test_a_trace_dropped_on_the_page_opens(server, page):
    trace = record(server, "greenlet_eat_play")
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
    shown = page.evaluate(DROP, ["eat_play.json", json.dumps(trace)])
    assert shown  # the drop zone appeared while the file was over the page
    page.wait_for_function(
        "window.coroscope.status === 'finished' && window.coroscope.switches === 5")
    assert page.get_by_test_id("dropzone").is_hidden()
    assert state(page)["events"] == len(trace["events"])
    # Dropping something that is not a trace says so and leaves the run on screen.
    page.evaluate(DROP, ["notes.json", '{"format": "something else"}'])
    error = page.get_by_test_id("error")
    error.wait_for(state="visible")
    assert "notes.json" in error.inner_text()
    assert state(page)["switches"] == 5
    # A big file too (the upload once used keepalive, which Chromium refuses over 64 KiB).
    big = record(server, "greenlet_switch_cost", {"variant": "switching", "n": 3000})
    text = json.dumps(big)
    assert len(text) > 256 << 10
    page.evaluate(DROP, ["big.json", text])
    page.wait_for_function(f"window.coroscope.events === {len(big['events'])}")
    assert error.is_hidden()


def test_opening_a_broken_file_shows_the_servers_error(server, page, tmp_path):
    good = record(server, "greenlet_eat_play")
    bad = copy.deepcopy(good)
    bad["events"][12]["kind"] = "teleport"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(bad))
    status, body = server.request("POST", "/api/import", bad)
    assert status == 400
    page.goto(server.url + "/")
    with page.expect_file_chooser() as fc:
        page.get_by_test_id("open").click()
    fc.value.set_files(str(path))
    error = page.get_by_test_id("error")
    error.wait_for(state="visible")
    assert body["error"] in error.inner_text() and "broken.json" in error.inner_text()
    assert page.get_by_test_id("timeline").is_visible()
    # A good file opens as a run and is watched.
    path.write_text(json.dumps(good))
    with page.expect_file_chooser() as fc:
        page.get_by_test_id("open").click()
    fc.value.set_files(str(path))
    page.wait_for_function(
        "window.coroscope.status === 'finished' && window.coroscope.switches === 5")
    assert state(page)["lastError"] is None


def test_predict_mode_asks_then_reveals(server, page):
    trace = record(server, "greenlet_eat_play")
    open_run(page, server, trace["run"]["id"])
    switches = [e for e in trace["events"] if e["kind"] == "switch"]
    page.evaluate("window.coroscope.seek(0)")
    page.get_by_test_id("predict-toggle").check()
    page.evaluate("window.coroscope.stepNext()")
    s = state(page)
    assert s["predict"]["asking"] is True and s["cursor"] < switches[0]["t"]
    box = page.get_by_test_id("predict")
    assert "Who runs next?" in box.inner_text()
    choices = box.locator(".predict-choice")
    # Every live coroutine, play too: it exists before it first runs (the tracer sees it
    # only then). main is the one giving up control.
    assert sorted(choices.all_inner_texts()) == ["eat", "play"]
    choices.first.click()
    s = state(page)
    assert s["predict"]["question"]["correct"] is True and s["cursor"] == switches[0]["t"]
    assert "Right!" in box.inner_text() and "switch" in box.inner_text()
    # Next question: eat gives way; a wrong guess is told the answer and its cause.
    box.get_by_text("Next →").click()
    assert state(page)["predict"]["asking"] is True
    box.locator(".predict-choice", has_text="main").click()
    assert "Not quite." in box.inner_text() and "play" in box.inner_text()
    assert state(page)["cursor"] == switches[1]["t"]


def test_compare_runs_both(server, page):
    allow_editing(page, server)
    page.goto(server.url + "/")
    choose_demo(page, "gevent_unpatched_sleep", eat_seconds=1.5, play_seconds=0.8)
    assert page.get_by_test_id("run-both").is_visible()
    page.get_by_test_id("run-both").click()
    # Both draw while they run (2.3 s blocking, 1.5 s cooperative), each on its own socket.
    page.wait_for_function("""() => {
        const c = window.coroscope.compare;
        return c && c.runs.every((r) => r && r.live && r.switches > 0);
    }""", timeout=15_000)
    # The table is drawn in Compare's next frame: both sides' status, with their elapsed time.
    page.wait_for_function("""() => document.querySelector('[data-testid=compare-table]')
        .innerText.split('running ·').length === 3""", timeout=15_000)
    live = page.get_by_test_id("compare-table").inner_text()
    assert live.count("running ·") == 2, live
    assert state(page)["compare"]["loading"] is True
    header_says(page, "comparing ·")
    assert page.get_by_test_id("cancel").is_enabled()  # Cancel stops the pair
    page.wait_for_function("window.coroscope.compare && !window.coroscope.compare.loading",
                           timeout=30_000)
    c = state(page)["compare"]
    a, b = c["runs"]
    assert a["demo"] == "gevent_unpatched_sleep" and b["demo"] == "gevent_monkey_patch"
    assert a["status"] == b["status"] == "finished" and not a["live"] and not b["live"]
    assert a["totals"]["blocked"] > 0 and b["totals"]["blocked"] == 0
    # One time scale (the longer run), but the shorter one's lanes stop where it ended.
    # Compare's frame after the end: each side drawn as far as it ran.
    page.wait_for_function("window.coroscope.compare.runs.every((r) =>"
                           " r.drawn_until === r.duration_ns)", timeout=10_000)
    a, b = state(page)["compare"]["runs"]
    assert b["duration_ns"] < a["duration_ns"]
    assert a["drawn_until"] == a["duration_ns"] and b["drawn_until"] == b["duration_ns"]
    # What was streamed is the whole run: the same events as its export.
    for r in (a, b):
        _, trace = server.get(f"/api/runs/{r['id']}/trace.json")
        assert r["events"] == len(trace["events"])
        assert r["switches"] == sum(e["kind"] == "switch" for e in trace["events"])
    rows = page.get_by_test_id("compare-table").inner_text().split("\n")
    assert rows[0].split("\t")[1:] == ["ended", "switches", "coroutines", "your code ran",
                                       "Hub ran", "thread blocked", "warnings"], rows
    # Each side is named by what differs (here the demo, by its title); its blocking
    # shows in the table.
    a_row, b_row = (row.split("\t") for row in rows[1:3])
    assert a_row[0] == f"A · {DEMOS['gevent_unpatched_sleep'].title}"
    assert a_row[1].startswith("finished · ")
    assert b_row[0] == f"B · {DEMOS['gevent_monkey_patch'].title}"
    assert b_row[6] == "0 ns" and a_row[6] != "0 ns"
    assert header_says(page, "compared: ") == "compared: finished / finished"
    # The pair ran with the parameters typed in the form (the pair's own would be 2 s / 1 s).
    for k in (0, 1):
        assert page.locator(f"#compare-head-{k}").inner_text().endswith(
            "(eat_seconds=1.5, play_seconds=0.8)")
    page.wait_for_timeout(300)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "compare.png"))
    # Open one side in the full viewer: player, source, output and statistics for it.
    page.get_by_test_id("compare-open-1").click()
    page.wait_for_function(f"window.coroscope.runId === '{b['id']}' && "
                           "window.coroscope.status === 'finished'", timeout=10_000)
    assert page.get_by_test_id("timeline").is_visible()
    assert not page.get_by_test_id("compare").is_visible()
    assert page.get_by_test_id("export").get_attribute("href").endswith(
        f"/api/runs/{b['id']}/trace.json")


def test_a_pair_left_running_is_cancelled_and_space_does_not_start_another(server, page):
    page.goto(server.url + "/")
    # Both sides long (20 s blocking, 10 s cooperative): nothing here may end by itself.
    choose_demo(page, "gevent_unpatched_sleep", eat_seconds=10, play_seconds=10)
    page.get_by_test_id("run-both").click()
    page.wait_for_function("""() => window.coroscope.compare?.runs.every((r) => r && r.live)""",
                           timeout=15_000)
    ids = [r["id"] for r in state(page)["compare"]["runs"]]
    # Space after clicking Run both is for the player, not a second click on the button.
    page.keyboard.press(" ")
    page.wait_for_timeout(300)
    assert [r["id"] for r in state(page)["compare"]["runs"]] == ids
    live = [r for r in server.get("/api/runs")[1] if r["status"] in ("starting", "running")]
    assert sorted(r["id"] for r in live) == sorted(ids)
    # Closing the view stops the pair Run both started (it used to run on unseen and
    # fill the server's run slots).
    page.get_by_test_id("compare-close").click()
    for run_id in ids:
        assert server.wait_run(run_id, timeout=10)["status"] == "cancelled"
    # Opening one side in the full viewer keeps it running and stops the other.
    page.get_by_test_id("run-both").click()
    page.wait_for_function("""() => window.coroscope.compare?.runs.every((r) => r && r.live)""",
                           timeout=15_000)
    a, b = (r["id"] for r in state(page)["compare"]["runs"])
    page.get_by_test_id("compare-open-0").click()
    assert server.wait_run(b, timeout=10)["status"] == "cancelled"
    page.wait_for_function(f"window.coroscope.runId === '{a}'")
    # Still going: "starting" too, if its process has not said hello yet (a busy machine).
    assert server.get(f"/api/runs/{a}")[1]["status"] in ("starting", "running")
    page.get_by_test_id("cancel").click()  # the header's Cancel is this run's again
    assert server.wait_run(a, timeout=10)["status"] == "cancelled"


def test_history_lists_renames_and_deletes(server, page):
    trace = record(server, "greenlet_eat_play")
    rid = trace["run"]["id"]
    page.goto(server.url + "/")
    page.get_by_test_id("history").click()
    item = page.locator(f".history-item[data-run='{rid}']")
    item.wait_for()
    assert "finished" in item.inner_text()
    item.locator("[data-action='history.rename']").click()
    page.locator(".history-rename").fill("my eat/play")
    page.keyboard.press("Enter")
    page.wait_for_function(f"""() => document.querySelector(".history-item[data-run='{rid}']")
        ?.innerText.includes('my eat/play')""")
    assert server.get(f"/api/runs/{rid}")[1]["title"] == "my eat/play"
    page.locator(f".history-item[data-run='{rid}'] [data-action='history.reopen']").click()
    page.wait_for_function(
        f"window.coroscope.runId === '{rid}' && window.coroscope.status === 'finished'")
    page.get_by_test_id("history").click()
    page.once("dialog", lambda d: d.accept())
    page.locator(f".history-item[data-run='{rid}'] [data-action='history.delete']").click()
    page.wait_for_function(f"""() => !document.querySelector(".history-item[data-run='{rid}']")""")
    assert server.get(f"/api/runs/{rid}")[0] == 404


def test_history_compares_the_two_ticked_runs(server, page):
    ids = [record(server, "gevent_sync_async", {"variant": v, "tasks": 2, "seconds": 0.05})
           ["run"]["id"] for v in ("sync", "async", "async")]
    page.goto(server.url + "/")
    page.get_by_test_id("history").click()
    pick = [page.locator(f".history-item[data-run='{i}'] input[type=checkbox]") for i in ids]
    pick[0].wait_for()
    pick[0].check()
    pick[1].check()
    # Two at most: the third waits (it used to untick the first, maybe out of sight).
    assert pick[2].is_disabled() and pick[0].is_checked() and pick[1].is_checked()
    pick[1].uncheck()
    assert pick[2].is_enabled()
    pick[2].check()
    page.get_by_test_id("history-compare").click()
    page.wait_for_function("window.coroscope.compare && !window.coroscope.compare.loading",
                           timeout=15_000)
    runs = state(page)["compare"]["runs"]
    assert [r["id"] for r in runs] == [ids[0], ids[2]]
    from playwright.sync_api import expect

    expect(page.get_by_test_id("compare-table")).to_contain_text("B · variant=")  # its frame
    rows = page.get_by_test_id("compare-table").inner_text().split("\n")
    assert rows[1].startswith("A · variant=sync") and rows[2].startswith("B · variant=async")


def test_screenshots_mid_run_and_panels(server, page):
    allow_editing(page, server)
    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(server.url + "/")
    choose_demo(page, "gevent_eat_play", eat_seconds=2, play_seconds=1)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.cursor > 1.3e9", timeout=20_000)
    s = state(page)
    assert s["status"] == "running" and s["following"] is True
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "live.png"))
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    page.evaluate("window.coroscope.seek(1.2e9)")
    page.wait_for_timeout(300)
    page.screenshot(path=str(SHOTS / "panels.png"))


def test_a_bad_parameter_is_named_and_nothing_starts(server, page):
    before = len(server.get("/api/runs")[1])
    page.goto(server.url + "/")
    choose_demo(page, "gevent_unpatched_sleep", eat_seconds=99, play_seconds=0.1)
    error = page.get_by_test_id("error")
    for button in ("run", "run-both"):
        page.get_by_test_id(button).click()
        error.wait_for(state="visible")
        assert "Parameter eat_seconds: must be between 0 and 10" in error.inner_text()
        assert page.get_by_test_id("compare").is_hidden()
    page.locator("[name=eat_seconds]").fill("")  # emptied
    page.get_by_test_id("run").click()
    page.wait_for_function("document.querySelector('[data-testid=error]').innerText"
                           ".includes('must be a number')")
    assert len(server.get("/api/runs")[1]) == before  # nothing was started


def test_opening_a_big_file_shows_its_progress(server, page, tmp_path):
    """Open... sends the file as it is read from disk; the header says how much has gone
    up, then that the server is checking it, then shows the run."""
    from benchmarks.server_load import synthetic_trace

    path = tmp_path / "big.json"
    path.write_bytes(synthetic_trace(330_000))  # about 29 MB
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
    record_header(page)
    with page.expect_file_chooser() as fc:
        page.get_by_test_id("open").click()
    fc.value.set_files(str(path))
    page.wait_for_function("window.coroscope.events === 330000", timeout=120_000)
    seen = header_texts(page)
    uploading = [s for s in seen if s.startswith("opening big.json · ")]
    # From its start (0% is drawn unless the first progress came within the same frame),
    # never backwards.
    percents = [int(s.rsplit(" ", 1)[1].rstrip("%")) for s in uploading]
    assert percents and percents[0] < 50 and percents == sorted(percents), seen
    assert "checking big.json…" in seen, seen
    assert seen.index("checking big.json…") > seen.index(uploading[-1])
    assert page.get_by_test_id("error").is_hidden()


def test_space_and_escape_are_the_focused_controls(server, page):
    """Space on a control reached with the keyboard is that control's (History opens,
    Predict ticks), not the player's; Escape closes History; after a mouse click Space
    plays. Source line numbers are readable (contrast >= 4.5:1 on white)."""
    trace = record(server, "greenlet_eat_play")
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
    page.evaluate("(t) => window.coroscope.loadTrace(t)", trace)
    page.evaluate("window.coroscope.seek(0)")
    page.get_by_test_id("history").focus()
    page.keyboard.press(" ")
    page.get_by_test_id("history-panel").wait_for(state="visible")
    assert not state(page)["playing"]
    page.keyboard.press("Escape")
    page.get_by_test_id("history-panel").wait_for(state="hidden")
    page.get_by_test_id("predict-toggle").focus()
    page.keyboard.press(" ")
    assert page.get_by_test_id("predict-toggle").is_checked()
    assert not state(page)["playing"]
    page.get_by_test_id("predict-toggle").click()  # with the mouse: unticked, focus given back
    assert not page.get_by_test_id("predict-toggle").is_checked()
    page.wait_for_function("document.activeElement === document.body")
    page.keyboard.press(" ")
    page.wait_for_function("window.coroscope.playing || window.coroscope.cursor > 0")
    rgb = page.evaluate("getComputedStyle(document.querySelector('.src-num')).color")
    r, g, b = (int(x) for x in rgb[rgb.index("(") + 1:rgb.index(")")].split(",")[:3])

    def lum(c):
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    ratio = 1.05 / (0.2126 * lum(r) + 0.7152 * lum(g) + 0.0722 * lum(b) + 0.05)
    assert ratio >= 4.5, rgb

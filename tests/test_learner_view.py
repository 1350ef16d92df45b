"""The learner's view (issue #16): arrows that say what really woke a coroutine, computing
that is not called blocking, loading folded away, play paced switch by switch, and a
Predict whose choices are real and whose answer stays hidden."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from app.spans import compute_stats

from .conftest import allow_editing, state
from .test_viewer import open_run, record

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/coroscope-learner-shots")
README_SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

GEVENT_DEMOS = [
    ("gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1}),
    ("gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1, "joinall": 1}),
    ("gevent_unpatched_sleep", {"eat_seconds": 0.15, "play_seconds": 0.05}),
    ("gevent_monkey_patch", {"eat_seconds": 0.2, "play_seconds": 0.1}),
    ("gevent_dummythread", {"eat_seconds": 0.2, "play_seconds": 0.1}),
    ("gevent_socket_server", {"clients": 3, "messages": 2}),
    ("gevent_patch_order", {"variant": "patch_first", "clients": 2}),
    ("gevent_patch_order", {"variant": "star_import_first", "clients": 2}),
    ("gevent_patch_order", {"variant": "module_import_first", "clients": 2}),
    ("gevent_sync_async", {"variant": "async", "tasks": 3, "seconds": 0.05}),
    ("gevent_sync_async", {"variant": "sync", "tasks": 2, "seconds": 0.05}),
    ("same_program", {"variant": "gevent", "seconds": 0.1}),
]


def load(page, server, trace: dict) -> None:
    """Show `trace` on a fresh dashboard: a recorded run by its id, else as a loaded export."""
    if trace["run"]["id"].startswith("r"):
        open_run(page, server, trace["run"]["id"])
        return
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
    assert page.evaluate("t => window.coroscope.loadTrace(t)", trace) is True
    page.evaluate("window.coroscope.redraw()")


def switches(trace: dict) -> list[dict]:
    return [e for e in trace["events"] if e["kind"] in ("switch", "throw")]


def expected_arrows(trace: dict, label: dict[int, str], hub_shown: bool) -> list[dict]:
    """What each arrow must say, from the raw switches. Out of a Hub, the target wakes
    from its last pause, so that pause's cause is what woke it (none: it starts). Folded,
    the arrow comes from whoever last gave that Hub control; if that is the target, the
    target resumes after its own wait."""
    hubs = {t["id"] for t in trace["tasks"] if t["kind"] == "hub"}
    paused: dict[int, str] = {}
    last_in: dict[int, int] = {}
    arrows = []
    for e in switches(trace):
        src, dst, cause = e["from"], e["to"], e.get("cause") or "?"
        woke = paused.get(dst)
        if src in hubs and e["kind"] == "throw":  # an exception thrown in: what it interrupted
            arrows.append({"t": e["t"], "from": src if hub_shown else last_in.get(src, dst),
                           "to": dst, "via": 0 if hub_shown else 1,
                           "why": f"throw into {label[dst]}, waiting on {woke}"})
        elif src in hubs and hub_shown:
            why = "wake: first run" if woke is None else f"wake: {woke}"
            arrows.append({"t": e["t"], "from": src, "to": dst, "via": 0, "why": why})
        elif src in hubs:
            origin = last_in.get(src, dst)
            via = 2 if origin == dst else 1
            if woke is None:
                why = f"{label[dst]} starts"
            elif via == 2:
                why = f"{label[dst]} resumes: {woke}"
            else:
                why = f"{label[dst]}'s {woke}"
            arrows.append({"t": e["t"], "from": origin, "to": dst, "via": via, "why": why})
        elif dst in hubs:
            last_in[dst] = src
            if hub_shown:
                arrows.append({"t": e["t"], "from": src, "to": dst, "via": 0, "why": cause})
        else:
            arrows.append({"t": e["t"], "from": src, "to": dst, "via": 0, "why": cause})
        paused[src] = cause
    return arrows


@pytest.mark.parametrize("demo,params", GEVENT_DEMOS,
                         ids=[f"{d}-{'-'.join(map(str, p.values()))}" for d, p in GEVENT_DEMOS])
def test_folded_arrows_name_what_woke_the_target(server, page, demo, params):
    trace = record(server, demo, params)
    assert trace["run"]["status"] == "finished", trace["run"]
    load(page, server, trace)
    s = state(page)
    assert s["showHub"] is False
    label = {t["id"]: t["label"] for t in s["tasks"]}
    folded = page.evaluate("window.coroscope.arrowList()")
    assert folded == expected_arrows(trace, label, hub_shown=False)
    # Never an arrow from a lane to itself: that is a resume, and says so.
    for a in folded:
        assert (a["from"] == a["to"]) == (a["via"] == 2), a
        assert " via " not in a["why"] and "finish" not in a["why"], a
    # Hub shown: every switch, and Hub -> X says what X waited for.
    page.evaluate("window.coroscope.setShowHub(true)")
    raw = page.evaluate("window.coroscope.arrowList()")
    assert raw == expected_arrows(trace, label, hub_shown=True)
    assert len(raw) == len(switches(trace))


def test_gevent_eat_play_tooltip_says_eat_s_timer(server, page):
    trace = record(server, "gevent_eat_play", {"eat_seconds": 2, "play_seconds": 1})
    load(page, server, trace)
    arrows = page.evaluate("window.coroscope.arrowList()")
    whys = [(a["via"], a["why"]) for a in arrows]
    # The report: "play ⇒ play, via timer 1 s" at 1 s, "play ⇒ eat, via finish" at 2 s.
    assert (2, "play resumes: timer 1 s") in whys
    assert (1, "eat's timer 2 s") in whys
    eat = next(a for a in arrows if a["why"] == "eat's timer 2 s")
    resume = next(a for a in arrows if a["via"] == 2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    box = page.get_by_test_id("timeline").bounding_box()
    tip = page.locator("#timeline-wrap > .tooltip")
    for name, arrow, head in (
            ("collapsed-eat-timer", eat, "play ⇒ eat"),
            ("collapsed-play-resumes", resume, "play resumes after its own wait")):
        x = page.evaluate(f"window.coroscope.xAt({arrow['t']})")
        y = page.evaluate(f"window.coroscope.laneY({arrow['to']})")
        page.mouse.move(box["x"] + x, box["y"] + y)
        tip.wait_for(state="visible")
        text = tip.inner_text()
        assert head in text and f"why: {arrow['why']}" in text, text
        page.screenshot(path=str(SHOTS / f"{name}.png"))
    # Hub shown: Hub -> eat names eat's timer.
    page.evaluate("window.coroscope.setShowHub(true)")
    hub = next(a for a in page.evaluate("window.coroscope.arrowList()")
               if a["why"] == "wake: timer 2 s")
    page.mouse.move(0, 0)
    x = page.evaluate(f"window.coroscope.xAt({hub['t']})")
    y = page.evaluate(f"window.coroscope.laneY({hub['to']})")
    page.mouse.move(box["x"] + x, box["y"] + y)
    tip.wait_for(state="visible")
    assert "why: wake: timer 2 s" in tip.inner_text()


@pytest.mark.parametrize("demo,params", [
    ("yield_producer_consumer", {"variant": "serial", "n": 1_000_000}),
    ("yield_producer_consumer", {"variant": "yield", "n": 20_000}),
    ("greenlet_switch_cost", {"variant": "both", "n": 20_000}),
])
def test_pure_computation_is_never_blocked(server, page, demo, params):
    trace = record(server, demo, params)
    load(page, server, trace)
    page.wait_for_function("window.coroscope.stats !== null")
    s = state(page)
    assert s["blocks"] == []
    assert not [w for w in s["warnings"] if w["kind"] in ("busy", "starved", "blocked")]
    assert s["stats"]["totals"]["blocked"] == 0 and s["stats"]["hub_starved"] == []
    assert s["stats"] == compute_stats(trace)


def test_blocking_without_a_hub_starves_no_hub(server, page):
    trace = record(server, "yield_blocking", {"n": 2, "seconds": 0.15})
    load(page, server, trace)
    page.wait_for_function("window.coroscope.stats !== null")
    s = state(page)
    # 3.13 closes a generator at a bare yield without a FINISH (README: known limits):
    # the consumer is then also "parked at the end".
    assert sorted(w["kind"] for w in s["warnings"]) == ["blocked", "blocked"] + (
        ["parked"] if sys.version_info >= (3, 13) else [])
    assert s["stats"]["hub_starved"] == [] and s["stats"] == compute_stats(trace)
    text = page.get_by_test_id("warnings").inner_text()
    assert "Hub" not in text and "blocked the whole thread" in text and "time.sleep(0.15)" in text


def busy_trace() -> dict:
    """gevent's shape: main waits in the Hub, eat computes 150 ms without a switch (the
    busy watcher's block), then finishes; play then sleeps in time.sleep 120 ms."""
    ms = 1_000_000
    ev = [
        {"t": 0, "kind": "spawn", "task": 0, "parent": None},
        {"t": 1 * ms, "kind": "mark", "task": 0, "text": "main()"},
        {"t": 2 * ms, "kind": "spawn", "task": 1, "parent": 0},
        {"t": 2 * ms, "kind": "switch", "from": 0, "to": 1, "line": 20, "cause": "wait"},
        {"t": 3 * ms, "kind": "spawn", "task": 2, "parent": 1},
        {"t": 3 * ms, "kind": "switch", "from": 1, "to": 2, "line": None, "cause": "wake"},
        {"t": 103 * ms, "kind": "block", "task": 2, "call": "busy: no switch in eat() line 9",
         "since": 3 * ms},
        {"t": 153 * ms, "kind": "unblock", "task": 2},
        {"t": 153 * ms, "kind": "finish", "task": 2},
        {"t": 153 * ms, "kind": "switch", "from": 2, "to": 1, "line": None, "cause": "finish"},
        {"t": 154 * ms, "kind": "spawn", "task": 3, "parent": 1},
        {"t": 154 * ms, "kind": "switch", "from": 1, "to": 3, "line": None, "cause": "wake"},
        {"t": 154 * ms, "kind": "block", "task": 3, "call": "time.sleep(0.12)", "since": 154 * ms},
        {"t": 274 * ms, "kind": "unblock", "task": 3},
        {"t": 275 * ms, "kind": "finish", "task": 3},
        {"t": 275 * ms, "kind": "switch", "from": 3, "to": 1, "line": None, "cause": "finish"},
        {"t": 276 * ms, "kind": "switch", "from": 1, "to": 0, "line": None, "cause": "wake"},
    ]
    for seq, e in enumerate(ev):
        e["seq"] = seq
    return {"format": "coroscope.trace", "version": 1,
            "run": {"id": "busy", "demo": None, "title": "busy", "params": {},
                    "status": "finished", "error": None,
                    "started_at": "2026-01-01T00:00:00+00:00", "duration_ns": 280 * ms,
                    "events": len(ev)},
            "tasks": [{"id": 0, "name": "main", "kind": "main", "parent": None, "spawned_at": 0},
                      {"id": 1, "name": "Hub", "kind": "hub", "parent": 0, "spawned_at": 2 * ms},
                      {"id": 2, "name": "eat", "kind": "greenlet", "parent": 1,
                       "spawned_at": 3 * ms},
                      {"id": 3, "name": "play", "kind": "greenlet", "parent": 1,
                       "spawned_at": 154 * ms}],
            "events": ev}


def test_computing_is_drawn_and_counted_as_running(server, page):
    trace = busy_trace()
    stats = compute_stats(trace)
    eat, play = stats["tasks"][2], stats["tasks"][3]
    assert eat["blocked"] == 0 and eat["running"] == 150_000_000
    assert play["blocked"] == 120_000_000
    assert [s["task"] for s in stats["hub_starved"]] == [3]
    load(page, server, trace)
    page.wait_for_function("window.coroscope.stats !== null")
    s = state(page)
    assert s["stats"] == stats
    assert [(b["task"], b["computing"]) for b in s["blocks"]] == [(2, True), (3, False)]
    assert [(w["kind"], w["task"]) for w in s["warnings"]] == [("busy", 2), ("starved", 3)]
    text = page.get_by_test_id("warnings").inner_text()
    assert "eat computed for 150.0 ms without a switch (in eat() line 9)" in text, text
    # Drawn in the task's own colour, not the grey hatch of a blocking call: under the
    # lanes, a blocking call greys every lane; computing does not.
    mid_busy, mid_block = 80_000_000, 214_000_000
    page.evaluate("window.coroscope.redraw()")
    assert page.evaluate(f"window.coroscope.pixelAt({mid_busy}, 8)")[:3] == [255, 255, 255]
    assert page.evaluate(f"window.coroscope.pixelAt({mid_block}, 8)")[:3] != [255, 255, 255]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "computing.png"))


def test_the_view_opens_at_main_and_the_loading_toggle_shows_it(server, page):
    trace = record(server, "greenlet_eat_play")
    main = next(e["t"] for e in trace["events"] if e["kind"] == "mark")
    end = max(trace["run"]["duration_ns"], trace["events"][-1]["t"])
    open_run(page, server, trace["run"]["id"])
    page.wait_for_function(f"window.coroscope.view.t1 === {end}")
    assert state(page)["view"] == {"t0": main, "t1": end}
    assert not page.get_by_test_id("loading-toggle").is_checked()
    page.get_by_test_id("loading-toggle").check()
    page.wait_for_function("window.coroscope.view.t0 === 0")
    page.reload()  # remembered, as the Hub toggle is
    page.wait_for_function(f"window.coroscope.status === 'finished'"
                           f" && window.coroscope.view.t1 === {end}")
    assert state(page)["showLoading"] is True and state(page)["view"]["t0"] == 0
    page.get_by_test_id("loading-toggle").uncheck()
    page.wait_for_function(f"window.coroscope.view.t0 === {main}")
    # Zoomed in, Fit and a double-click come back to main() .. end.
    box = page.get_by_test_id("timeline").bounding_box()
    for fit in (lambda: page.get_by_test_id("fit").click(),
                lambda: page.mouse.dblclick(box["x"] + box["width"] / 2, box["y"] + 200)):
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + 200)
        page.mouse.wheel(0, -600)
        page.wait_for_function(f"window.coroscope.view.t0 !== {main}")
        fit()
        page.wait_for_function(f"window.coroscope.view.t0 === {main}"
                               f" && window.coroscope.view.t1 === {end}")
    # A trace without a main() mark: 0 .. end.
    unmarked = dict(trace, version=1,
                    events=[e for e in trace["events"] if e["kind"] != "mark"])
    for seq, e in enumerate(unmarked["events"]):
        unmarked["events"][seq] = dict(e, seq=seq)
    unmarked["run"] = dict(trace["run"], events=len(unmarked["events"]))
    assert page.evaluate("t => window.coroscope.loadTrace(t)", unmarked) is True
    page.wait_for_function("window.coroscope.marks.length === 0 && window.coroscope.view.t0 === 0"
                           f" && window.coroscope.view.t1 === {end}")


def test_switch_paced_play_visits_every_switch_in_order(server, page):
    trace = record(server, "greenlet_eat_play")
    times = [e["t"] for e in switches(trace)]
    end = max(trace["run"]["duration_ns"], trace["events"][-1]["t"])
    open_run(page, server, trace["run"]["id"])
    # A run this short plays switch by switch by default.
    assert state(page)["pace"] == 2
    assert page.get_by_test_id("speed").input_value() == "p2"
    page.get_by_test_id("speed").select_option("p4")
    page.evaluate("window.coroscope.seek(0)")
    page.evaluate("window.coroscope.recordCursor()")
    page.evaluate("window.coroscope.play()")
    # Each switch is shown readably: its nearest neighbour at least 100 px away.
    seen = set()
    while len(seen) < len(times):
        page.wait_for_function("window.coroscope.cursorTrail.length > 0"
                               f" && !{json.dumps(sorted(seen))}.includes(window.coroscope.cursor)",
                               timeout=20_000)
        at = page.evaluate("""() => ({c: window.coroscope.cursor, v: window.coroscope.view,
            x: window.coroscope.xAt(window.coroscope.cursor),
            w: document.querySelector('[data-testid=timeline]').clientWidth})""")
        if at["c"] not in times:
            break
        k = times.index(at["c"])
        seen.add(at["c"])
        assert at["v"]["t0"] <= at["c"] <= at["v"]["t1"]
        px = (at["v"]["t1"] - at["v"]["t0"]) / (at["w"] - 188)  # ns per CSS px of the plot
        near = min(abs(times[j] - at["c"]) for j in (k - 1, k + 1) if 0 <= j < len(times))
        assert near / px >= 100 or at["v"]["t1"] - at["v"]["t0"] >= end - times[0], (at, near)
    page.wait_for_function("!window.coroscope.playing", timeout=20_000)
    assert page.evaluate("window.coroscope.cursorTrail") == times + [end]
    # Real time is still there: 1x plays the same run in a few frames.
    page.get_by_test_id("speed").select_option("1")
    assert state(page)["pace"] is None and state(page)["speed"] == 1


def test_paced_play_captions_the_switch_at_the_cursor(server, page):
    allow_editing(page, server)
    trace = record(server, "gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1})
    load(page, server, trace)
    page.evaluate("window.coroscope.setPace(0.5)")
    page.evaluate("window.coroscope.seek(0)")
    page.evaluate("window.coroscope.play()")
    arrows = page.evaluate("window.coroscope.arrowList()")
    second = arrows[1]["t"]
    page.wait_for_function(f"window.coroscope.cursor === {second}", timeout=20_000)
    page.evaluate("window.coroscope.pause()")
    caption = page.locator(".switch-caption")
    caption.wait_for(state="visible")
    assert "⇒" in caption.inner_text() or "starts" in caption.inner_text()
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(README_SHOTS / "paced.png"))


def test_predict_offers_every_live_coroutine_and_hides_the_answer(server, page):
    trace = record(server, "gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1})
    load(page, server, trace)
    label = {t["id"]: t["label"] for t in state(page)["tasks"]}
    arrows = page.evaluate("window.coroscope.arrowList()")
    finished = {e["task"]: e["t"] for e in trace["events"] if e["kind"] == "finish"}
    page.evaluate("window.coroscope.seek(0)")
    page.get_by_test_id("predict-toggle").check()
    box = page.get_by_test_id("predict")
    for k, arrow in enumerate(arrows):
        page.evaluate("window.coroscope.stepNext()")
        s = state(page)
        assert s["predict"]["asking"] and s["predict"]["question"]["t"] == arrow["t"]
        # Every coroutine alive then, the Hub folded away: the one pausing may be next.
        live = sorted(label[i] for i in label if label[i] != "Hub"
                      and finished.get(i, arrow["t"] + 1) > arrow["t"])
        assert sorted(box.locator(".predict-choice").all_inner_texts()) == live, k
        assert label[arrow["to"]] in live
        # Zoomed to the question; what comes after it is not drawn.
        v = s["view"]
        assert v["t0"] < arrow["t"] < v["t1"]
        if k == 0:
            page.evaluate("window.coroscope.redraw()")
            after = arrow["t"] + (v["t1"] - arrow["t"]) / 2
            # The lane and the pixel from one drawn canvas (the Predict panel, shown by the
            # first step, made it shorter).
            pixel = page.evaluate(f"""() => {{ const c = window.coroscope;
                const canvas = document.querySelector('[data-testid=timeline]');
                const h = canvas.height / devicePixelRatio;
                return c.pixelAt({after}, h - c.laneY({arrow['to']})); }}""")
            assert min(pixel[:3]) >= 230, pixel  # the lane's background, not eat's bar
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "predict.png"))
        box.locator(".predict-choice", has_text=label[arrow["to"]]).first.click()
        assert state(page)["predict"]["question"]["correct"] is True
        assert arrow["why"] in box.inner_text()


def test_compare_opens_at_main_as_the_single_view_does(server, page):
    a = record(server, "greenlet_eat_play")
    b = record(server, "gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1})
    mains = [next(e["t"] for e in t["events"] if e["kind"] == "mark") for t in (a, b)]
    ends = [max(t["run"]["duration_ns"], t["events"][-1]["t"]) for t in (a, b)]
    page.goto(f"{server.url}/#compare={a['run']['id']},{b['run']['id']}")
    page.wait_for_function("window.coroscope.compare && !window.coroscope.compare.loading",
                           timeout=30_000)
    page.wait_for_function(f"window.coroscope.compare.view.t1 === {max(ends)}")
    c = state(page)["compare"]
    # On one scale, from the earlier main() of the two: the loading is folded away.
    assert c["view"] == {"t0": min(mains), "t1": max(ends)} and min(mains) > 0
    assert c["showLoading"] is False
    assert [r["window"] for r in c["runs"]] == [[min(mains), max(ends)]] * 2
    toggle = page.get_by_test_id("compare-loading-toggle")
    assert toggle.is_visible() and not toggle.is_checked()
    toggle.check()
    page.wait_for_function("window.coroscope.compare.view.t0 === 0")
    # One preference with the single view's toggle.
    assert page.get_by_test_id("loading-toggle").is_checked()
    assert state(page)["showLoading"] is True
    toggle.uncheck()
    page.wait_for_function(f"window.coroscope.compare.view.t0 === {min(mains)}")
    assert not page.get_by_test_id("loading-toggle").is_checked()

"""asyncio in the viewer (issue #14 item 4) and what the Hub or loop waits for (issue #16
item 6): the event loop folded away as the Hub is, the entry task told from the thread's
main, asyncio's warnings and a starved loop, the flight recorder's snapshot status, and
the panel of what the scheduler is waiting for at the cursor."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.spans import compute_stats

from .conftest import CANVAS_AND_WRAP, ROOT, allow_editing, choose_demo, header_says, state
from .test_cli_run import coroscope_run
from .test_layout_i18n import english_words
from .test_learner_view import expected_arrows, load, switches
from .test_viewer import record

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/coroscope-asyncio-shots")
README_SHOTS = ROOT / "docs" / "screenshots"

ASYNCIO_DEMOS = [
    ("asyncio_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1}),
    ("asyncio_blocking", {"variant": "time_sleep", "eat_seconds": 0.15, "play_seconds": 0.05}),
    ("asyncio_blocking", {"variant": "asyncio_sleep", "eat_seconds": 0.15, "play_seconds": 0.05}),
    ("asyncio_sync_async", {"variant": "async", "tasks": 3, "seconds": 0.05}),
    ("asyncio_sync_async", {"variant": "sync", "tasks": 2, "seconds": 0.05}),
    ("asyncio_echo_server", {"clients": 3, "messages": 2}),
    ("asyncio_queue", {"n": 4, "size": 2, "consumers": 2, "work": 0.02}),
    ("same_program", {"variant": "asyncio", "seconds": 0.1}),
]


def as_hub(trace: dict) -> dict:
    """`trace` with its event loop called a Hub: the folding rules are the same."""
    tasks = [dict(t, kind="hub" if t["kind"] == "loop" else t["kind"]) for t in trace["tasks"]]
    return dict(trace, tasks=tasks)


def at(trace: dict, kind: str, task: int, cause: str | None = None) -> int:
    """The time of the first event of `kind` of `task` (its `from`), with `cause`."""
    for e in trace["events"]:
        if e["kind"] == kind and task in (e.get("task"), e.get("from")) and (
                cause is None or e.get("cause") == cause):
            return e["t"]
    raise AssertionError(f"no {kind} of {task} with {cause}")


def load_file(page, server, trace: dict) -> None:
    """Show `trace` as a file opened on a fresh dashboard (it is not in the server's history)."""
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.loadTrace === 'function'")
    assert page.evaluate("t => window.coroscope.loadTrace(t)", trace) is True
    page.evaluate("window.coroscope.redraw()")


def task_id(trace: dict, name: str) -> int:
    return next(t["id"] for t in trace["tasks"] if t["name"] == name)


@pytest.mark.parametrize("demo,params", ASYNCIO_DEMOS,
                         ids=[f"{d}-{'-'.join(map(str, p.values()))}" for d, p in ASYNCIO_DEMOS])
def test_the_loop_folds_away_as_the_hub_does(server, page, demo, params):
    trace = record(server, demo, params)
    assert trace["run"]["status"] == "finished", trace["run"]
    load(page, server, trace)
    page.wait_for_function("window.coroscope.stats !== null")
    s = state(page)
    # The loop lane is hidden, main first; then, shown, right after main.
    assert s["showHub"] is False
    assert [lane["kind"] for lane in s["lanes"]][0] == "main"
    assert "loop" not in [lane["kind"] for lane in s["lanes"]]
    label = {t["id"]: t["label"] for t in s["tasks"]}
    folded = page.evaluate("window.coroscope.arrowList()")
    assert folded == expected_arrows(as_hub(trace), label, hub_shown=False)
    for a in folded:
        assert (a["from"] == a["to"]) == (a["via"] == 2), a
        assert "finish" not in a["why"] and a["why"] != "wake", a
    assert s["stats"] == compute_stats(trace)
    page.evaluate("window.coroscope.setShowHub(true)")
    lanes = state(page)["lanes"]
    assert [lane["kind"] for lane in lanes][:2] == ["main", "loop"]
    assert lanes[1]["label"] == "event loop"
    raw = page.evaluate("window.coroscope.arrowList()")
    assert raw == expected_arrows(as_hub(trace), label, hub_shown=True)
    assert len(raw) == len(switches(trace))


def test_asyncio_eat_play_animates_folded_then_with_the_loop(server, page):
    allow_editing(page, server)
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelector('[data-testid=demo-select]').options.length > 1")
    choose_demo(page, "asyncio_eat_play", eat_seconds=2, play_seconds=1)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=30_000)
    s = state(page)
    _, trace = server.get(f"/api/runs/{s['runId']}/trace.json")
    assert [lane["label"] for lane in s["lanes"]] == ["main", "amain", "eat", "play"]
    toggle = page.get_by_test_id("hub-toggle")
    assert not toggle.is_checked()
    assert page.locator("label.toggle", has=toggle).inner_text() == "Show Hub / loop"
    whys = [a["why"] for a in page.evaluate("window.coroscope.arrowList()")]
    assert whys == ["amain starts", "eat starts", "play starts", "play resumes: timer 1 s",
                    "eat's timer 2 s", "amain's wait gather", "main's wait asyncio.run"]
    # It animates: switch by switch, every folded arrow in order, then the end.
    times = [a["t"] for a in page.evaluate("window.coroscope.arrowList()")]
    end = max(trace["run"]["duration_ns"], trace["events"][-1]["t"])
    page.evaluate("window.coroscope.setPace(4)")
    page.evaluate("window.coroscope.seek(0)")
    page.evaluate("window.coroscope.recordCursor()")
    page.evaluate("window.coroscope.play()")
    page.wait_for_function("!window.coroscope.playing && window.coroscope.cursorTrail.length > 0",
                           timeout=30_000)
    assert page.evaluate("window.coroscope.cursorTrail") == times + [end]
    # The tooltip of play => eat says eat's timer, and where eat paused.
    eat = task_id(trace, "eat")
    woke = next(a for a in page.evaluate("window.coroscope.arrowList()")
                if a["why"] == "eat's timer 2 s")
    page.evaluate(f"window.coroscope.seek({woke['t']})")
    box = page.get_by_test_id("timeline").bounding_box()
    x, y = page.evaluate(f"[window.coroscope.xAt({woke['t']}), window.coroscope.laneY({eat})]")
    page.mouse.move(box["x"] + x, box["y"] + y)
    tip = page.locator("#timeline-wrap > .tooltip")
    tip.wait_for(state="visible")
    assert "play ⇒ eat" in tip.inner_text() and "why: eat's timer 2 s" in tip.inner_text()
    page.mouse.move(0, 0)
    # Between the sleeps: the picture of the lesson, with what the loop waits for.
    page.evaluate(f"window.coroscope.seek({woke['t'] - 500_000_000})")
    page.get_by_test_id("fit").click()
    main_at = at(trace, "mark", 0)
    page.wait_for_function(f"window.coroscope.view.t0 === {main_at}")
    page.evaluate("window.coroscope.redraw()")
    README_SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(README_SHOTS / "asyncio.png"))
    # The loop shown: its own lane, grey, right under main; Hub -> eat says eat's timer.
    toggle.check()
    page.wait_for_function("window.coroscope.lanes.length === 5")
    lanes = state(page)["lanes"]
    assert [(lane["label"], lane["kind"]) for lane in lanes[:2]] == [("main", "main"),
                                                                       ("event loop", "loop")]
    raw = page.evaluate("window.coroscope.arrowList()")
    assert [a["why"] for a in raw if a["to"] == eat] == ["wake: first run", "wake: timer 2 s"]
    page.evaluate("window.coroscope.redraw()")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "asyncio-loop-shown.png"))
    page.reload()  # remembered, as the Hub is
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    assert state(page)["showHub"] is True and page.get_by_test_id("hub-toggle").is_checked()


def test_gevent_and_asyncio_run_both_on_one_time_scale(server, page):
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelector('[data-testid=demo-select]').options.length > 1")
    choose_demo(page, "same_program", seconds=0.1)
    page.get_by_test_id("run-both").click()
    page.wait_for_function("window.coroscope.compare && !window.coroscope.compare.loading"
                           " && window.coroscope.compare.runs.every((r) => r && r.totals)",
                           timeout=30_000)
    # Compare's frame after both ended: the table, and each side's window.
    page.wait_for_function("""() => {
        const c = window.coroscope.compare;
        const [a, b] = c.runs;
        return a.window && b.window && a.window[1] === b.window[1]
            && a.window[1] >= Math.max(a.duration_ns, b.duration_ns)
            && /B · variant=asyncio\tfinished/.test(
                document.querySelector('[data-testid=compare-table]').innerText);
    }""", timeout=10_000)
    a, b = state(page)["compare"]["runs"]
    assert (a["demo"], b["demo"]) == ("same_program", "same_program")
    # One time scale: both drawn over the same window, which holds the longer run.
    assert a["window"] == b["window"]
    assert a["window"][1] >= max(a["duration_ns"], b["duration_ns"])
    rows = page.get_by_test_id("compare-table").inner_text().split("\n")
    head = rows[0].split("\t")
    assert "Hub / loop ran" in head, head
    col = head.index("Hub / loop ran")
    a_row, b_row = (row.split("\t") for row in rows[1:3])
    assert a_row[0] == "A · variant=gevent" and b_row[0] == "B · variant=asyncio"
    # The Hub and the loop both waited most of the run: 0.3 s, the longest download.
    for row in (a_row, b_row):
        value, unit = row[col].split()
        assert unit == "ms" and float(value) > 200, row
    # The same shape: each side's folded arrows name the downloads' timers.
    for r in (a, b):
        _, trace = server.get(f"/api/runs/{r['id']}/trace.json")
        kinds = {t["kind"] for t in trace["tasks"]}
        assert ("hub" in kinds) != ("loop" in kinds)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "same-program.png"))


FORGETFUL = """
    import asyncio
    import time


    async def forgotten():
        pass


    async def eat():
        await asyncio.sleep(0.2)


    async def main():
        forgotten()
        task = asyncio.create_task(eat())
        time.sleep(0.15)
        await task


    asyncio.run(main())
"""


def test_asyncio_warnings_and_a_starved_loop(server, page, tmp_path):
    _, trace = coroscope_run(tmp_path, FORGETFUL)
    load_file(page, server, trace)
    page.wait_for_function("window.coroscope.stats !== null")
    s = state(page)
    # Two lanes named main: the thread's, and asyncio.run's entry task, main().
    assert [(lane["label"], lane["kind"]) for lane in s["lanes"]] == [
        ("main", "main"), ("main()", "task"), ("eat", "task")]
    entry = next(lane["id"] for lane in s["lanes"] if lane["label"] == "main()")
    assert [(w["kind"], w["task"]) for w in s["warnings"]] == [("said", entry),
                                                              ("loop-starved", entry)]
    text = page.get_by_test_id("warnings").inner_text()
    assert "main(): coroutine 'forgotten' was never awaited" in text, text
    # time.sleep(0.15) holds the loop 150 ms, more on a loaded machine (178-241 ms seen)
    starved_ms = re.search(r"event loop starved for (\d+)(?:\.\d+)? ms", text)
    assert starved_ms and 150 <= int(starved_ms[1]) < 1000, text
    assert "main() was blocked in time.sleep(0.15)" in text
    assert "Hub" not in text
    stats = compute_stats(trace)
    assert s["stats"] == stats and [x["task"] for x in stats["hub_starved"]] == [entry]
    # The two marks on main()'s lane, microseconds apart on a quiet machine (a few ms on
    # a loaded one), would overlap: they are drawn side by side (each 12 px wide), each
    # with its own tooltip.
    box = page.get_by_test_id("timeline").bounding_box()
    said, starved = s["warnings"]
    assert 0 <= starved["t"] - said["t"] < 50_000_000
    page.evaluate("window.coroscope.redraw()")
    marks = [page.evaluate(f"window.coroscope.warningMarker({k})") for k in (0, 1)]
    assert marks[0]["y"] == marks[1]["y"] and marks[1]["x"] - marks[0]["x"] >= 13, marks
    assert abs(marks[0]["x"] - page.evaluate(f"window.coroscope.xAt({said['t']})")) < 0.5
    tip = page.locator("#timeline-wrap > .tooltip")
    for marker, says, not_says in ((marks[0], "coroutine 'forgotten' was never awaited",
                                    "event loop starved"),
                                   (marks[1], "event loop starved for ",
                                    "never awaited")):
        page.mouse.move(box["x"] + marker["x"], box["y"] + marker["y"])
        tip.wait_for(state="visible")
        page.wait_for_function("(says) => document.querySelector('#timeline-wrap > .tooltip')"
                               ".innerText.includes(says)", arg=says)
        assert not_says not in tip.inner_text()
    page.screenshot(path=str(tmp_path / "warnings-side-by-side.png"))
    # A script's trace given to the page (not the server) cannot be run again: it says so.
    assert page.get_by_test_id("edit-why").inner_text() == (
        "Read-only: this trace was given to the page, not to the server: open it with "
        "Open… to edit and run it again")
    page.mouse.move(0, 0)
    page.evaluate("window.coroscope.setLanguage('zh')")
    text = page.get_by_test_id("warnings").inner_text()
    assert "main()：协程 'forgotten' 从未被 await" in text, text
    assert "事件循环被饿死" in text
    # The entry task's lane says what it is, in words.
    page.mouse.move(box["x"] + 60, box["y"] + page.evaluate(f"window.coroscope.laneY({entry})"))
    tip.wait_for(state="visible")
    assert "asyncio 任务" in tip.inner_text()
    page.mouse.move(0, 0)
    page.evaluate("window.coroscope.redraw()")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "warnings.png"))


@pytest.mark.parametrize("demo,scheduler", [("gevent_eat_play", "Hub"),
                                            ("asyncio_eat_play", "event loop")])
def test_what_the_hub_waits_for_between_the_sleeps(server, page, demo, scheduler):
    trace = record(server, demo, {"eat_seconds": 0.4, "play_seconds": 0.2})
    load(page, server, trace)
    eat, play, main = (task_id(trace, name) for name in ("eat", "play", "main"))
    eat_parked = at(trace, "switch", eat, cause="timer 0.4 s")
    play_done = at(trace, "finish", play)
    eat_woke = [e["t"] for e in trace["events"] if e["kind"] == "switch" and e["to"] == eat][-1]
    cursor = (play_done + eat_woke) // 2  # play has finished, eat still sleeps
    # The panel appears under the player and takes height from the timeline: in the same
    # update, the canvas is drawn at its new size (not a frame later, by an observer).
    before = page.evaluate(CANVAS_AND_WRAP)
    after = page.evaluate(f"() => {{ window.coroscope.seek({cursor}); return {CANVAS_AND_WRAP}; }}")
    assert after["canvas"] == after["wrap"], (before, after)
    w = state(page)["waiting"]
    assert w["scheduler"] == ("hub" if scheduler == "Hub" else "loop")
    first = w["items"][0]
    assert (first["task"], first["cause"]) == (eat, "timer 0.4 s")
    assert first["due"] == eat_parked + 400_000_000
    assert first["text"].startswith("eat's timer 0.4 s, due in ")
    assert play not in [item["task"] for item in w["items"]]  # finished: waits for nothing
    assert main in [item["task"] for item in w["items"]]
    box = page.get_by_test_id("waiting")
    assert box.is_visible()
    # The Hub has control: it has waited since play finished, for eat's timer.
    assert w["idleFor"] > 0
    assert box.inner_text().startswith(f"The {scheduler} has waited ")
    assert "eat's timer 0.4 s, due in" in box.inner_text()
    # Before play's sleep ends, its timer is listed too, the sooner first.
    play_parked = at(trace, "switch", play, cause="timer 0.2 s")
    page.evaluate(f"window.coroscope.seek({play_parked + 100_000_000})")
    items = state(page)["waiting"]["items"]
    assert [i["task"] for i in items[:2]] == [play, eat]
    # In 中文 too.
    page.evaluate("window.coroscope.setLanguage('zh')")
    page.evaluate(f"window.coroscope.seek({cursor})")
    assert "eat 的定时器 0.4 秒" in box.inner_text()
    assert not english_words([box.inner_text()], {"eat", "play", "main", "amain"})
    page.evaluate("window.coroscope.setLanguage('en')")
    page.evaluate(f"window.coroscope.seek({cursor})")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"waiting-{demo}.png"))


def test_a_run_without_a_scheduler_shows_no_waiting_panel(server, page):
    trace = record(server, "greenlet_eat_play")
    load(page, server, trace)
    page.evaluate(f"window.coroscope.seek({trace['events'][-1]['t'] // 2})")
    assert state(page)["waiting"] is None
    assert not page.get_by_test_id("waiting").is_visible()


def test_a_flight_recorder_snapshot_says_so(server, page):
    trace = json.loads(json.dumps(record(server, "asyncio_eat_play",
                                         {"eat_seconds": 0.2, "play_seconds": 0.1})))
    trace["run"].update(id="snap1", status="snapshot", title="prog (snapshot)", flight={
        "reason": "the run finished", "window_ns": 500_000_000, "from_ns": 1_000_000,
        "to_ns": trace["run"]["duration_ns"], "events_seen": 99, "left_out": 0,
        "run": "r000000000001"})
    load_file(page, server, trace)
    status = page.get_by_test_id("status")
    page.wait_for_function("window.coroscope.status === 'snapshot'")
    assert header_says(page, "snapshot") == "snapshot of the last 0.5 s: the run finished"
    assert status.get_attribute("data-status") == "snapshot"
    assert state(page)["lastError"] is None  # a window of a run, not a failure
    page.evaluate("window.coroscope.setLanguage('zh')")
    assert status.inner_text() == "最后 0.5 s 的快照：运行结束（完成）"
    # In History: the run's flight recorder snapshots, with why they were written.
    blocked = dict(trace, run=dict(trace["run"], flight=dict(
        trace["run"]["flight"], reason="eat blocked over 200 ms in time.sleep(2)")))
    code, run = server.request("POST", "/api/import", blocked)
    assert code in (200, 201), run
    page.evaluate("window.coroscope.setLanguage('en')")
    page.get_by_test_id("history").click()
    item = page.locator(f".history-item[data-run='{run['id']}']")
    badge = item.locator(".badge.status-snapshot")
    badge.wait_for()
    assert badge.inner_text() == "snapshot"
    assert badge.get_attribute("title") == (
        "snapshot of the last 0.5 s: eat blocked over 200 ms in time.sleep(2)")

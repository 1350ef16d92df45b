"""The dashboard in the real Debian Chromium: run a demo, see its timeline."""

from __future__ import annotations

import json

import pytest

from .conftest import ROOT, allow_editing, choose_demo, state, validate_trace

pytestmark = pytest.mark.browser
SHOTS = ROOT / "docs" / "screenshots"


def test_run_gevent_eat_play_and_see_it_drawn(server, page):
    allow_editing(page, server)
    page.goto(server.url + "/")
    choose_demo(page, "gevent_eat_play", eat_seconds=0.6, play_seconds=0.3)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    page.evaluate("window.coroscope.redraw()")  # the last frame, painted now
    s = state(page)
    assert s["seqOk"] is True and s["lastError"] is None
    assert [task["name"] for task in s["tasks"]] == ["main", "Hub", "eat", "play"]
    assert [lane["name"] for lane in s["lanes"]] == ["main", "eat", "play"]  # Hub folded
    # Every switch of the run is covered by what is drawn.
    status, trace = server.get(f"/api/runs/{s['runId']}/trace.json")
    validate_trace(trace)
    switches = sum(1 for e in trace["events"] if e["kind"] in ("switch", "throw"))
    assert s["events"] == len(trace["events"]) and s["switches"] == switches
    assert s["drawnSwitches"] == switches
    assert [line["text"] for line in s["stdout"]] == [
        "egon eat 1", "egon play 1", "egon play 2", "egon eat 2", "主",
        "g1.value = 'eat finished', g2.value = 'play finished'"]
    console = page.get_by_test_id("console").inner_text()
    for text in ("egon eat 1", "egon play 2", "主"):
        assert text in console
    assert page.get_by_test_id("status").inner_text().strip() != ""
    first = s["firstSwitchDrawnAt"] - s["runClickedAt"]
    print(f"\nRun clicked -> first switch drawn: {first:.0f} ms")
    assert 0 < first < 5000
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard.png"))

    # Export JSON: the link downloads the native trace of this run.
    with page.expect_download() as dl:
        page.get_by_test_id("export").click()
    exported = json.loads(dl.value.path().read_text(encoding="utf-8"))
    validate_trace(exported)
    assert exported["run"]["id"] == s["runId"]
    assert exported["events"] == trace["events"]


def test_load_trace_draws_an_exported_run(server, page):
    status, run = server.request("POST", "/api/runs", {"demo": "greenlet_eat_play"})
    server.wait_run(run["id"])
    _, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    page.goto(server.url + "/")
    page.wait_for_function("window.coroscope && window.coroscope.loadTrace")
    page.evaluate("t => window.coroscope.loadTrace(t)", trace)
    page.evaluate("window.coroscope.redraw()")
    s = state(page)
    assert [lane["name"] for lane in s["lanes"]] == ["main", "eat", "play"]
    assert s["status"] == "finished" and s["switches"] == 5 and s["drawnSwitches"] == 5
    assert [x["text"] for x in s["stdout"]] == [
        "egon eat 1", "egon play 1", "egon eat 2", "egon play 2"]


def test_cancel_and_the_end_of_a_failed_run_are_shown(fault_server, page):
    page.goto(fault_server.url + "/")
    # A run that raises: the alert shows the demo's traceback.
    choose_demo(page, "fault_raises")
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'error'", timeout=20_000)
    alert = page.get_by_test_id("error")
    alert.wait_for(state="visible")
    assert "ValueError: this demo fails on purpose" in alert.inner_text()
    assert "The demo raised an exception" in alert.inner_text()
    # A run stopped by a limit says which.
    choose_demo(page, "fault_floods")
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'limit'", timeout=20_000)
    assert "output limit reached" in page.get_by_test_id("error").inner_text()
    # Cancel, while running: the run ends as cancelled and its trace stays exportable.
    choose_demo(page, "fault_hangs")
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'running'", timeout=20_000)
    cancel = page.get_by_test_id("cancel")
    cancel.wait_for(state="visible")
    cancel.click()
    page.wait_for_function("window.coroscope.status === 'cancelled'", timeout=10_000)
    run_id = state(page)["runId"]
    status, trace = fault_server.get(f"/api/runs/{run_id}/trace.json")
    assert status == 200 and trace["run"]["status"] == "cancelled"
    validate_trace(trace)

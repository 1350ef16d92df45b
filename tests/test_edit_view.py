"""The page's side of changing the code (#16 item 4), honest numbers (#16 item 2) and
gzip traces (#15 item 1), in a real browser against a real server: a demo edited in the
source panel runs and its diff is shown, Reset brings the tutorial's text back, a browser
without the server's secret stays read-only and says why, a timing demo shows its traced,
untraced and tutorial figures side by side, and a .json.gz opens like a .json."""

from __future__ import annotations

import gzip
import json
import urllib.request
from pathlib import Path

import pytest

from demos import DEMOS

from .conftest import choose_demo, state
from .test_edit import token_of

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
EAT_PLAY = DEMOS["greenlet_eat_play"].source()
EDITED = EAT_PLAY.replace("print('%s eat 1' % name)", "print('%s eats first' % name)")
SLOW = 60_000  # ms: a loaded machine


def run_and_wait(page) -> None:
    """Press Run and wait for a new run to finish."""
    before = page.evaluate("window.coroscope.runId")
    page.get_by_test_id("run").click()
    page.wait_for_function(
        "(before) => window.coroscope.runId && window.coroscope.runId !== before"
        " && window.coroscope.status === 'finished'", arg=before, timeout=SLOW)
    page.evaluate("window.coroscope.redraw()")  # a frame: the panels show it


def printed(page) -> list[str]:
    return [line["text"] for line in state(page)["stdout"]]


def test_edit_a_demo_run_it_see_its_diff_and_reset(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        # The address the server printed sets its secret and leaves the address bar.
        page.goto(f"{server.url}/?edit={token_of(server)}")
        assert page.url == f"{server.url}/"
        page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                               ".length > 3", timeout=SLOW)
        choose_demo(page, "greenlet_eat_play")
        run_and_wait(page)
        edit = page.get_by_test_id("edit")
        edit.wait_for(state="visible")
        page.wait_for_function(
            "!document.querySelector('[data-testid=edit]').classList.contains('locked')")
        assert not page.get_by_test_id("edit-why").is_visible()

        # Edit: the run's text in a text field, marked once it differs from the tutorial's.
        edit.click()
        text = page.get_by_test_id("source-edit")
        assert text.is_visible() and text.input_value() == EAT_PLAY
        assert not page.get_by_test_id("source").is_visible()
        assert not page.get_by_test_id("edit-mark").is_visible()
        assert page.get_by_test_id("edit-reset").is_disabled()
        text.fill(EDITED)
        assert page.get_by_test_id("edit-mark").is_visible()
        gutter = page.locator("#editor-gutter").inner_text().split("\n")
        assert gutter[0] == "1" and gutter[-1] == str(len(EAT_PLAY.splitlines()))

        # Run traces the edited text; the panel shows that run's source, and its diff.
        run_and_wait(page)
        page.wait_for_function("window.coroscope.stdout.length === 4", timeout=SLOW)
        assert printed(page)[0] == "egon eats first" and "egon eat 1" not in printed(page)
        assert not text.is_visible() and page.get_by_test_id("source").is_visible()
        assert page.locator(".src-line[data-line='7'] .src-code").inner_text() == (
            "    print('%s eats first' % name)")
        badge = page.get_by_test_id("edited-badge")
        assert badge.inner_text().startswith("edited · −1 +1")
        run_id = state(page)["runId"]
        _, trace = server.get(f"/api/runs/{run_id}/trace.json")
        assert trace["run"]["edited"]["file"] == "greenlet_eat_play.py"
        badge.click()
        diff = page.get_by_test_id("diff")
        assert diff.is_visible() and not page.get_by_test_id("source").is_visible()
        assert page.locator(".diff-del").all_inner_texts() == ["-    print('%s eat 1' % name)"]
        assert page.locator(".diff-add").all_inner_texts() == [
            "+    print('%s eats first' % name)"]
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / "edit.png"))

        # After a reload the run is shown again, with its diff.
        page.reload()
        page.wait_for_function(f"window.coroscope.runId === '{run_id}'"
                               " && window.coroscope.status === 'finished'", timeout=SLOW)
        badge.wait_for(state="visible")
        assert badge.inner_text().startswith("edited · −1 +1")

        # Edit starts from the shown (edited) text; Reset brings the tutorial's back.
        edit.wait_for(state="visible")
        page.wait_for_function(
            "!document.querySelector('[data-testid=edit]').classList.contains('locked')")
        edit.click()
        assert text.input_value() == EDITED and page.get_by_test_id("edit-mark").is_visible()
        page.get_by_test_id("edit-reset").click()
        assert text.input_value() == EAT_PLAY
        assert not page.get_by_test_id("edit-mark").is_visible()
        run_and_wait(page)
        page.wait_for_function("window.coroscope.stdout.length === 4", timeout=SLOW)
        assert printed(page)[0] == "egon eat 1"
        assert not badge.is_visible()
        _, trace = server.get(f"/api/runs/{state(page)['runId']}/trace.json")
        assert "edited" not in trace["run"]

        # Picking another demo while editing asks before the changes go.
        edit.click()
        text.fill(EDITED)
        page.once("dialog", lambda dialog: dialog.dismiss())
        page.get_by_test_id("demo-select").select_option("gevent_eat_play")
        assert page.get_by_test_id("demo-select").input_value() == "greenlet_eat_play"
        assert text.input_value() == EDITED
        page.once("dialog", lambda dialog: dialog.accept())
        page.get_by_test_id("demo-select").select_option("gevent_eat_play")
        assert not text.is_visible() and page.get_by_test_id("source").is_visible()
    finally:
        context.close()


def test_without_the_secret_the_source_is_read_only_and_says_why(server, page):
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                           ".length > 3", timeout=SLOW)
    choose_demo(page, "greenlet_eat_play")
    run_and_wait(page)
    edit = page.get_by_test_id("edit")
    edit.wait_for(state="visible")
    page.wait_for_function(
        "document.querySelector('[data-testid=edit]').classList.contains('locked')")
    why = page.get_by_test_id("edit-why")
    assert why.inner_text() == (
        "Read-only: editing needs the address the server printed when it started (it ends "
        "in ?edit=...): open it once in this browser")
    edit.click()  # asks the server again, still no: says why in full, and edits nothing
    page.wait_for_function("document.querySelector('[data-testid=edit-why]')"
                           ".classList.contains('open')")
    assert not page.get_by_test_id("source-edit").is_visible()
    assert page.get_by_test_id("source").is_visible()
    page.evaluate("window.coroscope.setLanguage('zh')")
    assert why.inner_text().startswith("只读：编辑需要服务器启动时打印的地址")
    assert edit.inner_text() == "编辑"


def test_honest_numbers_for_a_timing_demo(server, page, tmp_path):
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                           ".length > 3", timeout=SLOW)
    honest = page.get_by_test_id("honest")
    choose_demo(page, "greenlet_eat_play")
    run_and_wait(page)
    assert not honest.is_visible()  # a demo that times nothing
    choose_demo(page, "greenlet_switch_cost", n=20000)
    run_and_wait(page)
    honest.wait_for(state="visible")
    heads = honest.locator("th").all_inner_texts()
    assert heads == ["printed", "traced (this run)", "untraced (same code)", "the tutorial"]
    rows = honest.locator("tbody tr")
    assert rows.count() == 3  # sequential, switching, their ratio
    labels = [rows.nth(i).locator("td").first.inner_text() for i in range(3)]
    assert labels == ["sequential run time is", "switching run time is",
                      "switching / sequential ="]
    traced, untraced = (rows.nth(1).locator("td").nth(k).inner_text() for k in (1, 2))
    assert traced in printed(page)[1] and traced.endswith("ns per switch)")
    assert untraced.endswith("ns per switch)")
    assert "n = 100,000,000" in honest.locator(".honest-tutorial").inner_text()
    why = honest.locator(".honest-why").inner_text()
    assert why.startswith("Why they differ: the tracer adds")
    assert why.endswith("the tutorial ran n = 100,000,000 on its own machine.")
    honest.scroll_into_view_if_needed()
    page.screenshot(path=str(tmp_path / "honest.png"))
    page.evaluate("window.coroscope.setLanguage('zh')")
    assert honest.locator("th").nth(3).inner_text() == "教程"
    assert honest.locator(".honest-why").inner_text().startswith("为什么不同：追踪器")
    assert "教程中 n = 100,000,000" in honest.locator(".honest-tutorial").inner_text()


def test_a_gzipped_trace_opens_and_replays(server, page, tmp_path):
    status, run = server.request("POST", "/api/runs", {"demo": "greenlet_eat_play"})
    assert status == 201
    server.wait_run(run["id"], timeout=SLOW / 1000)
    _, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    packed = tmp_path / "eat-play.json.gz"
    packed.write_bytes(gzip.compress(json.dumps(trace).encode()))
    page.goto(server.url + "/")
    page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                           ".length > 3", timeout=SLOW)
    with page.expect_file_chooser() as chooser:
        page.get_by_test_id("open").click()
    assert ".gz" in chooser.value.element.get_attribute("accept")
    chooser.value.set_files(str(packed))
    page.wait_for_function(
        "(id) => window.coroscope.runId && window.coroscope.runId !== id"
        " && window.coroscope.status === 'finished'", arg=run["id"], timeout=SLOW)
    page.wait_for_function(f"window.coroscope.events === {len(trace['events'])}",
                           timeout=SLOW)
    assert printed(page) == [e["text"] for e in trace["events"] if e["kind"] == "stdout"]
    # It replays: from the start, switch by switch.
    page.evaluate("window.coroscope.seek(0)")
    times = [page.evaluate("window.coroscope.stepNext(), window.coroscope.cursor")
             for _ in range(3)]
    assert 0 < times[0] < times[1] < times[2]
    # Its JSON.gz download is the server's gzip file.
    link = page.get_by_test_id("export-gz")
    assert link.get_attribute("href").endswith("/trace.json.gz")
    with page.expect_download() as download:
        link.click()
    body = Path(download.value.path()).read_bytes()
    assert json.loads(gzip.decompress(body))["run"]["source"] == trace["run"]["source"]


def test_the_standalone_file_opens_a_gzipped_trace_without_a_server(server, page, tmp_path):
    status, run = server.request("POST", "/api/runs", {"demo": "greenlet_eat_play"})
    assert status == 201
    server.wait_run(run["id"], timeout=SLOW / 1000)
    status, edited = server.request(
        "POST", "/api/runs", {"demo": "greenlet_eat_play", "source": EDITED},
        headers={"Cookie": f"coroscope_edit_{server.port}={token_of(server)}"})
    assert status == 201, edited
    server.wait_run(edited["id"], timeout=SLOW / 1000)
    _, trace = server.get(f"/api/runs/{edited['id']}/trace.json")
    packed = tmp_path / "edited.json.gz"
    packed.write_bytes(gzip.compress(json.dumps(trace).encode()))
    html = tmp_path / "run.html"
    with urllib.request.urlopen(f"{server.url}/api/runs/{run['id']}/trace.html",
                                timeout=60) as resp:
        html.write_bytes(resp.read())
    page.goto(html.as_uri())
    page.wait_for_function("window.coroscope && window.coroscope.status === 'finished'",
                           timeout=SLOW)
    # No server: nothing to edit, nothing to ask.
    assert not page.get_by_test_id("edit").is_visible()
    assert not page.get_by_test_id("edited-badge").is_visible()
    page.set_input_files("#open-file", str(packed))  # as a drop would
    badge = page.get_by_test_id("edited-badge")
    badge.wait_for(state="visible", timeout=SLOW)
    assert state(page)["events"] == len(trace["events"])
    assert printed(page)[0] == "egon eats first"
    assert not page.get_by_test_id("edit").is_visible()  # the run's diff is shown all the same
    badge.click()
    assert page.locator(".diff-add").all_inner_texts() == [
        "+    print('%s eats first' % name)"]
    # Its JSON.gz download is compressed here, with no server to ask.
    with page.expect_download() as download:
        page.get_by_test_id("export-gz").click()
    body = Path(download.value.path()).read_bytes()
    assert json.loads(gzip.decompress(body))["run"]["edited"] == trace["run"]["edited"]


def test_honest_numbers_for_a_sleeping_demo_are_timed_untraced_on_request(server, page):
    import re

    page.goto(server.url + "/")
    page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                           ".length > 3", timeout=SLOW)
    honest = page.get_by_test_id("honest")
    choose_demo(page, "gevent_sync_async", tasks=3, seconds=0.2)
    page.locator("[name=variant]").select_option(label="sync")
    run_and_wait(page)
    honest.wait_for(state="visible")
    assert honest.locator(".panel-title").inner_text() == (
        "Timing, honestly: this run is mostly sleeping")
    assert honest.locator("th").all_inner_texts() == [
        "printed", "traced (this run)", "untraced (same code)"]
    rows = honest.locator("tbody tr")
    assert rows.count() == 1
    assert rows.first.locator("td").nth(0).inner_text() == "total"
    traced = rows.first.locator("td").nth(1).inner_text()
    assert re.fullmatch(r"0\.\d\d s", traced) and f"total {traced}" in printed(page)
    switches = state(page)["switches"]
    assert honest.locator(".honest-why").inner_text() == (
        "Why the tracer hardly matters here: its times are seconds of sleeping, and the "
        f"tracer costs microseconds a switch ({switches} switches here), so untraced they "
        "would differ by milliseconds. Time it untraced to see.")
    first = state(page)["runId"]
    page.screenshot(path="/tmp/coroscope-honest-sleep-ask.png")

    # Timed untraced: the same demo and parameters again, then main() once more untraced.
    page.get_by_test_id("honest-untraced").click()
    page.wait_for_function(
        "(first) => window.coroscope.runId && window.coroscope.runId !== first"
        " && window.coroscope.status === 'finished'", arg=first, timeout=SLOW)
    run_id = state(page)["runId"]
    info = server.wait_run(run_id)
    for _ in range(100):  # the untraced figures come after the run's end
        if "untraced" in info:
            break
        page.wait_for_timeout(100)
        info = server.get(f"/api/runs/{run_id}")[1]
    assert info["params"] == {"variant": "sync", "tasks": 3, "seconds": 0.2}
    untraced = info["untraced"]
    total = re.fullmatch(r"total (\d+\.\d\d) s", untraced["printed"][-1])
    assert total and 0.6 <= float(total[1]) < 5 and 0.6 <= untraced["seconds"] < 5, untraced
    page.wait_for_function("document.querySelector('[data-testid=honest]').innerText"
                           ".includes('untraced, ')", timeout=SLOW)
    assert honest.get_by_test_id("honest-untraced").count() == 0
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[0] == "total" and cells[2] == untraced["printed"][-1].split("total ")[1]
    why = honest.locator(".honest-why").inner_text()
    m = re.fullmatch(r"main\(\) took (\S+ m?s) traced and (\S+ m?s) untraced, (\S+ [mµn]?s) "
                     r"apart: its times are seconds of sleeping, and the tracer costs "
                     r"microseconds a switch \((\d+) switches here\)\.", why)
    assert m, why
    assert int(m[4]) == state(page)["switches"]
    honest.scroll_into_view_if_needed()
    page.screenshot(path="/tmp/coroscope-honest-sleep.png")
    page.evaluate("window.coroscope.setLanguage('zh')")
    assert honest.locator(".honest-why").inner_text().startswith("main() 追踪时用了 ")

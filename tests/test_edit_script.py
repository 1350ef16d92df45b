"""Change an opened script's code and run it again: a run of the user's own script (from
`coroscope run`, found in History or opened as a trace file) is edited in the source panel
and traced in the dashboard's bounded child, from the script's own folder when it is still
there, with the diff against the script's first text kept with the run and its export.
Also: a tab opened before the edit secret was given runs an edit once it has it, without
a reload (its websocket is opened again)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, Server, state, validate_trace
from .test_edit import call, token_of
from .test_edit_view import run_and_wait

SLOW = 60_000  # ms: a loaded machine
SHOTS = ROOT / "docs" / "screenshots"

SCRIPT = """\
import os
import sys

import greenlet

import helper


def eat():
    print('eat', helper.GREETING)
    b.switch()
    print('eat again')


def play():
    print('play in', os.path.basename(os.getcwd()), sys.argv)
    a.switch()


a = greenlet.greenlet(eat)
b = greenlet.greenlet(play)
a.switch()
"""
EDITED = SCRIPT.replace("print('eat again')", "print('eat, edited')")


@pytest.fixture()
def history_server(tmp_path, monkeypatch):
    """A server of its own on a history that `coroscope run` writes to as well."""
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    data = tmp_path / "data"
    srv = Server(tmp_path / "s.log", "--data-dir", str(data))
    srv.data = data
    yield srv
    srv.stop()
    assert "Traceback" not in srv.output(), srv.output()


def traced_script(tmp_path: Path, srv: Server) -> tuple[Path, str]:
    """`coroscope run prog.py one two` in a project folder of its own (with a helper module
    beside it), stored in the server's history: (the folder, the run's id)."""
    project = tmp_path / "project"
    project.mkdir(mode=0o755)
    (project / "helper.py").write_text("GREETING = 'hello from helper'\n")
    (project / "prog.py").write_text(SCRIPT)
    out = subprocess.run(
        [sys.executable, "-m", "app", "run", "--out", str(tmp_path / "prog.json"),
         "--data-dir", str(srv.data), "prog.py", "one", "two"],
        cwd=project, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    status, runs = srv.get("/api/runs")
    assert status == 200
    ids = [r["id"] for r in runs if r["title"] == "prog.py"]
    assert len(ids) == 1, runs
    return project, ids[0]


def printed(srv: Server, run_id: str) -> tuple[dict, list[str]]:
    status, trace = srv.get(f"/api/runs/{run_id}/trace.json")
    assert status == 200
    validate_trace(trace)
    return trace["run"], [e["text"] for e in trace["events"] if e["kind"] == "stdout"]


def test_an_edited_script_runs_from_its_folder_and_keeps_its_diff(history_server, tmp_path):
    srv = history_server
    token = token_of(srv)
    project, run_id = traced_script(tmp_path, srv)
    body = {"script": run_id, "source": EDITED}
    status, refused = call(srv, "POST", "/api/runs", body)
    assert status == 403 and "?edit=" in refused["error"]

    status, run = call(srv, "POST", "/api/runs", body, cookie=token)
    assert status == 201, run
    assert run["demo"] is None and run["title"] == "prog.py"
    assert run["script"]["argv"] == ["prog.py", "one", "two"]
    assert run["script"]["path"] == str(project / "prog.py")
    assert run["script"]["rerun"] is True
    diff = run["edited"]["diff"]
    assert run["edited"]["file"] == "prog.py"
    assert diff.startswith("--- a/prog.py\n+++ b/prog.py\n")
    assert "-    print('eat again')\n+    print('eat, edited')\n" in diff
    assert srv.wait_run(run["id"])["status"] == "finished"
    info, lines = printed(srv, run["id"])
    # Its own folder: the helper beside it imports, the working folder is the project's,
    # argv is the first run's.
    assert lines == ["eat hello from helper",
                     "play in project ['prog.py', 'one', 'two']",
                     "eat, edited"]
    assert info["edited"]["diff"] == diff  # in the export too
    assert info["source"] == {"file": "prog.py", "text": EDITED}
    assert (project / "prog.py").read_text() == SCRIPT  # the user's file is left alone
    assert sorted(p.name for p in project.iterdir()) == ["helper.py", "prog.py"]
    assert list((tmp_path / "tmp").glob("coroscope-demos-*/coroscope-edit-*")) == []

    # Edited again from the edited run: the diff is still against the first text.
    again = EDITED.replace("print('eat', helper.GREETING)", "print('eat:', helper.GREETING)")
    status, run2 = call(srv, "POST", "/api/runs", {"script": run["id"], "source": again},
                        cookie=token)
    assert status == 201, run2
    removed = [ln for ln in run2["edited"]["diff"].splitlines() if ln.startswith("-    ")]
    assert removed == ["-    print('eat', helper.GREETING)", "-    print('eat again')"]
    assert srv.wait_run(run2["id"])["status"] == "finished"
    # From its trace file opened (Open..., a drop): the same.
    status, imported = srv.request(
        "POST", "/api/import", json.loads((tmp_path / "prog.json").read_text()))
    assert status == 201, imported
    status, run4 = call(srv, "POST", "/api/runs", {"script": imported["id"], "source": EDITED},
                        cookie=token)
    assert status == 201, run4
    assert run4["edited"]["diff"] == diff
    assert srv.wait_run(run4["id"])["status"] == "finished"
    assert printed(srv, run4["id"])[1] == lines
    # Run again as it was first written: no diff, so not "edited".
    status, run3 = call(srv, "POST", "/api/runs", {"script": run2["id"], "source": SCRIPT},
                        cookie=token)
    assert status == 201 and "edited" not in run3, run3
    assert srv.wait_run(run3["id"])["status"] == "finished"
    assert printed(srv, run3["id"])[1][-1] == "eat again"


def test_a_script_whose_folder_is_gone_runs_in_a_fresh_folder(history_server, tmp_path):
    srv = history_server
    token = token_of(srv)
    project, run_id = traced_script(tmp_path, srv)
    for f in project.iterdir():
        f.unlink()
    project.rmdir()
    source = SCRIPT.replace("import helper\n", "").replace("helper.GREETING", "'no helper'")
    status, run = call(srv, "POST", "/api/runs", {"script": run_id, "source": source},
                       cookie=token)
    assert status == 201, run
    assert srv.wait_run(run["id"])["status"] == "finished"
    _, lines = printed(srv, run["id"])
    assert lines[0] == "eat no helper"
    assert lines[1].startswith("play in coroscope-edit-") and lines[1].endswith(
        " ['prog.py', 'one', 'two']")


def test_what_cannot_be_run_again_is_refused_clearly(history_server, tmp_path):
    srv = history_server
    token = token_of(srv)
    _, run_id = traced_script(tmp_path, srv)
    status, demo_run = call(srv, "POST", "/api/runs", {"demo": "greenlet_eat_play"})
    assert status == 201
    srv.wait_run(demo_run["id"])
    cases = [
        ({"script": "rnope", "source": SCRIPT}, 404, "no run 'rnope'"),
        ({"script": demo_run["id"], "source": SCRIPT}, 400,
         f"run {demo_run['id']!r} is not a run of a script: only a script's run can be run "
         "again with its source"),
        ({"script": run_id}, 400, "missing \"source\": the script's code to run"),
        ({"script": run_id, "source": 3}, 400,
         "\"source\" must be the script's code as a string"),
        ({"script": 7, "source": SCRIPT}, 400, "\"script\" must be the id of a run of a script"),
        ({"script": run_id, "source": SCRIPT, "params": {}}, 400,
         "unknown field 'params' with \"script\"; a script is run again with "
         "{\"script\": run id, \"source\": its text}"),
    ]
    for body, code, error in cases:
        assert call(srv, "POST", "/api/runs", body, cookie=token) == (code, {"error": error})
    # A trace of a script that does not hold its source.
    trace = json.loads((tmp_path / "prog.json").read_text())
    trace["run"]["source"] = {"file": "", "text": ""}
    status, imported = srv.request("POST", "/api/import", trace)
    assert status == 201, imported
    assert call(srv, "POST", "/api/runs", {"script": imported["id"], "source": SCRIPT},
                cookie=token) == (400, {"error": f"run {imported['id']!r} cannot be run "
                                                 "again: its source is not known"})
    assert srv.get("/api/demos")[0] == 200  # still serving


def wait_loaded(page) -> None:
    page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                           ".length > 3", timeout=SLOW)


def unlocked(page) -> None:
    page.get_by_test_id("edit").wait_for(state="visible")
    page.wait_for_function(
        "!document.querySelector('[data-testid=edit]').classList.contains('locked')")


@contextlib.contextmanager
def editing(browser, srv: Server, run_id: str):
    """A tab given the edit secret, showing the run `run_id` once it is over, its editor
    unlocked; closed after."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"{srv.url}/?edit={token_of(srv)}")
        wait_loaded(page)
        page.goto(f"{srv.url}/#run={run_id}")
        page.wait_for_function(f"window.coroscope.runId === '{run_id}'"
                               " && window.coroscope.status !== 'running'", timeout=SLOW)
        unlocked(page)
        yield page
    finally:
        context.close()


def run_again(page, lines: int) -> None:
    """Press Run; return once a new run has finished and printed `lines` lines."""
    run_and_wait(page)
    page.wait_for_function(f"window.coroscope.stdout.length === {lines}", timeout=SLOW)


@pytest.mark.browser
def test_edit_an_opened_script_in_the_page(history_server, browser, tmp_path):
    srv = history_server
    project, run_id = traced_script(tmp_path, srv)
    with editing(browser, srv, run_id) as page:
        assert state(page)["status"] == "finished"
        run_button = page.get_by_test_id("run")
        assert not run_button.is_disabled()  # an opened script runs again
        page.get_by_test_id("edit").click()
        text = page.get_by_test_id("source-edit")
        assert text.input_value() == SCRIPT
        text.fill(EDITED)
        assert page.get_by_test_id("edit-mark").is_visible()
        run_again(page, 3)
        assert [ln["text"] for ln in state(page)["stdout"]] == [
            "eat hello from helper", "play in project ['prog.py', 'one', 'two']", "eat, edited"]
        badge = page.get_by_test_id("edited-badge")
        badge.wait_for(state="visible")
        assert badge.inner_text().startswith("edited · −1 +1")
        assert page.get_by_test_id("demo-select").input_value() == ""  # still the script
        assert page.locator("#run-desc").inner_text() == (
            "A script of yours, run again from this page as its source panel shows it: "
            "prog.py one two")
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / "edit-script.png"))

        # Edit the edited run: Reset gives the script's first text back.
        page.get_by_test_id("edit").click()
        assert text.input_value() == EDITED
        page.get_by_test_id("edit-reset").click()
        assert text.input_value() == SCRIPT
        assert not page.get_by_test_id("edit-mark").is_visible()
        run_again(page, 3)
        assert state(page)["stdout"][-1]["text"] == "eat again"
        assert not badge.is_visible()


@pytest.mark.browser
def test_a_trace_without_its_source_is_read_only_and_says_why(history_server, page, tmp_path):
    srv = history_server
    traced_script(tmp_path, srv)
    trace = json.loads((tmp_path / "prog.json").read_text())
    trace["run"]["source"] = {"file": "", "text": ""}
    status, imported = srv.request("POST", "/api/import", trace)
    assert status == 201
    page.context.add_cookies([{"name": f"coroscope_edit_{srv.port}",
                               "value": token_of(srv), "url": srv.url}])
    page.goto(f"{srv.url}/#run={imported['id']}")
    page.wait_for_function(f"window.coroscope.runId === '{imported['id']}'"
                           " && window.coroscope.status !== 'running'", timeout=SLOW)
    why = page.get_by_test_id("edit-why")
    why.wait_for(state="visible")
    assert why.inner_text() == ("Read-only: this trace does not hold its program's source, "
                                "so there is nothing to edit or run again")
    assert page.get_by_test_id("run").is_disabled()
    page.get_by_test_id("edit").click()
    assert not page.get_by_test_id("source-edit").is_visible()
    page.evaluate("window.coroscope.setLanguage('zh')")
    assert why.inner_text() == "只读：这个轨迹没有保存程序的源代码，所以无法编辑，也无法再次运行"


@pytest.mark.browser
def test_a_tab_opened_before_the_secret_runs_an_edit_without_a_reload(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        wait_loaded(page)
        page.get_by_test_id("demo-select").select_option("greenlet_eat_play")
        page.get_by_test_id("run").click()  # the websocket is opened now, without the cookie
        page.wait_for_function("window.coroscope.status === 'finished'", timeout=SLOW)
        page.wait_for_function(
            "document.querySelector('[data-testid=edit]').classList.contains('locked')")
        # Another tab opens the printed address: the cookie is set in this browser.
        other = context.new_page()
        other.goto(f"{server.url}/?edit={token_of(server)}")
        other.close()
        page.get_by_test_id("edit").click()  # asks again: allowed now, editing starts
        text = page.get_by_test_id("source-edit")
        text.wait_for(state="visible")
        text.fill(text.input_value().replace("print('%s eat 1' % name)",
                                             "print('%s eats first' % name)"))
        run_again(page, 4)
        assert state(page)["stdout"][0]["text"] == "egon eats first"
        assert page.evaluate("window.coroscope.lastError") in (None, "")
    finally:
        context.close()


@pytest.mark.browser
def test_a_trace_files_script_runs_only_from_the_editor(history_server, browser, tmp_path):
    srv = history_server
    traced_script(tmp_path, srv)
    status, imported = srv.request(
        "POST", "/api/import", json.loads((tmp_path / "prog.json").read_text()))
    assert status == 201, imported
    with editing(browser, srv, imported["id"]) as page:
        run_button = page.get_by_test_id("run")
        assert run_button.is_disabled()  # someone's code, come in a file: not run unseen
        page.get_by_test_id("edit").click()
        assert page.get_by_test_id("source-edit").input_value() == SCRIPT
        assert not run_button.is_disabled()  # read in the editor, it may run
        run_again(page, 3)
        assert state(page)["stdout"][1]["text"] == "play in project ['prog.py', 'one', 'two']"
        page.get_by_test_id("edit").click()
        page.get_by_test_id("edit").click()  # stop editing: the run on screen is the page's own
        assert not run_button.is_disabled()

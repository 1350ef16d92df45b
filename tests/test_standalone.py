"""One HTML file per run: opened from disk with no network, it plays exactly as the
dashboard plays the same run."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest

from .conftest import ROOT, state

pytestmark = pytest.mark.browser

WALK = """
async () => {
  // Step from the start to the end, switch by switch, as the arrow keys do.
  const c = window.coroscope;
  c.seek(0);
  const seen = [];
  for (let i = 0; i < 500; i++) {
    seen.push({ cursor: c.cursor, marks: c.sourceMarks, line: c.consoleCurrent?.text ?? null });
    const before = c.cursor;
    c.stepNext();
    if (c.cursor === before) break;
  }
  return seen;
}
"""


def download(server, run_id: str, kind: str) -> tuple[bytes, dict]:
    with urllib.request.urlopen(f"{server.url}/api/runs/{run_id}/{kind}") as resp:
        return resp.read(), dict(resp.headers)


def offline_page(browser, path):
    """A page whose every request but file:, blob: and data: is refused and counted."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    refused: list[str] = []

    def route(r):
        if r.request.url.split(":", 1)[0] in ("file", "blob", "data"):
            return r.continue_()
        refused.append(r.request.url)
        return r.abort()

    context.route("**/*", route)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_function("window.coroscope?.status === 'finished'", timeout=30_000)
    return context, page, refused, errors


def test_the_html_export_plays_offline_as_the_dashboard_does(server, browser, tmp_path):
    status, run = server.request("POST", "/api/runs", {"demo": "gevent_eat_play",
                                                       "params": {"eat_seconds": 0.3,
                                                                  "play_seconds": 0.1}})
    server.wait_run(run["id"])
    html, headers = download(server, run["id"], "trace.html")
    assert headers["Content-Type"].startswith("text/html")
    assert f'coroscope-gevent_eat_play-{run["id"]}.html' in headers["Content-Disposition"]
    assert b"http://" not in html.split(b'id="coroscope-trace"')[0].replace(
        b"http://www.w3.org", b"")  # nothing to fetch: no URL but the SVG namespace
    path = tmp_path / "run.html"
    path.write_bytes(html)

    dashboard = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    dashboard.goto(f"{server.url}/#run={run['id']}")
    dashboard.wait_for_function("window.coroscope?.status === 'finished'")
    expected = dashboard.evaluate(WALK)
    lanes = state(dashboard)["lanes"]
    stats = dashboard.evaluate("window.coroscope.computeStats()")
    dashboard.context.close()

    context, page, refused, errors = offline_page(browser, path)
    try:
        assert page.evaluate(WALK) == expected
        assert len(expected) == state(page)["arrows"] + 1 >= 4
        assert state(page)["lanes"] == lanes
        assert page.evaluate("window.coroscope.computeStats()") == stats
        # Predict asks before a switch, as in the dashboard.
        page.evaluate("window.coroscope.seek(0); window.coroscope.setPredict(true)")
        page.evaluate("window.coroscope.stepNext()")
        assert state(page)["predict"]["on"]
        # 中文, and what needs a server is not offered.
        page.get_by_test_id("lang").click()
        assert page.get_by_test_id("lang").inner_text() == "English"
        for hidden in ("run", "open", "history", "export-perfetto", "export-html",
                       "demo-select"):
            assert page.get_by_test_id(hidden).is_hidden(), hidden
        assert page.get_by_test_id("export").is_visible()
        assert not refused and not errors, (refused, errors)
    finally:
        context.close()


def test_cli_html_export_of_a_recorded_trace(browser, tmp_path):
    native, out = tmp_path / "t.json", tmp_path / "eat_play.html"
    subprocess.run([sys.executable, "-m", "app", "record", "greenlet_eat_play",
                    "--out", str(native)], cwd=ROOT, check=True, capture_output=True)
    result = subprocess.run([sys.executable, "-m", "app", "export", str(native), "--format",
                             "html", "--out", str(out)], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size < 400_000
    trace = json.loads(native.read_text())
    context, page, refused, errors = offline_page(browser, out)
    try:
        assert state(page)["events"] == len(trace["events"])
        assert state(page)["switches"] == 5
        assert [line["text"] for line in state(page)["stdout"]] == [
            e["text"] for e in trace["events"] if e["kind"] == "stdout"]
        # A trace dropped on the offline page is opened there, with no server.
        page.evaluate("""(text) => {
          const data = new DataTransfer();
          data.items.add(new File([text], 'other.json', { type: 'application/json' }));
          window.dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true,
                                                       cancelable: true }));
        }""", native.read_text())
        page.wait_for_function(f"window.coroscope.events === {len(trace['events'])}")
        assert not refused and not errors, (refused, errors)
    finally:
        context.close()


HOSTILE = '</script><script>document.title="XSS"</script><!--<script>'


def test_hostile_text_in_a_run_stays_text_in_its_html_file(browser, tmp_path):
    """A title, a source and a printed line that try to end the page's scripts."""
    native, out = tmp_path / "t.json", tmp_path / "evil.html"
    subprocess.run([sys.executable, "-m", "app", "record", "greenlet_eat_play",
                    "--out", str(native)], cwd=ROOT, check=True, capture_output=True)
    trace = json.loads(native.read_text())
    trace["run"]["title"] = HOSTILE
    trace["run"]["source"] = {"file": HOSTILE, "text": HOSTILE + "\n"}
    next(e for e in trace["events"] if e["kind"] == "stdout")["text"] = HOSTILE
    native.write_text(json.dumps(trace))
    subprocess.run([sys.executable, "-m", "app", "export", str(native), "--format", "html",
                    "--out", str(out)], cwd=ROOT, check=True, capture_output=True)
    assert HOSTILE.encode() not in out.read_bytes()
    context, page, refused, errors = offline_page(browser, out)
    try:
        assert page.title() == "coroscope"
        assert page.locator("#run-title").inner_text() == HOSTILE
        assert HOSTILE in [line["text"] for line in state(page)["stdout"]]
        assert page.evaluate("document.scripts.length") == 3
        assert not refused and not errors, (refused, errors)
    finally:
        context.close()

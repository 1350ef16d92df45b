"""The page at 1024, 1280 and 1920 px, and in 中文: a header whose rows do not depend on
the demo, nothing cut, no English left in Chinese, and the small items (an opened
script described as itself, Cancel as a normal end, a comparison kept across a reload)."""

from __future__ import annotations

import gzip
import json
import keyword
import re

import pytest

from demos import DEMOS as DEMO_TABLE

from .conftest import CANVAS_AND_WRAP, Server, choose_demo, header_says, state

pytestmark = pytest.mark.browser

SIZES = [(1024, 700), (1280, 800), (1920, 1080)]
# Demos with 0, 2, 3, 3 and 4 parameters (one a wide choice), the longest title, and `n`
# up to 1,000,000.
DEMOS = ["greenlet_eat_play", "gevent_unpatched_sleep", "gevent_socket_server",
         "yield_producer_consumer", "asyncio_blocking", "asyncio_queue"]

TOPS = """() => Object.fromEntries(['run', 'open', 'status', 'lang', 'history'].map((id) =>
    [id, document.querySelector(`[data-testid=${id}]`).getBoundingClientRect().top]))"""

# What does not fit: each entry a description of the element, and by how many px.
CUT = """() => {
  const cut = [];
  const ctx = document.createElement('canvas').getContext('2d');
  // The picker, the flight recorder's two choices and the narrow page's export menu:
  // each one's widest option within the select, less its padding and arrow (29 px).
  for (const sel of document.querySelectorAll(
      '[data-testid=demo-select], .flight-options select, .export-menu')) {
    if (sel.offsetParent === null) continue;
    ctx.font = getComputedStyle(sel).font;
    for (const o of sel.options) {
      const over = ctx.measureText(o.text).width - (sel.clientWidth - 29);
      if (over > 0) cut.push([`${sel.dataset.testid}: ${o.text}`, over]);
    }
  }
  // Text that overflows its own box.
  for (const el of document.querySelectorAll(
      '.param input, .panel-head .toggle, .panel-head .counts, .panel-head .button, .bar .button,'
      + ' .bar .field-label, .params-none, .player .button, .player select, .run-title')) {
    if (el.offsetParent === null) continue;
    const over = el.scrollWidth - el.clientWidth;
    if (over > 0) cut.push([`${el.className || el.name}: ${el.textContent || el.value}`, over]);
  }
  // Controls pushed out of the row or panel that holds them (cut by its overflow).
  for (const row of document.querySelectorAll('.bar, .panel-head, .player')) {
    if (row.offsetParent === null) continue;
    const right = row.getBoundingClientRect().right;
    for (const el of row.children) {
      const over = el.getBoundingClientRect().right - right;
      if (el.offsetParent !== null && over > 0.5)
        cut.push([`${el.className} in ${row.className}`, over]);
    }
  }
  return cut;
}"""


@pytest.fixture(params=SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def sized(browser, request):
    width, height = request.param
    context = browser.new_context(viewport={"width": width, "height": height})
    pg = context.new_page()
    yield pg
    context.close()


def demos_loaded(page) -> None:
    page.wait_for_function("document.querySelectorAll('[data-testid=demo-select] option')"
                           ".length > 3")


def test_the_header_keeps_its_rows_and_nothing_is_cut(server, sized):
    page = sized
    page.goto(server.url + "/")
    demos_loaded(page)
    # A flight recorder's window chosen: its auto-snapshot choice shows too.
    page.get_by_test_id("flight-window").select_option("30s")
    for lang in ("en", "zh"):
        page.evaluate(f"window.coroscope.setLanguage('{lang}')")
        seen = []
        for demo in DEMOS:
            choose_demo(page, demo)
            page.evaluate("window.coroscope.redraw()")  # the header of this demo, drawn
            tops = page.evaluate(TOPS)
            # Run, Open, History, the status and the language: one row...
            assert max(tops.values()) - min(tops.values()) <= 1, (lang, demo, tops)
            seen.append(tops)
            # ...and the same row whatever the demo's parameters.
            assert tops == seen[0], (lang, demo, tops, seen[0])
            assert page.evaluate(CUT) == [], (lang, demo)
        choose_demo(page, "yield_producer_consumer", n=1000000)
        page.evaluate("window.coroscope.redraw()")
        assert page.evaluate(CUT) == [], lang
    # A run's lanes: names such as "main · MainThread" fit the narrowest gutter.
    page.evaluate("window.coroscope.setLanguage('en')")
    choose_demo(page, "gevent_dummythread", eat_seconds=0.2, play_seconds=0.1)
    narrow = page.viewport_size["width"] <= 1100
    if narrow:
        assert page.get_by_test_id("export-menu").is_disabled()  # nothing to export yet
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    page.evaluate("window.coroscope.redraw()")
    assert page.evaluate(CUT) == []
    # Narrow, the four export buttons are one menu; a choice downloads as its button does.
    menu = page.get_by_test_id("export-menu")
    if narrow:
        assert menu.is_visible() and not page.get_by_test_id("export").is_visible()
        with page.expect_download() as download:
            menu.select_option("export-gz")
        trace = json.loads(gzip.decompress(download.value.path().read_bytes()))
        assert trace["run"]["id"] == state(page)["runId"]
        assert menu.input_value() == ""  # ready for the next choice
    else:
        assert not menu.is_visible() and page.get_by_test_id("export").is_visible()
    too_long = page.evaluate("""async () => {
      const { GUTTER } = await import('/static/js/timeline.js');
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = `600 13px ${getComputedStyle(document.body).fontFamily}`;
      return window.coroscope.lanes
        .map((l) => (l.thread ? `${l.label} · ${l.thread}` : l.label))
        .filter((name) => ctx.measureText(name).width > GUTTER - 28);
    }""")
    assert too_long == []


# Demos whose lanes carry long details ("greenlet (name='egon', seconds=0.1)", an
# asyncio task's coroutine and arguments, DummyThread names), with quick parameters.
LABELLED = [("gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1}),
            ("gevent_dummythread", {"eat_seconds": 0.2, "play_seconds": 0.1}),
            ("asyncio_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1}),
            ("gevent_socket_server", {"clients": 3})]  # its lanes' details: a socket's repr


def test_lane_labels_are_read_whole_from_1280_and_the_plot_keeps_its_width_at_1024(
        server, sized):
    page = sized
    width = page.viewport_size["width"]
    page.goto(server.url + "/")
    demos_loaded(page)
    runs = []
    for demo, params in LABELLED:
        status, run = server.request("POST", "/api/runs", {"demo": demo, "params": params})
        assert status == 201, run
        runs.append(server.wait_run(run["id"])["id"])
    details = 0
    for (demo, _), run_id in zip(LABELLED, runs, strict=True):
        page.evaluate(f"window.coroscope.subscribe('{run_id}')")
        page.wait_for_function(f"window.coroscope.runId === '{run_id}' && "
                               "window.coroscope.status === 'finished'", timeout=20_000)
        page.evaluate("window.coroscope.redraw()")
        # Both from one drawn frame (two reads could fall either side of a frame).
        labels, plot = page.evaluate("[window.coroscope.laneLabels, window.coroscope.plot]")
        assert labels and all(lb["name"] for lb in labels)
        details += sum(bool(lb["detail"]) for lb in labels)
        if width == 1024:
            # The narrow canvas keeps its plot: the gutter of 184 px, labels cut to fit.
            assert plot["gutter"] == 184 and plot["x0"] == 196, plot
            continue
        cap = min(320, round(0.3 * page.evaluate(
            "document.getElementById('timeline-wrap').clientWidth")))
        assert 184 <= plot["gutter"] <= cap, plot
        cut = [lb for lb in labels
               if (lb["nameShown"], lb["detailShown"]) != (lb["name"], lb["detail"])]
        if demo != "gevent_socket_server":
            # Every lane's name and details whole, in a gutter no wider than they need.
            assert cut == [], labels
        else:
            # A socket's repr is longer than any gutter: cut at the cap, whole in the
            # tooltip; the names are whole.
            assert not cut or plot["gutter"] == cap, (plot, labels)
            if not any(lb["detail"] for lb in labels):  # too many lanes to show details:
                assert plot["gutter"] < cap, plot  # their length costs no plot width
            assert all(lb["nameShown"] == lb["name"] for lb in labels)
    assert details >= 6  # the details were drawn (lanes tall enough), not left out
    if width == 1280:
        page.screenshot(path="/tmp/coroscope-lanes-1280.png")


def test_the_timeline_is_as_tall_as_its_lanes(server, browser):
    """At 1920x1080 three lanes used to leave 300 px of empty plot: the output and the
    statistics get that room."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(server.url + "/")
    demos_loaded(page)
    choose_demo(page, "gevent_eat_play", eat_seconds=0.2, play_seconds=0.1)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    page.evaluate("window.coroscope.redraw()")
    assert len(state(page)["lanes"]) == 3
    plot = page.locator("#timeline-wrap").bounding_box()["height"]
    assert plot <= 3 * 72 + 30 + 16 + 1
    assert page.get_by_test_id("console").bounding_box()["height"] > 400
    # With the Hub shown, a fourth lane gets its room too.
    page.get_by_test_id("hub-toggle").check()  # redrawn at once, at its new height
    assert page.locator("#timeline-wrap").bounding_box()["height"] > plot + 60
    page.get_by_test_id("hub-toggle").uncheck()
    context.close()


# Each time the page lays the timeline out anew, after the page's own observer: whether
# the canvas is its wrap's size and drawn (its top-left corner is the plot's white, opaque;
# a canvas resized and not yet drawn is transparent). Kept in window.seenSizes.
WATCH_RESIZES = f"""() => {{
  const canvas = document.querySelector('[data-testid=timeline]');
  window.seenSizes = [];
  new ResizeObserver(() => window.seenSizes.push(Object.assign({CANVAS_AND_WRAP},
    {{ alpha: canvas.getContext('2d').getImageData(2, 2, 1, 1).data[3] }})))
    .observe(document.getElementById('timeline-wrap'));
}}"""


def test_more_lanes_make_the_timeline_taller_and_no_frame_shows_it_blank(server, browser):
    """A run with more lanes gets a taller timeline. The canvas takes its new size before
    it draws: drawn at the old size, then resized by the page's observer, it was blank
    (a resize clears a canvas) for the frame the browser painted, and the labels one read
    came from a frame the next one replaced."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.goto(server.url + "/")
    demos_loaded(page)
    runs = []
    for demo, params in (("gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1}),
                         ("gevent_socket_server", {"clients": 3}),
                         ("gevent_eat_play", {"eat_seconds": 0.2, "play_seconds": 0.1})):
        status, run = server.request("POST", "/api/runs", {"demo": demo, "params": params})
        assert status == 201, run
        runs.append(server.wait_run(run["id"])["id"])
    heights = []
    for run_id in runs:
        if len(heights) == 1:
            page.evaluate(WATCH_RESIZES)
        page.evaluate("window.seenSizes = []")
        page.evaluate(f"window.coroscope.subscribe('{run_id}')")
        page.wait_for_function(f"window.coroscope.runId === '{run_id}' && "
                               "window.coroscope.status === 'finished'", timeout=20_000)
        page.evaluate("window.coroscope.redraw()")
        heights.append((len(state(page)["lanes"]),
                        page.locator("#timeline-wrap").bounding_box()["height"]))
        if len(heights) > 1:
            seen = page.evaluate("window.seenSizes")
            assert seen, "the timeline's height did not change"
            for s in seen:
                assert s["canvas"] == s["wrap"] and s["alpha"] == 255, seen
    (few, short), (many, tall), (again, short_again) = heights
    assert (few, many, again) == (3, 8, 3)
    assert tall > short + 200 and short_again == short
    context.close()


# ---- 中文: no English word left ----------------------------------------------------------

# What stays in Latin letters in Chinese text: names of code and tools, and units. The
# demos' texts name their own code: Python's keywords, the functions and modules they
# use, their parameters.
ALLOWED = {
    "coroscope", "Hub", "gevent", "greenlet", "asyncio", "Python", "JSON", "HTML", "Perfetto",
    "Chrome", "Thread", "I", "O", "MiB", "ns", "µs", "ms", "s", "A", "B",
    "spawn", "sleep", "join", "joinall", "value", "send", "socket", "Queue", "gather", "main",
    "eat", "play",
    *keyword.kwlist, *keyword.softkwlist,
    *(p.name for demo in DEMO_TABLE.values() for p in demo.params),
}
# Not text of the page: code, the program's own output, a parameter (its name and value
# are code), and what is in another language on purpose (the button to English).
NOT_PAGE_TEXT = ".source, .console-text, code, .param, [lang=en]"

VISIBLE_TEXT = """(skip) => {
  const out = [];
  const shown = (el) => el.getClientRects().length > 0
    && getComputedStyle(el).visibility !== 'hidden';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n; (n = walker.nextNode());) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest(skip)) continue;
    if (el.tagName === 'OPTION' ? !shown(el.parentElement) : !shown(el)) continue;
    out.push(n.textContent);
  }
  for (const el of document.querySelectorAll('[title], [aria-label]')) {
    if (el.closest(skip) || !shown(el)) continue;
    for (const a of ['title', 'aria-label']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  return out;
}"""


def english_words(texts: list[str], names: set[str]) -> set[str]:
    """Latin words that are neither code (a_name, f(), obj.attr, CamelCase, x=1, with
    digits) nor allowed: an untranslated word."""
    left = set()
    for text in texts:
        for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", text):
            word = m.group()
            before = text[m.start() - 1] if m.start() else " "
            after = text[m.end()] if m.end() < len(text) else " "
            code = ("_" in word or re.search(r"\d", word) or re.search(r"[a-z][A-Z]", word)
                    or before in "._'\"#-" or after in "._('\"=[-")
            if not code and word not in ALLOWED and word not in names:
                left.add(word)
    return left


@pytest.fixture(scope="module")
def own_server(tmp_path_factory):
    """A server whose history holds only this module's runs."""
    srv = Server(tmp_path_factory.mktemp("layout") / "server.log")
    yield srv
    srv.stop()


def test_chinese_leaves_no_english_word(own_server, page):
    server = own_server
    page.goto(server.url + "/")
    demos_loaded(page)
    page.get_by_test_id("lang").click()
    ids = {d: None for d in ("gevent_unpatched_sleep", "gevent_monkey_patch")}
    names = set(ids) | {"gevent_eat_play"}

    def check(where: str) -> None:
        lanes = {lane["name"] for lane in state(page)["tasks"]}
        left = english_words(page.evaluate(VISIBLE_TEXT, NOT_PAGE_TEXT), names | lanes)
        assert not left, f"{where}: English left in 中文: {sorted(left)}"

    check("idle")
    # A gevent run, its cause labels in the hover too.
    choose_demo(page, "gevent_eat_play", eat_seconds=0.2, play_seconds=0.1)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    page.evaluate("window.coroscope.redraw()")
    run_id = state(page)["runId"]
    _, trace = server.get(f"/api/runs/{run_id}/trace.json")
    woken = next(e for e in trace["events"] if e["kind"] == "switch" and e["from"] == 1)
    page.evaluate(f"window.coroscope.seek({woken['t']})")
    cursor_x = page.evaluate(
        "document.querySelector('.play-cursor').getBoundingClientRect().left + 1")
    box = page.get_by_test_id("timeline").bounding_box()
    page.mouse.move(cursor_x, box["y"] + box["height"] * 0.5)
    tip = page.locator("#timeline-wrap > .tooltip")
    tip.wait_for(state="visible")
    assert "原因" in tip.inner_text()
    check("a gevent run, a switch hovered")
    page.mouse.move(0, 0)
    # Cancelled runs and the pair to compare, in History.
    for demo in ids:
        choose_demo(page, demo, eat_seconds=0.3, play_seconds=0.1)
        page.get_by_test_id("run").click()
        page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
        ids[demo] = state(page)["runId"]
    choose_demo(page, "gevent_eat_play", eat_seconds=10, play_seconds=10)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'running' && window.coroscope.runId")
    page.get_by_test_id("cancel").click()
    page.wait_for_function("window.coroscope.status === 'cancelled'", timeout=10_000)
    check("cancelled")
    page.get_by_test_id("history").click()
    for run in ids.values():
        page.locator(f".history-item[data-run='{run}'] input[type=checkbox]").check()
    assert page.locator(".history-item .badge.status-cancelled").count() == 1
    check("History")
    page.get_by_test_id("history-compare").click()
    page.wait_for_function("window.coroscope.compare && !window.coroscope.compare.loading",
                           timeout=15_000)
    rows = page.get_by_test_id("compare-table").inner_text()
    assert "gevent_unpatched_sleep" not in rows  # the demos' titles, not their ids
    check("Compare")
    # A sleeping demo's honest numbers, with the button that times it untraced.
    page.get_by_test_id("compare-close").click()
    choose_demo(page, "gevent_sync_async", tasks=2, seconds=0.1)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'finished'", timeout=20_000)
    page.get_by_test_id("honest-untraced").wait_for(state="visible")
    assert page.get_by_test_id("honest-untraced").inner_text() == "不追踪再计时"
    check("honest numbers of a sleeping demo")


def test_causes_and_server_words_in_chinese(server, page):
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.setLanguage === 'function'")
    page.evaluate("window.coroscope.setLanguage('zh')")
    said = page.evaluate("""async () => {
      const { causeText, serverText } = await import('/static/js/i18n.js');
      const causes = ['switch', 'timer 1 s', 'timer 0.5 s', 'io fd 7', 'io', 'wait', 'wake',
        'finish', 'throw', 'call', 'send', 'yield', 'return', 'cancel', 'wait Queue.get',
        'wait gather', 'wait task consumer(1)', 'something new'];
      return {
        causes: Object.fromEntries(causes.map((c) => [c, causeText(c)])),
        limit: serverText('time limit reached: 3 s'),
        memory: serverText('memory limit reached (512 MiB of address space)\\nTraceback: ...'),
        cancelled: serverText('cancelled by the user'),
        other: serverText('events[12].kind: expected one of switch, throw'),
      };
    }""")
    causes = said["causes"]
    assert causes["timer 1 s"] == "定时器 1 秒" and causes["io fd 7"] == "I/O（文件描述符 7）"
    assert causes["wait Queue.get"] == "等待 Queue.get"  # the code stays code
    assert causes["wait task consumer(1)"] == "等待任务 consumer(1)"
    assert causes["something new"] == "something new"  # unknown: shown as recorded
    for cause, text in causes.items():
        if cause != "something new":
            assert not english_words([text], set()), (cause, text)
    assert said["limit"] == "达到时间限制：3 秒"
    assert said["memory"].startswith("达到内存限制（512 MiB 地址空间）\nTraceback")
    assert said["cancelled"] == "由用户取消"
    # Any other of the server's texts is shown as it came, said to be its English words.
    assert said["other"].startswith("events[12].kind") and "服务器的英文原文" in said["other"]
    # The same in English: the server's words as they are.
    page.evaluate("window.coroscope.setLanguage('en')")
    assert page.evaluate("""async () => (await import('/static/js/i18n.js'))
        .serverText('time limit reached: 3 s')""") == "time limit reached: 3 s"


# ---- the small items -----------------------------------------------------------------------

def test_an_opened_script_is_described_as_itself(server, page, tmp_path):
    status, run = server.request("POST", "/api/runs", {"demo": "greenlet_eat_play", "params": {}})
    assert status == 201
    server.wait_run(run["id"])
    _, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    trace["run"].update(demo=None, title="my_script.py", params={})
    path = tmp_path / "my_script.json"
    path.write_text(json.dumps(trace))
    page.goto(server.url + "/")
    demos_loaded(page)
    choose_demo(page, "gevent_eat_play", eat_seconds=0.2)
    with page.expect_file_chooser() as fc:
        page.get_by_test_id("open").click()
    fc.value.set_files(str(path))
    page.wait_for_function("window.coroscope.status === 'finished'"
                           " && window.coroscope.demo === null"
                           " && window.coroscope.switches === 5")
    page.evaluate("window.coroscope.redraw()")  # the header of the opened file
    picker = page.get_by_test_id("demo-select")
    assert picker.locator("option:checked").inner_text() == "opened: my_script.py"
    assert page.locator("#params [name]").count() == 0  # no stale parameters
    assert "opened" in page.locator(".params-none").inner_text()
    assert page.locator("#run-title").inner_text() == "my_script.py"
    assert page.locator("#run-desc").inner_text().startswith("A run opened from a trace file")
    assert page.get_by_test_id("run").is_disabled()
    # Picking a demo again: its form, and Run.
    choose_demo(page, "gevent_eat_play")
    assert picker.locator("option", has_text="opened:").count() == 0
    assert page.locator("#params [name=eat_seconds]").count() == 1
    assert page.get_by_test_id("run").is_enabled()


def test_cancel_is_a_normal_end_not_an_error(server, page):
    page.goto(server.url + "/")
    demos_loaded(page)
    choose_demo(page, "gevent_eat_play", eat_seconds=10, play_seconds=10)
    page.get_by_test_id("run").click()
    page.wait_for_function("window.coroscope.status === 'running' && window.coroscope.runId")
    page.get_by_test_id("cancel").click()
    page.wait_for_function("window.coroscope.status === 'cancelled'", timeout=10_000)
    page.wait_for_timeout(200)
    assert page.get_by_test_id("error").is_hidden() and state(page)["lastError"] is None
    status = page.get_by_test_id("status")
    header_says(page, "cancelled after")
    colors = status.evaluate("""(el) => ({
      text: getComputedStyle(el).color, dot: getComputedStyle(el, '::before').backgroundColor })""")
    idle = page.evaluate("""() => { const el = document.createElement('div');
      el.className = 'status';
      el.dataset.status = 'idle'; document.body.append(el);
      const c = { text: getComputedStyle(el).color,
                  dot: getComputedStyle(el, '::before').backgroundColor };
      el.remove(); return c; }""")
    assert colors == idle  # the idle colours: neither red nor orange


def test_a_reload_keeps_the_comparison(server, page):
    page.goto(server.url + "/")
    demos_loaded(page)
    choose_demo(page, "gevent_unpatched_sleep", eat_seconds=1.5, play_seconds=0.8)
    page.get_by_test_id("run-both").click()
    page.wait_for_function("window.coroscope.compare?.runs.every((r) => r && r.live)",
                           timeout=15_000)
    ids = [r["id"] for r in state(page)["compare"]["runs"]]
    assert page.evaluate("location.hash") == f"#compare={ids[0]},{ids[1]}"
    page.reload()
    page.wait_for_function("window.coroscope?.compare?.runs.every((r) => r)", timeout=15_000)
    assert [r["id"] for r in state(page)["compare"]["runs"]] == ids
    assert page.get_by_test_id("compare").is_visible()
    page.wait_for_function("window.coroscope.compare && !window.coroscope.compare.loading",
                           timeout=30_000)
    assert [r["status"] for r in state(page)["compare"]["runs"]] == ["finished", "finished"]
    # Closed, the address names the run on screen again (none here).
    page.get_by_test_id("compare-close").click()
    assert page.evaluate("location.hash") == ""

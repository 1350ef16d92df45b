"""Notebooks: ``%load_ext coroscope`` and ``%%coroscope`` in a real kernel (nbclient and
ipykernel, this venv's Python), and the notebook exported to HTML (nbconvert) showing each
timeline in Chromium from disk with no network."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap

import pytest

from .conftest import ROOT, validate_trace

SHOTS = ROOT / "docs" / "screenshots"
KERNEL = "coroscope-test-kernel"

GREENLET = """\
from greenlet import greenlet

def eat(name):
    print('%s eat 1' % name)
    gr2.switch('Jack')
    print('%s eat 2' % name)
    gr2.switch()

def play(name):
    print('%s play 1' % name)
    gr1.switch()
    print('%s play 2' % name)

gr1 = greenlet(eat)
gr2 = greenlet(play)
gr1.switch('Jack')
"""

GEVENT = """\
import gevent

done = []

def work(n):
    gevent.sleep(0.01 * n)
    print('done', n)
    done.append(n)

gevent.joinall([gevent.spawn(work, n) for n in (2, 1)])
done
"""

RAISES = """\
def numbers():
    yield 1
    yield 2

print(list(numbers()))
1 / 0
"""

# The cells, in order: (source, tags). Failing cells are tagged so that nbclient goes on.
CELLS = [
    ("%load_ext coroscope", []),
    ('%%coroscope --out eat_play.json --title "eat and play"\n' + GREENLET, []),
    ("%%coroscope\n" + GEVENT, []),
    ("%%coroscope\n" + RAISES, ["raises-exception"]),
    ("import coroscope\ncoroscope.show('eat_play.json')", []),
    ("%%coroscope --height 50\nprint('never')", ["raises-exception"]),
    ("%%coroscope\nimport asyncio\nawait asyncio.sleep(0)", ["raises-exception"]),
    ("print('after', len(done))", []),
]
G_CELL, GEVENT_CELL, RAISES_CELL, SHOW_CELL, HEIGHT_CELL, AWAIT_CELL, LAST_CELL = range(1, 8)


@pytest.fixture(scope="module")
def jupyter_env(tmp_path_factory):
    """Jupyter and IPython folders of their own, with a kernelspec for this venv's Python:
    nothing from the machine's or the user's Jupyter set-up is used."""
    home = tmp_path_factory.mktemp("jupyter")
    spec = home / "data" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "coroscope tests", "language": "python"}))
    with pytest.MonkeyPatch.context() as mp:
        for name, sub in (("JUPYTER_PATH", "data"), ("JUPYTER_DATA_DIR", "data"),
                          ("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                          ("IPYTHONDIR", "ipython")):
            (home / sub).mkdir(exist_ok=True)
            mp.setenv(name, str(home / sub))
        mp.setenv("JUPYTER_PLATFORM_DIRS", "1")  # (else jupyter_core warns about the move)
        yield home


@pytest.fixture(scope="module")
def executed(jupyter_env, tmp_path_factory):
    """The notebook, run top to bottom in a real kernel: (notebook, reply status of each
    cell, the kernel's working folder)."""
    import nbformat
    from nbclient import NotebookClient

    work = tmp_path_factory.mktemp("notebook")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source, metadata={"tags": tags} if tags else {})
                for source, tags in CELLS]
    status: dict[int, str] = {}

    def on_cell_executed(cell, cell_index, execute_reply):
        status[cell_index] = execute_reply["content"]["status"]

    # The timeouts only bound a hang: the whole notebook takes a few seconds.
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=300, startup_timeout=300,
                            resources={"metadata": {"path": str(work)}},
                            on_cell_executed=on_cell_executed)
    client.execute()
    nbformat.validate(nb)
    nbformat.write(nb, work / "traced.ipynb")
    return nb, status, work


def outputs(nb, index: int, output_type: str) -> list[dict]:
    return [o for o in nb.cells[index].outputs if o["output_type"] == output_type]


def output_types(nb, index: int) -> list[str]:
    """The cell's outputs' types in order, a run of stream outputs counted once: the
    kernel sends printed text when it flushes (every 0.2 s, and more than once on a
    loaded machine), and Jupyter shows consecutive stream outputs as one."""
    types: list[str] = []
    for o in nb.cells[index].outputs:
        if not (o["output_type"] == "stream" and types and types[-1] == "stream"):
            types.append(o["output_type"])
    return types


def stdout(nb, index: int) -> str:
    return "".join(o["text"] for o in outputs(nb, index, "stream") if o["name"] == "stdout")


def timelines(nb, index: int) -> list[str]:
    """The text/html of the cell's timeline outputs."""
    return [o["data"]["text/html"] for o in nb.cells[index].outputs
            if "text/html" in o.get("data", {})]


def test_a_traced_cell_prints_as_usual_then_shows_its_timeline(executed):
    nb, status, work = executed
    assert status == {0: "ok", G_CELL: "ok", GEVENT_CELL: "ok", RAISES_CELL: "error",
                      SHOW_CELL: "ok", HEIGHT_CELL: "error", AWAIT_CELL: "error",
                      LAST_CELL: "ok"}
    assert stdout(nb, G_CELL) == "Jack eat 1\nJack play 1\nJack eat 2\nJack play 2\n"
    assert stdout(nb, GEVENT_CELL) == "done 1\ndone 2\n"
    # The cell's last expression is displayed as usual, then the timeline below it.
    assert [(o["execution_count"], o["data"]["text/plain"])
            for o in outputs(nb, GEVENT_CELL, "execute_result")] == [(3, "[1, 2]")]  # Out[3]
    assert output_types(nb, GEVENT_CELL) == [
        "stream", "execute_result", "display_data"]
    for index in (G_CELL, GEVENT_CELL, RAISES_CELL, SHOW_CELL):
        (page,) = timelines(nb, index)
        assert page.startswith('<div class="coroscope-timeline" style="display: grid">')
        assert '<iframe srcdoc="&lt;!doctype html&gt;' in page
        assert page.endswith("</iframe></div>")
        assert 'height="640"' in page and "height: 640px" in page
        assert "http://" not in page.split("coroscope-trace")[0].replace(
            "http://www.w3.org", "")  # nothing to fetch before the embedded trace
    (plain,) = [o["data"]["text/plain"] for o in outputs(nb, G_CELL, "display_data")]
    assert plain == "<coroscope timeline: 'eat and play', 13 events (shown as HTML)>"
    # The viewer's modules are packed as the trace is: a cell's page is 184 KB (416 KB
    # with the modules as plain JSON).
    assert len(timelines(nb, G_CELL)[0]) < 250_000
    assert stdout(nb, LAST_CELL) == "after 2\n"  # the kernel goes on after failed cells


def test_the_kept_trace_reports_the_cells_own_lines(executed):
    nb, status, work = executed
    trace = json.loads((work / "eat_play.json").read_text())
    validate_trace(trace)
    run = trace["run"]
    assert run["status"] == "finished" and run["title"] == "eat and play"
    assert run["source"] == {"file": "In [2]", "text": GREENLET}  # the viewer's source panel
    assert [t["name"] for t in trace["tasks"]] == ["main", "eat", "play"]
    assert [e["text"] for e in trace["events"] if e["kind"] == "stdout"] == [
        "Jack eat 1", "Jack play 1", "Jack eat 2", "Jack play 2"]
    switches = [e for e in trace["events"] if e["kind"] == "switch"]
    assert len(switches) == 5
    # Where each greenlet paused: the cell's lines that switch (1-based), and the last
    # switch is play finishing (no line).
    lines = [n for n, text in enumerate(GREENLET.splitlines(), 1) if ".switch(" in text]
    assert [e["line"] for e in switches] == [16, 5, 11, 7, None]
    assert sorted({e["line"] for e in switches} - {None}) == lines


@pytest.mark.parametrize(("source", "at"), [
    ("x = 1\ny = 2", 0),
    ('"""doc"""\nfrom __future__ import annotations\nx = 1', 2),
    ("from __future__ import annotations", 1),
    ('"a string, the cell\'s value"', 0),  # still the last expression, still displayed
    ("# only a comment", 0),
])
def test_the_cell_starts_the_tracer_itself(source, at):
    """The tracer starts at the cell's first statement, not while IPython compiles it."""
    import ast

    from app import notebook

    starter = notebook._StartHere()
    tree = starter.visit(ast.parse(source))
    assert ast.unparse(tree.body[at]) == (
        f"__import__('sys').modules[{notebook.__name__!r}]._begin()")
    assert len(tree.body) == len(ast.parse(source).body) + 1
    assert ast.dump(starter.visit(ast.parse(source))) == ast.dump(ast.parse(source))  # once
    calls = []
    notebook._pending[:] = [lambda: calls.append(1)]
    exec(compile(tree, "<cell>", "exec"), {})
    assert calls == [1] and not notebook._pending


def test_a_failing_cell_shows_its_error_and_timeline_and_fails(executed):
    nb, status, work = executed
    assert status[RAISES_CELL] == "error"  # "run all" stops there, as without the magic
    (error,) = outputs(nb, RAISES_CELL, "error")  # shown once, the IPython way
    assert (error["ename"], error["evalue"]) == ("ZeroDivisionError", "division by zero")
    traceback = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error["traceback"]))  # no colours
    assert "Cell In[4], line 6" in traceback and "----> 6 1 / 0" in traceback
    assert "coroscope" not in traceback and "notebook.py" not in traceback  # no magic frames
    assert stdout(nb, RAISES_CELL) == "[1, 2]\n"
    assert output_types(nb, RAISES_CELL) == [
        "stream", "error", "display_data"]
    for index, why in ((HEIGHT_CELL, "--height must be at least 200"),
                       (AWAIT_CELL, "cannot run a cell with top-level await")):
        # IPython shows a UsageError as one line, without a traceback; the cell fails.
        (stderr,) = outputs(nb, index, "stream")
        assert stderr["name"] == "stderr" and stderr["text"].startswith("UsageError: ")
        assert why in stderr["text"] and len(nb.cells[index].outputs) == 1


def test_show_checks_what_it_is_given(tmp_path):
    import coroscope

    native = tmp_path / "t.json"
    subprocess.run([sys.executable, "-m", "app", "record", "greenlet_eat_play",
                    "--out", str(native)], cwd=ROOT, check=True, capture_output=True)
    trace = json.loads(native.read_text())
    shown = coroscope.show(native, height=480)
    assert shown.events == len(trace["events"]) and shown.title == trace["run"]["title"]
    assert 'height="480"' in shown.data and shown.data.startswith('<div class="coroscope-')
    assert "timeline &ldquo;greenlet: explicit switch&rdquo; is not shown" in shown.data
    assert coroscope.show(trace).data == coroscope.show(str(native)).data  # a parsed trace too
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "chrome"}')
    with pytest.raises(ValueError, match=r"cannot show .*bad\.json: .*format"):
        coroscope.show(bad)
    with pytest.raises(ValueError, match="cannot show .*missing.json"):
        coroscope.show(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="at least 200"):
        coroscope.show(native, height=100)


def test_import_coroscope_does_not_import_ipython():
    code = textwrap.dedent("""
        import sys, coroscope
        coroscope.trace, coroscope.create_app
        assert "IPython" not in sys.modules
        assert callable(coroscope.load_ipython_extension) and callable(coroscope.show)
        assert "IPython" in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


@pytest.mark.browser
def test_the_exported_notebook_draws_every_timeline_offline(executed, browser, tmp_path):
    from nbconvert import HTMLExporter

    nb, status, work = executed
    body, _ = HTMLExporter().from_notebook_node(nb)
    path = tmp_path / "traced.html"
    path.write_text(body, encoding="utf-8")

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    refused: list[tuple[str, str]] = []

    def route(r):
        if r.request.url.split(":", 1)[0] in ("file", "blob", "data", "about"):
            return r.continue_()
        refused.append((r.request.frame.url, r.request.url))
        return r.abort()

    context.route("**/*", route)
    context.set_default_timeout(120_000)  # only bounds a hang (a loaded machine is slow)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri())
        frames = page.locator(".coroscope-timeline iframe")
        assert frames.count() == 4  # the three traced cells and coroscope.show
        expected = [  # (lane names, switches or at least as many, status)
            (["main", "eat", "play"], 5, "finished"),
            (["main", "work", "work"], 8, "finished"),  # gevent's Hub folded away
            (["main", "<module>", "numbers"], 8, "error"),  # a generator, driven from the cell
            (["main", "eat", "play"], 5, "finished"),
        ]
        for i, (lanes, switches, run_status) in enumerate(expected):
            frame = frames.nth(i).element_handle().content_frame()
            frame.wait_for_function("['finished', 'error'].includes(window.coroscope?.status)")
            got = frame.evaluate("() => ({status: window.coroscope.status, switches:"
                                 " window.coroscope.switches, lanes: window.coroscope.lanes"
                                 ".map((lane) => lane.name)})")
            assert got["lanes"] == lanes and got["status"] == run_status, (i, got)
            assert (got["switches"] == switches if lanes[1] != "work"
                    else got["switches"] >= switches), (i, got)
            # The timeline is drawn: the lanes' coloured bars, not just a background.
            coloured = frame.evaluate("""() => {
              const canvas = document.querySelector('[data-testid=timeline]');
              const data = canvas.getContext('2d')
                .getImageData(0, 0, canvas.width, canvas.height).data;
              let n = 0;
              for (let p = 0; p < data.length; p += 4) {
                const hi = Math.max(data[p], data[p + 1], data[p + 2]);
                const lo = Math.min(data[p], data[p + 1], data[p + 2]);
                if (hi - lo > 80) n++;
              }
              return n;
            }""")
            assert coloured > 500, (i, coloured)
            # The page fits its frame: no scrollbar inside it.
            assert frame.evaluate("() => document.documentElement.scrollHeight"
                                  " <= document.documentElement.clientHeight"
                                  " && document.documentElement.scrollWidth"
                                  " <= document.documentElement.clientWidth"), i
        # The note for viewers that remove iframes is under the iframe, hidden.
        assert page.evaluate("""() => [...document.querySelectorAll('.coroscope-note')]
          .map((note) => { const box = note.getBoundingClientRect();
                           note.scrollIntoView();
                           const r = note.getBoundingClientRect();
                           return box.height > 0 && document.elementFromPoint(
                             r.left + r.width / 2, r.top + r.height / 2)?.tagName; })
          """) == ["IFRAME"] * 4
        # The template's own CDN scripts (require.js, MathJax) are refused; the timelines
        # asked for nothing.
        assert all(frame_url == path.as_uri() for frame_url, _ in refused), refused
        assert not errors, errors
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator(".jp-Cell").nth(G_CELL).screenshot(path=str(SHOTS / "notebook.png"))
    finally:
        context.close()

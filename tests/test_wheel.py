"""The package as a user gets it: an sdist, the wheel built from it, installed into a
fresh venv outside the checkout, then the CLI, the dashboard (the page and every file it
loads), a recorded demo and the Python API, all from another folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
import zipfile

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.slow


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, dist folder, a clean environment): coroscope built and installed."""
    base = tmp_path_factory.mktemp("wheel")
    dist = base / "dist"
    # The sdist first, then the wheel from it: what `pip install coroscope` would build.
    _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], timeout=600)
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=120)
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "COROSCOPE_DATA_DIR")}
    env.update(HOME=str(base / "home"), XDG_DATA_HOME=str(base / "home" / "data"))
    wheel = next(dist.glob("coroscope-*.whl"))
    _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], env=env, timeout=900)
    return venv, dist, env


def test_the_wheel_is_one_package_with_its_files(installed):
    venv, dist, env = installed
    sdist = next(dist.glob("coroscope-*.tar.gz"))
    wheel = next(dist.glob("coroscope-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"coroscope"}  # no generic `app` or `demos` in site-packages
    for expected in ("coroscope/templates/index.html", "coroscope/static/js/app.js",
                     "coroscope/static/css/app.css", "coroscope/demos/gevent_eat_play.py",
                     "coroscope/tracer/trace.schema.json", "coroscope/runner/child.py"):
        assert expected in names
    for ext in ("_hook", "_wire"):
        assert any(re.fullmatch(rf"coroscope/tracer/{ext}\..*\.so", n) for n in names)
    assert not any(n.startswith("coroscope/tests") for n in names)
    assert sdist.stat().st_size < 2 << 20 and wheel.stat().st_size < 2 << 20


def test_cli_version_and_module_run_from_anywhere(installed, tmp_path):
    venv, dist, env = installed
    version = _run([str(venv / "bin" / "coroscope"), "--version"], cwd=tmp_path, env=env)
    assert version.stdout.strip() == "coroscope 0.1.0"
    module = _run([str(venv / "bin" / "python"), "-m", "coroscope", "--version"],
                  cwd=tmp_path, env=env)
    assert module.stdout == version.stdout
    demos = _run([str(venv / "bin" / "coroscope"), "demos"], cwd=tmp_path, env=env)
    assert "gevent_eat_play" in demos.stdout and "yield_producer_consumer" in demos.stdout
    fast = _run([str(venv / "bin" / "python"), "-c",
                 "import coroscope.tracer.recorder as r, coroscope; "
                 "print(r._FastHook is not None, coroscope.__file__)"],
                cwd=tmp_path, env=env)
    flag, where = fast.stdout.split()
    assert flag == "True" and str(venv) in where and str(ROOT) not in where


def test_record_and_the_python_api_from_anywhere(installed, tmp_path):
    venv, dist, env = installed
    # A shared temporary folder, where anyone may leave a greenlet.py: a demo's process
    # must not import it (its working folder is never on its sys.path).
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    planted = tmp_path / "planted-ran"
    for name in ("greenlet", "orjson", "gevent"):
        (shared / f"{name}.py").write_text(f"open({str(planted)!r}, 'a').write('{name}')\n"
                                           "raise ImportError('planted')\n")
    _run([str(venv / "bin" / "coroscope"), "record", "greenlet_eat_play", "--out", "t.json"],
         cwd=tmp_path, env=dict(env, TMPDIR=str(shared)), timeout=120)
    assert not planted.exists(), planted.read_text()
    trace = json.loads((tmp_path / "t.json").read_text())
    assert trace["run"]["status"] == "finished"
    assert sum(e["kind"] == "switch" for e in trace["events"]) == 5
    (tmp_path / "prog.py").write_text(textwrap.dedent("""
        import gevent, coroscope
        def work(n):
            gevent.sleep(0.01 * n)
            print('done', n)
        with coroscope.trace('api.json'):
            gevent.joinall([gevent.spawn(work, n) for n in (2, 1)])
    """))
    out = _run([str(venv / "bin" / "python"), "prog.py"], cwd=tmp_path, env=env, timeout=120)
    assert out.stdout == "done 1\ndone 2\n"
    api = json.loads((tmp_path / "api.json").read_text())
    assert sorted(t["name"] for t in api["tasks"]) == ["Hub", "main", "work", "work"]


def _assets(html: str) -> set[str]:
    return set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))


def _imports(js: str) -> set[str]:
    return set(re.findall(r'(?:from|import)\s*\(?\s*"(\./[^"]+\.js)"', js))


def test_the_dashboard_serves_its_page_and_every_file_it_loads(installed, tmp_path):
    venv, dist, env = installed
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(venv / "bin" / "coroscope"), "serve", "--no-browser",
                                 "--port", "0", "--quiet", "--data-dir", str(tmp_path / "h")],
                                cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        m = None
        while m is None and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", log.read_text())
        assert m, log.read_text()
        url = m[0].rstrip("/")
        with urllib.request.urlopen(url + "/", timeout=30) as resp:
            assert resp.status == 200
            html = resp.read().decode()
        todo, seen = sorted(_assets(html)), set()
        assert "/static/js/app.js" in todo and "/static/css/app.css" in todo
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            with urllib.request.urlopen(url + path, timeout=30) as resp:
                assert resp.status == 200, path
                body = resp.read().decode()
            if path.endswith(".js"):
                folder = path.rsplit("/", 1)[0]
                todo += [f"{folder}/{name[2:]}" for name in _imports(body)]
        assert len(seen) >= 10  # the page, its modules and their imports
        req = urllib.request.Request(url + "/api/runs", method="POST",
                                     data=json.dumps({"demo": "gevent_eat_play"}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            run = json.loads(resp.read())
        deadline = time.monotonic() + 60
        while run["status"] in ("starting", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
            with urllib.request.urlopen(f"{url}/api/runs/{run['id']}", timeout=30) as resp:
                run = json.loads(resp.read())
        assert run["status"] == "finished", run
        assert run["events"] > 10
    finally:
        proc.terminate()
        proc.wait(10)
    assert "Traceback" not in log.read_text(), log.read_text()

"""`with coroscope.trace(path):` records the block in this process."""

from __future__ import annotations

import json

import gevent
import greenlet
import pytest

import coroscope

from .conftest import validate_trace


def work(n):
    gevent.sleep(0.01 * n)
    print("done", n)


def test_trace_block_writes_a_valid_native_trace(tmp_path, capsys):
    out = tmp_path / "api.json"
    with coroscope.trace(str(out)):
        gevent.joinall([gevent.spawn(work, n) for n in (2, 1)])
    assert capsys.readouterr().out == "done 1\ndone 2\n"  # still printed
    trace = json.loads(out.read_text())
    validate_trace(trace)
    names = {t["id"]: t["name"] for t in trace["tasks"]}
    assert sorted(names.values()) == ["Hub", "main", "work", "work"]
    assert [(names[e["task"]], e["text"]) for e in trace["events"]
            if e["kind"] == "stdout"] == [("work", "done 1"), ("work", "done 2")]
    assert trace["run"]["status"] == "finished"
    assert trace["run"]["source"]["file"] == "test_python_api.py"
    assert greenlet.gettrace() is None  # the hook is gone afterwards


def test_a_raising_block_still_writes_its_trace(tmp_path):
    out = tmp_path / "err.json"
    with pytest.raises(ZeroDivisionError), coroscope.trace(str(out)):
        gevent.spawn(work, 0).join()
        1 / 0  # noqa: B018
    trace = json.loads(out.read_text())
    validate_trace(trace)
    assert trace["run"]["status"] == "error"
    assert trace["run"]["error"] == "ZeroDivisionError: division by zero"

"""Traces as .json.gz: written compressed wherever a trace is written to a name ending in
.gz, read back wherever a trace is read (by its first bytes, not its name), and bounded
when unpacked as a plain trace is when read."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from app.files import GZIP_MAGIC, MAX_TRACE_BYTES, Refused, TooBig, gzip_chunks, unpack_trace

from .conftest import ROOT, validate_trace


def coroscope(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def fetch(url: str) -> tuple[int, bytes, str]:
    with urllib.request.urlopen(url, timeout=60) as resp:
        return resp.status, resp.read(), resp.headers.get("Content-Type", "")


def post(server, body: bytes, content_type: str) -> tuple[int, dict]:
    req = urllib.request.Request(f"{server.url}/api/import", data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def finished(server):
    """A finished run of the gevent eat/play demo: its id and its trace.json bytes."""
    status, run = server.request("POST", "/api/runs", {
        "demo": "gevent_eat_play", "params": {"eat_seconds": 0.02, "play_seconds": 0.01}})
    assert status == 201
    server.wait_run(run["id"])
    return run["id"], fetch(f"{server.url}/api/runs/{run['id']}/trace.json")[1]


def test_unpack_reads_plain_and_gzip_and_refuses_what_is_not(tmp_path):
    plain = b'{"format":"coroscope.trace"}' * 1000
    packed = b"".join(gzip_chunks([plain[:7], plain[7:]]))
    assert packed.startswith(GZIP_MAGIC) and len(packed) < len(plain) // 20
    assert gzip.decompress(packed) == plain  # a real gzip stream: any gunzip reads it
    assert unpack_trace(plain, "t") == plain
    assert unpack_trace(packed, "t") == plain
    assert unpack_trace(packed + packed, "t") == plain + plain  # cat a.gz b.gz
    with pytest.raises(Refused) as refused:
        unpack_trace(packed[:-12], "t")
    assert refused.value.strerror == "t is cut short: its gzip stream does not end"
    with pytest.raises(Refused) as refused:
        unpack_trace(GZIP_MAGIC + b"not deflate at all", "t")
    assert refused.value.strerror.startswith("t is not valid gzip (")
    bomb = gzip.compress(bytes(4 << 20))  # 4 MiB of zeros in about 4 KB
    with pytest.raises(TooBig) as refused:
        unpack_trace(bomb, "t", cap=1 << 20)
    assert refused.value.strerror == "t unpacks to more than the 1 MiB a trace may have"


def test_the_server_offers_trace_json_gz_and_imports_it(server, finished):
    run_id, plain = finished
    status, packed, kind = fetch(f"{server.url}/api/runs/{run_id}/trace.json.gz")
    assert status == 200 and kind == "application/gzip"
    assert gzip.decompress(packed) == plain  # the same bytes as trace.json, compressed
    assert len(packed) < len(plain) / 2
    status, run = post(server, packed, "application/gzip")
    assert status == 201, run
    assert run["imported_from"] == run_id and run["events"] == json.loads(plain)["run"]["events"]
    again = fetch(f"{server.url}/api/runs/{run['id']}/trace.json")[1]
    assert json.loads(again) == json.loads(plain)


def test_a_bad_or_huge_gzip_import_is_refused_and_the_server_goes_on(server, finished):
    run_id, plain = finished
    status, body = post(server, gzip.compress(plain)[:-20], "application/gzip")
    assert (status, body) == (400, {"error": "the file is cut short: its gzip stream does "
                                             "not end"})
    # 257 MiB of zeros packs into about 260 KB: refused once unpacking passes the cap.
    bomb = b"".join(gzip_chunks(iter([bytes(1 << 20)] * ((MAX_TRACE_BYTES >> 20) + 1))))
    assert len(bomb) < 1 << 20
    status, body = post(server, bomb, "application/gzip")
    assert (status, body) == (400, {"error": "the file unpacks to more than the 256 MiB a "
                                             "trace may have"})
    status, body = post(server, b"\x1f\x8b", "text/plain")
    assert status == 415 and "application/gzip" in body["error"]
    assert server.get(f"/api/runs/{run_id}")[0] == 200


def test_the_cli_writes_and_reads_json_gz(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text("from greenlet import greenlet\n"
                      "def f():\n"
                      "    print('in f')\n"
                      "    main.switch()\n"
                      "main = greenlet.getcurrent()\n"
                      "greenlet(f).switch()\n"
                      "print('back')\n")
    out = tmp_path / "prog.json.gz"
    done = coroscope("run", "--out", str(out), str(script), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    packed = out.read_bytes()
    assert packed.startswith(GZIP_MAGIC)
    trace = json.loads(gzip.decompress(packed))
    validate_trace(trace)
    assert [e["text"] for e in trace["events"] if e["kind"] == "stdout"] == ["in f", "back"]
    # export reads it by its bytes (whatever the name) and writes .gz when asked to.
    plain = tmp_path / "plain.json"
    plain.write_bytes(gzip.decompress(packed))
    renamed = tmp_path / "no-gz-suffix.json"
    renamed.write_bytes(packed)
    outputs = {}
    for name, source in (("a.perfetto.json", plain), ("b.perfetto.json", renamed),
                         ("c.perfetto.json.gz", out)):
        done = coroscope("export", str(source), "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        outputs[name] = (tmp_path / name).read_bytes()
    assert outputs["a.perfetto.json"] == outputs["b.perfetto.json"]
    assert gzip.decompress(outputs["c.perfetto.json.gz"]) == outputs["a.perfetto.json"]
    assert json.loads(outputs["a.perfetto.json"])["traceEvents"]


def test_record_and_the_python_api_write_json_gz(tmp_path):
    out = tmp_path / "eat.json.gz"
    done = coroscope("record", "greenlet_eat_play", "--out", str(out),
                     "--data-dir", str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    trace = json.loads(gzip.decompress(out.read_bytes()))
    validate_trace(trace)
    assert trace["run"]["demo"] == "greenlet_eat_play"
    api = tmp_path / "api.json.gz"
    code = ("import app\n"
            "from greenlet import greenlet\n"
            f"with app.trace({str(api)!r}):\n"
            "    greenlet(lambda: print('hi')).switch()\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    trace = json.loads(gzip.decompress(api.read_bytes()))
    validate_trace(trace)
    assert [e["text"] for e in trace["events"] if e["kind"] == "stdout"] == ["hi"]

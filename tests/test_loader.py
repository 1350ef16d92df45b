"""The incremental trace loader (static/js/loader.js): a file read in pieces gives the
same store as the whole trace parsed at once, wherever the pieces are cut; bad input is
refused in the page with what was shown kept."""

from __future__ import annotations

import base64
import gzip
import json

import pytest

SLOW = 60_000

pytestmark = pytest.mark.browser

# Text that makes a cut hard: escaped quotes and backslashes, brackets and braces inside
# strings, non-ASCII (2-, 3- and 4-byte UTF-8) and a line separator.
NASTY = ['say "hi" \\ {not: [an, object]} \\"', "]}],{[", "zürich 東京 🐍 \u2028 end\\",
         '\\\\"\\"', "x" * 300]


def medium_trace(n: int = 40_000) -> dict:
    """A trace with a Hub, workers, blocks, prints with hard text, marks and warnings."""
    tasks = [{"id": 0, "name": "main", "kind": "main", "parent": None, "spawned_at": 0},
             {"id": 1, "name": "Hub", "kind": "hub", "parent": None, "spawned_at": 0}]
    events = [{"seq": 0, "t": 0, "kind": "spawn", "task": 0, "parent": None},
              {"seq": 1, "t": 0, "kind": "spawn", "task": 1, "parent": None}]
    for w in range(2, 8):
        tasks.append({"id": w, "name": "worker", "kind": "greenlet", "parent": 0,
                      "spawned_at": 0, "args": f"({w})"})
        events.append({"seq": len(events), "t": 0, "kind": "spawn", "task": w, "parent": 0})
    events.append({"seq": len(events), "t": 1, "kind": "mark", "task": 0, "text": "main()"})
    t = 1000
    k = 0
    while len(events) < n:
        w = 2 + k % 6
        e = lambda **kw: events.append({"seq": len(events), "t": t, **kw})  # noqa: E731, B023 (t as of the call)
        e(kind="switch", **{"from": 1, "to": w}, line=None, cause="wake")
        t += 500
        if k % 7 == 0:
            e(kind="stdout", task=w, text=NASTY[k % len(NASTY)] + str(k))
        if k % 50 == 3:
            e(kind="block", task=w, call="time.sleep(0.01)", since=t)
            t += 20_000_000
            e(kind="unblock", task=w)
        if k % 97 == 5:
            e(kind="warning", task=w, text=f"said {NASTY[k % len(NASTY)]}")
        t += 200
        e(kind="switch", **{"from": w, "to": 1}, line=12 + k % 5,
          cause="timer 0 s" if k % 3 else f"socket \"{k % 4}\"")
        t += 300
        k += 1
    events.append({"seq": len(events), "t": t, "kind": "finish", "task": 2})
    return {"format": "coroscope.trace", "version": 3,
            "run": {"id": "medium", "demo": None, "title": "medium ✓ \"quoted\"", "params": {},
                    "status": "finished", "error": None,
                    "started_at": "2026-01-01T00:00:00+00:00", "duration_ns": t,
                    "events": len(events)},
            "tasks": tasks, "events": events}


OPEN = """async ([b64, gz, options]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  await window.coroscope.openTrace(new File([bytes], gz ? 't.json.gz' : 't.json'), options);
  return window.coroscope.digest();
}"""


def open_bytes(page, data: bytes, options=None) -> dict:
    return page.evaluate(OPEN, [base64.b64encode(data).decode(), data[:2] == b"\x1f\x8b",
                                options or {}])


def load_whole(page, trace: dict) -> dict:
    assert page.evaluate("(t) => window.coroscope.loadTrace(t)", trace) is True
    return page.evaluate("window.coroscope.digest()")


@pytest.fixture
def viewer(server, page):
    page.goto(server.url + "/")
    page.wait_for_function("typeof window.coroscope?.openTrace === 'function'", timeout=SLOW)
    return page


def small_trace(server) -> dict:
    status, run = server.request("POST", "/api/runs", {"demo": "greenlet_eat_play"})
    assert status == 201
    server.wait_run(run["id"], timeout=SLOW / 1000)
    _, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    return trace


def test_the_incremental_loader_gives_the_same_store_as_parsing_the_whole_trace(server, viewer):
    for trace in (small_trace(server), medium_trace()):
        whole = load_whole(viewer, trace)
        assert whole["length"] == len(trace["events"]) and whole["tasks"]
        # The exporter's spelling (no spaces: the switches' fast path), spaces and new
        # lines everywhere (its general path), read in a worker and on the page's thread.
        compact = json.dumps(trace, ensure_ascii=False, separators=(",", ":")).encode()
        spaced = json.dumps(trace, ensure_ascii=False, indent=1).encode()
        # Pieces cut anywhere: inside strings, escapes, multi-byte characters, numbers.
        for text in (compact, spaced):
            for options in ({}, {"chunkBytes": 65536}, {"chunkBytes": 4099},
                            {"chunkBytes": 13}, {"worker": False},
                            {"worker": False, "chunkBytes": 4099}):
                got = open_bytes(viewer, text, options)
                assert got == whole, options
                where = "page" if options.get("worker") is False else "worker"
                assert viewer.evaluate("window.coroscope.readIn") == where
        # Keys in another order (tasks after events: every event parked, then parsed
        # whole), and gzip.
        reordered = {k: trace[k] for k in ("events", "format", "version", "run", "tasks")}
        packed = gzip.compress(json.dumps(reordered, separators=(",", ":")).encode())
        assert open_bytes(viewer, packed, {"chunkBytes": 777}) == whole
        assert viewer.evaluate("window.coroscope.lastError") in (None, "")


def test_bad_files_are_refused_in_the_page_and_the_trace_shown_stays(server, viewer):
    trace = medium_trace(3000)
    shown = load_whole(viewer, trace)
    text = json.dumps(trace).encode()
    head, events = text[: text.index(b'"events": [')], text[text.index(b'"events": ['):]
    bad = {
        "cut short": text[: len(text) // 2],
        "cut after the events": text[: text.rindex(b"]") + 1],
        "not JSON": b"hello, world",
        "not an object": b"[1, 2, 3]",
        "not a trace": json.dumps({"format": "other", "events": []}).encode(),
        "an unknown kind": text.replace(b'"kind": "finish"', b'"kind": "nope"'),
        "a broken event": text.replace(b'"kind": "finish"', b'"kind": finish'),
        "a trailing comma": head + events[: events.rindex(b"}]")] + b"},]}",
        "a comma missing": head + events.replace(b"}, {", b"} {", 1),
        "a number for an event": head + events.replace(b"}, {", b"}, 7, {", 1),
        "a switch out of turn": head + events.replace(b'{"seq": 20,', b'{"seq": 21,', 1),
        "a switch's cause not UTF-8": head + events.replace(b'"cause": "wake"',
                                                            b'"cause": "w\xffke"', 1),
        "gzip cut short": gzip.compress(text)[:-200],
        "not UTF-8": b'{"format": "\xff\xfe"}',
    }
    for why, data in bad.items():
        assert data != text, why
        for options in ({}, {"worker": False}):
            got = open_bytes(viewer, data, options)
            assert got == shown, why
            message = viewer.evaluate("window.coroscope.lastError")
            assert message and message.startswith("Could not open t.json"), (why, message)
            assert viewer.evaluate("window.coroscope.opening") is None
    # A gzip bomb: more text than the limit, refused as it is read, not after.
    bomb = gzip.compress(b" " * (8 << 20), 9)
    assert len(bomb) < 40_000
    got = open_bytes(viewer, bomb, {"maxChars": 1 << 20})
    assert got == shown
    assert "too big" in viewer.evaluate("window.coroscope.lastError")


def test_a_file_over_the_servers_limit_is_read_in_the_dashboard(server, viewer, tmp_path):
    # A gzip file whose text is over the server's 256 MiB import limit (its trailer says
    # so): Open... reads it in the page instead of uploading it.
    trace = medium_trace(2000)
    body = json.dumps(trace).encode() + b" " * (257 << 20)
    packed = tmp_path / "big.json.gz"
    packed.write_bytes(gzip.compress(body, 1))
    before = server.get("/api/runs")[1]
    viewer.set_input_files("#open-file", str(packed))
    viewer.wait_for_function(f"window.coroscope.events === {len(trace['events'])}"
                             " && window.coroscope.status === 'finished'", timeout=SLOW * 2)
    assert viewer.evaluate("window.coroscope.lastError") in (None, "")
    assert server.get("/api/runs")[1] == before  # nothing uploaded
    # Its JSON download is the file's text, inflated in the page.
    with viewer.expect_download() as download:
        viewer.get_by_test_id("export").click()
    assert json.loads(download.value.path().read_bytes())["run"]["id"] == "medium"

"""Every demo, run through the real server and runner, shows what the tutorial teaches."""

from __future__ import annotations

from collections import Counter

import pytest

from demos import DEMOS

from .conftest import validate_trace


class Trace:
    """A finished run's export, with the questions the tests ask of it."""

    def __init__(self, trace: dict) -> None:
        validate_trace(trace)
        self.raw = trace
        self.run = trace["run"]
        self.events = trace["events"]
        self.names = {t["id"]: t["name"] for t in trace["tasks"]}
        self.tasks = {t["id"]: t for t in trace["tasks"]}
        self.kinds = Counter(e["kind"] for e in self.events)

    @property
    def seconds(self) -> float:
        return self.run["duration_ns"] / 1e9

    def total(self) -> float:
        """The wall time the demo measured itself and printed last ("total 2.00 s")."""
        return float(self.printed()[-1][1].split()[1])

    def printed(self) -> list[tuple[str, str]]:
        return [(self.names[e["task"]], e["text"]) for e in self.events if e["kind"] == "stdout"]

    def switches(self) -> list[tuple[str, str]]:
        return [(self.names[e["from"]], self.names[e["to"]])
                for e in self.events if e["kind"] == "switch"]

    def blocks(self) -> list[tuple[str, str, float]]:
        """(task, call, seconds) of every block/unblock pair; asserts they nest properly."""
        open_, spans = {}, []
        for e in self.events:
            if e["kind"] == "block":
                assert e["task"] not in open_
                open_[e["task"]] = e
            elif e["kind"] == "unblock":
                begin = open_.pop(e["task"])
                spans.append((self.names[e["task"]], begin["call"],
                              (e["t"] - begin["since"]) / 1e9))
        assert not open_, "every block is closed"
        return spans

    def switches_during_blocks(self) -> int:
        inside, n = set(), 0
        for e in self.events:
            if e["kind"] == "block":
                inside.add(e["task"])
            elif e["kind"] == "unblock":
                inside.discard(e["task"])
            elif e["kind"] == "switch" and inside:
                n += 1
        return n


def record(server, demo: str, **params) -> Trace:
    status, run = server.request("POST", "/api/runs", {"demo": demo, "params": params})
    assert status == 201, run
    done = server.wait_run(run["id"], timeout=60)
    assert done["status"] == "finished", done
    status, trace = server.get(f"/api/runs/{run['id']}/trace.json")
    assert status == 200
    return Trace(trace)


def test_yield_send_switches_once_per_send_and_once_per_yield(server):
    t = record(server, "yield_producer_consumer", variant="yield", n=5)
    kinds = {t.names[i]: t.tasks[i]["kind"] for i in t.names}
    assert kinds == {"main": "main", "producer": "function", "consumer": "generator"}
    sw = Counter(t.switches())
    assert sw[("producer", "consumer")] == 6  # next(g) + 5 sends
    assert sw[("consumer", "producer")] == 6  # 6 yields
    assert sw[("main", "producer")] == 1 and sw[("producer", "main")] == 1
    causes = Counter((t.names[e["from"]], e["cause"]) for e in t.events if e["kind"] == "switch")
    assert causes[("producer", "send")] == 6 and causes[("consumer", "yield")] == 6
    assert causes[("main", "call")] == 1 and causes[("producer", "return")] == 1
    printed = t.printed()
    assert printed[:4] == [("producer", "producer sends 0"), ("consumer", "consumer got 0"),
                           ("producer", "producer sends 1"), ("consumer", "consumer got 1")]
    assert printed[-1][0] == "main" and printed[-1][1].startswith("yield: 5 items in ")


def test_serial_variant_never_switches(server):
    t = record(server, "yield_producer_consumer", variant="serial", n=1000)
    assert list(t.names.values()) == ["main"]
    assert t.kinds["switch"] == 0
    assert t.printed()[0][1].startswith("serial: 1000 items in ")


def test_yield_with_blocking_shows_the_thread_blocked(server):
    t = record(server, "yield_blocking", n=3, seconds=0.2)
    spans = t.blocks()
    assert [(who, call) for who, call, _ in spans] == [("producer", "time.sleep(0.2)")] * 3
    assert all(s == pytest.approx(0.2, rel=0.25) for _, _, s in spans)
    assert t.switches_during_blocks() == 0
    assert t.seconds == pytest.approx(0.6, rel=0.2)


def test_greenlet_eat_play_shows_the_value_passed(server):
    t = record(server, "greenlet_eat_play")
    assert [t.tasks[i].get("args") for i in (1, 2)] == ["name='egon'", "name='egon'"]
    assert [text for _, text in t.printed()] == [
        "egon eat 1", "egon play 1", "egon eat 2", "egon play 2"]


def test_switch_cost_reports_both_times_the_ratio_and_ns_per_switch(server):
    n = 50_000  # ~10 ms untraced, ~40 traced: a preemption cannot turn them around
    t = record(server, "greenlet_switch_cost", variant="both", n=n)
    texts = [text for _, text in t.printed()]
    assert texts[0].startswith("sequential run time is ")
    assert texts[1].startswith("switching run time is ") and "ns per switch" in texts[1]
    assert texts[2].startswith("switching / sequential = ")
    assert float(texts[2].split("= ")[1].rstrip("x")) > 1.0
    assert Counter(t.switches())[("f1", "f2")] == n
    # The same code run once more without the tracer, its figures kept with the run:
    # the traced ns per switch are the tracer's as much as greenlet's.
    untraced = t.run["untraced"]
    assert [line.split(" is ")[0].split(" = ")[0] for line in untraced["printed"]] == [
        "sequential run time", "switching run time", "switching / sequential"]
    assert untraced["seconds"] > 0
    assert "52.76 s" in untraced["tutorial"] and "52.76" in untraced["tutorial_zh"]
    ns = [int(line.split("(")[1].split(" ns")[0]) for line in (texts[1],
                                                                untraced["printed"][1])]
    assert ns[1] < ns[0], (ns, "traced switches cost more than untraced ones")
    status, stored = server.get(f"/api/runs/{t.run['id']}")
    assert stored["untraced"] == untraced  # listed and stored with the run
    info = DEMOS["greenlet_switch_cost"].describe()
    assert info["untraced_rerun"] and "52.76 s" in info["tutorial_figure"]


def test_gevent_spawn_join_value(server):
    for joinall in (0, 1):
        t = record(server, "gevent_eat_play", eat_seconds=0.4, play_seconds=0.2, joinall=joinall)
        assert t.printed()[-1] == (
            "main", "g1.value = 'eat finished', g2.value = 'play finished'")
        assert t.seconds == pytest.approx(0.4, abs=0.1)  # the max, not the sum
        assert t.kinds["block"] == 0


def test_unpatched_sleep_blocks_the_hub_and_takes_the_sum(server):
    t = record(server, "gevent_unpatched_sleep", eat_seconds=0.4, play_seconds=0.2)
    assert [(who, call) for who, call, _ in t.blocks()] == [
        ("eat", "time.sleep(0.4)"), ("play", "time.sleep(0.2)")]
    assert t.switches_during_blocks() == 0
    assert t.total() == pytest.approx(0.6, rel=0.1)
    # eat runs to its end before play even starts.
    assert [text for _, text in t.printed()][:4] == [
        "eat food 1", "eat food 2", "play 1", "play 2"]


def test_monkey_patched_sleep_switches_and_takes_the_max(server):
    t = record(server, "gevent_monkey_patch", eat_seconds=0.4, play_seconds=0.2)
    assert t.kinds["block"] == 0
    sw = Counter(t.switches())
    assert sw[("eat", "Hub")] == 2 and sw[("play", "Hub")] == 2  # the sleep, then the end
    assert t.total() == pytest.approx(0.4, rel=0.2)
    assert [text for _, text in t.printed()][:4] == [
        "eat food 1", "play 1", "play 2", "eat food 2"]


def test_dummythread_names_do_not_wait_for_the_flusher():
    """The names are learned before the demo's first switch, not when the flusher next
    polls: with the flusher held off until after the demo has ended, they are all there."""
    import json
    import os
    import subprocess
    import sys

    r, w = os.pipe()
    spec = {"file": str(DEMOS["gevent_dummythread"].path), "events_fd": w,
            "params": {"eat_seconds": 0.05, "play_seconds": 0.02}, "flush_ms": 1500}
    proc = subprocess.Popen([sys.executable, "-m", "app.runner.child", json.dumps(spec)],
                            pass_fds=(w,), cwd=DEMOS["gevent_dummythread"].path.parent.parent)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        lines = [json.loads(line) for line in f]
    assert proc.wait(timeout=30) == 0
    rows = [row for m in lines if m["type"] == "events" for row in m["rows"]]
    names = [row[4]["thread"] for row in rows if row[1] == 7]  # taskinfo
    assert names[0] == "MainThread" and sorted(names[1:]) == ["Dummy-1", "Dummy-2"]


def test_dummythread_names_reach_the_lanes(server):
    t = record(server, "gevent_dummythread", eat_seconds=0.1, play_seconds=0.05)
    threads = {t.names[e["task"]]: e["thread"] for e in t.events if e["kind"] == "taskinfo"}
    assert threads["eat"].startswith("Dummy") and threads["play"].startswith("Dummy")
    assert threads["eat"] != threads["play"]
    assert ("eat", threads["eat"]) in t.printed()
    eat = next(task for task in t.raw["tasks"] if task["name"] == "eat")
    assert eat["thread"] == threads["eat"]


def test_sync_takes_the_sum_async_the_max(server):
    sync = record(server, "gevent_sync_async", variant="sync", tasks=10, seconds=0.5)
    assert sync.total() == pytest.approx(5.0, rel=0.1)
    assert [text for _, text in sync.printed()][1:11] == [f"Task {i} done" for i in range(10)]
    asyn = record(server, "gevent_sync_async", variant="async", tasks=10, seconds=0.5)
    assert asyn.total() == pytest.approx(0.5, rel=0.2)
    assert asyn.seconds < sync.seconds / 5  # the whole runs, startup included
    assert sorted(name for name in asyn.names.values() if name == "task") == ["task"] * 10
    assert asyn.printed()[-2] == ("main", "DONE")


def test_the_tutorials_experiment_runs_500_client_threads(server):
    """The tutorial's client script started 500 threads. Under the run's 2 GiB address-
    space bound, 8 MiB thread stacks stopped at about 200 ("can't start new thread");
    the form's maximum is what works."""
    from app._demos import DEMOS

    clients = next(p for p in DEMOS["gevent_socket_server"].params if p.name == "clients")
    assert clients.max == 500
    t = record(server, "gevent_socket_server", clients=500, messages=1, mode="threads")
    printed = t.printed()
    assert ("main", "500 replies, all upper-cased: True") in printed
    assert sum(1 for who, _ in printed if who == "talk") == 500
    assert ("main", "threads alive: 1") in printed


@pytest.mark.parametrize("mode", ["greenlets", "threads"])
def test_socket_server_echoes_every_message_and_leaves_nothing_running(server, mode):
    t = record(server, "gevent_socket_server", clients=10, messages=3, mode=mode)
    printed = t.printed()
    assert ("main", "30 replies, all upper-cased: True") in printed
    assert ("main", "threads alive: 1") in printed
    assert ("main", "handlers still running: 0") in printed
    assert sum(1 for who, _ in printed if who == "talk") == 30
    names = Counter(t.names.values())
    assert names["talk"] == 10 and names["server"] == 1
    finished = Counter(t.names[e["task"]] for e in t.events if e["kind"] == "finish")
    assert finished["talk"] == 10  # every handler ended
    greenlets = [i for i, task in t.tasks.items() if task["kind"] == "greenlet"]
    ended = {e["task"] for e in t.events if e["kind"] == "finish"}
    ended |= {e["to"] for e in t.events if e["kind"] == "throw"}  # the killed accept loop
    assert set(greenlets) <= ended, "no greenlet is left running"
    io_waits = [e["cause"] for e in t.events if e["kind"] == "switch"
                and t.names[e["from"]] in ("talk", "server") and e["cause"] != "finish"]
    assert io_waits and all(c.startswith("io fd ") for c in io_waits), set(io_waits)
    if mode == "greenlets":
        assert names["client"] == 10 and finished["client"] == 10
        # Every recv parks a greenlet: the Hub is in every switch.
        assert all("Hub" in pair for pair in t.switches())


def test_patch_order_measured(server):
    runs = {v: record(server, "gevent_patch_order", variant=v, clients=2)
            for v in ("patch_first", "star_import_first", "module_import_first")}
    star = runs["star_import_first"]
    assert star.blocks() and star.blocks()[0][:2] == ("echo_server", "socket.accept(fd 3)")
    assert ("main", "socket class: socket.socket") in star.printed()
    assert star.seconds > 1.0
    for variant in ("patch_first", "module_import_first"):
        t = runs[variant]
        assert t.kinds["block"] == 0, variant
        assert ("main", "socket class: gevent._socket3.socket") in t.printed()
        assert ("client", "client 0 got b'HELLO 0'") in t.printed()
        assert t.seconds < 0.5


def test_threads_vs_greenlets_measures_the_tutorials_500(server):
    """The tutorial's opening motivation: starting threads costs time and memory that
    greenlets do not. Measured, not assumed: both sides are reported with their numbers,
    and the greenlets are drawn parked on the event, then woken by the Hub."""
    import re

    t = record(server, "threads_vs_greenlets", n=500)
    printed = [text for _, text in t.printed()]
    pattern = (r"500 {kind}:\s+started in (\d+\.\d) ms, memory \+(\d+) KB "
               r"\((\d+\.\d) KB each\)")
    threads = re.fullmatch(pattern.format(kind="threads"), printed[0])
    greenlets = re.fullmatch(pattern.format(kind="greenlets"), printed[1])
    assert threads and greenlets, printed
    assert re.fullmatch(r"threads took \d+\.\dx the time to start", printed[2])
    names = Counter(t.names.values())
    assert names["wait"] == 500 and names["Hub"] == 1  # 500 greenlet lanes: Event.wait
    parked = [e for e in t.events if e["kind"] == "switch" and t.names[e["from"]] == "wait"
              and e["cause"] != "finish"]
    assert len(parked) == 500 and {e["cause"] for e in parked} == {"wait"}
    assert t.kinds["finish"] == 500


def test_every_registered_demo_is_tested_here():
    tested = {"yield_producer_consumer", "yield_blocking", "greenlet_eat_play",
              "greenlet_switch_cost", "gevent_eat_play", "gevent_unpatched_sleep",
              "gevent_monkey_patch", "gevent_dummythread", "gevent_sync_async",
              "gevent_socket_server", "gevent_patch_order", "threads_vs_greenlets",
              # the async/await chapter: tests/test_demos_asyncio.py
              "asyncio_eat_play", "asyncio_blocking", "asyncio_sync_async",
              "asyncio_echo_server", "asyncio_queue", "same_program"}
    assert tested == set(DEMOS)


def test_every_demo_has_chinese_title_description_and_param_help():
    import re

    cjk = re.compile(r"[\u4e00-\u9fff]")
    for demo in DEMOS.values():
        assert cjk.search(demo.title_zh), demo.id
        assert cjk.search(demo.description_zh), demo.id
        info = demo.describe()
        assert info["title_zh"] == demo.title_zh
        assert info["description_zh"] == demo.description_zh
        for p, shown in zip(demo.params, info["params"], strict=True):
            assert p.help_zh.strip(), (demo.id, p.name)
            assert shown["help_zh"] == p.help_zh, (demo.id, p.name)

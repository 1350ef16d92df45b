"""The async/await chapter: every asyncio demo, run through the real server and runner,
traced with no flag. Exact sequences (who switched to whom, at which line, why; what each
task printed; spawns with their parents; finishes), as the greenlet demos' tests do."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from demos import DEMOS

from .test_asyncio_trace import story
from .test_demos import record

LOOP = "event loop"


def source_line(demo: str, text: str, variant: str | None = None, after: str = "") -> int:
    """The 1-based line of a demo's file that contains ``text``: the only one, or the
    first after the line that contains ``after``."""
    lines = DEMOS[demo].source({"variant": variant} if variant else None).splitlines()
    start = next(i for i, ln in enumerate(lines) if after in ln) if after else 0
    found = [i + 1 for i, ln in enumerate(lines) if text in ln and i >= start]
    assert found and (after or len(found) == 1), (text, found)
    return found[0]


def opening(demo: str, entry: str, run: str = "asyncio.run(") -> list[tuple]:
    """main() calls asyncio.run(entry) on the line that contains ``run``: the thread's
    main hands over to the event loop, which runs the entry task first."""
    return [("spawn", "main", None), ("mark", "main"), ("spawn", LOOP, "main"),
            ("switch", "main", LOOP, source_line(demo, run), "wait asyncio.run"),
            ("spawn", entry, "main"), ("switch", LOOP, entry, None, "wake")]


def closing(entry: str) -> list[tuple]:
    return [("finish", entry), ("switch", entry, LOOP, None, "finish"), ("finish", LOOP),
            ("switch", LOOP, "main", None, "finish")]


def test_eat_play_the_loop_does_the_hubs_job(server):
    t = record(server, "asyncio_eat_play", eat_seconds=0.2, play_seconds=0.1)
    entry, eat, play = "amain(0.2, 0.1)", "eat('egon', 0.2)", "play('egon', 0.1)"
    def line(text: str, after: str = "") -> int:
        return source_line("asyncio_eat_play", text, after=after)

    assert story(t.raw) == opening("asyncio_eat_play", entry) + [
        ("switch", entry, LOOP, line("await asyncio.gather(t1, t2)"), "wait gather"),
        ("spawn", eat, entry), ("switch", LOOP, eat, None, "wake"),
        ("stdout", eat, "egon eat 1"),
        ("switch", eat, LOOP, line("asyncio.sleep", after="def eat"), "timer 0.2 s"),
        ("spawn", play, entry), ("switch", LOOP, play, None, "wake"),
        ("stdout", play, "egon play 1"),
        ("switch", play, LOOP, line("asyncio.sleep", after="def play"), "timer 0.1 s"),
        ("switch", LOOP, play, None, "wake"), ("stdout", play, "egon play 2"),
        ("finish", play), ("switch", play, LOOP, None, "finish"),
        ("switch", LOOP, eat, None, "wake"), ("stdout", eat, "egon eat 2"),
        ("finish", eat), ("switch", eat, LOOP, None, "finish"),
        ("switch", LOOP, entry, None, "wake"),
        ("stdout", entry, "主"),
        ("stdout", entry, "t1.result() = 'eat finished', t2.result() = 'play finished'"),
        *closing(entry),
        ("stdout", "main", t.printed()[-1][1]),
    ]
    assert {t.tasks[i]["kind"] for i in t.tasks} == {"main", "loop", "task"}
    # Both sleeps overlap: at least the longer one, well under the sum (the tutorial's
    # 2 s, not 3 s). Bounds with room for a slow, loaded machine.
    assert 0.2 <= t.total() < 0.3


@pytest.mark.parametrize("variant", ["time_sleep", "asyncio_sleep"])
def test_time_sleep_blocks_the_loop_and_asyncio_sleep_does_not(server, variant):
    t = record(server, "asyncio_blocking", variant=variant, eat_seconds=0.3, play_seconds=0.2)
    told = story(t.raw)
    if variant == "time_sleep":
        # Each coroutine runs to its end in one step: the thread is stuck in time.sleep
        # (a block on that task, every other lane greyed), and the sleeps add up.
        assert [(who, call) for who, call, _ in t.blocks()] == [
            ("eat", "time.sleep(0.3)"), ("play", "time.sleep(0.2)")]
        assert [s for _, _, s in t.blocks()] == [pytest.approx(0.3, abs=0.1),
                                                 pytest.approx(0.2, abs=0.1)]
        assert t.switches_during_blocks() == 0
        assert told[told.index(("stdout", "eat", "eat food 1")):][:5] == [
            ("stdout", "eat", "eat food 1"), ("block", "eat", "time.sleep(0.3)"),
            ("unblock", "eat"), ("stdout", "eat", "eat food 2"), ("finish", "eat")]
        assert t.total() >= 0.5  # the sum: nothing overlapped
    else:
        assert t.kinds["block"] == 0
        sleep = source_line("asyncio_blocking", "await asyncio.sleep(eat_seconds)")
        assert ("switch", "eat", LOOP, sleep, "timer 0.3 s") in told
        # play's sleep starts while eat's goes on: the whole run is about the longer one.
        assert told.index(("stdout", "play", "play 1")) < told.index(("stdout", "eat",
                                                                       "eat food 2"))
        assert 0.3 <= t.total() < 0.45  # the longer one, well under the sum (0.5)
    assert told[-5:-1] == closing("amain") and t.printed()[-2] == ("amain", "主")


@pytest.mark.parametrize("variant", ["sync", "async"])
def test_sync_awaits_in_one_lane_and_async_gathers_a_lane_each(server, variant):
    t = record(server, "asyncio_sync_async", variant=variant, tasks=4, seconds=0.1)
    told = story(t.raw)
    sleep = source_line("asyncio_sync_async", "await asyncio.sleep(seconds)")
    if variant == "sync":
        entry = "synchronous"
        start = opening("asyncio_sync_async", entry, "asyncio.run(synchronous())")
        assert told == start[:2] + [("stdout", "main", "Synchronous:")] + start[2:] + [
            step for i in range(4) for step in (
                ("switch", entry, LOOP, sleep, "timer 0.1 s"),
                ("switch", LOOP, entry, None, "wake"),
                ("stdout", entry, f"Task {i} done"))
        ] + closing(entry) + [("stdout", "main", t.printed()[-1][1])]
        assert t.total() >= 0.4  # one after another: at least the sum
    else:
        entry = "asynchronous"
        names = [f"task({i})" for i in range(4)]
        start = opening("asyncio_sync_async", entry, "asyncio.run(asynchronous())")
        assert told[:8] == start[:2] + [("stdout", "main", "Asynchronous:")] + start[2:] + [
            ("switch", entry, LOOP, source_line("asyncio_sync_async", "asyncio.gather(*["),
             "wait gather")]
        for name in names:  # each in a task of its own, parked on its own timer
            assert ("spawn", name, entry) in told
            assert ("switch", name, LOOP, sleep, "timer 0.1 s") in told
            assert told.index(("finish", name)) > told.index(
                ("switch", names[-1], LOOP, sleep, "timer 0.1 s"))  # all sleep together
        assert [text for _, text in t.printed() if text.startswith("Task")] == [
            f"Task {i} done" for i in range(4)]
        assert [who for who, text in t.printed() if text.startswith("Task")] == ["task"] * 4
        assert 0.1 <= t.total() < 0.3  # together: one sleep, well under the sum (0.4)


def test_queue_producer_runs_ahead_only_as_far_as_the_queue_lets_it(server):
    t = record(server, "asyncio_queue", n=3, size=2, consumers=2, work=0.05)
    entry, prod = "amain(3, 2)", "producer(<Queue>, 3)"
    c0, c1 = "consumer(<Queue>, 'consumer-0')", "consumer(<Queue>, 'consumer-1')"

    def line(text: str, after: str = "") -> int:
        return source_line("asyncio_queue", text, after=after)

    put = line("await queue.put(i)")
    stop = line("await queue.put(None)")
    work = line("await asyncio.sleep(work)")
    c1_ends = [("switch", LOOP, c1, None, "wake"), ("stdout", c1, "consumer-1 consumed 1"),
               ("finish", c1), ("switch", c1, LOOP, None, "finish")]
    prod_ends = [("switch", LOOP, prod, None, "wake"),
                 ("finish", prod), ("switch", prod, LOOP, None, "finish")]
    head = opening("asyncio_queue", entry) + [
        ("switch", entry, LOOP, line("asyncio.TaskGroup()"), "wait TaskGroup"),
        ("spawn", prod, entry), ("switch", LOOP, prod, None, "wake"),
        ("stdout", prod, "produced 0"), ("stdout", prod, "produced 1"),
        ("switch", prod, LOOP, put, "wait Queue.put"),  # full at 2
        ("spawn", c0, entry), ("switch", LOOP, c0, None, "wake"),
        ("switch", c0, LOOP, work, "timer 0.05 s"),
        ("spawn", c1, entry), ("switch", LOOP, c1, None, "wake"),
        ("switch", c1, LOOP, work, "timer 0.05 s"),
        ("switch", LOOP, prod, None, "wake"), ("stdout", prod, "produced 2"),
        ("switch", prod, LOOP, stop, "wait Queue.put"),
        ("switch", LOOP, c0, None, "wake"), ("stdout", c0, "consumer-0 consumed 0"),
        ("switch", c0, LOOP, work, "timer 0.05 s"),
    ]
    tail = [
        ("switch", LOOP, c0, None, "wake"), ("stdout", c0, "consumer-0 consumed 2"),
        ("finish", c0), ("switch", c0, LOOP, None, "finish"),
        ("switch", LOOP, entry, None, "wake"),
        *closing(entry), ("stdout", "main", t.printed()[-1][1]),
    ]
    # c0's get freed the producer's put, as c1's timer came due: both are then ready.
    # c1 goes first when its timer was already due as the loop woke for c0's (they are
    # microseconds apart); the producer first when the loop woke between the two (a
    # loaded machine). asyncio runs what is ready in the order it became ready.
    assert story(t.raw) in (head + c1_ends + prod_ends + tail,
                            head + prod_ends + c1_ends + tail), story(t.raw)


def test_echo_server_serves_every_client_in_one_thread(server):
    t = record(server, "asyncio_echo_server", clients=10, messages=3)
    printed = t.printed()
    assert printed[-1][1] == "30 replies, 30 of them the message in capitals"
    names = Counter(t.names.values())
    handlers = [i for i, name in t.names.items() if name == "talk"]
    clients = [i for i, name in t.names.items() if name == "client"]
    assert len(handlers) == 10 and len(clients) == 10
    # start_server's accept runs in the loop: each handler task is the loop's child.
    assert all(t.tasks[i]["parent"] == next(k for k, v in t.names.items() if v == LOOP)
               for i in handlers)
    assert sum(1 for who, _ in printed if who == "talk") == 30
    assert sum(1 for who, _ in printed if who == "client") == 30
    ended = {e["task"] for e in t.events if e["kind"] == "finish"}
    assert set(handlers + clients) <= ended
    # Every handler waits for its connection's data, and is woken by the loop.
    reads = [e for e in t.events if e["kind"] == "switch" and e["from"] in handlers
             and e["cause"] != "finish"]
    assert reads and all(re.fullmatch(r"io fd \d+", e["cause"]) for e in reads)
    assert all(e["line"] == source_line("asyncio_echo_server", "await reader.read(1024)",
                                        after="async def talk")
               for e in reads)
    assert t.kinds["block"] == 0 and names[LOOP] == 1


def test_the_same_program_has_the_same_shape_under_gevent_and_asyncio(server):
    runs = {v: record(server, "same_program", variant=v, seconds=0.05)
            for v in ("gevent", "asyncio")}
    for variant, t in runs.items():
        scheduler = "Hub" if variant == "gevent" else LOOP
        sleep = source_line("same_program", "sleep(seconds)", variant)
        told = [(kind, *rest) for kind, *rest in story(t.raw)]
        waits = [(who, cause) for kind, who, to, *rest in (e for e in told if e[0] == "switch")
                 if to == scheduler and rest[1].startswith("timer")
                 for cause in [rest[1]]]
        assert len(waits) == 3 and [c for _, c in waits] == ["timer 0.05 s", "timer 0.1 s",
                                                             "timer 0.15 s"], variant
        assert all(e[3] == sleep for e in told if e[0] == "switch" and e[2] == scheduler
                   and e[4].startswith("timer"))
        done = [text for who, text in t.printed() if "done after" in text]
        assert done == ["a.html: done after 0.05 s", "b.css: done after 0.10 s",
                        "c.js: done after 0.15 s"], variant
        assert ("main", "sizes [6, 5, 4]") in t.printed() or \
            (t.printed()[-2][1] == "sizes [6, 5, 4]")
        assert 0.15 <= t.total() < 0.27  # the longest wait, well under the sum (0.3)
    kinds = {v: {t.tasks[i]["kind"] for i in t.tasks} for v, t in runs.items()}
    assert kinds == {"gevent": {"main", "hub", "greenlet"},
                     "asyncio": {"main", "loop", "task"}}


def test_echo_server_takes_the_tutorials_500_clients(server):
    t = record(server, "asyncio_echo_server", clients=500, messages=1)
    assert t.printed()[-1] == ("amain", "500 replies, 500 of them the message in capitals")
    assert Counter(t.names.values())["talk"] == 500

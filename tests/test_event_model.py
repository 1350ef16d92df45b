"""Each event kind is declared once (app/tracer/events.py ``KINDS``); every other
consumer is generated from that table or pinned to it here."""

from __future__ import annotations

import json
import re

import pytest

from app.tracer import events
from app.tracer.events import (
    FINAL_STATUSES,
    KIND_NAMES,
    KINDS,
    RUN_STATUSES,
    TASK_KINDS,
    event_to_row,
    row_to_event,
)

from .conftest import ROOT

SAMPLE_ROWS = {
    "switch": [10, 0, 0, 1, 12, "timer 1 s"],
    "throw": [10, 1, 1, 0, None, "throw"],
    "spawn": [10, 2, 1, 0, {"name": "eat", "kind": "greenlet", "args": "'egon', 2.0"}],
    "finish": [10, 3, 1, None, None],
    "stdout": [10, 4, 1, None, "egon eat 1"],
    "block": [10, 5, 0, None, {"call": "time.sleep(2)", "since": 5}],
    "unblock": [10, 6, 0, None, None],
    "taskinfo": [10, 7, 1, None, {"thread": "Dummy-1"}],
    "mark": [10, 8, 0, None, "main()"],
    "warning": [11, 9, 1, None, "coroutine 'eat' was never awaited"],
}


def test_every_kinds_sample_row_is_one_the_history_keeps():
    """The history reads stored batches back row by row: a kind it does not know cut
    every stored run that held one (the warning kind did, until its rows were read by
    shape from KINDS)."""
    from app.history import _rows_ok

    assert set(SAMPLE_ROWS) == {k.name for k in KINDS}
    for name, row in SAMPLE_ROWS.items():
        assert _rows_ok([row]), name
    assert not _rows_ok([[10, len(KINDS), 0, None, "no such kind"]])


def test_generated_files_are_up_to_date():
    """static/js/kinds.js and the table in docs/trace-format.md are made from KINDS."""
    assert events.main(["--check"]) == 0, "run: python -m app.tracer.events --write"


def test_every_kind_has_a_sample_and_converts_both_ways():
    assert set(SAMPLE_ROWS) == set(KIND_NAMES)
    tasks = {1: {"id": 1, "name": "eat", "kind": "greenlet", "args": "'egon', 2.0"}}
    for kind in KINDS:
        row = SAMPLE_ROWS[kind.name]
        assert row[1] == kind.code
        event = row_to_event(7, row)
        assert list(event) == ["seq", "t", "kind", *kind.fields], kind.name
        assert event_to_row(event, tasks) == row, kind.name


def test_the_schema_says_what_the_table_says():
    schema = json.loads((ROOT / "app" / "tracer" / "trace.schema.json").read_text())
    declared = {}
    for branch in schema["properties"]["events"]["items"]["oneOf"]:
        kind = branch["properties"]["kind"]
        names = kind.get("enum") or [kind["const"]]
        for name in names:
            fields = [f for f in branch["properties"] if f != "kind"]
            declared[name] = (set(fields), set(branch["required"]))
    assert set(declared) == set(KIND_NAMES)
    for kind in KINDS:
        fields, required = declared[kind.name]
        assert fields == set(kind.fields), kind.name
        assert required == set(kind.fields) - kind.optional, kind.name
    assert schema["properties"]["tasks"]["items"]["properties"]["kind"]["enum"] == list(
        TASK_KINDS)
    assert schema["properties"]["run"]["properties"]["status"]["enum"] == list(RUN_STATUSES)
    assert schema["properties"]["version"]["enum"] == list(range(1, events.VERSION + 1))


def test_the_c_hook_writes_the_switch_code():
    source = (ROOT / "app" / "tracer" / "_hook.c").read_text()
    assert re.search(r"^#define KIND_SWITCH (\d+)$", source, re.M)[1] == str(events.SWITCH)
    assert "PyLong_FromLong(KIND_SWITCH)" in source


def test_the_c_reader_spells_the_switch_kind():
    source = (ROOT / "app" / "tracer" / "_wire.c").read_text()
    assert re.search(r"^#define KIND_SWITCH (\d+)$", source, re.M)[1] == str(events.SWITCH)
    name = re.search(r'^#define KIND_SWITCH_NAME "(\w+)"$', source, re.M)[1]
    assert name == events.KIND_NAMES[events.SWITCH]


@pytest.mark.parametrize("path", sorted((ROOT / "static" / "js").glob("*.js")),
                         ids=lambda p: p.name)
def test_no_other_module_declares_kinds_or_statuses(path):
    if path.name == "kinds.js":
        return
    text = path.read_text()
    for kind in KIND_NAMES:
        assert not re.search(rf"\bconst {kind.upper()}\s*=", text), f"{path.name}: {kind}"
    final = ", ".join(f'"{s}"' for s in RUN_STATUSES if s in FINAL_STATUSES)
    assert final not in text, f"{path.name} spells the final statuses: import them"

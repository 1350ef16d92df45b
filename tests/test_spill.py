"""SpilledBatches: what `coroscope run` keeps instead of a list of batches in memory."""

from __future__ import annotations

import os

import pytest

from app.runs import SpilledBatches
from app.tracer.events import encode_batch
from app.tracer.export import chrome_trace_chunks, native_trace_chunks


def test_spilled_batches_read_back_as_a_list_does():
    spilled, kept = SpilledBatches(), []
    for i in range(50):
        batch = encode_batch(i * 3, [[i, 4, 0, None, "x" * i], [i + 1, 4, 0, None, "é"],
                                     [i + 2, 0, 0, 1, 7, "switch"]])
        spilled.append(batch)
        kept.append(batch)
    assert len(spilled) == 50
    assert list(spilled) == kept
    assert [spilled[i] for i in (0, 7, 49, -1, -50)] == [kept[i] for i in (0, 7, 49, -1, -50)]
    view = spilled[10:20]
    assert len(view) == 10 and list(view) == kept[10:20] and view[-1] == kept[19]
    assert list(view) == list(view)  # a view reads again each time it is walked
    assert list(spilled[45:]) == kept[45:] and list(spilled[60:]) == []
    for bad in (50, -51):
        with pytest.raises(IndexError):
            spilled[bad]
    with pytest.raises(ValueError):
        spilled[::2]
    # The exports read a view as they read a list: the same bytes.
    run = {"id": "r000000000001", "status": "finished", "duration_ns": 100}
    assert (b"".join(native_trace_chunks(run, spilled[:50]))
            == b"".join(native_trace_chunks(run, kept)))
    assert (b"".join(chrome_trace_chunks(run, spilled[:50], tasks=[]))
            == b"".join(chrome_trace_chunks(run, kept, tasks=[])))


def test_the_spill_file_is_unlinked_from_the_start():
    spilled = SpilledBatches()
    spilled.append(b"abc")
    fd = spilled._file.fileno()
    assert os.fstat(fd).st_nlink == 0  # nothing left behind if the process is killed

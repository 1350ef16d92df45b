"""The run protocol, both ends of it: what the server tells a run's child, what it answers.

The server (runs.py) starts ``python -m coroscope.runner.child SPEC`` (``.importer``
for a trace being read back) with a :class:`Spec` as JSON in its argv, and reads the
child's *frames* from a pipe of their own (``events_fd``), one JSON object a line:

``{"type": "hello", "pid": ..., "python": "3.11.7", "started_unix": ...}``
``{"type": "events", "seq": S, "n": N, "rows": [...]}``  rows of events.py; the header
    is written in exactly this order so the server counts rows without parsing them
    (:func:`batch_header`), and stores and relays the line as it came
``{"type": "untraced", "printed": [lines], "seconds": s}``  a demo that times pure
    computation ran once more without the tracer (Spec.untraced_rerun): what it printed
``{"type": "done", "status": "finished"|"error"|"limit"|"crashed", "error": str|null,
"t": ns}``  (``crashed``: coroscope's own flusher failed; the error has its traceback)

and, from the importer only, ``{"type": "trace", "version", "run", "tasks"}``, then
``{"type": "tasks", "tasks": [...]}`` for a long task table, and ``done`` with the status
``imported`` or ``refused``. Frames are encoded by :func:`encode_frame` and
:func:`encode_batch`, decoded by :func:`decode_frame` and :func:`batch_header`: nowhere
else (the batch functions live with the rows they carry, in events.py, since the
tracer's exports read stored batches too).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import orjson

from ..tracer.events import batch_header, encode_batch, json_bytes

__all__ = ["Spec", "batch_header", "decode_frame", "encode_batch", "encode_frame"]


@dataclass(frozen=True)
class Spec:
    """What a run's child process does, and within which bounds."""

    file: str  #: the demo, script or trace file
    events_fd: int  #: where the frames go
    mode: str = "demo"  #: "demo" (call main(**params)), "script" (run as __main__), "import"
    user_files: tuple[str, ...] = ()  #: files whose lines are reported (default: file)
    params: dict[str, Any] = field(default_factory=dict)  #: a demo's main() arguments
    argv: tuple[str, ...] = ()  #: a script's sys.argv
    generators: bool = False  #: trace generators' send/yield too
    max_events: int = 5_000_000  #: 0: no bound (the flight recorder keeps a window)
    max_seconds: float = 0  #: 0: no wall-time bound
    max_memory_bytes: int = 0  #: RLIMIT_AS; 0: none
    max_output_bytes: int = 0  #: what it may print; 0: no bound
    flush_ms: float = 20  #: how often rows are sent
    batch_rows: int = 10_000  #: at most this many rows in a batch
    busy_ms: float = 100  #: the busy watchdog's threshold
    #: a demo that times pure computation: after the traced run, run main() once more
    #: untraced and report what it printed (the tracer's cost, shown, not hidden)
    untraced_rerun: bool = False
    #: the folder put first on sys.path ("": the file's own, as `python FILE` does)
    import_dir: str = ""

    def to_json(self) -> str:
        return orjson.dumps(asdict(self)).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Spec:
        """The spec in argv; what is not given takes its default, an unknown key fails."""
        given = orjson.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"unknown spec field {unknown[0]!r}")
        for name in ("user_files", "argv"):
            if name in given:
                given[name] = tuple(given[name])
        return cls(**given)


def encode_frame(obj: dict[str, Any]) -> bytes:
    """One frame, with its newline."""
    return json_bytes(obj) + b"\n"


def decode_frame(line: bytes) -> dict[str, Any]:
    """A frame other than a batch (raises ValueError if it is not JSON)."""
    return orjson.loads(line)

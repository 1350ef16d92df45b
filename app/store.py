"""Run history on disk: every run survives restarts, crashes included.

Layout, one folder per run under ``<data dir>/runs/<run id>/``:

``meta.json``     the run's description (as ``Run.describe(source=True)``), replaced
                  atomically (write a temporary file, then ``os.replace``) when the run
                  starts, ends, or is renamed: never half-written.
``events.jsonl``  the event batches exactly as the child wrote them, one per line,
                  appended as they arrive. A crash can leave a partial last line: it is
                  ignored, and everything before it is kept.

Why plain files and not SQLite: the relay already holds each batch as the bytes the
child wrote, so storing it is one ``write`` with no re-encoding, and reading a run back
is reading those lines; the files can be inspected, copied and deleted by hand. What
SQLite would add (transactions) is covered by append-only batches plus atomic renames.

A run whose ``meta.json`` still says ``starting``/``running`` when the store is opened
was cut short (the server was killed): it is listed as ``crashed`` and ``incomplete``,
with the events recorded up to then.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from .tracer.events import LIVE_STATUSES

_RUN_ID = re.compile(r"^r[0-9a-f]{12}$")


def default_data_dir() -> Path:
    env = os.environ.get("COROSCOPE_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "coroscope"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RunStore:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._open: dict[str, Any] = {}  # run id -> events file being appended to
        self._mark_interrupted()

    def _dir(self, run_id: str) -> Path:
        # Ids come from requests: only our own shape may reach the filesystem.
        if not _RUN_ID.match(run_id):
            raise KeyError(run_id)
        return self.runs_dir / run_id

    # -- writing ----------------------------------------------------------------

    def begin(self, meta: dict[str, Any]) -> None:
        folder = self._dir(meta["id"])
        folder.mkdir(exist_ok=True)
        _write_atomic(folder / "meta.json", orjson.dumps(meta))
        self._open[meta["id"]] = open(folder / "events.jsonl", "ab")  # noqa: SIM115

    def append(self, run_id: str, batch: bytes) -> None:
        f = self._open.get(run_id)
        if f is not None:
            f.write(batch + b"\n")
            f.flush()  # a killed server keeps everything written so far

    def forget(self, run_id: str) -> None:
        """Stop saving a run (its disk failed): close its events file, keep what is there."""
        f = self._open.pop(run_id, None)
        if f is not None:
            try:
                f.close()
            except OSError:  # the buffered tail could not be written either
                pass

    def end(self, meta: dict[str, Any]) -> None:
        f = self._open.pop(meta["id"], None)
        if f is not None:
            f.close()
        _write_atomic(self._dir(meta["id"]) / "meta.json", orjson.dumps(meta))

    def save_whole(self, meta: dict[str, Any], batches: list[bytes]) -> None:
        """Store a finished run in one go (an import, or a CLI recording)."""
        folder = self._dir(meta["id"])
        folder.mkdir(exist_ok=True)
        _write_atomic(folder / "events.jsonl", b"".join(b + b"\n" for b in batches))
        _write_atomic(folder / "meta.json", orjson.dumps(meta))

    def rename(self, run_id: str, title: str) -> dict[str, Any]:
        meta = self.meta(run_id)
        meta["title"] = title
        _write_atomic(self._dir(run_id) / "meta.json", orjson.dumps(meta))
        return meta

    def delete(self, run_id: str) -> None:
        folder = self._dir(run_id)
        if not folder.is_dir():
            raise KeyError(run_id)
        shutil.rmtree(folder)

    # -- reading ----------------------------------------------------------------

    def meta(self, run_id: str) -> dict[str, Any]:
        try:
            return orjson.loads((self._dir(run_id) / "meta.json").read_bytes())
        except (OSError, orjson.JSONDecodeError):
            raise KeyError(run_id) from None

    def batches(self, run_id: str) -> list[bytes]:
        """The complete batches of a run; a torn last line (a crash) is left out."""
        try:
            data = (self._dir(run_id) / "events.jsonl").read_bytes()
        except OSError:
            return []
        lines = data.split(b"\n")
        if lines and lines[-1] and not data.endswith(b"\n"):
            lines.pop()
        return [line for line in lines if line]

    def list(self) -> Iterator[dict[str, Any]]:
        """Every stored run's description, newest first (no source text)."""
        metas = []
        for folder in self.runs_dir.iterdir():
            try:
                meta = self.meta(folder.name)
            except KeyError:
                continue
            meta.pop("source", None)
            metas.append(meta)
        return iter(sorted(metas, key=lambda m: m.get("started_at") or "", reverse=True))

    def _mark_interrupted(self) -> None:
        for folder in self.runs_dir.iterdir():
            try:
                meta = self.meta(folder.name)
            except KeyError:
                continue
            if meta.get("status") in LIVE_STATUSES:
                _write_atomic(folder / "meta.json", orjson.dumps(self.interrupted(meta)))

    def events_on_disk(self, run_id: str) -> int:
        """How many events the stored batches of a run hold (read from their headers)."""
        return sum(int(b.split(b'"n":', 1)[1].split(b",", 1)[0]) for b in self.batches(run_id))

    def interrupted(self, meta: dict[str, Any], server_stopped: bool = True) -> dict[str, Any]:
        """The description of a run stored as running that is not: cut short, with the
        events that reached the disk."""
        events = self.events_on_disk(meta["id"])
        why = ("the server stopped while this run was running" if server_stopped
               else "the disk refused this run's history before its end was saved")
        return dict(meta, status="crashed", incomplete=True, events=events,
                    error=f"incomplete: {why}; {events} events were recorded up to then")

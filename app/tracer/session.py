"""One recording in the calling thread: the recorder (greenlets, asyncio tasks once the
program imports asyncio, generators when asked), printed lines kept per task, the
known blocking calls wrapped. The run's child and the Python API (``coroscope.trace``)
record through this one class, in this one order.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from .blocking import BlockingProbes
from .recorder import Recorder, TaskOutput


class Session:
    """``start()`` then ``stop()``, in the same thread; rows are in ``recorder``.

    ``passthrough``: where printed text also goes (the terminal of a script or a
    notebook), or None to keep it only in the trace (a dashboard demo).
    """

    def __init__(self, user_files: Iterable[str], generators: bool = False,
                 passthrough: Any = None, asyncio: bool = True) -> None:
        self.recorder = Recorder(user_files=user_files, generators=generators,
                                 asyncio=asyncio)
        self.output = TaskOutput(self.recorder, passthrough=passthrough)
        self.probes = BlockingProbes(self.recorder)
        #: sys.stdout before start(): given back by stop() (a forked copy restores it too)
        self.saved_stdout: Any = None

    def start(self) -> None:
        """Capture printing, wrap the blocking calls, then install the hooks (t = 0)."""
        self.saved_stdout = sys.stdout
        sys.stdout = self.output
        self.probes.install()
        self.recorder.start()

    def stop(self) -> None:
        """Remove the hooks first, so nothing after this is recorded; then undo the rest
        and record what was printed without a final newline."""
        self.recorder.stop()
        self.probes.uninstall()
        sys.stdout = self.saved_stdout
        self.output.close_lines()

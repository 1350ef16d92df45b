"""The demo registry: every example of the seed tutorial, with its parameters.

Each demo is a plain Python file in this folder that reads like the tutorial and
defines ``main(**params)``. The registry holds what the dashboard shows about it;
the file itself is only ever imported by a run's child process, never by the server
(a demo may call ``monkey.patch_all()``, which must not touch the server).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent


class ParamError(ValueError):
    """A demo parameter was missing a bound, of the wrong type, or unknown."""


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # "int" | "float" | "choice"
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""
    choices: tuple[str, ...] = ()

    def coerce(self, value: Any) -> Any:
        """Return ``value`` as this parameter's type, or raise ParamError saying why."""
        if self.type == "choice":
            if value not in self.choices:
                raise ParamError(
                    f"parameter {self.name!r} must be one of {', '.join(self.choices)}; "
                    f"got {value!r}"
                )
            return value
        if isinstance(value, bool):
            raise ParamError(f"parameter {self.name!r} must be {self.type}, not a boolean")
        if self.type == "int":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int):
                raise ParamError(
                    f"parameter {self.name!r} must be an integer, got {type(value).__name__}"
                )
        elif self.type == "float":
            if not isinstance(value, int | float) or not math.isfinite(value):
                raise ParamError(
                    f"parameter {self.name!r} must be a finite number, got {value!r}"
                )
            value = float(value)
        if self.min is not None and value < self.min:
            raise ParamError(f"parameter {self.name!r} must be >= {self.min}, got {value}")
        if self.max is not None and value > self.max:
            raise ParamError(f"parameter {self.name!r} must be <= {self.max}, got {value}")
        return value

    def describe(self) -> dict[str, Any]:
        info = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "help": self.help,
        }
        if self.choices:
            info["choices"] = list(self.choices)
        return info


def choice(name: str, default: str, choices: tuple[str, ...], help: str) -> Param:
    return Param(name, "choice", default, help=help, choices=choices)


@dataclass(frozen=True)
class Demo:
    id: str
    title: str
    description: str
    file: str
    params: tuple[Param, ...] = field(default=())
    #: Trace generator resumes/yields too (a profile hook: slower, so only where needed).
    generators: bool = False
    #: A contrast to run side by side: two (demo id, params) pairs, shown one above the other.
    compare: tuple[tuple[str, dict[str, Any]], ...] = ()
    #: When the code itself differs by variant: the ``variant`` param's value -> file.
    variant_files: dict[str, str] = field(default_factory=dict)
    #: Helper files of the demo whose lines are worth showing too.
    extra_files: tuple[str, ...] = ()

    #: Folder of the demo's files (this one for built-in demos).
    folder: Path = DEMO_DIR

    def file_for(self, params: dict[str, Any] | None = None) -> str:
        variant = (params or {}).get("variant")
        return self.variant_files.get(variant, self.file) if variant else self.file

    @property
    def path(self) -> Path:
        return self.folder / self.file

    def path_for(self, params: dict[str, Any] | None = None) -> Path:
        return self.folder / self.file_for(params)

    def user_files(self, params: dict[str, Any] | None = None) -> list[str]:
        return [str(self.path_for(params))] + [str(self.folder / f) for f in self.extra_files]

    def source(self, params: dict[str, Any] | None = None) -> str:
        return self.path_for(params).read_text(encoding="utf-8")

    def resolve_params(self, given: Any) -> dict[str, Any]:
        """Defaults overlaid with ``given``, each checked; raise ParamError if not valid."""
        if given is None:
            given = {}
        if not isinstance(given, dict):
            raise ParamError(f"params must be an object, got {type(given).__name__}")
        known = {p.name: p for p in self.params}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ParamError(
                f"unknown parameter {unknown[0]!r} for demo {self.id!r}; "
                f"known: {', '.join(known) or 'none'}"
            )
        return {name: p.coerce(given.get(name, p.default)) for name, p in known.items()}

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "file": self.file,
            "params": [p.describe() for p in self.params],
            "compare": [{"demo": d, "params": p} for d, p in self.compare],
        }


_EAT = Param("eat_seconds", "float", 2.0, 0.0, 10.0, "how long eat sleeps")
_PLAY = Param("play_seconds", "float", 1.0, 0.0, 10.0, "how long play sleeps")

DEMOS: dict[str, Demo] = {
    d.id: d
    for d in (
        Demo(
            id="yield_producer_consumer",
            title="yield: serial vs. send() to a generator",
            description=(
                "Serial: the producer builds the whole list, then the consumer gets it. "
                "yield: the producer send()s each item to a consumer generator, so the two "
                "switch back and forth once per item (one switch pair per send). Switching "
                "costs time: try n = 1000000 on both variants and compare the totals."
            ),
            file="yield_producer_consumer.py",
            params=(
                choice("variant", "yield", ("serial", "yield"), "serial list, or send() each item"),
                Param("n", "int", 5, 1, 1_000_000, "number of items"),
            ),
            generators=True,
            compare=(
                ("yield_producer_consumer", {"variant": "serial"}),
                ("yield_producer_consumer", {"variant": "yield"}),
            ),
        ),
        Demo(
            id="yield_blocking",
            title="yield + blocking: time.sleep stops everything",
            description=(
                "The producer still send()s each item to the consumer, but sleeps after each "
                "one. yield can switch only where the code says so: while time.sleep blocks "
                "the thread no task runs, and the timeline greys out every lane."
            ),
            file="yield_blocking.py",
            params=(
                Param("n", "int", 3, 1, 20, "number of items"),
                Param("seconds", "float", 0.5, 0.0, 3.0, "how long each time.sleep blocks"),
            ),
            generators=True,
        ),
        Demo(
            id="greenlet_eat_play",
            title="greenlet: explicit switch",
            description=(
                "Two plain greenlets hand control to each other with switch(). The first "
                "switch('egon') passes the name, later switches pass nothing. Nothing ever "
                "switches back to eat after play finishes: it stays paused at its last line."
            ),
            file="greenlet_eat_play.py",
        ),
        Demo(
            id="greenlet_switch_cost",
            title="greenlet: the cost of pure switching",
            description=(
                "Two loops of pure computation, first one after the other, then switching "
                "greenlets at every iteration. Without any I/O to wait for, switching only "
                "adds cost: compare the two wall times, their ratio and the ns per switch."
            ),
            file="greenlet_switch_cost.py",
            params=(
                choice("variant", "both", ("sequential", "switching", "both"),
                       "which loops to run"),
                Param("n", "int", 1000, 1, 2_000_000, "iterations of each loop"),
            ),
            compare=(
                ("greenlet_switch_cost", {"variant": "sequential", "n": 100_000}),
                ("greenlet_switch_cost", {"variant": "switching", "n": 100_000}),
            ),
        ),
        Demo(
            id="gevent_eat_play",
            title="gevent: spawn, join, joinall, value",
            description=(
                "Two greenlets spawned with gevent.spawn: eat sleeps 2 s, play sleeps 1 s. "
                "Each gevent.sleep switches to the Hub, which runs the other greenlet, so both "
                "start at once and the whole run takes about 2 s, not 3 s. Each function's "
                "return value is read back through .value."
            ),
            file="gevent_eat_play.py",
            params=(_EAT, _PLAY,
                    Param("joinall", "int", 0, 0, 1, "1: gevent.joinall([g1, g2]) instead of "
                          "g1.join(); g2.join()")),
        ),
        Demo(
            id="gevent_unpatched_sleep",
            title="gevent without monkey patching: time.sleep blocks",
            description=(
                "The same eat/play greenlets, but sleeping with time.sleep and no monkey "
                "patch. gevent cannot see that call: the whole thread blocks, the Hub never "
                "runs in between, and the total is the sum, 3 s. Compare with monkey.patch_all()."
            ),
            file="gevent_unpatched_sleep.py",
            params=(_EAT, _PLAY),
            compare=(("gevent_unpatched_sleep", {}), ("gevent_monkey_patch", {})),
        ),
        Demo(
            id="gevent_monkey_patch",
            title="gevent with monkey.patch_all(): time.sleep switches",
            description=(
                "monkey.patch_all() first, then the same code: time.sleep is now gevent's "
                "sleep, which parks the greenlet and switches to the Hub. Both sleeps "
                "overlap and the total is 2 s. Compare with the unpatched run."
            ),
            file="gevent_monkey_patch.py",
            params=(_EAT, _PLAY),
            compare=(("gevent_unpatched_sleep", {}), ("gevent_monkey_patch", {})),
        ),
        Demo(
            id="gevent_dummythread",
            title="gevent: greenlets as DummyThreads",
            description=(
                "After monkey.patch_all(), threading.current_thread() inside a greenlet "
                "returns a dummy Thread object (Dummy-1, Dummy-2; the tutorial's older Python "
                "called them DummyThread-n). They are greenlets, not OS threads: the name "
                "appears in each lane's label once the greenlet asks for it."
            ),
            file="gevent_dummythread.py",
            params=(_EAT, _PLAY),
        ),
        Demo(
            id="gevent_socket_server",
            title="gevent: a socket server for many clients",
            description=(
                "A gevent echo server on a free loopback port and C clients, each sending M "
                "messages. accept() and every recv() park their greenlet and switch to the "
                "Hub, which wakes whichever connection has data: one thread serves them all. "
                "In threads mode the clients are real OS threads, as in the tutorial."
            ),
            file="gevent_socket_server.py",
            params=(
                Param("clients", "int", 10, 1, 200, "number of concurrent clients"),
                Param("messages", "int", 3, 1, 100, "messages each client sends"),
                choice("mode", "greenlets", ("greenlets", "threads"),
                       "clients as greenlets, or as OS threads"),
            ),
        ),
        Demo(
            id="gevent_patch_order",
            title="Does patch order matter?",
            description=(
                "The tutorial says monkey.patch_all() must come before `from socket import *`; "
                "a reader answered that it need not. Measured here: both are right. "
                "`from socket import *` before patching copies the blocking socket class, so "
                "accept() blocks the whole thread (grey spans, timeouts, about 2 s); "
                "`import socket` before patching is fine, since socket.socket is looked up "
                "after the patch (switches to the Hub, a few ms)."
            ),
            file="patch_order_patch_first.py",
            params=(
                choice("variant", "patch_first",
                       ("patch_first", "star_import_first", "module_import_first"),
                       "where monkey.patch_all() stands relative to the socket import"),
                Param("clients", "int", 2, 1, 10, "echo clients"),
            ),
            variant_files={
                "patch_first": "patch_order_patch_first.py",
                "star_import_first": "patch_order_star_first.py",
                "module_import_first": "patch_order_module_first.py",
            },
            extra_files=("patch_order_echo.py",),
            compare=(
                ("gevent_patch_order", {"variant": "star_import_first"}),
                ("gevent_patch_order", {"variant": "patch_first"}),
            ),
        ),
        Demo(
            id="gevent_sync_async",
            title="gevent: synchronous vs. asynchronous",
            description=(
                "Ten tasks that each sleep 0.5 s. Synchronous: one after another, about 5 s. "
                "Asynchronous: all spawned then joined, so their sleeps overlap and the whole "
                "thing takes about 0.5 s."
            ),
            file="gevent_sync_async.py",
            params=(
                choice("variant", "async", ("sync", "async"), "one by one, or spawned"),
                Param("tasks", "int", 10, 1, 100, "number of tasks"),
                Param("seconds", "float", 0.5, 0.0, 2.0, "how long each task sleeps"),
            ),
            compare=(
                ("gevent_sync_async", {"variant": "sync"}),
                ("gevent_sync_async", {"variant": "async"}),
            ),
        ),
    )
}


def load_extra(registry_file: str | Path) -> list[str]:
    """Register the demos listed in another registry file; return their ids.

    The file is Python that defines ``DEMOS``, a list of :class:`Demo` whose files sit
    beside it (``coroscope serve --extra-demos FILE``: your own teaching material).
    """
    import runpy
    from dataclasses import replace

    path = Path(registry_file).resolve()
    namespace = runpy.run_path(str(path), run_name="coroscope_extra_demos")
    added = []
    for demo in namespace.get("DEMOS", []):
        if not isinstance(demo, Demo):
            raise TypeError(f"{path}: DEMOS must hold demos.Demo objects, got {demo!r}")
        if demo.id in DEMOS:
            raise ValueError(f"{path}: demo id {demo.id!r} is already registered")
        DEMOS[demo.id] = replace(demo, folder=path.parent)
        added.append(demo.id)
    return added

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
    type: str  # "int" | "float"
    default: Any
    min: float | None = None
    max: float | None = None
    help: str = ""

    def coerce(self, value: Any) -> Any:
        """Return ``value`` as this parameter's type, or raise ParamError saying why."""
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
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "help": self.help,
        }


@dataclass(frozen=True)
class Demo:
    id: str
    title: str
    description: str
    file: str
    params: tuple[Param, ...] = field(default=())
    #: Trace generator resumes/yields too (a profile hook: slower, so only where needed).
    generators: bool = False

    @property
    def path(self) -> Path:
        return DEMO_DIR / self.file

    def source(self) -> str:
        return self.path.read_text(encoding="utf-8")

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
        }


DEMOS: dict[str, Demo] = {
    d.id: d
    for d in (
        Demo(
            id="gevent_eat_play",
            title="gevent: spawn, sleep, join",
            description=(
                "Two greenlets spawned with gevent.spawn: eat sleeps 2 s, play sleeps 1 s. "
                "Each gevent.sleep switches to the Hub, which runs the other greenlet, so both "
                "start at once and the whole run takes about 2 s, not 3 s. Watch every switch "
                "go through the Hub."
            ),
            file="gevent_eat_play.py",
            params=(
                Param("eat_seconds", "float", 2.0, 0.0, 10.0, "how long eat sleeps"),
                Param("play_seconds", "float", 1.0, 0.0, 10.0, "how long play sleeps"),
            ),
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
                "greenlets at every iteration. Switching without any I/O to wait for only "
                "adds cost: compare the two wall times printed at the end."
            ),
            file="greenlet_switch_cost.py",
            params=(
                Param("n", "int", 1000, 1, 2_000_000, "iterations of each loop"),
            ),
        ),
    )
}

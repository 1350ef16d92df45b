"""coroscope: see coroutines switch.

Installed, this folder *is* the package ``coroscope`` (the wheel maps ``app/`` to
``coroscope/``, ``demos/`` to ``coroscope/demos``, and ``static/`` and ``templates/`` into
it: see pyproject.toml); in a checkout it is imported as ``app``, beside ``demos/``.
So code inside never names its own package: imports are relative, a child process is
started as ``python -m {PACKAGE}.runner.child``, and the demos come from ``_demos``.

This module stays import-light on purpose: the CLI must be able to monkey-patch the
server process with gevent before Flask loads, and the run's child process imports
``runner`` without ever importing Flask. ``coroscope.trace`` is loaded on first use, and
so are ``coroscope.show`` and the notebook extension (``notebook``, which needs IPython).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: This package's import name: "coroscope" installed, "app" in a checkout.
PACKAGE = __name__


def resources(name: str) -> Path:
    """``static`` or ``templates``: inside the package once installed, else the checkout's."""
    package = Path(__file__).resolve().parent
    inside = package / name
    return inside if inside.is_dir() else package.parent / name


def version() -> str:
    """The installed distribution's version (a checkout's, if installed editable)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as _version

    try:
        return _version("coroscope")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"


def create_app(config: dict[str, Any] | None = None):  # -> flask.Flask
    """The Flask application factory (see ``web``)."""
    from .web import build_app

    return build_app(config)


def __getattr__(name: str) -> Any:
    # The Python API, ``coroscope.trace(...)``: loaded when first asked for, so that
    # ``import coroscope`` (and the CLI) stays light.
    if name == "trace":
        from .tracing import trace

        return trace
    # Notebook support (``%load_ext coroscope`` looks up ``load_ipython_extension``):
    # IPython is imported only then, and only if installed (the ``notebook`` extra).
    if name in ("show", "load_ipython_extension"):
        from . import notebook

        return getattr(notebook, name)
    if name == "__version__":
        return version()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PACKAGE", "create_app", "resources", "trace", "version"]

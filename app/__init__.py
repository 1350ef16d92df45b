"""coroscope: see coroutines switch.

This module stays import-light on purpose: the CLI must be able to monkey-patch the
server process with gevent before Flask loads, and the run's child process imports
``app.runner`` without ever importing Flask.
"""

from __future__ import annotations

from typing import Any


def create_app(config: dict[str, Any] | None = None):  # -> flask.Flask
    """The Flask application factory (see ``app.web``)."""
    from .web import build_app

    return build_app(config)

"""The demo catalogue: ``coroscope.demos`` once installed, the checkout's ``demos/`` before.

The demos are the tutorial's examples as files a learner reads; they stay a folder of
their own at the top of the repository, and the wheel puts them inside the package
(see ``app/__init__.py``). Everything in the package imports them from here.
"""

from __future__ import annotations

try:
    from .demos import DEMOS, Demo, ParamError, load_extra
except ModuleNotFoundError as exc:
    if exc.name != f"{__package__}.demos":  # the demos themselves failed to import
        raise
    # A checkout: demos/ is beside app/.
    from demos import DEMOS, Demo, ParamError, load_extra  # type: ignore[no-redef]

__all__ = ["DEMOS", "Demo", "ParamError", "load_extra"]

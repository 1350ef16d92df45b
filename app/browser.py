"""Opening the dashboard in the user's browser without showing its secret to others.

The address the server prints carries its edit secret (``?edit=...``, see
``web.edit_refusal``). Given to the browser on its command line, that address would be
readable by every user of the machine in ``/proc/PID/cmdline``: the very users the
secret keeps out. So, as Jupyter does, the browser is given the path of a small page
instead, private to this user (0600, in a 0700 folder), that sends it on to the
address; only the path shows in a process list. The page is removed when this process
ends.
"""

from __future__ import annotations

import atexit
import html
import json
import os
import shutil
import tempfile
import webbrowser

_folder: list[str] = []


def _private_folder() -> str:
    if not _folder:
        folder = tempfile.mkdtemp(prefix="coroscope-open-")  # 0700
        _folder.append(folder)
        atexit.register(shutil.rmtree, folder, True)
    return _folder[0]


def redirect_page(url: str) -> str:
    """The path of a page, readable by this user only, that sends the browser to ``url``."""
    fd, path = tempfile.mkstemp(suffix=".html", dir=_private_folder())  # 0600
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(
            "<!doctype html><meta charset=utf-8><meta name=referrer content=no-referrer>"
            f'<meta http-equiv="refresh" content="0;url={html.escape(url, quote=True)}">'
            f"<script>location.replace({json.dumps(url)})</script>"
            f'<a href="{html.escape(url, quote=True)}">coroscope</a>\n')
    return path


def open_dashboard(url: str) -> bool:
    """Open ``url`` in the browser through a private redirect page (see the docstring)."""
    return webbrowser.open("file://" + redirect_page(url))

"""Opening the dashboard in the user's browser without showing its secret to others.

The address the server prints carries its edit secret (``?edit=...``, see
``web.edit_refusal``). Given to the browser on its command line, that address would be
readable by every user of the machine in ``/proc/PID/cmdline``: the very users the
secret keeps out. So, as Jupyter does, the browser is given the path of a small page
instead, private to this user (0600, in a 0700 folder), that sends it on to the
address; only the path shows in a process list. A page stays a while after its opener
has exited (a browser may read it late: `run --open` hands over and exits at once) and
is removed by a later opening once it is ten minutes old.
"""

from __future__ import annotations

import html
import json
import os
import stat
import tempfile
import time
import webbrowser

#: How long a redirect page is kept for a browser to read it.
KEEP_SECONDS = 600


def _private_folder() -> str:
    """This user's folder for redirect pages: made 0700; one that is not a folder of
    this user's with no access for others (planted by someone) is never used."""
    folder = os.path.join(tempfile.gettempdir(), f"coroscope-open-{os.getuid()}")
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(folder)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid() or st.st_mode & 0o077:
        return tempfile.mkdtemp(prefix="coroscope-open-")  # private, 0700, left behind
    for entry in os.scandir(folder):  # pages old enough to have been read
        try:
            if entry.stat(follow_symlinks=False).st_mtime < time.time() - KEEP_SECONDS:
                os.unlink(entry.path)
        except OSError:
            pass
    return folder


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

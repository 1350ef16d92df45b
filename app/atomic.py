"""Writing a file whole or not at all: the one way coroscope replaces a file.

The data goes to a new temporary file beside the target (created with ``O_EXCL`` and
``O_NOFOLLOW``: a link planted under that name is not followed), which is then renamed
over the target. A reader sees the old file or the new one, never half of one; a write
that fails leaves the target as it was and no temporary file behind.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable


def write_atomic(path: str | os.PathLike[str], data: bytes | Iterable[bytes], *,
                 mode: int = 0o666, fsync: bool = False,
                 before_replace: Callable[[], None] | None = None) -> None:
    """Write ``data`` (bytes, or pieces of bytes as they are produced) to ``path``.

    ``mode``: the new file's permissions (less the umask); ``fsync``: on disk before the
    rename (a history that must survive a crash); ``before_replace``: a last check, which
    may raise to keep the target as it was (the CLI's ``--out`` may have changed while
    the work was done).
    """
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.tmp{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 mode)
    try:
        with open(fd, "wb") as f:
            for chunk in [data] if isinstance(data, bytes) else data:
                f.write(chunk)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise

"""Files coroscope reads and writes on someone's behalf: never blocking, bounded, whole.

A trace named on the command line, a file uploaded for import, the history on disk: any
of them may be something else than a regular file (a FIFO would block a reader for
ever, ``/dev/zero`` never ends), bigger than anything coroscope wrote, or replaced while
it is read. The rules live here, once:

- :func:`open_regular` opens without blocking (``O_NONBLOCK``: a FIFO opens at once) and
  refuses what ``fstat`` of the open descriptor says is not a regular file; with
  ``O_NOFOLLOW`` in the flags (the history's files) a symbolic link is refused too.
- :func:`read_capped` reads at most ``cap`` bytes, checked before and while reading (a
  file may grow as it is read): :class:`TooBig` past it.
- :func:`write_atomic` replaces a file whole or not at all.

Refusals are :class:`Refused` (an ``OSError`` whose ``strerror`` is one sentence for the
user, starting with the file's name); callers word them for their place if they must.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Callable, Iterable

#: Read without blocking, never through a link, never becoming a controlling terminal.
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC


class Refused(OSError):
    """A file that is not read: not a regular file, a symbolic link, or too big."""


class NotRegular(Refused):
    """Not a regular file; ``kind`` says what it is (``a FIFO (named pipe)``)."""

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(errno.EINVAL, f"{name} is {kind}, not a regular file")
        self.kind = kind


class TooBig(Refused):
    """More than ``cap`` bytes: ``size`` as ``fstat`` said, or (``grew``) as read."""

    def __init__(self, name: str, size: int, cap: int, grew: bool = False) -> None:
        super().__init__(errno.EFBIG, f"{name} grew past the {cap >> 20} MiB it may have" if grew
                         else f"{name} is {size} bytes, more than the {cap >> 20} MiB it may have")
        self.size, self.cap, self.grew = size, cap, grew


def kind_of(mode: int) -> str:
    """What a file is, in words: ``a folder``, ``a FIFO (named pipe)``, ..."""
    for test, name in ((stat.S_ISREG, "a file"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "a special file"


def open_regular(path: str | os.PathLike[str], flags: int = READ_FLAGS, mode: int = 0o600,
                 name: str | None = None) -> int:
    """A descriptor of ``path`` if it is a regular file, else :class:`Refused` (any other
    ``OSError`` as ``os.open`` raised it). ``name`` starts the refusal's sentence (the
    file's name by default)."""
    name = name or os.path.basename(os.fspath(path))
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and flags & os.O_NOFOLLOW:
            raise Refused(errno.ELOOP, f"{name} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(name, kind_of(st.st_mode))
    except BaseException:
        os.close(fd)
        raise
    return fd


def refuse_bigger(fd: int, name: str, cap: int) -> int:
    """The size of the open file ``fd``; :class:`TooBig` if more than ``cap``."""
    size = os.fstat(fd).st_size
    if size > cap:
        raise TooBig(name, size, cap)
    return size


def read_capped(fd: int, name: str, cap: int, chunk: int = 16 << 20) -> bytes:
    """All of the open file ``fd``, at most ``cap`` bytes (:class:`TooBig` past it)."""
    refuse_bigger(fd, name, cap)
    chunks = []
    total = 0
    while total <= cap:
        data = os.read(fd, min(cap + 1 - total, chunk))
        if not data:
            return b"".join(chunks)
        chunks.append(data)
        total += len(data)
    raise TooBig(name, total, cap, grew=True)


def read_regular(path: str | os.PathLike[str], cap: int, flags: int = READ_FLAGS,
                 name: str | None = None) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``cap`` bytes."""
    name = name or os.path.basename(os.fspath(path))
    fd = open_regular(path, flags, name=name)
    try:
        return read_capped(fd, name, cap)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes | Iterable[bytes], *,
                 mode: int = 0o666, fsync: bool = False,
                 before_replace: Callable[[], None] | None = None) -> None:
    """Write ``data`` (bytes, or pieces of bytes as they are produced) to ``path``, whole
    or not at all.

    The data goes to a new temporary file beside the target (created with ``O_EXCL`` and
    ``O_NOFOLLOW``: a link planted under that name is not followed), which is then renamed
    over the target. A reader sees the old file or the new one, never half of one; a
    write that fails leaves the target as it was and no temporary file behind.

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

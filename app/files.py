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
- A trace may be gzip-compressed: a name ending in ``.gz`` is written compressed
  (:func:`gzip_if_named`), and what is read is unpacked if it starts with gzip's magic
  bytes, whatever its name (:func:`unpack_trace`), up to the same cap as a plain one.

Refusals are :class:`Refused` (an ``OSError`` whose ``strerror`` is one sentence for the
user, starting with the file's name); callers word them for their place if they must.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
import zlib
from collections.abc import Callable, Iterable, Iterator

#: The largest trace coroscope reads, plain or unpacked: a 2-million-event trace is about
#: 180 MB, and a trace is parsed into objects several times its size. The dashboard's
#: import (MAX_CONTENT_LENGTH), ``export``, ``serve FILE`` and the importer share it.
MAX_TRACE_BYTES = 256 << 20
#: The first bytes of every gzip stream.
GZIP_MAGIC = b"\x1f\x8b"
#: zlib's level for traces written compressed: 6 (gzip's default) packs a switch-heavy
#: trace about 12x (84 MB in 0.47 s here); 9 saves 2 per cent more in 5x the time.
GZIP_LEVEL = 6

#: Read without blocking, never through a link, never becoming a controlling terminal.
READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC
#: A file the user named (a trace to import or show): a link to it is followed.
NAMED_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


class Refused(OSError):
    """A file that is not read: not a regular file, a symbolic link, or too big."""


class NotRegular(Refused):
    """Not a regular file; ``kind`` says what it is (``a FIFO (named pipe)``)."""

    def __init__(self, name: str, kind: str) -> None:
        super().__init__(errno.EINVAL, f"{name} is {kind}, not a regular file")
        self.kind = kind


class TooBig(Refused):
    """More than ``cap`` bytes: ``size`` as ``fstat`` said, or (``grew``) as read."""

    def __init__(self, name: str, size: int, cap: int, grew: bool = False,
                 why: str = "") -> None:
        super().__init__(errno.EFBIG, why or (
            f"{name} grew past the {cap >> 20} MiB it may have" if grew
            else f"{name} is {size} bytes, more than the {cap >> 20} MiB it may have"))
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


def gzip_chunks(chunks: Iterable[bytes], level: int = GZIP_LEVEL) -> Iterator[bytes]:
    """``chunks`` as one gzip stream, compressed as they come (nothing held whole)."""
    packer = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        out = packer.compress(chunk)
        if out:
            yield out
    yield packer.flush()


def gzip_if_named(path: str | os.PathLike[str], chunks: Iterable[bytes]) -> Iterable[bytes]:
    """``chunks`` compressed if ``path`` ends in ``.gz`` (``trace.json.gz``), else as they are."""
    return gzip_chunks(chunks) if os.fspath(path).endswith(".gz") else chunks


def unpack_trace(data: bytes, name: str, cap: int = MAX_TRACE_BYTES) -> bytes:
    """``data`` unpacked if it is gzip (by its magic bytes, not its name), else as it is.

    Unpacked a slice at a time and refused (:class:`TooBig`) past ``cap``: 1 MB of gzip
    can hold 1 GB of zeros. Streams written one after another (``cat a.gz b.gz``) are
    read as one, as gzip itself does; :class:`Refused` if the data is not valid gzip.
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    out: list[bytes] = []
    total = 0
    rest = data
    try:
        while rest.startswith(GZIP_MAGIC):
            unpacker = zlib.decompressobj(16 + zlib.MAX_WBITS)
            piece = rest
            while piece:
                chunk = unpacker.decompress(piece, cap + 1 - total)
                total += len(chunk)
                if total > cap:
                    raise TooBig(name, total, cap, grew=True, why=(
                        f"{name} unpacks to more than the {cap >> 20} MiB a trace may have"))
                out.append(chunk)
                piece = unpacker.unconsumed_tail
            if not unpacker.eof:
                raise Refused(errno.EINVAL, f"{name} is cut short: its gzip stream does not end")
            rest = unpacker.unused_data
    except zlib.error as exc:
        raise Refused(errno.EINVAL, f"{name} is not valid gzip ({exc})") from None
    return b"".join(out)

"""Durable, atomic writes of small files: temporary, fsync, rename, fsync directory.

Readers see the old file or the new one, never a part. Every failure names the
file it was writing, so a full disk says which disk.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from gitversions.errors import UnsafePathError, naming
from gitversions.fs.dirfd import opened_dir, same_file, step

__all__ = ["atomic_write", "atomic_write_at", "fsync_dir", "sync", "write_all"]


def atomic_write(path: Path, chunks: Iterable[bytes], mode: int = 0o644) -> None:
    """Replace ``path`` with ``chunks``: temp file, fsync, rename, fsync directory.

    Readers see the old file or the new one, never a part; a crash leaves at
    most a hidden ``.<name>.tmp-*`` beside it. A symlink at ``path`` is
    replaced, never written through; the directory is opened once and every
    step works relative to it, so a directory swapped in meanwhile is not
    written to.

    Args:
        path: The file to (re)place.
        chunks: Its new content.
        mode: Its permission bits.
    """
    with opened_dir(path.parent, follow=True) as dir_fd:
        atomic_write_at(dir_fd, path.name, chunks, mode, path=path)


def atomic_write_at(
    dir_fd: int,
    name: str,
    chunks: Iterable[bytes],
    mode: int = 0o644,
    *,
    path: Path | None = None,
) -> None:
    """:func:`atomic_write` of ``name`` inside the open directory ``dir_fd``.

    ``path`` (default: ``name``) is what an error, such as a full disk, names.
    """
    path = path or Path(name)
    tmp = f".{name}.tmp-{os.getpid()}-{os.urandom(4).hex()}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(tmp, flags | getattr(os, "O_NOFOLLOW", 0), 0o600, dir_fd=dir_fd)
        try:
            for chunk in chunks:
                write_all(fd, chunk, path)
            os.fchmod(fd, mode)
            sync(fd, path)
            step("replace", name)
            os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            # Still open, so its inode cannot have been reused by a swapped-in name.
            if not same_file(os.lstat(name, dir_fd=dir_fd), os.fstat(fd)):
                raise UnsafePathError(
                    f"{name} changed while gitversions was writing it (its "
                    "temporary was replaced); nothing was written through it"
                )
        finally:
            os.close(fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    os.fsync(dir_fd)


def fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:  # pragma: no cover - Windows cannot open directories
        return
    try:
        sync(fd, path)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes, path: Path) -> None:
    """Write all of ``data`` to ``fd``; a failure (a full disk) names ``path``."""
    view = memoryview(data)
    with naming(path):
        while view:
            view = view[os.write(fd, view) :]


def sync(fd: int, path: Path) -> None:
    """``fsync`` ``fd``; a failure (a full disk, an I/O error) names ``path``."""
    with naming(path):
        os.fsync(fd)

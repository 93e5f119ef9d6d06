"""Writing inside directories that others can change while we write.

A restore or an export writes into a directory a user (or a program of theirs)
can also write. Working by path there is a race: a name checked a moment ago
can be a symlink to somewhere else by the time it is used. So every step here
works relative to an open directory file descriptor, and never follows a
symlink in a name it did not get from the user:

- a directory is opened once (``O_DIRECTORY | O_NOFOLLOW``) and everything
  inside it is created relative to that descriptor, files with ``O_EXCL``;
- a rename or exchange checks, before and after, that the names still hold
  the inodes it opened, and undoes itself and stops if they do not;
- removal walks descriptors too, so it deletes only what it opened.

A test can pause every step through :data:`race_hook` and swap names under it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    ALL_COMPLETED,
    FIRST_COMPLETED,
    Future,
    ThreadPoolExecutor,
    wait,
)
from pathlib import Path
from typing import Literal

from gitversions.errors import UnsafePathError

__all__ = [
    "TreeBuilder",
    "carry_over",
    "clear_dir",
    "exchange_at",
    "lstat_at",
    "open_dir",
    "opened_dir",
    "race_hook",
    "remove_at",
    "same_file",
    "step",
]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

# Called with a step name and a path before each step that could be raced;
# tests set it to swap names in between. None in normal use.
race_hook: Callable[[str, str], None] | None = None


def step(name: str, where: str | Path) -> None:
    """Let a test act at ``name`` (a no-op unless :data:`race_hook` is set)."""
    if race_hook is not None:
        race_hook(name, str(where))


def open_dir(
    path: str | Path, *, dir_fd: int | None = None, follow: bool = False
) -> int:
    """Open a directory for ``*at`` calls; never through a final symlink.

    Args:
        path: The directory (relative to ``dir_fd`` when given).
        dir_fd: The directory ``path`` is relative to.
        follow: Follow a symlink in the last component: only for a path the
            user typed, whose symlinks are theirs to choose.

    Raises:
        UnsafePathError: If the name is a symlink or not a directory.
    """
    flags = _DIR_FLAGS | (0 if follow else _NOFOLLOW)
    try:
        return os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafePathError(
                f"{os.fsdecode(path)} is no longer a directory (a symlink or file "
                "appeared there while gitversions was writing); nothing was "
                "written through it"
            ) from None
        raise


def same_file(a: os.stat_result, b: os.stat_result) -> bool:
    """Tell whether two stat results name the same inode (of the same type)."""
    return (a.st_dev, a.st_ino, stat.S_IFMT(a.st_mode)) == (
        b.st_dev,
        b.st_ino,
        stat.S_IFMT(b.st_mode),
    )


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` a name inside ``dir_fd``; None if nothing is there."""
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None


_renameat2: Callable[..., int] | Literal[False] | None = False


def exchange_at(dir_fd: int, a: str, b: str) -> bool:
    """Atomically swap two names in one directory; False where the system cannot.

    Uses ``renameat2(RENAME_EXCHANGE)`` (Linux). Errors other than "not
    supported here" are raised.
    """
    global _renameat2
    if _renameat2 is False:
        try:
            _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):  # pragma: no cover - non-glibc systems
            _renameat2 = None
    if _renameat2 is None:  # pragma: no cover - non-glibc systems
        return False
    rename_exchange = 2
    if _renameat2(dir_fd, os.fsencode(a), dir_fd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # pragma: no cover
        return False  # an old kernel, or a filesystem without exchange
    raise OSError(code, os.strerror(code), b)


@contextlib.contextmanager
def opened_dir(
    path: str | Path, *, dir_fd: int | None = None, follow: bool = False
) -> Iterator[int]:
    """:func:`open_dir` as a context manager that closes the descriptor."""
    fd = open_dir(path, dir_fd=dir_fd, follow=follow)
    try:
        yield fd
    finally:
        os.close(fd)


def remove_at(dir_fd: int, name: str, expect: os.stat_result | None = None) -> None:
    """Delete ``name`` inside ``dir_fd`` and, for a directory, all it holds.

    Never follows a symlink; a directory is emptied through the descriptor
    it was opened with, so a name swapped meanwhile cannot redirect it.
    Directories made read-only are made writable first. A missing name is
    not an error.

    Args:
        dir_fd: The directory holding ``name``.
        name: The entry to delete.
        expect: If given, delete only if ``name`` is still this inode.

    Raises:
        UnsafePathError: If ``name`` is no longer ``expect``.
    """
    st = lstat_at(dir_fd, name)
    if st is None:
        return
    if expect is not None and not same_file(st, expect):
        raise UnsafePathError(
            f"{name} changed while gitversions was removing it; left alone"
        )
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    fd = open_dir(name, dir_fd=dir_fd)
    try:
        if not same_file(os.fstat(fd), st):
            raise UnsafePathError(f"{name} changed while gitversions was removing it")
        clear_dir(fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def clear_dir(fd: int) -> None:
    """Delete everything inside the open directory ``fd``."""
    if not os.fstat(fd).st_mode & stat.S_IWUSR:
        os.fchmod(fd, 0o700)  # made read-only by hand or by an export
    with os.scandir(fd) as entries:
        names = [entry.name for entry in entries]
    for child in names:
        remove_at(fd, child)


class _Dir:
    """An open directory, closed (after an fsync) when its last user lets go."""

    def __init__(self, fd: int, refs: int = 1) -> None:
        self.fd = fd
        self.refs = refs


class TreeBuilder:
    """Builds a tree of new directories and files below one open directory.

    Directories are made and opened one by one (``O_NOFOLLOW``), so a name
    swapped for a symlink meanwhile is refused, never written through; files
    are written by jobs given the descriptor of their directory, a few at a
    time in threads (decompression, writes and fsyncs release the GIL).
    Descriptors are closed as soon as nothing needs them: at most the depth
    of the tree plus the jobs in flight are open at once. Each directory is
    fsynced once everything in it exists.
    """

    def __init__(self, root_fd: int, *, threads: int = 4) -> None:
        self._root = _Dir(root_fd, refs=2)  # never closed here: the caller's
        self._open: list[tuple[str, _Dir]] = []  # the path from the root down
        self._made: dict[str, os.stat_result] = {}
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._errors: list[OSError] = []

    def directory(self, parts: Sequence[str]) -> _Dir:
        """The directory at ``parts`` below the root, made if new."""
        common = 0
        while (
            common < len(self._open)
            and common < len(parts)
            and self._open[common][0] == parts[common]
        ):
            common += 1
        for _name, left in reversed(self._open[common:]):
            self._release(left)
        del self._open[common:]
        current = self._open[-1][1] if self._open else self._root
        for depth in range(common, len(parts)):
            current = self._enter(current, parts[: depth + 1])
            self._open.append((parts[depth], current))
        return current

    def _enter(self, parent: _Dir, parts: Sequence[str]) -> _Dir:
        rel, name = "/".join(parts), parts[-1]
        step("mkdir", rel)
        try:
            os.mkdir(name, 0o755, dir_fd=parent.fd)
        except FileExistsError:
            if rel not in self._made:
                raise UnsafePathError(
                    f"tree entry {rel!r} is written twice, or through a file"
                ) from None
        step("opendir", rel)
        fd = open_dir(name, dir_fd=parent.fd)
        st = os.fstat(fd)
        if rel in self._made and not same_file(st, self._made[rel]):
            os.close(fd)
            raise UnsafePathError(f"{rel} was replaced while gitversions wrote it")
        self._made[rel] = st
        return _Dir(fd)

    def run(self, where: _Dir, job: Callable[[int], None], *, threaded: bool) -> None:
        """Run ``job(fd)`` for the directory ``where``, now or in a thread."""
        if not threaded or self._threads <= 1:
            job(where.fd)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads)
        if len(self._pending) >= 8 * self._threads:
            self._wait(FIRST_COMPLETED)
        with self._lock:
            where.refs += 1
        future = self._pool.submit(job, where.fd)
        future.add_done_callback(lambda _f: self._release(where))
        self._pending.add(future)

    def _wait(self, how: str) -> None:
        done, self._pending = wait(self._pending, return_when=how)
        for future in done:
            future.result()  # raises the job's error

    def _release(self, where: _Dir) -> None:
        with self._lock:
            where.refs -= 1
            last = where.refs == 0
        if last:
            try:
                os.fsync(where.fd)
            except OSError as exc:  # may run in a thread: raised by finish()
                self._errors.append(exc)
            finally:
                os.close(where.fd)

    def finish(self) -> None:
        """Wait for every job, fsync and close every directory; raise a job's error."""
        try:
            self._wait(ALL_COMPLETED)
        finally:
            self.close()
        if self._errors:
            raise self._errors[0]
        os.fsync(self._root.fd)

    def close(self) -> None:
        """Stop: wait for running jobs (errors ignored) and close what is open."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            for future in self._pending:
                future.cancel()
            try:
                pool.shutdown(wait=True)
            except BaseException:
                # Interrupted (a second Ctrl-C): still let the writers stop
                # before anyone removes the directory they write into.
                pool.shutdown(wait=True)
                raise
        self._pending = set()
        for _name, left in reversed(self._open):
            with contextlib.suppress(OSError):
                self._release(left)
        self._open = []


def swap_in(
    parent_fd: int,
    new: str,
    new_st: os.stat_result,
    target: str,
    *,
    expect: os.stat_result | None = None,
    keep: Sequence[str] = (),
) -> None:
    """Put ``new`` at ``target`` (names in ``parent_fd``), atomically where possible.

    The old entry at ``target`` is exchanged out and deleted. Both names
    are checked before and after the exchange; if either holds another inode
    (someone swapped a name meanwhile) the exchange is undone and nothing
    else is touched.

    Args:
        parent_fd: The directory holding both names.
        new: The complete new entry.
        new_st: What ``new`` must be (its ``stat`` when it was made).
        target: Where it goes.
        expect: What ``target`` must be, if the caller checked it earlier
            (None: whatever is there, or nothing).
        keep: Relative paths of the old directory carried into the new one
            (a working copy's ``.git``, what snapshots exclude) unless the new
            one holds them; their parents are made as needed.

    Raises:
        UnsafePathError: If a name changed under it.
    """
    step("swap", target)
    here = lstat_at(parent_fd, new)
    if here is None or not same_file(here, new_st):
        raise UnsafePathError(
            f"{new} was replaced while gitversions was writing it; "
            f"{target} was left as it was"
        )
    old = lstat_at(parent_fd, target)
    if expect is not None and (old is None or not same_file(old, expect)):
        raise UnsafePathError(
            f"{target} changed after gitversions checked it; it was left as it is"
        )
    if old is None:
        os.rename(new, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        _check_names(parent_fd, target, new_st)
        return
    if exchange_at(parent_fd, new, target):
        gone = new  # now holds the old entry
    else:  # pragma: no cover - systems without an atomic exchange
        gone = f".{target}.tmp-old-{os.urandom(4).hex()}"
        os.rename(target, gone, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
        os.rename(new, target, src_dir_fd=parent_fd, dst_dir_fd=parent_fd)
    step("swapped", target)
    try:
        _check_names(parent_fd, target, new_st, gone, old)
    except UnsafePathError:
        if gone == new:
            exchange_at(parent_fd, new, target)  # undo: put back what was there
        raise
    if keep and stat.S_ISDIR(old.st_mode):
        carry_over(parent_fd, gone, old, target, new_st, keep)
    remove_at(parent_fd, gone, expect=old)


def _check_names(
    parent_fd: int,
    target: str,
    new_st: os.stat_result,
    gone: str | None = None,
    old: os.stat_result | None = None,
) -> None:
    here = lstat_at(parent_fd, target)
    there = lstat_at(parent_fd, gone) if gone is not None else None
    if (
        here is None
        or not same_file(here, new_st)
        or (old is not None and (there is None or not same_file(there, old)))
    ):
        raise UnsafePathError(
            f"{target} changed while gitversions was replacing it; "
            "what was there was put back"
        )


def carry_over(
    parent_fd: int,
    gone: str,
    old: os.stat_result,
    target: str,
    new_st: os.stat_result,
    keep: Sequence[str],
) -> None:
    """Move each ``keep`` path from the old directory into the new one."""
    with (
        opened_dir(gone, dir_fd=parent_fd) as old_fd,
        opened_dir(target, dir_fd=parent_fd) as new_fd,
    ):
        if not (
            same_file(os.fstat(old_fd), old) and same_file(os.fstat(new_fd), new_st)
        ):
            raise UnsafePathError(
                f"{target} changed while gitversions was replacing it"
            )
        for path in keep:
            step("carry", path)
            *parents, name = path.split("/")
            with (
                _walk(old_fd, parents, make=False) as src,
                _walk(new_fd, parents, make=True) as dst,
            ):
                if src is None or dst is None or lstat_at(src, name) is None:
                    continue
                if lstat_at(dst, name) is not None:
                    continue  # the version's own entry (restore --force chose it)
                os.rename(name, name, src_dir_fd=src, dst_dir_fd=dst)


@contextlib.contextmanager
def _walk(top: int, parts: Sequence[str], *, make: bool) -> Iterator[int | None]:
    """Open the directory ``parts`` below ``top`` (None if it is not one)."""
    opened: list[int] = []
    fd = top
    try:
        for part in parts:
            if make:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            try:
                fd = open_dir(part, dir_fd=fd)
            except (UnsafePathError, FileNotFoundError):
                yield None
                return
            opened.append(fd)
        yield fd
    finally:
        for each in opened:
            os.close(each)

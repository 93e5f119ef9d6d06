"""A per-artifact lock that dies with its holder: exclusive, or shared by readers.

Writers take it exclusively; readers that must see one consistent state of the
artifact (``verify``) take it shared. It is an OS advisory lock (``flock`` on
POSIX, ``msvcrt.locking`` on Windows) on a small file. The kernel releases it
when the holding process ends, however it ends, so a crashed writer never
blocks the next one. A writer records its pid and command in the file for the
timeout message; readers share the lock with each other (on Windows, which has
no shared mode, they take it exclusively) and write nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from gitversions.errors import LockTimeoutError, naming

__all__ = ["artifact_lock", "held_since"]

_POLL_SECONDS = 0.02

# When this process took each lock it holds (by absolute path): a writer's
# temporaries older than that belong to an earlier, finished holder.
_HELD: dict[str, float] = {}
# How many shared holds this process has on each lock (by absolute path).
_SHARED: dict[str, int] = {}


def held_since(path: Path) -> float | None:
    """Return when this process took the lock at ``path``, or None if not held."""
    return _HELD.get(os.path.abspath(path))


def _try_lock(fd: int, shared: bool = False) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "another process"
    return text or "another process"


def _open(path: Path, shared: bool) -> int | None:
    """Open the lock file; None for a reader that cannot create a missing one.

    A reader opens an existing file read-only, so ``verify`` works in a store
    it may not write to. Where it can create no lock file (a read-only store,
    a disk without a free inode), it reads unlocked: no writer of that store
    can be running where files cannot be created.
    """
    if shared and sys.platform != "win32":  # Windows locks exclusively anyway
        try:
            return os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            pass
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


def _open_locked(path: Path, timeout: float, what: str, shared: bool) -> int | None:
    deadline = time.monotonic() + timeout
    while True:
        fd = _open(path, shared)
        if fd is None:
            return None
        try:
            while not _try_lock(fd, shared):
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        f"{what} is locked by {_holder(path)}; gave up after "
                        f"{timeout:g}s (raise lock_timeout in gitversions.toml, or "
                        "wait for that process to finish; a lock is freed when its "
                        "process ends)"
                    )
                time.sleep(_POLL_SECONDS)
            # The holder before us may have deleted the file (a failed first
            # snapshot removes its artifact): then our lock guards nothing.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            held = os.fstat(fd)
            if current is not None and (current.st_ino, current.st_dev) == (
                held.st_ino,
                held.st_dev,
            ):
                return fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


@contextlib.contextmanager
def artifact_lock(
    path: Path, timeout: float, what: str, *, shared: bool = False
) -> Iterator[None]:
    """Hold the lock at ``path`` for the duration of the block.

    Args:
        path: The lock file; created (with its directory) if missing. Its
            holder may delete it: waiters notice and lock the new file.
        timeout: Seconds to wait before giving up.
        what: What is being locked, for the error message.
        shared: Take it shared, as a reader: other readers may hold it at
            the same time, writers may not. A process that already holds
            the lock (either way) is not made to wait for itself.

    Raises:
        LockTimeoutError: If the lock is still held after ``timeout`` seconds.
    """
    key = os.path.abspath(path)
    if shared:
        with _shared_lock(path, key, timeout, what):
            yield
        return
    fd = _open_locked(path, timeout, what, shared=False)
    assert fd is not None  # a writer creates the file or fails
    _HELD[key] = time.time()
    try:
        # Tell a waiting process who holds the lock.
        with naming(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv[:3])})\n".encode(), 0)
        yield
    finally:
        _HELD.pop(key, None)
        # A reader taking it next writes nothing: name no holder that left.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def _shared_lock(path: Path, key: str, timeout: float, what: str) -> Iterator[None]:
    """Hold ``path`` shared; re-entrant within this process."""
    if key in _HELD or _SHARED.get(key):
        # flock conflicts between two descriptors of one process: taking it
        # again would wait for ourselves.
        _SHARED[key] = _SHARED.get(key, 0) + 1
        try:
            yield
        finally:
            _SHARED[key] -= 1
        return
    fd = _open_locked(path, timeout, what, shared=True)
    _SHARED[key] = 1
    try:
        yield
    finally:
        _SHARED.pop(key, None)
        if fd is not None:
            os.close(fd)

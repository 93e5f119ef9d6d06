"""A per-artifact writer lock that dies with its holder.

The lock is an OS advisory lock (``flock`` on POSIX, ``msvcrt.locking`` on
Windows) on a small file. The kernel releases it when the holding process ends,
however it ends, so a crashed writer never blocks the next one. The file records
the holder's pid and command for the timeout message.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import LockTimeoutError, naming

__all__ = ["artifact_lock", "held_since"]

_POLL_SECONDS = 0.02

# When this process took each lock it holds (by absolute path): a writer's
# temporaries older than that belong to an earlier, finished holder.
_HELD: dict[str, float] = {}


def held_since(path: Path) -> float | None:
    """Return when this process took the lock at ``path``, or None if not held."""
    return _HELD.get(os.path.abspath(path))


def _try_lock(fd: int) -> bool:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return "another process"
    return text or "another process"


def _open_locked(path: Path, timeout: float, what: str) -> int:
    deadline = time.monotonic() + timeout
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            while not _try_lock(fd):
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
def artifact_lock(path: Path, timeout: float, what: str) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` for the duration of the block.

    Args:
        path: The lock file; created (with its directory) if missing. Its
            holder may delete it: waiters notice and lock the new file.
        timeout: Seconds to wait before giving up.
        what: What is being locked, for the error message.

    Raises:
        LockTimeoutError: If the lock is still held after ``timeout`` seconds.
    """
    fd = _open_locked(path, timeout, what)
    key = os.path.abspath(path)
    _HELD[key] = time.time()
    try:
        # Tell a waiting process who holds the lock.
        with naming(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} ({' '.join(sys.argv[:3])})\n".encode(), 0)
        yield
    finally:
        _HELD.pop(key, None)
        os.close(fd)  # closing the descriptor releases the lock

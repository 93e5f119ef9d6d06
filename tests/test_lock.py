"""The artifact lock: exclusive for writers, shared by readers, freed with holders."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import gitversions
from gitversions.errors import LockTimeoutError
from gitversions.fs.lock import artifact_lock

# Holds the lock at argv[1] (shared if argv[2] == "shared") until killed.
HOLDER = """
import sys, time
from pathlib import Path
from gitversions.fs.lock import artifact_lock
shared = sys.argv[2] == "shared"
with artifact_lock(Path(sys.argv[1]), 5, "artifact 'skill'", shared=shared):
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, Callable[[str], int]]]:
    """Start a process holding the lock; yields a function taking the mode."""
    path = tmp_path / "home" / ".lock"
    children: list[subprocess.Popen[str]] = []

    def hold(mode: str) -> int:
        child = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), mode],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(gitversions.__file__).parent.parent,
        )
        children.append(child)
        assert child.stdout is not None
        assert child.stdout.readline() == "locked\n"
        return child.pid

    yield path, hold
    for child in children:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def test_readers_share_the_lock(holder: tuple[Path, Callable[[str], int]]) -> None:
    path, hold = holder
    hold("shared")
    with artifact_lock(path, 0, "artifact 'skill'", shared=True):
        pass


def test_a_reader_keeps_writers_out(holder: tuple[Path, Callable[[str], int]]) -> None:
    path, hold = holder
    hold("shared")
    with (
        pytest.raises(LockTimeoutError) as info,
        artifact_lock(path, 0, "artifact 'skill'"),
    ):
        pass  # pragma: no cover - must not be reached
    # A reader writes nothing into the file: no earlier writer is named.
    assert "is locked by another process" in str(info.value)


def test_a_writer_keeps_readers_out_and_is_named(
    holder: tuple[Path, Callable[[str], int]],
) -> None:
    path, hold = holder
    pid = hold("exclusive")
    with (
        pytest.raises(LockTimeoutError, match=f"locked by pid {pid} "),
        artifact_lock(path, 0, "artifact 'skill'", shared=True),
    ):
        pass  # pragma: no cover - must not be reached


def test_a_process_never_waits_for_its_own_lock(tmp_path: Path) -> None:
    """verify called inside a writer's lock, or inside another verify, goes on."""
    path = tmp_path / ".lock"
    with artifact_lock(path, 0, "x"), artifact_lock(path, 0, "x", shared=True):
        pass
    with artifact_lock(path, 0, "x", shared=True):
        with artifact_lock(path, 0, "x", shared=True):
            pass
        with artifact_lock(path, 0, "x", shared=True):
            pass
    with artifact_lock(path, 0, "x"):  # every hold was given back
        pass


def test_a_reader_that_cannot_create_the_lock_file_reads_unlocked(
    tmp_path: Path,
) -> None:
    """A store that cannot be written to has no writer to wait for."""
    path = tmp_path / "missing" / ".lock"
    with artifact_lock(path, 0, "x", shared=True):
        pass
    assert not path.parent.exists()


def test_a_reader_creates_a_missing_lock_file_and_locks_it(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with artifact_lock(path, 0, "x", shared=True):
        assert path.is_file()


def test_a_released_writer_lock_names_nobody(tmp_path: Path) -> None:
    path = tmp_path / ".lock"
    with artifact_lock(path, 0, "x"):
        assert path.read_text().startswith("pid ")
    assert path.read_text() == ""

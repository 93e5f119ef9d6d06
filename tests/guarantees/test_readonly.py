"""A read-only store: reading works, writing fails in one line, nothing changes.

The store is copied onto a small tmpfs, which is then remounted read-only (as
root; skipped with the reason elsewhere): a store on a read-only medium, a
snapshot of a backup, a CI cache. Every command that only reads (``log``,
``show``, ``diff``, ``list``, ``verify``, ``export --to`` elsewhere) works;
every command that writes fails with one line naming the read-only file system
and status 1, never a traceback. Once the disk is writable again the store is
exactly as it was and passes ``git fsck --strict`` and ``verify``.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import listing_of
from test_faults import GV, _check_whole, _make_store, _write_files

pytestmark = pytest.mark.faults

READS = [
    ["log", "demo"],
    ["show", "demo", "latest"],
    ["diff", "demo", "v1", "v2"],
    ["list"],
    ["verify", "demo"],
    ["export", "demo", "--to", "{out}"],
]
WRITES = [
    ["snapshot", "demo", "{src}"],
    ["export", "demo"],
    ["gc", "demo"],
    ["prune", "demo", "--keep", "1"],
    ["snapshot", "other", "{src}"],
]


@pytest.fixture
def readonly_store(tmp_path: Path, mount: Callable[[str], Path]) -> tuple[Path, Path]:
    disk = mount("size=16m")
    _make_store(disk / "store", tmp_path / "src", versions=3).close()
    _write_files(tmp_path / "src", 7)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    return disk, tmp_path


def _gv(root: Path, args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    argv = [a.format(out=tmp / "out", src=tmp / "src") for a in args]
    return subprocess.run(
        [*GV, "--root", str(root), *argv], capture_output=True, text=True, check=False
    )


def test_a_read_only_store_reads_and_refuses_writes_in_one_line(
    readonly_store: tuple[Path, Path], figures: collections.Counter[str]
) -> None:
    disk, tmp = readonly_store
    root = disk / "store"
    before = listing_of(root)
    for args in READS:
        proc = _gv(root, args, tmp)
        assert proc.returncode == 0, (args, proc.stderr)
        figures["read-only store: reading commands that worked"] += 1
    for args in WRITES:
        proc = _gv(root, args, tmp)
        assert proc.returncode == 1, (args, proc.stdout, proc.stderr)
        lines = proc.stderr.splitlines()
        assert len(lines) == 1, (args, proc.stderr)
        assert lines[0].startswith("gitversions: error: "), (args, proc.stderr)
        assert "Read-only file system" in lines[0], (args, proc.stderr)
        figures["read-only store: writing commands refused in one line"] += 1
    assert listing_of(root) == before
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    _check_whole(root)
    shutil.rmtree(tmp / "out", ignore_errors=True)

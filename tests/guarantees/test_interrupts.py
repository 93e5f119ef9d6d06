"""Ctrl-C at seeded instants of every long command: one line, status 130, nothing left.

Each run sends the command a SIGINT at the N-th call of one file operation
(``crash_harness.py wrap --signal INT``), N and the operation drawn from a
seeded generator, so a failure names its seed and reproduces. Whatever the
instant: the command ends with ``gitversions: interrupted`` and status 130 (or
finishes, if it made fewer calls than N), leaves no lock or temporary, the
history passes ``git fsck --strict`` and ``verify``, and the next command works.

Default run: 4 instants per command; ``--full``: 40 (``GITVERSIONS_INTERRUPTS``).
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import subprocess
from pathlib import Path

import crash_harness as harness
import pytest
from test_faults import GV, _check_whole, _leftovers, _make_store, _write_files

pytestmark = pytest.mark.faults

OPERATIONS = ("open", "write", "fsync", "rename", "replace", "mkdir", "unlink")
COMMANDS: dict[str, list[str]] = {
    "snapshot": ["snapshot", "demo", "{src}"],
    "export": ["export", "demo"],
    "export --to": ["export", "demo", "--to", "{out}"],
    "restore": ["restore", "demo", "v2", "{dest}", "--force"],
    "gc": ["gc", "demo"],
    "fetch": ["fetch", "demo", "{upstream}"],
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("interrupts")
    _make_store(base / "store", base / "src").close()
    shutil.copytree(base / "store", base / "upstream", symlinks=True)
    _write_files(base / "src", 9)
    up = _make_store(base / "upstream", base / "src-up", versions=2)
    up.close()
    return base


def _instants(full: bool) -> int:
    value = os.environ.get("GITVERSIONS_INTERRUPTS")
    return int(value) if value else (40 if full else 4)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_ctrl_c_at_seeded_instants_leaves_nothing(
    template: Path,
    tmp_path: Path,
    command: str,
    full: bool,
    figures: collections.Counter[str],
) -> None:
    rng = random.Random(f"interrupts-{command}")
    for run in range(_instants(full)):
        op, at = rng.choice(OPERATIONS), rng.randint(1, 12)
        case = tmp_path / str(run)
        shutil.copytree(template, case, symlinks=True)
        root = case / "store"
        (case / "dest").mkdir()
        args = [
            a.format(
                src=case / "src",
                out=case / "out",
                dest=case / "dest" / "demo",
                upstream=case / "upstream" / "artifacts" / "demo" / "history.git",
            )
            for a in COMMANDS[command]
        ]
        argv = harness.wrap_argv(
            ["--root", str(root), *args], kill_op=op, kill_at=at, sig="INT"
        )
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        where = f"{command}: SIGINT at {op} #{at} (run {run})"
        if proc.returncode == 130:
            assert proc.stderr == "gitversions: interrupted\n", where
            figures["interrupts: commands interrupted"] += 1
        else:
            assert proc.returncode == 0, f"{where}: {proc.stderr}"
            figures["interrupts: commands that finished first"] += 1
        assert _leftovers(root) == [], where
        assert not [p for p in (case / "dest").iterdir() if p.name != "demo"], where
        _check_whole(root)
        # The next command works, and finishes what was interrupted.
        again = subprocess.run(
            [*GV, "--root", str(root), *args],
            capture_output=True,
            text=True,
            check=False,
        )
        assert again.returncode == 0, f"{where}: retry: {again.stderr}"
        assert _leftovers(root) == [], where
        figures["interrupts: temporaries left"] += 0
        shutil.rmtree(case)

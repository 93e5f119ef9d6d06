"""The installed ``gitversions`` console script, run as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import fsck

GITVERSIONS = Path(sys.executable).parent / "gitversions"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(GITVERSIONS), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(autouse=True)
def _script_installed() -> None:
    assert GITVERSIONS.is_file(), f"console script missing at {GITVERSIONS}"


def test_demo_flow(
    make_skill: Callable[..., Path],
    store_root: Path,
    tmp_path: Path,
) -> None:
    root = ["--root", str(store_root)]
    src = make_skill("canvas-design")
    ids = []
    for step in range(3):
        if step == 1:
            (src / "SKILL.md").write_text("# Canvas design\n\nDraw better things.\n")
        if step == 2:
            (src / "scripts" / "render.py").write_text("print('render')\n")
            (src / "reference.md").unlink()
        proc = run(
            *root, "--json", "snapshot", "canvas-design", str(src), "-m", f"step {step}"
        )
        assert proc.returncode == 0, proc.stderr
        record = json.loads(proc.stdout)
        assert record["unchanged"] is False
        ids.append(record["id"])
    assert [i.split("-")[0] for i in ids] == ["v1", "v2", "v3"]

    log = run(*root, "log", "canvas-design")
    assert log.returncode == 0, log.stderr
    assert [line.split()[0] for line in log.stdout.splitlines()] == ids[::-1]

    diff = run(*root, "diff", "canvas-design", "v3")
    assert diff.returncode == 0, diff.stderr
    assert diff.stdout.splitlines() == ["D  reference.md", "A  scripts/render.py"]

    export = run(*root, "export", "canvas-design")
    assert export.returncode == 0, export.stderr
    # Not on a terminal: no progress bar, only the one-line result.
    assert export.stderr == ""
    versions = store_root / "artifacts" / "canvas-design" / "versions"
    assert sorted(p.name for p in versions.iterdir()) == sorted([*ids, "latest"])
    assert os.readlink(versions / "latest") == ids[2]
    assert (versions / "latest" / "scripts" / "render.py").read_text() == (
        "print('render')\n"
    )

    verify = run(*root, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert verify.stdout.strip() == "ok: canvas-design"
    fsck(store_root / "artifacts" / "canvas-design" / "history.git", check_stderr=False)


@pytest.mark.parametrize(
    "args",
    [
        ["snapshot", "../escape", "{src}"],
        ["snapshot", "ok-name", "{tmp}/missing"],
        ["log", "unknown"],
    ],
    ids=["bad-name", "missing-src", "unknown-artifact"],
)
def test_errors_are_one_line_exit_2(
    make_skill: Callable[..., Path], store_root: Path, tmp_path: Path, args: list[str]
) -> None:
    src = make_skill("canvas-design")
    argv = [a.format(src=src, tmp=tmp_path) for a in args]
    proc = run("--root", str(store_root), *argv)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gitversions: error: ")
    assert "Traceback" not in proc.stderr
    assert not (store_root / "artifacts" / "escape").exists()
    assert not (store_root / "artifacts" / "ok-name").exists()


def test_malformed_config_exits_2(
    store_root: Path, make_skill: Callable[..., Path]
) -> None:
    store_root.mkdir()
    (store_root / "gitversions.toml").write_text("not = = toml\n")
    proc = run("--root", str(store_root), "snapshot", "x", str(make_skill("x")))
    assert proc.returncode == 2  # bad input (SPEC §5, §6)
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("gitversions: error: ")
    assert "gitversions.toml" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_python_dash_m_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gitversions", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Example" in proc.stdout
    assert "snapshot" in proc.stdout
    version = subprocess.run(
        [str(GITVERSIONS), "--version"], capture_output=True, text=True, check=False
    )
    assert version.returncode == 0
    assert "0.1.0" in version.stdout

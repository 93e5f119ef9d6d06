"""Crash injection: a SIGKILL at any instant leaves a whole store; a retry works.

SPEC §6, "Nothing half-written is ever visible": a version is either fully
recorded or absent, a materialized directory appears by rename or not at all,
``latest`` always points at a complete version, and a crash at any instant
leaves a store that passes ``verify`` and ``git fsck``; a retry succeeds.

The campaigns come from ``scripts/crash_harness.py`` (see its docstring for
every check). The default run kills 30 processes (half at random instants, half
at precise write steps); ``--full`` kills 320. The tests after them pin single,
deterministic kill points, each at one step of the write protocol.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import crash_harness as harness
import pytest

from gitversions.store import Store

pytestmark = pytest.mark.crash

GV = harness.console_script()


def _campaigns(
    mode: str, kills: int, tmp_path: Path, figures: collections.Counter[str]
) -> harness.Report:
    seed = int(os.environ.get("GITVERSIONS_CRASH_SEED", "0")) or int(time.time())
    lines: list[str] = []
    report = harness.run_campaigns(
        kills, mode, seed, tmp_path, per_campaign=8, log=lines.append
    )
    figures[f"crash: {mode} kills survived"] += (
        report.kills if not report.violations else 0
    )
    figures[f"crash: {mode} kills"] += report.kills
    figures["crash: acknowledged versions lost"] += report.lost
    figures["crash: violations"] += len(report.violations)
    assert report.kills >= kills, report.summary()
    assert not report.violations, (
        f"seed {seed} (rerun with GITVERSIONS_CRASH_SEED={seed}):\n{report.summary()}"
    )
    return report


def test_kills_at_random_instants_leave_a_whole_store(
    tmp_path: Path, kills_wanted: int, figures: collections.Counter[str]
) -> None:
    """SIGKILL after a delay drawn from each command's measured duration."""
    report = _campaigns("timed", kills_wanted // 2, tmp_path, figures)
    assert report.lost == 0
    assert set(report.kills_by_command) == set(harness.COMMANDS)


def test_kills_at_every_write_step_leave_a_whole_store(
    tmp_path: Path, kills_wanted: int, figures: collections.Counter[str]
) -> None:
    """SIGKILL at the N-th write, fsync, rename, mkdir, ... (writes torn in half)."""
    report = _campaigns("step", kills_wanted - kills_wanted // 2, tmp_path, figures)
    assert report.lost == 0
    ops = {point.split(":")[1] for point in report.kill_points}
    assert len(ops) >= 3, report.kill_points


def test_fetch_is_not_crash_tested_until_remotes_exist() -> None:
    """The issue asks for fetch too; it is not implemented yet (remotes come later)."""
    from gitversions.cli import cli

    if "fetch" in cli.commands:
        pytest.fail("fetch exists now: add it to crash_harness.COMMANDS")
    pytest.skip("fetch is not implemented yet: remotes come later")


# -- single kill points ---------------------------------------------------------


class Store1:
    """A small store with one artifact, driven through the console script."""

    def __init__(self, tmp_path: Path, *, auto_export: bool = True) -> None:
        self.tmp = tmp_path
        self.root = tmp_path / "store"
        self.root.mkdir()
        (self.root / "gitversions.toml").write_text(
            f"lock_timeout = 5\n[export]\nauto = {str(auto_export).lower()}\n"
        )
        self.src = tmp_path / "src" / "skill"
        self.src.mkdir(parents=True)
        self.history = self.root / "artifacts" / "skill" / "history.git"
        self.versions = self.root / "artifacts" / "skill" / "versions"
        self.serial = 0

    def change(self, files: int = 6) -> None:
        self.serial += 1
        for i in range(files):
            (self.src / f"f{i}.md").write_text(
                f"file {i} revision {self.serial}\n" * 50
            )

    def args(self, *args: str) -> list[str]:
        return ["--root", str(self.root), *args]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*GV, *self.args(*args)],
            capture_output=True,
            text=True,
            env=harness.git_env(),
            check=False,
        )
        if check:
            assert proc.returncode == 0, proc.stderr
        return proc

    def killed(self, *args: str, **hook: object) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            harness.wrap_argv(self.args(*args), **hook),  # type: ignore[arg-type]
            capture_output=True,
            text=True,
            env=harness.git_env(),
            check=False,
        )
        assert proc.returncode == -signal.SIGKILL, (proc.returncode, proc.stderr)
        return proc

    def verify(self) -> list[str]:
        store = Store(self.root)
        try:
            return store.artifact("skill").verify()
        finally:
            store.close()

    def tags(self) -> dict[str, str]:
        out = harness.run_git(
            self.history,
            "for-each-ref",
            "--format=%(refname:short) %(objectname)",
            "refs/tags",
        )
        return dict(line.split() for line in out.splitlines())


@pytest.fixture
def one(tmp_path: Path) -> Store1:
    s = Store1(tmp_path)
    s.change()
    s.run("snapshot", "skill", str(s.src))
    return s


def test_kill_after_main_moved_before_the_tag_passes_verify(one: Store1) -> None:
    """A version is fully recorded (commit, branch, tag) or absent: never half."""
    one.change()
    one.killed(
        "snapshot",
        "skill",
        str(one.src),
        kill_op="replace",
        kill_path="refs/heads/main",
        when="after",
    )
    assert harness.run_git(one.history, "rev-list", "--count", "main").strip() == "2"
    assert harness.fsck(one.history) is None
    assert one.verify() == []
    retry = one.run("--json", "snapshot", "skill", str(one.src))
    record = json.loads(retry.stdout)
    assert record["unchanged"] is True and record["number"] == 2
    assert one.tags()[record["id"]] == record["commit"]


def test_kill_between_version_directory_and_latest_passes_verify(
    tmp_path: Path,
) -> None:
    """latest lags behind but names a complete version: the store is whole."""
    s = Store1(tmp_path, auto_export=False)
    s.change()
    s.run("snapshot", "skill", str(s.src))
    s.run("export", "skill")
    (previous,) = s.tags()
    s.change()
    s.run("snapshot", "skill", str(s.src))
    (newest,) = set(s.tags()) - {previous}
    s.killed("export", "skill", kill_op="symlink", kill_path=".latest.tmp-")
    assert (s.versions / newest / ".version.toml").is_file()
    assert os.readlink(s.versions / "latest") == previous
    assert s.verify() == []


def test_snapshot_killed_in_its_auto_export_is_exported_by_the_retry(
    one: Store1,
) -> None:
    """The retry of a snapshot that died after recording must finish its export."""
    one.change()
    args = ("--json", "snapshot", "skill", str(one.src))
    one.killed(*args, kill_path="/versions/.v", kill_op="mkdir")
    retry = one.run(*args)
    record = json.loads(retry.stdout)
    assert os.readlink(one.versions / "latest") == record["id"]
    assert (one.versions / record["id"]).is_dir()
    assert not [p for p in one.versions.iterdir() if p.name.startswith(".")]
    assert one.verify() == []


def test_kill_before_the_manifest_is_rewritten_passes_verify(tmp_path: Path) -> None:
    """A crash between recording a version and rewriting manifest.toml."""
    s = Store1(tmp_path, auto_export=False)
    s.change()
    s.run("snapshot", "skill", str(s.src))
    s.change()
    s.killed("snapshot", "skill", str(s.src), kill_path=".manifest.toml.tmp-")
    assert len(s.tags()) == 2
    assert harness.fsck(s.history) is None
    assert s.verify() == []


def test_restore_killed_mid_write_leaves_nothing_beside_its_target_after_retry(
    one: Store1,
) -> None:
    """A restore's hidden temporary copy must not stay next to DEST forever."""
    dest = one.tmp / "work" / "skill"
    first = next(iter(one.tags()))
    one.run("restore", "skill", first, str(dest))
    one.change()
    one.run("snapshot", "skill", str(one.src))
    newest = sorted(one.tags(), key=lambda t: int(t[1:].split("-")[0]))[-1]
    one.killed("restore", "skill", newest, str(dest), kill_op="write", when="half")
    assert sorted(p.name for p in dest.parent.iterdir())[-1] == "skill"
    one.run("restore", "skill", newest, str(dest))
    assert [p.name for p in dest.parent.iterdir()] == ["skill"]


@pytest.mark.parametrize(
    ("command", "path"),
    [
        ("snapshot", "tmp_obj_"),
        ("snapshot", "refs/heads/main.lock"),
        ("gc", "objects/pack"),
        ("export", "/versions/.v"),
    ],
)
def test_lock_of_a_killed_writer_never_blocks_the_next(
    one: Store1, command: str, path: str
) -> None:
    """The kernel drops the flock with its holder; the stale text names a dead pid."""
    (one.root / "gitversions.toml").write_text(
        "lock_timeout = 2\n[export]\nauto = true\n"
    )
    one.change()
    if command == "export":
        for entry in one.versions.iterdir():
            if entry.name != "latest":
                subprocess.run(["rm", "-rf", str(entry)], check=True)
    args = (
        ["snapshot", "skill", str(one.src)]
        if command == "snapshot"
        else [command, "skill"]
    )
    one.killed(*args, kill_path=path)
    lock_text = (one.root / "artifacts" / "skill" / ".lock").read_text()
    assert lock_text.startswith("pid ")
    dead = int(lock_text.split()[1])
    with pytest.raises(ProcessLookupError):
        os.kill(dead, 0)
    started = time.monotonic()
    one.run(*args)
    assert time.monotonic() - started < 2, "the retry waited for a dead holder"
    assert harness.fsck(one.history) is None


def test_harness_wrap_counts_without_killing(tmp_path: Path) -> None:
    """The wrapper runs the real command line and only counts when told no kill."""
    s = Store1(tmp_path)
    s.change()
    counts = tmp_path / "counts.json"
    proc = subprocess.run(
        harness.wrap_argv(
            s.args("snapshot", "skill", str(s.src)), kill_at=0, counts=counts
        ),
        capture_output=True,
        text=True,
        env=harness.git_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(counts.read_text())
    assert seen["fsync"] > 0 and seen["replace"] > 0 and seen["write"] > 0
    assert sys.executable

"""manifest.toml: derived from the history, rewritten with every change."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from helpers import fsck

from gitversions.errors import InputError
from gitversions.formats.manifest import (
    MANIFEST_FILENAME,
    artifact_kind,
    check_manifest,
    kind_for_path,
    render_manifest,
)
from gitversions.store import Store

T0 = 1_735_725_600  # 2025-01-01T10:00:00Z


def manifest(store: Store, name: str) -> dict[str, object]:
    path = store.artifact(name).home / MANIFEST_FILENAME
    table = tomllib.loads(path.read_text())["artifact"]
    assert isinstance(table, dict)
    return table


def test_snapshot_writes_the_manifest(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    src = make_skill()
    store.snapshot("canvas", src, source="anthropics/skills/canvas", timestamp=T0)
    (src / "SKILL.md").write_text("# changed\n")
    result = store.snapshot("canvas", src, source="my-edit", timestamp=T0 + 3600)
    assert manifest(store, "canvas") == {
        "name": "canvas",
        "kind": "skill",
        "source": "my-edit",
        "version_count": 2,
        "latest": str(result.version.id),
        "created": "2025-01-01T10:00:00Z",
        "updated": "2025-01-01T11:00:00Z",
    }
    home = store.artifact("canvas").home
    assert sorted(p.name for p in home.iterdir() if p.name.startswith(".")) == [
        ".lock"
    ]  # no temporary file left behind


def test_kind_of_single_files(store: Store, tmp_path: Path) -> None:
    agent = tmp_path / ".claude" / "agents" / "planner.md"
    command = tmp_path / ".claude" / "commands" / "review.md"
    other = tmp_path / "notes.md"
    for path in (agent, command, other):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{path.name}\n")
    store.snapshot("planner", agent)
    store.snapshot("review", command)
    store.snapshot("notes", other)
    assert manifest(store, "planner")["kind"] == "agent"
    assert manifest(store, "review")["kind"] == "command"
    assert manifest(store, "notes")["kind"] == "command"
    # A later snapshot from elsewhere keeps the recorded kind...
    store.snapshot("planner", command)
    assert manifest(store, "planner")["kind"] == "agent"
    # ...unless the caller says otherwise.
    store.snapshot("notes", other, artifact_kind="agent", force=True)
    assert manifest(store, "notes")["kind"] == "agent"
    assert kind_for_path(Path("x"), "dir") == "skill"
    for name in ("planner", "review", "notes"):
        fsck(store.artifact(name).history_path, check_stderr=False)


def test_kind_must_fit_the_shape(store: Store, make_skill: Callable[..., Path]) -> None:
    src = make_skill()
    with pytest.raises(InputError, match="a command is a single file"):
        store.snapshot("x", src, artifact_kind="command")
    with pytest.raises(InputError, match="a skill is a directory"):
        store.snapshot("x", src / "SKILL.md", artifact_kind="skill")
    with pytest.raises(InputError, match="unknown artifact kind"):
        store.snapshot("x", src, artifact_kind="plugin")
    assert not store.artifact("x").exists()


def test_bogus_recorded_kind_falls_back(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store.snapshot("canvas", make_skill())
    artifact = store.artifact("canvas")
    config = artifact.history.repo.get_config()
    config.set((b"gitversions",), b"artifactkind", b"agent")  # a skill is no agent
    config.write_to_path()
    assert artifact_kind(store.artifact("canvas")) == "skill"


def test_verify_reports_and_repair_rebuilds(
    store: Store,
    make_skill: Callable[..., Path],
    invoke: Callable[..., Result],
    tmp_path: Path,
) -> None:
    store.snapshot("canvas", make_skill(), timestamp=T0)
    path = store.artifact("canvas").home / MANIFEST_FILENAME
    good = path.read_text()

    # The manifest is derived data: missing or stale, it is a note for
    # verify --repair (or the next write), not damage (verify exits 0).
    path.unlink()
    result = invoke("verify")
    assert result.exit_code == 0, result.output
    assert "note: canvas: manifest.toml: missing" in result.stdout

    path.write_text(good.replace("version_count = 1", "version_count = 7"))
    result = invoke("--json", "verify", "canvas")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["canvas"]
    assert report["problems"] == []
    assert report["pending"] == [
        "canvas: manifest.toml: out of date with the history "
        "(repair with verify --repair)"
    ]

    repaired = invoke("verify", "--repair")
    assert repaired.exit_code == 0, repaired.output
    assert "repaired: canvas: manifest.toml rebuilt" in repaired.stderr
    assert path.read_text() == good
    quiet = invoke("verify", "--repair")
    assert "repaired" not in quiet.stderr

    outside = tmp_path / "outside.toml"
    outside.write_text("keep me\n")
    path.unlink()
    path.symlink_to(outside)
    assert "unreadable" in check_manifest(store.artifact("canvas"))[0]
    assert invoke("verify", "--repair").exit_code == 0
    assert not path.is_symlink()
    assert outside.read_text() == "keep me\n"


def test_export_rewrites_a_stale_manifest(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store.snapshot("canvas", make_skill())
    artifact = store.artifact("canvas")
    (artifact.home / MANIFEST_FILENAME).unlink()
    artifact.export()
    assert check_manifest(artifact) == []


def test_empty_history_has_no_manifest(store: Store, tmp_path: Path) -> None:
    from gitversions.git.history import History

    artifact = store.artifact("empty")
    artifact.home.mkdir(parents=True)
    History.create(artifact.history_path).close()
    assert render_manifest(artifact) is None
    assert check_manifest(artifact) == []
    assert artifact.repair() == []


def test_a_broken_history_is_reported_by_verify_not_by_the_manifest_check(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    result = store.snapshot("canvas", make_skill())
    artifact = store.artifact("canvas")
    commit = result.version.commit
    (artifact.history_path / "objects" / commit[:2] / commit[2:]).unlink()
    broken = store.artifact("canvas")
    assert check_manifest(broken) == []
    problems = broken.verify()
    assert problems
    assert not any(MANIFEST_FILENAME in p for p in problems)


def test_manifest_grown_by_a_snapshot_equals_a_full_render(
    store: Store, tmp_path: Path
) -> None:
    from gitversions.formats.manifest import render_manifest

    src = tmp_path / "grow"
    for i in range(4):
        src.mkdir(exist_ok=True)
        (src / "SKILL.md").write_text(f"{i}\n")
        store.snapshot("g", src, timestamp=1764496800 + i)
    artifact = store.artifact("g")
    text = (artifact.home / "manifest.toml").read_text()
    assert text == render_manifest(artifact)
    assert "version_count = 4" in text
    # A stale manifest is not grown from: the full render is used.
    (artifact.home / "manifest.toml").write_text(text.replace("= 4", "= 9"))
    (src / "SKILL.md").write_text("5\n")
    store.snapshot("g", src, timestamp=1764496900)
    assert "version_count = 5" in (artifact.home / "manifest.toml").read_text()

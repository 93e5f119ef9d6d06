"""Restore: rollback of a version into a working directory, safely and atomically."""

from __future__ import annotations

import os
import stat
import zlib
from pathlib import Path

import pytest
from dulwich.objects import Blob, Tree
from dulwich.repo import Repo
from helpers import add_commit, fsck, listing_of, run_git

from gitversions.errors import (
    CorruptionError,
    DestinationError,
    UnsafePathError,
)
from gitversions.git.history import join_message
from gitversions.snapshot.hashing import content_hash
from gitversions.store import Artifact, Store

T0 = 1764496800  # 2025-11-30T10:00:00Z


@pytest.fixture
def skill(store: Store, make_skill) -> tuple[Artifact, list, Path]:
    """``skill`` with v1 and v2; v2 drops reference.md and adds two files."""
    src = make_skill()
    (src / "link").symlink_to("SKILL.md")
    (src / "outside").symlink_to("/etc/passwd")
    store.snapshot("skill", src, timestamp=T0)
    (src / "SKILL.md").write_text("# Canvas design\n\nSecond.\n")
    (src / "reference.md").unlink()
    (src / "v2-only.md").write_text("only in v2\n")
    (src / "extra" / "more").mkdir(parents=True)
    (src / "extra" / "more" / "tool.sh").write_text("#!/bin/sh\n")
    (src / "extra" / "more" / "tool.sh").chmod(0o755)
    store.snapshot("skill", src, timestamp=T0 + 60)
    artifact = store.artifact("skill")
    fsck(artifact.history_path)
    return artifact, artifact.versions(), src


def test_restore_into_a_new_destination(skill, tmp_path: Path) -> None:
    artifact, (v1, v2), _ = skill
    dest = tmp_path / "work" / "deep" / "canvas-design"
    version, written = artifact.restore("v1", dest)
    assert version.id == v1.id
    assert written == dest
    found = listing_of(dest, exact_modes=False)
    assert set(found) == {
        "SKILL.md",
        "reference.md",
        "scripts",
        "scripts/process.js",
        "link",
        "outside",
    }
    assert found["SKILL.md"][1] == b"# Canvas design\n\nDraw things.\n"
    # Working files are writable again; the executable bit comes back.
    assert stat.S_IMODE(found["SKILL.md"][0]) == 0o644
    assert stat.S_IMODE(found["scripts/process.js"][0]) == 0o755
    assert found["link"] == (stat.S_IFLNK, "SKILL.md")
    assert found["outside"] == (stat.S_IFLNK, "/etc/passwd")
    assert content_hash(dest) == v1.hash
    # No .version.toml and no temporaries beside DEST.
    assert not (dest / ".version.toml").exists()
    assert [p.name for p in dest.parent.iterdir()] == ["canvas-design"]
    # latest and hash prefixes work as REFs too.
    other = tmp_path / "other"
    assert artifact.restore("latest", other)[0].id == v2.id
    assert content_hash(other) == v2.hash
    assert stat.S_IMODE((other / "extra/more/tool.sh").stat().st_mode) == 0o755
    third = tmp_path / "third"
    assert artifact.restore(v1.hash[:10], third)[0].id == v1.id


def test_restore_into_an_empty_directory(skill, tmp_path: Path) -> None:
    artifact, (v1, _), _ = skill
    dest = tmp_path / "empty"
    dest.mkdir()
    artifact.restore("v1", dest)
    assert content_hash(dest) == v1.hash


def test_restore_over_a_recorded_version_replaces_it_completely(
    skill, tmp_path: Path
) -> None:
    artifact, (v1, v2), src = skill
    # src holds exactly v2, as a user's working copy would.
    assert content_hash(src) == v2.hash
    artifact.restore("v1", src)
    assert content_hash(src) == v1.hash
    assert not (src / "v2-only.md").exists()
    assert not (src / "extra").exists()
    assert (src / "reference.md").read_text() == "Supporting notes.\n"
    # And forward again.
    artifact.restore("v2", src)
    assert content_hash(src) == v2.hash
    assert not (src / "reference.md").exists()
    assert [p.name for p in src.parent.iterdir()] == [src.name]


def _edit_file(dest: Path) -> None:
    (dest / "SKILL.md").write_text("my unrecorded edit\n")


def _add_file(dest: Path) -> None:
    (dest / "notes-in-progress.md").write_text("not snapshotted yet\n")


def _delete_file(dest: Path) -> None:
    (dest / "v2-only.md").unlink()


def _chmod_file(dest: Path) -> None:
    (dest / "SKILL.md").chmod(0o755)


def _retarget_link(dest: Path) -> None:
    (dest / "link").unlink()
    (dest / "link").symlink_to("v2-only.md")


@pytest.mark.parametrize(
    "edit", [_edit_file, _add_file, _delete_file, _chmod_file, _retarget_link]
)
def test_unrecorded_edits_are_refused_unless_forced(
    skill, tmp_path: Path, edit
) -> None:
    artifact, (v1, _), src = skill
    edit(src)
    before = listing_of(src, exact_modes=False)
    with pytest.raises(DestinationError) as info:
        artifact.restore("v1", src)
    assert "--force" in str(info.value)
    assert listing_of(src, exact_modes=False) == before
    artifact.restore("v1", src, force=True)
    assert content_hash(src) == v1.hash


def test_unrecorded_edits_refused_on_the_command_line(skill, invoke) -> None:
    _, _, src = skill
    _edit_file(src)
    result = invoke("restore", "skill", "v1", str(src))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert (src / "SKILL.md").read_text() == "my unrecorded edit\n"
    forced = invoke("restore", "skill", "v1", str(src), "--force")
    assert forced.exit_code == 0, forced.output
    assert (src / "SKILL.md").read_text() == "# Canvas design\n\nDraw things.\n"


def test_top_level_git_dir_survives(skill, tmp_path: Path) -> None:
    artifact, (v1, _v2), src = skill
    run_git("init", "-q", cwd=src)
    run_git("add", "--all", cwd=src)
    run_git(
        "-c", "user.name=T", "-c", "user.email=t@e", "commit", "-qm", "wip", cwd=src
    )
    git_before = listing_of(src / ".git", exact_modes=False)
    artifact.restore("v1", src)
    assert listing_of(src / ".git", exact_modes=False) == git_before
    assert content_hash(src) == v1.hash
    # git still sees a repository whose working tree is now v1.
    status = run_git("status", "--porcelain", cwd=src)
    assert " D v2-only.md" in status
    assert " M SKILL.md" in status
    # git status refreshed its index
    git_before = listing_of(src / ".git", exact_modes=False)
    artifact.restore("v2", src)
    assert listing_of(src / ".git", exact_modes=False) == git_before
    assert run_git("status", "--porcelain", cwd=src) == ""


def test_nested_git_dir_is_not_lost_silently(skill, tmp_path: Path) -> None:
    # A .git below DEST's top (a nested checkout) is never recorded by a
    # snapshot; a restore must keep it or refuse without --force.
    artifact, (_v1, _v2), src = skill
    nested = src / "extra" / "more"
    run_git("init", "-q", cwd=nested)
    (nested / ".git" / "my-notes").write_text("precious\n")
    notes = nested / ".git" / "my-notes"
    artifact.restore("v1", src)  # v1 has no extra/: the .git is carried over
    assert notes.read_text() == "precious\n"
    artifact.restore("v2", src, force=True)
    assert notes.read_text() == "precious\n"


@pytest.fixture
def command(store: Store, tmp_path: Path) -> tuple[Artifact, list, Path]:
    """A single-file artifact ``review`` with two versions."""
    src = tmp_path / "project" / ".claude" / "commands" / "review.md"
    src.parent.mkdir(parents=True)
    src.write_text("# /review v1\n")
    store.snapshot("review", src, timestamp=T0)
    src.write_text("# /review v2\n")
    store.snapshot("review", src, timestamp=T0 + 60)
    artifact = store.artifact("review")
    fsck(artifact.history_path)
    return artifact, artifact.versions(), src


def test_single_file_restore_to_a_file_path(command, tmp_path: Path) -> None:
    artifact, (v1, v2), src = command
    # Over the working file (its content is v2, recorded).
    version, written = artifact.restore("v1", src)
    assert version.id == v1.id
    assert written == src
    assert src.read_text() == "# /review v1\n"
    assert stat.S_IMODE(src.stat().st_mode) == 0o644
    # To a new path under another name.
    other = tmp_path / "elsewhere" / "renamed.md"
    version, written = artifact.restore("v2", other)
    assert version.id == v2.id
    assert written == other
    assert other.read_text() == "# /review v2\n"
    assert [p.name for p in other.parent.iterdir()] == ["renamed.md"]
    assert [p.name for p in src.parent.iterdir()] == ["review.md"]


def test_single_file_restore_into_a_directory(command, tmp_path: Path) -> None:
    artifact, (_v1, _), _ = command
    folder = tmp_path / "commands"
    folder.mkdir()
    (folder / "other.md").write_text("another command\n")
    _version, written = artifact.restore("v1", folder)
    assert written == folder / "review.md"
    assert written.read_text() == "# /review v1\n"
    assert (folder / "other.md").read_text() == "another command\n"
    assert sorted(p.name for p in folder.iterdir()) == ["other.md", "review.md"]


def test_single_file_unrecorded_content_refused(command) -> None:
    artifact, _, src = command
    src.write_text("# /review my edits\n")
    with pytest.raises(DestinationError):
        artifact.restore("v1", src)
    assert src.read_text() == "# /review my edits\n"
    with pytest.raises(DestinationError):
        artifact.restore("v1", src.parent)
    assert src.read_text() == "# /review my edits\n"
    artifact.restore("v1", src, force=True)
    assert src.read_text() == "# /review v1\n"


def test_single_file_executable_bit_restored(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "tool.sh"
    src.write_text("#!/bin/sh\necho hi\n")
    src.chmod(0o755)
    store.snapshot("tool", src, timestamp=T0)
    dest = tmp_path / "out" / "tool.sh"
    store.artifact("tool").restore("v1", dest)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    assert dest.read_text() == "#!/bin/sh\necho hi\n"
    fsck(store.artifact("tool").history_path)


def _store_dests(store: Store, tmp_path: Path) -> dict[str, Path]:
    link = tmp_path / "sneaky-link"
    link.symlink_to(store.root / "artifacts" / "skill")
    return {
        "root": store.root,
        "artifacts": store.root / "artifacts",
        "new-inside-artifacts": store.root / "artifacts" / "restored",
        "artifact-home": store.root / "artifacts" / "skill",
        "history": store.root / "artifacts" / "skill" / "history.git",
        "versions": store.root / "artifacts" / "skill" / "versions",
        "inside-versions": store.root / "artifacts" / "skill" / "versions" / "x",
        "parent-of-root": tmp_path,
        "link-into-store": link,
        "dotdot-into-store": tmp_path / "elsewhere" / ".." / "store" / "artifacts",
    }


@pytest.mark.parametrize(
    "where",
    [
        "root",
        "artifacts",
        "new-inside-artifacts",
        "artifact-home",
        "history",
        "versions",
        "inside-versions",
        "parent-of-root",
        "link-into-store",
        "dotdot-into-store",
    ],
)
def test_restore_into_the_store_is_refused(
    skill, store: Store, tmp_path: Path, where: str
) -> None:
    artifact, _, _ = skill
    artifact.export()
    (tmp_path / "elsewhere").mkdir()
    dest = _store_dests(store, tmp_path)[where]
    before = listing_of(store.root, exact_modes=False)
    for force in (False, True):
        with pytest.raises(DestinationError):
            artifact.restore("v1", dest, force=force)
    assert listing_of(store.root, exact_modes=False) == before
    assert artifact.verify() == []
    fsck(artifact.history_path)


def test_restore_inside_a_project_store_outside_artifacts_is_allowed(
    tmp_path: Path, make_skill
) -> None:
    # A project store is <project>/.claude; its skills live beside artifacts/.
    project_store = Store(tmp_path / "project" / ".claude")
    project_store.init()
    src = make_skill()
    version = project_store.snapshot("canvas", src, timestamp=T0).version
    dest = project_store.root / "skills" / "canvas"
    project_store.artifact("canvas").restore("v1", dest)
    assert content_hash(dest) == version.hash
    fsck(project_store.artifact("canvas").history_path)


def test_restore_to_a_non_directory_is_refused(skill, tmp_path: Path) -> None:
    artifact, _, _ = skill
    a_file = tmp_path / "a-file"
    a_file.write_text("precious\n")
    with pytest.raises(DestinationError):
        artifact.restore("v1", a_file, force=True)
    assert a_file.read_text() == "precious\n"
    # A symlink to a directory is not followed.
    real = tmp_path / "real-dir"
    real.mkdir()
    (real / "keep.txt").write_text("keep\n")
    link = tmp_path / "link-dir"
    link.symlink_to(real)
    for force in (False, True):
        with pytest.raises(DestinationError):
            artifact.restore("v1", link, force=force)
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert sorted(p.name for p in real.iterdir()) == ["keep.txt"]
    assert (real / "keep.txt").read_text() == "keep\n"


def test_failed_restore_leaves_destination_untouched(skill, tmp_path: Path) -> None:
    artifact, (v1, _v2), src = skill
    blob = artifact.history.files(v1.tree)["reference.md"].blob
    loose = artifact.history_path / "objects" / blob[:2] / blob[2:]
    raw = bytearray(zlib.decompress(loose.read_bytes()))
    raw[-2] ^= 0x01
    loose.chmod(0o644)
    loose.write_bytes(zlib.compress(bytes(raw)))
    before = listing_of(src.parent, exact_modes=False)
    with pytest.raises(CorruptionError):
        Store(artifact.store.root).artifact("skill").restore("v1", src)
    assert listing_of(src.parent, exact_modes=False) == before
    new_dest = tmp_path / "fresh"
    with pytest.raises(CorruptionError):
        Store(artifact.store.root).artifact("skill").restore("v1", new_dest)
    assert not new_dest.exists()
    assert [p for p in tmp_path.iterdir() if ".tmp-" in p.name] == []


def test_restore_of_a_crafted_unsafe_version_is_refused(skill, tmp_path: Path) -> None:
    artifact, (_v1, _v2), src = skill
    repo = Repo(str(artifact.history_path))
    try:
        evil = Blob.from_string(b"pwned\n")
        inner = Tree()
        inner.add(b"evil.txt", 0o100644, evil.id)
        top = Tree()
        top.add(b"SKILL.md", 0o100644, evil.id)
        top.add(b"..", 0o040000, inner.id)
        for obj in (evil, inner, top):
            repo.object_store.add_object(obj)
        parent = repo.refs[b"refs/heads/main"]
        message = join_message("crafted", "attacker")
        commit = add_commit(repo, top.id, [parent], message, T0 + 3600)
        repo.refs[b"refs/heads/main"] = commit
    finally:
        repo.close()
    before = listing_of(tmp_path / "src", exact_modes=False)
    fresh = Store(artifact.store.root).artifact("skill")
    for force in (False, True):
        with pytest.raises(UnsafePathError):
            fresh.restore("latest", src, force=force)
    assert listing_of(tmp_path / "src", exact_modes=False) == before
    new_dest = tmp_path / "new"
    with pytest.raises(UnsafePathError):
        fresh.restore("latest", new_dest)
    assert not new_dest.exists()
    assert not list(tmp_path.rglob("evil.txt"))


def test_single_file_restore_to_a_path_ending_in_a_slash(command, invoke, tmp_path):
    """``DEST/`` names a directory: the file is written inside it, by its name."""
    artifact, versions, _src = command
    dest = tmp_path / "new-dir"
    result = invoke("restore", artifact.name, str(versions[0].id), f"{dest}/")
    assert result.exit_code == 0, result.output
    assert dest.is_dir()
    assert [p.name for p in dest.iterdir()] == ["review.md"]


def test_kind_is_inferred_in_a_store_built_from_a_git_clone(command, tmp_path):
    """A clone lacks history.git/config: one top-level file means a file artifact."""
    artifact, versions, _src = command
    other = Store(tmp_path / "other")
    other.init()
    home = other.root / "artifacts" / artifact.name
    home.mkdir(parents=True)
    run_git("clone", "--bare", "-q", artifact.history_path, home / "history.git")
    clone = other.artifact(artifact.name)
    assert clone.history.kind() is None  # nothing recorded in the clone
    assert clone.kind() == "file"
    dest = tmp_path / "out" / "renamed.md"
    clone.restore(str(versions[0].id), dest)
    assert dest.is_file()
    assert dest.read_text() == "# /review v1\n"


# -- excluded content (issue: restore deleted .env, *.log, node_modules) ------------


def _excluding_store(tmp_path: Path, patterns: str) -> Store:
    root = tmp_path / "excl-store"
    root.mkdir()
    (root / "gitversions.toml").write_text(f"exclude = {patterns}\n")
    return Store(root)


def _excluded_skill(tmp_path: Path) -> tuple[Store, Path]:
    store = _excluding_store(tmp_path, '[".env", "*.log", "node_modules"]')
    src = tmp_path / "work" / "sk"
    (src / "scripts").mkdir(parents=True)
    (src / "SKILL.md").write_text("v1\n")
    store.snapshot("sk", src, timestamp=T0)
    (src / "SKILL.md").write_text("v2\n")
    (src / "scripts" / "run.py").write_text("print(2)\n")
    store.snapshot("sk", src, timestamp=T0 + 60)
    # Content no snapshot records: secrets, logs, dependencies, at any depth.
    (src / ".env").write_text("TOKEN=secret\n")
    (src / "run.log").write_text("log\n")
    (src / "scripts" / "debug.log").write_text("deep log\n")
    (src / "node_modules" / "pkg").mkdir(parents=True)
    (src / "node_modules" / "pkg" / "index.js").write_text("module.exports = 1\n")
    return store, src


@pytest.mark.parametrize("force", [False, True])
def test_restore_keeps_excluded_content(tmp_path: Path, force: bool) -> None:
    store, src = _excluded_skill(tmp_path)
    artifact = store.artifact("sk")
    artifact.restore("v1", src, force=force)
    assert (src / "SKILL.md").read_text() == "v1\n"
    assert not (src / "scripts" / "run.py").exists()  # v1 has no scripts/
    assert (src / ".env").read_text() == "TOKEN=secret\n"
    assert (src / "run.log").read_text() == "log\n"
    # scripts/ is gone from v1 but its excluded file is carried over.
    assert (src / "scripts" / "debug.log").read_text() == "deep log\n"
    assert (src / "node_modules" / "pkg" / "index.js").exists()
    # The restored copy still hashes as v1: what was kept is not content.
    assert content_hash(src, store.config.exclude) == artifact.resolve("v1").hash
    assert not [p for p in src.parent.iterdir() if p.name != "sk"]  # no leftovers
    store.close()


def test_restore_keeps_excluded_content_on_the_command_line(
    tmp_path: Path, invoke
) -> None:
    store, src = _excluded_skill(tmp_path)
    store.close()
    result = invoke("--root", str(store.root), "restore", "sk", "v1", str(src))
    assert result.exit_code == 0, result.output
    assert (src / ".env").read_text() == "TOKEN=secret\n"
    assert (src / "node_modules" / "pkg" / "index.js").exists()


def test_an_excluded_path_the_version_holds_is_refused_unless_forced(
    tmp_path: Path,
) -> None:
    # v1 recorded notes.log before *.log was excluded; the working copy's own
    # notes.log (now excluded) would be replaced by the version's.
    root = tmp_path / "s"
    store = Store(root)
    src = tmp_path / "sk"
    src.mkdir()
    (src / "SKILL.md").write_text("one\n")
    (src / "notes.log").write_text("recorded\n")
    store.snapshot("sk", src, timestamp=T0)
    store.close()
    (root / "gitversions.toml").write_text('exclude = ["*.log"]\n')
    store = Store(root)
    (src / "SKILL.md").write_text("two\n")
    store.snapshot("sk", src, timestamp=T0 + 60)  # notes.log no longer recorded
    (src / "notes.log").write_text("mine, unrecorded\n")
    artifact = store.artifact("sk")
    with pytest.raises(DestinationError, match=r"notes\.log.*excluded"):
        artifact.restore("v1", src)
    assert (src / "notes.log").read_text() == "mine, unrecorded\n"
    artifact.restore("v1", src, force=True)
    assert (src / "notes.log").read_text() == "recorded\n"
    store.close()


def test_excluded_directory_under_a_path_that_is_a_file_in_the_version(
    tmp_path: Path,
) -> None:
    store = _excluding_store(tmp_path, '["cache"]')
    src = tmp_path / "sk"
    src.mkdir()
    (src / "SKILL.md").write_text("one\n")
    (src / "data").write_text("a file in v1\n")
    store.snapshot("sk", src, timestamp=T0)
    (src / "data").unlink()
    (src / "data" / "cache").mkdir(parents=True)
    (src / "data" / "cache" / "x").write_text("cached\n")
    (src / "data" / "kept.md").write_text("recorded in v2\n")
    store.snapshot("sk", src, timestamp=T0 + 60)
    artifact = store.artifact("sk")
    with pytest.raises(DestinationError, match="cache"):
        artifact.restore("v1", src)
    assert (src / "data" / "cache" / "x").read_text() == "cached\n"
    artifact.restore("v1", src, force=True)
    assert (src / "data").read_text() == "a file in v1\n"
    store.close()

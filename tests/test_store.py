"""Store: roots, init, artifacts, snapshots, config, locks, gc and verify."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import fsck, run_git, set_config

import gitversions.git.history
import gitversions.store
from gitversions.cli import cli
from gitversions.errors import (
    GitVersionsError,
    LockTimeoutError,
    NotFoundError,
    SourceError,
)
from gitversions.fs.lock import artifact_lock
from gitversions.snapshot.hashing import content_hash
from gitversions.store import Artifact, Store, resolve_root

T0 = 1764496800  # 2025-11-30T10:00:00Z


def loose_objects(history: Path) -> list[Path]:
    return [
        p
        for d in (history / "objects").iterdir()
        if len(d.name) == 2 and d.is_dir()
        for p in d.iterdir()
    ]


# -- roots ------------------------------------------------------------------


def test_resolve_root_precedence(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    env = {"GITVERSIONS_ROOT": "/from/env"}
    assert resolve_root("/explicit", "/proj", env) == Path("/explicit")
    assert resolve_root(None, "/proj", env) == Path("/from/env")
    assert resolve_root(None, "/proj", {}) == Path("/proj/.claude")
    assert resolve_root(None, None, {}) == home / ".skillmeat" / "collection"
    # An empty variable is as good as none.
    assert resolve_root(None, "/proj", {"GITVERSIONS_ROOT": ""}) == Path(
        "/proj/.claude"
    )
    # ~ is expanded in every form.
    assert resolve_root("~/r", None, env) == home / "r"
    assert resolve_root(None, None, {"GITVERSIONS_ROOT": "~/e"}) == home / "e"
    assert resolve_root(None, "~/p", {}) == home / "p" / ".claude"


def test_resolve_root_reads_the_process_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITVERSIONS_ROOT", str(tmp_path / "env-root"))
    assert resolve_root() == tmp_path / "env-root"
    monkeypatch.delenv("GITVERSIONS_ROOT")
    assert resolve_root() == Path(os.environ["HOME"]) / ".skillmeat" / "collection"


def test_cli_root_selection(
    runner, chdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --project DIR
    proj = tmp_path / "proj"
    proj.mkdir()
    result = runner.invoke(cli, ["--project", str(proj), "init"])
    assert result.exit_code == 0, result.output
    assert (proj / ".claude" / "gitversions.toml").is_file()
    # No option: ~/.skillmeat/collection
    result = runner.invoke(cli, ["init"])
    assert result.exit_code == 0, result.output
    home = Path(os.environ["HOME"])
    assert (home / ".skillmeat" / "collection" / "gitversions.toml").is_file()
    # $GITVERSIONS_ROOT wins over --project, --root over both.
    monkeypatch.setenv("GITVERSIONS_ROOT", str(tmp_path / "env-root"))
    other = tmp_path / "other"
    other.mkdir()
    result = runner.invoke(cli, ["--project", str(other), "init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "env-root" / "gitversions.toml").is_file()
    assert not (other / ".claude").exists()
    result = runner.invoke(cli, ["--root", str(tmp_path / "explicit"), "init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "explicit" / "gitversions.toml").is_file()


def test_cli_project_without_dir_means_the_current_directory(
    runner, chdir: Path
) -> None:
    # SPEC: `--project [DIR]`, DIR defaulting to the current directory; the
    # init command's own help shows `gitversions --project init`.
    result = runner.invoke(cli, ["--project", "init"])
    assert result.exit_code == 0, result.output
    assert (chdir / ".claude" / "gitversions.toml").is_file()


def test_cli_root_and_project_together_is_bad_usage(runner, tmp_path: Path) -> None:
    result = runner.invoke(
        cli, ["--root", str(tmp_path / "r"), "--project", str(tmp_path), "init"]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "r").exists()
    assert not (tmp_path / ".claude").exists()


# -- init, names, existing ------------------------------------------------------


def test_init_creates_the_config_once(store_root: Path) -> None:
    store = Store(store_root)
    assert store.init() is True
    config = store_root / "gitversions.toml"
    assert config.is_file()
    assert (store_root / "artifacts").is_dir()
    # The default file is valid and means the defaults.
    assert Store(store_root).config.object_format == "sha1"
    config.write_text("lock_timeout = 5\n# mine\n", encoding="utf-8")
    assert Store(store_root).init() is False
    assert config.read_text(encoding="utf-8") == "lock_timeout = 5\n# mine\n"
    assert Store(store_root).config.lock_timeout == 5.0


def test_names_lists_only_valid_artifacts_with_history(
    store: Store, make_skill
) -> None:
    assert store.names() == []
    src = make_skill()
    store.snapshot("beta", src)
    store.snapshot("alpha", src)
    artifacts = store.root / "artifacts"
    for bad in (".hidden", "bad name", "-dash"):
        (artifacts / bad / "history.git").mkdir(parents=True)
        (artifacts / bad / "history.git" / "HEAD").write_text("ref: refs/heads/main\n")
    (artifacts / "nohistory" / "versions").mkdir(parents=True)
    (artifacts / "README").write_text("not an artifact\n")
    assert store.names() == ["alpha", "beta"]
    fsck(store.artifact("alpha").history_path)
    fsck(store.artifact("beta").history_path)
    assert Store(store.root / "missing").names() == []


def test_existing_unknown_artifact_has_a_hint(store: Store, make_skill) -> None:
    src = make_skill()
    store.snapshot("canvas-design", src)
    store.snapshot("review", src)
    with pytest.raises(NotFoundError) as info:
        store.existing("canvs-design")
    message = str(info.value)
    assert "canvs-design" in message
    assert "canvas-design" in message
    assert "review" in message
    assert store.existing("review").exists()
    fsck(store.artifact("review").history_path)
    # The lookup created nothing.
    assert not (store.root / "artifacts" / "canvs-design").exists()


# -- snapshots ------------------------------------------------------------------


def test_single_file_artifact_is_a_tree_with_that_one_file(
    store: Store, tmp_path: Path
) -> None:
    commands = tmp_path / "project" / ".claude" / "commands"
    commands.mkdir(parents=True)
    src = commands / "review.md"
    src.write_text("# /review\n\nReview the diff.\n", encoding="utf-8")
    result = store.snapshot("review", src, timestamp=T0)
    assert result.created
    artifact = store.artifact("review")
    assert artifact.kind() == "file"
    history = artifact.history_path
    tree = run_git("--git-dir", history, "ls-tree", "-r", "--full-tree", "main")
    lines = tree.splitlines()
    assert len(lines) == 1
    meta, name = lines[0].split("\t")
    mode, kind, blob = meta.split()
    assert (mode, kind, name) == ("100644", "blob", "review.md")
    shown = run_git("--git-dir", history, "cat-file", "-p", blob)
    assert shown == "# /review\n\nReview the diff.\n"
    # The hash is that of a directory holding only this file.
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(src, alone / "review.md")
    assert result.version.hash == content_hash(alone) == content_hash(src)
    assert result.record["added"] == ["review.md"]
    # Unchanged file: no new version; changed: v2.
    assert store.snapshot("review", src).created is False
    src.write_text("# /review\n\nReview it twice.\n", encoding="utf-8")
    second = store.snapshot("review", src, timestamp=T0 + 1)
    assert second.version.number == 2
    assert second.record["modified"] == ["review.md"]
    fsck(history)


@pytest.mark.parametrize("first", ["dir", "file"])
def test_shape_change_is_refused(
    store: Store, make_skill, tmp_path: Path, listing, first: str
) -> None:
    skill = make_skill()
    command = tmp_path / "cmd.md"
    command.write_text("a command\n")
    initial, other = (skill, command) if first == "dir" else (command, skill)
    store.snapshot("thing", initial, timestamp=T0)
    history = store.artifact("thing").history_path
    before = listing(history)
    with pytest.raises(SourceError) as info:
        store.snapshot("thing", other, timestamp=T0 + 1)
    assert "directory" in str(info.value)
    assert "single file" in str(info.value)
    assert listing(history) == before
    assert len(store.artifact("thing").versions()) == 1
    fsck(history)


def test_version_toml_at_the_top_of_src_is_refused(store: Store, make_skill) -> None:
    src = make_skill(files={".version.toml": "[version]\n"})
    with pytest.raises(SourceError) as info:
        store.snapshot("skill", src)
    assert ".version.toml" in str(info.value)
    assert not store.artifact("skill").exists()
    # Deeper down it is ordinary content.
    (src / ".version.toml").rename(src / "scripts" / ".version.toml")
    result = store.snapshot("skill", src)
    assert result.created
    assert "scripts/.version.toml" in result.record["added"]
    fsck(store.artifact("skill").history_path)


def test_exclude_patterns_from_config(store: Store, make_skill) -> None:
    store = set_config(store, 'exclude = ["*.pyc", "__pycache__", "drafts/*.md"]\n')
    src = make_skill(
        files={
            "x.pyc": b"\x00compiled",
            "scripts/__pycache__/m.cpython-311.pyc": b"\x00",
            "scripts/__pycache__/notes.txt": "in an excluded dir\n",
            "drafts/a.md": "draft\n",
            "drafts/keep.txt": "kept\n",
            "sub/drafts/a.md": "kept: the pattern is anchored at SRC\n",
            ".gitignore": "*.log\n",
            "debug.log": "kept: .gitignore is content, not instructions\n",
            ".git/config": "never content\n",
            "scripts/.git/HEAD": "never content\n",
            "scripts/.GIT/HEAD": "never content\n",
        }
    )
    result = store.snapshot("skill", src)
    history = store.artifact("skill").history_path
    names = run_git(
        "--git-dir", history, "ls-tree", "-r", "--name-only", "main"
    ).splitlines()
    assert sorted(names) == [
        ".gitignore",
        "SKILL.md",
        "debug.log",
        "drafts/keep.txt",
        "reference.md",
        "scripts/process.js",
        "sub/drafts/a.md",
    ]
    assert result.version.hash == content_hash(src, store.config.exclude)
    fsck(history)


def _existing_with_change(store: Store, make_skill) -> tuple[Path, Path]:
    src = make_skill()
    store.snapshot("skill", src, timestamp=T0)
    # New content (several new blobs), so the failed attempt has objects to write.
    for index in range(8):
        (src / f"new-{index}.md").write_text(f"new file {index}\n" * 50)
    (src / "SKILL.md").write_text("# changed\n")
    return src, store.artifact("skill").history_path


def _same_repository(before: dict, after: dict) -> None:
    extra = sorted(set(after) - set(before))
    # No object, ref or cache file may be left by a failed snapshot ...
    assert [p for p in extra if not stat.S_ISDIR(after[p][0])] == []
    assert {p: after[p] for p in before if p in after} == before
    # ... and not even the empty objects/xx directories its objects went into.
    assert extra == [], "empty directories left behind by the failure"


def test_failed_read_leaves_an_existing_history_exactly_as_before(
    store: Store, make_skill, listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, history = _existing_with_change(store, make_skill)
    before = listing(history)
    real = gitversions.git.history.read_consistently
    calls = {"n": 0}
    guard = threading.Lock()

    def flaky(node, consume):
        with guard:
            calls["n"] += 1
            n = calls["n"]
        if n == 5:
            raise SourceError(f"cannot read {node.rel}: Input/output error")
        return real(node, consume)

    monkeypatch.setattr(gitversions.git.history, "read_consistently", flaky)
    with pytest.raises(SourceError):
        store.snapshot("skill", src, timestamp=T0 + 1)
    assert calls["n"] >= 5
    after = listing(history)
    _same_repository(before, after)
    monkeypatch.undo()
    assert store.snapshot("skill", src, timestamp=T0 + 2).version.number == 2
    fsck(history)


def test_file_vanishing_mid_snapshot_leaves_history_as_before(
    store: Store, make_skill, listing, monkeypatch: pytest.MonkeyPatch
) -> None:
    src, history = _existing_with_change(store, make_skill)
    before = listing(history)
    real_scan = gitversions.store.scan_source

    def scan_then_delete(path, exclude=()):
        scanned = real_scan(path, exclude)
        (Path(path) / "new-3.md").unlink()  # gone between scan and read
        return scanned

    monkeypatch.setattr(gitversions.store, "scan_source", scan_then_delete)
    with pytest.raises(SourceError) as info:
        store.snapshot("skill", src, timestamp=T0 + 1)
    assert "new-3.md" in str(info.value)
    after = listing(history)
    _same_repository(before, after)
    assert len(store.artifact("skill").versions()) == 1
    fsck(history)


def test_failed_first_snapshot_leaves_no_artifact(
    store: Store, make_skill, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_skill()
    real_scan = gitversions.store.scan_source

    def scan_then_delete(path, exclude=()):
        scanned = real_scan(path, exclude)
        (Path(path) / "reference.md").unlink()
        return scanned

    monkeypatch.setattr(gitversions.store, "scan_source", scan_then_delete)
    with pytest.raises(SourceError):
        store.snapshot("skill", src)
    assert not store.artifact("skill").exists()
    assert store.names() == []
    home = store.root / "artifacts" / "skill"
    assert not (home / "history.git").exists()
    leftovers = [p.name for p in home.iterdir()] if home.exists() else []
    assert [n for n in leftovers if n != ".lock"] == []


def test_auto_export_after_snapshot(store: Store, make_skill) -> None:
    src = make_skill()
    plain = store.snapshot("plain", src)
    assert plain.created
    assert not store.artifact("plain").versions_dir.exists()
    auto = set_config(store, "[export]\nauto = true\n")
    result = auto.snapshot("skill", src)
    versions_dir = auto.artifact("skill").versions_dir
    assert (versions_dir / str(result.version.id) / ".version.toml").is_file()
    assert os.readlink(versions_dir / "latest") == str(result.version.id)
    (src / "SKILL.md").write_text("v2\n")
    second = auto.snapshot("skill", src)
    assert (versions_dir / str(second.version.id) / "SKILL.md").read_text() == "v2\n"
    assert os.readlink(versions_dir / "latest") == str(second.version.id)
    assert auto.artifact("skill").verify() == []
    fsck(auto.artifact("skill").history_path)


# -- locks ------------------------------------------------------------------------


def test_second_writer_times_out_naming_the_holder(store: Store, make_skill) -> None:
    src = make_skill()
    store.snapshot("skill", src, timestamp=T0)
    (src / "SKILL.md").write_text("changed\n")
    quick = set_config(store, "lock_timeout = 0.2\n")
    holder = store.artifact("skill")
    with holder.lock():
        start = time.monotonic()
        with pytest.raises(LockTimeoutError) as info:
            quick.snapshot("skill", src, timestamp=T0 + 1)
        elapsed = time.monotonic() - start
    assert 0.15 <= elapsed < 5
    message = str(info.value)
    assert f"pid {os.getpid()}" in message
    assert "skill" in message
    assert len(quick.artifact("skill").versions()) == 1
    # Once released, the writer gets in.
    assert quick.snapshot("skill", src, timestamp=T0 + 1).created
    fsck(holder.history_path)


HOLDER = """
import sys, time
from pathlib import Path
from gitversions.fs.lock import artifact_lock
with artifact_lock(Path(sys.argv[1]), 5, "artifact 'skill'"):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_lock_is_freed_when_its_holder_is_killed(store: Store, make_skill) -> None:
    src = make_skill()
    store.snapshot("skill", src, timestamp=T0)
    artifact = store.artifact("skill")
    lock_file = artifact.home / ".lock"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_file)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(gitversions.__file__).parent.parent,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        (src / "SKILL.md").write_text("changed\n")
        quick = set_config(store, "lock_timeout = 0.2\n")
        with pytest.raises(LockTimeoutError) as info:
            quick.snapshot("skill", src, timestamp=T0 + 1)
        assert f"pid {child.pid}" in str(info.value)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    start = time.monotonic()
    with artifact_lock(lock_file, 0, "artifact 'skill'"):
        pass
    assert time.monotonic() - start < 1
    assert quick.snapshot("skill", src, timestamp=T0 + 1).version.number == 2
    fsck(artifact.history_path)


# -- gc ---------------------------------------------------------------------------


def test_gc_packs_loose_objects(store: Store, make_skill, listing) -> None:
    src = make_skill()
    (src / "link").symlink_to("SKILL.md")
    for step in range(4):
        (src / "SKILL.md").write_text(f"step {step}\n")
        store.snapshot("skill", src, timestamp=T0 + step)
    artifact = store.artifact("skill")
    history = artifact.history_path
    ids = [v.id for v in artifact.versions()]
    artifact.export()
    exported = listing(artifact.versions_dir)
    assert len(loose_objects(history)) > 0
    stats = artifact.gc()
    assert stats["loose_objects_before"] > 0
    assert stats["packs_after"] >= 1
    assert loose_objects(history) == []
    assert list((history / "objects" / "pack").glob("*.pack"))
    counts = dict(
        line.split(": ")
        for line in run_git("--git-dir", history, "count-objects", "-v").splitlines()
    )
    assert counts["count"] == "0"
    assert int(counts["in-pack"]) >= 4 * 3
    fresh = Store(store.root).artifact("skill")
    assert [v.id for v in fresh.versions()] == ids
    assert fresh.verify() == []
    # Versions read from the pack export byte for byte as before.
    shutil.rmtree(fresh.versions_dir)
    fresh.export()
    assert listing(fresh.versions_dir) == exported
    # And recording on top of a packed history still works.
    (src / "SKILL.md").write_text("after gc\n")
    assert Store(store.root).snapshot("skill", src).version.number == 5
    fsck(history)


# -- verify -----------------------------------------------------------------------


@pytest.fixture
def healthy(store: Store, make_skill) -> tuple[Artifact, list]:
    """An artifact with two exported versions that verifies clean."""
    src = make_skill()
    (src / "link").symlink_to("SKILL.md")
    store.snapshot("skill", src, timestamp=T0, message="one")
    (src / "SKILL.md").write_text("second\n")
    (src / "extra.md").write_text("more\n")
    store.snapshot("skill", src, timestamp=T0 + 1, message="two")
    artifact = store.artifact("skill")
    artifact.export()
    assert artifact.verify() == []
    fsck(artifact.history_path)
    return Store(store.root).artifact("skill"), artifact.versions()


def test_verify_healthy_store(healthy) -> None:
    artifact, _versions = healthy
    assert artifact.verify() == []
    fsck(artifact.history_path)


def _writable(path: Path) -> None:
    for p in [path, *path.rglob("*")] if path.is_dir() else [path]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200)


def _damage_modified(a: Artifact, vs: list) -> tuple[str, ...]:
    d = a.versions_dir / str(vs[0].id)
    _writable(d)
    (d / "SKILL.md").write_text("tampered\n")
    return (str(vs[0].id), "SKILL.md")


def _damage_extra(a: Artifact, vs: list) -> tuple[str, ...]:
    d = a.versions_dir / str(vs[1].id)
    _writable(d)
    (d / "scripts" / "stray.txt").write_text("extra\n")
    return (str(vs[1].id), "scripts/stray.txt")


def _damage_missing(a: Artifact, vs: list) -> tuple[str, ...]:
    d = a.versions_dir / str(vs[1].id)
    _writable(d)
    (d / "reference.md").unlink()
    return (str(vs[1].id), "reference.md")


def _damage_toml(a: Artifact, vs: list) -> tuple[str, ...]:
    meta = a.versions_dir / str(vs[0].id) / ".version.toml"
    _writable(meta)
    meta.write_text(meta.read_text().replace('message = "one"', 'message = "edited"'))
    return (str(vs[0].id), ".version.toml")


def _damage_latest(a: Artifact, vs: list) -> tuple[str, ...]:
    latest = a.versions_dir / "latest"
    latest.unlink()
    latest.symlink_to(str(vs[0].id))
    return ("latest", str(vs[0].id))


def _damage_tag(a: Artifact, vs: list) -> tuple[str, ...]:
    (a.history_path / "refs" / "tags" / str(vs[0].id)).unlink()
    return (str(vs[0].id), "tag")


def test_a_missing_tag_is_pending_derived_data_not_damage(healthy) -> None:
    """A crash between moving main and tagging leaves a tag missing: no damage."""
    artifact, versions = healthy
    _damage_tag(artifact, versions)
    again = Store(artifact.store.root).artifact("skill")
    assert again.verify() == []
    assert any(str(versions[0].id) in p and "tag" in p for p in again.pending())
    assert again.repair() == [f"skill: tag {versions[0].id} re-created"]
    assert again.pending() == []
    assert again.history.tag_target(versions[0].id) == versions[0].commit


def test_an_older_complete_latest_is_pending_not_damage(healthy) -> None:
    """latest naming a complete older version is what a kill between a version
    directory's rename and latest's leaves: an export away, not damage."""
    artifact, versions = healthy
    _damage_latest(artifact, versions)
    again = Store(artifact.store.root).artifact("skill")
    assert again.verify() == []
    assert any("latest" in p and str(versions[0].id) in p for p in again.pending())
    again.export()
    assert again.pending() == []


def test_leftover_of_a_killed_export_passes_verify(healthy) -> None:
    artifact, versions = healthy
    _damage_leftover(artifact, versions)
    assert Store(artifact.store.root).artifact("skill").verify() == []


def _damage_leftover(a: Artifact, vs: list) -> tuple[str, ...]:
    leftover = a.versions_dir / f".{vs[1].id}.tmp-4242-deadbeef"
    (leftover / "scripts").mkdir(parents=True)
    (leftover / "SKILL.md").write_text("half\n")
    return (leftover.name,)


def _blob_of(a: Artifact, version, path: str) -> tuple[str, Path]:
    blob = a.history.files(version.tree)[path].blob
    return blob, a.history_path / "objects" / blob[:2] / blob[2:]


def _damage_blob_content(a: Artifact, vs: list) -> tuple[str, ...]:
    blob, loose = _blob_of(a, vs[0], "reference.md")
    raw = bytearray(zlib.decompress(loose.read_bytes()))
    raw[-2] ^= 0x01  # one bit of the content, header intact
    loose.chmod(0o644)
    loose.write_bytes(zlib.compress(bytes(raw)))
    return (blob,)


def _damage_blob_compressed(a: Artifact, vs: list) -> tuple[str, ...]:
    blob, loose = _blob_of(a, vs[0], "scripts/process.js")
    raw = bytearray(loose.read_bytes())
    raw[len(raw) // 2] ^= 0x40
    loose.chmod(0o644)
    loose.write_bytes(bytes(raw))
    return (blob,)


DAMAGE: dict[str, Callable[[Artifact, list], tuple[str, ...]]] = {
    "modified-file": _damage_modified,
    "extra-file": _damage_extra,
    "missing-file": _damage_missing,
    "wrong-version-toml": _damage_toml,
    "bit-flipped-blob": _damage_blob_content,
    "bit-flipped-compressed-blob": _damage_blob_compressed,
}


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_verify_names_each_problem(healthy, kind: str) -> None:
    artifact, versions = healthy
    words = DAMAGE[kind](artifact, versions)
    problems = Store(artifact.store.root).artifact("skill").verify()
    assert problems, f"verify found nothing wrong after {kind}"
    joined = "\n".join(problems)
    for word in words:
        assert word in joined, f"{word!r} not named in: {problems}"
    assert all(p.startswith("skill: ") for p in problems)


@pytest.mark.parametrize("kind", ["bit-flipped-blob", "bit-flipped-compressed-blob"])
def test_verify_names_a_damaged_blob_without_exported_versions(
    store: Store, make_skill, kind: str
) -> None:
    src = make_skill()
    store.snapshot("skill", src, timestamp=T0)
    artifact = store.artifact("skill")
    versions = artifact.versions()
    fsck(artifact.history_path)
    (blob,) = DAMAGE[kind](artifact, versions)
    problems = Store(store.root).artifact("skill").verify()
    assert any(blob in p for p in problems), problems


def test_verify_names_a_wrong_cache_entry(healthy) -> None:
    artifact, versions = healthy
    index = artifact.history_path / "gitversions" / "index"
    wrong = f"{versions[1].commit} 7 {versions[1].hash}\n"
    index.write_text(wrong + index.read_text())
    problems = Store(artifact.store.root).artifact("skill").verify()
    assert any("cached id is wrong" in p for p in problems), problems


@pytest.mark.parametrize("kind", ["bit-flipped-blob", "bit-flipped-compressed-blob"])
def test_verify_names_a_damaged_blob_in_a_sha256_store_with_exported_versions(
    store: Store, make_skill, kind: str
) -> None:
    store = set_config(store, 'object_format = "sha256"\n')
    src = make_skill()
    store.snapshot("skill", src, timestamp=T0)
    artifact = store.artifact("skill")
    artifact.export()
    assert artifact.verify() == []
    fsck(artifact.history_path)
    (blob,) = DAMAGE[kind](artifact, artifact.versions())
    # verify reports damage; it does not stop at the first damaged object.
    problems = Store(store.root).artifact("skill").verify()
    assert any(blob in p for p in problems), problems


def test_verify_names_every_problem_not_only_the_first(healthy) -> None:
    artifact, versions = healthy
    words = [
        *_damage_blob_compressed(artifact, versions),
        *_damage_missing(artifact, versions),
    ]
    _damage_tag(artifact, versions)  # derived data: pending, listed apart
    problems = Store(artifact.store.root).artifact("skill").verify()
    joined = "\n".join(problems)
    assert "reference.md" in joined, problems
    pending = Store(artifact.store.root).artifact("skill").pending()
    assert any("tag" in p for p in pending), pending
    for word in words:
        assert word in joined, f"{word!r} not named in: {problems}"


# -- what is recorded can be exported and restored ------------------------------


def _case_twins(base: Path) -> Path:
    base.mkdir(parents=True)
    (base / "SKILL.md").write_text("skill\n")
    (base / "README.md").write_text("upper\n")
    (base / "readme.md").write_text("lower\n")  # distinct files on Linux
    return base


def _deep_128(base: Path) -> Path:
    base.mkdir(parents=True)
    (base / "SKILL.md").write_text("skill\n")
    deep = base.joinpath(*["d"] * 128)
    deep.mkdir(parents=True)
    (deep / "f.md").write_text("deep\n")
    return base


def _file_named_version_toml(base: Path) -> Path:
    base.mkdir(parents=True)
    (base / ".version.toml").write_text("a command file with an odd name\n")
    return base / ".version.toml"


ODD_SOURCES = {
    "names-differing-only-in-case": _case_twins,
    "nested-128-directories": _deep_128,
    "single-file-named-.version.toml": _file_named_version_toml,
}


@pytest.mark.parametrize("kind", list(ODD_SOURCES))
def test_a_snapshot_is_refused_up_front_or_exports_and_restores(
    store: Store, tmp_path: Path, kind: str
) -> None:
    # Either SRC is refused with a clear SourceError before anything is
    # recorded, or the version it records can be read, exported and restored.
    # Recording a version and then failing (leaving a history every later
    # command, snapshot included, trips over) is the one thing not allowed.
    src = ODD_SOURCES[kind](tmp_path / "odd")
    try:
        result = store.snapshot("odd", src, timestamp=T0)
    except SourceError:
        artifact = store.artifact("odd")
        assert not artifact.exists() or artifact.versions() == []
        return
    artifact = Store(store.root).artifact("odd")
    assert artifact.verify() == []
    artifact.export()
    target = tmp_path / "restored" / ("x.md" if src.is_file() else "dir")
    artifact.restore(str(result.version.id), target)
    if src.is_file():
        assert target.read_bytes() == src.read_bytes()
    else:
        assert content_hash(target) == result.version.hash
    fsck(artifact.history_path)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("\u212a.md", "k.md"),  # KELVIN SIGN: one file with k.md on macOS/Windows
        ("caf\u00e9.md", "cafe\u0301.md"),  # NFC and NFD: one file on macOS
        ("stra\u00dfe.md", "STRASSE.md"),  # sharp s folds to ss
    ],
)
def test_unicode_twins_are_refused_like_case_twins(
    store: Store, tmp_path: Path, one: str, other: str
) -> None:
    # Export onto macOS or Windows would write one over the other (or through
    # it, were it a link), so a version may not hold both.
    src = tmp_path / "twins"
    src.mkdir()
    (src / "SKILL.md").write_text("skill\n")
    (src / one).write_text("one\n")
    (src / other).write_text("other\n")
    with pytest.raises(SourceError, match="duplicate name"):
        store.snapshot("twins", src, timestamp=T0)
    assert not store.artifact("twins").exists()
    (src / other).unlink()
    assert store.snapshot("twins", src, timestamp=T0).created


@pytest.mark.parametrize(
    "kind", ["names-differing-only-in-case", "nested-128-directories"]
)
def test_a_refused_snapshot_does_not_wedge_the_artifact(
    store: Store, make_skill, tmp_path: Path, kind: str
) -> None:
    src = make_skill()
    first = store.snapshot("skill", src, timestamp=T0)
    odd = ODD_SOURCES[kind](tmp_path / "odd")
    for path in odd.iterdir():
        if path.name != "SKILL.md":
            shutil.move(path, src / path.name)
    # test_a_snapshot_is_refused_up_front_or_exports_and_restores judges how
    # this attempt ends; here only what it leaves behind matters.
    with contextlib.suppress(GitVersionsError):
        store.snapshot("skill", src, timestamp=T0 + 1)
    # Once SRC is ordinary again, the artifact must work.
    for name in ("README.md", "readme.md", "d"):
        target = src / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    (src / "SKILL.md").write_text("fixed\n")
    fresh = Store(store.root)
    result = fresh.snapshot("skill", src, timestamp=T0 + 2)
    assert result.created
    assert fresh.artifact("skill").versions()[0].id == first.version.id
    assert fresh.artifact("skill").verify() == []
    fresh.artifact("skill").export()
    fsck(fresh.artifact("skill").history_path)


def test_export_repair_recreates_a_deleted_older_tag(store: Store, make_skill) -> None:
    """Writers re-tag from main back to the first tagged version; repair: all."""
    src = make_skill()
    store.snapshot("skill", src, timestamp=1_764_496_800)
    (src / "SKILL.md").write_text("# two\n")
    store.snapshot("skill", src, timestamp=1_764_496_860)
    (src / "SKILL.md").write_text("# three\n")
    store.snapshot("skill", src, timestamp=1_764_496_920)
    artifact = store.artifact("skill")
    v1 = artifact.versions()[0]
    (artifact.history_path / "refs" / "tags" / str(v1.id)).unlink()
    assert any("is missing" in p for p in artifact.pending())
    artifact.export()  # the walk stops at the tagged newest version
    assert artifact.history.tag_target(v1.id) is None
    artifact.export(repair=True)
    assert artifact.history.tag_target(v1.id) == v1.commit
    assert artifact.verify() == []
    assert artifact.pending() == []


def test_source_of_a_plain_git_commit_is_not_carried_over(
    store: Store, make_skill, tmp_path: Path
) -> None:
    src = make_skill()
    store.snapshot("skill", src, source="anthropics/skills/canvas-design")
    artifact = store.artifact("skill")
    work = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", str(artifact.history_path), str(work)], check=True
    )
    (work / "SKILL.md").write_text("# edited with plain git\n")
    for args in (["add", "-A"], ["commit", "-qm", "plain"], ["push", "-q"]):
        subprocess.run(["git", "-C", str(work), *args], check=True)
    assert store.artifact("skill").resolve("latest").source == "git"
    (src / "SKILL.md").write_text("# next\n")
    result = store.snapshot("skill", src)
    assert result.version.source == "local"
    assert result.version.number == 3


# -- a damaged object met by gc or a bundle export: one clear line ---------------


@pytest.mark.parametrize("how", ["compressed-bit", "content-bit"])
@pytest.mark.parametrize(
    "command", [["gc", "sk"], ["export", "sk", "--format", "bundle"]]
)
def test_a_damaged_loose_object_is_reported_not_an_internal_error(
    tmp_path: Path, how: str, command: list[str]
) -> None:

    src = tmp_path / "src"
    src.mkdir()
    (src / "SKILL.md").write_text("a skill\n")
    root = tmp_path / "store"
    store = Store(root)
    store.snapshot("sk", src)
    store.close()
    history = root / "artifacts" / "sk" / "history.git"
    blob = next(
        p
        for p in (history / "objects").glob("??/*")
        if zlib.decompress(p.read_bytes()).startswith(b"blob ")
    )
    blob.chmod(0o644)
    raw = bytearray(blob.read_bytes())
    if how == "compressed-bit":
        raw[len(raw) // 2] ^= 1
        blob.write_bytes(bytes(raw))
    else:
        body = bytearray(zlib.decompress(bytes(raw)))
        body[-2] ^= 1
        blob.write_bytes(zlib.compress(bytes(body)))
    extra = ["--to", str(tmp_path)] if command[0] == "export" else []
    result = CliRunner().invoke(cli, ["--root", str(root), *command, *extra])
    assert "internal error" not in result.output, result.output
    if result.exit_code != 0:
        assert result.exit_code == 1
        assert "damaged" in result.output or "does not match" in result.output, (
            result.output
        )
    assert not list(tmp_path.glob(".*.tmp-*"))


# -- what the command line shows is the library's (issue 10) -----------------------


def test_the_library_gives_what_list_diff_export_and_verify_show(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "SKILL.md").write_text("one\n")
    store = Store(tmp_path / "store")
    first = store.snapshot("sk", src).version
    (src / "SKILL.md").write_text("two\n")
    second = store.snapshot("sk", src).version
    artifact = store.artifact("sk")
    assert artifact.summary() == {"name": "sk", "versions": 2, "latest": str(second.id)}
    assert artifact.first_parent(second) == first
    assert artifact.first_parent(first) is None
    assert artifact.export().target == artifact.versions_dir
    out = tmp_path / "out"
    assert artifact.export(to=out).target == out
    assert artifact.export(fmt="bundle").target == artifact.home
    # Damage a materialized copy: the problem says it is in versions/.
    copy = artifact.versions_dir / str(second.id) / "SKILL.md"
    copy.chmod(0o644)
    copy.write_text("edited by hand\n")
    problems = artifact.verify()
    assert problems and {p.part for p in problems} == {"versions"}
    assert all(isinstance(p, str) and p.startswith("sk: ") for p in problems)
    store.close()

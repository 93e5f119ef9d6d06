"""Materializer: versions/ layout, latest, incremental export, archives, safety."""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
from dulwich.objects import Tree
from dulwich.repo import Repo
from helpers import (
    add_blob,
    add_commit,
    add_tree,
    fsck,
    listing_of,
    run_git,
    set_config,
)

from gitversions.errors import UnsafePathError
from gitversions.formats.metadata import parse_version_toml, validate_version_toml
from gitversions.git.history import join_message
from gitversions.snapshot.hashing import content_hash
from gitversions.store import Artifact, Store

T0 = 1764496800  # 2025-11-30T10:00:00Z


@pytest.fixture
def src(make_skill) -> Path:
    """A skill with an executable, nested dirs and symlinks (some pointing out)."""
    base = make_skill(files={"docs/deep/notes.md": "deep\n"})
    (base / "link-to-skill").symlink_to("SKILL.md")
    (base / "outside-rel").symlink_to("../../../../etc/passwd")
    (base / "outside-abs").symlink_to("/etc/passwd")
    (base / "scripts-link").symlink_to("scripts")
    (base / "dangling").symlink_to("does/not/exist")
    return base


@pytest.fixture
def two(store: Store, src: Path) -> tuple[Artifact, list]:
    """An artifact ``skill`` with two versions (v2 adds and drops files)."""
    store.snapshot("skill", src, timestamp=T0, message="one", source="test/one")
    (src / "SKILL.md").write_text("# Canvas design\n\nSecond version.\n")
    (src / "reference.md").unlink()
    (src / "added-in-v2.md").write_text("new\n")
    store.snapshot("skill", src, timestamp=T0 + 60, message="two")
    artifact = store.artifact("skill")
    fsck(artifact.history_path)
    return artifact, artifact.versions()


EXPECTED_V1 = {
    "SKILL.md",
    "reference.md",
    "scripts/process.js",
    "docs/deep/notes.md",
    "link-to-skill",
    "outside-rel",
    "outside-abs",
    "scripts-link",
    "dangling",
}


def test_export_layout(two, tmp_path: Path) -> None:
    artifact, (v1, v2) = two
    result = artifact.export()
    assert result.written == [str(v1.id), str(v2.id)]
    assert result.latest == str(v2.id)
    versions_dir = artifact.versions_dir
    assert sorted(p.name for p in versions_dir.iterdir()) == sorted(
        [str(v1.id), str(v2.id), "latest"]
    )
    d1 = versions_dir / str(v1.id)
    found = listing_of(d1, directories=False, exact_modes=False)
    assert set(found) == EXPECTED_V1 | {".version.toml"}
    # Content and modes: read-only files, executables 0555.
    assert found["SKILL.md"][1] == b"# Canvas design\n\nDraw things.\n"
    assert stat.S_IMODE(found["SKILL.md"][0]) == 0o444
    assert stat.S_IMODE(found["docs/deep/notes.md"][0]) == 0o444
    assert stat.S_IMODE(found[".version.toml"][0]) == 0o444
    assert stat.S_IMODE(found["scripts/process.js"][0]) == 0o555
    # Symlinks are symlinks with their own text, never followed.
    assert found["link-to-skill"] == (stat.S_IFLNK, "SKILL.md")
    assert found["outside-rel"] == (stat.S_IFLNK, "../../../../etc/passwd")
    assert found["outside-abs"] == (stat.S_IFLNK, "/etc/passwd")
    assert found["scripts-link"] == (stat.S_IFLNK, "scripts")
    assert found["dangling"] == (stat.S_IFLNK, "does/not/exist")
    # The export equals the source as it was (minus .version.toml).
    assert content_hash(d1, [".version.toml"]) == v1.hash
    # latest is a relative symlink to the newest id.
    latest = versions_dir / "latest"
    assert latest.is_symlink()
    assert os.readlink(latest) == str(v2.id)
    assert (latest / "added-in-v2.md").read_text() == "new\n"
    # .version.toml is valid and describes the version.
    meta = (d1 / ".version.toml").read_text()
    assert validate_version_toml(meta) == []
    data = parse_version_toml(meta)
    assert data["version"]["id"] == str(v1.id)
    assert data["version"]["hash"] == v1.hash
    assert data["version"]["commit"] == v1.commit
    assert data["version"]["timestamp"] == "2025-11-30T10:00:00Z"
    assert data["version"]["source"] == "test/one"
    assert data["version"]["message"] == "one"
    assert data["version"]["parent_versions"] == []
    meta2 = parse_version_toml(
        (versions_dir / str(v2.id) / ".version.toml").read_text()
    )
    assert meta2["version"]["parent_versions"] == [str(v1.id)]
    assert meta2["changes"] == {
        "files_changed": ["SKILL.md", "added-in-v2.md", "reference.md"],
        "added": ["added-in-v2.md"],
        "modified": ["SKILL.md"],
        "deleted": ["reference.md"],
        "summary": "1 added, 1 modified, 1 deleted",
    }
    # Nothing was written through the links.
    assert not (tmp_path / "etc").exists()
    assert artifact.verify() == []
    fsck(artifact.history_path)


def _stats(base: Path) -> dict[str, tuple[int, int]]:
    result = {}
    for path in [base, *base.rglob("*")]:
        st = path.lstat()
        result[str(path.relative_to(base))] = (st.st_ino, st.st_mtime_ns)
    return result


def test_second_export_writes_nothing(two) -> None:
    artifact, (v1, v2) = two
    artifact.export()
    before = _stats(artifact.versions_dir)
    time.sleep(0.01)
    result = Store(artifact.store.root).artifact("skill").export()
    assert result.written == []
    assert result.intact == [str(v1.id), str(v2.id)]
    assert result.latest == str(v2.id)
    assert _stats(artifact.versions_dir) == before


def test_export_only_adds_the_new_version(two, src: Path, store: Store) -> None:
    artifact, (v1, _v2) = two
    artifact.export()
    before = _stats(artifact.versions_dir / str(v1.id))
    (src / "third.md").write_text("3\n")
    v3 = store.snapshot("skill", src, timestamp=T0 + 120).version
    result = Store(store.root).artifact("skill").export()
    assert result.written == [str(v3.id)]
    assert os.readlink(artifact.versions_dir / "latest") == str(v3.id)
    assert _stats(artifact.versions_dir / str(v1.id)) == before
    fsck(artifact.history_path)


def _make_writable(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o200)


def _no_hardlinks(artifact: Artifact) -> None:
    # A chmod on one link changes every version sharing the inode; the
    # hardlinked case has its own test below.
    artifact.store._config = dataclasses.replace(artifact.store.config, hardlink=False)


def test_damaged_version_dir_is_rewritten(two, listing) -> None:
    artifact, (v1, v2) = two
    _no_hardlinks(artifact)
    artifact.export()
    pristine = listing(artifact.versions_dir)
    d1 = artifact.versions_dir / str(v1.id)
    _make_writable(d1)
    (d1 / "SKILL.md").write_text("edited by hand\n")
    (d1 / "stray.txt").write_text("stray\n")
    assert artifact.verify() != []
    result = artifact.export(repair=True)
    assert result.written == [str(v1.id)]
    assert listing(artifact.versions_dir) == pristine
    assert artifact.verify() == []
    # A version directory missing its .version.toml is rewritten by a plain export.
    d2 = artifact.versions_dir / str(v2.id)
    _make_writable(d2)
    (d2 / ".version.toml").unlink()
    result = artifact.export()
    assert result.written == [str(v2.id)]
    assert listing(artifact.versions_dir) == pristine


def test_rebuild_after_deleting_versions_is_byte_identical(two, listing) -> None:
    artifact, _ = two
    artifact.export()
    first = listing(artifact.versions_dir)
    shutil.rmtree(artifact.versions_dir)
    artifact.export()
    assert listing(artifact.versions_dir) == first


def test_export_from_a_bare_clone_is_byte_identical(
    two, tmp_path: Path, listing
) -> None:
    artifact, _ = two
    artifact.export()
    original = listing(artifact.versions_dir)
    other = Store(tmp_path / "other-store")
    other.init()
    home = other.root / "artifacts" / "skill"
    home.mkdir(parents=True)
    run_git("clone", "-q", "--bare", artifact.history_path, home / "history.git")
    cloned = other.artifact("skill")
    cloned.export()
    assert listing(cloned.versions_dir) == original
    assert cloned.verify() == []
    fsck(home / "history.git")


def test_copy_fallback_for_latest(two, store: Store, src: Path, listing) -> None:
    _artifact, (_v1, v2) = two
    copy_store = set_config(store, '[export]\nlatest = "copy"\n')
    copying = copy_store.artifact("skill")
    copying.export()
    latest = copying.versions_dir / "latest"
    assert latest.is_dir()
    assert not latest.is_symlink()
    assert listing(latest) == listing(copying.versions_dir / str(v2.id))
    assert copying.verify() == []
    # A newer version replaces the copy completely.
    (src / "added-in-v2.md").unlink()
    (src / "v3-only.md").write_text("three\n")
    v3 = copy_store.snapshot("skill", src, timestamp=T0 + 120).version
    Store(store.root).artifact("skill").export()
    assert latest.is_dir() and not latest.is_symlink()
    assert listing(latest) == listing(copying.versions_dir / str(v3.id))
    assert not (latest / "added-in-v2.md").exists()
    assert (latest / "v3-only.md").read_text() == "three\n"
    assert [
        p.name for p in copying.versions_dir.iterdir() if p.name.startswith(".")
    ] == []
    # Switch to symlinks ...
    sym = set_config(store, '[export]\nlatest = "symlink"\n')
    sym.artifact("skill").export()
    assert latest.is_symlink()
    assert os.readlink(latest) == str(v3.id)
    assert sym.artifact("skill").verify() == []
    # ... and back to a copy.
    back = set_config(store, '[export]\nlatest = "copy"\n')
    back.artifact("skill").export()
    assert latest.is_dir() and not latest.is_symlink()
    assert listing(latest) == listing(copying.versions_dir / str(v3.id))
    assert back.artifact("skill").verify() == []
    fsck(copying.history_path)
    assert [
        p.name for p in copying.versions_dir.iterdir() if p.name.startswith(".")
    ] == []


def test_export_to_another_directory(two, tmp_path: Path, listing, invoke) -> None:
    artifact, (v1, v2) = two
    out = tmp_path / "out"
    result = artifact.export(to=out)
    assert result.written == [str(v1.id), str(v2.id)]
    assert os.readlink(out / "latest") == str(v2.id)
    assert not artifact.versions_dir.exists()
    artifact.export()
    assert listing(out) == listing(artifact.versions_dir)
    # One version only, through the command line.
    only = tmp_path / "only"
    cli = invoke("export", "skill", "v1", "--to", str(only))
    assert cli.exit_code == 0, cli.output
    assert (only / str(v1.id) / ".version.toml").is_file()
    assert listing(only / str(v1.id)) == listing(artifact.versions_dir / str(v1.id))


def _tar_members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_archives(two, tmp_path: Path, fmt: str, monkeypatch) -> None:
    artifact, (v1, v2) = two
    out = tmp_path / "a"
    result = artifact.export([str(v1.id)], to=out, fmt=fmt)
    archive = out / f"{v1.id}.{fmt}"
    assert result.written == [archive.name]
    assert [p.name for p in out.iterdir()] == [archive.name]
    artifact.export([str(v1.id)])  # the directory export, to compare with
    exported = artifact.versions_dir / str(v1.id)
    top = str(v1.id)
    if fmt == "tar.gz":
        members = _tar_members(archive)
        files = {n: m for n, m in members.items() if not m.isdir()}
        assert set(files) == {f"{top}/{p}" for p in EXPECTED_V1 | {".version.toml"}}
        assert all(n == top or n.startswith(f"{top}/") for n in members)
        assert files[f"{top}/scripts/process.js"].mode & 0o777 == 0o755
        assert files[f"{top}/SKILL.md"].mode & 0o777 == 0o644
        link = files[f"{top}/outside-abs"]
        assert link.issym() and link.linkname == "/etc/passwd"
        assert files[f"{top}/outside-rel"].linkname == "../../../../etc/passwd"
        with tarfile.open(archive, "r:gz") as tar:
            for name, member in files.items():
                if member.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    rel = name[len(top) + 1 :]
                    assert handle.read() == (exported / rel).read_bytes(), rel
    else:
        with zipfile.ZipFile(archive) as zf:
            infos = {i.filename: i for i in zf.infolist() if not i.is_dir()}
            assert set(infos) == {f"{top}/{p}" for p in EXPECTED_V1 | {".version.toml"}}
            modes = {n: i.external_attr >> 16 for n, i in infos.items()}
            assert stat.S_IMODE(modes[f"{top}/scripts/process.js"]) == 0o755
            assert stat.S_IMODE(modes[f"{top}/SKILL.md"]) == 0o644
            assert stat.S_ISLNK(modes[f"{top}/outside-abs"])
            assert zf.read(f"{top}/outside-abs") == b"/etc/passwd"
            assert stat.S_ISLNK(modes[f"{top}/link-to-skill"])
            for name, info in infos.items():
                rel = name[len(top) + 1 :]
                if stat.S_ISREG(modes[name]):
                    assert zf.read(info) == (exported / rel).read_bytes(), rel
    # Deterministic: the same bytes when written again, later.
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86400 * 400)
    again = tmp_path / "b"
    artifact.export([str(v1.id)], to=again, fmt=fmt)
    assert (again / archive.name).read_bytes() == archive.read_bytes()
    # Exporting all versions as archives gives one archive each.
    every = tmp_path / "c"
    result = artifact.export(to=every, fmt=fmt)
    assert sorted(result.written) == sorted(f"{v.id}.{fmt}" for v in (v1, v2))
    assert (every / archive.name).read_bytes() == archive.read_bytes()


def test_leftover_temporaries_are_removed_by_the_next_export(two, listing) -> None:
    artifact, (v1, _v2) = two
    artifact.export()
    clean = listing(artifact.versions_dir)
    leftover = artifact.versions_dir / f".{v1.id}.tmp-123-abcdef01"
    (leftover / "scripts").mkdir(parents=True)
    (leftover / "SKILL.md").write_text("half written\n")
    (leftover / "SKILL.md").chmod(0o444)
    (leftover / "scripts").chmod(0o555)
    stale_latest = artifact.versions_dir / ".latest.tmp-123-abcdef02"
    stale_latest.symlink_to(str(v1.id))
    # A killed export leaves a store that passes verify (SPEC §6): its
    # temporaries are hidden and never mistaken for versions.
    assert artifact.verify() == []
    artifact.export()
    assert not leftover.exists()
    assert not stale_latest.is_symlink()
    assert listing(artifact.versions_dir) == clean
    assert artifact.verify() == []


# -- crafted histories ------------------------------------------------------------


def _craft(history_path: Path, build) -> str:
    """Commit a tree made by ``build(repo)`` on top of main; return its id."""
    repo = Repo(str(history_path))
    try:
        head = repo.refs[b"refs/heads/main"]
        parent = repo[head]
        base = repo[parent.tree]
        top = Tree()
        for item in base.iteritems():
            top.add(item.path, item.mode, item.sha)
        build(repo, top)
        repo.object_store.add_object(top)
        message = join_message("crafted", "attacker")
        commit = add_commit(repo, top.id, [head], message, T0 + 3600)
        repo.refs[b"refs/heads/main"] = commit
        return commit.decode()
    finally:
        repo.close()


def _evil_dir(repo: Repo) -> bytes:
    return add_tree(
        repo,
        [
            (b"evil.txt", 0o100644, add_blob(repo, b"pwned\n")),
            (b"config", 0o100644, add_blob(repo, b"[core]\n\tfsmonitor = evil\n")),
        ],
    )


def _add_dir(name: bytes):
    def build(repo: Repo, top: Tree) -> None:
        top.add(name, 0o040000, _evil_dir(repo))

    return build


def _add_file(name: bytes):
    def build(repo: Repo, top: Tree) -> None:
        top.add(name, 0o100644, add_blob(repo, b"pwned\n"))

    return build


def _add_nested_git(repo: Repo, top: Tree) -> None:
    inner = add_tree(repo, [(b".git", 0o040000, _evil_dir(repo))])
    top.add(b"scripts2", 0o040000, inner)


def _add_gitlink(repo: Repo, top: Tree) -> None:
    top.add(b"submodule", 0o160000, b"1" * 40)


def _add_case_twins(repo: Repo, top: Tree) -> None:
    # "Docs" a symlink out of the store, "docs" a directory: on a
    # case-insensitive filesystem the file would be written through the link.
    top.add(b"Docs", 0o120000, add_blob(repo, b"/tmp"))
    top.add(b"docs", 0o040000, _evil_dir(repo))


def _add_kelvin_twins(repo: Repo, top: Tree) -> None:
    # The same trap beyond ASCII: "\u212a" (KELVIN SIGN) is "k" on macOS and
    # Windows.
    top.add("\u212a".encode(), 0o120000, add_blob(repo, b"/tmp"))
    top.add(b"k", 0o040000, _evil_dir(repo))


def _add_empty_link(repo: Repo, top: Tree) -> None:
    top.add(b"empty-link", 0o120000, add_blob(repo, b""))


CRAFTED = {
    "dotdot-dir": _add_dir(b".."),
    "dot-dir": _add_dir(b"."),
    "git-dir": _add_dir(b".git"),
    "GIT-dir": _add_dir(b".GIT"),
    "git-dir-ntfs-alias": _add_dir(b"git~1"),
    "git-dir-trailing-dot": _add_dir(b".git."),
    "nested-git-dir": _add_nested_git,
    "backslash-file": _add_file(b"a\\b"),
    "backslash-dotdot": _add_file(b"..\\..\\evil.txt"),
    "slash-file": _add_file(b"../evil.txt"),
    "absolute-file": _add_file(b"/tmp/evil.txt"),
    "gitlink": _add_gitlink,
    "case-twins": _add_case_twins,
    "kelvin-twins": _add_kelvin_twins,
    "empty-link": _add_empty_link,
}


def _outside(tmp_path: Path, history: Path) -> dict[str, tuple[int, bytes | str]]:
    """Everything under tmp_path except the history repository itself."""
    return {
        k: v
        for k, v in listing_of(tmp_path, directories=False, exact_modes=False).items()
        if not (tmp_path / k).is_relative_to(history) and not k.endswith("/.lock")
    }


@pytest.mark.parametrize("kind", list(CRAFTED))
def test_export_refuses_unsafe_tree_entries(two, tmp_path: Path, kind: str) -> None:
    artifact, (_v1, v2) = two
    artifact.export()
    fsck(artifact.history_path)
    history = artifact.history_path
    _craft(history, CRAFTED[kind])
    before = _outside(tmp_path, history)
    versions_before = sorted(p.name for p in artifact.versions_dir.iterdir())
    fresh = Store(artifact.store.root).artifact("skill")
    with pytest.raises(UnsafePathError):
        fresh.export()
    assert sorted(p.name for p in artifact.versions_dir.iterdir()) == versions_before
    assert os.readlink(artifact.versions_dir / "latest") == str(v2.id)
    assert _outside(tmp_path, history) == before
    assert not list(tmp_path.rglob("evil.txt"))
    assert not Path("/tmp/evil.txt").exists()
    # Archives and exports elsewhere are refused the same way, leaving nothing.
    for fmt in ("tar.gz", "zip", "dir"):
        out = tmp_path / f"out-{fmt.replace('.', '-')}"
        with pytest.raises(UnsafePathError):
            fresh.export(["latest"], to=out, fmt=fmt)
        assert not out.exists() or [p.name for p in out.iterdir()] == []


def test_unchanged_files_are_hardlinked_and_tampering_is_caught(two) -> None:
    artifact, (v1, v2) = two
    artifact.export()
    d1, d2 = (artifact.versions_dir / str(v.id) for v in (v1, v2))
    shared = "docs/deep/notes.md"
    assert (d1 / shared).stat().st_ino == (d2 / shared).stat().st_ino
    assert (d1 / shared).stat().st_mode & 0o777 == 0o444
    assert (d1 / "SKILL.md").stat().st_ino != (d2 / "SKILL.md").stat().st_ino
    assert artifact.verify() == []
    # chmod + edit through one link: every version sharing it is reported...
    (d1 / shared).chmod(0o644)
    (d1 / shared).write_text("tampered\n")
    problems = artifact.verify()
    assert any(str(v1.id) in p and shared in p for p in problems)
    assert any(str(v2.id) in p and shared in p for p in problems)
    # ... and repaired, each with its own copy (no link to a damaged file).
    artifact.export(repair=True)
    assert artifact.verify() == []
    assert (d2 / shared).read_text() == "deep\n"


def test_hardlinks_can_be_turned_off(two) -> None:
    artifact, (v1, v2) = two
    _no_hardlinks(artifact)
    artifact.export()
    d1, d2 = (artifact.versions_dir / str(v.id) for v in (v1, v2))
    shared = "docs/deep/notes.md"
    assert (d1 / shared).stat().st_ino != (d2 / shared).stat().st_ino

"""Object transfer between repositories on this machine: checked, linked or copied."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
from dulwich.repo import Repo
from helpers import fsck, run_git, write_tree

from gitversions.errors import CorruptionError, GitVersionsError
from gitversions.git import remote
from gitversions.git.localxfer import copy_objects, missing_objects
from gitversions.store import Store

T0 = 1_760_000_000


@pytest.fixture
def source(store: Store, tmp_path: Path) -> Store:
    src = tmp_path / "src"
    for n in range(3):
        write_tree(src, {"SKILL.md": f"v{n}\n", "ref.md": "same\n"})
        store.snapshot("skill", src, message=f"v{n}", timestamp=T0 + n)
    return store


def test_push_links_objects_and_git_agrees(source: Store, tmp_path: Path):
    target = tmp_path / "t.git"
    assert remote.push(source.existing("skill"), str(target)).ok
    fsck(target)
    history = source.existing("skill").history_path
    head = run_git("--git-dir", str(target), "rev-parse", "main").strip()
    blob = run_git("--git-dir", str(target), "rev-parse", f"{head}:SKILL.md").strip()
    mine = history / "objects" / blob[:2] / blob[2:]
    theirs = target / "objects" / blob[:2] / blob[2:]
    assert os.stat(mine).st_ino == os.stat(theirs).st_ino  # hard-linked
    assert (target / "packed-refs").is_file()


def test_copies_where_links_fail(source: Store, tmp_path: Path, monkeypatch):
    def no_link(*_args: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_link)
    target = tmp_path / "t.git"
    assert remote.push(source.existing("skill"), str(target)).ok
    fsck(target)
    other = Store(tmp_path / "other")
    assert len(remote.clone(other, str(target), "skill").adopted) == 3


def test_packed_source_objects_are_written_as_a_pack(source: Store, tmp_path: Path):
    artifact = source.existing("skill")
    artifact.gc()
    assert not list((artifact.history_path / "objects").glob("??/*"))
    target = tmp_path / "t.git"
    assert remote.push(artifact, str(target)).ok
    assert list((target / "objects" / "pack").glob("*.pack"))
    fsck(target)


@pytest.mark.parametrize("which", ["blob", "commit"])
def test_corrupt_loose_object_is_refused(source: Store, tmp_path: Path, which: str):
    """A source object whose content does not match its name never gets in."""
    import shutil

    target = tmp_path / "t.git"
    remote.push(source.existing("skill"), str(target))
    evil = tmp_path / "evil.git"
    shutil.copytree(target, evil)  # copies: never touch the linked originals
    head = run_git("--git-dir", str(target), "rev-parse", "main").strip()
    oid = (
        run_git("--git-dir", str(target), "rev-parse", f"{head}:SKILL.md").strip()
        if which == "blob"
        else head
    )
    loose = evil / "objects" / oid[:2] / oid[2:]
    loose.unlink()
    body = b"forged\n" if which == "blob" else b"tree " + b"0" * 40 + b"\n\nx\n"
    loose.write_bytes(zlib.compress(b"%s %d\0%s" % (which.encode(), len(body), body)))
    other = Store(tmp_path / "other")
    # Found by the checks that read it (a blob) or by the walk (a commit).
    with pytest.raises(GitVersionsError, match=r"does not match its content|damaged"):
        remote.clone(other, str(evil), "skill")
    assert not other.artifact("skill").exists()
    src_repo = Repo(str(evil))
    dst = Repo.init_bare(str(tmp_path / "d.git"), mkdir=True)
    try:
        with pytest.raises(CorruptionError):
            copy_objects(src_repo, dst, missing_objects(src_repo, dst, [head.encode()]))
    finally:
        src_repo.close()
        dst.close()


def test_missing_objects_in_source_are_reported(source: Store, tmp_path: Path):
    import shutil

    target = tmp_path / "t.git"
    remote.push(source.existing("skill"), str(target))
    broken = tmp_path / "broken.git"
    shutil.copytree(target, broken)
    head = run_git("--git-dir", str(target), "rev-parse", "main").strip()
    tree = run_git("--git-dir", str(target), "rev-parse", f"{head}^{{tree}}").strip()
    (broken / "objects" / tree[:2] / tree[2:]).unlink()
    with pytest.raises(CorruptionError, match="incomplete"):
        remote.clone(Store(tmp_path / "o"), str(broken), "skill")


def test_commit_naming_a_path_as_its_tree_is_refused(tmp_path: Path):
    """A forged commit whose tree field is "../.." must never become a path."""
    import hashlib

    evil = tmp_path / "evil.git"
    run_git("init", "-q", "--bare", "--initial-branch=main", str(evil))
    bogus = b"../" * 13 + b"x"  # 40 characters, like a hex id
    body = (
        b"tree " + bogus + b"\nauthor M <m@x> 1 +0000\ncommitter M <m@x> 1 +0000\n\nx\n"
    )
    raw = b"commit %d\0" % len(body) + body
    oid = hashlib.sha1(raw).hexdigest()
    loose = evil / "objects" / oid[:2] / oid[2:]
    loose.parent.mkdir(parents=True)
    loose.write_bytes(zlib.compress(raw))
    (evil / "refs" / "heads" / "main").write_text(oid + "\n")
    victim = Store(tmp_path / "victim")
    with pytest.raises(CorruptionError):
        remote.clone(victim, str(evil), "skill")
    assert not (tmp_path / "x").exists()
    assert not victim.artifact("skill").exists()


@pytest.mark.parametrize("at", [1, 2])
def test_a_received_pack_cut_between_its_renames_is_taken_out(
    source: Store, tmp_path: Path, monkeypatch, at: int
):
    """Ctrl-C as a received pack moves in: no pack without its index is left."""
    artifact = source.existing("skill")
    artifact.export(fmt="bundle", to=tmp_path)
    other = Store(tmp_path / "other")
    calls = []
    real = os.rename

    def rename(src: object, dst: object) -> None:
        if "tmp_objdir" in str(src) and "tmp_objdir" not in str(dst):
            calls.append(dst)
            if len(calls) == at:
                if at == 2:
                    raise KeyboardInterrupt  # the index not moved yet
                real(src, dst)  # type: ignore[arg-type]
                raise KeyboardInterrupt  # the pack moved, then interrupted
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "rename", rename)
    with pytest.raises(KeyboardInterrupt):
        remote.clone(other, str(tmp_path / "skill.bundle"), "skill")
    assert not (tmp_path / "other" / "artifacts" / "skill").exists()
    history = Store(tmp_path / "third")
    remote.clone(history, str(tmp_path / "skill.bundle"), "skill")
    calls.clear()
    repo_dir = history.existing("skill").history_path
    # The same cut in a fetch into an existing history (nothing to clean by a
    # directory removal): the pack goes, the history is as it was.
    write_tree(tmp_path / "src", {"SKILL.md": "v9\n", "ref.md": "same\n"})
    source.snapshot("skill", tmp_path / "src", message="v9", timestamp=T0 + 9)
    artifact.export(fmt="bundle", to=tmp_path)
    packs = sorted((repo_dir / "objects" / "pack").iterdir())
    with pytest.raises(KeyboardInterrupt):
        remote.fetch(history.existing("skill"), str(tmp_path / "skill.bundle"))
    assert sorted((repo_dir / "objects" / "pack").iterdir()) == packs
    assert not list((repo_dir / "objects").glob("tmp_objdir-*"))
    fsck(repo_dir)

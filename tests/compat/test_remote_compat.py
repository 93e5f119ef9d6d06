"""Interop with plain git, both ways, through a real ``git daemon``.

A history pushed by gitversions is cloned with ``git clone`` (every version a
tag, ``git fsck --strict`` clean); commits made there with ``git commit`` and
``git merge`` and pushed with ``git push`` are adopted by ``gitversions fetch``
as versions with computed ids, ``source = "git"``, their messages and parents,
and every ``.version.toml`` is byte-identical whichever clone renders it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import fsck, run_git, write_tree
from servers import serve

from gitversions import content_hash
from gitversions.git import remote
from gitversions.store import Store

pytestmark = pytest.mark.compat

T0 = 1_760_000_000


def git_in(work: Path, *args: str) -> str:
    return run_git(
        "-c", "user.name=Plain Git", "-c", "user.email=plain@example.com",
        *args, cwd=work,
    )  # fmt: skip


def expected_id(number: int, work: Path) -> str:
    return f"v{number}-{content_hash(work)[:7]}"


def rendered(store: Store, name: str) -> dict[str, bytes]:
    artifact = store.existing(name)
    artifact.export()
    return {
        p.parent.name: p.read_bytes()
        for p in sorted(artifact.versions_dir.glob("v*/.version.toml"))
    }


def test_plain_git_round_trip(tmp_path: Path) -> None:
    with serve("git", tmp_path / "daemon") as ep:
        ep.repo("skill.git")
        url = ep.url("skill.git")
        alice = Store(tmp_path / "alice")
        alice.init()
        src = write_tree(
            tmp_path / "src",
            {"SKILL.md": "# Skill\n", "scripts/run.sh": "echo run\n"},
        )
        (src / "scripts" / "run.sh").chmod(0o755)
        os.symlink("SKILL.md", src / "README.md")
        v1 = alice.snapshot("skill", src, message="first", timestamp=T0).version
        write_tree(src, {"SKILL.md": "# Skill\n\nBetter.\n"})
        v2 = alice.snapshot("skill", src, message="second", timestamp=T0 + 1).version
        artifact = alice.existing("skill")
        remote.add_remote(artifact, "origin", url)
        assert remote.push(artifact).ok

        # git clone shows every version as a tag; both repositories pass fsck.
        work = tmp_path / "work"
        run_git("clone", "-q", url, str(work))
        assert run_git("tag", cwd=work).split() == sorted([str(v1.id), str(v2.id)])
        assert (work / "SKILL.md").read_text() == "# Skill\n\nBetter.\n"
        assert os.readlink(work / "README.md") == "SKILL.md"
        assert os.access(work / "scripts" / "run.sh", os.X_OK)
        fsck(ep.base / "skill.git")
        fsck(work / ".git")

        # A plain git commit becomes a version with a computed id.
        (work / "notes.md").write_text("notes\n")
        (work / "SKILL.md").write_text("# Skill\n\nEdited with git.\n")
        git_in(work, "add", "--all")
        git_in(work, "commit", "-q", "-m", "Edited with plain git")
        git_in(work, "push", "-q", "origin", "main")
        fetched = remote.fetch(artifact)
        assert fetched.ok and fetched.status == "fast-forward"
        (v3,) = fetched.adopted
        assert str(v3.id) == expected_id(3, work)
        assert v3.source == "git"
        assert v3.message == "Edited with plain git"
        assert v3.parent_versions == (v2.id,)
        assert v3.commit == run_git("rev-parse", "HEAD", cwd=work).strip()

        # A merge made with plain git gets two parent versions.
        other = tmp_path / "other"
        run_git("clone", "-q", url, str(other))
        (work / "a.md").write_text("from work\n")
        git_in(work, "add", "a.md")
        git_in(work, "commit", "-q", "-m", "work side")
        git_in(work, "push", "-q", "origin", "main")
        (other / "b.md").write_text("from other\n")
        git_in(other, "add", "b.md")
        git_in(other, "commit", "-q", "-m", "other side")
        git_in(other, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
        git_in(other, "push", "-q", "origin", "main")
        merged = remote.fetch(artifact)
        assert merged.ok
        assert [v.number for v in merged.adopted] == [4, 4, 5]
        merge = merged.adopted[-1]
        ours = run_git("rev-parse", "HEAD^1", cwd=other).strip()
        theirs = run_git("rev-parse", "HEAD^2", cwd=other).strip()
        by_commit = {v.commit: v.id for v in merged.adopted}
        assert merge.parent_versions == (by_commit[ours], by_commit[theirs])
        assert str(merge.id) == expected_id(5, other)
        assert artifact.verify() == []
        fsck(artifact.history_path)

        # gitversions pushes the adopted versions' tags back; git sees them all.
        assert remote.push(artifact).ok
        git_in(other, "fetch", "-q", "--tags")
        tags = run_git("tag", cwd=other).split()
        assert sorted(tags) == sorted(str(v.id) for v in artifact.versions())

        # .version.toml is byte-identical whichever clone renders it.
        bob = Store(tmp_path / "bob")
        remote.clone(bob, url, "skill")
        mine, theirs_rendered = rendered(alice, "skill"), rendered(bob, "skill")
        assert len(mine) == 6
        assert mine == theirs_rendered
        carol = Store(tmp_path / "carol")
        run_git("clone", "-q", "--bare", url, str(tmp_path / "plain.git"))
        remote.clone(carol, str(tmp_path / "plain.git"), "skill")
        assert rendered(carol, "skill") == mine

"""``merge`` of diverged histories, first slice: clean merges, fast-forward, refusal.

Two stores cloned from one history, edits on both sides, a fetch, then a merge;
git is the judge of what is recorded (``rev-list --parents``, ``fsck --strict``,
``merge-tree --write-tree``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import fsck, listing_of, run_git, write_tree

from gitversions.errors import InputError, NotFoundError
from gitversions.git import remote
from gitversions.merging import merge
from gitversions.store import Artifact, Store

T0 = 1_760_000_000
BASE = {"SKILL.md": "title\n\none\ntwo\nthree\nfour\nfive\n", "notes.md": "n\n"}


def snap(store: Store, src: Path, files: dict[str, str], msg: str, t: int):
    write_tree(src, files, replace=True)
    return store.snapshot("skill", src, message=msg, timestamp=T0 + t).version


@pytest.fixture
def pair(store: Store, tmp_path: Path):
    """Ours and theirs: one history pushed to origin and cloned into ``other``."""
    origin = tmp_path / "origin.git"
    base = snap(store, tmp_path / "mine", BASE, "base", 1)
    artifact = store.existing("skill")
    remote.add_remote(artifact, "origin", str(origin))
    remote.push(artifact)
    other = Store(tmp_path / "other")
    other.init()
    remote.clone(other, str(origin), "skill")
    return artifact, other, base


def diverge(pair, tmp_path: Path, mine: dict[str, str], theirs: dict[str, str]):
    artifact, other, _base = pair
    t = snap(other, tmp_path / "theirs", {**BASE, **theirs}, "theirs", 2)
    remote.push(other.existing("skill"))
    o = snap(artifact.store, tmp_path / "mine", {**BASE, **mine}, "mine", 3)
    assert remote.fetch(artifact).status == "diverged"
    return o, t


EDIT_OURS = {"SKILL.md": "title\n\nONE\ntwo\nthree\nfour\nfive\n"}
EDIT_THEIRS = {"SKILL.md": "title\n\none\ntwo\nthree\nfour\nFIVE\n", "new.md": "x\n"}


def git_dir(artifact: Artifact) -> str:
    return str(artifact.history_path)


def test_clean_merge_records_a_two_parent_version_git_reads(pair, tmp_path: Path):
    artifact = pair[0]
    ours, theirs = diverge(pair, tmp_path, EDIT_OURS, EDIT_THEIRS)
    result = merge(artifact)
    assert result.outcome == "merged"
    assert (result.base, result.ours, result.theirs) == (
        str(pair[2].id),
        str(ours.id),
        str(theirs.id),
    )
    latest = artifact.history.latest()
    assert latest is not None and str(latest.id) == result.version
    assert latest.id.number == 3
    assert latest.parents == (ours.commit, theirs.commit)
    assert latest.message == f"Merge {theirs.id} into {ours.id}"
    parents = run_git(
        "--git-dir", git_dir(artifact), "rev-list", "--parents", "-1", "main"
    )
    assert parents.split() == [latest.commit, ours.commit, theirs.commit]
    graph = run_git("--git-dir", git_dir(artifact), "log", "--graph", "--oneline")
    assert graph.startswith("*   ") and "|\\" in graph
    tags = run_git("--git-dir", git_dir(artifact), "tag", "--list").split()
    assert {str(theirs.id), str(latest.id)} <= set(tags)  # theirs arrived untagged
    blob = artifact.history.read_blob(
        artifact.history.files(latest.tree)["SKILL.md"].blob
    )
    assert blob == b"title\n\nONE\ntwo\nthree\nfour\nFIVE\n"
    # git's own merge of the same history gives the same tree.
    git_tree = run_git(
        "--git-dir",
        git_dir(artifact),
        "merge-tree",
        "--write-tree",
        ours.commit,
        theirs.commit,
    ).split()[0]
    assert git_tree == latest.tree
    assert [f.as_json() for f in result.files] == [
        {"path": "SKILL.md", "status": "merged", "conflict": None},
        {"path": "new.md", "status": "theirs", "conflict": None},
    ]
    assert artifact.verify() == []
    fsck(artifact.history_path)
    # Merged again: up to date.
    again = merge(artifact, "origin/main")
    assert again.outcome == "up-to-date" and again.version is None


def test_fast_forward_moves_main_and_tags_what_arrives(pair, tmp_path: Path):
    artifact, other, _base = pair
    t1 = snap(other, tmp_path / "theirs", {**BASE, "a.md": "a\n"}, "t1", 2)
    t2 = snap(other, tmp_path / "theirs", {**BASE, "a.md": "b\n"}, "t2", 3)
    remote.push(other.existing("skill"))
    # Delete the tags a fetch fast-forward would make, to see merge make them:
    # fetch first into a remote line only by diverging nothing: use a plain
    # fetch of refs (status fast-forward moves main itself), so instead merge
    # a version REF that is ahead after resetting main.
    assert remote.fetch(artifact).status == "fast-forward"
    history = artifact.history
    assert history.refs.move_main(t2.commit, pair[2].commit)
    for v in (t1, t2):
        (artifact.history_path / "refs" / "tags" / str(v.id)).unlink()
    result = merge(artifact, "origin")
    assert result.outcome == "fast-forward" and result.version == str(t2.id)
    assert history.head() == t2.commit
    tags = run_git("--git-dir", git_dir(artifact), "tag", "--list").split()
    assert {str(t1.id), str(t2.id)} <= set(tags)
    assert (artifact.home / "manifest.toml").read_text().count(str(t2.id))
    fsck(artifact.history_path)


def test_no_ff_records_a_merge_version(pair, tmp_path: Path):
    artifact, other, base = pair
    t1 = snap(other, tmp_path / "theirs", {**BASE, "a.md": "a\n"}, "t1", 2)
    result = merge_after_reset(artifact, other, base, t1, no_ff=True, message="keep")
    assert result.outcome == "merged"
    latest = artifact.history.latest()
    assert latest is not None and latest.parents == (base.commit, t1.commit)
    assert latest.message == "keep" and latest.tree == t1.tree
    fsck(artifact.history_path)


def merge_after_reset(artifact, other, base, tip, **options):
    remote.push(other.existing("skill"))
    remote.fetch(artifact)
    assert artifact.history.refs.move_main(tip.commit, base.commit)
    return merge(artifact, str(tip.id), **options)


def test_dry_run_writes_nothing(pair, tmp_path: Path):
    artifact = pair[0]
    diverge(pair, tmp_path, EDIT_OURS, EDIT_THEIRS)
    before = listing_of(artifact.store.root)
    preview = artifact.merge(dry_run=True)
    assert listing_of(artifact.store.root) == before
    assert preview.outcome == "merged" and preview.dry_run
    done = merge(artifact)
    assert done.version == preview.version  # the id the preview promised
    assert done.to_json() == {**preview.to_json()}


def test_conflict_records_nothing_and_exits_1(pair, tmp_path: Path, invoke):
    artifact = pair[0]
    mine = {"SKILL.md": "title\n\nmine\ntwo\nthree\nfour\nfive\n"}
    theirs = {"SKILL.md": "title\n\ntheirs\ntwo\nthree\nfour\nfive\n"}
    ours, _t = diverge(pair, tmp_path, mine, theirs)
    before = listing_of(artifact.store.root)
    result = merge(artifact)
    assert result.outcome == "conflict" and result.version is None
    assert result.conflicted_paths == ["SKILL.md"]
    assert listing_of(artifact.store.root) == before
    cli = invoke("merge", "skill")
    assert cli.exit_code == 1
    assert "CONFLICT (content): SKILL.md" in cli.stdout
    assert listing_of(artifact.store.root) == before
    data = json.loads(invoke("--json", "merge", "skill", "--dry-run").stdout)
    assert data == {
        "outcome": "conflict",
        "base": str(pair[2].id),
        "ours": str(ours.id),
        "theirs": str(_t.id),
        "version": None,
        "files": [{"path": "SKILL.md", "status": "conflict", "conflict": "content"}],
    }
    # -X ours takes our side of the conflicting hunk, cleanly.
    cli = invoke("merge", "skill", "-X", "ours")
    assert cli.exit_code == 0, cli.output
    latest = artifact.history.latest()
    assert latest is not None and len(latest.parents) == 2
    skill = artifact.history.files(latest.tree)["SKILL.md"].blob
    assert artifact.history.read_blob(skill) == mine["SKILL.md"].encode()
    fsck(artifact.history_path)


def test_cli_outcomes_and_json(pair, tmp_path: Path, invoke):
    _ours, theirs = diverge(pair, tmp_path, EDIT_OURS, EDIT_THEIRS)
    dry = invoke("merge", "skill", "--dry-run")
    assert dry.exit_code == 0 and "would merge" in dry.stdout
    assert "merged" not in dry.stdout
    data = json.loads(invoke("--json", "merge", "skill", "origin").stdout)
    assert set(data) == {"outcome", "base", "ours", "theirs", "version", "files"}
    assert data["outcome"] == "merged" and data["theirs"] == str(theirs.id)
    up = invoke("merge", "skill")
    assert up.exit_code == 0 and "already up to date" in up.stdout


def test_refusals(pair, tmp_path: Path):
    artifact = pair[0]
    (artifact.history_path / "refs" / "remotes" / "origin" / "main").unlink()
    with pytest.raises(NotFoundError, match="fetch"):
        merge(artifact)  # nothing fetched: no remote line
    (artifact.history_path / "refs" / "remotes" / "a").mkdir(parents=True)
    (artifact.history_path / "refs" / "remotes" / "b").mkdir(parents=True)
    head = artifact.history.head()
    for name in ("a", "b"):
        (artifact.history_path / "refs" / "remotes" / name / "main").write_text(
            f"{head}\n"
        )
    with pytest.raises(InputError, match="several remote lines"):
        merge(artifact)
    assert merge(artifact, "a").outcome == "up-to-date"

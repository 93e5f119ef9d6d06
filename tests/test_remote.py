"""push, fetch, clone and named remotes against local bare repositories.

The transports themselves are exercised against real servers in
``test_remote_transports.py``; here the remote is a path, so the tests stay fast
and can look at every ref on both sides.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import Result
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo
from helpers import fsck, run_git, write_tree

from gitversions.errors import ConflictError, InputError, NotFoundError, RemoteError
from gitversions.git import remote
from gitversions.git.remote import FetchResult
from gitversions.store import Store

T0 = 1_760_000_000


def snap(store: Store, name: str, src: Path, files: dict[str, str], msg: str, t: int):
    write_tree(src, files)
    return store.snapshot(name, src, message=msg, timestamp=T0 + t).version


@pytest.fixture
def other(tmp_path: Path) -> Store:
    """A second store, as on a teammate's machine."""
    s = Store(tmp_path / "other")
    s.init()
    return s


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return tmp_path / "origin.git"


@pytest.fixture
def published(store: Store, tmp_path: Path, origin: Path):
    """An artifact with two versions, pushed to ``origin`` and named as origin."""
    src = tmp_path / "src"
    v1 = snap(store, "skill", src, {"SKILL.md": "one\n"}, "first", 1)
    v2 = snap(store, "skill", src, {"SKILL.md": "two\n"}, "second", 2)
    artifact = store.existing("skill")
    remote.add_remote(artifact, "origin", str(origin))
    result = remote.push(artifact)
    assert result.ok and result.status == "pushed"
    return artifact, v1, v2


def tags(git_dir: Path) -> list[str]:
    return run_git("--git-dir", str(git_dir), "tag", "--list").split()


# -- named remotes ----------------------------------------------------------------


def test_remote_add_list_remove_is_plain_git_config(store: Store, tmp_path: Path):
    snap(store, "skill", tmp_path / "src", {"SKILL.md": "x\n"}, "m", 1)
    artifact = store.existing("skill")
    remote.add_remote(artifact, "origin", "https://example.com/s.git")
    remote.add_remote(artifact, "backup", "/srv/backup.git")
    assert remote.list_remotes(artifact.history) == {
        "backup": "/srv/backup.git",
        "origin": "https://example.com/s.git",
    }
    history = str(artifact.history_path)
    assert run_git("--git-dir", history, "config", "remote.backup.url").strip() == (
        "/srv/backup.git"
    )
    with pytest.raises(InputError, match="already exists"):
        remote.add_remote(artifact, "origin", "/elsewhere.git")
    with pytest.raises(InputError, match="invalid remote name"):
        remote.add_remote(artifact, "../evil", "/x.git")
    with pytest.raises(InputError, match="unsupported URL scheme"):
        remote.add_remote(artifact, "ftp", "ftp://example.com/x.git")
    remote.remove_remote(artifact, "backup")
    assert list(remote.list_remotes(artifact.history)) == ["origin"]
    with pytest.raises(NotFoundError):
        remote.remove_remote(artifact, "backup")


def test_remote_cli_redacts_credentials(invoke, store: Store, tmp_path: Path):
    snap(store, "skill", tmp_path / "src", {"SKILL.md": "x\n"}, "m", 1)
    url = "https://alice:hunter22@example.com/s.git"
    added = invoke("remote", "add", "skill", "origin", url)
    assert added.exit_code == 0, added.output
    # A URL saved with its credentials (by plain git, or an older gitversions)
    # is still never shown.
    history = str(store.existing("skill").history_path)
    run_git("--git-dir", history, "config", "remote.origin.url", url)
    listed = invoke("remote", "list", "skill")
    as_json = invoke("--json", "remote", "list", "skill")
    for result in (added, listed, as_json):
        assert "hunter22" not in result.output
        assert "alice" not in result.output
    assert "https://***@example.com/s.git" in listed.output
    assert json.loads(as_json.output) == {"origin": "https://***@example.com/s.git"}
    removed = invoke("remote", "remove", "skill", "origin")
    assert removed.exit_code == 0
    assert invoke("remote", "list", "skill").stdout == ""


@pytest.mark.parametrize(
    ("url", "saved", "secrets"),
    [
        ("https://alice:hunter22@example.com/s.git", "https://example.com/s.git", 2),
        ("https://ghp_T0KEN@example.com/s.git", "https://example.com/s.git", 1),
        ("ssh://git:hunter22@example.com/s.git", "ssh://git@example.com/s.git", 1),
    ],
)
def test_remote_add_keeps_credentials_out_of_the_config(
    invoke, store: Store, tmp_path: Path, url: str, saved: str, secrets: int
) -> None:
    snap(store, "skill", tmp_path / "src", {"SKILL.md": "x\n"}, "m", 1)
    added = invoke("remote", "add", "skill", "origin", url)
    assert added.exit_code == 0, added.output
    assert "credentials in the URL were not saved" in added.stderr
    artifact = store.existing("skill")
    config = (artifact.history_path / "config").read_text()
    for secret in ("hunter22", "alice", "ghp_T0KEN")[:secrets]:
        assert secret not in config
    assert remote.list_remotes(artifact.history) == {"origin": saved}
    # Given again in full, the URL still finds its remote, credentials and all.
    assert remote.resolve_remote(artifact.history, url) == ("origin", url)
    plain = invoke("remote", "add", "skill", "backup", "/srv/b.git")
    assert "not saved" not in plain.stderr


def test_resolve_remote_default_and_errors(store: Store, tmp_path: Path):
    snap(store, "skill", tmp_path / "src", {"SKILL.md": "x\n"}, "m", 1)
    history = store.existing("skill").history
    with pytest.raises(InputError, match="no remote given"):
        remote.resolve_remote(history, None)
    remote.add_remote(store.existing("skill"), "mirror", "/srv/m.git")
    assert remote.resolve_remote(history, None) == ("mirror", "/srv/m.git")
    assert remote.resolve_remote(history, "/srv/m.git") == ("mirror", "/srv/m.git")
    assert remote.resolve_remote(history, "/srv/x.git") == (None, "/srv/x.git")


# -- push -------------------------------------------------------------------------


def test_push_creates_a_bare_repository_git_can_read(published, origin: Path):
    _artifact, v1, v2 = published
    assert tags(origin) == sorted([str(v1.id), str(v2.id)])
    assert run_git("--git-dir", str(origin), "rev-parse", "main").strip() == v2.commit
    assert (
        run_git("--git-dir", str(origin), "symbolic-ref", "HEAD").strip()
        == "refs/heads/main"
    )
    fsck(origin)


def test_push_up_to_date_and_tracking_ref(published):
    artifact, _v1, v2 = published
    again = remote.push(artifact, "origin")
    assert again.status == "up-to-date" and again.ok and again.updated == []
    tracking = artifact.history.repo.refs[b"refs/remotes/origin/main"]
    assert tracking.decode() == v2.commit


def test_push_refuses_non_fast_forward_unless_forced(
    published, other: Store, tmp_path: Path, origin: Path
):
    artifact, _v1, v2 = published
    remote.clone(other, str(origin), "skill")
    theirs = snap(other, "skill", tmp_path / "o", {"SKILL.md": "theirs\n"}, "t", 3)
    assert remote.push(other.existing("skill")).status == "pushed"
    mine = snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "m\n"}, "m", 4)
    with pytest.raises(ConflictError, match="fetch skill` first"):
        remote.push(artifact)
    assert run_git("--git-dir", str(origin), "rev-parse", "main").strip() == (
        theirs.commit
    )
    forced = remote.push(artifact, force=True)
    assert forced.status == "forced"
    assert run_git("--git-dir", str(origin), "rev-parse", "main").strip() == mine.commit
    # The overwritten version is still on the remote, as its tag.
    assert str(theirs.id) in tags(origin)
    assert str(v2.id) in tags(origin)
    fsck(origin)


def test_push_reports_tag_collision_and_never_overwrites(
    published, tmp_path: Path, origin: Path, invoke
):
    artifact, v1, _v2 = published
    # Someone points the remote's tag for v1 at another commit.
    repo = Repo(str(origin))
    blob = Blob.from_string(b"intruder\n")
    tree = Tree()
    tree.add(b"SKILL.md", 0o100644, blob.id)
    commit = Commit()
    commit.tree = tree.id
    commit.author = commit.committer = b"x <x@x>"
    commit.author_time = commit.commit_time = T0
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = b"intruder\n"
    for obj in (blob, tree, commit):
        repo.object_store.add_object(obj)
    repo.refs[f"refs/tags/{v1.id}".encode()] = commit.id
    repo.close()
    snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "3\n"}, "three", 5)
    result = remote.push(artifact)
    assert not result.ok
    assert [c.id for c in result.collisions] == [str(v1.id)]
    assert "neither was overwritten" in result.collisions[0].describe()
    assert run_git("--git-dir", str(origin), "rev-parse", str(v1.id)).strip() == (
        commit.id.decode()
    )
    cli = invoke("push", "skill")
    assert cli.exit_code == 1
    assert "tag collision" in cli.stderr


def test_push_errors(store: Store, tmp_path: Path, invoke):
    snap(store, "skill", tmp_path / "src", {"SKILL.md": "x\n"}, "m", 1)
    artifact = store.existing("skill")
    with pytest.raises(InputError, match="no remote named 'upstream'"):
        remote.push(artifact, "upstream")
    with pytest.raises(Exception, match="does not exist"):
        remote.push(artifact, str(tmp_path / "missing" / "x.git"))
    empty = invoke("push", "nosuch", "/tmp/x.git")
    assert empty.exit_code == 2


# -- fetch: fast-forward, divergence, collisions ----------------------------------


def test_fetch_fast_forward_adopts_versions_and_tags(
    published, other: Store, tmp_path: Path, origin: Path
):
    _artifact, v1, v2 = published
    cloned = remote.clone(other, str(origin), "skill")
    assert cloned.status == "fast-forward"
    assert [str(v.id) for v in cloned.adopted] == [str(v1.id), str(v2.id)]
    mine = other.existing("skill")
    assert [v.id for v in mine.versions()] == [v1.id, v2.id]
    assert remote.list_remotes(mine.history) == {"origin": str(origin)}
    assert mine.kind() == "dir"
    assert remote.fetch(mine).status == "up-to-date"
    # The publisher adds two versions; the clone fetches them.
    src = tmp_path / "src"
    v3 = snap(published[0].store, "skill", src, {"SKILL.md": "3\n"}, "three", 3)
    v4 = snap(published[0].store, "skill", src, {"SKILL.md": "4\n"}, "four", 4)
    remote.push(published[0])
    result = remote.fetch(mine)
    assert result.ok and result.status == "fast-forward"
    assert [v.id for v in result.adopted] == [v3.id, v4.id]
    assert result.head == str(v4.id)
    assert mine.history.latest().id == v4.id  # type: ignore[union-attr]
    assert mine.verify() == []
    fsck(mine.history_path)


def test_fetch_auto_export_materializes(
    published, tmp_path: Path, origin: Path, listing
):
    root = tmp_path / "auto"
    root.mkdir()
    (root / "gitversions.toml").write_text("[export]\nauto = true\n")
    store = Store(root)
    result = remote.clone(store, str(origin), "skill")
    assert result.exported is not None
    versions_dir = store.existing("skill").versions_dir
    assert sorted(p.name for p in versions_dir.iterdir()) == sorted(
        [str(published[1].id), str(published[2].id), "latest"]
    )
    v3 = snap(
        published[0].store, "skill", tmp_path / "src", {"SKILL.md": "3\n"}, "3", 3
    )
    remote.push(published[0])
    fetched = remote.fetch(store.existing("skill"))
    assert fetched.exported is not None and fetched.exported.latest == str(v3.id)
    assert (versions_dir / str(v3.id) / "SKILL.md").read_text() == "3\n"


def make_divergence(published, other: Store, tmp_path: Path, origin: Path):
    artifact, _v1, v2 = published
    remote.clone(other, str(origin), "skill")
    theirs = snap(other, "skill", tmp_path / "o", {"SKILL.md": "theirs\n"}, "t", 3)
    remote.push(other.existing("skill"))
    mine = snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "m\n"}, "m", 4)
    return artifact, v2, theirs, mine


def test_fetch_divergence_keeps_both_and_changes_nothing_local(
    published, other: Store, tmp_path: Path, origin: Path, invoke
):
    artifact, v2, theirs, mine = make_divergence(published, other, tmp_path, origin)
    before = artifact.history.repo.refs.as_dict(b"refs/tags/")
    result = remote.fetch(artifact)
    assert result.status == "diverged" and not result.ok
    assert result.adopted == []
    assert result.divergence is not None
    assert result.divergence.base == str(v2.id)
    assert result.divergence.local_only == (str(mine.id),)
    assert result.divergence.remote_only == (str(theirs.id),)
    refs = artifact.history.repo.refs
    assert refs[b"refs/heads/main"].decode() == mine.commit
    assert refs[b"refs/remotes/origin/main"].decode() == theirs.commit
    assert refs.as_dict(b"refs/tags/") == before
    advice = "\n".join(result.advice("skill"))
    assert "push skill --force" in advice and "fetch skill --force" in advice
    cli = invoke("fetch", "skill")
    assert cli.exit_code == 1
    assert "diverged" in cli.stdout and str(theirs.id) in cli.stderr
    as_json = invoke("--json", "fetch", "skill")
    data = json.loads(as_json.stdout)
    assert data["status"] == "diverged"
    assert data["divergence"]["remote_only"] == [str(theirs.id)]


def test_fetch_force_takes_remote_and_loses_nothing(
    published, other: Store, tmp_path: Path, origin: Path
):
    artifact, _v2, theirs, mine = make_divergence(published, other, tmp_path, origin)
    result = remote.fetch(artifact, force=True)
    assert result.status == "forced" and result.ok
    assert [v.id for v in result.adopted] == [theirs.id]
    ids = [v.id for v in artifact.versions()]
    assert mine.id in ids and theirs.id in ids
    assert artifact.history.latest().id == theirs.id  # type: ignore[union-attr]
    assert artifact.verify() == []
    fsck(artifact.history_path)


def test_fetch_tag_collision_is_reported_and_kept_aside(
    published, other: Store, tmp_path: Path, origin: Path
):
    """Same content and number on both sides, other commit: the same version id."""
    artifact, _v1, _v2 = published
    remote.clone(other, str(origin), "skill")
    theirs = snap(other, "skill", tmp_path / "o", {"SKILL.md": "same\n"}, "theirs", 3)
    remote.push(other.existing("skill"))
    mine = snap(
        artifact.store, "skill", tmp_path / "src", {"SKILL.md": "same\n"}, "mine", 4
    )
    assert mine.id == theirs.id and mine.commit != theirs.commit
    result = remote.fetch(artifact)
    assert result.status == "diverged"
    assert [c.id for c in result.collisions] == [str(mine.id)]
    kept = f"refs/remotes/origin/tags/{mine.id}"
    assert result.collisions[0].kept_as == kept
    refs = artifact.history.repo.refs
    assert refs[f"refs/tags/{mine.id}".encode()].decode() == mine.commit
    assert refs[kept.encode()].decode() == theirs.commit
    forced = remote.fetch(artifact, force=True)
    assert forced.status == "refused" and not forced.ok
    assert refs[b"refs/heads/main"].decode() == mine.commit
    assert artifact.verify() == []


def test_fetch_adopts_tag_only_versions_and_reports_mislabels(
    published, tmp_path: Path, origin: Path
):
    artifact, v1, v2 = published
    # Publish a version that is only on a tag (not on main), and a wrong tag.
    side = Store(tmp_path / "side")
    remote.clone(side, str(origin), "skill")
    extra = snap(side, "skill", tmp_path / "side-src", {"SKILL.md": "x\n"}, "x", 3)
    side_git = str(side.existing("skill").history_path)
    run_git("--git-dir", side_git, "push", "-q", str(origin), f"refs/tags/{extra.id}")
    run_git("--git-dir", str(origin), "tag", "v9-0000000", v1.commit)
    cloned = remote.clone(Store(tmp_path / "third"), str(origin), "skill")
    assert cloned.status == "fast-forward" and not cloned.ok  # made, but says so
    assert any("v9-0000000" in p for p in cloned.problems)
    result = remote.fetch(artifact)
    assert [v.id for v in result.adopted] == [extra.id]
    assert any("v9-0000000" in p for p in result.problems)
    assert not result.ok
    ids = [v.id for v in artifact.versions()]
    assert ids == [v1.id, v2.id, extra.id]
    assert artifact.history.latest().id == v2.id  # type: ignore[union-attr]


def test_fetch_judges_each_tag_only_version_and_keeps_only_what_passed(
    published, tmp_path: Path, origin: Path
):
    """Mislabelled, colliding and well-named remote tags, each on its own."""
    artifact, v1, _v2 = published
    sides = [Store(tmp_path / f"side{n}") for n in (1, 2)]
    for side in sides:
        remote.clone(side, str(origin), "skill")
    x = snap(sides[0], "skill", tmp_path / "s1", {"SKILL.md": "x\n"}, "x", 3)
    theirs = snap(sides[1], "skill", tmp_path / "s2", {"SKILL.md": "=\n"}, "t", 4)
    child = snap(sides[1], "skill", tmp_path / "s2", {"SKILL.md": "c\n"}, "c", 5)
    mine = snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "=\n"}, "m", 4)
    assert mine.id == theirs.id and mine.commit != theirs.commit
    pushes = [
        (sides[0], f"{x.commit}:refs/tags/v3-0000000"),  # not its id
        (sides[1], f"refs/tags/{theirs.id}"),  # our id, another commit
        (sides[1], f"refs/tags/{child.id}"),  # its id, but above a collision
    ]
    for side, spec in pushes:
        side_git = side.existing("skill").history_path
        run_git("--git-dir", side_git, "push", "-q", str(origin), spec)
    (artifact.history_path / "refs" / "tags" / str(v1.id)).unlink()  # re-made
    result = remote.fetch(artifact)
    assert result.status == "ahead" and not result.ok
    assert sorted(result.refused_tags) == ["v3-0000000", str(child.id)]
    assert result.refused_tags[str(child.id)] == (
        "its history collides with versions here"
    )
    kept = f"refs/remotes/origin/tags/{mine.id}"
    first = result.collisions[0]
    assert (first.id, first.kept_as) == (str(mine.id), kept)
    history = artifact.history_path
    refs = run_git("--git-dir", history, "for-each-ref", "--format=%(refname)")
    assert kept in refs.split() and "v3-0000000" not in refs
    assert str(child.id) not in refs and f"refs/tags/{v1.id}" in refs.split()

    def stored(commit: str) -> bool:
        found = run_git("--git-dir", history, "cat-file", "-e", commit, check=False)
        return found == "" and run_git(
            "--git-dir", history, "rev-parse", "-q", "--verify", f"{commit}^{{commit}}",
            check=False,
        ).strip() == commit  # fmt: skip

    assert stored(theirs.commit)
    assert not stored(x.commit) and not stored(child.commit)
    fsck(history)
    assert artifact.verify() == []


# -- clone ------------------------------------------------------------------------


def test_clone_refuses_existing_artifact_and_missing_source(
    published, tmp_path: Path, origin: Path
):
    artifact = published[0]
    with pytest.raises(InputError, match="already exists"):
        remote.clone(artifact.store, str(origin), "skill")
    with pytest.raises(NotFoundError):
        remote.clone(artifact.store, str(tmp_path / "nope.git"), "x")
    assert not artifact.store.artifact("x").exists()


def test_clone_single_file_artifact_keeps_its_kind(store: Store, tmp_path: Path, other):
    cmd = tmp_path / "review.md"
    cmd.write_text("Review the code.\n")
    store.snapshot("review", cmd, message="m", timestamp=T0)
    remote.push(store.existing("review"), str(tmp_path / "review.git"))
    remote.clone(other, str(tmp_path / "review.git"), "review")
    assert other.existing("review").kind() == "file"


def test_clone_empty_remote_then_push_and_fetch(tmp_path: Path, store: Store, other):
    empty = tmp_path / "empty.git"
    run_git("init", "-q", "--bare", "--initial-branch=main", str(empty))
    result = remote.clone(other, str(empty), "skill")
    assert result.status == "empty" and result.ok
    assert other.existing("skill").versions() == []
    v1 = snap(store, "skill", tmp_path / "src", {"SKILL.md": "1\n"}, "one", 1)
    remote.push(store.existing("skill"), str(empty))
    assert [v.id for v in remote.fetch(other.existing("skill")).adopted] == [v1.id]


def test_clone_cli(published, invoke, tmp_path: Path, origin: Path):
    result: Result = invoke("clone", str(origin), "copy")
    assert result.exit_code == 0, result.output
    assert "cloned" in result.stdout and "2 new version(s)" in result.stdout
    again = invoke("clone", str(origin), "copy")
    assert again.exit_code == 2
    as_json = invoke("--json", "clone", str(origin), "copy2")
    data = json.loads(as_json.stdout)
    assert data["status"] == "fast-forward" and len(data["adopted"]) == 2


# -- bundles ----------------------------------------------------------------------


def test_bundle_export_git_clone_and_gitversions_clone(
    published, tmp_path: Path, other: Store, invoke
):
    _artifact, v1, v2 = published
    out = tmp_path / "out"
    result = invoke("export", "skill", "--format", "bundle", "--to", str(out))
    assert result.exit_code == 0, result.output
    bundle = out / "skill.bundle"
    assert bundle.read_bytes().startswith(b"# v2 git bundle\n")
    run_git("init", "-q", str(tmp_path / "empty"))
    run_git("bundle", "verify", str(bundle), cwd=tmp_path / "empty")
    run_git("clone", "-q", str(bundle), str(tmp_path / "plain"))
    assert sorted(run_git("tag", cwd=tmp_path / "plain").split()) == sorted(
        [str(v1.id), str(v2.id)]
    )
    assert (tmp_path / "plain" / "SKILL.md").read_text() == "two\n"
    cloned = remote.clone(other, str(bundle), "skill")
    assert [v.id for v in cloned.adopted] == [v1.id, v2.id]
    assert other.existing("skill").verify() == []


def test_bundle_default_target_and_subset(published, tmp_path: Path):
    artifact, v1, _v2 = published
    written = artifact.export(fmt="bundle")
    assert written.written == ["skill.bundle"]
    assert (artifact.home / "skill.bundle").is_file()
    assert artifact.verify() == []
    subset = artifact.export([str(v1.id)], fmt="bundle", to=tmp_path / "sub")
    text = (tmp_path / "sub" / subset.written[0]).read_bytes()
    assert (
        str(v1.id).encode() in text and b"refs/heads/main" not in text.split(b"\n\n")[0]
    )


# -- progress ---------------------------------------------------------------------


def test_progress_lines_for_push_and_fetch(published, tmp_path: Path, other: Store):
    artifact, _v1, _v2 = published
    lines: list[str] = []
    snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "p\n"}, "p", 7)
    remote.push(artifact, str(tmp_path / "fresh.git"), progress=lines.append)
    assert any(line.startswith("Writing objects: 100%") for line in lines)
    fetched: list[str] = []
    remote.clone(other, str(tmp_path / "fresh.git"), "skill", progress=fetched.append)
    assert fetched


def test_cli_progress_only_on_a_terminal(
    published, invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from gitversions.cli import commands as cli

    snap(published[0].store, "skill", tmp_path / "src", {"SKILL.md": "q\n"}, "q", 8)
    quiet = invoke("push", "skill", str(tmp_path / "a.git"))
    assert "Writing objects" not in quiet.stderr
    monkeypatch.setattr(cli.Env, "show_progress", lambda self: not self.quiet)
    shown = invoke("push", "skill", str(tmp_path / "b.git"))
    assert "Writing objects" in shown.stderr
    silenced = invoke("-q", "push", "skill", str(tmp_path / "c.git"))
    assert "Writing objects" not in silenced.stderr


# -- helpers ----------------------------------------------------------------------


def test_fetch_result_json_and_advice_shapes():
    result = FetchResult(remote="origin", url="/x.git", status="up-to-date")
    assert result.ok and result.advice("a") == []
    assert result.to_json()["divergence"] is None


# -- edges ------------------------------------------------------------------------


def test_remove_remote_drops_tracking_refs(published):
    artifact = published[0]
    refs = artifact.history.repo.refs
    assert b"refs/remotes/origin/main" in refs
    remote.remove_remote(artifact, "origin")
    assert refs.keys(base=b"refs/remotes/") == set()


def test_fetch_when_local_is_ahead(published, tmp_path: Path):
    artifact = published[0]
    snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "3\n"}, "3", 3)
    result = remote.fetch(artifact)
    assert result.status == "ahead" and result.ok


def test_fetch_plain_git_branch_and_annotated_tags(
    tmp_path: Path, other: Store, store: Store
):
    """A remote made with plain git: branch master, annotated version tags."""
    v1 = snap(store, "skill", tmp_path / "src", {"SKILL.md": "1\n"}, "one", 1)
    plain = tmp_path / "plain.git"
    run_git("init", "-q", "--bare", "--initial-branch=master", str(plain))
    history = str(store.existing("skill").history_path)
    run_git("--git-dir", history, "push", "-q", str(plain), "main:master")
    run_git(
        "--git-dir", str(plain), "-c", "user.name=T", "-c", "user.email=t@e",
        "tag", "-a", "-m", "annotated", str(v1.id), v1.commit,
    )  # fmt: skip
    result = remote.clone(other, str(plain), "skill")
    assert result.ok and [v.id for v in result.adopted] == [v1.id]
    assert other.existing("skill").history.head() == v1.commit


def test_push_refusals(published, tmp_path: Path, other: Store, origin: Path):
    artifact = published[0]
    bundle = artifact.export(fmt="bundle", to=tmp_path)
    with pytest.raises(InputError, match="is a bundle"):
        remote.push(artifact, str(tmp_path / bundle.written[0]))
    empty = tmp_path / "empty.git"
    run_git("init", "-q", "--bare", "--initial-branch=main", str(empty))
    remote.clone(other, str(empty), "blank")
    with pytest.raises(InputError, match="no versions to push"):
        remote.push(other.existing("blank"), str(origin))
    # A remote main we have never seen is described as such.
    mirror = tmp_path / "mirror.git"
    run_git("clone", "-q", "--bare", str(origin), str(mirror))
    work = tmp_path / "w"
    run_git("clone", "-q", str(mirror), str(work))
    (work / "x").write_text("x")
    run_git("add", "x", cwd=work)
    run_git("commit", "-q", "-m", "x", cwd=work)
    run_git("push", "-q", "origin", "main", cwd=work)
    with pytest.raises(ConflictError, match="not fetched yet"):
        remote.push(artifact, str(mirror))


def test_clone_cleans_leftovers_of_a_killed_clone(published, origin: Path, other):
    home = other.root / "artifacts" / "skill"
    (home / ".history.git.tmp-clone-1-dead").mkdir(parents=True)
    remote.clone(other, str(origin), "skill")
    assert sorted(p.name for p in home.iterdir()) == [".lock", "history.git"]


def test_sha256_history_push_and_clone(tmp_path: Path, other: Store):
    """A SHA-256 store's history travels; a clone adopts its object format."""
    root = tmp_path / "s256"
    root.mkdir()
    (root / "gitversions.toml").write_text('object_format = "sha256"\n')
    store = Store(root)
    v1 = snap(store, "skill", tmp_path / "src", {"SKILL.md": "1\n"}, "one", 1)
    target = tmp_path / "s256.git"
    assert remote.push(store.existing("skill"), str(target)).ok
    fsck(target)
    cloned = remote.clone(other, str(target), "skill")
    assert [v.id for v in cloned.adopted] == [v1.id]
    assert other.existing("skill").history.format == "sha256"
    with pytest.raises(RemoteError, match="SHA-256 history over git"):
        remote.push(store.existing("skill"), "git://127.0.0.1:9/x.git")
    # A SHA-1 history cannot fetch from it.
    snap(other, "sha1", tmp_path / "o", {"SKILL.md": "x\n"}, "x", 2)
    with pytest.raises(Exception, match="SHA256 objects"):
        remote.fetch(other.existing("sha1"), str(target))


def test_fetch_from_a_bundle(published, tmp_path: Path, other: Store):
    artifact, v1, v2 = published
    artifact.export(fmt="bundle", to=tmp_path)
    remote.clone(other, str(tmp_path / "skill.bundle"), "skill")
    v3 = snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "3\n"}, "3", 3)
    artifact.export(fmt="bundle", to=tmp_path)
    result = remote.fetch(other.existing("skill"), str(tmp_path / "skill.bundle"))
    assert result.ok and [v.id for v in result.adopted] == [v3.id]
    assert [v.id for v in other.existing("skill").versions()] == [v1.id, v2.id, v3.id]
    # The same bundle again: its pack holds objects packed here already.
    history = other.existing("skill").history_path
    packs = sorted((history / "objects" / "pack").iterdir())
    again = remote.fetch(other.existing("skill"), str(tmp_path / "skill.bundle"))
    assert again.ok and again.status == "up-to-date"
    assert sorted((history / "objects" / "pack").iterdir()) == packs
    assert not list((history / "objects").glob("tmp_objdir-*"))
    fsck(history)


def test_progress_on_a_real_terminal(published, tmp_path: Path):
    """Run the command line with stderr on a pseudo-terminal, as a person would."""
    import pty
    import subprocess
    import sys

    artifact = published[0]
    snap(artifact.store, "skill", tmp_path / "src", {"SKILL.md": "t\n"}, "t", 9)

    def run(*args: str) -> str:
        leader, follower = pty.openpty()
        proc = subprocess.run(
            [sys.executable, "-m", "gitversions", "--root", str(artifact.store.root),
             *args],
            stderr=follower, stdout=subprocess.PIPE, check=False, timeout=60,
        )  # fmt: skip
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        os.close(leader)
        assert proc.returncode == 0, b"".join(chunks)
        return b"".join(chunks).decode("utf-8", "replace")

    shown = run("push", "skill", str(tmp_path / "tty.git"))
    assert "Writing objects: 100%" in shown
    quiet = run("-q", "push", "skill", str(tmp_path / "tty2.git"))
    assert "Writing objects" not in quiet


def test_push_refuses_checked_out_branch_and_other_format(published, tmp_path: Path):
    artifact = published[0]
    work = tmp_path / "work"
    run_git("init", "-q", "--initial-branch=main", str(work))
    with pytest.raises(RemoteError, match="checked-out branch"):
        remote.push(artifact, str(work))
    s256 = tmp_path / "s256.git"
    run_git("init", "-q", "--bare", "--object-format=sha256", str(s256))
    with pytest.raises(RemoteError, match="SHA256 objects"):
        remote.push(artifact, str(s256))
    not_git = tmp_path / "plain-dir"
    not_git.mkdir()
    with pytest.raises(RemoteError, match="not a git repository"):
        remote.push(artifact, str(not_git))


def test_bundle_of_an_empty_history_is_refused(tmp_path: Path, other: Store):
    empty = tmp_path / "empty.git"
    run_git("init", "-q", "--bare", "--initial-branch=main", str(empty))
    remote.clone(other, str(empty), "blank")
    with pytest.raises(InputError, match="no versions"):
        other.existing("blank").export(fmt="bundle", to=tmp_path)

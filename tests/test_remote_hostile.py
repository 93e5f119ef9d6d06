"""A hostile remote: histories whose trees would write outside their target.

Such a remote can put any name and mode into a tree. Fetch and clone check
every new version's tree as the materializer would before anything is adopted,
so the local history, the materialized versions and everything outside the
store stay exactly as they were.
"""

from __future__ import annotations

import hashlib
import zlib
from pathlib import Path

import pytest
from dulwich.repo import Repo
from helpers import add_blob, add_commit, add_tree, run_git, write_tree
from servers import serve

from gitversions.errors import CorruptionError, UnsafePathError
from gitversions.git import remote
from gitversions.store import Store

T0 = 1_760_000_000
FILE, EXEC, LINK, DIR, GITLINK = 0o100644, 0o100755, 0o120000, 0o040000, 0o160000


def _deep(repo: Repo, leaf: bytes, levels: int) -> bytes:
    tree = leaf
    for _ in range(levels):
        tree = add_tree(repo, [(b"d", DIR, tree)])
    return tree


def hostile_tree(repo: Repo, case: str, parent: bytes) -> bytes:
    """A tree that keeps the parent's files and adds one hostile entry."""
    pwned = add_blob(repo, b"pwned\n")
    hook = add_blob(repo, b"#!/bin/sh\ntouch /tmp/pwned\n")
    base = list(repo[repo[parent].tree].iteritems())
    entries = [(e.path, e.mode, e.sha) for e in base]
    inner = add_tree(repo, [(b"pwned", FILE, pwned)])
    extra: list[tuple[bytes, int, bytes]] = {
        "dotdot": [(b"..", DIR, inner)],
        "dot": [(b".", DIR, inner)],
        "dotgit": [(b".git", DIR, add_tree(repo, [(b"hooks", DIR, inner)]))],
        "dotgit-case": [(b".GiT", DIR, add_tree(repo, [(b"config", FILE, hook)]))],
        "dotgit-alias": [(b"git~1", DIR, inner)],
        "slash": [(b"../../pwned", FILE, pwned)],
        "absolute": [(b"/tmp/pwned", FILE, pwned)],
        "backslash": [(b"..\\pwned", FILE, pwned)],
        "gitlink": [(b"sub", GITLINK, parent)],
        "nested-dotdot": [(b"a", DIR, add_tree(repo, [(b"..", DIR, inner)]))],
        "metadata": [(b".version.toml", FILE, pwned)],
        "case-collision": [(b"skill.md", FILE, pwned)],
        "bad-mode": [(b"odd", 0o100600, pwned)],
        "empty-link": [(b"link", LINK, add_blob(repo, b""))],
        "nul-link": [(b"link", LINK, add_blob(repo, b"a\0b"))],
        "not-utf8": [(b"caf\xe9", FILE, pwned)],
        "too-deep": [(b"d", DIR, _deep(repo, inner, 130))],
    }.get(case, [])
    if case == "duplicate":  # git fsck: duplicateEntries; dulwich would keep one
        return raw_tree(repo, [*entries, (b"SKILL.md", FILE, pwned)])
    if case == "unsorted":  # git fsck: treeNotSorted; dulwich would re-sort
        return raw_tree(repo, [(b"zz.md", FILE, pwned), *entries])
    return add_tree(repo, entries + extra)


def raw_tree(repo: Repo, entries: list[tuple[bytes, int, bytes]]) -> bytes:
    """Store a tree with ``entries`` exactly in this order, duplicates kept."""
    body = b"".join(
        b"%o %s\0%s" % (mode, name, bytes.fromhex(sha.decode()))
        for name, mode, sha in entries
    )
    data = b"tree %d\0%s" % (len(body), body)
    oid = hashlib.sha1(data).hexdigest()
    path = Path(repo.path) / "objects" / oid[:2] / oid[2:]
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(zlib.compress(data))
    return oid.encode()


CASES = [
    "dotdot",
    "dot",
    "dotgit",
    "dotgit-case",
    "dotgit-alias",
    "slash",
    "absolute",
    "backslash",
    "gitlink",
    "nested-dotdot",
    "metadata",
    "case-collision",
    "bad-mode",
    "empty-link",
    "nul-link",
    "not-utf8",
    "too-deep",
    "duplicate",
    "unsorted",
]


@pytest.fixture
def setup(tmp_path: Path):
    """A store (auto export on) whose artifact was pushed to ``origin``."""
    root = tmp_path / "store"
    root.mkdir()
    (root / "gitversions.toml").write_text("[export]\nauto = true\n")
    store = Store(root)
    src = write_tree(tmp_path / "src", {"SKILL.md": "legit\n"})
    v1 = store.snapshot("skill", src, message="v1", timestamp=T0).version
    artifact = store.existing("skill")
    origin = tmp_path / "origin.git"
    remote.add_remote(artifact, "origin", str(origin))
    remote.push(artifact)
    outside = write_tree(tmp_path / "outside", {"keep.txt": "untouched\n"})
    return store, artifact, v1, origin, outside


def poison(origin: Path, case: str) -> bytes:
    repo = Repo(str(origin))
    try:
        parent = repo.refs[b"refs/heads/main"]
        tree = hostile_tree(repo, case, parent)
        commit = add_commit(repo, tree, [parent], f"evil {case}\n".encode(), T0 + 100)
        repo.refs[b"refs/heads/main"] = commit
    finally:
        repo.close()
    return commit


def everything(base: Path) -> dict[str, bytes]:
    found = {}
    for path in sorted(base.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found[str(path.relative_to(base))] = path.read_bytes()
    return found


def no_pwned_outside(tmp_path: Path, origin: Path, store_root: Path) -> None:
    for path in tmp_path.rglob("*"):
        if path.is_relative_to(origin) or path.is_relative_to(
            store_root / "artifacts" / "skill" / "history.git"
        ):
            continue
        assert path.name not in ("pwned", "hooks", "config") or path.is_relative_to(
            origin
        ), path
    assert not Path("/tmp/pwned").exists()


@pytest.mark.parametrize("case", CASES)
def test_fetch_refuses_hostile_history(setup, tmp_path: Path, case: str, invoke):
    store, artifact, v1, origin, outside = setup
    before_outside = everything(outside)
    before_versions = everything(artifact.versions_dir)
    evil = poison(origin, case)
    result = remote.fetch(artifact)
    assert result.status == "refused" and not result.ok
    assert result.adopted == [] and result.exported is None
    assert result.problems and "refused remote history" in result.problems[0]
    reason = {"duplicate": "duplicate entry", "unsorted": "out of git's order"}
    assert reason.get(case, "") in result.problems[0]
    refs = artifact.history.repo.refs
    assert refs[b"refs/heads/main"].decode() == v1.commit
    assert refs[b"refs/remotes/origin/main"] == evil
    assert list(refs.as_dict(b"refs/tags/")) == [str(v1.id).encode()]
    assert [v.id for v in artifact.versions()] == [v1.id]
    assert everything(artifact.versions_dir) == before_versions
    assert everything(outside) == before_outside
    cli = invoke("fetch", "skill", root=store.root)
    assert cli.exit_code == 1
    assert "refused remote history" in cli.stderr
    assert "Traceback" not in cli.output
    no_pwned_outside(tmp_path, origin, store.root)
    assert artifact.verify() == []


@pytest.mark.parametrize(
    "case", ["dotdot", "gitlink", "dotgit", "metadata", "duplicate", "unsorted"]
)
def test_clone_refuses_hostile_history(setup, tmp_path: Path, case: str):
    _store, _artifact, _v1, origin, outside = setup
    poison(origin, case)
    target = Store(tmp_path / "victim")
    with pytest.raises(UnsafePathError, match="refused remote history"):
        remote.clone(target, str(origin), "skill")
    assert not target.artifact("skill").exists()
    # A failed clone leaves nothing: not even the lock or the artifact's directory.
    assert not (target.root / "artifacts" / "skill").exists()
    assert everything(outside) == {"keep.txt": b"untouched\n"}


@pytest.mark.parametrize("case", ["dotdot", "duplicate"])
def test_hostile_history_over_git_daemon(setup, tmp_path: Path, case: str):
    _store, artifact, v1, origin, _outside = setup
    with serve("git", tmp_path / "daemon") as ep:
        served = ep.base / "evil.git"
        run_git("clone", "-q", "--bare", str(origin), str(served))
        poison(served, case)
        result = remote.fetch(artifact, ep.url("evil.git"))
    assert result.status == "refused"
    assert artifact.history.head() == v1.commit


def test_hostile_tag_is_not_adopted(setup):
    """A version only on a tag gets the same checks as one on main."""
    _store, artifact, v1, origin, _outside = setup
    repo = Repo(str(origin))
    parent = repo.refs[b"refs/heads/main"]
    commit = add_commit(
        repo, hostile_tree(repo, "dotgit", parent), [parent], b"tag\n", T0 + 100
    )
    repo.refs[b"refs/tags/v2-0123456"] = commit
    repo.close()
    result = remote.fetch(artifact)
    assert result.adopted == [] and not result.ok
    assert any("v2-0123456" in p and "not adopted" in p for p in result.problems)
    kept = artifact.history.repo.refs[b"refs/remotes/origin/tags/v2-0123456"]
    assert kept == commit
    assert [v.id for v in artifact.versions()] == [v1.id]


def test_symlinks_out_of_the_tree_are_kept_as_links(setup, tmp_path: Path):
    """Links are content: adopted and written as links, never followed."""
    _store, artifact, _v1, origin, outside = setup
    repo = Repo(str(origin))
    parent = repo.refs[b"refs/heads/main"]
    link = add_blob(repo, str(outside).encode())
    entries = [(e.path, e.mode, e.sha) for e in repo[repo[parent].tree].iteritems()]
    tree = add_tree(repo, [*entries, (b"data", LINK, link)])
    v2 = add_commit(repo, tree, [parent], b"link\n", T0 + 100)
    pwned = add_blob(repo, b"pwned\n")
    tree3 = add_tree(
        repo, [*entries, (b"data", DIR, add_tree(repo, [(b"p", FILE, pwned)]))]
    )
    repo.refs[b"refs/heads/main"] = add_commit(repo, tree3, [v2], b"dir\n", T0 + 100)
    repo.close()
    result = remote.fetch(artifact)
    assert result.ok and len(result.adopted) == 2
    assert result.exported is not None
    linked = artifact.versions_dir / str(result.adopted[0].id) / "data"
    assert linked.is_symlink()
    assert everything(outside) == {"keep.txt": b"untouched\n"}
    assert artifact.verify() == []


def test_a_walk_into_a_missing_commit_names_it(setup):
    """A history whose parent never arrived is named, not walked past."""
    _store, artifact, v1, _origin, _outside = setup
    repo = artifact.history.repo
    ghost = b"ab" * 20
    orphan = add_commit(repo, repo[v1.commit.encode()].tree, [ghost], b"x\n", T0)
    with pytest.raises(CorruptionError, match="incomplete or damaged history"):
        remote._walk(artifact.history, [orphan], set())

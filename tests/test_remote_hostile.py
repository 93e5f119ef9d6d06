"""A hostile remote: histories whose trees would write outside their target.

Such a remote can put any name and mode into a tree. Fetch and clone check
every new version's tree as the materializer would before anything is adopted,
so the local history, the materialized versions and everything outside the
store stay exactly as they were.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import json
import os
import subprocess
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.repo import Repo
from helpers import add_blob, add_commit, add_tree, fsck, run_git, write_tree
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


def git_state(history: Path) -> dict[str, bytes]:
    """Every file of a history but its caches (see ``cached_objects_stored``)."""
    return {k: v for k, v in everything(history).items() if not k.startswith("gitv")}


def cached_objects_stored(history: Path) -> None:
    """The caches name only objects the history holds (nothing refused)."""
    cache = history / "gitversions"
    keys = {
        line.split(" ", 1)[0]
        for name in ("index", "sha256", "commits", "changes")
        if (cache / name).is_file()
        for line in (cache / name).read_text("ascii").splitlines()
        if line.strip()
    }
    present = run_git(
        "--git-dir", history, "cat-file", "--batch-check", "--batch-all-objects"
    )
    stored = {line.split()[0] for line in present.splitlines()}
    assert keys <= stored, keys - stored


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
    """Refused means: not one object, pack, ref or cache line of it is kept."""
    store, artifact, v1, origin, outside = setup
    before_outside = everything(outside)
    before_versions = everything(artifact.versions_dir)
    before_history = git_state(artifact.history_path)
    poison(origin, case)
    result = remote.fetch(artifact)
    assert result.status == "refused" and not result.ok
    assert result.adopted == [] and result.exported is None
    assert result.problems and "refused remote history" in result.problems[0]
    assert "nothing of the remote's main was adopted or kept" in result.problems[0]
    reason = {"duplicate": "duplicate entry", "unsorted": "out of git's order"}
    assert reason.get(case, "") in result.problems[0]
    assert git_state(artifact.history_path) == before_history
    cached_objects_stored(artifact.history_path)
    refs = artifact.history.repo.refs
    assert refs[b"refs/heads/main"].decode() == v1.commit
    assert refs[b"refs/remotes/origin/main"].decode() == v1.commit  # as pushed
    assert [v.id for v in artifact.versions()] == [v1.id]
    assert everything(artifact.versions_dir) == before_versions
    assert everything(outside) == before_outside
    for args in (("fetch", "skill"), ("fetch", "skill", f"file://{origin}")):
        cli = invoke(*args, root=store.root)
        assert cli.exit_code == 1
        assert "refused remote history" in cli.stderr
        assert "Traceback" not in cli.output
    assert git_state(artifact.history_path) == before_history  # no url-* ref
    no_pwned_outside(tmp_path, origin, store.root)
    fsck(artifact.history_path)
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


@contextlib.contextmanager
def dumb_http(base: Path) -> Iterator[str]:
    """A plain file server (git's "dumb" HTTP protocol) for ``base``."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(base))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextlib.contextmanager
def hostile_url(
    kind: str, origin: Path, work: Path, case: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A copy of ``origin`` poisoned with ``case``, reached over ``kind``."""
    if kind == "bundle":
        poison(origin, case)
        bundle = work / "evil.bundle"
        run_git("--git-dir", origin, "bundle", "create", "-q", bundle, "--all")
        yield str(bundle)
        return
    if kind == "dumb-http":
        served = work / "dumb" / "evil.git"
        run_git("clone", "-q", "--bare", origin, served)
        poison(served, case)
        run_git("--git-dir", served, "update-server-info")
        with dumb_http(served.parent) as base:
            yield f"{base}/evil.git"
        return
    with serve(kind, work / kind) as ep:
        for key, value in ep.env.items():
            monkeypatch.setenv(key, value)
        served = ep.base / "evil.git"
        run_git("clone", "-q", "--bare", str(origin), str(served))
        poison(served, case)
        yield ep.url("evil.git")


@pytest.mark.parametrize("kind", ["git", "http", "dumb-http", "ssh", "bundle"])
@pytest.mark.parametrize("case", ["dotgit", "duplicate"])
def test_a_refused_fetch_keeps_nothing_over_any_transport(
    setup, tmp_path: Path, kind: str, case: str, monkeypatch: pytest.MonkeyPatch
):
    """The pack a server sends waits in a quarantine, dropped on refusal."""
    _store, artifact, v1, origin, _outside = setup
    before = git_state(artifact.history_path)
    with hostile_url(kind, origin, tmp_path, case, monkeypatch) as url:
        result = remote.fetch(artifact, url)
    assert result.status == "refused", result.problems
    assert "nothing of the remote's main was adopted or kept" in result.problems[0]
    assert artifact.history.head() == v1.commit
    assert git_state(artifact.history_path) == before  # no object, pack or ref
    cached_objects_stored(artifact.history_path)
    fsck(artifact.history_path)
    assert artifact.verify() == []


def _bundle(path: Path, repo: Path, main: str, objects: list[str]) -> None:
    """A v2 bundle of ``main`` whose pack holds exactly ``objects``."""
    pack = subprocess.run(
        ["git", "--git-dir", str(repo), "pack-objects", "--stdout", "-q"],
        input="".join(f"{oid}\n" for oid in objects).encode(),
        capture_output=True,
        check=True,
    ).stdout
    path.write_bytes(b"# v2 git bundle\n%s refs/heads/main\n\n" % main.encode() + pack)


def test_objects_a_server_adds_for_nothing_are_not_kept(setup, tmp_path: Path):
    """A pack may carry more than the history: an unsafe tree, a big payload.

    The new version is adopted; what nothing kept refers to stays out.
    """
    _store, artifact, _v1, origin, _outside = setup
    repo = Repo(str(origin))
    parent = repo.refs[b"refs/heads/main"]
    base = [(e.path, e.mode, e.sha) for e in repo[repo[parent].tree].iteritems()]
    v2_tree = add_tree(repo, [*base, (b"more.md", FILE, add_blob(repo, b"more\n"))])
    v2 = add_commit(repo, v2_tree, [parent], b"v2\n", T0 + 100).decode()
    unsafe = hostile_tree(repo, "dotgit", parent).decode()
    payload = add_blob(repo, os.urandom(1 << 20)).decode()  # incompressible
    repo.close()
    listed = run_git("--git-dir", origin, "rev-list", "--objects", v2).split("\n")
    extra = run_git("--git-dir", origin, "ls-tree", "-r", "-t", unsafe).split("\n")
    objects = [line.split()[0] for line in listed if line.strip()]
    objects += [unsafe, payload] + [line.split()[2] for line in extra if line.strip()]
    bundle = tmp_path / "padded.bundle"
    _bundle(bundle, origin, v2, objects)
    result = remote.fetch(artifact, str(bundle))
    assert result.ok and result.status == "fast-forward"
    assert [v.commit for v in result.adopted] == [v2]
    history = artifact.history_path
    fsck(history)  # the unsafe tree never got in
    for oid in (unsafe, payload):
        missing = subprocess.run(
            ["git", "--git-dir", str(history), "cat-file", "-e", oid], check=False
        )
        assert missing.returncode != 0, oid
    size = sum(p.stat().st_size for p in (history / "objects").rglob("*"))
    assert size < 1 << 19  # no copy of the megabyte
    assert not list((history / "objects").glob("tmp_objdir-*"))
    assert artifact.verify() == []


def test_hostile_tag_is_not_adopted(setup):
    """A version only on a tag gets the same checks as one on main; nothing kept."""
    _store, artifact, v1, origin, _outside = setup
    before = git_state(artifact.history_path)
    repo = Repo(str(origin))
    parent = repo.refs[b"refs/heads/main"]
    commit = add_commit(
        repo, hostile_tree(repo, "dotgit", parent), [parent], b"tag\n", T0 + 100
    )
    repo.refs[b"refs/tags/v2-0123456"] = commit
    repo.close()
    result = remote.fetch(artifact)
    assert result.adopted == [] and not result.ok
    assert list(result.refused_tags) == ["v2-0123456"]
    assert "refused remote history" in result.refused_tags["v2-0123456"]
    assert result.problems == [
        "1 remote tag(s) refused, none kept: v2-0123456 ("
        + result.refused_tags["v2-0123456"]
        + ") (--json lists them all)"
    ]
    assert git_state(artifact.history_path) == before
    assert [v.id for v in artifact.versions()] == [v1.id]
    fsck(artifact.history_path)


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


@pytest.mark.parametrize("packed", [False, True], ids=["loose", "packed"])
@pytest.mark.parametrize(
    "case", ["dotgit", "dotgit-case", "dotdot", "duplicate", "unsorted", "bad-mode"]
)
def test_verify_names_a_stored_tree_no_version_uses(setup, case: str, packed, invoke):
    """What git fsck --strict rejects fails verify too, reachable or not."""
    store, artifact, v1, _origin, _outside = setup
    history = artifact.history_path
    repo = Repo(str(history))
    tree = hostile_tree(repo, case, v1.commit.encode()).decode()
    repo.close()
    if packed:
        subprocess.run(
            ["git", "--git-dir", str(history), "pack-objects", "-q", "objects/pack/p"],
            input=f"{tree}\n".encode(),
            cwd=history,
            check=True,
            capture_output=True,
        )
        (history / "objects" / tree[:2] / tree[2:]).unlink()
    if case != "bad-mode":  # git fsck only notes an odd mode
        with pytest.raises(AssertionError):
            fsck(history)
    problems = artifact.verify()
    # (hostile_tree stores a few more unsafe trees: named as well)
    assert all("would be refused" in p for p in problems), problems
    assert len([p for p in problems if tree in p]) == 1, problems
    cli = invoke("verify", "skill", root=store.root)
    assert cli.exit_code == 1
    assert f"stored tree {tree} would be refused" in cli.stdout


def test_a_flood_of_mislabelled_tags_is_summed_up_and_none_is_kept(
    setup, tmp_path: Path, invoke
):
    """Thousands of tags whose names are not their commits' ids: one line, no ref."""
    store, _artifact, v1, origin, _outside = setup
    count = 3000
    packed = origin / "packed-refs"
    kept = [ln for ln in packed.read_text().splitlines() if not ln.startswith("#")]
    flood = [f"{v1.commit} refs/tags/v{n}-{n:07x}" for n in range(2, count + 2)]
    packed.write_text("\n".join(["# pack-refs with: peeled ", *kept, *flood]) + "\n")
    for args in (("clone", str(origin), "copy"), ("fetch", "skill")):
        cli = invoke(*args, root=store.root)
        assert cli.exit_code == 1, cli.output
        lines = cli.stderr.splitlines()
        assert len(lines) == 1, lines[:5]
        summary = f"{count} remote tag(s) refused, none kept: v2-0000002 ("
        assert lines[0].startswith(summary)
        assert f"and {count - 3} more (--json lists them all)" in lines[0]
    for name in ("copy", "skill"):
        history = store.existing(name).history_path
        refs = run_git("--git-dir", history, "for-each-ref", "--format=%(refname)")
        assert refs.split() == [
            "refs/heads/main",
            "refs/remotes/origin/main",
            f"refs/tags/{v1.id}",
        ]
    data = json.loads(invoke("--json", "fetch", "skill", root=store.root).stdout)
    assert len(data["refused_tags"]) == count
    assert data["refused_tags"]["v2-0000002"] == (
        f"names commit {v1.commit[:12]}, whose version id is {v1.id}"
    )


def test_verify_names_a_damaged_pack_and_a_torn_loose_tree(setup):
    """The scan of every stored tree reports damage; it never crashes on it."""
    _store, artifact, v1, _origin, _outside = setup
    history = artifact.history_path
    torn = zlib.compress(b"tree 40\0" + b"x" * 40)[:-6]  # the header still reads
    oid = hashlib.sha1(b"torn").hexdigest()
    (history / "objects" / oid[:2]).mkdir(exist_ok=True)
    (history / "objects" / oid[:2] / oid[2:]).write_bytes(torn)
    (problem,) = artifact.verify()
    assert problem.startswith(f"skill: stored tree {oid} is damaged: Error -5")
    (history / "objects" / oid[:2] / oid[2:]).unlink()
    # A pack of one tree no version uses, damaged.
    repo = Repo(str(history))
    tree = add_tree(repo, [(b"x" * 200, FILE, add_blob(repo, b"y"))]).decode()
    repo.close()
    subprocess.run(
        ["git", "--git-dir", str(history), "pack-objects", "-q", "objects/pack/p"],
        input=f"{tree}\n".encode(),
        cwd=history,
        check=True,
        capture_output=True,
    )
    (pack,) = (history / "objects" / "pack").glob("p-*.pack")
    pack.chmod(0o644)
    data = bytearray(pack.read_bytes())
    for at in range(16, len(data) - 24):
        data[at] ^= 0x55
    pack.write_bytes(bytes(data))
    artifact.close()
    problems = artifact.verify()
    assert [p for p in problems if "cannot be read" in p], problems
    assert [v.id for v in artifact.versions()] == [v1.id]


def test_verify_passes_over_a_pack_a_repack_removed_while_it_read(
    setup, monkeypatch: pytest.MonkeyPatch
):
    """A pack gone mid-scan was replaced by a writer's repack: not damage."""
    from dulwich.pack import Pack

    _store, artifact, _v1, _origin, _outside = setup
    history = artifact.history_path
    every = run_git("--git-dir", history, "rev-list", "--objects", "--all")
    subprocess.run(
        ["git", "--git-dir", str(history), "pack-objects", "-q", "objects/pack/dup"],
        input="".join(line.split()[0] + "\n" for line in every.splitlines()).encode(),
        cwd=history,
        check=True,
        capture_output=True,
    )
    real = Pack.iterobjects

    def vanishing(self: Pack, *args: object, **kwargs: object):
        if "/dup-" not in self._basename:
            yield from real(self, *args, **kwargs)  # type: ignore[arg-type]
            return
        for path in (history / "objects" / "pack").glob("dup-*"):
            path.unlink()
        raise FileNotFoundError(self._basename)

    monkeypatch.setattr(Pack, "iterobjects", vanishing)
    artifact.close()
    assert artifact.verify() == []

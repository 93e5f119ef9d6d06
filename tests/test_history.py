"""History: version ids, numbers, content hashes, messages, REFs, caches, tags."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path

import pytest
from helpers import fsck, git_write_tree, run_git, write_tree

from gitversions.errors import (
    AmbiguousRefError,
    ConflictError,
    InputError,
    InvalidRefError,
    NotFoundError,
)
from gitversions.git.history import History, join_message, split_message
from gitversions.snapshot.hashing import content_hash, scan_source
from gitversions.store import Store

T0 = 1764496800  # 2025-11-30T10:00:00Z


CONTENTS: list[dict[str, str | bytes]] = [
    {"SKILL.md": "# Skill\n\nFirst.\n", "reference.md": "notes\n"},
    {"SKILL.md": "# Skill\n\nSecond.\n", "reference.md": "notes\n"},
    {"SKILL.md": "# Skill\n\nSecond.\n", "scripts/run.sh": "echo hi\n"},
]


@pytest.fixture
def three(store: Store, tmp_path: Path) -> tuple[Store, list, list[str]]:
    """An artifact ``demo`` with three versions at T0, T0+60, T0+120."""
    src = tmp_path / "src" / "demo"
    versions = []
    hashes = []
    for index, files in enumerate(CONTENTS):
        write_tree(src, files, replace=True)
        hashes.append(content_hash(src))
        result = store.snapshot(
            "demo", src, timestamp=T0 + 60 * index, message=f"change {index + 1}"
        )
        assert result.created
        versions.append(result.version)
    fsck(store.artifact("demo").history_path)
    return store, versions, hashes


def test_ids_numbers_and_content_hashes(three, tmp_path: Path) -> None:
    store, versions, hashes = three
    assert [v.number for v in versions] == [1, 2, 3]
    for version, expected in zip(versions, hashes, strict=True):
        assert version.hash == expected
        assert len(version.hash) == 64
        assert str(version.id) == f"v{version.number}-{expected[:7]}"
    # Parents mirror the linear history.
    assert versions[0].parent_versions == ()
    assert versions[1].parent_versions == (versions[0].id,)
    assert versions[2].parent_versions == (versions[1].id,)
    # The content hash is exactly git's SHA-256 write-tree of the content.
    write_tree(tmp_path / "again", CONTENTS[2], replace=True)
    assert versions[2].hash == git_write_tree(tmp_path / "again", tmp_path / "gitwork")
    # git sees one commit per version, main at the newest, a tag per id.
    history = store.artifact("demo").history_path
    tags = run_git("--git-dir", history, "tag", "--list").split()
    assert sorted(tags) == sorted(str(v.id) for v in versions)
    for version in versions:
        target = run_git("--git-dir", history, "rev-parse", f"{version.id}^{{commit}}")
        assert target.strip() == version.commit
    head = run_git("--git-dir", history, "rev-parse", "refs/heads/main").strip()
    assert head == versions[2].commit
    symref = run_git("--git-dir", history, "symbolic-ref", "HEAD").strip()
    assert symref == "refs/heads/main"
    log = run_git("--git-dir", history, "rev-list", "main").split()
    assert log == [v.commit for v in reversed(versions)]
    # A reopened store derives the same versions.
    again = Store(store.root).artifact("demo").versions()
    assert [v.id for v in again] == [v.id for v in versions]
    fsck(history)


def test_unchanged_content_creates_no_version_unless_forced(
    store: Store, make_skill, git
) -> None:
    src = make_skill()
    first = store.snapshot("skill", src, timestamp=T0)
    history = store.artifact("skill").history_path
    refs_before = git("--git-dir", str(history), "show-ref")
    again = store.snapshot("skill", src, timestamp=T0 + 10)
    assert again.created is False
    assert again.version.id == first.version.id
    assert again.version.commit == first.version.commit
    assert git("--git-dir", str(history), "show-ref") == refs_before
    assert len(store.artifact("skill").versions()) == 1

    forced = store.snapshot("skill", src, timestamp=T0 + 20, force=True)
    assert forced.created is True
    assert forced.version.number == 2
    assert forced.version.hash == first.version.hash
    assert str(forced.version.id) == f"v2-{first.version.hash[:7]}"
    assert forced.version.parents == (first.version.commit,)
    assert forced.record["summary"] == "no changes"
    assert forced.record["files_changed"] == []
    assert [str(v.id) for v in store.artifact("skill").versions()] == [
        str(first.version.id),
        str(forced.version.id),
    ]
    fsck(history)


def test_explicit_timestamp_is_the_commit_time_in_rfc3339_utc(
    store: Store, make_skill, git
) -> None:
    result = store.snapshot("skill", make_skill(), timestamp=T0)
    version = result.version
    assert version.time == T0
    assert version.timestamp == "2025-11-30T10:00:00Z"
    assert result.record["timestamp"] == "2025-11-30T10:00:00Z"
    history = store.artifact("skill").history_path
    times = git("--git-dir", str(history), "log", "-1", "--format=%ct %at %cI")
    assert times.split() == [str(T0), str(T0), "2025-11-30T10:00:00+00:00"]
    toml = store.artifact("skill").version_toml(version)
    assert 'timestamp = "2025-11-30T10:00:00Z"' in toml
    fsck(history)


MESSAGES = [
    "first cut",
    "Title line\n\nA body paragraph.\n\nAnother paragraph\nwith two lines.",
    "Änderung ✓ — 日本語のメッセージ 🎨",
    "Imported by hand\n\nGitversions-Source: someone/else",
    "Gitversions-Source: only-a-fake-trailer",
    "ends with a trailer-like line\nGitversions-Source: x",
]


@pytest.mark.parametrize("message", MESSAGES)
def test_source_label_and_message_round_trip(
    store: Store, make_skill, git, message: str
) -> None:
    label = "anthropics/skills/canvas-design ✓"
    result = store.snapshot("skill", make_skill(), message=message, source=label)
    assert result.version.message == message
    assert result.version.source == label
    assert result.record["message"] == message
    assert result.record["source"] == label
    # A fresh process sees the same, derived from the commit alone.
    fresh = Store(store.root).artifact("skill").resolve("latest")
    assert (fresh.message, fresh.source) == (message, label)
    # The commit itself carries the message and the trailer, readable by git.
    history = store.artifact("skill").history_path
    raw = git("--git-dir", str(history), "log", "-1", "--format=%B")
    assert raw.rstrip("\n").endswith(f"Gitversions-Source: {label}")
    assert raw.startswith(message.split("\n", maxsplit=1)[0])
    fsck(history)


@pytest.mark.parametrize("message", MESSAGES)
def test_split_message_inverts_join_message(message: str) -> None:
    for label in ("local", "git", "a/b/c", "label with spaces ✓"):
        assert split_message(join_message(message, label)) == (message, label)


def test_split_message_of_a_plain_git_commit_has_source_git() -> None:
    assert split_message(b"made with plain git\n") == ("made with plain git", "git")
    assert split_message(b"a\n\nb\n") == ("a\n\nb", "git")


def test_default_message_names_the_version(store: Store, make_skill) -> None:
    result = store.snapshot("skill", make_skill())
    assert str(result.version.id) in result.version.message
    assert result.version.source == "local"
    fsck(store.artifact("skill").history_path)


@pytest.mark.parametrize("label", ["two\nlines", "cr\rhere", "trailing\n", "   "])
def test_source_label_that_is_not_one_line_is_refused(
    store: Store, make_skill, label: str
) -> None:
    src = make_skill()
    with pytest.raises(InputError):
        store.snapshot("skill", src, source=label)
    # Nothing was created for the new artifact.
    assert not store.artifact("skill").exists()
    assert store.names() == []
    # And an existing artifact is left as it was.
    first = store.snapshot("skill", src, timestamp=T0)
    (src / "SKILL.md").write_text("changed\n")
    with pytest.raises(InputError):
        store.snapshot("skill", src, source=label)
    assert [v.id for v in store.artifact("skill").versions()] == [first.version.id]
    fsck(store.artifact("skill").history_path)


def test_resolve_every_ref_form(three) -> None:
    store, versions, _ = three
    artifact = store.artifact("demo")
    v1, v2, v3 = versions
    cases = {
        str(v1.id): v1,
        str(v2.id): v2,
        "v1": v1,
        "v2": v2,
        "v3": v3,
        v1.hash[:4]: v1,
        v2.hash[:9]: v2,
        v3.hash: v3,
        v1.commit[:10]: v1,
        v2.commit: v2,
        "latest": v3,
        "latest~0": v3,
        "latest~1": v2,
        "latest~2": v1,
    }
    # The ids and commits are deterministic (explicit times, fixed identity);
    # make sure the short prefixes above are really unique.
    everything = [v.hash for v in versions] + [v.commit for v in versions]
    assert sum(x.startswith(v1.hash[:4]) for x in everything) == 1
    for ref, expected in cases.items():
        got = artifact.resolve(ref)
        assert got.commit == expected.commit, ref
        assert got.id == expected.id, ref


@pytest.mark.parametrize(
    "ref", ["latest~3", "latest~10", "v4", "v2-0000000", "v9-abcdef0", "00000000"]
)
def test_resolve_unknown_refs(three, ref: str) -> None:
    store, versions, _ = three
    if ref == "00000000":
        assert not any(
            v.hash.startswith(ref) or v.commit.startswith(ref) for v in versions
        )
    with pytest.raises(NotFoundError) as info:
        store.artifact("demo").resolve(ref)
    assert not isinstance(info.value, AmbiguousRefError)
    assert ref in str(info.value)


@pytest.mark.parametrize("ref", ["abc", "v0", "v01", "latest~x", "head", "v2-abc", ""])
def test_resolve_malformed_refs(three, ref: str) -> None:
    store, _, _ = three
    with pytest.raises(InvalidRefError):
        store.artifact("demo").resolve(ref)


def test_resolve_on_an_empty_history(tmp_path: Path) -> None:
    history = History.create(tmp_path / "h.git")
    try:
        with pytest.raises(NotFoundError):
            history.resolve("latest")
        with pytest.raises(NotFoundError):
            history.resolve("v1")
        assert history.versions() == []
        assert history.latest() is None
    finally:
        history.close()
    fsck(tmp_path / "h.git")


def _record(history: History, src: Path, ts: int, parents=None):
    version, created = history.record(
        scan_source(src),
        message=f"at {ts}",
        source_label="test",
        timestamp=ts,
        parents=parents,
    )
    assert created
    return version


def test_branches_merges_and_ambiguous_numbers(tmp_path: Path) -> None:
    path = tmp_path / "h.git"
    history = History.create(path)
    src = tmp_path / "src"
    try:
        v1 = _record(history, write_tree(src, {"a": "1\n"}, replace=True), T0)
        v2a = _record(history, write_tree(src, {"a": "2a\n"}, replace=True), T0 + 100)
        # A sibling of v2a (same number, earlier time): main moves to it.
        v2b = _record(
            history,
            write_tree(src, {"a": "2b\n"}, replace=True),
            T0 + 50,
            parents=[v1.commit],
        )
        assert (v2a.number, v2b.number) == (2, 2)
        assert history.head() == v2b.commit
        # Both are versions (v2a through its tag), ordered by number then time.
        ids = [v.id for v in history.versions()]
        assert ids == [v1.id, v2b.id, v2a.id]
        with pytest.raises(AmbiguousRefError) as info:
            history.resolve("v2")
        assert str(v2a.id) in str(info.value)
        assert str(v2b.id) in str(info.value)
        assert history.resolve(str(v2a.id)).commit == v2a.commit
        assert history.resolve(str(v2b.id)).commit == v2b.commit

        # The same id again on another commit is refused, and nothing moves.
        write_tree(src, {"a": "2a\n"}, replace=True)
        with pytest.raises(ConflictError):
            history.record(
                scan_source(src),
                message="dup",
                source_label="test",
                timestamp=T0 + 200,
                parents=[v1.commit],
            )
        assert history.head() == v2b.commit
        assert history.tag_target(v2a.id) == v2a.commit

        # A merge: n = 1 + the largest parent number; parents kept in order.
        v3 = _record(
            history,
            write_tree(src, {"a": "merged\n"}, replace=True),
            T0 + 300,
            [v2a.commit, v2b.commit],
        )
        assert v3.number == 3
        assert v3.parents == (v2a.commit, v2b.commit)
        assert v3.parent_versions == (v2a.id, v2b.id)
        # latest~N follows first parents.
        assert history.resolve("latest~1").commit == v2a.commit
        assert history.resolve("latest~2").commit == v1.commit
        with pytest.raises(NotFoundError):
            history.resolve("latest~3")
        # A merge whose parents differ in number.
        v4 = _record(
            history,
            write_tree(src, {"a": "4\n"}, replace=True),
            T0 + 400,
            [v1.commit, v3.commit],
        )
        assert v4.number == 4
        assert v4.parent_versions == (v1.id, v3.id)
    finally:
        history.close()
    fresh = History.open(path, use_cache=False)
    try:
        assert [v.id for v in fresh.versions()] == [
            v1.id,
            v2b.id,
            v2a.id,
            v3.id,
            v4.id,
        ]
    finally:
        fresh.close()
    fsck(path)


def _tree_hash_of_single_file(data: bytes) -> str:
    """An independent SHA-256 git tree id of a directory holding only ``f``."""
    blob = hashlib.sha256(b"blob %d\0" % len(data) + data).digest()
    body = b"100644 f\0" + blob
    return hashlib.sha256(b"tree %d\0" % len(body) + body).hexdigest()


def test_ambiguous_hash_prefix(store: Store, tmp_path: Path) -> None:
    # Find two contents whose content hashes share their first 4 hex digits.
    seen: dict[str, bytes] = {}
    pair: tuple[bytes, bytes] | None = None
    for i in range(200_000):
        data = f"content {i}\n".encode()
        prefix = _tree_hash_of_single_file(data)[:4]
        if prefix in seen:
            pair = (seen[prefix], data)
            break
        seen[prefix] = data
    assert pair is not None
    src = tmp_path / "src"
    first = store.snapshot(
        "amb", write_tree(src, {"f": pair[0]}, replace=True), timestamp=T0
    ).version
    second = store.snapshot(
        "amb", write_tree(src, {"f": pair[1]}, replace=True), timestamp=T0 + 1
    ).version
    assert first.hash == _tree_hash_of_single_file(pair[0])
    assert second.hash == _tree_hash_of_single_file(pair[1])
    prefix = first.hash[:4]
    assert second.hash.startswith(prefix)
    artifact = store.artifact("amb")
    with pytest.raises(AmbiguousRefError) as info:
        artifact.resolve(prefix)
    assert str(first.id) in str(info.value)
    assert str(second.id) in str(info.value)
    # A longer prefix tells them apart.
    n = next(i for i in range(5, 65) if first.hash[:i] != second.hash[:i])
    assert artifact.resolve(first.hash[:n]).commit == first.commit
    assert artifact.resolve(second.hash[:n]).commit == second.commit
    fsck(artifact.history_path)


def _ids(store_root: Path, name: str) -> list[tuple[str, str, str]]:
    versions = Store(store_root).artifact(name).versions()
    return [(str(v.id), v.hash, v.commit) for v in versions]


def test_caches_are_only_hints_deleted(three) -> None:
    store, versions, _ = three
    expected = [(str(v.id), v.hash, v.commit) for v in versions]
    cache = store.artifact("demo").history_path / "gitversions"
    assert (cache / "index").exists()
    shutil.rmtree(cache)
    assert _ids(store.root, "demo") == expected
    # And again, now that they have been rebuilt.
    assert _ids(store.root, "demo") == expected


def test_caches_are_only_hints_garbage(three) -> None:
    store, versions, _ = three
    expected = [(str(v.id), v.hash, v.commit) for v in versions]
    cache = store.artifact("demo").history_path / "gitversions"
    garbage = (
        b"garbage\n\x00\xff\xfe not ascii\n"
        b"zzzz 1 2\n"
        + b"a" * 40
        + b" x "
        + b"b" * 64
        + b"\n"
        # A line cut short by a crash mid-append, then the next append.
        + versions[2].commit.encode()
        + b" 3 "
        + versions[2].hash[:20].encode()
        + versions[1].commit.encode()
        + b" 2 "
        + versions[1].hash.encode()
        + b"\n"
    )
    for name in ("index", "sha256"):
        path = cache / name
        old = path.read_bytes() if path.exists() else b""
        path.write_bytes(garbage + old + garbage)
    assert _ids(store.root, "demo") == expected
    # Garbage in place of the whole files.
    for name in ("index", "sha256"):
        (cache / name).write_bytes(os.urandom(3000))
    assert _ids(store.root, "demo") == expected
    # The cache being a directory where a file should be does not matter either.
    shutil.rmtree(cache)
    (cache / "index").mkdir(parents=True)
    (cache / "sha256").mkdir()
    assert _ids(store.root, "demo") == expected
    fresh = History.open(store.artifact("demo").history_path, use_cache=False)
    try:
        assert [(str(v.id), v.hash, v.commit) for v in fresh.versions()] == expected
    finally:
        fresh.close()


def test_a_bare_clone_derives_the_same_ids(three, tmp_path: Path) -> None:
    store, versions, _ = three
    clone = tmp_path / "clone.git"
    run_git("clone", "-q", "--bare", store.artifact("demo").history_path, clone)
    assert not (clone / "gitversions").exists()
    history = History.open(clone)
    try:
        assert [(v.id, v.hash, v.commit) for v in history.versions()] == [
            (v.id, v.hash, v.commit) for v in versions
        ]
    finally:
        history.close()


def test_sha256_store_gives_the_same_ids_and_hashes(
    tmp_path: Path, make_skill, git
) -> None:
    src = make_skill()
    (src / "link").symlink_to("SKILL.md")
    roots = {}
    for fmt in ("sha1", "sha256"):
        root = tmp_path / f"store-{fmt}"
        Store(root).init()
        (root / "gitversions.toml").write_text(f'object_format = "{fmt}"\n')
        roots[fmt] = root
    results: dict[str, list] = {"sha1": [], "sha256": []}
    for step in range(3):
        if step == 1:
            (src / "SKILL.md").write_text("changed\n")
        if step == 2:
            (src / "scripts" / "process.js").chmod(0o644)
        for fmt, root in roots.items():
            result = Store(root).snapshot(
                "skill", src, timestamp=T0 + step, message=f"step {step}"
            )
            results[fmt].append(result.version)
    sha1, sha256 = results["sha1"], results["sha256"]
    assert [(v.id, v.hash, v.message, v.time) for v in sha1] == [
        (v.id, v.hash, v.message, v.time) for v in sha256
    ]
    assert all(len(v.commit) == 40 for v in sha1)
    assert all(len(v.commit) == 64 for v in sha256)
    # In a SHA-256 repository the content hash is the stored tree id itself.
    assert all(v.tree == v.hash for v in sha256)
    for fmt, root in roots.items():
        history = root / "artifacts" / "skill" / "history.git"
        fmt_seen = git("--git-dir", str(history), "rev-parse", "--show-object-format")
        assert fmt_seen.strip() == fmt
        assert [str(v.id) for v in Store(root).artifact("skill").versions()] == [
            str(v.id) for v in sha1
        ]
        fsck(history)


@pytest.mark.parametrize("changed", [True, False])
def test_tag_lost_in_a_crash_is_recreated(three, tmp_path: Path, changed: bool) -> None:
    store, versions, _ = three
    history = store.artifact("demo").history_path
    newest = versions[-1]
    tag = history / "refs" / "tags" / str(newest.id)
    assert tag.is_file()
    packed = history / "packed-refs"
    assert not packed.exists() or str(newest.id) not in packed.read_text()
    tag.unlink()
    src = tmp_path / "src" / "demo"
    if changed:
        (src / "new.md").write_text("new\n")
    result = store.snapshot("demo", src, timestamp=T0 + 1000)
    assert result.created is changed
    assert (
        run_git("--git-dir", history, "rev-parse", f"refs/tags/{newest.id}").strip()
        == newest.commit
    )
    if changed:
        assert (
            run_git(
                "--git-dir", history, "rev-parse", f"refs/tags/{result.version.id}"
            ).strip()
            == result.version.commit
        )
    assert store.artifact("demo").verify() == []
    fsck(history)


def _collide(three, tmp_path: Path) -> tuple[Store, list, Path, Path, str]:
    store, versions, _ = three
    history = store.artifact("demo").history_path
    src = tmp_path / "src" / "demo"
    (src / "new.md").write_text("a new file\n")
    next_id = f"v4-{content_hash(src)[:7]}"
    # The tag the next version would get already names another commit.
    run_git(
        "--git-dir", history, "update-ref", f"refs/tags/{next_id}", versions[0].commit
    )
    return store, versions, history, src, next_id


def test_tag_collision_raises_conflict_and_moves_no_ref(three, tmp_path: Path) -> None:
    store, versions, history, src, next_id = _collide(three, tmp_path)
    refs_before = run_git("--git-dir", history, "show-ref")
    with pytest.raises(ConflictError) as info:
        store.snapshot("demo", src, timestamp=T0 + 1000)
    assert next_id in str(info.value)
    assert run_git("--git-dir", history, "show-ref") == refs_before
    assert run_git("--git-dir", history, "rev-parse", "main").strip() == (
        versions[-1].commit
    )
    assert [v.id for v in Store(store.root).artifact("demo").versions()][:3] == [
        v.id for v in versions
    ]
    fsck(history)


def test_tag_collision_leaves_the_repository_byte_for_byte_unchanged(
    three, tmp_path: Path, listing
) -> None:
    # Store.snapshot promises "Nothing in the store changes unless the snapshot
    # succeeds"; the failed attempt must not leave its blobs and trees behind.
    store, _, history, src, _ = _collide(three, tmp_path)
    before = listing(history)
    with pytest.raises(ConflictError):
        store.snapshot("demo", src, timestamp=T0 + 1000)
    after = listing(history)
    extra = sorted(set(after) - set(before))
    # No blob or tree of the refused version may stay behind ...
    assert [p for p in extra if not stat.S_ISDIR(after[p][0])] == []
    # ... nor the objects/xx directories made for them.
    assert extra == []
    assert after == before


def test_changes_added_modified_deleted(store: Store, tmp_path: Path, git) -> None:
    src = tmp_path / "src"
    write_tree(
        src,
        {
            "SKILL.md": "v1\n",
            "keep.md": "same\n",
            "run.sh": "echo\n",
            "target.md": "target\n",
            "becomes-link.md": "a file\n",
            "docs/a.md": "a\n",
            "docs/b.md": "b\n",
            "gone.md": "bye\n",
        },
        replace=True,
    )
    v1 = store.snapshot("c", src, timestamp=T0).version
    (src / "SKILL.md").write_text("v2\n")  # content change
    (src / "run.sh").chmod(0o755)  # mode change only
    (src / "becomes-link.md").unlink()
    (src / "becomes-link.md").symlink_to("target.md")  # file -> symlink
    shutil.rmtree(src / "docs")
    (src / "docs").write_text("now a file\n")  # dir -> file
    (src / "gone.md").unlink()
    (src / "new" / "deep").mkdir(parents=True)
    (src / "new" / "deep" / "x.md").write_text("x\n")
    v2 = store.snapshot("c", src, timestamp=T0 + 1).version
    artifact = store.artifact("c")
    changes = artifact.changes(v2)
    assert changes.added == ("docs", "new/deep/x.md")
    assert changes.modified == ("SKILL.md", "becomes-link.md", "run.sh")
    assert changes.deleted == ("docs/a.md", "docs/b.md", "gone.md")
    assert changes.files_changed == tuple(
        sorted(changes.added + changes.modified + changes.deleted)
    )
    assert changes.summary == "2 added, 3 modified, 3 deleted"
    record = artifact.record(v2)
    assert record["modified"] == ["SKILL.md", "becomes-link.md", "run.sh"]
    assert record["summary"] == "2 added, 3 modified, 3 deleted"
    # git agrees on the set of changed paths.
    history = str(artifact.history_path)
    names = git(
        "--git-dir", history, "diff", "--no-renames", "--name-only", "main~1", "main"
    )
    assert sorted(names.split()) == list(changes.files_changed)
    # Against nothing, everything is added; the first version's record says so.
    first = artifact.changes(v1)
    assert first.deleted == first.modified == ()
    assert "docs/a.md" in first.added
    assert len(first.added) == 8
    # An unchanged pair has no changes.
    assert artifact.diff(v2, v2).files_changed == ()
    assert artifact.diff(v2, v2).summary == "no changes"
    # Backwards, added and deleted swap.
    back = artifact.diff(v2, v1)
    assert back.added == changes.deleted
    assert back.deleted == changes.added
    fsck(artifact.history_path)


# -- refs read and written without dulwich's packed-refs parse ------------------


def _many(store: Store, tmp_path: Path, count: int) -> list:
    src = tmp_path / "many"
    out = []
    for i in range(count):
        write_tree(src, {"SKILL.md": f"version {i}\n"}, replace=True)
        out.append(store.snapshot("m", src, timestamp=T0 + i).version)
        store.close()
    return out


def test_snapshot_on_packed_refs_from_git(store: Store, tmp_path: Path) -> None:
    # `git pack-refs --all` moves main and every tag into packed-refs: the
    # next snapshot must still see them, refuse nothing and move main.
    versions = _many(store, tmp_path, 3)
    repo = store.artifact("m").history_path
    store.close()
    run_git("--git-dir", repo, "pack-refs", "--all")
    assert not (repo / "refs" / "heads" / "main").exists()
    artifact = Store(store.root).artifact("m")
    assert artifact.history.tag_target(versions[1].id) == versions[1].commit
    assert set(artifact.history.tags()) == {str(v.id) for v in versions}
    assert str(artifact.resolve("v2").id) == str(versions[1].id)
    write_tree(tmp_path / "many", {"SKILL.md": "version 3\n"}, replace=True)
    new = Store(store.root).snapshot("m", tmp_path / "many").version
    assert new.number == 4 and new.parent_versions == (versions[2].id,)
    assert run_git("--git-dir", repo, "rev-parse", "main").strip() == new.commit
    assert run_git("--git-dir", repo, "rev-parse", str(new.id)).strip() == new.commit
    fsck(repo)


def test_main_lock_held_refuses_the_snapshot(store: Store, tmp_path: Path) -> None:
    versions = _many(store, tmp_path, 1)
    repo = store.artifact("m").history_path
    store.close()
    history = History.open(repo)
    before = sorted(p.name for p in (repo / "objects").glob("??/*"))
    write_tree(tmp_path / "many", {"SKILL.md": "next\n"}, replace=True)
    (repo / "refs" / "heads" / "main.lock").write_text("held by git\n")
    # record() clears stale locks under our lock, so hold it from the inside:
    real = history.clear_stale_locks
    history.clear_stale_locks = lambda: None  # type: ignore[method-assign]
    with pytest.raises(ConflictError, match=r"main\.lock"):
        history.record(
            scan_source(tmp_path / "many"), message=None, source_label="local"
        )
    history.clear_stale_locks = real  # type: ignore[method-assign]
    assert run_git("--git-dir", repo, "rev-parse", "main").strip() == versions[0].commit
    (repo / "refs" / "heads" / "main.lock").unlink()
    # The refused version's objects were discarded: the store is as it was.
    assert sorted(p.name for p in (repo / "objects").glob("??/*")) == before
    fsck(repo)


def test_numbers_right_when_the_index_tail_misses_main(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A snapshot reads only the end of the index; when main is not there
    # (a short tail, an index rebuilt in another order) it must still count.
    import gitversions.git.history as history_module

    versions = _many(store, tmp_path, 6)
    index = store.artifact("m").history_path / "gitversions" / "index"
    lines = index.read_text().splitlines(keepends=True)
    index.write_text("".join(reversed(lines)))  # the newest now comes first
    store.close()
    monkeypatch.setattr(history_module, "_TAIL_BYTES", 200)  # about two lines
    write_tree(tmp_path / "many", {"SKILL.md": "seventh\n"}, replace=True)
    new = Store(store.root).snapshot("m", tmp_path / "many").version
    assert new.number == 7
    assert new.parent_versions == (versions[-1].id,)
    fresh = History.open(store.artifact("m").history_path, use_cache=False)
    assert [str(v.id) for v in fresh.versions()][-1] == str(new.id)


def test_tag_written_without_hardlinks(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_link(*_args: object) -> None:
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    versions = _many(store, tmp_path, 2)
    repo = store.artifact("m").history_path
    tags = run_git("--git-dir", repo, "tag", "--list").split()
    assert tags == sorted(str(v.id) for v in versions)
    assert not list((repo / "refs" / "tags").glob("*.lock"))


def test_sha256_cache_notes_each_object_once(store: Store, tmp_path: Path) -> None:
    # A snapshot reads none of the caches; it must still not append the ids
    # of unchanged files again (the cache grew by a whole tree per snapshot).
    src = tmp_path / "dup"
    for i in range(5):
        write_tree(
            src, {"SKILL.md": f"v{i}\n", "a.md": "same\n", "d/b.md": "same too\n"}
        )
        store.snapshot("d", src, timestamp=T0 + i)
        store.close()
    cache = store.artifact("d").history_path / "gitversions" / "sha256"
    keys = [line.split()[0] for line in cache.read_text().splitlines()]
    assert len(keys) == len(set(keys))
    # 5 SKILL.md + a.md + b.md blobs, 5 root trees + the d/ tree.
    assert len(keys) == 5 + 2 + 5 + 1


# -- record_tree: versions that come from a merge, not a scanned source -----------


def test_record_tree_records_a_two_parent_version_git_reads_as_a_merge(
    three, tmp_path: Path
) -> None:
    store, versions, hashes = three
    artifact = store.artifact("demo")
    history = artifact.history
    # A side line from v1, as another store would have recorded it.
    side = history.record_tree(
        versions[0].tree, [versions[2].commit], message="side", timestamp=T0 + 200
    )
    merged = history.record_tree(
        versions[1].tree,
        [side.commit, versions[2].commit],
        message="Merge",
        source_label="git",
        timestamp=T0 + 300,
    )
    assert merged.parents == (side.commit, versions[2].commit)
    assert merged.number == 1 + max(side.number, versions[2].number)
    assert merged.hash == hashes[1]  # the content hash comes from the tree
    assert merged.source == "git" and merged.message == "Merge"
    assert history.latest() == merged
    assert history.resolve(str(merged.id)) == merged  # tagged
    fsck(artifact.history_path)
    parents = run_git(
        "--git-dir", str(artifact.history_path), "log", "-1", "--format=%P"
    )
    assert parents.split() == [side.commit, versions[2].commit]


def test_record_tree_refuses_a_duplicate_version_id(three, tmp_path: Path) -> None:
    store, versions, _ = three
    history = store.artifact("demo").history
    history.record_tree(versions[0].tree, [versions[2].commit], message="again")
    # The same content on the same parents would be a duplicate id.
    with pytest.raises(ConflictError):
        history.record_tree(versions[0].tree, [versions[2].commit], message="again")


def test_a_failed_automatic_repack_is_logged_not_the_snapshots_failure(
    store: Store, tmp_path: Path, monkeypatch, caplog
) -> None:
    def broken(_history: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("gitversions.git.repack.auto_repack", broken)
    src = tmp_path / "src"
    write_tree(src, CONTENTS[0])
    with caplog.at_level("WARNING", logger="gitversions"):
        result = store.snapshot("demo", src, timestamp=T0)
    assert result.created
    assert "automatic repack" in caplog.text and "No space left" in caplog.text

"""The snapshot stat cache: hits skip reading, racy entries are rehashed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import fsck, write_tree

from gitversions.git import history
from gitversions.git.history import History
from gitversions.snapshot import statcache as _statcache
from gitversions.snapshot.hashing import FileNode, Source, content_hash, scan_source
from gitversions.store import Store

SECOND = 1_000_000_000
IDS = (b"\x01" * 32, b"\x02" * 20)


def _node(rel: str, mtime: int, ctime: int | None = None, size: int = 5) -> FileNode:
    return FileNode(f"/x/{rel}", rel, 0o100644, size, mtime, ctime or mtime, 7, 9)


def _source(path: Path, scanned_at: int) -> Source:
    return Source(path, "dir", scan_source(path).root, scanned_at)


def _cache(tmp_path: Path, scanned_at: int) -> _statcache.StatCache:
    return _statcache.StatCache(
        tmp_path / "cache", _source(tmp_path, scanned_at), ("sha256", "sha1")
    )


def test_racily_clean_entries_are_not_trusted(tmp_path: Path) -> None:
    now = 1_800_000_000 * SECOND
    old = now - 60 * SECOND
    racy = now - SECOND  # within the margin of the scan: could change unseen
    cache = _cache(tmp_path, now)
    for node in (_node("old", old), _node("racy", racy), _node("ctime", old, racy)):
        assert cache.known(node) is None
        cache.add(node, IDS)
    cache.save()
    again = _cache(tmp_path, now + SECOND)
    assert again.known(_node("old", old)) == IDS
    assert again.known(_node("racy", racy)) is None
    assert again.known(_node("ctime", old, racy)) is None
    # Any stat field differing is a miss.
    assert again.known(_node("old", old, size=6)) is None
    assert again.known(_node("old", old + 1)) is None


def test_racy_entries_become_trusted_once_rewritten_later(tmp_path: Path) -> None:
    now = 1_800_000_000 * SECOND
    cache = _cache(tmp_path, now)
    cache.known(_node("f", now - SECOND))
    cache.add(_node("f", now - SECOND), IDS)
    cache.save()
    later = _cache(tmp_path, now + 10 * SECOND)
    assert later.known(_node("f", now - SECOND)) is None  # written racy
    later.add(_node("f", now - SECOND), IDS)
    later.save()
    assert _cache(tmp_path, now + 20 * SECOND).known(_node("f", now - SECOND)) == IDS


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[:-10],  # torn
        lambda b: b.replace(b"sha1", b"sha2"),  # checksum no longer matches
        lambda b: b"",
        lambda b: b"\x00" * 100,
    ],
)
def test_damaged_cache_is_ignored(tmp_path: Path, damage: object) -> None:
    now = 1_800_000_000 * SECOND
    cache = _cache(tmp_path, now)
    cache.add(_node("f", now - 60 * SECOND), IDS)
    cache.save()
    path = tmp_path / "cache"
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    assert _cache(tmp_path, now + SECOND).known(_node("f", now - 60 * SECOND)) is None


def test_cache_of_another_source_is_ignored(tmp_path: Path) -> None:
    now = 1_800_000_000 * SECOND
    cache = _cache(tmp_path, now)
    cache.add(_node("f", now - 60 * SECOND), IDS)
    cache.save()
    (tmp_path / "other").mkdir()
    other = _statcache.StatCache(
        tmp_path / "cache", _source(tmp_path / "other", now), ("sha256", "sha1")
    )
    assert other.known(_node("f", now - 60 * SECOND)) is None


@pytest.fixture
def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust every entry at once (files made by a test are all racily new)."""
    monkeypatch.setattr(_statcache, "RACY_MARGIN_NS", -(10**18))


def _forbid_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = history.read_consistently

    def spy(node: FileNode, consume: object) -> None:
        reads.append(node.rel)
        real(node, consume)  # type: ignore[arg-type]

    monkeypatch.setattr(history, "read_consistently", spy)
    monkeypatch.setattr(history, "hash_blob_file", None)  # large files too
    return reads


def test_unchanged_snapshot_reads_no_file(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trusting: None
) -> None:
    src = tmp_path / "src"
    write_tree(src, {f"d{i}/f{j}.md": f"{i} {j}\n" for i in range(3) for j in range(5)})
    store.snapshot("a", src)
    reads = _forbid_reads(monkeypatch)
    result = store.snapshot("a", src)
    assert not result.created and reads == []
    # One file edited: only it is read, and the version is right.
    (src / "d1" / "f2.md").write_text("changed, and longer\n")
    result = store.snapshot("a", src)
    assert result.created and reads == ["d1/f2.md"]
    assert result.version.hash == content_hash(src)
    store.close()
    fsck(store.root / "artifacts" / "a" / "history.git")


def test_same_size_edit_right_after_snapshot_is_seen(
    store: Store, tmp_path: Path
) -> None:
    # Default margin: a file written just now is racy, so it is always read.
    src = tmp_path / "src"
    write_tree(src, {"SKILL.md": "aaaa\n"})
    store.snapshot("a", src)
    path = src / "SKILL.md"
    st = path.stat()
    path.write_text("bbbb\n")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size and mtime
    result = store.snapshot("a", src)
    assert result.created and result.version.hash == content_hash(src)


def test_missing_blob_named_by_the_cache_is_written_again(
    store: Store, tmp_path: Path, trusting: None
) -> None:
    src = tmp_path / "src"
    write_tree(src, {"keep.md": "kept\n", "edit.md": "one\n"})
    first = store.snapshot("a", src).version
    hist = store.artifact("a").history
    kept = hist.files(first.tree)["keep.md"].blob
    store.close()
    objects = store.root / "artifacts" / "a" / "history.git" / "objects"
    (objects / kept[:2] / kept[2:]).unlink()  # as if pruned
    (src / "edit.md").write_text("two\n")
    result = store.snapshot("a", src)
    assert result.created
    store.close()
    assert (objects / kept[:2] / kept[2:]).is_file()
    fsck(store.root / "artifacts" / "a" / "history.git")


def test_verify_ignores_the_stat_cache(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    write_tree(src, {"a.md": "x\n"})
    store.snapshot("a", src)
    store.close()
    path = store.root / "artifacts" / "a" / "history.git" / "gitversions"
    assert (path / "statcache").is_file()
    h = History.open(store.root / "artifacts" / "a" / "history.git", use_cache=False)
    try:
        assert [v.number for v in h.versions()] == [1]
    finally:
        h.close()


def test_show_by_number_uses_the_tag_and_falls_back(
    store: Store, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    for i in range(4):
        write_tree(src, {"SKILL.md": f"{i}\n"}, replace=True)
        store.snapshot("a", src)
    art = store.artifact("a")
    history = art.history
    assert history._tagged_number(3) is not None
    assert art.resolve("v3").number == 3
    v3 = art.resolve("v3")
    # Without its tag (plain git, a crash), the walk still finds it.
    history.repo.refs.remove_if_equals(b"refs/tags/" + str(v3.id).encode(), None)
    assert history._tagged_number(3) is None
    assert art.resolve("v3") == v3

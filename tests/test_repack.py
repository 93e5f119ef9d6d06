"""Packing: delta-compressed packs, automatic repacks, big blobs left loose."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import fsck, run_git, write_tree

from gitversions.git import repack as _repack
from gitversions.store import Store


def _objects(store: Store) -> Path:
    return store.root / "artifacts" / "a" / "history.git" / "objects"


def _loose(store: Store) -> list[Path]:
    return [p for p in _objects(store).glob("??/*") if p.is_file()]


def test_gc_packs_with_deltas_and_reads_back(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    lines = [f"line {i} of a long enough text file\n" for i in range(2000)]
    versions = []
    for i in range(6):
        lines[1000] = f"edited {i}\n"
        write_tree(src, {"SKILL.md": "".join(lines), "b.md": "b\n"}, replace=True)
        versions.append(store.snapshot("a", src).version)
    one_version = sum(len(x) for x in lines)
    stats = store.artifact("a").gc()
    assert stats["loose_objects_after"] == 0 and stats["packs_after"] == 1
    pack_bytes = sum(
        p.stat().st_size for p in (_objects(store) / "pack").glob("*.pack")
    )
    # Six versions cost about one compressed copy, not six.
    assert pack_bytes < one_version // 2
    artifact = store.artifact("a")
    for version in versions:
        assert artifact.history.files(version.tree)["SKILL.md"]
    out = tmp_path / "out"
    artifact.export(to=out)
    assert (out / str(versions[2].id) / "SKILL.md").read_text().count("edited 2") == 1
    store.close()
    fsck(_objects(store).parent)
    assert (_objects(store).parent / "packed-refs").is_file()


def test_automatic_repack_keeps_few_files(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_repack, "AUTO_LOOSE", 8)
    monkeypatch.setattr(_repack, "AUTO_PACKS", 2)
    src = tmp_path / "src"
    for i in range(20):
        write_tree(src, {"SKILL.md": f"version {i}\n" * 50, f"f{i % 5}": "x"})
        store.snapshot("a", src)
        store.close()
    assert len(list((_objects(store) / "pack").glob("*.pack"))) <= 3
    assert len(_loose(store)) < 60  # 20 snapshots wrote more than that
    assert len(store.artifact("a").versions()) == 20
    store.close()
    fsck(_objects(store).parent)


def test_big_blobs_stay_loose(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_repack, "BIG_BLOB", 1000)
    src = tmp_path / "src"
    write_tree(src, {"big.bin": b"\x01\x02" * 5000, "small.md": "s\n"})
    version = store.snapshot("a", src).version
    store.artifact("a").gc()
    big = store.artifact("a").history.files(version.tree)["big.bin"].blob
    assert (_objects(store) / big[:2] / big[2:]).is_file()
    assert len(_loose(store)) == 1
    store.close()
    fsck(_objects(store).parent)


def _tags_dir(store: Store) -> Path:
    return _objects(store).parent / "refs" / "tags"


def _git_tags(repo: Path) -> list[str]:
    return run_git("--git-dir", repo, "tag", "--list").split()


def test_gc_packs_tags_and_keeps_main_loose(store: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for i in range(5):
        write_tree(src, {"SKILL.md": f"v{i}\n"}, replace=True)
        store.snapshot("a", src)
    before = sorted(str(v.id) for v in store.artifact("a").versions())
    stats = store.artifact("a").gc()
    assert stats["packed_tags"] == 5
    repo = _objects(store).parent
    assert list(_tags_dir(store).iterdir()) == []
    assert (repo / "refs" / "heads" / "main").is_file()
    packed = (repo / "packed-refs").read_text()
    assert all(f"refs/tags/{tag}" in packed for tag in before)
    store.close()
    assert sorted(_git_tags(repo)) == before
    assert sorted(str(v.id) for v in store.artifact("a").versions()) == before
    assert store.artifact("a").verify() == [] and store.artifact("a").pending() == []
    # A later snapshot writes its tag loose beside the packed ones.
    write_tree(src, {"SKILL.md": "v5\n"}, replace=True)
    new = store.snapshot("a", src).version
    assert (_tags_dir(store) / str(new.id)).is_file()
    store.close()
    assert len(_git_tags(repo)) == 6
    fsck(repo)


@pytest.mark.parametrize("fail_at", ["write", "unlink"])
def test_pack_tags_interrupted_loses_no_tag(
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fail_at: str,
) -> None:
    src = tmp_path / "src"
    for i in range(4):
        write_tree(src, {"SKILL.md": f"v{i}\n"}, replace=True)
        store.snapshot("a", src)
    before = sorted(str(v.id) for v in store.artifact("a").versions())
    store.close()

    class Killed(BaseException):
        """Stands for a SIGKILL at that instant."""

    if fail_at == "write":
        # Dies while packed-refs.lock is half written: nothing renamed.
        def boom(*_args: object, **_kwargs: object) -> None:
            raise Killed

        monkeypatch.setattr("dulwich.refs.write_packed_refs", boom)
    else:
        real_unlink = _repack.os.unlink
        calls: list[str] = []

        def unlink_once(path: str) -> None:
            if "refs/tags" in str(path):
                calls.append(str(path))
                if len(calls) == 2:
                    raise Killed  # after the first loose tag went
            real_unlink(path)

        monkeypatch.setattr(_repack.os, "unlink", unlink_once)
    with pytest.raises(Killed):
        store.artifact("a").gc()
    monkeypatch.undo()
    store.close()
    repo = _objects(store).parent
    (repo / "packed-refs.lock").unlink(missing_ok=True)  # git's stale-lock rule
    assert sorted(_git_tags(repo)) == before
    reopened = Store(store.root)
    assert sorted(str(v.id) for v in reopened.artifact("a").versions()) == before
    assert reopened.artifact("a").verify() == []
    reopened.artifact("a").gc()  # and a later gc finishes the job
    reopened.close()
    assert sorted(_git_tags(repo)) == before
    assert list(_tags_dir(store).iterdir()) == []
    fsck(repo)


def test_similar_gates_delta_search() -> None:
    import random

    rng = random.Random(5)
    base = rng.randbytes(1 << 20)
    edited = base[: 1 << 19] + b"one new line\n" + base[1 << 19 :]
    unrelated = rng.randbytes(1 << 20)
    half = base[: 1 << 19] + rng.randbytes(1 << 19)
    assert _repack.similar(base, edited)
    assert not _repack.similar(base, unrelated)
    assert not _repack.similar(base, half)
    assert _repack.similar(b"tiny", b"other tiny")  # tiny: never deltified


def _tree_body(names: list[str], changed: int = 0) -> bytes:
    import hashlib

    return b"".join(
        b"100644 %s\0%s"
        % (
            n.encode(),
            hashlib.sha1(n.encode() + (b"new" if i < changed else b"")).digest(),
        )
        for i, n in enumerate(sorted(names))
    )


def test_similar_gates_delta_search_of_small_objects() -> None:
    import random

    rng = random.Random(7)
    names = [f"file{i}.txt" for i in range(100)]  # a 3.8 KB tree
    tree = _tree_body(names)
    assert _repack.similar(tree, _tree_body(names, changed=5))
    assert _repack.similar(tree, _tree_body(names[:50] + names[51:]))
    few = _tree_body(names[:15])  # 560 bytes: two changed entries of fifteen
    assert _repack.similar(few, _tree_body(names[:15], changed=2))
    text = b"".join(b"line %d of a small script\n" % i for i in range(200))
    assert _repack.similar(text, text[:2000] + b"an edit\n" + text[2000:])
    # Same-named directories elsewhere, or random data: create_delta would
    # spend ~50 ms per pair (quadratic in size) to find nothing.
    sibling = _tree_body([f"other{i}.txt" for i in range(100)])
    assert not _repack.similar(tree, sibling)
    assert not _repack.similar(rng.randbytes(4000), rng.randbytes(4000))
    assert not _repack.similar(rng.randbytes(8000), rng.randbytes(8100))


def test_snapshot_tries_no_deltas_between_same_named_directories(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Many directories named alike ("scripts", "f0") share a delta hint: each
    # tree was tried against ten unrelated others, ~50 ms apiece at 4 KB, which
    # made the repack after a snapshot of 100,000 files take minutes.
    files = {
        f"part{d}/scripts/file-{d}-{i:03}.js": f"// {d} {i}\n"
        for d in range(12)
        for i in range(30)
    }
    src = write_tree(tmp_path / "src", {"SKILL.md": "s\n", **files})
    tried: list[int] = []
    real = _repack.create_delta

    def counting(base: bytes, target: bytes) -> object:
        tried.append(len(target))
        return real(base, target)

    monkeypatch.setattr(_repack, "create_delta", counting)
    store.snapshot("a", src)
    store.artifact("a").gc()
    assert tried == []
    artifact = store.artifact("a")
    assert artifact.verify() == []
    store.close()
    fsck(_objects(store).parent)


def test_gc_skips_deltas_between_unrelated_versions(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regenerated binaries under one name: create_delta on such pairs is
    # quadratic (minutes for a few MB), so it must not even be tried.
    import random

    rng = random.Random(9)
    src = tmp_path / "src"
    blobs = [rng.randbytes(300_000) for _ in range(3)]
    for blob in blobs:
        write_tree(src, {"model.bin": blob, "SKILL.md": "s\n"}, replace=True)
        store.snapshot("a", src)
    tried: list[int] = []
    real = _repack.create_delta

    def counting(base: bytes, target: bytes) -> object:
        tried.append(len(target))
        return real(base, target)

    monkeypatch.setattr(_repack, "create_delta", counting)
    store.artifact("a").gc()
    assert not [n for n in tried if n >= 300_000]
    artifact = store.artifact("a")
    got = [
        artifact.history.files(v.tree)["model.bin"].blob for v in artifact.versions()
    ]
    assert len(set(got)) == 3
    out = tmp_path / "out"
    artifact.export(to=out)
    for version, blob in zip(artifact.versions(), blobs, strict=True):
        assert (out / str(version.id) / "model.bin").read_bytes() == blob
    store.close()
    fsck(_objects(store).parent)


def test_geometric_split_merges_only_the_small_packs() -> None:
    split = _repack.geometric_split
    assert split([]) == []
    assert split([(100, "a")]) == []
    # Each at least twice all the smaller ones together: already geometric.
    assert split([(1, "a"), (3, "b"), (9, "c"), (27, "d")]) == []
    assert split([(1, "a"), (2, "b"), (4, "c"), (8, "d")]) == ["a", "b", "c", "d"]
    # Seven recent small packs under one big one: merge the seven, keep the big.
    small = [(10, f"s{i}") for i in range(7)]
    assert sorted(split([(1000, "big"), *small])) == sorted(n for _, n in small)
    # Equal sizes: nothing is twice the rest, so all merge.
    assert sorted(split([(5, "x"), (5, "y"), (5, "z")])) == ["x", "y", "z"]


def test_automatic_repack_never_rewrites_the_big_pack(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # After gc one big pack holds the history; later automatic repacks must
    # merge only recent packs (rewriting all of history on a snapshot is what
    # made long histories slow), yet keep the pack count bounded.
    monkeypatch.setattr(_repack, "AUTO_LOOSE", 8)
    monkeypatch.setattr(_repack, "AUTO_PACKS", 3)
    src = tmp_path / "src"
    big = "\n".join(f"line {i} of a large file" for i in range(20_000))
    write_tree(src, {"SKILL.md": "v0\n", "big.md": big})
    store.snapshot("a", src)
    store.artifact("a").gc()
    store.close()
    pack_dir = _objects(store) / "pack"
    (base,) = [p.name for p in pack_dir.glob("*.pack")]
    for i in range(40):
        write_tree(src, {"SKILL.md": f"version {i}\n" * 30, "big.md": big})
        store.snapshot("a", src)
        store.close()
        packs = [p.name for p in pack_dir.glob("*.pack")]
        assert base in packs, f"the big pack was rewritten at snapshot {i}"
        assert len(packs) <= 6
    assert len(store.artifact("a").versions()) == 41
    store.close()
    fsck(_objects(store).parent)

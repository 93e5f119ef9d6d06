"""Packing: delta-compressed packs, automatic repacks, big blobs left loose."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import fsck, write_tree

from gitversions import _repack
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

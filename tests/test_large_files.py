"""Files larger than the in-memory threshold are streamed, never read whole."""

from __future__ import annotations

import hashlib
import os
import subprocess
import zlib
from pathlib import Path

import pytest

from gitversions.errors import CorruptionError, SourceError
from gitversions.git import history
from gitversions.git.loose import blob_header_size, iter_loose_blob, loose_path
from gitversions.snapshot import hashing
from gitversions.store import Store

SIZE = (8 << 20) + 12_345  # just past history._SMALL_FILE


@pytest.fixture
def big_skill(tmp_path: Path) -> Path:
    src = tmp_path / "big"
    src.mkdir()
    (src / "SKILL.md").write_text("# big\n")
    # Incompressible, so zlib cannot hide a truncation.
    (src / "model.bin").write_bytes(os.urandom(SIZE))
    return src


def _blob_id(store: Store, name: str, path: str) -> str:
    art = store.artifact(name)
    entries = art.history.files(art.versions()[-1].tree)
    return entries[path].blob


def test_large_file_round_trips_through_snapshot_and_export(
    store: Store, big_skill: Path, tmp_path: Path
) -> None:
    result = store.snapshot("big", big_skill)
    assert result.version.hash == hashing.content_hash(big_skill)
    art = store.artifact("big")
    blob = _blob_id(store, "big", "model.bin")
    path = loose_path(art.history.objects_dir, blob)
    assert blob_header_size(path, blob) == SIZE
    assert art.history.blob_size(blob) == SIZE
    art.export()
    exported = art.versions_dir / str(result.version.id) / "model.bin"
    assert exported.read_bytes() == (big_skill / "model.bin").read_bytes()
    subprocess.run(
        ["git", "--git-dir", str(art.history_path), "fsck", "--strict"],
        check=True,
        capture_output=True,
    )
    # git reads the object we streamed out ourselves.
    shown = subprocess.run(
        ["git", "--git-dir", str(art.history_path), "cat-file", "blob", blob],
        check=True,
        capture_output=True,
    ).stdout
    assert (
        hashlib.sha256(shown).digest()
        == hashlib.sha256((big_skill / "model.bin").read_bytes()).digest()
    )


def test_large_file_changed_between_hash_and_store_is_retried(
    store: Store, big_skill: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file rewritten after hashing but before storing is read again."""
    real = history.hash_blob_file
    calls = {"n": 0}

    def hash_then_rewrite(node, algorithms):  # type: ignore[no-untyped-def]
        ids = real(node, algorithms)
        calls["n"] += 1
        if calls["n"] == 1:
            Path(node.path).write_bytes(os.urandom(SIZE))
        return ids

    monkeypatch.setattr(history, "hash_blob_file", hash_then_rewrite)
    with pytest.raises(SourceError, match=r"changed|kept changing"):
        store.snapshot("big", big_skill)
    # Nothing half-written: the artifact does not exist, no object is left.
    assert not store.artifact("big").exists()


def test_streamed_loose_blob_detects_damage(store: Store, big_skill: Path) -> None:
    store.snapshot("big", big_skill)
    art = store.artifact("big")
    blob = _blob_id(store, "big", "model.bin")
    path = loose_path(art.history.objects_dir, blob)
    data = zlib.decompress(path.read_bytes())
    damaged = bytearray(data)
    damaged[-10] ^= 0xFF
    path.chmod(0o644)
    path.write_bytes(zlib.compress(bytes(damaged), 1))
    with pytest.raises(CorruptionError, match="does not match"):
        for _chunk in iter_loose_blob(path, "sha1", blob):
            pass
    truncated = zlib.compress(data[: len(data) // 2], 1)
    path.write_bytes(truncated)
    with pytest.raises(CorruptionError):
        for _chunk in iter_loose_blob(path, "sha1", blob):
            pass
    path.write_bytes(b"not zlib at all")
    with pytest.raises(CorruptionError, match="damaged"):
        blob_header_size(path, blob)
    path.write_bytes(zlib.compress(b"tree 5\0abcde"))
    with pytest.raises(CorruptionError, match="not a blob"):
        blob_header_size(path, blob)
    with pytest.raises(CorruptionError, match="not a blob"):
        list(iter_loose_blob(path, "sha1", blob))
    problems = art.verify()
    assert any("model.bin" in p or blob in p for p in problems), problems

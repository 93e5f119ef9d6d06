"""Loose objects: what must be fsynced for a new object to survive a crash."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitversions.git import loose as _loose


def _write(objects: Path, body: bytes, synced: set[Path] | None) -> str:
    raw = _loose.write_loose(
        objects, "sha1", b"blob", len(body), iter((body,)), synced_dirs=synced
    )
    return raw.hex()


def test_new_fanout_directory_is_named_durably(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A crash must not lose the fan-out directory a new object went into:
    # its entry lives in objects/, which needs an fsync of its own.
    objects = tmp_path / "objects"
    objects.mkdir()
    synced: list[Path] = []
    monkeypatch.setattr(_loose, "fsync_dir", synced.append)
    first = _write(objects, b"one\n", None)
    assert synced == [objects / first[:2], objects]
    synced.clear()
    # The same directory again: only the directory holding the new file.
    again = next(
        body
        for body in (b"%d\n" % i for i in range(10_000))
        if _hex(body)[:2] == first[:2]
    )
    _write(objects, again, None)
    assert synced == [objects / first[:2]]


def test_deferred_syncs_name_objects_dir_when_it_changed(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    objects.mkdir()
    later: set[Path] = set()
    hex_id = _write(objects, b"two\n", later)
    assert later == {objects / hex_id[:2], objects}


def _hex(body: bytes) -> str:
    import hashlib

    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()

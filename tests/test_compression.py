"""``[storage] version_compression``: each version in ``versions/`` as one archive."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from helpers import Listing, listing_of, ok, set_config

from gitversions.store import Artifact, Store

SUFFIX = {"gzip": ".tar.gz", "bzip2": ".tar.bz2"}
TAR_FLAG = {"gzip": "-z", "bzip2": "-j"}

pytestmark = pytest.mark.skipif(
    shutil.which("tar") is None, reason="needs the tar program"
)


def configured(store: Store, compression: str, latest: str = "auto") -> Store:
    return set_config(
        store,
        f'[export]\nlatest = "{latest}"\n\n'
        f'[storage]\nversion_compression = "{compression}"\n',
    )


def three_versions(store: Store, make_skill: Callable[..., Path]) -> Artifact:
    """Three versions with a subdirectory, an executable, a symlink, binary data."""
    src = make_skill("canvas-design", {"data.bin": bytes(range(256)) * 40})
    (src / "link").symlink_to("SKILL.md")
    for n in range(3):
        with (src / "SKILL.md").open("a") as f:
            f.write(f"edit {n}\n")
        store.snapshot("canvas-design", src, timestamp=1_700_000_000 + n * 60)
    return store.artifact("canvas-design")


def untar(archive: Path, compression: str, dest: Path) -> Path:
    """Extract with the real tar program, keeping modes (-p)."""
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["tar", "-x", TAR_FLAG[compression], "-p", "-f", str(archive), "-C", str(dest)],
        check=True,
        capture_output=True,
    )
    return dest


def as_exported(listing: Listing) -> Listing:
    """Drop the write bits: tar extracts files as archived (0644/0755), while
    materialized versions are read-only; the rest of the mode must match."""
    return {
        rel: ((mode & ~0o222) if stat.S_ISREG(mode) else mode, data)
        for rel, (mode, data) in listing.items()
        if not stat.S_ISDIR(mode)
    }


def archives(artifact: Artifact) -> dict[str, bytes]:
    return {
        p.name: p.read_bytes()
        for p in sorted(artifact.versions_dir.iterdir())
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_archives_extract_to_exactly_the_directory_form(
    store: Store, make_skill: Callable[..., Path], tmp_path: Path, compression: str
) -> None:
    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    result = artifact.export()
    ids = [str(v.id) for v in artifact.versions()]
    assert result.written == ids
    names = sorted(p.name for p in artifact.versions_dir.iterdir())
    suffix = SUFFIX[compression]
    assert names == sorted([f"latest{suffix}", *(i + suffix for i in ids)])
    # The directory form, written by the same store with --to.
    dirs = tmp_path / "dirs"
    artifact.export(to=dirs, fmt="dir")
    for version_id in ids:
        archive = artifact.versions_dir / f"{version_id}{suffix}"
        assert stat.S_IMODE(archive.stat().st_mode) == 0o444
        out = untar(archive, compression, tmp_path / "x" / version_id)
        assert sorted(p.name for p in out.iterdir()) == [version_id]
        extracted = listing_of(out / version_id)
        expected = listing_of(dirs / version_id)
        assert extracted.keys() == expected.keys()
        assert as_exported(extracted) == as_exported(expected)
        assert ".version.toml" in extracted
        assert stat.S_ISLNK(extracted["link"][0])
        assert extracted["scripts/process.js"][0] & 0o111


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_reexport_after_deleting_versions_is_byte_identical(
    store: Store, make_skill: Callable[..., Path], tmp_path: Path, compression: str
) -> None:
    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    artifact.export()
    before = archives(artifact)
    assert len(before) == 3
    shutil.rmtree(artifact.versions_dir)
    artifact.export()
    assert archives(artifact) == before
    # And the same bytes from a git clone of the history, in another store.
    Store(tmp_path / "other").init()
    other = configured(Store(tmp_path / "other"), compression)
    clone = other.artifact("canvas-design")
    subprocess.run(
        [
            "git",
            "clone",
            "--bare",
            "-q",
            str(artifact.history_path),
            str(clone.history_path),
        ],
        check=True,
    )
    clone.export()
    assert archives(clone) == before


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_export_is_incremental(
    store: Store, make_skill: Callable[..., Path], compression: str
) -> None:
    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    artifact.export()
    again = artifact.export()
    assert again.written == []
    assert len(again.intact) == 3


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_latest_symlink_points_at_the_newest_archive(
    store: Store, make_skill: Callable[..., Path], compression: str
) -> None:
    store = configured(store, compression, latest="symlink")
    artifact = three_versions(store, make_skill)
    artifact.export()
    suffix = SUFFIX[compression]
    link = artifact.versions_dir / f"latest{suffix}"
    newest = str(artifact.versions()[-1].id)
    assert link.is_symlink()
    assert os.readlink(link) == newest + suffix
    assert not (artifact.versions_dir / "latest").exists()
    assert store.artifact("canvas-design").verify() == []


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_latest_copy_is_a_read_only_copy_of_the_newest_archive(
    store: Store, make_skill: Callable[..., Path], compression: str
) -> None:
    store = configured(store, compression, latest="copy")
    artifact = three_versions(store, make_skill)
    artifact.export()
    suffix = SUFFIX[compression]
    copy = artifact.versions_dir / f"latest{suffix}"
    newest = str(artifact.versions()[-1].id)
    assert not copy.is_symlink()
    assert copy.read_bytes() == (artifact.versions_dir / (newest + suffix)).read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o444
    assert artifact.verify() == []
    # A new version moves the copy.
    src = store.root.parent / "src" / "canvas-design"
    (src / "SKILL.md").write_text("new\n")
    store.snapshot("canvas-design", src, timestamp=1_700_001_000)
    artifact.export()
    newest = str(artifact.versions()[-1].id)
    assert copy.read_bytes() == (artifact.versions_dir / (newest + suffix)).read_bytes()
    assert artifact.verify() == []
    assert artifact.pending() == []


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_verify_flags_a_truncated_archive_and_repair_fixes_it(
    store: Store,
    make_skill: Callable[..., Path],
    invoke: Callable[..., Result],
    compression: str,
) -> None:
    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    artifact.export()
    before = archives(artifact)
    first = artifact.versions_dir / f"{artifact.versions()[0].id}{SUFFIX[compression]}"
    first.chmod(0o644)
    with first.open("r+b") as f:
        f.truncate(first.stat().st_size // 2)
    result = invoke("verify", "canvas-design")
    assert result.exit_code == 1
    assert f"problem: canvas-design: versions/{first.name}: " in result.stdout
    assert "truncated" in result.stdout
    ok(invoke("verify", "canvas-design", "--repair"))
    assert archives(artifact) == before
    assert stat.S_IMODE(first.stat().st_mode) == 0o444


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_verify_flags_a_corrupt_archive_and_export_repair_fixes_it(
    store: Store,
    make_skill: Callable[..., Path],
    invoke: Callable[..., Result],
    compression: str,
) -> None:
    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    artifact.export()
    before = archives(artifact)
    last = artifact.versions_dir / f"{artifact.versions()[-1].id}{SUFFIX[compression]}"
    data = bytearray(last.read_bytes())
    data[len(data) // 2] ^= 0xFF
    last.chmod(0o644)
    last.write_bytes(bytes(data))
    problems = artifact.verify()
    assert len(problems) == 1
    assert problems[0].startswith(
        f"canvas-design: versions/{last.name}: archive differs from the history: "
        "corrupt ("
    ), problems
    # A plain export trusts what is there; --repair compares bytes.
    assert artifact.export().written == []
    assert artifact.verify() != []
    ok(invoke("export", "canvas-design", "--repair"))
    assert archives(artifact) == before
    assert artifact.verify() == []


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_prune_removes_archives_but_never_latests_target(
    store: Store,
    make_skill: Callable[..., Path],
    invoke: Callable[..., Result],
    compression: str,
) -> None:
    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    artifact.export()
    ids = [str(v.id) for v in artifact.versions()]
    suffix = SUFFIX[compression]
    ok(invoke("prune", "canvas-design", "--keep", "1"))
    assert sorted(p.name for p in artifact.versions_dir.iterdir()) == [
        f"latest{suffix}",
        ids[-1] + suffix,
    ]
    assert os.readlink(artifact.versions_dir / f"latest{suffix}") == ids[-1] + suffix
    assert artifact.verify() == []
    # A missing archive of a recorded version is not damage, as for directories.
    ok(invoke("verify", "canvas-design"))
    # And export names it back.
    artifact.export([ids[0]])
    assert (artifact.versions_dir / (ids[0] + suffix)).is_file()


def test_prune_keeps_an_older_version_latest_names(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store = configured(store, "gzip")
    artifact = three_versions(store, make_skill)
    artifact.export()
    ids = [str(v.id) for v in artifact.versions()]
    link = artifact.versions_dir / "latest.tar.gz"
    link.unlink()
    link.symlink_to(ids[0] + ".tar.gz")
    from gitversions.materialize.retention import prune

    result = prune(artifact, keep=1)
    assert result.removed == [ids[1]]
    assert (artifact.versions_dir / (ids[0] + ".tar.gz")).is_file()


def test_switching_the_setting_keeps_the_store_verifiable(
    store: Store,
    make_skill: Callable[..., Path],
    invoke: Callable[..., Result],
) -> None:
    artifact = three_versions(store, make_skill)
    ids = [str(v.id) for v in artifact.versions()]
    artifact.export()  # directories
    for compression in ("gzip", "bzip2", "none", "gzip"):
        store = configured(Store(store.root), compression)
        artifact = store.artifact("canvas-design")
        artifact.export()
        assert artifact.verify() == [], compression
        ok(invoke("verify"))
        pointers = [
            p.name for p in artifact.versions_dir.iterdir() if p.name.startswith("lat")
        ]
        expected = "latest" + SUFFIX.get(compression, "")
        assert pointers == [expected]  # the other forms' pointers are gone
        assert artifact.pending() == []
    names = sorted(p.name for p in artifact.versions_dir.iterdir())
    assert names == sorted(
        ["latest.tar.gz"] + [i + s for i in ids for s in ("", ".tar.gz", ".tar.bz2")]
    )
    # Every form of a pruned version goes.
    ok(invoke("prune", "canvas-design", "--keep", "2"))
    assert not any(n.startswith(ids[0]) for n in os.listdir(artifact.versions_dir))
    assert artifact.verify() == []


def test_stale_pointer_of_another_form_is_a_note_until_export(
    store: Store, make_skill: Callable[..., Path], invoke: Callable[..., Result]
) -> None:
    artifact = three_versions(store, make_skill)
    artifact.export()
    store = configured(Store(store.root), "bzip2")
    artifact = store.artifact("canvas-design")
    notes = artifact.pending()
    assert notes == [
        "canvas-design: versions/latest is not of the configured "
        "version_compression (the next export removes it)"
    ]
    assert artifact.verify() == []
    ok(invoke("verify", "canvas-design", "--repair"))
    assert not (artifact.versions_dir / "latest").exists()
    assert artifact.pending() == []


def test_latest_pointer_of_the_wrong_form_is_a_problem(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store = configured(store, "gzip")
    artifact = three_versions(store, make_skill)
    artifact.export()
    newest = str(artifact.versions()[-1].id)
    link = artifact.versions_dir / "latest.tar.gz"
    link.unlink()
    link.symlink_to(newest + ".tar.bz2")
    assert artifact.verify() == [
        "canvas-design: versions/latest.tar.gz: names no version of this history"
    ]
    link.unlink()
    link.symlink_to(newest)  # a directory name: wrong form too
    assert artifact.verify() != []
    artifact.export()
    assert os.readlink(link) == newest + ".tar.gz"
    assert artifact.verify() == []


def test_archive_replaced_by_a_directory_is_a_problem(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store = configured(store, "gzip")
    artifact = three_versions(store, make_skill)
    artifact.export()
    first = artifact.versions_dir / f"{artifact.versions()[0].id}.tar.gz"
    first.unlink()
    first.mkdir()
    assert artifact.verify() == [
        f"canvas-design: versions/{first.name}: not a regular file"
    ]


def test_leftover_temporary_archive_is_ignored_then_cleaned(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store = configured(store, "gzip")
    artifact = three_versions(store, make_skill)
    artifact.export()
    newest = str(artifact.versions()[-1].id)
    leftover = artifact.versions_dir / f".{newest}.tar.gz.tmp-999999-abcd1234"
    leftover.write_bytes(b"half an archive")
    assert artifact.verify() == []
    artifact.export()
    assert not leftover.exists()


def test_export_to_another_directory_writes_what_format_says(
    store: Store, make_skill: Callable[..., Path], tmp_path: Path
) -> None:
    store = configured(store, "bzip2")
    artifact = three_versions(store, make_skill)
    newest = str(artifact.versions()[-1].id)
    artifact.export(to=tmp_path / "d")
    assert (tmp_path / "d" / newest).is_dir()
    artifact.export([newest], to=tmp_path / "a", fmt="tar.bz2")
    artifact.export()
    assert (tmp_path / "a" / f"{newest}.tar.bz2").read_bytes() == (
        artifact.versions_dir / f"{newest}.tar.bz2"
    ).read_bytes()


@pytest.mark.parametrize("value", ['"zip"', '"xz"', "true", '"Gzip"', '["gzip"]'])
def test_bad_value_exits_2_with_a_message(
    store: Store, invoke: Callable[..., Result], value: str
) -> None:
    set_config(store, f"[storage]\nversion_compression = {value}\n")
    result = invoke("list")
    assert result.exit_code == 2
    assert "storage.version_compression must be 'none', 'gzip' or 'bzip2'" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_verify_repair_also_rewrites_a_damaged_directory(
    store: Store, make_skill: Callable[..., Path], invoke: Callable[..., Result]
) -> None:
    artifact = three_versions(store, make_skill)
    artifact.export()
    first = artifact.versions_dir / str(artifact.versions()[0].id)
    before = listing_of(first)
    (first / "SKILL.md").chmod(0o644)
    (first / "SKILL.md").write_text("edited by hand\n")
    assert invoke("verify", "canvas-design").exit_code == 1
    result = ok(invoke("verify", "canvas-design", "--repair"))
    assert f"versions/{first.name} rewritten from the history" in result.stderr
    assert listing_of(first) == before


def test_switching_from_a_latest_copy_directory_removes_it(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store = configured(store, "none", latest="copy")
    artifact = three_versions(store, make_skill)
    artifact.export()
    assert (artifact.versions_dir / "latest").is_dir()
    store = configured(Store(store.root), "gzip", latest="copy")
    artifact = store.artifact("canvas-design")
    artifact.export()
    assert not (artifact.versions_dir / "latest").exists()
    assert (artifact.versions_dir / "latest.tar.gz").is_file()
    assert artifact.verify() == []


def test_damaged_latest_copy_is_a_problem_and_export_repair_fixes_it(
    store: Store, make_skill: Callable[..., Path]
) -> None:
    store = configured(store, "bzip2", latest="copy")
    artifact = three_versions(store, make_skill)
    artifact.export()
    copy = artifact.versions_dir / "latest.tar.bz2"
    good = copy.read_bytes()
    copy.chmod(0o644)
    copy.write_bytes(good + b"\0" * 10)
    assert artifact.verify() == [
        "canvas-design: versions/latest.tar.bz2: archive differs from the history: "
        "corrupt (bytes after the end of the compressed stream)"
    ]
    artifact.export(repair=True)
    assert copy.read_bytes() == good
    assert artifact.verify() == []
    copy.chmod(0o644)
    copy.write_bytes(b"not an archive")  # names no version at all
    assert artifact.verify() == [
        "canvas-design: versions/latest.tar.bz2: names no version of this history"
    ]
    artifact.export()
    assert copy.read_bytes() == good


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_an_archive_compressed_by_another_build_still_verifies(
    store: Store, make_skill: Callable[..., Path], compression: str
) -> None:
    # Another zlib build (zlib-ng) or level gives other compressed bytes for
    # the same tar stream: that is not damage. Edited content inside is.
    import bz2
    import gzip

    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    artifact.export()
    last = artifact.versions_dir / f"{artifact.versions()[-1].id}{SUFFIX[compression]}"
    opener = gzip if compression == "gzip" else bz2
    inner = opener.decompress(last.read_bytes())
    recompressed = opener.compress(inner, compresslevel=1)
    assert recompressed != last.read_bytes()
    last.chmod(0o644)
    last.write_bytes(recompressed)
    assert artifact.verify() == []
    edited = inner.replace(b"Canvas", b"Canvaz", 1)
    assert edited != inner
    last.write_bytes(opener.compress(edited, compresslevel=1))
    problems = artifact.verify()
    assert len(problems) == 1 and "archive differs from the history" in problems[0]


@pytest.mark.parametrize("compression", ["gzip", "bzip2"])
def test_trailing_bytes_after_the_stream_are_damage(
    store: Store, make_skill: Callable[..., Path], compression: str
) -> None:
    # gzip.open and bz2.open skip what follows a stream (zero padding, junk);
    # verify must not: the file is no longer what the history gives.
    store = configured(store, compression)
    artifact = three_versions(store, make_skill)
    artifact.export()
    first = artifact.versions_dir / f"{artifact.versions()[0].id}{SUFFIX[compression]}"
    first.chmod(0o644)
    with first.open("ab") as f:
        f.write(b"\0" * 512 + b"junk")
    problems = artifact.verify()
    assert problems == [
        f"canvas-design: versions/{first.name}: archive differs from the history: "
        "corrupt (bytes after the end of the compressed stream)"
    ]

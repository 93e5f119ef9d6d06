"""Materialize versions: the ``versions/`` layout, ``latest``, archives, restore.

The materializer reads versions through :class:`VersionReader`, a small part of
the history's interface, and never writes anything that is not complete:

- a version directory is built under a hidden temporary name inside the target,
  fsynced, then renamed to ``<id>``; its files are read-only;
- ``latest`` is a relative symlink replaced by ``rename``, or (fallback) a
  directory holding a full copy, swapped in by an atomic exchange where the
  system has one;
- archives are written to a temporary file and renamed; with
  ``[storage] version_compression`` set, each version in ``versions/`` is one
  such archive (``<id>.tar.gz`` or ``<id>.tar.bz2``, read-only) and ``latest``
  is ``latest.tar.gz -> <id>.tar.gz`` (or a copy of that file);
- every path comes from :meth:`VersionReader.iter_tree`, which refuses unsafe
  names; files are created with ``O_EXCL | O_NOFOLLOW`` inside directories this
  module created, so nothing is ever written through a symlink.
"""

from __future__ import annotations

import bz2
import contextlib
import filecmp
import gzip
import hashlib
import io
import os
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol

from gitversions.errors import (
    CorruptionError,
    DestinationError,
    UnsafePathError,
    naming,
)
from gitversions.formats.metadata import VERSION_FILENAME, render_version_toml
from gitversions.fs.atomic import atomic_write, fsync_dir, sync, write_all
from gitversions.fs.dirfd import (
    TreeBuilder,
    carry_over,
    lstat_at,
    opened_dir,
    remove_at,
    same_file,
    step,
    swap_in,
)
from gitversions.model.version import Changes, TreeEntry, Version
from gitversions.snapshot.hashing import MODE_EXEC, MODE_LINK, excluded_paths

__all__ = [
    "LATEST",
    "STORED_FORMATS",
    "ExportResult",
    "Format",
    "Materializer",
    "VersionReader",
    "archive_version_id",
    "clean_stale_siblings",
    "finish_killed_restore",
    "latest_name",
    "remove_tree",
    "restore_content",
    "stored_form",
    "write_archive",
    "write_content",
]

LATEST = "latest"
# Files written at once: decompression, writes and fsyncs release the GIL.
WRITE_THREADS = 4
# Linux's PATH_MAX: writing relative to descriptors could go deeper, but no
# program could then open the files by path.
_PATH_MAX = 4096
TMP_MARK = ".tmp-"
Format = Literal["dir", "tar.gz", "tar.bz2", "zip"]
ArchiveFormat = Literal["tar.gz", "tar.bz2", "zip"]
StoredFormat = Literal["tar.gz", "tar.bz2"]
ARCHIVE_SUFFIX: dict[str, str] = {
    "tar.gz": ".tar.gz",
    "tar.bz2": ".tar.bz2",
    "zip": ".zip",
}
# The archive forms a ``versions/`` directory may hold, besides directories,
# and the ``[storage] version_compression`` setting that writes each.
STORED_FORMATS: tuple[StoredFormat, ...] = ("tar.gz", "tar.bz2")
COMPRESSION_FORMAT: dict[str, StoredFormat] = {"gzip": "tar.gz", "bzip2": "tar.bz2"}


def stored_form(name: str) -> tuple[str, StoredFormat | None]:
    """Split a ``versions/`` entry name into its stem and archive form.

    Args:
        name: An entry of ``versions/`` (``v1-3f2a9c1``, ``v1-3f2a9c1.tar.gz``,
            ``latest.tar.bz2``).

    Returns:
        The name without its archive suffix, and the form (None for a
        directory or any other name).
    """
    for fmt in STORED_FORMATS:
        suffix = ARCHIVE_SUFFIX[fmt]
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], fmt
    return name, None


def latest_name(fmt: StoredFormat | None) -> str:
    """The name of the ``latest`` pointer for a form (None: directories)."""
    return LATEST if fmt is None else LATEST + ARCHIVE_SUFFIX[fmt]


LATEST_NAMES = (LATEST, *(latest_name(f) for f in STORED_FORMATS))


class VersionReader(Protocol):
    """What the materializer needs from a history."""

    def latest(self) -> Version | None:
        """Return the newest version."""
        ...

    def iter_tree(self, tree: str) -> Iterator[TreeEntry]:
        """Yield the checked files and links of a tree."""
        ...

    def iter_blob(self, hex_id: str) -> Iterator[bytes]:
        """Yield a blob's content, checked against its id."""
        ...

    def first_parent(self, version: Version) -> Version | None:
        """Return a version's first parent."""
        ...

    def changes(self, old: Version | None, new: Version) -> Changes:
        """Return the changes between two versions."""
        ...


@dataclass
class ExportResult:
    """What an export did: versions written, versions already intact, archives.

    ``target`` is the directory written into (set by the store).
    """

    written: list[str] = field(default_factory=list)
    intact: list[str] = field(default_factory=list)
    latest: str | None = None
    pruned: list[str] = field(default_factory=list)
    target: Path | None = None


def render_for(reader: VersionReader, version: Version) -> str:
    """Render the ``.version.toml`` of ``version``."""
    return render_version_toml(
        version, reader.changes(reader.first_parent(version), version)
    )


def remove_tree(path: Path) -> None:
    """Delete a directory tree even where its files were made read-only."""

    def retry(func: Callable[..., object], target: str, _exc: object) -> None:
        # A directory made read-only by hand: make it writable, then retry.
        with contextlib.suppress(OSError):
            Path(target).parent.chmod(0o755)
        with contextlib.suppress(FileNotFoundError):
            func(target)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=retry)  # onexc needs Python 3.12


def _link_target(reader: VersionReader, entry: TreeEntry) -> bytes:
    target = b"".join(reader.iter_blob(entry.blob))
    if b"\0" in target or not target:
        raise UnsafePathError(f"symlink {entry.path!r} has an invalid target")
    return target


def write_content(
    reader: VersionReader,
    version: Version,
    dest_fd: int,
    *,
    read_only: bool,
    at: Path,
    extra: Iterable[tuple[str, bytes]] = (),
    link_from: dict[tuple[str, int], Path] | None = None,
) -> None:
    """Write a version's files into an empty directory this process made.

    Everything is created relative to ``dest_fd`` and the directories opened
    below it, never through a symlink, so a name swapped while this runs
    cannot send a write outside the directory (see :mod:`._dirfd`).

    Args:
        reader: Where the version is read from.
        version: The version.
        dest_fd: The (new, empty) directory to fill, opened.
        read_only: Make files read-only (materialized versions) or not (restore).
        at: Where the directory will be once complete: a path longer than the
            system's limit there is refused, as no other program could open it.
        extra: More ``(name, bytes)`` files for the top level (``.version.toml``).
        link_from: Read-only files of an earlier materialized version by
            ``(blob, mode)``: a file with the same blob and mode is hardlinked
            from there instead of written (copied where linking fails).
    """
    links = link_from or {}
    builder = TreeBuilder(dest_fd, threads=WRITE_THREADS)
    room = _PATH_MAX - len(os.fsencode(at)) - 1
    try:
        for entry in reader.iter_tree(version.tree):
            if len(entry.path.encode("utf-8")) > room:
                raise UnsafePathError(
                    f"tree entry {entry.path[:60]!r}... would be longer at {at} than "
                    f"the system's limit of {_PATH_MAX} bytes for a path"
                )
            *parents, name = entry.path.split("/")
            where = builder.directory(parents)
            if entry.mode == MODE_LINK:
                os.symlink(_link_target(reader, entry), name, dir_fd=where.fd)
                continue
            mode = 0o755 if entry.mode == MODE_EXEC else 0o644
            mode &= 0o555 if read_only else 0o777
            job = _file_job(reader, entry.blob, mode, links, at / entry.path)
            builder.run(where, job, threaded=True)
        for name, data in extra:
            where = builder.directory(())
            if lstat_at(where.fd, name) is not None:
                raise UnsafePathError(
                    f"version {version.id} holds {name!r} at its top, a name reserved "
                    "for gitversions metadata"
                )
            mode = 0o444 if read_only else 0o644
            builder.run(where, _data_job(data, mode, at / name), threaded=False)
        builder.finish()
    finally:
        builder.close()


def _file_job(
    reader: VersionReader,
    blob: str,
    mode: int,
    links: dict[tuple[str, int], Path],
    path: Path,
) -> Callable[[int], None]:
    """Write (or hardlink) one file into its directory: ``path`` names it."""

    def job(dir_fd: int) -> None:
        step("write", path.name)
        source = links.get((blob, mode))
        if source is not None and _link_file(source, dir_fd, path.name, mode):
            return
        _write_file(dir_fd, path.name, reader.iter_blob(blob), mode, path)

    return job


def _data_job(data: bytes, mode: int, path: Path) -> Callable[[int], None]:
    return lambda dir_fd: _write_file(dir_fd, path.name, (data,), mode, path)


def _link_file(source: Path, dir_fd: int, name: str, mode: int) -> bool:
    """Hardlink an identical read-only file of another version; False to copy.

    Versions share the inode, which is safe while it stays read-only: a file
    made writable (chmod) is not linked again, and verify compares every
    version's content with the history, so an edit through any link shows.
    """
    try:
        st = os.lstat(source)
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != mode:
            return False
        os.link(source, name, dst_dir_fd=dir_fd, follow_symlinks=False)
    except OSError:  # EXDEV, EPERM, EMLINK, a filesystem without links
        return False
    return True


def _write_file(
    dir_fd: int, name: str, chunks: Iterable[bytes], mode: int, path: Path
) -> None:
    """Create ``name`` in ``dir_fd`` with ``chunks``; errors name ``path``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    try:
        fd = os.open(name, flags | getattr(os, "O_NOFOLLOW", 0), 0o600, dir_fd=dir_fd)
    except FileExistsError:
        raise UnsafePathError(
            f"refusing to overwrite {name!r}: duplicate entry"
        ) from None
    try:
        for chunk in chunks:
            write_all(fd, chunk, path)
        os.fchmod(fd, mode)
        sync(fd, path)
    finally:
        os.close(fd)


def _chunks_reader(chunks: Iterator[bytes]) -> IO[bytes]:
    # Returned open to the caller, who closes it with a with-block.
    spool = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115
    with naming(tempfile.gettempdir()):  # a big file spills there
        for chunk in chunks:
            spool.write(chunk)
    spool.seek(0)
    return spool


def _stream_archive(
    reader: VersionReader, version: Version, fmt: ArchiveFormat, raw: IO[bytes]
) -> None:
    """Write the archive bytes of ``version`` to ``raw`` (see write_archive)."""
    top = str(version.id)
    meta = render_for(reader, version).encode("utf-8")
    entries = list(reader.iter_tree(version.tree))
    if any(entry.path == VERSION_FILENAME for entry in entries):
        raise UnsafePathError(
            f"version {version.id} holds {VERSION_FILENAME!r} at its top, a name "
            "reserved for gitversions metadata"
        )
    if fmt == "zip":
        _write_zip(reader, version, raw, top, entries, meta)
    else:
        _write_tar(reader, version, raw, top, entries, meta, fmt)


def write_archive(
    reader: VersionReader,
    version: Version,
    fmt: ArchiveFormat,
    target: Path,
    *,
    mode: int | None = None,
) -> None:
    """Write one version as a deterministic ``.tar.gz``, ``.tar.bz2`` or ``.zip``.

    The archive holds ``<id>/`` with the content and ``.version.toml``; times are
    the commit time and owners are zero, so the bytes depend on the version only.
    It is written to a hidden temporary file beside ``target`` (a name
    :meth:`Materializer.clean_leftovers` removes), fsynced, and renamed.

    Args:
        reader: Where the version is read from.
        version: The version.
        fmt: The archive format.
        target: The archive's path.
        mode: Permission bits to give the file before the rename (default:
            as created, 0644 less the umask).
    """
    tmp = target.with_name(
        f".{target.name}{TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}"
    )
    try:
        with naming(target), tmp.open("xb") as raw:
            _stream_archive(reader, version, fmt, raw)
            raw.flush()
            if mode is not None:
                os.fchmod(raw.fileno(), mode)
            os.fsync(raw.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


class _DigestSink(io.RawIOBase):
    """A write-only stream that keeps only the SHA-256 and size of its bytes."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:  # tarfile asks where it is
        return self.size

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.digest.update(data)
        size = len(memoryview(data).cast("B"))
        self.size += size
        return size


def tar_digest(reader: VersionReader, version: Version) -> tuple[str, int]:
    """The SHA-256 and size of the *uncompressed* tar inside a stored archive.

    Compressed bytes depend on the compressor's build (zlib-ng and zlib
    differ at the same level), the tar stream inside does not: comparing it
    says whether an archive holds exactly the version, on any machine.
    """
    top = str(version.id)
    meta = render_for(reader, version).encode("utf-8")
    entries = list(reader.iter_tree(version.tree))
    sink = _DigestSink()
    _write_tar(reader, version, sink, top, entries, meta, "tar")  # type: ignore[arg-type]
    return sink.digest.hexdigest(), sink.size


_TRAILING = "bytes after the end of the compressed stream"


def _inflate(f: IO[bytes], fmt: StoredFormat, step: int) -> Iterator[bytes]:
    """Decompress one gzip or bzip2 stream, at most ``step`` bytes at a time.

    ``gzip.open`` and ``bz2.open`` skip what follows a stream (padding,
    junk); here that is an error, as is a stream that ends early.

    Raises:
        EOFError: If the stream ends early.
        ValueError: If bytes follow it.
        zlib.error: If gzip data is corrupt (bz2 raises OSError).
    """
    if fmt == "tar.gz":
        gz = zlib.decompressobj(31)
        while data := f.read(step):
            if gz.eof:
                raise ValueError(_TRAILING)
            while data:
                yield gz.decompress(data, step)
                data = gz.unconsumed_tail
            if gz.unused_data:
                raise ValueError(_TRAILING)
        yield gz.flush()
        ended = gz.eof
    else:
        bz = bz2.BZ2Decompressor()
        while data := f.read(step):
            if bz.eof:
                raise ValueError(_TRAILING)
            yield bz.decompress(data, step)
            while not bz.eof and not bz.needs_input:
                yield bz.decompress(b"", step)
            if bz.unused_data:
                raise ValueError(_TRAILING)
        ended = bz.eof
    if not ended:
        raise EOFError("compressed stream ends early")


def _file_digest(path: Path, fmt: StoredFormat | None = None) -> tuple[str, int]:
    """SHA-256 and size of a file, or of its decompressed content given ``fmt``.

    Output is produced 1 MiB at a time, so a decompression bomb costs no
    memory. Raises what :func:`_inflate` raises, and ``OSError``.
    """
    digest = hashlib.sha256()
    size = 0
    step = 1 << 20
    with path.open("rb") as f:
        chunks = (
            iter(lambda: f.read(step), b"") if fmt is None else _inflate(f, fmt, step)
        )
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _write_tar(
    reader: VersionReader,
    version: Version,
    raw: IO[bytes],
    top: str,
    entries: list[TreeEntry],
    meta: bytes,
    fmt: StoredFormat | Literal["tar"] = "tar.gz",
) -> None:
    compressed: gzip.GzipFile | bz2.BZ2File | contextlib.nullcontext[IO[bytes]]
    if fmt == "tar":
        # Uncompressed: what verify compares (see Materializer.check_archive).
        compressed = contextlib.nullcontext(raw)
    elif fmt == "tar.gz":
        # No file name and the commit time in the header: same bytes anywhere.
        # Level 6, gzip's own default: level 9 (Python's) took 1.6x as long
        # for 0.6 % smaller files on the bench artifact. verify compares the
        # tar inside, so the level is free to change.
        compressed = gzip.GzipFile(
            fileobj=raw, mode="wb", mtime=version.time, filename="", compresslevel=6
        )
    else:
        # bzip2 has no header time or name; level 9 is the format's default.
        compressed = bz2.BZ2File(raw, "wb", compresslevel=9)
    with (
        compressed as stream,
        tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):

        def info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
            item = tarfile.TarInfo(name)
            item.type, item.mode, item.size = kind, mode, size
            item.mtime, item.uid, item.gid, item.uname, item.gname = (
                version.time,
                0,
                0,
                "",
                "",
            )
            return item

        dirs: set[str] = set()

        def add_dirs(path: str) -> None:
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                name = "/".join(parts[:i])
                if name not in dirs:
                    dirs.add(name)
                    tar.addfile(info(name, tarfile.DIRTYPE, 0o755))

        add_dirs(f"{top}/x")
        for entry in entries:
            name = f"{top}/{entry.path}"
            add_dirs(name)
            if entry.mode == MODE_LINK:
                item = info(name, tarfile.SYMTYPE, 0o777)
                item.linkname = os.fsdecode(_link_target(reader, entry))
                tar.addfile(item)
                continue
            with _chunks_reader(reader.iter_blob(entry.blob)) as body:
                size = body.seek(0, io.SEEK_END)
                body.seek(0)
                mode = 0o755 if entry.mode == MODE_EXEC else 0o644
                tar.addfile(info(name, tarfile.REGTYPE, mode, size), body)
        tar.addfile(
            info(f"{top}/{VERSION_FILENAME}", tarfile.REGTYPE, 0o644, len(meta)),
            io.BytesIO(meta),
        )


def _write_zip(
    reader: VersionReader,
    version: Version,
    raw: IO[bytes],
    top: str,
    entries: list[TreeEntry],
    meta: bytes,
) -> None:
    import time

    stamp = max(time.gmtime(version.time)[:6], (1980, 1, 1, 0, 0, 0))

    def info(name: str, mode: int) -> zipfile.ZipInfo:
        item = zipfile.ZipInfo(name, date_time=stamp)
        item.external_attr = mode << 16
        item.create_system = 3  # Unix, so the mode is honoured on extraction
        item.compress_type = zipfile.ZIP_DEFLATED
        return item

    with zipfile.ZipFile(raw, "w") as zf:
        for entry in entries:
            name = f"{top}/{entry.path}"
            if entry.mode == MODE_LINK:
                zf.writestr(
                    info(name, stat.S_IFLNK | 0o777), _link_target(reader, entry)
                )
                continue
            mode = stat.S_IFREG | (0o755 if entry.mode == MODE_EXEC else 0o644)
            with zf.open(info(name, mode), "w", force_zip64=True) as out:
                for chunk in reader.iter_blob(entry.blob):
                    out.write(chunk)
        zf.writestr(info(f"{top}/{VERSION_FILENAME}", stat.S_IFREG | 0o644), meta)


class Materializer:
    """Exports versions of one history into a ``versions/``-style directory."""

    def __init__(
        self,
        reader: VersionReader,
        target: Path,
        latest_mode: Literal["auto", "symlink", "copy"] = "auto",
        hardlink: bool = False,
        compression: Literal["none", "gzip", "bzip2"] = "none",
    ) -> None:
        self.reader = reader
        self.target = target
        self.latest_mode = latest_mode
        self.hardlink = hardlink
        # None: one directory per version; else one archive of this format.
        self.form: StoredFormat | None = COMPRESSION_FORMAT.get(compression)
        self._last_written: Version | None = None

    def entry_name(self, version: Version) -> str:
        """The name of a version's entry: ``<id>``, or ``<id>.tar.gz`` and so on."""
        return str(version.id) + (
            "" if self.form is None else ARCHIVE_SUFFIX[self.form]
        )

    @property
    def latest_path(self) -> Path:
        """``latest``, or ``latest.tar.gz`` / ``latest.tar.bz2`` for archives."""
        return self.target / latest_name(self.form)

    def _link_sources(self, version: Version) -> dict[tuple[str, int], Path]:
        """Files of an earlier intact version directory, to hardlink from."""
        candidates = [self._last_written, self.reader.first_parent(version)]
        for earlier in candidates:
            if earlier is None or earlier.commit == version.commit:
                continue
            directory = self.target / str(earlier.id)
            if directory.is_symlink() or not self.is_intact(earlier):
                continue
            return {
                (e.blob, 0o555 if e.mode == MODE_EXEC else 0o444): directory / e.path
                for e in self.reader.iter_tree(earlier.tree)
                if e.mode != MODE_LINK
            }
        return {}

    def _tmp(self, label: str) -> Path:
        return self.target / f".{label}{self._tmp_mark()}"

    def clean_leftovers(self) -> list[str]:
        """Remove temporaries a killed export left behind (call under the lock)."""
        removed = []
        if self.target.is_dir():
            for path in self.target.iterdir():
                if path.name.startswith(".") and TMP_MARK in path.name:
                    remove_tree(path)
                    removed.append(path.name)
        return removed

    def is_intact(self, version: Version, expected_meta: str | None = None) -> bool:
        """Tell whether ``<target>/<id>`` exists with the right ``.version.toml``.

        For the archive form: whether ``<id>.tar.gz`` (or ``.tar.bz2``) is a
        regular file. Archives appear complete by rename, so that is cheap and
        enough for incremental export; :meth:`check_archive` compares bytes.
        """
        if self.form is not None:
            return _is_file(self.target / self.entry_name(version))
        meta = self.target / str(version.id) / VERSION_FILENAME
        try:
            if meta.is_symlink():
                return False
            text = meta.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        return text == (expected_meta or render_for(self.reader, version))

    def export_version(self, version: Version, *, repair: bool = False) -> bool:
        """Write ``<target>/<id>`` unless an intact copy is there; True if written.

        Args:
            version: The version.
            repair: Compare every file of an existing copy with the history
                (not only its ``.version.toml``) and rewrite it if it differs.
        """
        if self.form is not None:
            path = self.target / self.entry_name(version)
            if self.is_intact(version) and not (
                repair and self.check_archive(version, path, self.form)
            ):
                return False
            self._write_stored_archive(version, self.form)
            self._last_written = version
            return True
        meta = render_for(self.reader, version)
        if self.is_intact(version, meta) and not (
            repair and self.check_dir(version, self.target / str(version.id))
        ):
            return False
        # Never link while repairing: the earlier copy may be damaged too.
        links = self._link_sources(version) if self.hardlink and not repair else {}
        self._write_dir(version, meta, links)
        self._last_written = version
        return True

    def _write_stored_archive(self, version: Version, fmt: StoredFormat) -> None:
        self.target.mkdir(parents=True, exist_ok=True)
        path = self.target / (str(version.id) + ARCHIVE_SUFFIX[fmt])
        write_archive(self.reader, version, fmt, path, mode=0o444)
        fsync_dir(self.target)

    def _write_dir(
        self, version: Version, meta: str, links: dict[tuple[str, int], Path]
    ) -> None:
        self._build_dir(
            version, str(version.id), meta, links, f".{version.id}{self._tmp_mark()}"
        )

    def _tmp_mark(self) -> str:
        return f"{TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}"

    def _build_dir(
        self,
        version: Version,
        name: str,
        meta: str,
        links: dict[tuple[str, int], Path],
        tmp: str,
    ) -> None:
        """Write a version and its ``.version.toml`` at ``tmp``, then at ``name``."""
        self.target.mkdir(parents=True, exist_ok=True)
        with opened_dir(self.target, follow=True) as parent_fd:
            os.mkdir(tmp, 0o755, dir_fd=parent_fd)
            new_st = os.lstat(tmp, dir_fd=parent_fd)
            try:
                with opened_dir(tmp, dir_fd=parent_fd) as new_fd:
                    if not same_file(os.fstat(new_fd), new_st):
                        raise UnsafePathError(f"{tmp} was replaced while being made")
                    write_content(
                        self.reader,
                        version,
                        new_fd,
                        read_only=True,
                        at=self.target / name,
                        extra=[(VERSION_FILENAME, meta.encode("utf-8"))],
                        link_from=links,
                    )
                    swap_in(parent_fd, tmp, new_st, name)
            except BaseException:
                with contextlib.suppress(OSError, UnsafePathError):
                    remove_at(parent_fd, tmp, expect=new_st)
                raise
            os.fsync(parent_fd)

    def repair(self, versions: Iterable[Version]) -> list[str]:
        """Rewrite every damaged materialized version, in the form it is in.

        Directories are compared file by file, archives (either compressed
        form) byte for byte with what the history produces; versions not
        materialized are left alone.

        Args:
            versions: The versions to look at.

        Returns:
            The ``versions/`` entries rewritten.
        """
        fixed: list[str] = []
        for version in versions:
            directory = self.target / str(version.id)
            if (
                directory.is_dir()
                and not directory.is_symlink()
                and self.check_dir(version, directory)
            ):
                self._write_dir(version, render_for(self.reader, version), {})
                fixed.append(directory.name)
            for fmt in STORED_FORMATS:
                path = self.target / (str(version.id) + ARCHIVE_SUFFIX[fmt])
                if (path.is_symlink() or path.is_file()) and self.check_archive(
                    version, path, fmt
                ):
                    self._write_stored_archive(version, fmt)
                    fixed.append(path.name)
        return fixed

    def check_archive(
        self, version: Version, path: Path, fmt: StoredFormat
    ) -> list[str]:
        """Compare an archive with the one the history produces; return problems.

        Args:
            version: The version the archive should hold.
            path: The archive (``<id>.tar.gz``, or a ``latest`` copy).
            fmt: Its format.

        Returns:
            One problem if the file is not a regular file, cannot be read, or
            differs in any byte (truncated, corrupt, edited); else none.
        """
        label = path.name
        if not _is_file(path):
            return [f"{label}: not a regular file"]
        try:
            # Decompressed, so archives written with another zlib build (the
            # compressed bytes differ) still verify; gzip and bzip2 check
            # their CRCs while decompressing.
            have = _file_digest(path, fmt)
        except EOFError:
            return [f"{label}: archive differs from the history: truncated"]
        except OSError as exc:
            if exc.errno is not None:
                return [f"{label}: cannot be read ({exc.strerror})"]
            return [f"{label}: archive differs from the history: corrupt ({exc})"]
        except (ValueError, zlib.error) as exc:
            return [f"{label}: archive differs from the history: corrupt ({exc})"]
        try:
            want = tar_digest(self.reader, version)
        except (CorruptionError, UnsafePathError) as exc:
            return [f"{label}: {exc}"]
        if have == want:
            return []
        if have[1] < want[1]:
            how = f"truncated ({have[1]} of {want[1]} bytes once decompressed)"
        else:
            how = f"corrupt ({have[1]} bytes once decompressed, expected {want[1]})"
        return [f"{label}: archive differs from the history: {how}"]

    def export(
        self,
        versions: Iterable[Version],
        progress: Callable[[Version], None] | None = None,
        *,
        repair: bool = False,
    ) -> ExportResult:
        """Export ``versions`` and point ``latest`` at the newest version.

        Args:
            versions: The versions to write.
            progress: Called after each version.
            repair: Check existing copies file by file and rewrite damaged ones.

        Returns:
            What was written and what was already intact.
        """
        result = ExportResult()
        for version in versions:
            written = self.export_version(version, repair=repair)
            (result.written if written else result.intact).append(str(version.id))
            if progress is not None:
                progress(version)
        newest = self.reader.latest()
        if newest is not None:
            present = (
                self.is_intact(newest)
                if self.form is not None
                else (self.target / str(newest.id)).is_dir()
            )
            if not present:
                self.export_version(newest)
                result.written.append(str(newest.id))
            self.update_latest(newest, repair=repair)
            result.latest = str(newest.id)
        return result

    def drop_other_latest(self) -> list[str]:
        """Remove ``latest`` pointers of the forms not configured; return them.

        After ``version_compression`` changes, the old form's pointer would
        stop moving; a stale ``latest`` is worse than none. The versions of
        the old form stay (they are still correct, and verified).
        """
        removed = []
        for name in LATEST_NAMES:
            path = self.target / name
            if name == self.latest_path.name or not (
                path.exists() or path.is_symlink()
            ):
                continue
            if path.is_dir() and not path.is_symlink():
                doomed = self._tmp(name)
                os.rename(path, doomed)
                fsync_dir(self.target)
                remove_tree(doomed)
            else:
                path.unlink()
                fsync_dir(self.target)
            removed.append(name)
        return removed

    def latest_is(self, version: Version) -> bool:
        """Tell whether ``latest`` already names ``version``."""
        path = self.latest_path
        if path.is_symlink():
            wanted = self.entry_name(version)
            return os.readlink(path) == wanted and self.latest_mode != "copy"
        if self.form is not None:
            source = self.target / self.entry_name(version)
            return (
                self.latest_mode != "symlink"
                and _is_file(path)
                and _is_file(source)
                and filecmp.cmp(path, source, shallow=False)
            )
        if path.is_dir() and self.latest_mode != "symlink":
            try:
                text = (path / VERSION_FILENAME).read_text("utf-8")
            except (OSError, UnicodeDecodeError):
                return False
            return text == render_for(self.reader, version)
        return False

    def update_latest(self, version: Version, *, repair: bool = False) -> None:
        """Point ``latest`` at ``version``, atomically."""
        path = self.latest_path
        if self.form is not None:
            damaged = (
                repair
                and _is_file(path)
                and bool(self.check_archive(version, path, self.form))
            )
        else:
            damaged = (
                repair
                and path.is_dir()
                and not path.is_symlink()
                and bool(self.check_dir(version, path))
            )
        if self.latest_is(version) and not damaged:
            return
        if self.latest_mode in ("auto", "symlink"):
            tmp = self._tmp(LATEST)
            try:
                os.symlink(self.entry_name(version), tmp)
            except OSError:
                if self.latest_mode == "symlink":
                    raise
            else:
                self._put_latest(tmp, path)
                return
        self._copy_latest(version, path)

    def _put_latest(self, tmp: Path, path: Path) -> None:
        """Replace ``latest`` (a link, file or directory) with ``tmp`` atomically."""
        with opened_dir(self.target, follow=True) as parent_fd:
            try:
                new_st = os.lstat(tmp.name, dir_fd=parent_fd)
                swap_in(parent_fd, tmp.name, new_st, path.name)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp.name, dir_fd=parent_fd)
                raise
            os.fsync(parent_fd)

    def _copy_latest(self, version: Version, path: Path) -> None:
        if self.form is not None:
            source = self.target / self.entry_name(version)
            if not _is_file(source):
                self._write_stored_archive(version, self.form)
            tmp = self._tmp(path.name)
            try:
                with naming(path), source.open("rb") as src, tmp.open("xb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
                    dst.flush()
                    os.fchmod(dst.fileno(), 0o444)
                    os.fsync(dst.fileno())
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
                raise
            self._put_latest(tmp, path)
            return
        meta = render_for(self.reader, version)
        self._build_dir(version, path.name, meta, {}, f".{LATEST}{self._tmp_mark()}")

    def check_dir(self, version: Version, directory: Path) -> list[str]:
        """Compare a materialized directory with its version; return problems."""
        problems: list[str] = []
        expected: dict[str, TreeEntry] = {
            e.path: e for e in self.reader.iter_tree(version.tree)
        }
        label = f"{directory.name}"
        try:
            meta = (directory / VERSION_FILENAME).read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            problems.append(f"{label}: {VERSION_FILENAME} is missing or unreadable")
        else:
            if meta != render_for(self.reader, version):
                problems.append(f"{label}: {VERSION_FILENAME} differs from the history")
        found: set[str] = set()
        for root, dirs, files in os.walk(directory):
            for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
                path = Path(root) / name
                rel = path.relative_to(directory).as_posix()
                if rel == VERSION_FILENAME:
                    continue
                found.add(rel)
                entry = expected.get(rel)
                if entry is None:
                    problems.append(f"{label}: unexpected file {rel}")
                    continue
                problems.extend(self._check_file(label, path, entry))
        for rel in sorted(set(expected) - found):
            problems.append(f"{label}: missing file {rel}")
        return problems

    def _check_file(self, label: str, path: Path, entry: TreeEntry) -> list[str]:
        st = path.lstat()
        if entry.mode == MODE_LINK:
            if not stat.S_ISLNK(st.st_mode):
                return [f"{label}: {entry.path} should be a symlink"]
            if os.fsencode(os.readlink(path)) != _link_target(self.reader, entry):
                return [f"{label}: symlink {entry.path} points elsewhere"]
            return []
        if not stat.S_ISREG(st.st_mode):
            return [f"{label}: {entry.path} should be a regular file"]
        if bool(st.st_mode & stat.S_IXUSR) != (entry.mode == MODE_EXEC):
            return [f"{label}: {entry.path} has the wrong executable bit"]
        try:
            with path.open("rb") as f:
                for chunk in self.reader.iter_blob(entry.blob):
                    if f.read(len(chunk)) != chunk:
                        return [f"{label}: {entry.path} content differs"]
                if f.read(1):
                    return [f"{label}: {entry.path} content differs"]
        except CorruptionError as exc:
            return [f"{label}: {entry.path}: {exc}"]
        except OSError as exc:
            return [f"{label}: {entry.path} cannot be read ({exc.strerror})"]
        return []


def archive_version_id(path: Path) -> str | None:
    """The top directory of a stored archive (its version id), or None.

    Used to tell which version a ``latest.tar.gz`` copy holds; None when the
    file is not a readable tar archive.
    """
    try:
        with tarfile.open(path, "r:*") as tar:
            first = tar.next()
    except (OSError, EOFError, ValueError, tarfile.TarError):
        return None
    if first is None:
        return None
    return first.name.split("/", 1)[0]


def _is_file(path: Path) -> bool:
    """Tell whether ``path`` is a regular file (a symlink is not)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


# Inside a restore's temporary until it is complete: a temporary left by a
# killed restore is deleted only while it holds this (or nothing), since once
# complete it may be exchanged with DEST and then hold DEST's old content.
INCOMPLETE = ".gitversions-incomplete"


def clean_stale_siblings(
    parent_fd: int, dest: Path, exclude: Sequence[str] | None = None
) -> list[str]:
    """Finish or remove what a killed restore of ``dest`` left beside it.

    ``parent_fd`` is ``dest``'s parent directory, opened.

    Only ``.<name>.tmp-<pid>-<rand>`` entries whose process is gone are
    touched. A file, an empty directory or one still marked
    :data:`INCOMPLETE` (a new copy being written) is removed. Any other
    directory was complete: it holds either the new copy, killed just before
    its exchange, or DEST's old copy, killed just after it. With ``exclude``
    given (a directory restore) and DEST a directory, what the old copy holds
    that no snapshot records (``.git``, paths ``exclude`` matches) and DEST
    lacks is carried into DEST, as the killed restore was doing, and the copy
    is removed; otherwise it is left.
    """
    done: list[str] = []
    name = dest.name
    prefix = f".{name}{TMP_MARK}"
    with os.scandir(parent_fd) as entries:
        names = [e.name for e in entries if e.name.startswith(prefix)]
    for each in names:
        pid_text = each[len(prefix) :].split("-", 1)[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        st = lstat_at(parent_fd, each)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            with opened_dir(each, dir_fd=parent_fd) as fd, os.scandir(fd) as inside:
                held = {entry.name for entry in inside}
            if held and INCOMPLETE not in held:
                into = lstat_at(parent_fd, name)
                if exclude is None or into is None or not stat.S_ISDIR(into.st_mode):
                    continue
                keep = excluded_paths(dest.parent / each, exclude)
                carry_over(parent_fd, each, st, name, into, keep)
        remove_at(parent_fd, each, expect=st)
        done.append(each)
    return done


def finish_killed_restore(dest: Path, exclude: Sequence[str]) -> list[str]:
    """:func:`clean_stale_siblings` for a directory restore of ``dest``."""
    with opened_dir(dest.parent, follow=True) as parent_fd:
        return clean_stale_siblings(parent_fd, dest, exclude)


def restore_content(
    reader: VersionReader,
    version: Version,
    kind: str,
    dest: Path,
    keep: Sequence[str] = (".git",),
    *,
    exclude: Sequence[str] = (),
    checked: bool = False,
    expect: os.stat_result | None = None,
) -> Path:
    """Write a version's content at ``dest``, replacing it only once complete.

    Works relative to the open parent directory of ``dest`` (see
    :mod:`._dirfd`): a symlink swapped in for ``dest`` or the temporary while
    this runs is refused, never written through.

    Args:
        reader: Where the version is read from.
        version: The version to restore.
        kind: ``"file"`` for a single-file artifact, else ``"dir"``.
        dest: For a directory artifact, the directory to replace; for a single
            file, the file to replace or a directory to write it into.
        keep: Paths of a directory ``dest`` (relative) carried over into the
            new copy: its ``.git`` and whatever snapshots exclude.
        exclude: The store's exclude patterns, to finish what a killed
            restore left (see :func:`clean_stale_siblings`).
        checked: The caller checked ``dest`` (found ``expect`` there):
            replace only that, and refuse if anything else is there now.
        expect: ``lstat`` of ``dest`` when it was checked (None: nothing).

    Returns:
        The path written.

    Raises:
        DestinationError: If ``dest`` is of the wrong type.
        UnsafePathError: If a name changed under it.
    """
    entries = list(reader.iter_tree(version.tree))
    if kind == "file":
        if len(entries) != 1 or entries[0].mode == MODE_LINK or "/" in entries[0].path:
            raise CorruptionError(f"version {version.id} is not a single file")
        (entry,) = entries
        if dest.is_dir() and not dest.is_symlink():
            dest = dest / entry.path
        if dest.is_dir() and not dest.is_symlink():
            raise DestinationError(f"{dest} is a directory, not a file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with opened_dir(dest.parent, follow=True) as parent_fd:
            clean_stale_siblings(parent_fd, dest)
        mode = 0o755 if entry.mode == MODE_EXEC else 0o644
        atomic_write(dest, reader.iter_blob(entry.blob), mode)
        return dest
    if any(entry.path == VERSION_FILENAME for entry in entries):
        raise UnsafePathError(
            f"version {version.id} holds {VERSION_FILENAME!r} at its top, a name "
            "reserved for gitversions metadata; gitversions never records one"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with opened_dir(dest.parent, follow=True) as parent_fd:
        clean_stale_siblings(parent_fd, dest, exclude)
        old = lstat_at(parent_fd, dest.name)
        if old is not None and not stat.S_ISDIR(old.st_mode):
            raise DestinationError(f"{dest} exists and is not a directory")
        if checked and not (
            old is expect is None
            or (old is not None and expect is not None and same_file(old, expect))
        ):
            raise UnsafePathError(
                f"{dest} changed after gitversions checked it; it was left as it is"
            )
        _restore_dir(reader, version, parent_fd, dest, old, keep)
    return dest


def _restore_dir(
    reader: VersionReader,
    version: Version,
    parent_fd: int,
    at: Path,
    old: os.stat_result | None,
    keep: Sequence[str],
) -> None:
    name = at.name
    tmp = f".{name}{TMP_MARK}{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(tmp, 0o755, dir_fd=parent_fd)
    new_st = os.lstat(tmp, dir_fd=parent_fd)
    try:
        with opened_dir(tmp, dir_fd=parent_fd) as new_fd:
            if not same_file(os.fstat(new_fd), new_st):
                raise UnsafePathError(f"{tmp} was replaced while being made")
            _write_file(new_fd, INCOMPLETE, (), 0o600, at / INCOMPLETE)
            step("made", tmp)
            write_content(reader, version, new_fd, read_only=False, at=at)
            os.unlink(INCOMPLETE, dir_fd=new_fd)
            os.fsync(new_fd)
            # Still open, so no other directory can reuse its inode meanwhile.
            swap_in(parent_fd, tmp, new_st, name, expect=old, keep=keep)
    except BaseException:
        with contextlib.suppress(OSError, UnsafePathError):
            remove_at(parent_fd, tmp, expect=new_st)
        raise
    os.fsync(parent_fd)

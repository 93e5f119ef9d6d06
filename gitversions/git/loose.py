"""Streaming reads and writes of git loose objects.

dulwich reads and writes whole objects in memory; blobs of an artifact can be
large, so blobs are written and read here in chunks, in the exact format git
uses (``zlib(b"blob <size>\\0" + data)`` at ``objects/xx/yyyy...``).

Writes are atomic and durable: a temporary file in the object's directory is
fsynced, then renamed into place, then the directory is fsynced.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

from gitversions.errors import CorruptionError
from gitversions.fs.atomic import fsync_dir, sync, write_all

__all__ = [
    "LOOSE_COMPRESSION",
    "QUARANTINE_PREFIX",
    "TMP_PREFIX",
    "blob_header_size",
    "iter_loose_blob",
    "loose_path",
    "sync",
    "write_all",
    "write_loose",
]

# git's default core.looseCompression: fastest, objects are repacked by gc anyway.
LOOSE_COMPRESSION = 1
TMP_PREFIX = "tmp_obj_"
#: A fetch's temporary object directory in ``objects/`` (git names its own so).
QUARANTINE_PREFIX = "tmp_objdir-incoming-"
_CHUNK = 1 << 20


def loose_path(objects_dir: Path, hex_id: str) -> Path:
    """Return where the loose object ``hex_id`` lives."""
    return objects_dir / hex_id[:2] / hex_id[2:]


def write_loose(
    objects_dir: Path,
    algorithm: str,
    kind: bytes,
    size: int,
    chunks: Iterator[bytes],
    expected: bytes | None = None,
    synced_dirs: set[Path] | None = None,
) -> bytes:
    """Write one loose object from a stream of chunks; return its raw id.

    Args:
        objects_dir: The repository's ``objects`` directory.
        algorithm: The repository's hash, ``"sha1"`` or ``"sha256"``.
        kind: The object type, e.g. ``b"blob"``.
        size: The body's length, which the stream must match.
        chunks: The body, in pieces.
        expected: If given, the id the object must have; a different result
            (the source changed while being read) raises ``ValueError`` and
            nothing is written.
        synced_dirs: If given, the object's directory is added to this set
            instead of being fsynced now; the caller fsyncs each directory
            once (with :func:`fsync_dir`) before anything refers to the object.

    Returns:
        The raw object id.
    """
    h = hashlib.new(algorithm)
    header = b"%s %d\0" % (kind, size)
    h.update(header)
    compressor = zlib.compressobj(LOOSE_COMPRESSION)
    fd_path = objects_dir / f"{TMP_PREFIX}{os.getpid()}_{os.urandom(6).hex()}"
    fd = os.open(fd_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    try:
        try:
            written = 0
            write_all(fd, compressor.compress(header), fd_path)
            for chunk in chunks:
                written += len(chunk)
                h.update(chunk)
                out = compressor.compress(chunk)
                if out:
                    write_all(fd, out, fd_path)
            write_all(fd, compressor.flush(), fd_path)
            if written != size:
                raise ValueError("object size changed while writing")
            raw = h.digest()
            if expected is not None and raw != expected:
                raise ValueError("object content changed while writing")
            sync(fd, fd_path)
        finally:
            os.close(fd)
        final = loose_path(objects_dir, raw.hex())
        try:
            final.parent.mkdir()
        except FileExistsError:
            created = False
        else:
            created = True  # its entry in objects/ must be made durable too
        os.replace(fd_path, final)
        if synced_dirs is None:
            fsync_dir(final.parent)
            if created:
                fsync_dir(objects_dir)
        else:
            synced_dirs.add(final.parent)
            if created:
                synced_dirs.add(objects_dir)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            fd_path.unlink()
        raise
    return raw


def blob_header_size(path: Path, hex_id: str) -> int:
    """Read only the header of a loose blob and return the size it declares.

    Raises:
        CorruptionError: If the header is not that of a blob.
    """
    decompressor = zlib.decompressobj()
    try:
        with path.open("rb") as f:
            head = decompressor.decompress(f.read(256), 64)
    except zlib.error as exc:
        raise CorruptionError(f"object {hex_id}: damaged ({exc})") from exc
    kind, _, rest = head.partition(b" ")
    size_text, nul, _ = rest.partition(b"\0")
    if kind != b"blob" or not nul or not size_text.isdigit():
        raise CorruptionError(f"object {hex_id}: not a blob")
    return int(size_text)


def iter_loose_blob(
    path: Path,
    algorithm: str,
    hex_id: str,
    on_size: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """Yield a loose blob's body in chunks, checking its id at the end.

    Args:
        path: The loose object file.
        algorithm: The repository's hash.
        hex_id: The id the object must have.
        on_size: Called once with the body's size before the first chunk.

    Yields:
        Pieces of the body.

    Raises:
        CorruptionError: If the object is not a well-formed blob with that id.
    """
    h = hashlib.new(algorithm)
    decompressor = zlib.decompressobj()
    header = b""
    remaining = -1
    try:
        with path.open("rb") as f:
            while True:
                raw = f.read(_CHUNK)
                if not raw:
                    break
                data = decompressor.decompress(raw)
                if remaining < 0:
                    header += data
                    if b"\0" not in header:
                        if len(header) > 64:
                            raise CorruptionError(f"object {hex_id}: bad header")
                        continue
                    head, _, data = header.partition(b"\0")
                    kind, _, size_text = head.partition(b" ")
                    if kind != b"blob" or not size_text.isdigit():
                        raise CorruptionError(f"object {hex_id}: not a blob")
                    remaining = int(size_text)
                    h.update(head + b"\0")
                    if on_size is not None:
                        on_size(remaining)
                if data:
                    remaining -= len(data)
                    if remaining < 0:
                        raise CorruptionError(
                            f"object {hex_id}: longer than its header says"
                        )
                    h.update(data)
                    yield data
            tail = decompressor.flush()
            if tail:
                remaining -= len(tail)
                h.update(tail)
                yield tail
    except zlib.error as exc:
        raise CorruptionError(f"object {hex_id}: damaged ({exc})") from exc
    if remaining != 0 or not decompressor.eof or h.hexdigest() != hex_id:
        raise CorruptionError(
            f"object {hex_id}: damaged (content does not match its id)"
        )

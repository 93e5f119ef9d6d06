"""A stat cache for snapshots, like git's index: unchanged files are not read.

``history.git/gitversions/statcache`` maps each file of the last snapshotted
SRC to its ``lstat`` fields (size, mtime_ns, ctime_ns, inode, device, mode) and
its blob ids. The next snapshot of the same SRC reuses the ids of a file whose
fields all match, without opening it.

Racy timestamps: a file changed within the timestamp granularity of an earlier
look keeps the same mtime. So an entry is trusted only if its mtime and ctime
are older than the moment its scan began minus :data:`RACY_MARGIN_NS`; a file
written just before (or during) a snapshot is hashed again next time, as git
rehashes "racily clean" entries.

The cache is a hint: a missing, foreign or damaged file (its last line is a
SHA-256 of the rest) just means every file is read again, and the ids it gives
are only used when the objects they name exist (the caller checks).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from gitversions.fs.atomic import atomic_write
from gitversions.snapshot.hashing import FileNode, Source

__all__ = ["RACY_MARGIN_NS", "StatCache"]

MAGIC = "gitversions-statcache 1"
# Wider than any common filesystem's timestamp granularity (FAT: 2 s).
RACY_MARGIN_NS = 3_000_000_000


def _key(node: FileNode) -> str:
    # One string per file: comparing it is one operation, and loading the
    # cache parses no numbers.
    return (
        f"{node.size}:{node.mtime_ns}:{node.ctime_ns}:{node.ino}:{node.dev}:{node.mode}"
    )


class StatCache:
    """The stat cache of one artifact for one SRC.

    Args:
        path: The cache file.
        source: The source about to be hashed.
        algorithms: The digest names the ids are given in, in order.
    """

    def __init__(self, path: Path, source: Source, algorithms: tuple[str, ...]) -> None:
        self.path = path
        self.algorithms = algorithms
        self.src = os.path.realpath(source.path)
        self.scanned_at = source.scanned_at
        self._old: dict[str, tuple[str, str]] = {}
        self._limit = 0
        self.fresh: dict[str, tuple[str, tuple[bytes, ...]]] = {}
        self.hits: list[tuple[bytes, ...]] = []
        self.misses = 0
        self._load()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except OSError:
            return
        body, _, digest = data.rstrip(b"\n").rpartition(b"\n")
        if hashlib.sha256(body + b"\n").hexdigest().encode() != digest:
            return  # damaged or torn: ignore it all
        lines = body.decode("utf-8", "surrogateescape").split("\n")
        header = f"{MAGIC} {' '.join(self.algorithms)}"
        if len(lines) < 3 or lines[0] != header or lines[1] != self.src:
            return
        try:
            written_at = int(lines[2])
        except ValueError:
            return
        # Entries not clearly older than their scan may hide a same-tick edit.
        self._limit = written_at - RACY_MARGIN_NS
        old = self._old
        for line in lines[3:]:
            key, _, rest = line.partition(" ")
            ids, _, rel = rest.partition(" ")
            if not rel:
                self._old.clear()
                return
            old[rel] = (key, ids)

    def known(self, node: FileNode) -> tuple[bytes, ...] | None:
        """Return a file's ids if its stat matches a trusted entry, else None."""
        entry = self._old.get(node.rel)
        key = _key(node)
        if (
            entry is None
            or entry[0] != key
            or not 0 < node.mtime_ns < self._limit
            or not 0 < node.ctime_ns < self._limit
        ):
            self.misses += 1
            return None
        try:
            ids = tuple(map(bytes.fromhex, entry[1].split(":")))
        except ValueError:
            ids = ()
        if len(ids) != len(self.algorithms):
            self.misses += 1
            return None
        self.fresh[node.rel] = (key, ids)
        self.hits.append(ids)
        return ids

    def add(self, node: FileNode, ids: tuple[bytes, ...]) -> None:
        """Note the ids of a file that was read."""
        if node.mtime_ns and "\n" not in node.rel:
            self.fresh[node.rel] = (_key(node), ids)

    def save(self) -> None:
        """Write the cache atomically (call under the artifact's lock).

        Skipped when every file was a trusted hit: the file on disk already
        says the same. Errors are ignored (a read-only repository).
        """
        if self.misses == 0 and len(self.fresh) == len(self._old):
            return
        lines = [f"{MAGIC} {' '.join(self.algorithms)}", self.src, str(self.scanned_at)]
        for rel, (key, ids) in sorted(self.fresh.items()):
            lines.append(f"{key} {':'.join(i.hex() for i in ids)} {rel}")
        body = ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")
        digest = hashlib.sha256(body).hexdigest().encode()
        try:
            self.path.parent.mkdir(exist_ok=True)
            atomic_write(self.path, (body, digest, b"\n"))
        except OSError:
            pass

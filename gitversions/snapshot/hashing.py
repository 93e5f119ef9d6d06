"""The content hash: the git tree id of an artifact, computed by streaming.

The content hash of an artifact is exactly what ``git init --object-format=sha256
&& git add --all --force && git write-tree`` prints for the same directory:

- regular files are blobs with mode ``100644``, or ``100755`` when the owner may
  execute them; symlinks are blobs of their link text with mode ``120000`` and are
  never followed; directories are trees (``40000``); empty directories are absent;
- a tree lists ``<mode> <name>\\0<raw id>`` sorted by name bytes, a directory's name
  compared as if it ended with ``/`` (git's order);
- an object id is ``H(b"<type> <size>\\0" + body)``.

A single-file artifact is a tree holding that one file under its own name. Entries
named ``.git`` (any case) are always left out, and so is whatever matches the
store's ``exclude`` patterns. Files are read in chunks, never whole.

The same walk can produce ids in several object formats at once (the SHA-256
content hash and a SHA-1 storage id), so a file is read only once.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from gitversions.errors import SourceError
from gitversions.model.paths import MAX_DEPTH, check_component

__all__ = [
    "CHUNK_SIZE",
    "MODE_EXEC",
    "MODE_FILE",
    "MODE_LINK",
    "MODE_TREE",
    "DirNode",
    "FileNode",
    "LinkNode",
    "ObjectSink",
    "ReadChunk",
    "Source",
    "SourceChanged",
    "content_hash",
    "encode_tree",
    "excluded_paths",
    "hash_blob_file",
    "hash_object",
    "hash_source",
    "read_consistently",
    "scan_source",
]

CHUNK_SIZE = 1 << 20
MODE_FILE = 0o100644
MODE_EXEC = 0o100755
MODE_LINK = 0o120000
MODE_TREE = 0o040000

_READ_RETRIES = 3
# A file modified this recently may be mid-write (see read_consistently).
RACY_NS = 100_000_000
# ... and is accepted only once it has been still this long (a write stalled
# half-way looks exactly like a finished one to fstat).
QUIET_NS = 10_000_000
_RACY_ATTEMPTS = 12


@dataclass(frozen=True)
class FileNode:
    """A regular file of the source.

    Attributes:
        path: Its path on disk.
        rel: Its POSIX path inside the artifact, for messages.
        mode: ``MODE_FILE`` or ``MODE_EXEC``.
        size: Its size when scanned.
        mtime_ns: Its modification time when scanned (0: unknown).
        ctime_ns: Its status change time when scanned (0: unknown).
        ino: Its inode number when scanned (0: unknown).
        dev: Its device when scanned (0: unknown).
    """

    path: str
    rel: str
    mode: int
    size: int
    mtime_ns: int = 0
    ctime_ns: int = 0
    ino: int = 0
    dev: int = 0


@dataclass(frozen=True)
class LinkNode:
    """A symbolic link of the source: its text is content, never followed."""

    rel: str
    target: bytes


@dataclass
class DirNode:
    """A directory of the source with its non-excluded children by name bytes."""

    rel: str
    children: dict[bytes, FileNode | LinkNode | DirNode] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """What ``scan_source`` found at SRC.

    Attributes:
        path: SRC as given.
        kind: ``"dir"`` for a directory artifact, ``"file"`` for a single file.
        root: The tree to record; for a single file, a tree holding only that file.
        scanned_at: Wall-clock time (ns) just before the scan began; a file whose
            mtime or ctime is not clearly older may change unnoticed by a stat
            comparison (racy timestamps), so the stat cache rehashes it.
    """

    path: Path
    kind: Literal["dir", "file"]
    root: DirNode
    scanned_at: int = 0

    def file_count(self) -> int:
        """Count the files and links the source holds."""
        stack = [self.root]
        count = 0
        while stack:
            node = stack.pop()
            for child in node.children.values():
                if isinstance(child, DirNode):
                    stack.append(child)
                else:
                    count += 1
        return count


def _excluded(rel: str, name: str, patterns: Sequence[str]) -> bool:
    for pattern in patterns:
        target = rel if "/" in pattern else name
        if fnmatch.fnmatchcase(target, pattern.strip("/")):
            return True
    return False


def _left_out(raw: bytes, rel: str, name: str, patterns: Sequence[str]) -> bool:
    # git metadata is never content, in any case; then the store's patterns.
    return raw.lower() == b".git" or _excluded(rel, name, patterns)


def excluded_paths(top: Path, exclude: Sequence[str] = ()) -> list[str]:
    """List what a snapshot of directory ``top`` would leave out, top-most first.

    These are the ``.git`` entries (at any depth) and the paths matching
    ``exclude``; below an excluded directory nothing more is listed. Symlinks
    are never followed. Restore carries these paths over into the new copy, so
    content that no version can record is never lost.

    Args:
        top: A directory.
        exclude: The store's patterns, as in :func:`scan_source`.

    Returns:
        Paths relative to ``top``, with ``/`` separators.
    """
    found: list[str] = []
    stack: list[tuple[bytes, str]] = [(os.fsencode(top), "")]
    while stack:
        path, rel = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            continue  # unreadable: the content check before a restore names it
        for entry in entries:
            name = os.fsdecode(entry.name)
            child = f"{rel}/{name}" if rel else name
            if _left_out(entry.name, child, name, exclude):
                found.append(child)
            elif entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, child))
    return found


def _decode_name(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceError(
            f"cannot snapshot {where}/{raw.decode('utf-8', 'replace')}: "
            "file name is not valid UTF-8"
        ) from None


def _scan_dir(path: bytes, rel: str, exclude: Sequence[str], depth: int) -> DirNode:
    if depth >= MAX_DEPTH:  # its files would have more than MAX_DEPTH components
        raise SourceError(f"cannot snapshot {rel!r}: more than {MAX_DEPTH} levels deep")
    node = DirNode(rel)
    try:
        with os.scandir(path) as it:
            entries = list(it)
    except OSError as exc:
        raise SourceError(
            f"cannot read directory {os.fsdecode(path)!r}: {exc.strerror}"
        ) from exc
    for entry in entries:
        raw = entry.name
        if raw.lower() == b".git":  # before decoding: a .git is never content
            continue
        name = _decode_name(raw, rel or ".")
        child_rel = f"{rel}/{name}" if rel else name
        if _left_out(raw, child_rel, name, exclude):
            continue
        reason = check_component(raw)
        if reason:
            raise SourceError(f"cannot snapshot {child_rel!r}: {reason}")
        child = _scan_entry(entry.path, child_rel, exclude, depth)
        if child is not None:
            node.children[raw] = child
    return node


def _scan_entry(
    path: bytes, rel: str, exclude: Sequence[str], depth: int
) -> FileNode | LinkNode | DirNode | None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        raise SourceError(
            f"cannot snapshot {rel!r}: it vanished while being read"
        ) from None
    except OSError as exc:
        raise SourceError(f"cannot snapshot {rel!r}: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        try:
            return LinkNode(rel, os.readlink(path))
        except OSError as exc:
            raise SourceError(f"cannot read link {rel!r}: {exc.strerror}") from exc
    if stat.S_ISREG(st.st_mode):
        mode = MODE_EXEC if st.st_mode & stat.S_IXUSR else MODE_FILE
        return _file_node(os.fsdecode(path), rel, mode, st)
    if stat.S_ISDIR(st.st_mode):
        child = _scan_dir(path, rel, exclude, depth + 1)
        return child if child.children else None
    raise SourceError(
        f"cannot snapshot {rel!r}: {_kind_of(st.st_mode)} (only regular files, "
        "directories and symlinks can be versioned)"
    )


def _file_node(path: str, rel: str, mode: int, st: os.stat_result) -> FileNode:
    return FileNode(
        path,
        rel,
        mode,
        st.st_size,
        st.st_mtime_ns,
        st.st_ctime_ns,
        st.st_ino,
        st.st_dev,
    )


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a fifo"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "a special file"


def scan_source(src: Path | str, exclude: Sequence[str] = ()) -> Source:
    """Walk SRC and return the tree to record, without reading file contents.

    Args:
        src: A directory (skill) or a single file (command, agent).
        exclude: Glob patterns to leave out. A pattern without ``/`` is matched
            against each entry's name, one with ``/`` against its path inside SRC.

    Returns:
        The scanned source.

    Raises:
        SourceError: If SRC is missing or a symlink, or holds a special file, an
            unreadable directory, a name that cannot be exported safely, or a
            name that is not UTF-8.
    """
    src = Path(src)
    raw = os.fsencode(src)
    started = time.time_ns()
    try:
        st = os.lstat(raw)
    except FileNotFoundError:
        raise SourceError(f"SRC does not exist: {str(src)!r}") from None
    except OSError as exc:
        raise SourceError(f"cannot read SRC {str(src)!r}: {exc.strerror}") from exc
    if stat.S_ISLNK(st.st_mode):
        raise SourceError(
            f"SRC is a symbolic link: {str(src)!r} -> {os.readlink(src)!r}; "
            "pass the directory or file it points to"
        )
    if stat.S_ISDIR(st.st_mode):
        return Source(src, "dir", _scan_dir(raw, "", exclude, 0), started)
    if stat.S_ISREG(st.st_mode):
        name = os.fsencode(src.name)
        text = _decode_name(name, str(src.parent))
        reason = check_component(name)
        if reason:
            raise SourceError(f"cannot snapshot {text!r}: {reason}")
        mode = MODE_EXEC if st.st_mode & stat.S_IXUSR else MODE_FILE
        root = DirNode("", {name: _file_node(str(src), text, mode, st)})
        return Source(src, "file", root, started)
    raise SourceError(f"cannot snapshot {str(src)!r}: SRC is {_kind_of(st.st_mode)}")


def hash_object(algorithm: str, kind: bytes, body: bytes) -> bytes:
    """Return the raw git object id of ``body`` as an object of type ``kind``.

    Args:
        algorithm: ``"sha1"`` or ``"sha256"``.
        kind: ``b"blob"``, ``b"tree"`` or ``b"commit"``.
        body: The object's content.

    Returns:
        The raw (binary) digest.
    """
    h = hashlib.new(algorithm)
    h.update(b"%s %d\0" % (kind, len(body)))
    h.update(body)
    return h.digest()


def encode_tree(entries: Sequence[tuple[bytes, int, bytes]]) -> bytes:
    """Serialize tree entries ``(name, mode, raw id)`` in git's order.

    Args:
        entries: The entries, in any order.

    Returns:
        The body of the tree object.
    """

    def key(entry: tuple[bytes, int, bytes]) -> bytes:
        name, mode, _ = entry
        return name + b"/" if mode == MODE_TREE else name

    return b"".join(
        b"%o %s\0%s" % (mode, name, raw) for name, mode, raw in sorted(entries, key=key)
    )


class SourceChanged(Exception):
    """A file changed between its stat and the end of its read."""


ReadChunk = Callable[[], bytes]


def read_consistently(
    node: FileNode, consume: Callable[[int, ReadChunk], None]
) -> None:
    """Open ``node`` without following links and feed ``consume`` its chunks.

    ``consume(size, read_chunk)`` is called with the size from ``fstat`` and a
    function returning the next chunk; it may raise :class:`SourceChanged`.
    Every chunk comes from one descriptor, so a file replaced by rename is
    read whole (old or new). A file changed in place is accepted only when:

    - size, mtime and ctime are the same before and after the read (else the
      read is retried);
    - a *racy* file, modified within :data:`RACY_NS` of the read, gives the
      same digest in two consecutive reads, the second starting
      :data:`QUIET_NS` after its mtime: the kernel stamps mtime when a write
      starts, so a read overlapping the rest of a write sees no change in
      ``fstat`` alone. A writer paused mid-file for longer than that cannot
      be told from a finished one; what the file then holds is accepted.

    Raises:
        SourceError: If the file cannot be read or keeps changing.
    """
    changes = 0
    previous: bytes | None = None  # digest of the last racy read
    for _attempt in range(_READ_RETRIES + _RACY_ATTEMPTS):
        try:
            fd = os.open(node.path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise SourceError(
                f"cannot snapshot {node.rel!r}: it vanished while being read"
            ) from None
        except OSError as exc:
            raise SourceError(f"cannot read {node.rel!r}: {exc.strerror}") from exc
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise SourceError(
                    f"cannot snapshot {node.rel!r}: it changed type while being read"
                )
            started = time.time_ns()
            racy = started - before.st_mtime_ns < RACY_NS
            digest = hashlib.blake2b(digest_size=16) if racy else None
            remaining = [before.st_size]

            def read_chunk(
                fd: int = fd,
                remaining: list[int] = remaining,
                digest: Any = digest,
            ) -> bytes:
                chunk = os.read(fd, min(CHUNK_SIZE, max(remaining[0], 1)))
                remaining[0] -= len(chunk)
                if remaining[0] < 0:
                    raise SourceChanged
                if digest is not None:
                    digest.update(chunk)
                return chunk

            try:
                consume(before.st_size, read_chunk)
                if os.read(fd, 1):
                    raise SourceChanged
                after = os.fstat(fd)
                if remaining[0] != 0 or (
                    after.st_size,
                    after.st_mtime_ns,
                    after.st_ctime_ns,
                ) != (before.st_size, before.st_mtime_ns, before.st_ctime_ns):
                    raise SourceChanged
            except SourceChanged:
                changes += 1
                previous = None
                if changes >= _READ_RETRIES:
                    break
                continue
            except OSError as exc:
                raise SourceError(f"cannot read {node.rel!r}: {exc.strerror}") from exc
            if digest is None:
                return
            current = digest.digest()
            if current == previous and started - before.st_mtime_ns >= QUIET_NS:
                # Two whole reads agree, and the second began after the file
                # had been still for a while: no write was in progress.
                return
            previous = current
            time.sleep(QUIET_NS / 1e9)
        finally:
            os.close(fd)
    raise SourceError(
        f"cannot snapshot {node.rel!r}: it kept changing while being read; "
        "try again once it is no longer being written"
    )


def hash_blob_file(node: FileNode, algorithms: Sequence[str]) -> tuple[bytes, ...]:
    """Stream a file and return its blob ids, one per algorithm.

    Args:
        node: The file.
        algorithms: Digest names, e.g. ``("sha256", "sha1")``.

    Returns:
        The raw blob ids in the order of ``algorithms``.

    Raises:
        SourceError: If the file cannot be read or keeps changing.
    """
    result: list[bytes] = []

    def consume(size: int, read_chunk: ReadChunk) -> None:
        hashers = [hashlib.new(a) for a in algorithms]
        header = b"blob %d\0" % size
        for h in hashers:
            h.update(header)
        left = size
        while left > 0:
            chunk = read_chunk()
            if not chunk:
                raise SourceChanged
            left -= len(chunk)
            for h in hashers:
                h.update(chunk)
        result[:] = [h.digest() for h in hashers]

    read_consistently(node, consume)
    return tuple(result)


class ObjectSink(Protocol):
    """Where ``hash_source`` sends the objects it meets (a store, or nothing)."""

    def file_blob(self, node: FileNode) -> tuple[bytes, ...]:
        """Return the ids of a file's blob, storing it if the sink stores."""
        ...

    def data_blob(self, data: bytes, ids: tuple[bytes, ...]) -> None:
        """Accept a small blob (a link's text) whose ids are already known."""
        ...

    def tree(self, bodies: tuple[bytes, ...], ids: tuple[bytes, ...]) -> None:
        """Accept a tree, one encoded body and id per algorithm."""
        ...


class _HashOnly:
    def __init__(self, algorithms: Sequence[str]) -> None:
        self.algorithms = tuple(algorithms)

    def file_blob(self, node: FileNode) -> tuple[bytes, ...]:
        return hash_blob_file(node, self.algorithms)

    def data_blob(self, data: bytes, ids: tuple[bytes, ...]) -> None:
        return None

    def tree(self, bodies: tuple[bytes, ...], ids: tuple[bytes, ...]) -> None:
        return None


def _files_of(node: DirNode) -> list[FileNode]:
    found: list[FileNode] = []
    stack = [node]
    while stack:
        current = stack.pop()
        for child in current.children.values():
            if isinstance(child, DirNode):
                stack.append(child)
            elif isinstance(child, FileNode):
                found.append(child)
    return found


def hash_source(
    source: Source,
    algorithms: Sequence[str],
    sink: ObjectSink | None = None,
    workers: int | None = None,
    known: Callable[[FileNode], tuple[bytes, ...] | None] | None = None,
) -> tuple[bytes, ...]:
    """Compute the root tree id of ``source`` in each algorithm.

    Files are read (and, with a storing sink, compressed and written) by a
    small thread pool: hashing, zlib and fsync release the GIL, so several
    cores share the work.

    Args:
        source: A scanned source.
        algorithms: Digest names; the first is usually ``"sha256"``.
        sink: Receives every blob and tree (to store them); hashing only if None.
        workers: Threads reading files (default: up to 4, one per core).
        known: Returns a file's blob ids without reading it (a stat cache
            hit), or None to read it; such files never reach ``sink``.

    Returns:
        The raw root tree ids, in the order of ``algorithms``.
    """
    algorithms = tuple(algorithms)
    out = sink if sink is not None else _HashOnly(algorithms)
    files = _files_of(source.root)
    blob_ids: dict[int, tuple[bytes, ...]] = {}
    if known is not None:
        unread = []
        for node in files:
            hit = known(node)
            if hit is None:
                unread.append(node)
            else:
                blob_ids[id(node)] = hit
        files = unread
    threads = workers or min(4, os.cpu_count() or 1)
    if threads > 1 and len(files) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            blob_ids.update(
                zip(map(id, files), pool.map(out.file_blob, files), strict=True)
            )
    else:
        blob_ids.update((id(node), out.file_blob(node)) for node in files)

    def visit(node: DirNode) -> tuple[bytes, ...]:
        per_alg: list[list[tuple[bytes, int, bytes]]] = [[] for _ in algorithms]
        for name, child in node.children.items():
            if isinstance(child, DirNode):
                ids, mode = visit(child), MODE_TREE
            elif isinstance(child, LinkNode):
                ids = tuple(hash_object(a, b"blob", child.target) for a in algorithms)
                out.data_blob(child.target, ids)
                mode = MODE_LINK
            else:
                ids, mode = blob_ids[id(child)], child.mode
            for entries, raw in zip(per_alg, ids, strict=True):
                entries.append((name, mode, raw))
        bodies = tuple(encode_tree(entries) for entries in per_alg)
        tree_ids = tuple(
            hash_object(a, b"tree", body)
            for a, body in zip(algorithms, bodies, strict=True)
        )
        out.tree(bodies, tree_ids)
        return tree_ids

    return visit(source.root)


def content_hash(src: Path | str, exclude: Sequence[str] = ()) -> str:
    """Return the SHA-256 content hash (git tree id, 64 hex digits) of SRC.

    Args:
        src: A directory or a single file.
        exclude: Glob patterns to leave out, as in :func:`scan_source`.

    Returns:
        The hash as 64 lowercase hex digits.

    Example:
        >>> content_hash("skills/canvas-design")  # doctest: +SKIP
        '8be01d4...'
    """
    (root,) = hash_source(scan_source(src, exclude), ("sha256",))
    return root.hex()

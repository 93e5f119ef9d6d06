"""One artifact's history: a bare git repository managed with dulwich.

Each version is one commit whose tree is the content and whose parents are the
parent versions' commits; ``refs/heads/main`` names the newest and the tag
``refs/tags/<id>`` names each. Everything a version shows is derived from its
commit alone, so any clone computes the same ids and metadata:

- ``number``: 1 without parents, else 1 + the largest parent number;
- ``hash``: the SHA-256 git tree id of the content (for a SHA-1 repository, the
  tree is re-hashed as SHA-256; results are cached beside the repository);
- ``source``: the ``Gitversions-Source:`` trailer of the commit message, or
  ``"git"`` for commits made with plain git;
- ``message``: the commit message without that trailer.

Writers hold the artifact's lock. Objects are written (fsynced) before refs, and
``main`` moves by compare-and-swap before the version's tag is added; a tag lost
to a crash between the two is re-created by the next writer.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from dulwich.errors import NotGitRepository
from dulwich.file import _GitFile
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.refs import Ref as GitRef
from dulwich.repo import Repo

from gitversions.errors import (
    AmbiguousRefError,
    ConflictError,
    CorruptionError,
    InputError,
    NotFoundError,
    SourceError,
    UnfinishedError,
    UnsafePathError,
    naming,
)
from gitversions.fs.atomic import fsync_dir
from gitversions.fs.lock import held_since
from gitversions.git.loose import (
    QUARANTINE_PREFIX,
    TMP_PREFIX,
    blob_header_size,
    iter_loose_blob,
    loose_path,
    write_loose,
)
from gitversions.git.refs import MAIN, Refs, read_loose_ref
from gitversions.git.translate import translate
from gitversions.git.trees import ALLOWED_MODES, check_tree_entries, parse_tree
from gitversions.model import graph
from gitversions.model.ids import (
    HashPrefixRef,
    LatestRef,
    NumberRef,
    Ref,
    VersionId,
    VersionIdRef,
    parse_ref,
)
from gitversions.model.paths import (
    MAX_DEPTH,
)
from gitversions.model.version import (
    GIT_SOURCE,
    LOCAL_SOURCE,
    TRAILER,
    Changes,
    TreeEntry,
    Version,
    join_message,
    split_message,
)
from gitversions.snapshot.hashing import (
    CHUNK_SIZE,
    MODE_TREE,
    FileNode,
    ReadChunk,
    Source,
    SourceChanged,
    encode_tree,
    hash_blob_file,
    hash_object,
    hash_source,
    read_consistently,
)
from gitversions.snapshot.statcache import StatCache

if TYPE_CHECKING:
    from gitversions.git.repack import RepackStats

__all__ = [
    "GIT_SOURCE",
    "LOCAL_SOURCE",
    "TRAILER",
    "Changes",
    "History",
    "TreeEntry",
    "Version",
    "check_tree_entries",
    "join_message",
    "parse_tree",
    "split_message",
]

_T = TypeVar("_T")
_TAIL_BYTES = 16 << 10  # the end of the index read by a snapshot (~150 versions)
_DIRECT_READS = 32  # commits read from objects before loading the caches whole
_SMALL_FILE = 8 << 20
_CACHE_DIR = "gitversions"
# What a writer killed or failed leaves in a history: git's lock files and
# dulwich's temporary objects and packs, by directory (relative to the history).
_TEMPORARIES = (
    (".", "*.lock"),
    ("refs", "**/*.lock"),
    ("objects", f"{TMP_PREFIX}*"),
    ("objects", "tmp_pack_*"),
    ("objects/pack", "tmp*"),
    ("objects/pack", "*.lock"),
)


def _harden_git_files() -> None:
    """Make dulwich's lock files go away however a write fails.

    ``_GitFile.abort`` closes the file before removing ``<name>.lock``: when the
    close flushes into a full disk it raises, the lock stays, and every later
    write of that file fails (and ``__del__`` prints "Exception ignored").
    ``close`` leaves the lock when its flush or fsync fails. Here the lock is
    removed in any case: the data in it is being discarded anyway. And a
    failed write, flush or close names the file (``config``, a ref), which the
    ENOSPC of a descriptor does not.
    """
    original_close = _GitFile.close
    original_write = _GitFile.write

    def abort(self: _GitFile) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._file.close()
        except (OSError, ValueError):
            pass  # a flush into a full disk: the content is dropped anyway
        finally:
            with contextlib.suppress(OSError):
                os.remove(self._lockfilename)

    def close(self: _GitFile) -> None:
        try:
            with naming(self._filename):
                original_close(self)
        except BaseException:
            abort(self)  # a no-op once the rename was done
            raise

    def write(self: _GitFile, data: Any) -> Any:
        with naming(self._filename):
            return original_write(self, data)

    _GitFile.abort = abort  # type: ignore[method-assign]
    _GitFile.close = close  # type: ignore[method-assign]
    _GitFile.write = write  # type: ignore[method-assign]


_harden_git_files()  # once, at import
_STAT_CACHE = "statcache"
_COMMITS = "commits"
_CHANGES = "changes"


@dataclass(frozen=True)
class _CommitInfo:
    parents: tuple[str, ...]
    tree: str
    time: int
    message: bytes


def _identity() -> bytes:
    name = os.environ.get("GIT_COMMITTER_NAME") or os.environ.get("GIT_AUTHOR_NAME")
    email = os.environ.get("GIT_COMMITTER_EMAIL") or os.environ.get("GIT_AUTHOR_EMAIL")
    name = (name or "gitversions").replace("<", "").replace(">", "").strip()
    email = (email or "gitversions@localhost").replace("<", "").replace(">", "").strip()
    return f"{name or 'gitversions'} <{email}>".encode()


class _StoreSink:
    """Writes the blobs and trees ``hash_source`` meets, if they are missing."""

    def __init__(self, history: History, cache: StatCache | None = None) -> None:
        self.history = history
        self.cache = cache
        self.algorithms = history.algorithms
        self.objects = history.objects_dir
        self.written: list[bytes] = []
        self.new_trees = 0
        self.dirs: set[Path] = set()

    def _store(self, kind: bytes, body: bytes, ids: tuple[bytes, ...]) -> None:
        storage = ids[-1]
        if not self.history.has_object(storage.hex()):
            # Only new objects: the cache may not be loaded (a snapshot reads
            # none of it), and an object stored before was noted then.
            self.history.remember_sha256(storage.hex(), ids[0].hex())
            raw = write_loose(
                self.objects,
                self.algorithms[-1],
                kind,
                len(body),
                iter((body,)),
                synced_dirs=self.dirs,
            )
            self.written.append(raw)

    def file_blob(self, node: FileNode) -> tuple[bytes, ...]:
        ids = self._file_blob(node)
        if self.cache is not None:
            self.cache.add(node, ids)
        return ids

    def _file_blob(self, node: FileNode) -> tuple[bytes, ...]:
        if node.size <= _SMALL_FILE:
            parts: list[bytes] = []

            def consume(size: int, read_chunk: ReadChunk) -> None:
                parts.clear()
                left = size
                while left > 0:
                    chunk = read_chunk()
                    if not chunk:
                        break
                    parts.append(chunk)
                    left -= len(chunk)

            read_consistently(node, consume)
            body = b"".join(parts)
            ids = tuple(hash_object(a, b"blob", body) for a in self.algorithms)
            self._store(b"blob", body, ids)
            return ids
        return self._large_blob(node)

    def _large_blob(self, node: FileNode) -> tuple[bytes, ...]:
        ids = hash_blob_file(node, self.algorithms)
        storage = ids[-1]
        if self.history.has_object(storage.hex()):
            return ids
        self.history.remember_sha256(storage.hex(), ids[0].hex())

        def consume(size: int, read_chunk: ReadChunk) -> None:
            def chunks() -> Iterator[bytes]:
                left = size
                while left > 0:
                    chunk = read_chunk()
                    if not chunk:
                        return
                    left -= len(chunk)
                    yield chunk

            try:
                write_loose(
                    self.objects,
                    self.algorithms[-1],
                    b"blob",
                    size,
                    chunks(),
                    storage,
                    synced_dirs=self.dirs,
                )
            except ValueError:  # the file changed between hashing and storing
                raise SourceChanged from None

        read_consistently(node, consume)
        self.written.append(storage)
        return ids

    def sync(self) -> None:
        """Make the new objects' directory entries durable (before any ref).

        Fan-out directories first, then ``objects/``, which names the ones
        this snapshot created.
        """
        for directory in sorted(self.dirs, key=lambda d: d == self.objects):
            fsync_dir(directory)
        self.dirs.clear()

    def discard(self) -> None:
        """Delete the objects this sink wrote (nothing refers to them yet)."""
        for raw in self.written:
            path = loose_path(self.objects, raw.hex())
            with contextlib.suppress(OSError):
                path.unlink()
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # only if this left it empty
        self.written.clear()

    def data_blob(self, data: bytes, ids: tuple[bytes, ...]) -> None:
        self._store(b"blob", data, ids)

    def tree(self, bodies: tuple[bytes, ...], ids: tuple[bytes, ...]) -> None:
        before = len(self.written)
        self._store(b"tree", bodies[-1], ids)
        self.new_trees += len(self.written) - before


class History:
    """The bare repository holding one artifact's versions.

    Use :meth:`create` or :meth:`open`; both raise ``GitVersionsError`` subclasses
    only.
    """

    def __init__(self, path: Path, repo: Repo, *, use_cache: bool = True) -> None:
        self.path = path
        self.repo = repo
        self.use_cache = use_cache
        # What dulwich writes itself (packs during gc) must be durable too.
        repo.object_store.fsync_object_files = True
        self.format: Literal["sha1", "sha256"] = (
            "sha256" if repo.object_format.name == "sha256" else "sha1"
        )
        # Content hashes are SHA-256; a SHA-1 repository also needs its own ids.
        self.algorithms: tuple[str, ...] = (
            ("sha256",) if self.format == "sha256" else ("sha256", "sha1")
        )
        self.objects_dir = path / "objects"
        self._read_lock = threading.Lock()
        self._infos: dict[str, _CommitInfo] = {}
        self._numbers: dict[str, int] = {}
        self._hashes: dict[str, str] = {}
        self._sha256: dict[str, str] = {}
        self._new_index: list[str] = []
        self._new_sha256: list[str] = []
        # Raw cache lines by commit, decoded on use: commit facts and changes
        # against the first parent (both immutable, keyed by commit id).
        self._commit_lines: dict[str, str] = {}
        self._change_lines: dict[str, str] = {}
        self._changes: dict[str, Changes] = {}
        self._new_commits: list[str] = []
        self._new_changes: list[str] = []
        self._indexed: set[str] = set()
        self._loaded = False
        self._tail_loaded = False
        self._changes_loaded = False
        self._sha256_loaded = False
        self._versions: dict[str, Version] = {}
        self._recorded: set[str] = set()  # commits this process made: in no cache
        self._direct_reads = 0
        self.refs = Refs(path, repo)

    # -- opening ------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, object_format: str = "sha1") -> History:
        """Create a new bare repository at ``path`` with HEAD -> refs/heads/main.

        Args:
            path: Where the repository goes; must not exist yet.
            object_format: ``"sha1"`` or ``"sha256"``.

        Returns:
            The opened history.
        """
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
        try:
            repo = Repo.init_bare(str(tmp), mkdir=True, object_format=object_format)
            try:
                repo.refs.set_symbolic_ref(GitRef(b"HEAD"), MAIN)
                config = repo.get_config()
                config.set((b"gc",), b"auto", b"0")
                config.write_to_path()
                (tmp / _CACHE_DIR).mkdir()
            finally:
                repo.close()
            # The repository appears complete or not at all.
            os.rename(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls.open(path)

    @classmethod
    def open(cls, path: Path, *, use_cache: bool = True) -> History:
        """Open the repository at ``path``.

        Args:
            path: The bare repository.
            use_cache: False to derive every number and hash afresh (verify).

        Raises:
            NotFoundError: If there is no repository there.
            CorruptionError: If it cannot be opened.
        """
        try:
            repo = Repo(str(path), bare=True)
        except NotGitRepository:
            raise NotFoundError(f"no history repository at {path}") from None
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptionError(f"cannot open history at {path}: {exc}") from exc
        return cls(path, repo, use_cache=use_cache)

    def close(self) -> None:
        """Release the repository's open files."""
        self.repo.close()

    def refresh_packs(self) -> None:
        """Notice packs added or removed (after a repack)."""
        with self._read_lock:
            _ = self.repo.object_store.packs

    def repack(self, *, everything: bool = False) -> RepackStats:
        """Pack loose objects with deltas (call under the lock); see ``_repack``."""
        from gitversions.git.repack import repack

        with translate("cannot repack"):
            return repack(self, everything=everything)

    def gc(self, *, prune: bool = True) -> RepackStats:
        """Prune old unreachable loose objects, then pack everything (locked)."""
        from gitversions.git.repack import gc

        with translate("cannot gc"):
            return gc(self, prune=prune)

    # -- objects ------------------------------------------------------------

    def has_object(self, hex_id: str) -> bool:
        """Tell whether the object ``hex_id`` is stored (loose or packed)."""
        if loose_path(self.objects_dir, hex_id).exists():
            return True
        return bool(self.repo.object_store.contains_packed(ObjectID(hex_id.encode())))

    def _object(self, hex_id: str) -> object:
        try:
            # dulwich's pack readers share file handles: one reader at a time.
            with self._read_lock:
                try:
                    return self.repo.object_store[ObjectID(hex_id.encode())]
                except KeyError:
                    # A writer may have just moved it from loose into a new
                    # pack: look at the pack directory again, once.
                    _ = self.repo.object_store.packs
                    return self.repo.object_store[ObjectID(hex_id.encode())]
        except KeyError:
            raise CorruptionError(
                f"object {hex_id} is missing from {self.path}"
            ) from None
        except Exception as exc:  # dulwich raises many kinds for damaged data
            raise CorruptionError(f"object {hex_id} is damaged: {exc}") from exc

    def _tree(self, hex_id: str) -> Tree:
        obj = self._object(hex_id)
        if not isinstance(obj, Tree):
            raise CorruptionError(f"object {hex_id} should be a tree")
        return obj

    def tree_entries(self, tree: str) -> list[tuple[bytes, int, str]]:
        """Return a tree's ``(name, mode, id)`` entries exactly as stored.

        dulwich's parser silently drops duplicate names and re-sorts; git
        refuses such trees, and so does this reader (see :func:`parse_tree`).

        Raises:
            UnsafePathError: For duplicate names or entries out of git's order.
            CorruptionError: For a tree that cannot be parsed.
        """
        return parse_tree(self._tree(tree).as_raw_string(), tree, self.format)

    def iter_blob(self, hex_id: str) -> Iterator[bytes]:
        """Yield a blob's content in chunks, checking it against its id.

        Raises:
            CorruptionError: If the blob is missing or damaged.
        """
        path = loose_path(self.objects_dir, hex_id)
        if path.exists():
            try:
                yield from iter_loose_blob(path, self.algorithms[-1], hex_id)
                return
            except FileNotFoundError:
                pass  # packed meanwhile by a writer's repack (opened before a yield)
        obj = self._object(hex_id)
        if not isinstance(obj, Blob):
            raise CorruptionError(f"object {hex_id} should be a blob")
        data = obj.as_raw_string()
        if hash_object(self.algorithms[-1], b"blob", data).hex() != hex_id:
            raise CorruptionError(
                f"object {hex_id} is damaged (content does not match its id)"
            )
        for start in range(0, len(data), CHUNK_SIZE):
            yield data[start : start + CHUNK_SIZE]

    def blob_size(self, hex_id: str) -> int:
        """Return a blob's size without reading its content where possible."""
        path = loose_path(self.objects_dir, hex_id)
        if path.exists():
            return blob_header_size(path, hex_id)
        obj = self._object(hex_id)
        if not isinstance(obj, Blob):
            raise CorruptionError(f"object {hex_id} should be a blob")
        return int(obj.raw_length())

    def read_blob(self, hex_id: str) -> bytes:
        """Return a (small) blob's whole content."""
        return b"".join(self.iter_blob(hex_id))

    # -- caches -------------------------------------------------------------

    def _load_caches(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        if not self.use_cache:
            return
        self._read_index(self._cache_lines("index"))
        self._read_keyed(_COMMITS, self._commit_lines)
        # Loading the caches whole means many commits are wanted (log): one
        # C-speed json.loads of them all beats one call per commit. A torn
        # line fails it; they are then decoded one by one, as needed.
        for key, value in _bulk_decode(self._commit_lines, _info_of).items():
            self._infos.setdefault(key, value)
        self._load_changes()

    def _load_sha256(self) -> None:
        """Load the SHA-1 -> SHA-256 cache (only hashing trees needs it)."""
        if self._sha256_loaded or not self.use_cache:
            return
        self._sha256_loaded = True
        if self.format == "sha1":
            for line in self._cache_lines("sha256"):
                parts = line.split(" ")
                if len(parts) == 2 and len(parts[0]) == 40 and len(parts[1]) == 64:
                    self._sha256.setdefault(parts[0], parts[1])

    def _load_changes(self) -> None:
        """Load only the changes cache (what ``show`` and a snapshot's report need)."""
        if self._changes_loaded or not self.use_cache:
            return
        self._changes_loaded = True
        self._read_keyed(_CHANGES, self._change_lines)
        for key, value in _bulk_decode(self._change_lines, _changes_of).items():
            self._changes.setdefault(key, value)

    def _load_index_tail(self) -> None:
        """Read only the end of the index: the newest versions, enough to record.

        The caches grow with the history; a snapshot needs the number and hash
        of one or two commits (main's), which were appended last. Loading every
        cache made each snapshot slower than the one before.
        """
        if self._tail_loaded or self._loaded or not self.use_cache:
            return
        self._tail_loaded = True
        try:
            with open(self.path / _CACHE_DIR / "index", "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - _TAIL_BYTES))
                data = f.read(_TAIL_BYTES)
        except OSError:
            return
        lines = data.decode("ascii", "replace").split("\n")
        if size > _TAIL_BYTES:
            lines = lines[1:]  # the first may be cut
        self._read_index(lines)

    def _read_index(self, lines: list[str]) -> None:
        """Take ``commit number sha256`` lines; malformed (torn) ones are skipped."""
        hex_len = 64 if self.format == "sha256" else 40
        for line in lines:
            parts = line.split(" ")
            if (
                len(parts) == 3
                and len(parts[0]) == hex_len
                and parts[1].isdigit()
                and len(parts[2]) == 64
            ):
                self._numbers.setdefault(parts[0], int(parts[1]))
                self._hashes.setdefault(parts[0], parts[2])
                self._indexed.add(parts[0])

    def _read_keyed(self, name: str, table: dict[str, str]) -> None:
        """Take a cache's ``<commit> <rest>`` lines; malformed ones are skipped."""
        hex_len = 64 if self.format == "sha256" else 40
        for line in self._cache_lines(name):
            key, _, rest = line.partition(" ")
            if len(key) == hex_len and rest:
                table.setdefault(key, rest)

    def _cache_lines(self, name: str) -> list[str]:
        try:
            text = (self.path / _CACHE_DIR / name).read_text("ascii", errors="replace")
        except OSError:
            return []
        return text.splitlines()

    def remember_sha256(self, storage_hex: str, sha256_hex: str) -> None:
        """Note the SHA-256 id of a SHA-1 object (cached beside the repository)."""
        if self.format == "sha1" and storage_hex not in self._sha256:
            self._sha256[storage_hex] = sha256_hex
            self._new_sha256.append(f"{storage_hex} {sha256_hex}\n")

    def forget_unstored(self) -> None:
        """Drop the pending cache lines about objects this history does not hold.

        A fetch derives facts (content hashes, numbers) while it checks what
        a remote sent; what it then refused never enters the store, and the
        caches must not name it.
        """
        store = self.repo.object_store
        for lines in (
            self._new_index,
            self._new_sha256,
            self._new_commits,
            self._new_changes,
        ):
            lines[:] = [
                line
                for line in lines
                if ObjectID(line.split(" ", 1)[0].encode("ascii")) in store
            ]

    def flush_caches(self) -> None:
        """Append newly derived facts to the caches (best effort: they are hints)."""
        if not self.use_cache:
            return
        for name, lines in (
            ("index", self._new_index),
            ("sha256", self._new_sha256),
            (_COMMITS, self._new_commits),
            (_CHANGES, self._new_changes),
        ):
            if not lines:
                continue
            try:
                (self.path / _CACHE_DIR).mkdir(exist_ok=True)
                fd = os.open(
                    self.path / _CACHE_DIR / name,
                    os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                    0o644,
                )
                try:
                    os.write(fd, "".join(lines).encode("ascii"))
                finally:
                    os.close(fd)
            except OSError:
                pass  # a read-only repository: derive again next time
            lines.clear()

    # -- commits and versions ----------------------------------------------

    def head(self) -> str | None:
        """Return the commit ``main`` points at, or None for an empty history."""
        return self.refs.head()

    def packed_refs(self) -> dict[bytes, bytes]:
        """Every ref in ``packed-refs`` and the object id it names."""
        return self.refs.packed_refs()

    def tags(self) -> dict[str, str]:
        """Every tag directly under ``refs/tags/`` and the id it names."""
        return self.refs.tags()

    def head_target(self) -> str | None:
        """The ref ``HEAD`` points at (``refs/heads/main`` in a store's history)."""
        return self.refs.head_target()

    def tag_refs(self) -> dict[str, str]:
        """Every ref under ``refs/tags/`` (nested ones too) and the id it names."""
        return self.refs.tag_refs()

    read_loose_ref = staticmethod(read_loose_ref)

    def tag_target(self, version_id: VersionId) -> str | None:
        """Return the commit the tag of ``version_id`` names, if the tag exists."""
        return self.refs.tag_target(str(version_id))  # validated: a plain name

    def _info(self, commit: str) -> _CommitInfo:
        info = self._infos.get(commit)
        if info is None and self.use_cache and not self._loaded:
            # A few commits (a snapshot's, show's) are cheaper to read from
            # the object store than the whole cache; many (log) are not.
            self._direct_reads += 1
            if self._direct_reads > _DIRECT_READS:
                self._load_caches()
        if info is None and self.use_cache and self._loaded:
            raw = self._commit_lines.get(commit)
            if raw is not None:
                info = _decode_info(raw)
                if info is not None:
                    self._infos[commit] = info
                    return info
        if info is None:
            obj = self._object(commit)
            if not isinstance(obj, Commit):
                raise CorruptionError(f"object {commit} should be a commit")
            info = _CommitInfo(
                tuple(p.decode("ascii") for p in obj.parents),
                obj.tree.decode("ascii"),
                int(obj.commit_time),
                bytes(obj.message),
            )
            self._infos[commit] = info
            if self.use_cache and self._loaded and commit not in self._commit_lines:
                line = _encode_info(info)
                self._commit_lines[commit] = line
                self._new_commits.append(f"{commit} {line}\n")
        return info

    def _number(self, commit: str) -> int:
        # Walks up from ``commit`` to numbered ancestors; reading many commits
        # on the way loads the caches whole (see _info).
        if commit not in self._numbers:
            self._load_index_tail()
        stack = [commit]
        while stack:
            current = stack[-1]
            if current in self._numbers:
                stack.pop()
                continue
            parents = self._info(current).parents
            missing = [p for p in parents if p not in self._numbers]
            if missing:
                stack.extend(missing)
                continue
            self._numbers[current] = 1 + max(
                (self._numbers[p] for p in parents), default=0
            )
            stack.pop()
        return self._numbers[commit]

    def _content_hash(self, commit: str) -> str:
        if commit not in self._hashes and not self._loaded:
            self._load_index_tail()  # the newest versions' hashes
            if commit not in self._hashes:
                self._load_caches()
        cached = self._hashes.get(commit)
        if cached is not None:
            return cached
        tree = self._info(commit).tree
        value = tree if self.format == "sha256" else self.sha256_of_tree(tree)
        self._hashes[commit] = value
        return value

    def sha256_of_tree(
        self, tree: str, *, trust_cache: bool = True, depth: int = 0
    ) -> str:
        """Return the SHA-256 git id of a SHA-1 tree, re-hashing what is not cached.

        Args:
            tree: The tree id in this repository's format.
            trust_cache: False to re-read every object (used by verify).
            depth: Nesting level, for the depth limit.

        Raises:
            UnsafePathError: For modes a version may not hold (e.g. gitlinks).
        """
        if self.format == "sha256":
            return tree
        self._load_sha256()
        if trust_cache and tree in self._sha256:
            return self._sha256[tree]
        if depth > MAX_DEPTH:
            raise UnsafePathError(
                f"tree {tree} is nested more than {MAX_DEPTH} levels deep"
            )
        entries: list[tuple[bytes, int, bytes]] = []
        for name, mode, sha in self.tree_entries(tree):
            if mode not in ALLOWED_MODES:
                raise UnsafePathError(
                    f"tree {tree}: entry {name!r} has unsupported mode {mode:o}"
                )
            if mode == MODE_TREE:
                sub = self.sha256_of_tree(sha, trust_cache=trust_cache, depth=depth + 1)
            elif trust_cache and sha in self._sha256:
                sub = self._sha256[sha]
            else:
                body = self.read_blob(sha)
                sub = hash_object("sha256", b"blob", body).hex()
                self.remember_sha256(sha, sub)
            entries.append((name, mode, bytes.fromhex(sub)))
        value = hash_object("sha256", b"tree", encode_tree(entries)).hex()
        self.remember_sha256(tree, value)
        return value

    def version(self, commit: str) -> Version:
        """Return the version recorded by ``commit``."""
        known = self._versions.get(commit)
        if known is not None:
            return known  # commits are immutable, and so is what they record
        info = self._info(commit)
        number = self._number(commit)
        content = self._content_hash(commit)
        if commit not in self._indexed:
            self._indexed.add(commit)
            self._new_index.append(f"{commit} {number} {content}\n")
        message, source = split_message(info.message)
        version = Version(
            id=VersionId.for_hash(number, content),
            hash=content,
            commit=commit,
            tree=info.tree,
            time=info.time,
            source=source,
            message=message,
            parents=info.parents,
            parent_versions=tuple(
                self._versions[p].id
                if p in self._versions
                else VersionId.for_hash(self._number(p), self._content_hash(p))
                for p in info.parents
            ),
        )
        self._versions[commit] = version
        return version

    def _tips(self) -> list[str]:
        tips = []
        head = self.head()
        if head:
            tips.append(head)
        tips.extend(
            value for name, value in self.tags().items() if VersionId.is_valid(name)
        )
        return tips

    def versions(self) -> list[Version]:
        """Return every version reachable from ``main`` or a tag, oldest first."""
        reachable = graph.ancestors(self.parents, self._tips())
        result = sorted((self.version(c) for c in reachable), key=lambda v: v.sort_key)
        self.flush_caches()
        return result

    def latest(self) -> Version | None:
        """Return the newest version (the one ``main`` names), if any."""
        head = self.head()
        return self.version(head) if head else None

    def resolve(self, ref: Ref | str) -> Version:
        """Return the version a REF names.

        Args:
            ref: A parsed REF or its text.

        Raises:
            InvalidRefError: If the text is not a REF.
            NotFoundError: If no version matches.
            AmbiguousRefError: If several versions match.
        """
        text = ref if isinstance(ref, str) else None
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        shown = text or _ref_text(parsed)
        if isinstance(parsed, LatestRef):
            return self._resolve_latest(parsed.back, shown)
        if isinstance(parsed, VersionIdRef):
            target = self.tag_target(parsed.id)
            if target is not None:
                version = self.version(target)
                if version.id == parsed.id:
                    return version
            matches = [v for v in self.versions() if v.id == parsed.id]
        elif isinstance(parsed, NumberRef):
            fast = self._tagged_number(parsed.number)
            if fast is not None:
                return fast
            matches = [v for v in self.versions() if v.number == parsed.number]
        else:
            matches = [
                v
                for v in self.versions()
                if v.hash.startswith(parsed.prefix)
                or v.commit.startswith(parsed.prefix)
            ]
        if not matches:
            raise NotFoundError(f"unknown version {shown!r}")
        if len(matches) > 1:
            names = ", ".join(str(v.id) for v in matches[:5])
            raise AmbiguousRefError(f"{shown!r} is ambiguous: it matches {names}")
        return matches[0]

    def _tagged_number(self, number: int) -> Version | None:
        """The one version numbered ``number``, found by its tag's name.

        Tag names carry the number, so no walk of the whole history is needed.
        Trusted only while ``main`` is tagged correctly (every writer tags what
        it records, and re-tags commits pushed with plain git before its own),
        and only when exactly one tag has that number; else None.
        """
        head = self.head()
        if head is None or self.tag_target(self.version(head).id) != head:
            return None
        prefix = f"v{number}-"
        names = [name for name in self.tags() if name.startswith(prefix)]
        text = names[0] if len(names) == 1 else ""
        if not VersionId.is_valid(text):
            return None
        target = self.tag_target(VersionId.parse(text))
        if target is None:
            return None
        version = self.version(target)
        return version if version.number == number else None

    def _resolve_latest(self, back: int, shown: str) -> Version:
        head = self.head()
        if head is None:
            raise NotFoundError(f"unknown version {shown!r}: the history is empty")
        commit = head
        for step in range(back):
            parents = self._info(commit).parents
            if not parents:
                raise NotFoundError(
                    f"unknown version {shown!r}: the history is only {step + 1} "
                    "version(s) deep along first parents"
                )
            commit = parents[0]
        return self.version(commit)

    # -- trees --------------------------------------------------------------

    def iter_tree(self, tree: str) -> Iterator[TreeEntry]:
        """Yield the files and links of a tree, depth first, in tree order.

        Every path is checked before it is yielded, so a caller may write it.

        Raises:
            UnsafePathError: For names or modes that may not be written to disk.
        """
        stack: list[tuple[str, str, int]] = [(tree, "", 0)]
        while stack:
            tree_id, prefix, depth = stack.pop()
            if depth >= MAX_DEPTH:
                raise UnsafePathError(
                    f"tree {tree} is nested more than {MAX_DEPTH} levels deep"
                )
            subtrees: list[tuple[str, str, int]] = []
            raw = self._tree(tree_id).as_raw_string()
            for name, mode, sha in check_tree_entries(
                raw, tree_id, self.format, prefix
            ):
                text = name.decode("utf-8")
                if mode == MODE_TREE:
                    subtrees.append((sha, f"{prefix}{text}/", depth + 1))
                else:
                    yield TreeEntry(prefix + text, mode, sha)
            stack.extend(reversed(subtrees))

    def check_tree(self, tree: str) -> None:
        """Check a whole tree as a version's content: what export would refuse.

        Every level passes :func:`check_tree_entries`, the tree is at most
        :data:`MAX_DEPTH` deep, and its top holds no ``.version.toml``.

        Raises:
            UnsafePathError: For a tree that may not be recorded or written.
            CorruptionError: For a missing or damaged tree.
        """
        raw = self._tree(tree).as_raw_string()
        check_tree_entries(raw, tree, self.format, top=True)
        for _entry in self.iter_tree(tree):
            pass

    def unsafe_trees(self) -> Iterator[str]:
        """Name every stored tree that :func:`check_tree_entries` refuses.

        Every tree counts, reachable or not, loose or packed, as for ``git
        fsck --strict``: a tree that no version names may still have come
        from outside (a fetch of an earlier release kept a refused history's
        objects) and makes ``git fsck --strict`` fail.

        Yields:
            One line per refused or damaged tree (or unreadable pack), naming it.
        """
        from gitversions.git.repack import loose_header, loose_ids

        seen: set[str] = set()
        for hex_id in loose_ids(self):
            if (loose_header(self, hex_id) or (b"",))[0] != b"tree":
                continue
            path = loose_path(self.objects_dir, hex_id)
            try:
                data = zlib.decompress(path.read_bytes())
            except OSError:
                continue  # packed meanwhile by a writer: seen in its pack below
            except zlib.error as exc:
                yield f"stored tree {hex_id} is damaged: {exc}"
                continue
            seen.add(hex_id)
            if problem := self._tree_problem(hex_id, data.partition(b"\0")[2]):
                yield problem
        for pack in self.repo.object_store.packs:
            name = "?"
            try:
                name = pack.name().decode()
                for obj in pack.iterobjects():
                    oid = obj.id.decode("ascii")
                    if isinstance(obj, Tree) and oid not in seen:
                        seen.add(oid)
                        if problem := self._tree_problem(oid, obj.as_raw_string()):
                            yield problem
            except Exception as exc:  # dulwich raises many kinds for damaged data
                # A pack a writer's repack removed meanwhile is not damage.
                # (dulwich's ``packs`` lists the packs it knew, then forgets
                # the removed ones: the second listing holds only present ones.)
                _ = self.repo.object_store.packs
                if any(other is pack for other in self.repo.object_store.packs):
                    yield f"pack {name} cannot be read: {exc}"

    def _tree_problem(self, tree: str, raw: bytes) -> str | None:
        try:
            check_tree_entries(raw, tree, self.format)
        except (UnsafePathError, CorruptionError) as exc:
            return f"stored tree {tree} would be refused: {exc}"
        return None

    def files(self, tree: str) -> dict[str, TreeEntry]:
        """Return a tree's files and links by path."""
        return {entry.path: entry for entry in self.iter_tree(tree)}

    def changes(self, old: Version | None, new: Version) -> Changes:
        """Return what changed from ``old`` (None: nothing) to ``new``.

        Changes against the first parent are cached per commit, so ``log``
        and ``show`` need not read two trees per version.
        """
        first = (old is None and not new.parents) or (
            old is not None and new.parents[:1] == (old.commit,)
        )
        if not first or not self.use_cache:
            return self._compute_changes(old, new)
        cached = self._changes.get(new.commit)
        if cached is not None:
            return cached
        if new.commit not in self._recorded:
            self._load_changes()
        raw = self._change_lines.get(new.commit)
        if raw is not None:
            cached = _decode_changes(raw)
            if cached is not None:
                self._changes[new.commit] = cached
                return cached
        result = self._compute_changes(old, new)
        self._changes[new.commit] = result
        line = json.dumps(
            [result.added, result.modified, result.deleted], separators=(",", ":")
        )
        self._change_lines[new.commit] = line
        self._new_changes.append(f"{new.commit} {line}\n")
        return result

    def _compute_changes(self, old: Version | None, new: Version) -> Changes:
        before = self.files(old.tree) if old is not None else {}
        after = self.files(new.tree)
        added = sorted(p for p in after if p not in before)
        deleted = sorted(p for p in before if p not in after)
        modified = sorted(
            p
            for p in after
            if p in before
            and (before[p].mode, before[p].blob) != (after[p].mode, after[p].blob)
        )
        return Changes(tuple(added), tuple(modified), tuple(deleted))

    def first_parent(self, version: Version) -> Version | None:
        """Return the version's first parent, or None for a root version."""
        return self.version(version.parents[0]) if version.parents else None

    # -- the commit graph ---------------------------------------------------

    def parents(self, commit: str) -> tuple[str, ...]:
        """Return a commit's parents, in order (from the caches when they know it).

        Raises:
            CorruptionError: For a commit that is missing or damaged.
        """
        return self._info(commit).parents

    def tree_of(self, commit: str) -> str:
        """Return the id of a commit's tree.

        Raises:
            CorruptionError: For a commit that is missing or damaged.
        """
        return self._info(commit).tree

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Tell whether ``descendant`` contains ``ancestor`` (or is it).

        Version numbers are generation numbers: the walk stops at commits
        numbered no higher than ``ancestor``.

        Raises:
            CorruptionError: For a missing or damaged commit on the way.
        """
        return graph.is_ancestor(
            self.parents, ancestor, descendant, generation=self._number
        )

    def merge_bases(self, a: str, b: str) -> list[str]:
        """Return every lowest common ancestor of two commits.

        What ``git merge-base --all`` prints: one commit for a plain fork,
        several for a criss-cross history, none for unrelated histories.

        Raises:
            CorruptionError: For a missing or damaged commit on the way.
        """
        return graph.merge_bases(self.parents, a, b)

    def remote_mains(self) -> dict[str, str]:
        """The remote lines a fetch keeps: remote name -> commit of its main."""
        return self.refs.remote_mains()

    def sha256_of_blob(self, blob: str) -> str:
        """Return a stored blob's SHA-256 git id (its own id in a SHA-256 history)."""
        if self.format == "sha256":
            return blob
        self._load_sha256()
        known = self._sha256.get(blob)
        if known is None:
            known = hash_object("sha256", b"blob", self.read_blob(blob)).hex()
            self.remember_sha256(blob, known)
        return known

    # -- writing ------------------------------------------------------------

    def clear_stale_locks(self, *, failed: bool = False) -> None:
        """Remove the lock files and temporaries of ended writers (hold the lock).

        Only the holder of the artifact's lock writes, so the lock files and
        object temporaries older than our taking of the lock are leftovers of a
        killed or failed process; a newer one (of a process writing without the
        lock, as plain git may) is left alone.

        Args:
            failed: The command holding the lock failed: its own temporaries
                go too, whatever their age.
        """
        since = held_since(self.path.parent / ".lock")

        def stale(path: Path) -> bool:
            return failed or since is None or path.stat().st_mtime < since

        for directory, pattern in _TEMPORARIES:
            for leftover in (self.path / directory).glob(pattern):
                with contextlib.suppress(OSError):
                    if stale(leftover):
                        leftover.unlink()
        # A fetch's quarantine: objects received and never accepted.
        for leftover in self.objects_dir.glob(f"{QUARANTINE_PREFIX}*"):
            with contextlib.suppress(OSError):
                if stale(leftover):
                    shutil.rmtree(leftover)

    def ensure_tag(self, version: Version) -> None:
        """Create the version's tag if it is missing (after a crash).

        Call under the lock. The tag's lock file is hardlinked to its name:
        ``link`` never replaces an existing file, so a tag is never
        overwritten, and readers see no tag or a complete one. (dulwich's
        ``add_if_new`` would parse all of ``packed-refs`` first, which grows
        with the history.)

        Raises:
            ConflictError: If the version's id is taken by another commit.
        """
        current = self.refs.create_tag(str(version.id), version.commit)
        if current != version.commit:
            raise ConflictError(
                f"version id {version.id} is already taken by commit "
                f"{current}; refusing to create a duplicate"
            )

    def ensure_tags(
        self, *, full: bool = False, tip: str | None = None
    ) -> list[Version]:
        """Tag every version reachable from ``main`` that has no tag yet.

        Commits made with plain git and pushed into the repository arrive
        without tags; the walk stops at commits already tagged correctly,
        unless ``full`` (then every version is checked). Call under the lock.

        Args:
            full: Check every version, not only down to the first tagged one.
            tip: Walk from this commit instead of ``main`` (the other side of
                a merge, whose versions arrive untagged from a fetch).

        Returns:
            The versions tagged now.

        Raises:
            ConflictError: If a version's id is taken by another commit.
        """
        head = self.head() if tip is None else tip
        tagged: list[Version] = []

        def step(commit: str) -> tuple[str, ...]:
            # Tags each commit the walk meets; a correct tag ends the walk there.
            version = self.version(commit)
            if self.tag_target(version.id) != commit:
                self.ensure_tag(version)
                tagged.append(version)
            elif not full:
                return ()
            return version.parents

        graph.ancestors(step, [head] if head else [])
        self.flush_caches()
        return tagged

    def record(
        self,
        source: Source,
        *,
        message: str | None,
        source_label: str | None,
        force: bool = False,
        timestamp: int | None = None,
        parents: Sequence[str] | None = None,
    ) -> tuple[Version, bool]:
        """Record ``source`` as a new version on top of ``main``.

        The caller holds the lock (see :meth:`lock`).

        Args:
            source: The scanned content.
            message: The version's message; a default names the id.
            source_label: Where the content came from (one line); None keeps
                the newest version's source (``"local"`` for a first version).
            force: Record even when the content equals the newest version.
            timestamp: Commit time in seconds since the epoch (default: now).
            parents: Parent commits; default: the current head, if any.

        Returns:
            The version, and whether it is new (False: unchanged, none created).

        Raises:
            InputError: For a source label or message that cannot be recorded.
            ConflictError: If the new id is taken or ``main`` moved meanwhile.
            UnfinishedError: If ``main`` names the new version but its tag
                could not be written (``ensure_tags`` writes it later).
        """
        if source_label is not None and (
            "\n" in source_label or "\r" in source_label or not source_label.strip()
        ):
            raise InputError("the source label must be a single non-empty line")
        self.clear_stale_locks()
        head = self.head()
        parent_commits = (
            list(parents) if parents is not None else ([head] if head else [])
        )
        latest = self.version(head) if head else None
        if source_label is None:
            # Keep the artifact's provenance, but "git" only described one commit.
            inherited = latest.source if latest is not None else LOCAL_SOURCE
            source_label = LOCAL_SOURCE if inherited == GIT_SOURCE else inherited
        if latest is not None:
            self.ensure_tags()  # after a crash, or commits pushed with plain git
        cache = (
            StatCache(self.path / _CACHE_DIR / _STAT_CACHE, source, self.algorithms)
            if self.use_cache and source.scanned_at
            else None
        )
        sink = _StoreSink(self, cache)
        try:
            ids = hash_source(
                source, self.algorithms, sink, known=cache.known if cache else None
            )
            # A new tree may name blobs only the cache vouched for: they must
            # exist (they may have been pruned); if one is missing, read all.
            if (
                cache is not None
                and cache.hits
                and sink.new_trees
                and not all(self.has_object(i[-1].hex()) for i in cache.hits)
            ):
                ids = hash_source(source, self.algorithms, sink)
        except BaseException:
            sink.discard()  # leave the store exactly as it was
            raise
        content, storage_tree = ids[0].hex(), ids[-1].hex()
        unchanged = (
            latest is not None
            and latest.hash == content
            and not force
            and parents is None
        )
        if unchanged:
            self.flush_caches()
            if cache is not None:
                cache.save()
            assert latest is not None
            return latest, False
        try:
            commit_id = self._commit(
                sink,
                storage_tree,
                content,
                parent_commits,
                message,
                source_label,
                timestamp,
            )
            if not self.refs.move_main(head, commit_id):
                raise ConflictError("refs/heads/main moved while recording; try again")
        except BaseException:
            sink.discard()  # nothing refers to them: leave the store as it was
            raise
        version = self._recorded_version(commit_id, content)
        if cache is not None:
            cache.save()
        return version, True

    def record_tree(
        self,
        tree: str,
        parents: Sequence[str],
        *,
        message: str,
        source_label: str = LOCAL_SOURCE,
        timestamp: int | None = None,
    ) -> Version:
        """Record a tree already in the store as a new version on ``main``.

        For versions that come from somewhere other than a scanned source: a
        merge's result, a revert. The tree passes the same strict check as a
        snapshot's; its content hash is derived from it. The caller holds the
        lock.

        Args:
            tree: The tree id, in the repository's own format.
            parents: The parent commits, in order (``[ours, theirs]`` for a
                merge); ``main`` must be the first, or absent in an empty
                history.
            message: The version's message.
            source_label: Where the content came from (one line).
            timestamp: Commit time in seconds since the epoch (default: now).

        Returns:
            The new version.

        Raises:
            ConflictError: If the new id is taken or ``main`` moved meanwhile.
            SourceError: If the tree would not be written to disk safely.
            UnfinishedError: If ``main`` names the new version but its tag
                could not be written.
        """
        self.clear_stale_locks()
        head = self.head()
        content = self.sha256_of_tree(tree)
        sink = _StoreSink(self)
        try:
            commit_id = self._commit(
                sink, tree, content, list(parents), message, source_label, timestamp
            )
            if not self.refs.move_main(head, commit_id):
                raise ConflictError("refs/heads/main moved while recording; try again")
        except BaseException:
            sink.discard()
            raise
        return self._recorded_version(commit_id, content)

    def write_objects(self, objects: Iterable[tuple[bytes, bytes]]) -> list[str]:
        """Store ``(kind, body)`` objects that are missing, durably (hold the lock).

        For content built rather than scanned (a merge's blobs and trees):
        each object file and its directories are fsynced before this returns,
        so a ref may name them next.

        Returns:
            The ids of the objects written now (those already stored are not).
        """
        sink = _StoreSink(self)
        try:
            for kind, body in objects:
                storage = hash_object(self.algorithms[-1], kind, body)
                if not self.has_object(storage.hex()):
                    raw = write_loose(
                        self.objects_dir,
                        self.algorithms[-1],
                        kind,
                        len(body),
                        iter((body,)),
                        synced_dirs=sink.dirs,
                    )
                    sink.written.append(raw)
            sink.sync()
        except BaseException:
            sink.discard()
            raise
        return [raw.hex() for raw in sink.written]

    def _recorded_version(self, commit_id: str, content: str) -> Version:
        """What follows ``main`` moving to a new commit: the caches and its tag."""
        self._hashes[commit_id] = content
        self._recorded.add(commit_id)
        version = self.version(commit_id)
        try:
            self.ensure_tag(version)
        except Exception as exc:
            # main names the commit: the version is recorded, only its tag is not.
            raise UnfinishedError(
                f"recorded {version.id}, but could not write its tag: {exc}",
                version,
                ("tag",),
            ) from exc
        self.flush_caches()
        return version

    def _commit(
        self,
        sink: _StoreSink,
        storage_tree: str,
        content: str,
        parent_commits: list[str],
        message: str | None,
        source_label: str,
        timestamp: int | None,
    ) -> str:
        """Check the tree, then write (and sync) the commit of a new version."""
        try:
            # Refuse now what export would refuse later: never record a
            # version that cannot be materialized.
            self.check_tree(storage_tree)
        except UnsafePathError as exc:
            raise SourceError(f"cannot snapshot: {exc}") from exc
        number = 1 + max((self._number(p) for p in parent_commits), default=0)
        version_id = VersionId.for_hash(number, content)
        taken = self.tag_target(version_id)
        if taken is not None:
            raise ConflictError(
                f"version id {version_id} already exists in this history "
                f"(commit {taken}); refusing a duplicate"
            )
        when = int(time.time()) if timestamp is None else int(timestamp)
        commit = Commit()
        commit.tree = ObjectID(storage_tree.encode())
        commit.parents = [ObjectID(p.encode()) for p in parent_commits]
        commit.author = commit.committer = _identity()
        commit.author_time = commit.commit_time = when
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = join_message(message or f"Snapshot {version_id}", source_label)
        body = commit.as_raw_string()
        raw = write_loose(
            self.objects_dir,
            self.algorithms[-1],
            b"commit",
            len(body),
            iter((body,)),
            synced_dirs=sink.dirs,
        )
        sink.written.append(raw)
        sink.sync()  # every object is durable before main names the commit
        return raw.hex()

    def set_kind(self, kind: str) -> None:
        """Record whether the artifact is a directory or a single file."""
        config = self.repo.get_config()
        config.set((b"gitversions",), b"kind", kind.encode())
        config.write_to_path()

    def kind(self) -> str | None:
        """Return ``"dir"`` or ``"file"`` as recorded at the first snapshot."""
        try:
            value = self.repo.get_config().get((b"gitversions",), b"kind")
        except KeyError:
            return None
        text = value.decode("ascii", "replace")
        return text if text in ("dir", "file") else None


# -- the strict tree check ---------------------------------------------------------


def _encode_info(info: _CommitInfo) -> str:
    return json.dumps(
        [
            list(info.parents),
            info.tree,
            info.time,
            info.message.decode("utf-8", "surrogateescape"),
        ],
        separators=(",", ":"),
    )


def _is_hex_list(value: object) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, str) and x.isalnum() for x in value
    )


def _bulk_decode(
    lines: dict[str, str], convert: Callable[[Any], _T | None]
) -> dict[str, _T]:
    """Decode many cached JSON lines in one ``json.loads``; {} if any is torn."""
    if not lines:
        return {}
    try:
        values = json.loads("[" + ",".join(lines.values()) + "]")
    except ValueError:
        return {}
    if len(values) != len(lines):
        return {}  # a line held more than one value
    decoded = {}
    for key, value in zip(lines, values, strict=True):
        item = convert(value)
        if item is not None:
            decoded[key] = item
    return decoded


def _decode_info(raw: str) -> _CommitInfo | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None  # a torn line: read the commit instead
    return _info_of(value)


def _info_of(value: Any) -> _CommitInfo | None:
    try:
        parents, tree, when, message = value
    except (TypeError, ValueError):
        return None
    if not (
        _is_hex_list(parents)
        and isinstance(tree, str)
        and isinstance(when, int)
        and isinstance(message, str)
    ):
        return None
    return _CommitInfo(
        tuple(parents), tree, when, message.encode("utf-8", "surrogateescape")
    )


def _decode_changes(raw: str) -> Changes | None:
    try:
        lists = json.loads(raw)
    except ValueError:
        return None
    return _changes_of(lists)


def _changes_of(lists: Any) -> Changes | None:
    # Plain loops: this runs once per version when log loads the cache.
    if type(lists) is not list or len(lists) != 3:
        return None
    for paths in lists:
        if type(paths) is not list:
            return None
        for path in paths:
            if type(path) is not str:
                return None
    return Changes(tuple(lists[0]), tuple(lists[1]), tuple(lists[2]))


def _ref_text(ref: Ref) -> str:
    if isinstance(ref, LatestRef):
        return f"latest~{ref.back}" if ref.back else "latest"
    if isinstance(ref, VersionIdRef):
        return str(ref.id)
    if isinstance(ref, NumberRef):
        return f"v{ref.number}"
    assert isinstance(ref, HashPrefixRef)
    return ref.prefix

"""Moving objects between two repositories on this machine, as ``git clone --local``.

A push to, or a fetch from, a path needs no pack stream: the objects the target
lacks are found by walking from the wanted commits, and each loose object is
hard-linked into the target (copied where a link cannot be made). Every object
is checked on the way, its content hashed against its name, so a damaged or
hostile source cannot plant an object under a false id. Objects the source
keeps in packs are written to the target as new packs by dulwich, which
computes their ids from their content.

Objects are written in dependency order, as git does: blobs, then trees (each
after its subtrees), then commits (each after its parents), then tags. A
process killed at any instant thus leaves only objects whose whole closure is
present, which is what :func:`missing_objects` relies on when it takes an
object the target has to come with everything it refers to. A pack is
visible only once its index is written, all its objects at once; a pack is
written before any loose object that refers into it.

A fetch receives into a :class:`Quarantine`, as git's ``receive-pack`` does: a
temporary object directory beside the history's own, read through to it, that
the history's object store stands in for while the remote's objects are
checked. Only what passes every check is moved in; the rest goes with the
directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import zlib
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from dulwich.errors import ChecksumMismatch, ObjectFormatException
from dulwich.object_store import BaseObjectStore, DiskObjectStore
from dulwich.objects import Commit, ObjectID, ShaFile, Tag, Tree
from dulwich.repo import Repo

from gitversions.errors import CorruptionError, naming
from gitversions.fs.atomic import fsync_dir
from gitversions.git.loose import QUARANTINE_PREFIX, loose_path

__all__ = [
    "QUARANTINE_PREFIX",
    "Missing",
    "Quarantine",
    "copy_objects",
    "dependency_order",
    "missing_objects",
]

_HEX = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")
_GITLINK = 0o160000
_TREE = 0o040000


def _get(repo: Repo, oid: bytes) -> ShaFile:
    if not _HEX.fullmatch(oid):
        # A damaged or hostile commit naming "../x" must not become a path.
        raise CorruptionError(f"invalid object id {oid!r} in {repo.path}")
    try:
        return repo.object_store[ObjectID(oid)]
    except KeyError:
        raise CorruptionError(
            f"object {oid.decode('ascii', 'replace')} is missing from "
            f"{repo.path}; its history is incomplete"
        ) from None
    except (ChecksumMismatch, ObjectFormatException, ValueError) as exc:
        raise CorruptionError(
            f"object {oid.decode('ascii', 'replace')} does not match its content "
            f"({exc})"
        ) from None


@dataclass
class Missing:
    """What a target lacks: object ids in walk order, and what the walk learnt.

    Attributes:
        ids: Every missing object.
        commits: The missing commits: their parents and tree.
        trees: The missing trees, parsed.
        tags: The missing annotated tags: the object each names.
        checked: Objects already read and found to match their ids.
    """

    ids: list[bytes] = field(default_factory=list)
    commits: dict[bytes, tuple[list[bytes], bytes]] = field(default_factory=dict)
    trees: dict[bytes, Tree] = field(default_factory=dict)
    tags: dict[bytes, bytes] = field(default_factory=dict)
    checked: set[bytes] = field(default_factory=set)


def _read(source: Repo, oid: bytes, missing: Missing) -> ShaFile:
    obj = _get(source, oid)
    if obj.id != oid:
        raise CorruptionError(
            f"object {oid.decode('ascii', 'replace')} does not match its content"
        )
    missing.checked.add(oid)
    return obj


def missing_objects(source: Repo, target: Repo, wants: Iterable[bytes]) -> Missing:
    """The objects reachable from ``wants`` in ``source`` that ``target`` lacks.

    A commit (or tree) the target has is taken to come with its whole closure,
    as git assumes of a connected repository: :func:`copy_objects` writes
    every object after all it refers to, so even a copy killed half-way
    leaves no object without its closure. Commits, tags and trees are read
    (and checked against their ids) on the way; blobs are only listed.
    """
    store = target.object_store
    # A target without refs (a new clone) has nothing worth asking about.
    empty = not target.get_refs()

    def has(oid: bytes) -> bool:
        return not empty and ObjectID(oid) in store

    seen: set[bytes] = set()
    missing = Missing()
    found = missing.ids
    commits = list(wants)
    trees: list[bytes] = []
    while commits:
        oid = commits.pop()
        if oid in seen or has(oid):
            continue
        seen.add(oid)
        obj = _read(source, oid, missing)
        if isinstance(obj, Tree):  # a tag naming a tree: walk it as one
            seen.discard(oid)
            trees.append(oid)
            continue
        found.append(oid)
        if isinstance(obj, Tag):
            missing.tags[oid] = obj.object[1]
            commits.append(obj.object[1])
        elif isinstance(obj, Commit):
            missing.commits[oid] = (list(obj.parents), obj.tree)
            commits.extend(obj.parents)
            trees.append(obj.tree)
    while trees:
        oid = trees.pop()
        if oid in seen or has(oid):
            continue
        seen.add(oid)
        tree = _read(source, oid, missing)
        if not isinstance(tree, Tree):
            raise CorruptionError(f"object {oid.decode()} should be a tree")
        missing.trees[oid] = tree
        found.append(oid)
        for entry in tree.iteritems():
            if entry.mode == _GITLINK:
                continue
            if entry.mode == _TREE:
                trees.append(entry.sha)
            elif entry.sha not in seen and not has(entry.sha):
                seen.add(entry.sha)
                found.append(entry.sha)
    return missing


def _check_loose(data: bytes, hex_id: str, algorithm: str) -> None:
    try:
        raw = zlib.decompress(data)
    except zlib.error:
        raise CorruptionError(f"object {hex_id} is not valid zlib data") from None
    kind, _, rest = raw.partition(b" ")
    size, nul, _body = rest.partition(b"\0")
    if (
        kind not in (b"blob", b"tree", b"commit", b"tag")
        or not nul
        or not size.isdigit()
        or int(size) != len(_body)
        or hashlib.new(algorithm, raw).hexdigest() != hex_id
    ):
        raise CorruptionError(f"object {hex_id} does not match its content")


def _postorder(
    roots: Iterable[bytes], deps: Callable[[bytes], Iterable[bytes]]
) -> list[bytes]:
    """``roots`` ordered so that each comes after the ``deps`` it has among them."""
    members = set(roots)
    order: list[bytes] = []
    state: set[bytes] = set()
    for root in roots:
        if root in state:
            continue
        state.add(root)
        stack = [(root, iter(deps(root)))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child in members and child not in state:
                    state.add(child)
                    stack.append((child, iter(deps(child))))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def dependency_order(missing: Missing) -> list[tuple[bytes, list[bytes]]]:
    """The missing objects, each after every missing object it refers to.

    Blobs first, then trees (subtrees first), then commits (parents first),
    then tags; each with the objects it refers to.
    """

    def tree_deps(oid: bytes) -> list[bytes]:
        return [e.sha for e in missing.trees[oid].iteritems() if e.mode != _GITLINK]

    def commit_deps(oid: bytes) -> list[bytes]:
        parents, tree = missing.commits[oid]
        return [*parents, tree]

    def tag_deps(oid: bytes) -> list[bytes]:
        return [missing.tags[oid]]

    kinds = (missing.trees, missing.commits, missing.tags)
    blobs = [oid for oid in missing.ids if not any(oid in kind for kind in kinds)]
    ordered: list[tuple[bytes, list[bytes]]] = [(oid, []) for oid in blobs]
    for kind, deps in (
        (missing.trees, tree_deps),
        (missing.commits, commit_deps),
        (missing.tags, tag_deps),
    ):
        roots = [oid for oid in missing.ids if oid in kind]
        ordered += [(oid, deps(oid)) for oid in _postorder(roots, deps)]
    return ordered


def copy_objects(  # noqa: C901, PLR0915 - one crash-safe sequence: link, pack or copy, then fsync, in this order
    source: Repo,
    target: Repo,
    missing: Missing,
    progress: Callable[[int, int, int], None] | None = None,
) -> int:
    """Put the objects ``missing`` of ``source`` into ``target``; return bytes moved.

    Every object is written after all the objects it refers to (see
    :func:`dependency_order`), so a copy killed at any instant leaves no
    object in ``target`` whose closure is incomplete, and the next
    :func:`missing_objects` finds what is still lacking.

    Args:
        source: Where the objects are.
        target: Where they go (same object format).
        missing: What :func:`missing_objects` found.
        progress: Called with (objects done, objects in all, bytes moved).

    Raises:
        CorruptionError: If an object does not match its id.
    """
    algorithm = source.object_format.name
    src_dir = Path(os.fsdecode(source.object_store.path))
    dst_dir = Path(os.fsdecode(target.object_store.path))
    packed: list[tuple[ShaFile, str | None]] = []  # waiting to be written as a pack
    pending: set[bytes] = set()  # their ids
    dirs: set[Path] = set()
    dirty: set[Path] = set()  # directories with links not yet flushed
    moved = 0

    def sync() -> None:
        # objects/ last: it names the fan-out directories synced before it.
        for directory in sorted(dirty, key=lambda d: d == dst_dir):
            fsync_dir(directory)
        dirty.clear()

    def flush_pack() -> None:
        # Loose objects the pack refers to are on disk first; then the pack
        # appears whole when dulwich writes its index.
        sync()
        if packed:
            target.object_store.add_objects(packed)
        packed.clear()
        pending.clear()

    ordered = dependency_order(missing)
    total = len(ordered)
    for done, (oid, deps) in enumerate(ordered, 1):
        if not _HEX.fullmatch(oid):
            raise CorruptionError(f"invalid object id {oid!r}")
        hex_id = oid.decode("ascii")
        src = loose_path(src_dir, hex_id)
        try:
            data = src.read_bytes()
        except FileNotFoundError:
            packed.append((_get(source, oid), None))
            pending.add(oid)
            if progress is not None:
                progress(done, total, moved)
            continue
        if pending and any(dep in pending for dep in deps):
            flush_pack()  # what this object refers to must be there before it
        if oid not in missing.checked:
            _check_loose(data, hex_id, algorithm)
        moved += len(data)
        dst = loose_path(dst_dir, hex_id)
        if dst.parent not in dirs:
            try:
                dst.parent.mkdir()
            except FileExistsError:
                pass
            else:
                dirty.add(dst_dir)  # objects/ now names a new directory
            dirs.add(dst.parent)
        try:
            os.link(src, dst)
        except FileExistsError:
            pass
        except OSError:  # another filesystem, or links not allowed: copy
            tmp = dst.with_name(f"tmp_obj_{os.getpid()}_{dst.name}")
            try:
                with naming(dst), tmp.open("xb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o444)
                os.replace(tmp, dst)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()
        dirty.add(dst.parent)
        if progress is not None:
            progress(done, total, moved)
    flush_pack()
    return moved


# -- the quarantine ----------------------------------------------------------------


class _QuarantineStore(DiskObjectStore):
    """A temporary object directory whose reads fall through to other stores."""

    def __init__(self, path: Path, main: DiskObjectStore) -> None:
        super().__init__(
            str(path), object_format=main.object_format, fsync_object_files=True
        )
        self.bases: list[BaseObjectStore] = [main]

    @property
    def alternates(self) -> list[BaseObjectStore]:
        """The stores read after this one: the repository's, a local source's."""
        return self.bases


class Quarantine:
    """Objects received but not trusted yet, kept apart from a repository's own.

    While it is open, ``repo.object_store`` is a temporary directory
    ``objects/tmp_objdir-incoming-*`` whose reads fall through to the
    repository's own store (and to a local source's, see
    :meth:`read_through`): a transfer writes its pack there, and every read
    (the graph walk, the checks) sees both. :meth:`accept` moves in what
    passed the checks; :meth:`close` gives the repository its store back and
    deletes the directory with whatever was not accepted. A process killed
    meanwhile leaves only that directory, which the next writer sweeps.

    Args:
        repo: The repository receiving objects (its writer lock held).
    """

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.main = repo.object_store
        objects = Path(os.fsdecode(self.main.path))
        self.path = objects / f"{QUARANTINE_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        self.source: Repo | None = None
        self.received: Missing | None = None
        self.path.mkdir()
        try:
            (self.path / "pack").mkdir()
            self.store = _QuarantineStore(self.path, self.main)
        except BaseException:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        repo.object_store = self.store

    def __enter__(self) -> Quarantine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Give the repository its own store back; drop what was not accepted."""
        self.repo.object_store = self.main
        self.store.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def read_through(self, source: Repo, received: Missing) -> None:
        """Read a local source's objects where they are until they are accepted.

        Args:
            source: The repository fetched from (open until :meth:`accept`).
            received: What :func:`missing_objects` found the repository lacks.
        """
        self.source, self.received = source, received
        self.store.bases.append(source.object_store)

    def accept(
        self,
        tips: Iterable[bytes],
        checked: Collection[bytes],
        progress: Callable[[int, int, int], None] | None = None,
    ) -> bool:
        """Move in the objects reachable from ``tips``, which passed every check.

        When every object received was checked (is in ``checked``) or was in
        the repository already, all of it moves in at once: a received pack
        by two renames (its index last, which makes it visible), a local
        source's objects by :func:`copy_objects`. Otherwise only what
        ``tips`` reach is copied, in dependency order; the rest stays out.

        Args:
            tips: The commits the caller will reference.
            checked: Every object the checks read and passed.
            progress: Called as :func:`copy_objects` calls it.

        Returns:
            True if everything received was moved in.
        """
        if self.source is not None and self.received is not None:
            self.repo.object_store = self.main
            received = self.received
            whole = all(oid in checked for oid in received.ids)
            if not whole:
                received = missing_objects(self.source, self.repo, tips)
            copy_objects(self.source, self.repo, received, progress)
            return whole
        packs = sorted((self.path / "pack").glob("pack-*.pack"))
        if not self._has_loose() and all(
            oid in checked or oid in self.main
            for pack in self.store.packs
            for oid in pack.index
        ):
            self.repo.object_store = self.main
            self.store.close()
            self._move_packs(packs)
            return True
        self._copy_closure(tips, progress)
        return False

    def _has_loose(self) -> bool:
        return any(len(p.name) == 2 for p in self.path.iterdir())

    def _copy_closure(
        self, tips: Iterable[bytes], progress: Callable[[int, int, int], None] | None
    ) -> None:
        """Copy what ``tips`` reach from the quarantine (read through it) in."""
        own = Repo(os.fsdecode(os.fspath(self.repo.path)))  # the store of its own
        try:
            wanted = missing_objects(self.repo, own, tips)
            copy_objects(self.repo, own, wanted, progress)
        finally:
            own.close()
        self.repo.object_store = self.main
        _ = self.main.packs  # notice the new pack

    def _move_packs(self, packs: list[Path]) -> None:
        target = Path(os.fsdecode(self.main.pack_dir))
        for pack in packs:
            index = pack.with_suffix(".idx")
            if (target / index.name).exists():
                continue  # the same objects (a pack is named after them), in already
            try:
                os.rename(pack, target / pack.name)
                fsync_dir(target)
                os.rename(index, target / index.name)
            except BaseException:
                # A pack without its index is invisible: take it out again.
                if not (target / index.name).exists():
                    with contextlib.suppress(OSError):
                        (target / pack.name).unlink()
                raise
            fsync_dir(target)
        _ = self.main.packs  # notice the new packs

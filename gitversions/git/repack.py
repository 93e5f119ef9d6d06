"""Packing a history: delta-compressed packs, big blobs left loose.

dulwich's own ``repack`` stores objects whole (no deltas) and holds every
object in memory, and its reachability walk loads every blob. Here:

- objects are written into one pack with deltas (dulwich's Rust
  ``create_delta``, a window of :data:`WINDOW` objects sorted by type, file
  name and size, as git does), with chains at most :data:`MAX_DEPTH` deep so
  reading a version never applies thousands of deltas;
- blobs larger than :data:`BIG_BLOB` stay loose: packing would load them whole,
  while loose objects are written and read in chunks (``_loose.py``);
- the pack is written and fsynced by dulwich (temporary name, then rename)
  before any loose object or old pack it replaces is deleted, so a crash at any
  instant leaves every object readable;
- :func:`auto_repack` runs after a snapshot when loose objects or packs pass a
  threshold (estimated from one fan-out directory, like ``git gc --auto``), so
  a long series of snapshots keeps few files and few open descriptors.

The caller holds the artifact's lock.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from dulwich.objects import Blob, Commit, ObjectID, ShaFile, Tag, Tree
from dulwich.pack import UnpackedObject, create_delta
from dulwich.refs import Ref

from gitversions.errors import naming
from gitversions.fs.atomic import fsync_dir
from gitversions.git.loose import loose_path

if TYPE_CHECKING:
    from gitversions.git.history import History

__all__ = [
    "AUTO_LOOSE",
    "AUTO_PACKS",
    "BIG_BLOB",
    "MAX_DEPTH",
    "RepackStats",
    "auto_repack",
    "gc",
    "geometric_merge",
    "geometric_split",
    "loose_header",
    "loose_ids",
    "pack_tags",
    "repack",
]

BIG_BLOB = 16 << 20
WINDOW = 10
MAX_DEPTH = 50
AUTO_LOOSE = 512  # about as many loose objects before they are packed
AUTO_PACKS = 8  # packs before they are merged into one
# Sampled directories (git samples "17" alone; 16 are steadier for few objects).
_FANOUT = tuple(f"1{d}" for d in "0123456789abcdef")
GRACE_SECONDS = 14 * 24 * 3600
# Delta pre-filter (see similar()): sizes up to _SMALL are sampled with shorter
# needles and a looser bar, as one edited tree entry spoils a larger share.
_SMALL = 8 << 10
_NEEDLE = 32
_SMALL_NEEDLE = 12
_SAMPLE_EVERY = 4 << 10
_MIN_SAMPLES = 64
_MAX_SAMPLES = 4096
_NEAR = 64 << 10
# unmatched bytes x base bytes: create_delta does roughly 1e11 of these per
# second (less on random data), so one attempt stays within about 0.2 s.
_DELTA_BUDGET = 16 << 30
# A delta this small (plus 1/64 of the object) ends the window search early:
# the closest neighbour of a one-line edit is found first, and trying the
# other nine cost most of an automatic repack's time.
_GOOD_DELTA = 64
# Below this size a delta saves a few dozen bytes and each create_delta call
# still costs ~0.1 ms (commits: 10 tries each, most of an automatic repack).
_MIN_DELTA = 512


@dataclass
class RepackStats:
    """What a repack or gc did."""

    loose_objects_before: int = 0
    loose_objects_after: int = 0
    packs_before: int = 0
    packs_after: int = 0
    packed_tags: int = 0
    pruned_objects: list[str] = field(default_factory=list)


def loose_ids(history: History) -> Iterator[str]:
    """Yield the ids of the history's loose objects (not temporaries)."""
    try:
        fanout = os.scandir(history.objects_dir)
    except OSError:
        return
    with fanout:
        for directory in fanout:
            name = directory.name
            if len(name) != 2 or not directory.is_dir():
                continue
            with os.scandir(directory.path) as files:
                for item in files:
                    if len(item.name) in (38, 62) and not item.name.startswith("tmp"):
                        yield name + item.name


def _pack_names(history: History) -> list[str]:
    try:
        names = os.listdir(history.objects_dir / "pack")
    except OSError:
        return []
    # Only real packs: a ``tmp*.pack`` is being written (or was left by a
    # killed writer) and is neither merged nor counted.
    return sorted(
        n[: -len(".pack")]
        for n in names
        if n.startswith("pack-") and n.endswith(".pack")
    )


def loose_header(history: History, hex_id: str) -> tuple[bytes, int] | None:
    """A loose object's kind and size from its header; None if unreadable."""
    import zlib

    path = loose_path(history.objects_dir, hex_id)
    try:
        with path.open("rb") as f:
            head = zlib.decompressobj().decompress(f.read(512), 64)
    except (OSError, zlib.error):
        return None
    kind, _, rest = head.partition(b" ")
    size, nul, _ = rest.partition(b"\0")
    if not nul or not size.isdigit():
        return None
    return kind, int(size)


def _deltas(
    objects: list[tuple[ShaFile, bytes | None]],
) -> Iterator[UnpackedObject]:
    """Yield pack records, deltified against a window of similar objects."""
    order = sorted(
        objects,
        key=lambda e: (e[0].type_num, e[1] or b"", -e[0].raw_length(), e[0].id),
    )
    window: deque[tuple[bytes, int, bytes, int, bytes | None]] = deque()
    depth: dict[bytes, int] = {}
    for obj, hint in order:
        raw = obj.as_raw_string()
        sha = obj.sha().digest()
        best: list[bytes] | bytes = raw
        best_len = len(raw)
        best_base: bytes | None = None
        # Deltas of tiny objects cost more than they save; unrelated objects
        # (another file name, a very different size) rarely share anything,
        # and searching them is slow (quadratic on random data).
        if len(raw) > _MIN_DELTA:
            for base_id, base_type, base_raw, base_depth, base_hint in window:
                if (
                    base_type != obj.type_num
                    or base_depth >= MAX_DEPTH
                    or base_hint != hint
                    or not len(raw) // 2 <= len(base_raw) <= len(raw) * 2
                ):
                    continue
                if not similar(base_raw, raw):
                    continue
                delta = b"".join(create_delta(base_raw, raw))
                if len(delta) < best_len:
                    best, best_len, best_base = delta, len(delta), base_id
                    if best_len <= _GOOD_DELTA + len(raw) // 64:
                        break  # a neighbour differing by an edit: good enough
        depth[sha] = depth[best_base] + 1 if best_base is not None else 0
        chunks = [best] if isinstance(best, bytes) else best
        yield UnpackedObject(
            obj.type_num,
            sha=sha,
            delta_base=best_base,
            decomp_len=best_len,
            decomp_chunks=chunks,
        )
        window.appendleft((sha, obj.type_num, raw, depth[sha], hint))
        while len(window) > WINDOW:
            window.pop()


def similar(base: bytes, target: bytes) -> bool:
    """Tell cheaply whether ``target`` is mostly made of pieces of ``base``.

    dulwich's ``create_delta`` costs about (bytes of ``target`` found nowhere in
    ``base``) x (size of ``base``): a millisecond for a one-line edit of a
    4 MiB file, but minutes for two unrelated multi-MB blobs of one file name
    (a regenerated image), and still ~50 ms for two unrelated 4 KiB trees (the
    same directory name in many places of a big tree: tried against a window of
    ten, it made a snapshot's repack quadratic in the files per directory). So a
    delta is only attempted when slices taken evenly across ``target`` (one per
    4 KiB, at least 64) nearly all occur in ``base`` (each test is a C-speed
    ``bytes.find``, first near the slice's expected place), and the unmatched
    bytes they suggest keep one attempt within :data:`_DELTA_BUDGET`. Up to
    :data:`_SMALL`, slices are shorter and a quarter may miss: a tree with a few
    changed entries still deltas, sibling trees and random data do not.
    """
    if len(target) <= _MIN_DELTA:
        return True  # never deltified anyway (see _deltas)
    small = len(target) <= _SMALL or len(base) <= _SMALL
    needle = _SMALL_NEEDLE if small else _NEEDLE
    samples = min(max(len(target) // _SAMPLE_EVERY, _MIN_SAMPLES), _MAX_SAMPLES)
    step = (len(target) - needle) // (samples - 1)
    allowed = samples // 4 if small else samples // 16
    near = _NEAR + abs(len(base) - len(target))
    missing = 0
    for i in range(samples):
        start = i * step
        piece = target[start : start + needle]
        guess = start * len(base) // len(target)
        if base.find(piece, max(0, guess - near), guess + near + needle) >= 0:
            continue
        if base.find(piece) >= 0:
            continue
        missing += 1
        # The first miss is the edit itself; each further one may hide up to
        # one step of bytes that create_delta would search all of base for.
        if missing > allowed or (missing - 1) * step * len(base) > _DELTA_BUDGET:
            return False
    return True


def _hints(objects: Iterable[ShaFile]) -> dict[bytes, bytes]:
    # A blob's file name groups versions of one file together for deltas.
    names: dict[bytes, bytes] = {}
    for obj in objects:
        if isinstance(obj, Tree):
            for item in obj.iteritems():
                names.setdefault(item.sha, item.path)
    return names


def repack(  # noqa: C901 - the gc sequence must stay in one order: pack, fsync, then delete
    history: History,
    *,
    everything: bool = False,
    merge: frozenset[str] = frozenset(),
    exclude: frozenset[str] = frozenset(),
) -> RepackStats:
    """Pack loose objects (and, with ``everything``, merge every pack) into one.

    Args:
        history: The history (its lock held).
        everything: Also rewrite the objects of existing packs, merging them.
        merge: Names (``pack-<id>``) of existing packs to merge into the new
            one (see :func:`geometric_merge`); ``everything`` means all.
        exclude: Object ids to leave out (unreachable ones being pruned).

    Returns:
        What was done.
    """
    stats = RepackStats()
    store = history.repo.object_store
    packs_before = _pack_names(history)
    stats.packs_before = len(packs_before)
    loose: list[str] = []
    objects: dict[str, ShaFile] = {}
    for hex_id in loose_ids(history):
        stats.loose_objects_before += 1
        if hex_id in exclude:
            continue
        header = loose_header(history, hex_id)
        if header is None:
            continue  # damaged: leave it for verify to report
        if header[0] == b"blob" and header[1] > BIG_BLOB:
            continue  # stays loose, streamed
        obj = store[ObjectID(hex_id.encode())]
        objects[hex_id] = obj
        loose.append(hex_id)
    selected = set(packs_before) if everything else set(merge) & set(packs_before)
    old_packs = [
        pack for pack in store.packs if os.path.basename(pack._basename) in selected
    ]
    for pack in old_packs:
        for obj in pack.iterobjects():
            hex_id = obj.id.decode("ascii")
            if hex_id not in exclude:
                objects.setdefault(hex_id, obj)
    new_name: str | None = None
    if objects:
        names = _hints(objects.values())
        records = list(_deltas([(obj, names.get(obj.id)) for obj in objects.values()]))
        # dulwich writes the pack and its index under temporary names, fsyncs
        # them (fsync_object_files) and renames them into place.
        with naming(history.objects_dir / "pack"):  # a full disk names where
            new_pack = store.add_pack_data(len(records), iter(records))
        if new_pack is not None:
            new_name = os.path.basename(new_pack._basename)
    # Only now that the pack is durable may what it replaces go.
    for hex_id in (*loose, *exclude):
        with contextlib.suppress(OSError):
            loose_path(history.objects_dir, hex_id).unlink()
    if selected:
        for pack in old_packs:
            pack.close()
        for name in sorted(selected):
            if name == new_name:
                continue
            base = history.objects_dir / "pack" / name
            for suffix in (".pack", ".idx", ".keep", ".bitmap", ".rev"):
                with contextlib.suppress(OSError):
                    os.unlink(f"{base}{suffix}")
    for directory in {hex_id[:2] for hex_id in (*loose, *exclude)}:
        with contextlib.suppress(OSError):
            (history.objects_dir / directory).rmdir()  # only if now empty
    history.refresh_packs()
    stats.packed_tags = pack_tags(history)
    stats.packs_after = len(_pack_names(history))
    stats.loose_objects_after = sum(1 for _ in loose_ids(history))
    return stats


def pack_tags(history: History) -> int:
    """Move loose version tags into ``packed-refs``, crash-safely.

    dulwich's ``pack_refs`` and ``add_packed_refs`` delete the loose refs
    *before* the new ``packed-refs`` is renamed into place, so a kill between
    the two loses every tag. Here the complete file (every ref already packed,
    plus every loose tag) is written under git's ``packed-refs.lock`` protocol,
    fsynced and renamed in first; only then are the loose tags it now holds
    deleted. A kill at any instant leaves each tag loose, packed, or both with
    the same value. Readers list loose refs before packed ones (dulwich and
    git), so a concurrent reader never misses a tag either. ``main`` and other
    branches stay loose: they move by compare-and-swap on their loose file.

    Args:
        history: The history (its lock held).

    Returns:
        How many loose tags were packed.
    """
    from dulwich.file import GitFile
    from dulwich.refs import write_packed_refs

    refs = history.repo.refs
    tags_dir = os.path.join(history.path, "refs", "tags")
    loose: dict[str, bytes] = {}
    for directory, _dirs, files in os.walk(tags_dir):
        for file_name in files:
            if file_name.endswith(".lock"):
                continue
            path = os.path.join(directory, file_name)
            found = history.read_loose_ref(path)
            if found is not None:
                loose[path] = found.encode("ascii")
    if not loose:
        return 0
    packed_path = os.path.join(history.path, "packed-refs")
    with GitFile(packed_path, "wb") as f:
        # Re-read under git's lock, so a concurrent git writer is not undone
        # (our parser: dulwich's validates each of thousands of lines).
        packed = {Ref(k): ObjectID(v) for k, v in history.packed_refs().items()}
        for path, value in loose.items():
            name = os.path.relpath(path, history.path).replace(os.sep, "/")
            packed[Ref(name.encode())] = ObjectID(value)
        write_packed_refs(f, packed)
    fsync_dir(history.path)
    invalidate = getattr(refs, "_invalidate_packed_refs_cache", None)
    if invalidate is not None:
        invalidate()
    for path, value in loose.items():
        name = os.path.relpath(path, history.path).replace(os.sep, "/")
        if packed.get(Ref(name.encode())) == value:
            with contextlib.suppress(OSError):
                os.unlink(path)
    fsync_dir(Path(tags_dir))
    return len(loose)


def _too_many_loose(history: History) -> bool:
    sample = 0
    for directory in _FANOUT:
        with contextlib.suppress(OSError):
            sample += len(os.listdir(history.objects_dir / directory))
    # 16 fan-out directories of 256 hold about 1/16 of the loose objects.
    return sample * 256 // len(_FANOUT) > AUTO_LOOSE


def geometric_split(sizes: list[tuple[int, str]], factor: int = 2) -> list[str]:
    """Choose the packs to merge so the rest form a geometric progression.

    As ``git repack --geometric``: after merging the smallest packs into one,
    every remaining pack must be at least ``factor`` times all the smaller ones
    together. A merge then rewrites recent objects only, never the whole
    history (merging everything at 8 packs took 0.75 s at 2,000 versions and
    grows with the history), and packs stay about log2(history) in number.

    Args:
        sizes: ``(bytes, name)`` of each pack.
        factor: The progression's factor.

    Returns:
        The names to merge, smallest first; empty when already geometric.
    """
    ordered = sorted(sizes)
    for split in range(len(ordered) + 1):
        total = sum(size for size, _ in ordered[:split])
        for size, _ in ordered[split:]:
            if size < factor * total:
                break
            total += size
        else:
            return [name for _, name in ordered[:split]]
    return [name for _, name in ordered]  # pragma: no cover - split=len returns


def geometric_merge(history: History) -> list[str]:
    """The packs :func:`geometric_split` would merge in this history."""
    pack_dir = history.objects_dir / "pack"
    sizes = []
    for name in _pack_names(history):
        with contextlib.suppress(OSError):
            sizes.append((os.path.getsize(pack_dir / f"{name}.pack"), name))
    return geometric_split(sizes)


def auto_repack(history: History) -> RepackStats | None:
    """Repack when a threshold is passed (call under the lock, after a write).

    Loose objects go into a new pack; once there are :data:`AUTO_PACKS` packs,
    the small ones are merged with them geometrically (see
    :func:`geometric_split`). ``gc`` still merges everything.
    """
    loose = _too_many_loose(history)
    merge: list[str] = []
    if len(_pack_names(history)) >= AUTO_PACKS:
        merge = geometric_merge(history)
        if len(merge) < 2:
            merge = []
    if not loose and not merge:
        return None
    return repack(history, merge=frozenset(merge))


def _reachable(history: History) -> set[str]:
    """Every object reachable from a ref, without loading any blob."""
    store = history.repo.object_store
    pending: deque[str] = deque()
    seen: set[str] = set()
    for ref in history.repo.refs.allkeys():
        with contextlib.suppress(KeyError):
            value = history.repo.refs[ref].decode("ascii")
            if value not in seen:
                seen.add(value)
                pending.append(value)
    while pending:
        hex_id = pending.popleft()
        try:
            obj = store[ObjectID(hex_id.encode())]
        except KeyError:
            continue
        children: list[str] = []
        if isinstance(obj, Commit):
            children = [obj.tree.decode(), *(p.decode() for p in obj.parents)]
        elif isinstance(obj, Tag):
            children = [obj.object[1].decode()]
        elif isinstance(obj, Tree):
            for item in obj.iteritems():
                sha = item.sha.decode()
                if item.mode & 0o170000 == 0o040000:
                    children.append(sha)
                else:
                    seen.add(sha)  # a blob: never loaded
        elif isinstance(obj, Blob):
            continue
        for child in children:
            if child not in seen:
                seen.add(child)
                pending.append(child)
    return seen


def gc(history: History, *, prune: bool = True) -> RepackStats:
    """Prune unreachable loose objects older than two weeks, then pack everything.

    Args:
        history: The history (its lock held).
        prune: Whether to drop old unreachable loose objects.

    Returns:
        What was done.
    """
    exclude: set[str] = set()
    if prune:
        reachable = _reachable(history)
        now = time.time()
        for hex_id in loose_ids(history):
            if hex_id in reachable:
                continue
            try:
                age = now - loose_path(history.objects_dir, hex_id).stat().st_mtime
            except OSError:
                continue
            if age >= GRACE_SECONDS:
                exclude.add(hex_id)
    stats = repack(history, everything=True, exclude=frozenset(exclude))
    stats.pruned_objects = sorted(exclude)
    return stats

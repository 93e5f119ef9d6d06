"""Three-way merge of trees, as git's merge-ort does it without rename detection.

Pure: the trees are flattened dicts ``path -> (mode, blob id)``, the blobs are
read through a callable, and the result says which new blobs to store; nothing
here opens a repository. :func:`merge_trees` is the entry point.

The rules are merge-ort's (``git merge-tree --write-tree``, git 2.39), path by
path, deepest first (so a directory's fate is known when the file that shares
its name is decided):

- a side that did not change a path gives way to the other (content, mode,
  type, presence); the same change on both sides is taken once;
- two regular files changed on both sides: the exec bits merge like a one-line
  file (a conflict only when both changed it differently) and the contents
  merge line by line (:func:`gitversions.merge.lines.merge_lines`, histogram
  diff, level zealous), or conflict keeping ours when one of the three is
  binary; an add on both sides merges against an empty base (``add/add``);
- symlinks changed on both sides conflict, keeping ours;
- a file and a symlink at one path (``distinct types``): the regular file is
  moved aside to ``path~<its side>``, the other stays;
- modified on one side, deleted on the other (``modify/delete``): the modified
  file stays;
- a file where the merged tree has a directory (``file/directory``): the
  directory stays and the file moves to ``path~<its side>``.

Out of scope: rename detection (git's is on, ours is not: see docs/merging.md)
and criss-cross histories. For several merge bases git first merges the bases
into a virtual one; this module takes a single base tree, and the caller has to
build the virtual base (not done yet: issue 11).
"""

from __future__ import annotations

import stat
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from gitversions.merge.lines import MAX_XDIFF_SIZE, is_binary, merge_lines
from gitversions.model.paths import VERSION_FILENAME, name_key
from gitversions.snapshot.hashing import MODE_TREE, encode_tree, hash_object

__all__ = [
    "Conflict",
    "FileStatus",
    "TreeMergeResult",
    "build_trees",
    "merge_trees",
    "tree_id",
]

Entry = tuple[int, str]
Tree = Mapping[str, Entry]
Status = Literal["ours", "theirs", "both", "merged", "conflict"]
Favor = Literal["ours", "theirs"]

# The kinds git names in "CONFLICT (<kind>)", and the two only gitversions has.
GIT_KINDS = frozenset(
    {"content", "add/add", "modify/delete", "file/directory", "distinct types"}
)
TWINS = "name twins"
RESERVED = "reserved name"


@dataclass(frozen=True)
class Conflict:
    """One conflict of a tree merge.

    Attributes:
        path: Where the conflicted entry sits in the merged tree (the name git
            lists with ``merge-tree --name-only``); a moved file's new name.
        kind: git's conflict type (``content``, ``add/add``, ``modify/delete``,
            ``file/directory``, ``distinct types``), or one only gitversions
            has: ``name twins`` (names equal but for case or Unicode form, which
            it refuses to record) or ``reserved name`` (a top-level
            ``.version.toml``).
        original: The path in the merged trees before git moved it aside.
        detail: ``binary``, ``symlink`` or ``mode`` when that is why the
            content could not merge, else None.
    """

    path: str
    kind: str
    original: str
    detail: str | None = None

    @property
    def git_only_in_gitversions(self) -> bool:
        """Whether git would have merged this path cleanly (a gitversions rule)."""
        return self.kind not in GIT_KINDS

    @property
    def label(self) -> str:
        """The conflict as git titles it: ``CONFLICT (content)``."""
        return f"CONFLICT ({self.kind})"


@dataclass(frozen=True)
class FileStatus:
    """One path that differs anywhere, for the ``--dry-run`` preview (SPEC §7)."""

    path: str
    status: Status
    conflict: str | None

    def as_json(self) -> dict[str, str | None]:
        """The preview object: ``{"path", "status", "conflict"}``."""
        return {"path": self.path, "status": self.status, "conflict": self.conflict}


@dataclass(frozen=True)
class TreeMergeResult:
    """The merged tree, the blobs it needs, its conflicts and the preview.

    Attributes:
        tree: The merged flattened tree, conflicted paths included as git
            leaves them (text with markers, the kept side, moved files).
        blobs: New blob contents the tree refers to (merged text), by id.
        conflicts: Every conflict, sorted by path (a path may have several).
        files: One :class:`FileStatus` per path that differs among the three.
    """

    tree: dict[str, Entry]
    blobs: dict[str, bytes]
    conflicts: tuple[Conflict, ...]
    files: tuple[FileStatus, ...] = field(default=())

    @property
    def clean(self) -> bool:
        """Whether the merge has no conflict at all."""
        return not self.conflicts

    @property
    def conflicted_paths(self) -> list[str]:
        """The conflicted paths of the merged tree, sorted, each once."""
        return sorted({c.path for c in self.conflicts})


def _is_reg(mode: int) -> bool:
    return stat.S_ISREG(mode)


def _fmt(mode: int) -> int:
    return stat.S_IFMT(mode)


def _sort_key(path: str) -> bytes:
    # merge-ort's order: a directory's entries right after its own name.
    return path.encode("utf-8", "surrogateescape").replace(b"/", b"\0")


def _parents(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class _Merger:
    """The state of one merge: merge-ort's process_entries, flattened."""

    def __init__(
        self,
        trees: tuple[Tree, Tree, Tree],
        read: Callable[[str], bytes],
        hash_blob: Callable[[bytes], str],
        labels: tuple[str, str, str],
        favor: Favor | None = None,
    ) -> None:
        self.trees = trees
        self.favor = favor
        self.read = read
        self.hash_blob = hash_blob
        self.labels = labels  # base, ours, theirs
        self.dirs = tuple({d for p in t for d in _parents(p)} for t in trees)
        self.taken: set[str] = set().union(*trees, *self.dirs)
        self.merged: dict[str, Entry] = {}
        self.live: Counter[str] = Counter()  # merged entries under each directory
        self.blobs: dict[str, bytes] = {}
        self.conflicts: list[Conflict] = []

    def run(self) -> None:
        paths = set().union(*self.trees)
        for path in sorted(paths, key=_sort_key, reverse=True):
            self.entry(path)

    def put(self, path: str, entry: Entry | None) -> None:
        if entry is None:
            return
        self.merged[path] = entry
        self.live.update(_parents(path))

    def conflict(
        self, path: str, kind: str, original: str, detail: str | None = None
    ) -> None:
        self.conflicts.append(Conflict(path, kind, original, detail))

    def unique_path(self, path: str, side: int) -> str:
        """Do as git's unique_path: ``path~branch`` (slashes flattened), then ``_N``."""
        base = f"{path}~{self.labels[side].replace('/', '_')}"
        new, n = base, 0
        while new in self.taken:
            new, n = f"{base}_{n}", n + 1
        self.taken.add(new)
        return new

    def entry(self, path: str) -> None:
        s = [t.get(path) for t in self.trees]
        filemask = sum(1 << i for i in range(3) if s[i] is not None)
        dirmask = sum(1 << i for i in range(3) if path in self.dirs[i])
        if filemask == 7 and (s[1] == s[2] or s[0] == s[1] or s[0] == s[2]):
            self.put(path, s[2] if s[0] == s[1] else s[1])
            return
        original, df = path, dirmask != 0
        if df and self.live[path]:
            if filemask == 1:
                return  # deleted on both sides; the directory stays
            side = 2 if dirmask & 2 else 1
            path = self.unique_path(path, side)
        else:
            df = False  # the directory merged to nothing: not in the way
        own_clean, result, kind, detail = self.resolve(path, original, s, filemask)
        clean = own_clean and (result is None or not df)
        if not clean and df:
            self.conflict(path, "file/directory", original)
        if not own_clean:
            self.conflict(path, kind, original, detail)
        self.put(path, result)

    def resolve(
        self, path: str, original: str, s: list[Entry | None], filemask: int
    ) -> tuple[bool, Entry | None, str, str | None]:
        """Decide one file entry: (clean, result, conflict kind, detail).

        "clean" leaves out a file/directory conflict: the caller adds it.
        """
        match = 0
        if s[0] is not None and s[0] == s[1]:
            match = 3
        elif s[0] is not None and s[0] == s[2]:
            match = 5
        elif s[1] is not None and s[1] == s[2]:
            match = 6
        if match:
            return True, s[2 if match == 3 else 1], "", None
        a, b = s[1], s[2]
        if a is not None and b is not None and _fmt(a[0]) != _fmt(b[0]):
            self.distinct_types(path, original, a, b)
            return True, None, "", None
        if a is not None and b is not None:
            ok, entry, detail = self.content(original, s[0], a, b)
            return ok, entry, "add/add" if filemask == 6 else "content", detail
        if filemask in (3, 5):
            return False, s[1 if filemask == 3 else 2], "modify/delete", None
        # Added on one side (clean unless a directory is in the way), or
        # deleted on both.
        return True, s[1] if filemask == 2 else s[2], "", None

    def distinct_types(self, path: str, original: str, a: Entry, b: Entry) -> None:
        """A regular file and a symlink: move the regular one (or both) aside."""
        rename_a, rename_b = _is_reg(a[0]), not _is_reg(a[0])
        if rename_b and not _is_reg(b[0]):
            rename_a = True  # neither is a regular file: both move
        a_path = self.unique_path(path, 1) if rename_a else path
        b_path = self.unique_path(path, 2) if rename_b else path
        for where, entry in ((a_path, a), (b_path, b)):
            self.conflict(where, "distinct types", original)
            self.put(where, entry)

    def content(
        self, path: str, o: Entry | None, a: Entry, b: Entry
    ) -> tuple[bool, Entry, str | None]:
        """merge-ort's handle_content_merge: modes, then contents."""
        o_mode, o_id = o if o is not None else (0, "")
        clean, detail = True, None
        if a[0] == b[0] or a[0] == o_mode:
            mode = b[0]
        else:
            mode, clean = a[0], b[0] == o_mode
            detail = None if clean else "mode"
        if a[1] == b[1] or a[1] == o_id:
            return clean, (mode, b[1]), detail
        if b[1] == o_id:
            return clean, (mode, a[1]), detail
        if self.favor is not None and not _is_reg(a[0]):
            return clean, (mode, a[1] if self.favor == "ours" else b[1]), detail
        if not _is_reg(a[0]):
            return False, (mode, a[1]), "symlink"  # git keeps ours
        base = b"" if _fmt(o_mode) != _fmt(a[0]) else self.read(o_id)
        ours, theirs = self.read(a[1]), self.read(b[1])
        if any(is_binary(t) or len(t) > MAX_XDIFF_SIZE for t in (base, ours, theirs)):
            if self.favor is not None:  # -X: the favoured side, cleanly (as git)
                return clean, (mode, a[1] if self.favor == "ours" else b[1]), detail
            return False, (mode, a[1]), "binary"
        merged = merge_lines(
            base,
            ours,
            theirs,
            ours_label=self.labels[1],
            theirs_label=self.labels[2],
            base_label=self.labels[0],
            algorithm="histogram",
            level="zealous",
            favor=self.favor,
        )
        blob_id = self.hash_blob(merged.content)
        self.blobs[blob_id] = merged.content
        return clean and merged.clean, (mode, blob_id), detail


def _gitversions_conflicts(tree: Mapping[str, Entry]) -> list[Conflict]:
    """What gitversions refuses in a merged tree: twins, a top-level .version.toml."""
    found = []
    if VERSION_FILENAME in tree:
        found.append(Conflict(VERSION_FILENAME, RESERVED, VERSION_FILENAME))
    names: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
    for path in tree:
        parts = path.split("/")
        for i, part in enumerate(parts):
            parent = "/".join(parts[:i])
            key = name_key(part.encode("utf-8", "surrogateescape"))
            names[(parent, key)].add(part)
    for (parent, _), group in names.items():
        if len(group) > 1:
            found.extend(
                Conflict(p, TWINS, p)
                for p in (f"{parent}/{n}".lstrip("/") for n in group)
            )
    return found


def _preview(
    trees: tuple[Tree, Tree, Tree], conflicts: list[Conflict]
) -> tuple[FileStatus, ...]:
    kinds: dict[str, str] = {}
    for c in conflicts:
        kinds.setdefault(c.original, c.kind)
    base, ours, theirs = trees
    rows = []
    for path in sorted(set().union(*trees) | set(kinds)):
        o, a, b = base.get(path), ours.get(path), theirs.get(path)
        if o == a == b and path not in kinds:
            continue
        status: Status
        if path in kinds:
            status = "conflict"
        elif a == b:
            status = "both"
        elif b == o:
            status = "ours"
        elif a == o:
            status = "theirs"
        else:
            status = "merged"
        rows.append(FileStatus(path, status, kinds.get(path)))
    return tuple(rows)


def merge_trees(
    base: Tree,
    ours: Tree,
    theirs: Tree,
    read: Callable[[str], bytes],
    hash_blob: Callable[[bytes], str],
    *,
    ours_label: str = "ours",
    theirs_label: str = "theirs",
    base_label: str = "base",
    favor: Favor | None = None,
) -> TreeMergeResult:
    """Merge two trees changed from a common base, as ``git merge-tree`` does.

    Args:
        base: The merge base's flattened tree (``{}`` when there is none).
        ours: Our flattened tree, ``path -> (mode, blob id)``.
        theirs: Their flattened tree.
        read: Returns a blob's content by id (called only for text merges).
        hash_blob: The history's blob id of some content (SHA-1 or SHA-256).
        ours_label: Our name: after ``<<<<<<<`` and in ``path~<ours_label>``.
        theirs_label: Their name: after ``>>>>>>>`` and in moved files' names.
        base_label: The base's name (diff3 markers; not shown by this merge).
        favor: ``-X ours|theirs``: content conflicts (text hunks, binary
            files, symlinks) take that side and are clean, as in git; the
            other kinds (modify/delete, file/directory, distinct types, exec
            bits changed differently) still conflict.

    Returns:
        The merged tree (with conflicts left as git leaves them), the new
        blobs, the conflicts and the per-path preview.
    """
    trees = (base, ours, theirs)
    merger = _Merger(
        trees, read, hash_blob, (base_label, ours_label, theirs_label), favor
    )
    merger.run()
    conflicts = merger.conflicts + _gitversions_conflicts(merger.merged)
    conflicts.sort(key=lambda c: (_sort_key(c.path), c.kind))
    used = {entry[1] for entry in merger.merged.values()}
    blobs = {k: v for k, v in merger.blobs.items() if k in used}
    return TreeMergeResult(
        dict(sorted(merger.merged.items())),
        blobs,
        tuple(conflicts),
        _preview(trees, conflicts),
    )


def build_trees(tree: Tree, algorithm: str = "sha1") -> tuple[str, dict[str, bytes]]:
    """Encode a flattened tree as git tree objects.

    Args:
        tree: ``path -> (mode, blob id)`` (hex ids).
        algorithm: ``"sha1"`` or ``"sha256"``, the history's object format.

    Returns:
        The root tree's id and every tree object's body by id (hex).
    """
    children: defaultdict[str, dict[bytes, tuple[int, bytes]]] = defaultdict(dict)
    children[""] = {}
    for path, (mode, blob_id) in tree.items():
        for parent in _parents(path):
            children.setdefault(parent, {})
        head, _, name = path.rpartition("/")
        children[head][name.encode("utf-8", "surrogateescape")] = (
            mode,
            bytes.fromhex(blob_id),
        )
    bodies: dict[str, bytes] = {}
    # Deepest first, so each directory's subtrees have ids when it is encoded.
    for directory in sorted(
        children, key=lambda d: d.count("/") + bool(d), reverse=True
    ):
        body = encode_tree([(n, m, r) for n, (m, r) in children[directory].items()])
        raw = hash_object(algorithm, b"tree", body)
        bodies[raw.hex()] = body
        if directory:
            head, _, name = directory.rpartition("/")
            children[head][name.encode("utf-8", "surrogateescape")] = (MODE_TREE, raw)
        else:
            return raw.hex(), bodies
    raise AssertionError("unreachable: the root is encoded last")  # pragma: no cover


def tree_id(tree: Tree, algorithm: str = "sha1") -> str:
    """The git id of the root tree of a flattened tree.

    Args:
        tree: ``path -> (mode, blob id)``.
        algorithm: ``"sha1"`` or ``"sha256"``.

    Returns:
        The root tree's id, hex.
    """
    return build_trees(tree, algorithm)[0]

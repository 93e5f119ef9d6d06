"""Merge another line of an artifact's history into ``main`` (SPEC §7, first slice).

:func:`merge` brings a version, or a remote line a fetch kept at
``refs/remotes/<remote>/main``, into ``main``:

- *up-to-date*: theirs is already in ours; nothing changes;
- *fast-forward*: ours is an ancestor of theirs; ``main`` moves to it by
  compare-and-swap and the versions that arrive get their tags (``no_ff``
  records a merge version instead);
- *merged*: the trees merge cleanly (:func:`gitversions.merge.trees.merge_trees`,
  git's merge-ort rules); the new blobs and trees are written and fsynced, then
  a version with parents ``[ours, theirs]`` is recorded;
- *conflict*: nothing is recorded and ``main`` does not move; the result lists
  the conflicted paths. (The merge workspace, ``--continue``/``--abort`` and
  ``resolve`` come later: issue 11.)

Everything happens under the artifact's lock; ``dry_run`` writes nothing.
Several merge bases (a criss-cross history) and unrelated histories are
refused for now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gitversions.errors import ConflictError, InputError, NotFoundError
from gitversions.formats.manifest import write_manifest
from gitversions.merge.trees import (
    Conflict,
    Favor,
    FileStatus,
    TreeMergeResult,
    build_trees,
    merge_trees,
    tree_id,
)
from gitversions.model.ids import VersionId
from gitversions.snapshot.hashing import hash_object

if TYPE_CHECKING:
    from gitversions.git.history import History
    from gitversions.model.version import Version
    from gitversions.store import Artifact

__all__ = ["MergeResult", "merge", "resolve_theirs"]

Outcome = Literal["up-to-date", "fast-forward", "merged", "conflict"]


@dataclass(frozen=True)
class MergeResult:
    """What a merge did (or, with ``dry_run``, would do).

    Attributes:
        outcome: ``up-to-date``, ``fast-forward``, ``merged`` or ``conflict``.
        base: The merge base's version id.
        ours: Our version id (``main`` before the merge).
        theirs: Their version id.
        version: The id of the version recorded (or that a clean merge would
            get), else None (a fast-forward names theirs).
        files: The SPEC §7 preview: one row per path that differs anywhere.
        conflicts: Every conflict, for a ``conflict`` outcome.
        dry_run: Whether nothing was written.
    """

    outcome: Outcome
    base: str | None
    ours: str | None
    theirs: str
    version: str | None
    files: tuple[FileStatus, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    dry_run: bool = False

    @property
    def conflicted_paths(self) -> list[str]:
        """The conflicted paths, sorted, each once."""
        return sorted({c.path for c in self.conflicts})

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` preview of SPEC §7."""
        return {
            "outcome": self.outcome,
            "base": self.base,
            "ours": self.ours,
            "theirs": self.theirs,
            "version": self.version,
            "files": [f.as_json() for f in self.files],
        }


def resolve_theirs(history: History, ref: str | None) -> Version:
    """The version REF names: a fetched remote line first, then a version REF.

    Args:
        history: The artifact's history.
        ref: ``origin``, ``origin/main``, a version REF, or None for the one
            remote line a fetch brought in.

    Raises:
        NotFoundError: If nothing was fetched, or REF names nothing.
        InputError: If REF is None and several remote lines exist.
    """
    lines = history.remote_mains()
    if ref is None:
        if len(lines) == 1:
            return history.version(next(iter(lines.values())))
        if not lines:
            raise NotFoundError(
                "nothing to merge: no remote line was fetched; run `gitversions "
                "fetch NAME` first, or name a version REF"
            )
        raise InputError(
            "several remote lines were fetched ("
            + ", ".join(f"{r}/main" for r in lines)
            + "); name the one to merge"
        )
    remote = ref.removesuffix("/main")
    if remote in lines:
        return history.version(lines[remote])
    return history.resolve(ref)


def _flat(history: History, tree: str) -> dict[str, tuple[int, str]]:
    return {e.path: (e.mode, e.blob) for e in history.iter_tree(tree)}


def _merge_trees(
    history: History,
    base: Version,
    ours: Version,
    theirs: Version,
    favor: Favor | None,
) -> TreeMergeResult:
    algorithm = history.algorithms[-1]
    return merge_trees(
        _flat(history, base.tree),
        _flat(history, ours.tree),
        _flat(history, theirs.tree),
        history.read_blob,
        lambda data: hash_object(algorithm, b"blob", data).hex(),
        ours_label=str(ours.id),
        theirs_label=str(theirs.id),
        base_label=str(base.id),
        favor=favor,
    )


def _content_hash(history: History, merged: TreeMergeResult) -> str:
    """The SHA-256 content hash the merged tree's version will have (SPEC §3)."""
    if history.format == "sha256":
        return tree_id(merged.tree, "sha256")
    new = {
        blob: hash_object("sha256", b"blob", data).hex()
        for blob, data in merged.blobs.items()
    }
    mapped = {
        path: (mode, new.get(blob) or history.sha256_of_blob(blob))
        for path, (mode, blob) in merged.tree.items()
    }
    return tree_id(mapped, "sha256")


def _base(history: History, ours: Version, theirs: Version) -> Version:
    bases = history.merge_bases(ours.commit, theirs.commit)
    if not bases:
        raise InputError(
            f"{ours.id} and {theirs.id} have no common version (unrelated "
            "histories); refusing to merge them"
        )
    if len(bases) > 1:
        names = ", ".join(sorted(str(history.version(b).id) for b in bases))
        raise InputError(
            f"{ours.id} and {theirs.id} have several merge bases ({names}): "
            "criss-cross merges are not supported yet"
        )
    return history.version(bases[0])


def merge(
    artifact: Artifact,
    ref: str | None = None,
    *,
    message: str | None = None,
    no_ff: bool = False,
    dry_run: bool = False,
    favor: Favor | None = None,
) -> MergeResult:
    """Merge REF into the artifact's ``main``, under its lock.

    Args:
        artifact: An existing artifact.
        ref: A version REF or a fetched remote line (``origin``,
            ``origin/main``); default: the one remote line fetched.
        message: The merge version's message (default
            ``Merge <theirs id> into <ours id>``).
        no_ff: Record a merge version even when a fast-forward would do.
        dry_run: Compute the outcome and preview; write nothing.
        favor: ``"ours"`` or ``"theirs"``: content conflicts take that side.

    Returns:
        The outcome; ``conflict`` records nothing and leaves ``main`` alone.

    Raises:
        InputError: Unrelated histories, several merge bases, or a bad REF.
        ConflictError: If ``main`` moved meanwhile.
    """
    with artifact.lock():
        result = _merge_locked(artifact, ref, message, no_ff, dry_run, favor)
    if (
        not dry_run
        and result.outcome in ("fast-forward", "merged")
        and artifact.store.config.auto_export
    ):
        # As a snapshot does: after the lock, incremental.
        artifact.export()
    return result


def _merge_locked(
    artifact: Artifact,
    ref: str | None,
    message: str | None,
    no_ff: bool,
    dry_run: bool,
    favor: Favor | None,
) -> MergeResult:
    """:func:`merge`, the lock held."""
    history = artifact.history
    head = history.head()
    if head is None:
        raise NotFoundError(f"{artifact.name} has no version to merge into")
    theirs = resolve_theirs(history, ref)
    ours = history.version(head)
    base = _base(history, ours, theirs)
    merged = _merge_trees(history, base, ours, theirs, favor)
    ids = (str(base.id), str(ours.id), str(theirs.id))
    if base.commit == theirs.commit:
        return MergeResult("up-to-date", *ids, None, merged.files, (), dry_run)
    if base.commit == ours.commit and not no_ff:
        if not dry_run:
            _fast_forward(artifact, ours, theirs)
        return MergeResult(
            "fast-forward", *ids, str(theirs.id), merged.files, (), dry_run
        )
    if not merged.clean:
        return MergeResult(
            "conflict", *ids, None, merged.files, merged.conflicts, dry_run
        )
    if dry_run:
        number = 1 + max(ours.number, theirs.number)
        version_id = VersionId.for_hash(number, _content_hash(history, merged))
        return MergeResult("merged", *ids, str(version_id), merged.files, (), True)
    recorded = _record(artifact, merged, ours, theirs, message)
    return MergeResult("merged", *ids, str(recorded.id), merged.files)


def _fast_forward(artifact: Artifact, ours: Version, theirs: Version) -> None:
    """Move ``main`` to theirs (compare-and-swap), then tag what arrived."""
    history = artifact.history
    if not history.refs.move_main(ours.commit, theirs.commit):
        raise ConflictError("refs/heads/main moved while merging; try again")
    history.ensure_tags(tip=theirs.commit)
    write_manifest(artifact)


def _record(
    artifact: Artifact,
    merged: TreeMergeResult,
    ours: Version,
    theirs: Version,
    message: str | None,
) -> Version:
    """Write the merged tree's objects, then record the two-parent version."""
    history = artifact.history
    root, trees = build_trees(merged.tree, history.algorithms[-1])
    history.write_objects(
        [
            *((b"blob", data) for data in merged.blobs.values()),
            *((b"tree", body) for body in trees.values()),
        ]
    )
    version = history.record_tree(
        root,
        [ours.commit, theirs.commit],
        message=message or f"Merge {theirs.id} into {ours.id}",
    )
    history.ensure_tags(tip=theirs.commit)  # the versions that arrived
    write_manifest(artifact)
    return version

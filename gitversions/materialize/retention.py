"""Retention: remove old materialized versions from ``versions/``, never history.

A version stays materialized when any rule keeps it:

- it is among the newest ``keep`` versions of the history;
- it is newer than ``keep_days`` days;
- ``latest`` points at it, or it is the newest version;
- its id is listed in ``retention.protect`` of ``gitversions.toml``, or the
  caller spares it (an export that names it explicitly).

Everything else under ``versions/<id>`` goes, and so do ``versions/<id>.tar.gz``
and ``versions/<id>.tar.bz2`` (the archive forms ``[storage]
version_compression`` writes; a version may be in both after a change of the
setting): renamed to a hidden temporary name
first (so no half-deleted version is ever visible), then deleted. The history is
never touched, so ``export NAME <id>`` brings any version back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitversions.errors import InputError
from gitversions.fs.atomic import fsync_dir
from gitversions.materialize.export import (
    ARCHIVE_SUFFIX,
    LATEST_NAMES,
    STORED_FORMATS,
    TMP_MARK,
    remove_tree,
    stored_form,
)

if TYPE_CHECKING:
    from pathlib import Path

    from gitversions.model.version import Version
    from gitversions.store import Artifact

__all__ = ["PruneResult", "apply_retention", "prune", "retained"]

DAY = 86400


@dataclass
class PruneResult:
    """What a prune removed (or, in a dry run, would remove) and what it kept.

    Attributes:
        removed: Ids of the versions removed (directory, archives or both),
            oldest first.
        kept: Ids of the materialized versions that stay, oldest first.
        dry_run: Whether nothing was actually removed.
    """

    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    dry_run: bool = False


def _kept_ids(
    artifact: Artifact,
    versions: Sequence[Version],
    keep: int | None,
    keep_days: float | None,
    spare: Iterable[str],
    now: float,
) -> set[str]:
    kept = set(artifact.store.config.retention_protect) | set(spare)
    if keep is not None:
        kept.update(str(v.id) for v in versions[len(versions) - keep :])
    if keep_days is not None:
        cutoff = now - keep_days * DAY
        kept.update(str(v.id) for v in versions if v.time >= cutoff)
    newest = artifact.history.latest()
    if newest is not None:
        kept.add(str(newest.id))
    for name in LATEST_NAMES:  # never a latest pointer's target, of any form
        link = artifact.versions_dir / name
        if link.is_symlink():
            kept.add(stored_form(os.readlink(link))[0])
    return kept


def _materialized(artifact: Artifact, label: str) -> list[Path]:
    """The entries of ``versions/`` that hold version ``label``, in any form."""
    found = []
    directory = artifact.versions_dir / label
    if directory.is_dir() and not directory.is_symlink():
        found.append(directory)
    for fmt in STORED_FORMATS:
        archive = artifact.versions_dir / (label + ARCHIVE_SUFFIX[fmt])
        if archive.is_file() and not archive.is_symlink():
            found.append(archive)
    return found


def _rules(
    artifact: Artifact, keep: int | None, keep_days: float | None
) -> tuple[int | None, float | None]:
    if keep is None and keep_days is None:
        config = artifact.store.config
        return config.retention_keep, config.retention_keep_days
    return keep, keep_days


def retained(artifact: Artifact, versions: Sequence[Version]) -> list[Version]:
    """Filter ``versions`` down to those the configured retention keeps.

    Used by export, so it never writes what it would prune right away.

    Args:
        artifact: The artifact.
        versions: Candidate versions.

    Returns:
        ``versions`` unchanged when no retention is configured, else the kept ones.
    """
    keep, keep_days = _rules(artifact, None, None)
    if keep is None and keep_days is None:
        return list(versions)
    kept = _kept_ids(artifact, artifact.versions(), keep, keep_days, (), time.time())
    return [v for v in versions if str(v.id) in kept]


def _prune_locked(
    artifact: Artifact,
    keep: int | None,
    keep_days: float | None,
    *,
    spare: Iterable[str] = (),
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    versions = artifact.versions()
    kept = _kept_ids(
        artifact,
        versions,
        keep,
        keep_days,
        spare,
        time.time() if now is None else now,
    )
    result = PruneResult(dry_run=dry_run)
    for version in versions:
        label = str(version.id)
        paths = _materialized(artifact, label)
        if not paths:
            continue
        if label in kept:
            result.kept.append(label)
            continue
        result.removed.append(label)
        if dry_run:
            continue
        for path in paths:
            doomed = path.with_name(
                f".{path.name}{TMP_MARK}prune-{os.urandom(4).hex()}"
            )
            os.rename(path, doomed)
            fsync_dir(artifact.versions_dir)
            remove_tree(doomed)
    return result


def apply_retention(artifact: Artifact, spare: Iterable[str] = ()) -> list[str]:
    """Apply the configured retention after an export (caller holds the lock).

    Args:
        artifact: The artifact.
        spare: Version ids to keep whatever the rules say.

    Returns:
        The ids removed; empty when no retention is configured.
    """
    keep, keep_days = _rules(artifact, None, None)
    if keep is None and keep_days is None:
        return []
    return _prune_locked(artifact, keep, keep_days, spare=spare).removed


def prune(
    artifact: Artifact,
    *,
    keep: int | None = None,
    keep_days: float | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> PruneResult:
    """Remove materialized versions beyond the newest ``keep`` or older than days.

    With neither ``keep`` nor ``keep_days``, the store's ``[retention]``
    configuration applies. A version survives when any rule keeps it (see the
    module docstring); history is never changed.

    Args:
        artifact: An artifact with a history.
        keep: Keep the newest N versions (N >= 1).
        keep_days: Keep versions newer than this many days (>= 0).
        dry_run: Only report what would be removed.
        now: The current time in seconds since the epoch (default: now).

    Returns:
        What was (or would be) removed and what stays.

    Raises:
        InputError: For bad limits, or when no rule is given or configured.
    """
    if keep is not None and keep < 1:
        raise InputError("--keep must be at least 1 (latest always stays)")
    if keep_days is not None and keep_days < 0:
        raise InputError("--keep-days cannot be negative")
    keep, keep_days = _rules(artifact, keep, keep_days)
    if keep is None and keep_days is None:
        raise InputError(
            "nothing to prune by: pass --keep N or --keep-days D, or set "
            "retention.keep or retention.keep_days in gitversions.toml"
        )
    with artifact.lock():
        if not dry_run:
            artifact.materializer().clean_leftovers()
        return _prune_locked(artifact, keep, keep_days, dry_run=dry_run, now=now)

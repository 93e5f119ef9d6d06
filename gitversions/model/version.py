"""What a version is, as values: no repository, no I/O.

:class:`Version` is derived from a commit by :mod:`gitversions.git.history`;
these types are what every other layer (formats, materialize, the command
line) reads, so none of them needs the repository to know its shape.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from gitversions.model.ids import VersionId

__all__ = [
    "GIT_SOURCE",
    "LOCAL_SOURCE",
    "TRAILER",
    "Changes",
    "TreeEntry",
    "Version",
    "join_message",
    "split_message",
]

TRAILER = "Gitversions-Source"
LOCAL_SOURCE = "local"
GIT_SOURCE = "git"
_YEAR_10000 = 253402300800  # 10000-01-01T00:00:00Z


@dataclass(frozen=True)
class Version:
    """One version of an artifact, as derived from its commit.

    Attributes:
        id: ``v<n>-<h>``.
        hash: The 64-hex SHA-256 content hash.
        commit: The commit id (40 or 64 hex digits).
        tree: The commit's tree id in the repository's own format.
        time: Commit time, seconds since the epoch.
        source: Where the content came from.
        message: The commit message without the source trailer.
        parents: Parent commit ids, in order.
        parent_versions: Parent version ids, in the same order.
    """

    id: VersionId
    hash: str
    commit: str
    tree: str
    time: int
    source: str
    message: str
    parents: tuple[str, ...]
    parent_versions: tuple[VersionId, ...]

    @property
    def number(self) -> int:
        """The version number ``n``."""
        return self.id.number

    @property
    def timestamp(self) -> str:
        """The commit time in UTC as RFC 3339, e.g. ``2025-11-30T10:00:00Z``."""
        if 0 <= self.time < _YEAR_10000:
            # time.strftime is 3x faster (log formats thousands); outside these
            # years its %Y is not four digits everywhere, datetime's is.
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.time))
        return datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def sort_key(self) -> tuple[int, int, str]:
        """Order of versions: number, then time, then hash."""
        return (self.id.number, self.time, self.hash)


@dataclass(frozen=True)
class TreeEntry:
    """A file or link of a version: its POSIX path, git mode and blob id (hex)."""

    path: str
    mode: int
    blob: str


@dataclass(frozen=True)
class Changes:
    """Files added, modified and deleted between two versions (sorted paths)."""

    added: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()

    @property
    def files_changed(self) -> tuple[str, ...]:
        """Every path that differs, sorted."""
        return tuple(sorted((*self.added, *self.modified, *self.deleted)))

    @property
    def summary(self) -> str:
        """``"1 added, 1 modified"``; ``"no changes"`` when nothing differs."""
        parts = [
            f"{len(paths)} {word}"
            for paths, word in (
                (self.added, "added"),
                (self.modified, "modified"),
                (self.deleted, "deleted"),
            )
            if paths
        ]
        return ", ".join(parts) or "no changes"


def split_message(raw: bytes) -> tuple[str, str]:
    """Split a commit message into (message, source).

    Args:
        raw: The commit message bytes.

    Returns:
        The message without the ``Gitversions-Source:`` trailer paragraph, and the
        source it names (``"git"`` when there is none).
    """
    text = raw.decode("utf-8", "replace").rstrip("\n")
    head, _, last = text.rpartition("\n\n")
    prefix = f"{TRAILER}: "
    if last.startswith(prefix) and "\n" not in last:
        return head, last[len(prefix) :]
    return text, GIT_SOURCE


def join_message(message: str, source: str) -> bytes:
    """Build the commit message that :func:`split_message` takes apart."""
    body = message.rstrip()
    trailer = f"{TRAILER}: {source}\n"
    return (f"{body}\n\n{trailer}" if body else trailer).encode("utf-8")

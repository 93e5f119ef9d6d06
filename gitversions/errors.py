"""The exception tree of gitversions.

Every error the library raises on purpose is a :class:`GitVersionsError`; errors of
dulwich and of the operating system are translated into one of these where they are
met, so callers (the command line above all) catch a single base class::

    GitVersionsError                exit 1: a failure the user can act on
    ├── InputError                  exit 2: bad usage or bad input
    │   ├── InvalidNameError        an artifact name outside the allowed alphabet
    │   ├── InvalidRefError         a REF that is not of any accepted form
    │   ├── NotFoundError           an unknown artifact or a REF matching no version
    │   │   └── AmbiguousRefError   a REF matching more than one version
    │   ├── SourceError             SRC missing, unreadable, special, or unsafe
    │   ├── DestinationError        a restore target that cannot be written safely
    │   ├── ConfigError             a malformed gitversions.toml
    │   └── MetadataError           a malformed .version.toml
    ├── LockTimeoutError            another writer held the artifact for too long
    ├── UnfinishedError             exit 3: a version was recorded, work after it failed
    ├── ConflictError               a duplicate version id, a moved branch
    ├── UnsafePathError             a tree entry that may not be written to disk
    ├── RemoteError                 a remote that cannot be reached, read or updated
    └── CorruptionError             damaged objects, refs or materialized versions

Each class carries the process exit status the command line uses for it.

An ``OSError`` is left as it is, but one raised without a file name (``os.write``,
``fsync`` or a flush into a full disk) is given the path being written, with
:func:`naming`, wherever gitversions writes: "No space left on device" then says
where.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gitversions.model.version import Version

__all__ = [
    "AmbiguousRefError",
    "ConfigError",
    "ConflictError",
    "CorruptionError",
    "DestinationError",
    "GitVersionsError",
    "InputError",
    "InvalidNameError",
    "InvalidRefError",
    "LockTimeoutError",
    "MetadataError",
    "NotFoundError",
    "RemoteError",
    "SourceError",
    "UnfinishedError",
    "UnsafePathError",
    "naming",
]


class GitVersionsError(Exception):
    """Base of every error gitversions raises on purpose."""

    exit_code = 1


class InputError(GitVersionsError, ValueError):
    """What the user passed is wrong; nothing was changed."""

    exit_code = 2


class InvalidNameError(InputError):
    """An artifact name outside ``A-Z a-z 0-9 . _ -`` or of the wrong length."""


class InvalidRefError(InputError):
    """A REF that is not of any accepted form."""


class NotFoundError(InputError, LookupError):
    """An unknown artifact, or a REF that names no version."""


class AmbiguousRefError(NotFoundError):
    """A REF prefix or ``v<n>`` that matches more than one version."""


class SourceError(InputError):
    """SRC is missing, unreadable, a special file, or leads outside itself."""


class DestinationError(InputError):
    """A restore or export target that cannot be written without losing data."""


class ConfigError(InputError):
    """A ``gitversions.toml`` that cannot be read or holds bad values."""


class MetadataError(InputError):
    """A ``.version.toml`` that cannot be parsed or fails validation."""


class LockTimeoutError(GitVersionsError):
    """Another process held the artifact's lock longer than the timeout."""


class ConflictError(GitVersionsError):
    """A duplicate version id or a branch that moved under us."""


class UnsafePathError(GitVersionsError):
    """A tree entry that could write outside its target or clobber git metadata."""


class RemoteError(GitVersionsError):
    """A remote that cannot be reached, refuses us, or rejects an update."""


class CorruptionError(GitVersionsError):
    """Damaged objects, refs or materialized versions."""


class UnfinishedError(GitVersionsError):
    """A version was recorded (``main`` names it), but work after it failed.

    The version is in the history and stays there; what follows from it (its
    tag, ``manifest.toml``, the automatic export and ``latest``) is missing or
    stale until ``gitversions verify --repair NAME`` (or the next snapshot)
    finishes it.

    Attributes:
        version: The version recorded.
        unfinished: The steps not done, in order, from ``"tag"``,
            ``"manifest"`` and ``"export"``.
        record: The version's flattened fields (the ``--json`` form), when
            they could be read.
    """

    exit_code = 3

    def __init__(
        self,
        message: str,
        version: Version,
        unfinished: Sequence[str],
        record: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.version = version
        self.unfinished = tuple(unfinished)
        self.record = record


@contextlib.contextmanager
def naming(path: str | bytes | os.PathLike[str] | os.PathLike[bytes]) -> Iterator[None]:
    """Name ``path`` in an ``OSError`` that comes out of the block without a file name.

    ``os.write``, ``os.fsync`` and the flush of a file object work on a
    descriptor, so the ENOSPC they raise names no file; the message would not
    say which disk is full. The innermost ``naming`` wins.

    Args:
        path: The file (or directory) the block writes.

    Yields:
        Nothing; the block runs unchanged.
    """
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno is not None and exc.strerror:
            exc.filename = os.fsdecode(path)
        raise

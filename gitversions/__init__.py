"""gitversions: version history for Claude Code artifacts in plain git.

Each artifact gets a bare git repository (managed with dulwich); each snapshot is
a commit named ``v<n>-<hash>``; a materializer exports versions into
``versions/<id>/`` with a ``.version.toml`` each and a ``latest`` pointer.

Example:
    >>> from gitversions import Store  # doctest: +SKIP
    >>> store = Store(Path("~/.skillmeat/collection").expanduser())
    >>> result = store.snapshot("canvas-design", Path("skills/canvas-design"))
    >>> store.artifact("canvas-design").export()
"""

from .config import Config, load_config
from .errors import (
    AmbiguousRefError,
    ConfigError,
    ConflictError,
    CorruptionError,
    DestinationError,
    GitVersionsError,
    InputError,
    InvalidNameError,
    InvalidRefError,
    LockTimeoutError,
    MetadataError,
    NotFoundError,
    RemoteError,
    SourceError,
    UnsafePathError,
)
from .hashing import content_hash, scan_source
from .history import Changes, History, Version
from .ids import VersionId, parse_ref, validate_name
from .metadata import Problem, render_version_toml, validate_version_toml
from .store import Artifact, SnapshotResult, Store, resolve_root

__all__ = [
    "AmbiguousRefError",
    "Artifact",
    "Changes",
    "Config",
    "ConfigError",
    "ConflictError",
    "CorruptionError",
    "DestinationError",
    "GitVersionsError",
    "History",
    "InputError",
    "InvalidNameError",
    "InvalidRefError",
    "LockTimeoutError",
    "MetadataError",
    "NotFoundError",
    "Problem",
    "RemoteError",
    "SnapshotResult",
    "SourceError",
    "Store",
    "UnsafePathError",
    "Version",
    "VersionId",
    "content_hash",
    "load_config",
    "parse_ref",
    "render_version_toml",
    "resolve_root",
    "scan_source",
    "validate_name",
    "validate_version_toml",
]

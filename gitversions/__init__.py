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

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gitversions.errors import (
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
    UnfinishedError,
    UnsafePathError,
)
from gitversions.model.ids import VersionId, parse_ref, validate_name

if TYPE_CHECKING:
    from gitversions.formats.config import Config, load_config
    from gitversions.formats.metadata import (
        Problem,
        render_version_toml,
        validate_version_toml,
    )
    from gitversions.git.history import History
    from gitversions.model.version import Changes, Version
    from gitversions.snapshot.hashing import content_hash, scan_source
    from gitversions.store import Artifact, SnapshotResult, Store, resolve_root

# Heavier modules (dulwich, tomlkit) load on first use, keeping start-up short.
_LAZY = {
    "Config": "formats.config",
    "load_config": "formats.config",
    "content_hash": "snapshot.hashing",
    "scan_source": "snapshot.hashing",
    "Changes": "model.version",
    "History": "git.history",
    "Version": "model.version",
    "Problem": "formats.metadata",
    "render_version_toml": "formats.metadata",
    "validate_version_toml": "formats.metadata",
    "Artifact": "store",
    "SnapshotResult": "store",
    "Store": "store",
    "resolve_root": "store",
}


def __getattr__(name: str) -> Any:
    """Import the public names of heavier modules on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gitversions' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)


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
    "UnfinishedError",
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

"""The store configuration, ``<root>/gitversions.toml``.

Every key is optional; a missing file means all defaults. Unknown keys are refused
so that a typo does not silently fall back to a default. The file is UTF-8 text,
with or without a leading byte order mark::

    object_format = "sha1"        # or "sha256": hash of new history repositories
    exclude = ["*.pyc"]           # extra patterns left out of snapshots
    lock_timeout = 30.0           # seconds a writer waits for an artifact's lock

    [export]
    latest = "auto"               # "symlink", "copy", or "auto" (symlink if possible)
    auto = false                  # export new versions right after each snapshot
    hardlink = true               # share unchanged files between version dirs

    [retention]                   # applied by ``prune`` and after each export
    keep = 10                     # keep the newest N versions materialized
    keep_days = 90                # keep versions newer than D days materialized
    protect = ["v1-3f2a9c1"]      # version ids never removed from versions/

    [storage]
    version_compression = "none"  # "gzip" or "bzip2": each version one archive
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gitversions.errors import ConfigError
from gitversions.model.ids import VersionId

__all__ = [
    "CONFIG_FILENAME",
    "Compression",
    "Config",
    "LatestMode",
    "load_config",
    "render_default",
]

CONFIG_FILENAME = "gitversions.toml"

LatestMode = Literal["auto", "symlink", "copy"]
Compression = Literal["none", "gzip", "bzip2"]

_TOP_KEYS = {
    "object_format",
    "exclude",
    "lock_timeout",
    "export",
    "retention",
    "storage",
}
_EXPORT_KEYS = {"latest", "auto", "hardlink"}
_RETENTION_KEYS = {"keep", "keep_days", "protect"}
_STORAGE_KEYS = {"version_compression"}


@dataclass(frozen=True)
class Config:
    """The parsed configuration of one store root.

    Attributes:
        object_format: Hash of new history repositories, ``sha1`` or ``sha256``.
        exclude: Glob patterns left out of snapshots (besides ``.git``).
        lock_timeout: Seconds a writer waits for an artifact's lock.
        latest: How ``versions/latest`` is made.
        auto_export: Whether a snapshot exports its new version right away.
        hardlink: Whether export hardlinks unchanged files from an earlier
            materialized version (copied where the filesystem refuses).
        retention_keep: Keep the newest N versions materialized (None: no limit).
        retention_keep_days: Keep versions newer than D days (None: no limit).
        retention_protect: Version ids never removed from ``versions/``.
        version_compression: How export stores each version in ``versions/``:
            ``none`` (a directory), ``gzip`` (``<id>.tar.gz``) or ``bzip2``
            (``<id>.tar.bz2``).
    """

    object_format: Literal["sha1", "sha256"] = "sha1"
    exclude: tuple[str, ...] = field(default_factory=tuple)
    lock_timeout: float = 30.0
    latest: LatestMode = "auto"
    auto_export: bool = False
    hardlink: bool = True
    retention_keep: int | None = None
    retention_keep_days: float | None = None
    retention_protect: tuple[str, ...] = field(default_factory=tuple)
    version_compression: Compression = "none"


def _fail(path: Path, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}")


def _parse(path: Path, data: dict[str, Any]) -> Config:
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s): {', '.join(unknown)}")
    object_format = data.get("object_format", "sha1")
    if object_format not in ("sha1", "sha256"):
        raise _fail(
            path, f"object_format must be 'sha1' or 'sha256', not {object_format!r}"
        )
    exclude = data.get("exclude", [])
    if not isinstance(exclude, list) or not all(
        isinstance(p, str) and p for p in exclude
    ):
        raise _fail(path, "exclude must be a list of non-empty strings")
    lock_timeout = data.get("lock_timeout", 30.0)
    if isinstance(lock_timeout, bool) or not isinstance(lock_timeout, int | float):
        raise _fail(path, "lock_timeout must be a number of seconds")
    if not math.isfinite(lock_timeout) or lock_timeout < 0:
        raise _fail(path, "lock_timeout must be a finite number of seconds, 0 or more")
    export = data.get("export", {})
    if not isinstance(export, dict):
        raise _fail(path, "[export] must be a table")
    unknown = sorted(set(export) - _EXPORT_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) in [export]: {', '.join(unknown)}")
    latest = export.get("latest", "auto")
    if latest not in ("auto", "symlink", "copy"):
        raise _fail(
            path, f"export.latest must be 'auto', 'symlink' or 'copy', not {latest!r}"
        )
    auto = export.get("auto", False)
    if not isinstance(auto, bool):
        raise _fail(path, "export.auto must be true or false")
    hardlink = export.get("hardlink", True)
    if not isinstance(hardlink, bool):
        raise _fail(path, "export.hardlink must be true or false")
    keep, keep_days, protect = _parse_retention(path, data.get("retention", {}))
    return Config(
        object_format=object_format,
        exclude=tuple(exclude),
        lock_timeout=float(lock_timeout),
        latest=latest,
        auto_export=auto,
        hardlink=hardlink,
        retention_keep=keep,
        retention_keep_days=keep_days,
        retention_protect=protect,
        version_compression=_parse_storage(path, data.get("storage", {})),
    )


def _parse_storage(path: Path, storage: Any) -> Compression:
    if not isinstance(storage, dict):
        raise _fail(path, "[storage] must be a table")
    unknown = sorted(set(storage) - _STORAGE_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) in [storage]: {', '.join(unknown)}")
    compression = storage.get("version_compression", "none")
    if compression not in ("none", "gzip", "bzip2"):
        raise _fail(
            path,
            "storage.version_compression must be 'none', 'gzip' or 'bzip2', "
            f"not {compression!r}",
        )
    return compression  # type: ignore[no-any-return]


def _parse_retention(
    path: Path, retention: Any
) -> tuple[int | None, float | None, tuple[str, ...]]:
    if not isinstance(retention, dict):
        raise _fail(path, "[retention] must be a table")
    unknown = sorted(set(retention) - _RETENTION_KEYS)
    if unknown:
        raise _fail(path, f"unknown key(s) in [retention]: {', '.join(unknown)}")
    keep = retention.get("keep")
    if keep is not None and (
        isinstance(keep, bool) or not isinstance(keep, int) or keep < 1
    ):
        raise _fail(path, "retention.keep must be a whole number of versions, >= 1")
    keep_days = retention.get("keep_days")
    if keep_days is not None and (
        isinstance(keep_days, bool)
        or not isinstance(keep_days, int | float)
        or keep_days < 0
    ):
        raise _fail(path, "retention.keep_days must be a number of days, >= 0")
    protect = retention.get("protect", [])
    if not isinstance(protect, list) or not all(
        isinstance(p, str) and VersionId.is_valid(p) for p in protect
    ):
        raise _fail(
            path,
            "retention.protect must be a list of version ids (v<n>-<7 hex digits>)",
        )
    return (
        keep,
        None if keep_days is None else float(keep_days),
        tuple(protect),
    )


def load_config(root: Path) -> Config:
    """Read ``root/gitversions.toml``, or return the defaults when it is absent.

    Args:
        root: The store root.

    Returns:
        The configuration.

    Raises:
        ConfigError: If the file cannot be read, is not TOML, or holds bad values.
    """
    path = root / CONFIG_FILENAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise _fail(path, f"cannot read: {exc.strerror}") from exc
    try:
        # "utf-8-sig": a leading byte order mark (Notepad writes one) is dropped.
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise _fail(path, "not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise _fail(path, f"not valid TOML: {exc}") from exc
    except RecursionError:
        raise _fail(path, "not valid TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise _fail(path, f"not valid TOML: {exc}") from exc
    try:
        return _parse(path, data)
    except ConfigError:
        raise
    except (ValueError, OverflowError) as exc:  # absurd numbers
        raise _fail(path, f"a value is out of range: {exc}") from exc


def render_default() -> str:
    """Return the text ``init`` writes: every key, commented, at its default."""
    return (
        "# gitversions store configuration; every key is optional.\n"
        "\n"
        '# object_format = "sha1"   # "sha256" for SHA-256 history repositories\n'
        "# exclude = []             # glob patterns left out of snapshots\n"
        "# lock_timeout = 30.0      # seconds a writer waits for an artifact\n"
        "\n"
        "[export]\n"
        '# latest = "auto"          # "symlink", "copy" or "auto"\n'
        "# auto = false             # export each new version right after snapshot\n"
        "# hardlink = true          # share unchanged files between versions\n"
        "\n"
        "[retention]                # for `prune` and each export; unset: keep all\n"
        "#   keep = 10              # e.g.: keep the newest N versions materialized\n"
        "#   keep_days = 90         # e.g.: and those newer than D days\n"
        '#   protect = ["v1-3f2a9c1"]   # e.g.: version ids never removed\n'
        "\n"
        "[storage]\n"
        '# version_compression = "none"   # "gzip" or "bzip2": each version in\n'
        "#                                # versions/ as one <id>.tar.gz/.tar.bz2\n"
    )

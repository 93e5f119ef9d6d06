"""``manifest.toml``: a summary of one artifact, kept in its home.

The manifest is derived from the history, so it can always be rebuilt
(``gitversions verify --repair``)::

    [artifact]
    name = "canvas-design"
    kind = "skill"                  # "skill", "command" or "agent"
    source = "skillmeat:default"    # source of the newest version
    version_count = 3
    latest = "v3-8be01d4"
    created = "2025-11-01T09:00:00Z"  # time of the first version (RFC 3339, UTC)
    updated = "2025-11-30T10:00:00Z"  # time of the newest version

Only ``kind`` is not in the commits: a skill is a directory, but a single file is
a command or an agent. It is kept in the history's git config
(``gitversions.artifactkind``) when the writer knew it, and otherwise inferred:
a file under an ``agents`` directory is an agent, any other file a command.

The file is replaced atomically (temporary file, fsync, rename) under the
artifact's lock, after every change of the history.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import tomlkit

from gitversions.errors import GitVersionsError, InputError
from gitversions.fs.atomic import atomic_write

if TYPE_CHECKING:
    from gitversions.model.version import Version
    from gitversions.store import Artifact

__all__ = [
    "KINDS",
    "MANIFEST_FILENAME",
    "ArtifactKind",
    "artifact_kind",
    "check_kind",
    "check_manifest",
    "kind_for_path",
    "record_kind",
    "render_manifest",
    "update_manifest",
    "write_manifest",
]

MANIFEST_FILENAME = "manifest.toml"
ArtifactKind = Literal["skill", "command", "agent"]
KINDS: tuple[ArtifactKind, ...] = ("skill", "command", "agent")
_CONFIG_SECTION = (b"gitversions",)
_CONFIG_KEY = b"artifactkind"
_HEADER = "Written by gitversions from the history; `gitversions verify --repair`"


def kind_for_path(path: Path, shape: str) -> ArtifactKind:
    """Infer the kind of an artifact from where its source lives.

    Args:
        path: The source (``SRC`` of a snapshot).
        shape: ``"dir"`` or ``"file"``.

    Returns:
        ``"skill"`` for a directory; ``"agent"`` for a file with an ``agents``
        directory among its parents; ``"command"`` for any other file.
    """
    if shape == "dir":
        return "skill"
    return "agent" if "agents" in Path(path).parent.parts else "command"


def check_kind(kind: str | None, src: Path) -> None:
    """Refuse a kind that does not fit the shape of the source.

    Args:
        kind: ``"skill"``, ``"command"``, ``"agent"`` or None (infer it).
        src: The source; a missing one is left for the snapshot to report.

    Raises:
        InputError: For an unknown kind, a skill that is a file, or a command
            or agent that is a directory.
    """
    if kind is None:
        return
    if kind not in KINDS:
        raise InputError(f"unknown artifact kind {kind!r} (use skill, command, agent)")
    if not src.exists():
        return
    if (kind == "skill") != src.is_dir():
        wanted = "a directory" if kind == "skill" else "a single file"
        raise InputError(f"a {kind} is {wanted}, but SRC is not")


def _stored_kind(artifact: Artifact) -> str | None:
    try:
        value = artifact.history.repo.get_config().get(_CONFIG_SECTION, _CONFIG_KEY)
    except KeyError:
        return None
    return value.decode("ascii", "replace")


def artifact_kind(artifact: Artifact) -> ArtifactKind:
    """The kind of an existing artifact: recorded, else inferred from its shape.

    Args:
        artifact: An artifact with a history.

    Returns:
        ``"skill"``, ``"command"`` or ``"agent"``.
    """
    shape = artifact.kind()
    stored = _stored_kind(artifact)
    for kind in KINDS:
        if stored == kind and (kind == "skill") == (shape == "dir"):
            return kind
    return "skill" if shape == "dir" else "command"


def _set_kind(artifact: Artifact, kind: str) -> None:
    config = artifact.history.repo.get_config()
    config.set(_CONFIG_SECTION, _CONFIG_KEY, kind.encode("ascii"))
    config.write_to_path()


_COUNT_CACHE = "count"


def _count_path(artifact: Artifact) -> Path:
    return artifact.history_path / "gitversions" / _COUNT_CACHE


def _grown(artifact: Artifact, new: Version) -> tuple[int, str] | None:
    """Count and creation time, if ``new`` just extended a counted history.

    A snapshot on top of the newest version adds exactly one version, so the
    count cached for that parent (``history.git/gitversions/count``, written
    with each manifest) grows by one, and listing the whole history
    (thousands of versions) is not needed.
    """
    if len(new.parents) != 1:
        return None
    try:
        parts = _count_path(artifact).read_text("ascii").split(" ", 2)
    except (OSError, UnicodeDecodeError):
        return None
    if len(parts) != 3 or parts[0] != new.parents[0] or not parts[1].isdigit():
        return None
    return int(parts[1]) + 1, parts[2].strip()


def _remember_count(
    artifact: Artifact, latest: Version, count: int, created: str
) -> None:
    # A hint like the other caches: best effort, atomic.
    with contextlib.suppress(OSError):
        atomic_write(
            _count_path(artifact),
            (f"{latest.commit} {count} {created}\n".encode("ascii"),),
        )


def render_manifest(artifact: Artifact, new: Version | None = None) -> str | None:
    """Render the manifest of an artifact (None while it has no version).

    Args:
        artifact: An artifact with a history.
        new: A version just recorded on top of the newest one, if any: the
            current manifest then gives the count without a walk.

    Returns:
        The text of ``manifest.toml``, a pure function of the history and kind.
    """
    history = artifact.history
    latest = history.latest()
    grown = _grown(artifact, new) if new is not None and latest == new else None
    if grown is not None and latest is not None:
        _remember_count(artifact, latest, *grown)
        return _render(artifact, latest, grown[0], grown[1])
    versions = history.versions()
    if not versions or latest is None:
        return None
    if new is not None:
        _remember_count(artifact, latest, len(versions), versions[0].timestamp)
    return _render(artifact, latest, len(versions), versions[0].timestamp)


def _render(artifact: Artifact, latest: Version, count: int, created: str) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"{_HEADER} rebuilds it."))
    table = tomlkit.table()
    table.add("name", artifact.name)
    table.add("kind", artifact_kind(artifact))
    table.add("source", latest.source)
    table.add("version_count", count)
    table.add("latest", str(latest.id))
    table.add("created", created)
    table.add("updated", latest.timestamp)
    doc.add("artifact", table)
    return tomlkit.dumps(doc)


def _path(artifact: Artifact) -> Path:
    return artifact.home / MANIFEST_FILENAME


def _current(path: Path) -> str | None:
    try:
        if path.is_symlink():
            return None
        return path.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def write_manifest(artifact: Artifact, new: Version | None = None) -> bool:
    """Rewrite ``manifest.toml`` atomically if it is missing or stale.

    The caller holds the artifact's lock.

    Args:
        artifact: An artifact with a history.
        new: A version just recorded on top of the newest one, if any.

    Returns:
        True if the file was written.
    """
    text = render_manifest(artifact, new)
    path = _path(artifact)
    if text is None or _current(path) == text:
        return False
    atomic_write(path, (text.encode("utf-8"),))
    return True


def update_manifest(
    artifact: Artifact,
    *,
    kind: str | None = None,
    src: Path | None = None,
    new: Version | None = None,
) -> bool:
    """Record the artifact's kind if known, then rewrite its manifest if needed.

    The caller holds the artifact's lock.

    Args:
        artifact: An artifact with a history.
        kind: The kind, when the caller knows it (it replaces a recorded one).
        src: The snapshot's source, to infer a kind when none is recorded yet.
        new: A version just recorded on top of the newest one, if any.

    Returns:
        True if ``manifest.toml`` was written.
    """
    record_kind(artifact, kind, src)
    return write_manifest(artifact, new)


def record_kind(artifact: Artifact, kind: str | None, src: Path | None) -> None:
    """Record the artifact's kind in its history's config, if known and new.

    The caller holds the artifact's lock.

    Args:
        artifact: An artifact with a history (its shape recorded already).
        kind: The kind, when the caller knows it (it replaces a recorded one).
        src: The snapshot's source, to infer a kind when none is recorded yet.
    """
    stored = _stored_kind(artifact)
    if kind is None and stored is None and src is not None:
        kind = kind_for_path(src, artifact.kind())
    if kind is not None and kind != stored:
        _set_kind(artifact, kind)


def check_manifest(artifact: Artifact) -> list[str]:
    """Say what is wrong with the artifact's ``manifest.toml`` (empty: nothing).

    Args:
        artifact: An artifact with a history.

    Returns:
        Problems, each naming the file; none while the history itself cannot
        be read (``verify`` reports that).
    """
    try:
        text = render_manifest(artifact)
    except GitVersionsError:
        return []
    if text is None:
        return []
    path = _path(artifact)
    current = _current(path)
    if current is None:
        if path.exists() or path.is_symlink():
            return [f"{MANIFEST_FILENAME}: unreadable (repair with verify --repair)"]
        return [f"{MANIFEST_FILENAME}: missing (repair with verify --repair)"]
    if current != text:
        return [
            f"{MANIFEST_FILENAME}: out of date with the history "
            "(repair with verify --repair)"
        ]
    return []

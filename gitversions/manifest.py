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

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import tomlkit

from ._loose import atomic_write
from .errors import GitVersionsError, InputError

if TYPE_CHECKING:
    from .store import Artifact

__all__ = [
    "KINDS",
    "MANIFEST_FILENAME",
    "ArtifactKind",
    "artifact_kind",
    "check_kind",
    "check_manifest",
    "kind_for_path",
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


def render_manifest(artifact: Artifact) -> str | None:
    """Render the manifest of an artifact (None while it has no version).

    Args:
        artifact: An artifact with a history.

    Returns:
        The text of ``manifest.toml``, a pure function of the history and kind.
    """
    history = artifact.history
    versions = history.versions()
    latest = history.latest()
    if not versions or latest is None:
        return None
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"{_HEADER} rebuilds it."))
    table = tomlkit.table()
    table.add("name", artifact.name)
    table.add("kind", artifact_kind(artifact))
    table.add("source", latest.source)
    table.add("version_count", len(versions))
    table.add("latest", str(latest.id))
    table.add("created", versions[0].timestamp)
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


def write_manifest(artifact: Artifact) -> bool:
    """Rewrite ``manifest.toml`` atomically if it is missing or stale.

    The caller holds the artifact's lock.

    Args:
        artifact: An artifact with a history.

    Returns:
        True if the file was written.
    """
    text = render_manifest(artifact)
    path = _path(artifact)
    if text is None or _current(path) == text:
        return False
    atomic_write(path, (text.encode("utf-8"),))
    return True


def update_manifest(
    artifact: Artifact, *, kind: str | None = None, src: Path | None = None
) -> bool:
    """Record the artifact's kind if known, then rewrite its manifest if needed.

    The caller holds the artifact's lock.

    Args:
        artifact: An artifact with a history.
        kind: The kind, when the caller knows it (it replaces a recorded one).
        src: The snapshot's source, to infer a kind when none is recorded yet.

    Returns:
        True if ``manifest.toml`` was written.
    """
    stored = _stored_kind(artifact)
    if kind is None and stored is None and src is not None:
        kind = kind_for_path(src, artifact.kind())
    if kind is not None and kind != stored:
        _set_kind(artifact, kind)
    return write_manifest(artifact)


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

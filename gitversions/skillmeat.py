"""SkillMeat integration: import tarball snapshots, snapshot a whole collection.

SkillMeat keeps a collection at ``~/.skillmeat/collections/<collection>/``::

    collection.toml  collection.lock
    skills/<name>/...          a skill: a directory
    commands/<name>.md         a command: one file
    agents/<name>.md           an agent: one file

and snapshots of it at ``~/.skillmeat/snapshots/<collection>/``: one
``<id>.tar.gz`` per snapshot (the collection directory, archived under the
collection's name) and ``snapshots.toml`` listing ``[[snapshots]]`` with ``id``
(UTC ``YYYYMMDD-HHMMSS-ffffff``), ``timestamp``, ``message``,
``artifact_count`` and ``tarball_path``.

:func:`import_snapshots` turns every snapshot, oldest first, into versions of
per-artifact histories, carrying over each snapshot's time and message, with
the source ``skillmeat:<collection>@<id>``. It is idempotent: for every artifact
it skips the snapshots up to the newest one already imported into its history,
and content equal to the newest version creates nothing.

Tarballs are untrusted. They are never extracted as a whole: the tarball is
read as a stream, each member is checked, then written by this module into a
private temporary directory with ``O_EXCL | O_NOFOLLOW``, inside directories it
created itself.

- :class:`ImportLimits` caps what one tarball may hold (entries, content bytes,
  the size of one member): a small tarball can expand to gigabytes or hold
  hundreds of thousands of entries. Past a cap the import stops at that
  snapshot, before recording anything of it: the snapshots before it are
  imported whole, the later ones are not read, and a run with a higher cap
  continues from there.

- A member with an absolute path, a ``..`` component or a NUL refuses the whole
  tarball (it was crafted, so none of it is trusted).
- A member of an artifact that cannot be versioned as it is (a device, a fifo,
  a symlink leading out of its skill, a hardlink to something that is not a
  file of the collection written before it, a path through a link) refuses that
  artifact for that snapshot, so no version ever misrepresents a snapshot.
- Other members (``collection.toml``, the lock file) are read past, never
  written.

:func:`snapshot_collection` records every artifact of a live collection in its
own history, with the source ``skillmeat:<collection>``.

Artifact names are the collection's names (``skills/review/``, ``commands/review.md``
and ``agents/review.md`` all want ``review``). When kinds collide, the kind that
already owns the name in the store keeps it, else skills before commands before
agents; the others become ``<kind>-<name>`` (``command-review``), and the
report says so.
"""

from __future__ import annotations

import errno
import gzip
import os
import posixpath
import re
import tarfile
import tempfile
import tomllib
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self, cast

from gitversions.errors import InputError, SourceError
from gitversions.formats.manifest import KINDS, ArtifactKind, artifact_kind
from gitversions.fs.atomic import write_all
from gitversions.materialize.export import remove_tree
from gitversions.model.ids import VersionId, validate_name
from gitversions.model.paths import check_component
from gitversions.snapshot.hashing import CHUNK_SIZE, hash_source, scan_source
from gitversions.store import Store

__all__ = [
    "SNAPSHOTS_INDEX",
    "CollectionReport",
    "Entry",
    "ImportLimits",
    "ImportReport",
    "SnapshotInfo",
    "SnapshotOutcome",
    "import_snapshots",
    "read_index",
    "scan_collection",
    "snapshot_collection",
]

SNAPSHOTS_INDEX = "snapshots.toml"
TARBALL_SUFFIX = ".tar.gz"
AREAS: dict[str, ArtifactKind] = {
    "skills": "skill",
    "commands": "command",
    "agents": "agent",
}
_ID_FORMAT = "%Y%m%d-%H%M%S-%f"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")
_NESTED = "a subdirectory; commands and agents are single .md files"
_NOT_MD = "not a .md file"
_NOT_DIR = "not a directory; a skill is a directory"
_EMPTY = "empty: no files to version"

Key = tuple[ArtifactKind, str]


@dataclass(frozen=True)
class Entry:
    """One artifact of a collection.

    Attributes:
        kind: ``"skill"``, ``"command"`` or ``"agent"``.
        base: Its name in the collection (``review`` for ``commands/review.md``).
        rel: Its path in the collection (``skills/review``, ``commands/review.md``).
        path: Where its content is on disk.
    """

    kind: ArtifactKind
    base: str
    rel: str
    path: Path

    @property
    def key(self) -> Key:
        """``(kind, base)``, which identifies the artifact in the collection."""
        return (self.kind, self.base)


# -- names -------------------------------------------------------------------


class _Namer:
    """Chooses store names for collection entries, consistently with the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.claims: dict[str, str] = {}

    def _owner(self, name: str) -> str | None:
        if name not in self.claims:
            artifact = self.store.artifact(name)
            if not artifact.exists():
                return None
            try:
                self.claims[name] = artifact_kind(artifact)
            finally:
                artifact.close()
        return self.claims[name]

    def assign(self, keys: Iterable[Key]) -> tuple[dict[Key, str], dict[Key, str]]:
        """Return the names of ``keys`` and the reasons some cannot be named."""
        by_base: dict[str, set[ArtifactKind]] = defaultdict(set)
        for kind, base in keys:
            by_base[base].add(kind)
        names: dict[Key, str] = {}
        refused: dict[Key, str] = {}
        for base in sorted(by_base):
            kinds = sorted(by_base[base], key=KINDS.index)
            try:
                validate_name(base)
            except InputError as exc:
                refused.update(((k, base), str(exc)) for k in kinds)
                continue
            owner = self._owner(base)
            for kind in kinds:
                if owner is None:
                    owner = self.claims[base] = kind
                if owner == kind:
                    names[(kind, base)] = base
                    continue
                alt = f"{kind}-{base}"
                try:
                    validate_name(alt)
                except InputError as exc:
                    refused[(kind, base)] = f"{base!r} is taken by a {owner}: {exc}"
                    continue
                alt_owner = self._owner(alt)
                if alt_owner not in (None, kind):
                    refused[(kind, base)] = (
                        f"{base!r} is taken by a {owner} and {alt!r} by a "
                        f"{alt_owner}; rename one of them"
                    )
                    continue
                self.claims[alt] = kind
                names[(kind, base)] = alt
        return names, refused


# -- live collections ----------------------------------------------------------


def scan_collection(directory: Path) -> tuple[list[Entry], dict[str, str]]:
    """Find the skills, commands and agents of a SkillMeat collection directory.

    Args:
        directory: The collection (holding ``skills/``, ``commands/``, ``agents/``).

    Returns:
        The artifacts found, sorted by path, and what was passed over (path in
        the collection -> reason).

    Raises:
        SourceError: If ``directory`` is not a directory holding any of
            ``skills/``, ``commands/`` or ``agents/``.
    """
    if directory.is_symlink() or not directory.is_dir():
        raise SourceError(f"not a directory: {directory}")
    entries: list[Entry] = []
    skipped: dict[str, str] = {}
    found_area = False
    for area, kind in AREAS.items():
        area_dir = directory / area
        if area_dir.is_symlink() or (area_dir.exists() and not area_dir.is_dir()):
            skipped[area] = "not a directory"
            continue
        if not area_dir.is_dir():
            continue
        found_area = True
        for child in sorted(area_dir.iterdir(), key=lambda p: p.name):
            name, rel = child.name, f"{area}/{child.name}"
            if name.lower() == ".git":
                continue
            if kind == "skill":
                if child.is_symlink() or not child.is_dir():
                    skipped[rel] = _NOT_DIR
                else:
                    entries.append(Entry(kind, name, rel, child))
            elif child.is_symlink():
                skipped[rel] = "a symlink; a command or agent must be a regular file"
            elif child.is_dir():
                skipped[f"{rel}/"] = _NESTED
            elif not name.endswith(".md") or name == ".md":
                skipped[rel] = _NOT_MD
            elif not child.is_file():
                skipped[rel] = "not a regular file"
            else:
                entries.append(Entry(kind, name[:-3], rel, child))
    if not found_area:
        raise SourceError(
            f"{directory} is not a SkillMeat collection: it has no skills/, "
            "commands/ or agents/ directory"
        )
    return entries, skipped


@dataclass
class CollectionReport:
    """What :func:`snapshot_collection` did.

    Attributes:
        collection: The collection's name.
        created: New versions, artifact name -> version id.
        unchanged: Artifacts whose newest version already matched, name -> id.
        skipped: Entries not recorded, path in the collection -> reason.
        renamed: Entries stored under another name, path -> artifact name.
    """

    collection: str
    created: dict[str, str] = field(default_factory=dict)
    unchanged: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (the ``--json`` form)."""
        return {
            "collection": self.collection,
            "created": self.created,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "renamed": self.renamed,
        }


def _is_empty(store: Store, path: Path) -> bool:
    try:
        return scan_source(path, store.config.exclude).file_count() == 0
    except SourceError:
        return False  # let the snapshot report the problem


def snapshot_collection(
    store: Store,
    directory: Path,
    *,
    message: str | None = None,
    progress: Callable[[Entry], None] | None = None,
    on_scan: Callable[[list[Entry]], None] | None = None,
) -> CollectionReport:
    """Record every skill, command and agent of a collection in its own history.

    Args:
        store: The store to record into.
        directory: The SkillMeat collection directory.
        message: The message of the new versions.
        progress: Called after each artifact.
        on_scan: Called once with the artifacts found, before any is recorded.

    Returns:
        New and unchanged artifacts, and what was skipped or renamed.

    Raises:
        SourceError: If ``directory`` is not a collection.
    """
    collection = directory.resolve().name
    entries, skipped = scan_collection(directory)
    if on_scan is not None:
        on_scan(entries)
    report = CollectionReport(collection, skipped=skipped)
    names, refused = _Namer(store).assign(e.key for e in entries)
    source = f"skillmeat:{collection}"
    for entry in entries:
        name = names.get(entry.key)
        if name is None:
            report.skipped[entry.rel] = refused[entry.key]
        elif _is_empty(store, entry.path):
            report.skipped[entry.rel] = _EMPTY
        else:
            if name != entry.base:
                report.renamed[entry.rel] = name
            try:
                result = store.snapshot(
                    name,
                    entry.path,
                    message=message,
                    source=source,
                    artifact_kind=entry.kind,
                )
            except InputError as exc:
                report.skipped[entry.rel] = str(exc)
            else:
                into = report.created if result.created else report.unchanged
                into[name] = str(result.version.id)
        if progress is not None:
            progress(entry)
    return report


# -- the snapshot index --------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """One SkillMeat snapshot, as listed in ``snapshots.toml``.

    Attributes:
        id: Its id (``20251130-100000-123456``).
        time: Its time in whole seconds since the epoch (UTC).
        message: Its message ("" when it had none).
        tarball: Its tarball, always inside the snapshot directory.
    """

    id: str
    time: int
    message: str
    tarball: Path

    @property
    def key(self) -> tuple[int, str]:
        """Order of snapshots: time, then id."""
        return (self.time, self.id)

    @property
    def timestamp(self) -> str:
        """The time as RFC 3339 UTC."""
        return datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _seconds(value: object) -> int | None:
    if isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SkillMeat writes UTC
    seconds = int(value.timestamp())
    return seconds if seconds >= 0 else None


def _seconds_from_id(snapshot_id: str) -> int | None:
    try:
        when = datetime.strptime(snapshot_id, _ID_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return int(when.timestamp())


def _fallback_index(directory: Path, why: str) -> tuple[list[SnapshotInfo], list[str]]:
    notes = [
        f"{why}: importing every *{TARBALL_SUFFIX} in name order, without messages"
    ]
    result = []
    for path in sorted(directory.glob(f"*{TARBALL_SUFFIX}")):
        snapshot_id = path.name[: -len(TARBALL_SUFFIX)]
        seconds = _seconds_from_id(snapshot_id)
        if seconds is None:
            seconds = int(path.lstat().st_mtime)
        result.append(SnapshotInfo(snapshot_id, seconds, "", path))
    return result, notes


def read_index(directory: Path) -> tuple[list[SnapshotInfo], list[str]]:
    """Read a SkillMeat snapshot directory's ``snapshots.toml``, oldest first.

    Tarballs are looked up inside ``directory`` only (by the file name of
    ``tarball_path``, else ``<id>.tar.gz``), so a moved directory still works and
    nothing outside it is read. Without a usable ``snapshots.toml``, the
    ``*.tar.gz`` files are taken in name order.

    Args:
        directory: The snapshot directory.

    Returns:
        The snapshots, oldest first, and remarks about what was passed over.

    Raises:
        SourceError: If ``directory`` is not a directory.
    """
    if directory.is_symlink() or not directory.is_dir():
        raise SourceError(f"not a directory: {directory}")
    index = directory / SNAPSHOTS_INDEX
    try:
        data = tomllib.loads(index.read_text("utf-8"))
    except FileNotFoundError:
        return _fallback_index(directory, f"{SNAPSHOTS_INDEX} not found")
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return _fallback_index(directory, f"{SNAPSHOTS_INDEX} is unreadable ({exc})")
    tables = data.get("snapshots")
    if not isinstance(tables, list):
        return _fallback_index(directory, f"{SNAPSHOTS_INDEX} has no [[snapshots]]")
    notes: list[str] = []
    result: dict[str, SnapshotInfo] = {}
    for number, item in enumerate(tables, 1):
        table: dict[str, Any] = item if isinstance(item, dict) else {}
        snapshot_id = table.get("id")
        if not isinstance(snapshot_id, str) or not _SAFE_ID.fullmatch(snapshot_id):
            notes.append(
                f"{SNAPSHOTS_INDEX}: entry #{number} has no usable id "
                f"({snapshot_id!r}); skipped"
            )
            continue
        if snapshot_id in result:
            notes.append(f"{SNAPSHOTS_INDEX}: snapshot {snapshot_id} is listed twice")
            continue
        given = table.get("tarball_path")
        name = re.split(r"[\\/]", given)[-1] if isinstance(given, str) else ""
        if name in ("", ".", ".."):
            name = f"{snapshot_id}{TARBALL_SUFFIX}"
        seconds = _seconds(table.get("timestamp"))
        if seconds is None:
            seconds = _seconds_from_id(snapshot_id) or 0
        message = table.get("message")
        result[snapshot_id] = SnapshotInfo(
            snapshot_id,
            seconds,
            message if isinstance(message, str) else "",
            directory / name,
        )
    listed = {info.tarball.name for info in result.values()}
    notes.extend(
        f"{path.name} is not listed in {SNAPSHOTS_INDEX}; not imported"
        for path in sorted(directory.glob(f"*{TARBALL_SUFFIX}"))
        if path.name not in listed
    )
    return sorted(result.values(), key=lambda info: info.key), notes


# -- reading one tarball safely ------------------------------------------------

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"\s*(\d+)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)
# What a member's headers (pax records, GNU long names) may take besides its
# content; tarfile reads them whole, into memory.
_HEADER_ROOM = 1 << 20
# Errors of the disk being written, not of the tarball being read.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def parse_size(text: str) -> int:
    """Read a size: ``4096``, ``512K``, ``100M``, ``2G``, ``1TiB`` (binary units).

    Args:
        text: The size as typed.

    Returns:
        The number of bytes.

    Raises:
        ValueError: If ``text`` is not such a size, or is 0.
    """
    match = _SIZE.fullmatch(text)
    value = int(match.group(1)) * _UNITS[match.group(2).upper()] if match else 0
    if value <= 0:
        raise ValueError(
            f"{text!r} is not a size (a positive number of bytes: 4096, 512K, 100M, 2G)"
        )
    return value


def format_size(value: int) -> str:
    """Write a size as :func:`parse_size` reads it, in the largest exact unit."""
    for unit in ("T", "G", "M", "K"):
        if value % _UNITS[unit] == 0:
            return f"{value // _UNITS[unit]}{unit}"
    return str(value)


@dataclass(frozen=True)
class ImportLimits:
    """What one SkillMeat tarball may hold; past any of it the import stops there.

    A tarball of a few megabytes can expand to gigabytes, or list hundreds of
    thousands of entries; these caps keep the temporary copy and the memory
    small. The defaults are far above any real collection.

    Attributes:
        max_entries: Members of one tarball (files, directories, links, anything).
        max_size: Bytes of content of all members of one tarball, uncompressed.
        max_file_size: Bytes of content of any one member.
    """

    max_entries: int = 100_000
    max_size: int = 1 << 30
    max_file_size: int = 100 << 20


class _OverLimit(Exception):
    """A tarball past one of the :class:`ImportLimits`."""

    def __init__(self, what: str, option: str, value: str) -> None:
        super().__init__(
            f"{what}, past the limit of {option} {value}; nothing of this snapshot "
            "was imported and the later ones were not read. If the tarball is "
            f"genuine, run again with a higher {option} (the import continues "
            "from this snapshot)"
        )


class _Budget:
    """The tarball's decompressed stream, read by tarfile, held to the limits.

    tarfile skips members and reads a member's headers through ``read``, so
    between two members it may read at most one member's content plus
    :data:`_HEADER_ROOM`; a header claiming gigabytes stops here, before
    tarfile holds it in memory.
    """

    def __init__(self, source: gzip.GzipFile, limits: ImportLimits) -> None:
        self.source = source
        self.limits = limits
        self.window = limits.max_file_size + _HEADER_ROOM
        self.since = 0  # bytes read since the last member was admitted
        self.entries = 0
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        room = self.window - self.since
        if room <= 0:
            raise _OverLimit(
                "a member with its headers holds more than "
                f"{format_size(self.limits.max_file_size)}",
                "--max-file-size",
                format_size(self.limits.max_file_size),
            )
        data = self.source.read(room if size < 0 or size > room else size)
        self.since += len(data)
        return data

    def admit(self, member: tarfile.TarInfo) -> None:
        """Count ``member`` against the limits, before any of its content is read."""
        limits = self.limits
        self.since = 0
        self.entries += 1
        self.size += member.size
        if self.entries > limits.max_entries:
            raise _OverLimit(
                f"more than {limits.max_entries} entries",
                "--max-entries",
                str(limits.max_entries),
            )
        if member.size > limits.max_file_size:
            raise _OverLimit(
                f"member {member.name!r} holds {format_size(member.size)}",
                "--max-file-size",
                format_size(limits.max_file_size),
            )
        if self.size > limits.max_size:
            raise _OverLimit(
                f"its members hold more than {format_size(limits.max_size)}",
                "--max-size",
                format_size(limits.max_size),
            )


class _Tarball:
    """A gzip-compressed tarball opened as a stream, within ``limits``."""

    def __init__(self, path: Path, limits: ImportLimits) -> None:
        self.gz = gzip.open(path, "rb")  # noqa: SIM115 - closed by __exit__
        self.budget = _Budget(self.gz, limits)
        try:
            # "r|": a stream, read once front to back; nothing is seeked back to.
            self.tar = tarfile.open(  # noqa: SIM115 - closed by __exit__
                fileobj=cast("IO[bytes]", self.budget),
                mode="r|",
            )
        except BaseException:
            self.gz.close()
            raise

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.tar.close()
        finally:
            self.gz.close()


class _Refused(Exception):
    """A tarball whose member paths show it was crafted; none of it is used."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


def _split(name: str) -> list[str]:
    """Split a member name into components, refusing unsafe ones.

    Raises:
        ValueError: With the reason, for absolute paths, ``..`` and NUL.
    """
    if "\0" in name:
        raise ValueError("NUL in its name")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[\\/]", name):
        raise ValueError("absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts or any(p == ".." for part in parts for p in part.split("\\")):
        raise ValueError("'..' in its path")
    return parts


def _component_problem(part: str) -> str | None:
    try:
        raw = part.encode("utf-8")
    except UnicodeEncodeError:
        return f"name {part!r} is not UTF-8"
    return check_component(raw)


@dataclass(frozen=True)
class _Place:
    """Where an archive member belongs.

    Attributes:
        key: Its artifact, or None for anything else.
        parts: Its path under the private directory (an artifact's member), or
            the entry to name in the report.
        reason: Why a member outside the artifacts is reported (None: silently
            passed over, like ``collection.toml``).
    """

    key: Key | None
    parts: tuple[str, ...]
    reason: str | None = None


class _Reader:
    """Writes the artifacts of one tarball into a private directory, checking."""

    def __init__(self, dest: Path, collection: str) -> None:
        self.dest = dest
        self.collection = collection
        self.nodes: dict[tuple[str, ...], str] = {(): "directory"}
        self.entries: dict[Key, Entry] = {}
        self.bad: dict[Key, str] = {}  # artifacts refused, with the reason
        self.ignored: dict[str, str] = {}
        self.unsafe: list[str] = []

    def read(self, tarball: _Tarball) -> None:
        tar = tarball.tar
        while (member := tar.next()) is not None:
            # tarfile keeps every member it read (300,000 entries took 1.25 GB);
            # read as a stream, nothing looks back, so it keeps nothing here.
            cast(Any, tar).members.clear()
            tarball.budget.admit(member)
            try:
                parts = _split(member.name)
            except ValueError as exc:
                self.unsafe.append(f"member {member.name!r}: {exc}")
                continue
            if not self.unsafe:
                self._member(tar, member, parts)
        if self.unsafe:
            raise _Refused(self.unsafe)

    def _locate(self, parts: list[str]) -> _Place:
        """Map an archive path to its artifact and its path under ``dest``."""
        if not parts or parts[0] != self.collection:
            top = f"{parts[0]}/" if parts else "/"
            return _Place(None, (top,), f"outside the collection {self.collection}/")
        rel = tuple(parts[1:])
        if len(rel) < 2 or rel[0] not in AREAS:
            return _Place(None, rel)  # the collection's own files: never written
        kind = AREAS[rel[0]]
        if kind == "skill":
            return _Place((kind, rel[1]), rel)
        if len(rel) > 2:
            return _Place(None, (f"{rel[0]}/{rel[1]}/",), _NESTED)
        if not rel[1].endswith(".md") or rel[1] == ".md":
            return _Place(None, rel, _NOT_MD)
        return _Place((kind, rel[1][:-3]), rel)

    def _member(
        self, tar: tarfile.TarFile, member: tarfile.TarInfo, parts: list[str]
    ) -> None:
        if any(p.lower() == ".git" for p in parts):
            return  # git metadata is never content, as in a snapshot
        place = self._locate(parts)
        key, dparts = place.key, place.parts
        if key is None:
            if place.reason is not None:
                self.ignored["/".join(dparts)] = place.reason
            return
        if key[0] == "skill" and len(dparts) == 2 and not member.isdir():
            self.ignored["/".join(dparts)] = _NOT_DIR
            return
        if key not in self.entries:
            top = dparts[:2]
            self.entries[key] = Entry(*key, "/".join(top), self.dest.joinpath(*top))
        if key in self.bad:
            return
        problem = self._write(tar, member, key, dparts)
        if problem:
            self.bad[key] = f"{'/'.join(dparts)}: {problem}"

    def _mkdirs(self, dparts: tuple[str, ...]) -> str | None:
        for i in range(1, len(dparts) + 1):
            prefix = dparts[:i]
            node = self.nodes.get(prefix)
            if node == "directory":
                continue
            if node is not None:
                return f"goes through {'/'.join(prefix)}, which is a {node}"
            os.mkdir(self.dest.joinpath(*prefix), 0o755)
            self.nodes[prefix] = "directory"
        return None

    def _write(
        self,
        tar: tarfile.TarFile,
        member: tarfile.TarInfo,
        key: Key,
        dparts: tuple[str, ...],
    ) -> str | None:
        for part in dparts:
            problem = _component_problem(part)
            if problem:
                return problem
        if member.isdir():
            return self._mkdirs(dparts)
        problem = self._mkdirs(dparts[:-1])
        if problem:
            return problem
        if dparts in self.nodes:
            return "duplicate member"
        path = self.dest.joinpath(*dparts)
        executable = bool(member.mode & 0o100)
        if member.isreg():
            source = tar.extractfile(member)
            assert source is not None  # a regular member always has data
            with source:
                _write_file(path, source, executable)
            self.nodes[dparts] = "file"
            return None
        if member.issym():
            problem = _link_problem(key, dparts, member.linkname)
            if problem:
                return problem
            os.symlink(member.linkname, path)
            self.nodes[dparts] = "symlink"
            return None
        if member.islnk():
            return self._hardlink(member, dparts, executable)
        if member.ischr() or member.isblk():
            return "a device; only files, directories and symlinks can be versioned"
        if member.isfifo():
            return "a fifo; only files, directories and symlinks can be versioned"
        return f"unsupported member type {member.type!r}"

    def _hardlink(
        self, member: tarfile.TarInfo, dparts: tuple[str, ...], executable: bool
    ) -> str | None:
        # The target's content is copied from the file written for it before.
        try:
            place = self._locate(_split(member.linkname))
        except ValueError:
            place = _Place(None, ())
        if place.key is None or self.nodes.get(place.parts) != "file":
            return (
                f"hardlink to {member.linkname!r}, which is not a file of the "
                "collection's artifacts stored before it"
            )
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        with open(os.open(self.dest.joinpath(*place.parts), flags), "rb") as source:
            _write_file(self.dest.joinpath(*dparts), source, executable)
        self.nodes[dparts] = "file"
        return None


def _link_problem(key: Key, dparts: tuple[str, ...], target: str) -> str | None:
    if key[0] != "skill":
        return "a symlink; a command or agent must be a regular file"
    if not target or "\0" in target:
        return "a symlink with an invalid target"
    if target.startswith("/"):
        return f"a symlink to an absolute path ({target})"
    inside = posixpath.normpath(posixpath.join(*dparts[2:-1], target))
    if inside == ".." or inside.startswith("../"):
        return f"a symlink pointing outside its skill ({target})"
    return None


def _write_file(path: Path, source: IO[bytes], executable: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o600)
    try:
        while chunk := source.read(CHUNK_SIZE):
            write_all(fd, chunk, path)
        os.fchmod(fd, 0o755 if executable else 0o644)
    finally:
        os.close(fd)


# -- importing ---------------------------------------------------------------


@dataclass
class SnapshotOutcome:
    """What the import did with one snapshot.

    Attributes:
        id: The snapshot id.
        timestamp: Its time, RFC 3339 UTC.
        message: Its message.
        tarball: The tarball's file name.
        status: ``"imported"``, or why it was not: ``"missing"``, ``"corrupt"``,
            ``"refused"`` (unsafe members), ``"over-limit"`` (past one of the
            :class:`ImportLimits`; the import stopped there).
        problems: Details of a status other than ``"imported"``.
        created: New versions (would-be versions in a dry run), name -> id.
        unchanged: Artifacts equal to their newest version.
        already: Artifacts that already hold this snapshot (an earlier import).
        absent: Artifacts of earlier snapshots that this one does not hold.
        skipped: Artifacts or entries not imported, path -> reason.
    """

    id: str
    timestamp: str
    message: str
    tarball: str
    status: str = "imported"
    problems: list[str] = field(default_factory=list)
    created: dict[str, str] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The outcome as plain data."""
        return {
            "id": self.id,
            "timestamp": self.timestamp,
            "message": self.message,
            "tarball": self.tarball,
            "status": self.status,
            "problems": self.problems,
            "created": self.created,
            "unchanged": self.unchanged,
            "already_imported": self.already,
            "absent": self.absent,
            "skipped": self.skipped,
        }


@dataclass
class ImportReport:
    """What :func:`import_snapshots` did (or, in a dry run, would do).

    Attributes:
        collection: The collection's name.
        dry_run: Whether nothing was written.
        snapshots: One outcome per snapshot, oldest first.
        renamed: Entries stored under another name, path -> artifact name.
        notes: Remarks about the snapshot directory itself.
        stopped_at: The snapshot past a limit, where the import stopped (the
            later ones were not read), or None.
    """

    collection: str
    dry_run: bool
    snapshots: list[SnapshotOutcome] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stopped_at: str | None = None

    @property
    def created(self) -> int:
        """How many versions were (or would be) created."""
        return sum(len(s.created) for s in self.snapshots)

    @property
    def failed(self) -> list[SnapshotOutcome]:
        """The snapshots that could not be imported at all."""
        return [s for s in self.snapshots if s.status != "imported"]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain data (the ``--json`` form)."""
        return {
            "collection": self.collection,
            "dry_run": self.dry_run,
            "versions_created": self.created,
            "snapshots": [s.to_dict() for s in self.snapshots],
            "failed": [s.id for s in self.failed],
            "renamed": self.renamed,
            "notes": self.notes,
            "stopped_at": self.stopped_at,
        }


class _Importer:
    """Imports snapshots one by one, remembering what each artifact holds."""

    def __init__(
        self, store: Store, collection: str, dry_run: bool, limits: ImportLimits
    ) -> None:
        self.store = store
        self.collection = collection
        self.dry_run = dry_run
        self.limits = limits
        self.namer = _Namer(store)
        self.prefix = f"skillmeat:{collection}@"
        # Per artifact: the newest imported snapshot's key and content hash.
        self.imported: dict[str, tuple[tuple[int, str], str] | None] = {}
        # Per artifact, in a dry run: the would-be newest number and hash.
        self.planned: dict[str, tuple[int, str | None]] = {}
        self.seen: set[str] = set()

    def _last_imported(self, name: str) -> tuple[tuple[int, str], str] | None:
        """The newest version imported from this collection into ``name``."""
        if name not in self.imported:
            artifact = self.store.artifact(name)
            found = []
            if artifact.exists():
                found = [
                    ((v.time, v.source[len(self.prefix) :]), v.hash)
                    for v in artifact.versions()
                    if v.source.startswith(self.prefix)
                ]
                artifact.close()
            self.imported[name] = max(found, default=None)
        return self.imported[name]

    def _plan(self, name: str, content: str) -> str | None:
        """The id a dry run would create for ``content``, or None if unchanged."""
        if name not in self.planned:
            artifact = self.store.artifact(name)
            latest = artifact.history.latest() if artifact.exists() else None
            artifact.close()
            self.planned[name] = (latest.number, latest.hash) if latest else (0, None)
        number, current = self.planned[name]
        if content == current:
            return None
        self.planned[name] = (number + 1, content)
        return str(VersionId.for_hash(number + 1, content))

    def run(self, info: SnapshotInfo, report: ImportReport) -> SnapshotOutcome:
        """Import one snapshot; its tarball is read into a private directory."""
        outcome = SnapshotOutcome(
            info.id, info.timestamp, info.message, info.tarball.name
        )
        if info.tarball.is_symlink() or not info.tarball.is_file():
            outcome.status = "missing"
            what = "a symlink" if info.tarball.is_symlink() else "missing"
            outcome.problems.append(f"tarball {info.tarball.name} is {what}")
            return outcome
        dest = Path(tempfile.mkdtemp(prefix="gitversions-import-"))
        try:
            reader = _Reader(dest, self.collection)
            try:
                with _Tarball(info.tarball, self.limits) as tarball:
                    reader.read(tarball)
            except _OverLimit as exc:
                outcome.status = "over-limit"
                outcome.problems.append(f"tarball {info.tarball.name}: {exc}")
                return outcome
            except _Refused as exc:
                outcome.status = "refused"
                outcome.problems.extend(exc.reasons)
                return outcome
            except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
                if isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
                    raise  # the temporary copy's disk, named: not the tarball
                outcome.status = "corrupt"
                outcome.problems.append(
                    f"tarball {info.tarball.name} cannot be read: {exc}"
                )
                return outcome
            outcome.skipped.update(reader.ignored)
            self._record(info, reader, outcome, report)
        finally:
            remove_tree(dest)
        return outcome

    def _record(
        self,
        info: SnapshotInfo,
        reader: _Reader,
        outcome: SnapshotOutcome,
        report: ImportReport,
    ) -> None:
        entries = sorted(reader.entries.values(), key=lambda e: e.rel)
        names, refused = self.namer.assign(e.key for e in entries)
        present: set[str] = set()
        for entry in entries:
            name = names.get(entry.key)
            if name is not None:
                present.add(name)
            if entry.key in reader.bad:
                outcome.skipped[entry.rel] = reader.bad[entry.key]
            elif name is None:
                outcome.skipped[entry.rel] = refused[entry.key]
            else:
                if name != entry.base:
                    report.renamed[entry.rel] = name
                try:
                    self._entry(name, entry, info, outcome)
                except InputError as exc:
                    outcome.skipped[entry.rel] = str(exc)
        outcome.absent = sorted(self.seen - present)
        self.seen |= present

    def _entry(
        self, name: str, entry: Entry, info: SnapshotInfo, outcome: SnapshotOutcome
    ) -> None:
        last = self._last_imported(name)
        if last is not None and info.key <= last[0]:
            outcome.already.append(name)
            return
        scanned = scan_source(entry.path, self.store.config.exclude)
        if scanned.file_count() == 0:
            outcome.skipped[entry.rel] = _EMPTY
            return
        (raw,) = hash_source(scanned, ("sha256",))
        content = raw.hex()
        if last is not None and last[1] == content:
            # Unchanged since the snapshot last imported into this artifact,
            # even if the artifact was snapshotted locally since.
            outcome.unchanged.append(name)
            return
        if self.dry_run:
            planned = self._plan(name, content)
            if planned is None:
                outcome.unchanged.append(name)
            else:
                outcome.created[name] = planned
                self.imported[name] = (info.key, content)
            return
        result = self.store.snapshot(
            name,
            entry.path,
            message=info.message or f"SkillMeat snapshot {info.id}",
            source=f"{self.prefix}{info.id}",
            timestamp=info.time,
            artifact_kind=entry.kind,
        )
        if result.created:
            outcome.created[name] = str(result.version.id)
            self.imported[name] = (info.key, result.version.hash)
        else:
            outcome.unchanged.append(name)


def import_snapshots(
    store: Store,
    directory: Path,
    *,
    collection: str | None = None,
    dry_run: bool = False,
    limits: ImportLimits | None = None,
    progress: Callable[[SnapshotOutcome], None] | None = None,
    on_index: Callable[[list[SnapshotInfo]], None] | None = None,
) -> ImportReport:
    """Import a SkillMeat snapshot directory into per-artifact histories.

    Every snapshot, oldest first, gives each of its skills, commands and agents
    a new version (with the snapshot's time and message) unless the content
    equals the artifact's newest version or the artifact already holds that
    snapshot. A missing, corrupt or unsafe tarball is reported and passed over;
    the others are still imported. A tarball past ``limits`` stops the import
    there, before anything of it is recorded (see :class:`ImportLimits`).
    Running it again adds nothing.

    Args:
        store: The store to import into.
        directory: ``~/.skillmeat/snapshots/<collection>``.
        collection: The collection's name (default: the directory's name); the
            tarballs hold the collection under this name.
        dry_run: Write nothing; report the versions that would be created.
        limits: What one tarball may hold (default: :class:`ImportLimits`).
        progress: Called after each snapshot.
        on_index: Called once with the snapshots found, before any is read.

    Returns:
        What was done for each snapshot.

    Raises:
        SourceError: If ``directory`` is not a directory.
        InputError: If the collection name is unusable.
        OSError: If the temporary copy of a tarball cannot be written (a full
            disk), naming the path.
    """
    name = collection or directory.resolve().name
    if _component_problem(name) or any(c in name for c in "\n\r@"):
        raise InputError(f"unusable collection name {name!r}; pass --collection")
    infos, notes = read_index(directory)
    if on_index is not None:
        on_index(infos)
    report = ImportReport(name, dry_run, notes=notes)
    importer = _Importer(store, name, dry_run, limits or ImportLimits())
    for info in infos:
        outcome = importer.run(info, report)
        report.snapshots.append(outcome)
        if progress is not None:
            progress(outcome)
        if outcome.status == "over-limit":
            # Passing over it would bury it: later snapshots would make it
            # older than what each artifact holds, and no rerun would add it.
            report.stopped_at = info.id
            break
    return report

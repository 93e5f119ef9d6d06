"""Store roots and artifacts: the API that users and the command line call.

A store root holds ``gitversions.toml`` and ``artifacts/<name>/``; each artifact
home holds ``history.git/`` (the bare repository), ``versions/`` (materialized
versions) and ``.lock`` (the artifact's lock). Every operation that writes takes
the artifact's lock first, exclusively. Readers of one version never need it,
because nothing is visible before it is complete; ``verify``, which reads the
whole artifact and compares its parts, holds it shared.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gitversions.display import quote_path
from gitversions.errors import (
    CorruptionError,
    DestinationError,
    GitVersionsError,
    InputError,
    NotFoundError,
    SourceError,
    UnfinishedError,
)
from gitversions.formats.config import (
    CONFIG_FILENAME,
    Config,
    load_config,
    render_default,
)
from gitversions.formats.manifest import (
    MANIFEST_FILENAME,
    check_kind,
    check_manifest,
    record_kind,
    update_manifest,
    write_manifest,
)
from gitversions.formats.metadata import (
    VERSION_FILENAME,
    parse_version_toml,
    render_version_toml,
    validate_version_toml,
    version_record,
)
from gitversions.fs.atomic import atomic_write
from gitversions.git.history import History
from gitversions.materialize.export import (
    ARCHIVE_SUFFIX,
    LATEST_NAMES,
    TMP_MARK,
    ExportResult,
    Format,
    Materializer,
    archive_version_id,
    finish_killed_restore,
    remove_tree,
    restore_content,
    stored_form,
    write_archive,
)
from gitversions.model.ids import validate_name
from gitversions.model.version import Changes, TreeEntry, Version
from gitversions.snapshot.hashing import (
    MODE_FILE,
    MODE_LINK,
    FileNode,
    Source,
    content_hash,
    excluded_paths,
    hash_blob_file,
    scan_source,
)
from gitversions.verify import Problem, check_history

if TYPE_CHECKING:
    from gitversions.merging import MergeResult

_log = logging.getLogger("gitversions")

__all__ = [
    "DEFAULT_ROOT",
    "Artifact",
    "SnapshotResult",
    "Store",
    "resolve_root",
]

DEFAULT_ROOT = Path("~/.skillmeat/collection")
ARTIFACTS = "artifacts"
HISTORY = "history.git"
VERSIONS = "versions"
LOCK = ".lock"


def resolve_root(
    root: str | os.PathLike[str] | None = None,
    project: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
) -> Path:
    """Choose the store root: ``root``, ``$GITVERSIONS_ROOT``, ``project/.claude``.

    Args:
        root: An explicit root (``--root``).
        project: A project directory (``--project``); its ``.claude`` is the root.
        env: The environment to consult (default: ``os.environ``).

    Returns:
        The root, with ``~`` expanded.
    """
    environ = os.environ if env is None else env
    if root is not None:
        return Path(root).expanduser()
    if environ.get("GITVERSIONS_ROOT"):
        return Path(environ["GITVERSIONS_ROOT"]).expanduser()
    if project is not None:
        return Path(project).expanduser() / ".claude"
    return DEFAULT_ROOT.expanduser()


@dataclass(frozen=True)
class SnapshotResult:
    """The outcome of a snapshot: the version, and whether it is new."""

    version: Version
    created: bool
    record: dict[str, Any]


class Artifact:
    """One artifact of a store: its history, its materialized versions, its lock."""

    def __init__(self, store: Store, name: str) -> None:
        self.store = store
        self.name = validate_name(name)
        self.home = store.root / ARTIFACTS / name
        self.history_path = self.home / HISTORY
        self.versions_dir = self.home / VERSIONS
        self._history: History | None = None

    def exists(self) -> bool:
        """Tell whether the artifact has a history repository."""
        return (self.history_path / "HEAD").is_file()

    @property
    def history(self) -> History:
        """The artifact's history (opened on first use)."""
        if self._history is None:
            if not self.exists():
                raise NotFoundError(
                    f"no artifact named {self.name!r} in {self.store.root}"
                )
            self._history = History.open(self.history_path)
        return self._history

    def close(self) -> None:
        """Release the history's open files."""
        if self._history is not None:
            self._history.close()
            self._history = None

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the artifact's writer lock (creating the artifact's home).

        A command that fails or is interrupted under the lock leaves no lock
        file or temporary in the history (a full disk must not stay full).
        """
        from gitversions.fs.lock import artifact_lock

        with artifact_lock(
            self.home / LOCK, self.store.config.lock_timeout, f"artifact {self.name!r}"
        ):
            try:
                yield
            except BaseException:
                if self._history is not None:
                    self._history.clear_stale_locks(failed=True)
                raise

    @contextlib.contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the artifact's lock shared: no writer changes it meanwhile.

        For readers that look at many files and must see one state of them
        (``verify``); other readers may hold it too. Readers of one version
        need no lock: everything appears complete, by rename.
        """
        from gitversions.fs.lock import artifact_lock

        with artifact_lock(
            self.home / LOCK,
            self.store.config.lock_timeout,
            f"artifact {self.name!r}",
            shared=True,
        ):
            yield

    # -- reading --------------------------------------------------------------

    def versions(self) -> list[Version]:
        """Every version, oldest first."""
        return self.history.versions()

    def resolve(self, ref: str) -> Version:
        """The version a REF names."""
        return self.history.resolve(ref)

    def changes(self, version: Version) -> Changes:
        """A version's changes against its first parent."""
        history = self.history
        return history.changes(history.first_parent(version), version)

    def record(self, version: Version) -> dict[str, Any]:
        """A version's fields, flattened (the ``--json`` form)."""
        return version_record(version, self.changes(version))

    def records(self, versions: Sequence[Version]) -> list[dict[str, Any]]:
        """The flattened fields of several versions (their changes cached)."""
        result = [self.record(v) for v in versions]
        self.history.flush_caches()
        return result

    def version_toml(self, version: Version) -> str:
        """The ``.version.toml`` text of a version."""
        return render_version_toml(version, self.changes(version))

    def kind(self) -> str:
        """``"dir"`` (a skill) or ``"file"`` (a command or an agent).

        Recorded at the first snapshot in ``history.git/config``, which a git
        clone does not copy; without it, a newest version holding exactly one
        regular file at its top counts as a single-file artifact.
        """
        recorded = self.history.kind()
        if recorded is not None:
            return recorded
        latest = self.history.latest()
        if latest is None:
            return "dir"
        entries = list(self.history.iter_tree(latest.tree))
        single = len(entries) == 1 and "/" not in entries[0].path
        return "file" if single and entries[0].mode != MODE_LINK else "dir"

    def first_parent(self, version: Version) -> Version | None:
        """The version ``version`` was made from (its first parent), if any."""
        return self.history.first_parent(version)

    def summary(self) -> dict[str, Any]:
        """``{"name", "versions", "latest"}``: what ``list`` shows of it."""
        latest = self.history.latest()
        return {
            "name": self.name,
            "versions": len(self.versions()),
            "latest": str(latest.id) if latest else None,
        }

    def diff(self, old: Version | None, new: Version) -> Changes:
        """The changes from ``old`` to ``new``."""
        return self.history.changes(old, new)

    def patch(self, old: Version | None, new: Version) -> str:
        """The changes from ``old`` to ``new`` as ``git diff`` prints them.

        Every changed path gets a ``diff --git`` section with git's extended
        headers (new, deleted and changed modes, ``index``), so empty files
        and mode changes are in the patch and ``git apply`` reproduces the
        new tree. A file that becomes a symlink (or back) is a deletion and
        an addition, as in git. Binary files (not UTF-8, or holding NUL) get
        git's ``Binary files ... differ`` line.
        """
        return "".join(self.patch_sections(old, new))

    def patch_sections(self, old: Version | None, new: Version) -> list[str]:
        """:meth:`patch`, one ``diff --git`` section per element."""
        history = self.history
        before = history.files(old.tree) if old is not None else {}
        after = history.files(new.tree)
        sections: list[str] = []
        for path in history.changes(old, new).files_changed:
            a, b = before.get(path), after.get(path)
            if a and b and (a.mode == MODE_LINK) != (b.mode == MODE_LINK):
                sections.append("".join(_file_patch(history, path, a, None)))
                sections.append("".join(_file_patch(history, path, None, b)))
            else:
                sections.append("".join(_file_patch(history, path, a, b)))
        return sections

    # -- writing --------------------------------------------------------------

    def materializer(self, target: Path | None = None) -> Materializer:
        """A materializer writing into ``target`` (default: ``versions/``).

        ``[storage] version_compression`` applies to ``versions/`` only: an
        export ``--to`` another directory writes what its ``--format`` says.
        """
        config = self.store.config
        return Materializer(
            self.history,
            target or self.versions_dir,
            config.latest,
            hardlink=config.hardlink,
            compression=config.version_compression if target is None else "none",
        )

    def export(
        self,
        refs: Sequence[str] = (),
        *,
        to: Path | None = None,
        fmt: Format | Literal["bundle"] = "dir",
        progress: Callable[[Version], None] | None = None,
        repair: bool = False,
    ) -> ExportResult:
        """Materialize versions (default: all) as directories or archives.

        Args:
            refs: REFs of the versions to export; all versions when empty.
            to: Target directory (default: the artifact's ``versions/``).
            fmt: ``"dir"``, ``"tar.gz"``, ``"tar.bz2"``, ``"zip"``, or
                ``"bundle"`` (one git bundle, ``<name>.bundle``, of the chosen
                versions' history). ``"dir"`` into the artifact's own
                ``versions/`` means the configured form: directories, or one
                archive per version with ``[storage] version_compression``.
            progress: Called after each version.
            repair: Check existing version directories file by file (and
                archives byte by byte) and rewrite damaged ones (by default
                only ``.version.toml``, or an archive's presence, is checked,
                which keeps exports incremental and fast).

        Returns:
            What was written, and where (``target``).
        """
        result = self._export(refs, to=to, fmt=fmt, progress=progress, repair=repair)
        if result.target is None:
            bundle = fmt == "bundle"
            result.target = to or (self.home if bundle else self.versions_dir)
        return result

    def _export(
        self,
        refs: Sequence[str],
        *,
        to: Path | None,
        fmt: Format | Literal["bundle"],
        progress: Callable[[Version], None] | None,
        repair: bool,
    ) -> ExportResult:
        chosen = [self.resolve(r) for r in refs] if refs else self.versions()
        if fmt == "bundle":
            from gitversions.git.bundle import BUNDLE_SUFFIX, write_history_bundle

            target = to or self.home  # not versions/: that holds versions only
            target.mkdir(parents=True, exist_ok=True)
            path = target / f"{self.name}{BUNDLE_SUFFIX}"
            write_history_bundle(self.history, path, chosen if refs else ())
            return ExportResult(written=[path.name])
        if fmt != "dir":
            target = to or self.versions_dir
            target.mkdir(parents=True, exist_ok=True)
            result = ExportResult()
            for version in chosen:
                path = target / f"{version.id}{ARCHIVE_SUFFIX[fmt]}"
                write_archive(self.history, version, fmt, path)
                result.written.append(path.name)
                if progress is not None:
                    progress(version)
            return result
        if to is not None:
            materializer = self.materializer(to)
            materializer.clean_leftovers()
            return materializer.export(chosen, progress, repair=repair)
        with self.lock():
            return self._export_locked(
                chosen, every=not refs, progress=progress, repair=repair
            )

    def _export_locked(
        self,
        chosen: list[Version],
        *,
        every: bool,
        progress: Callable[[Version], None] | None = None,
        repair: bool = False,
    ) -> ExportResult:
        """Export into ``versions/``, then apply retention (hold the lock).

        ``every``: ``chosen`` is every version, of which retention keeps some.
        """
        from gitversions.materialize.retention import apply_retention, retained

        self.history.ensure_tags(full=repair)
        materializer = self.materializer()
        materializer.clean_leftovers()
        if every:
            chosen = retained(self, chosen)
        result = materializer.export(chosen, progress, repair=repair)
        materializer.drop_other_latest()
        result.pruned = apply_retention(self, spare=[str(v.id) for v in chosen])
        write_manifest(self)
        self.history.flush_caches()
        return result

    def restore(
        self, ref: str, dest: Path, *, force: bool = False, into_dir: bool = False
    ) -> tuple[Version, Path]:
        """Write a version's content at ``dest`` (a rollback), atomically.

        Unless ``force``, refuses when ``dest`` holds content that no version
        of this artifact records, so nothing unrecorded is lost.

        Args:
            ref: The version.
            dest: Where to write it.
            force: Replace ``dest`` even if it holds unrecorded content.
            into_dir: ``dest`` names a directory (``DEST/``): create it if
                needed; a single-file artifact is written inside it.

        Returns:
            The version restored and the path written.
        """
        version = self.resolve(ref)
        self.store.check_destination(dest)
        if into_dir:
            dest.mkdir(parents=True, exist_ok=True)  # only once the checks passed
        kind = self.kind()
        if kind == "dir" and dest.parent.is_dir():
            # First finish a restore killed here: its old copy's .git and
            # excluded files go back into DEST before anything is checked.
            finish_killed_restore(dest, self.store.config.exclude)
        # What is checked below is what may be replaced: nothing swapped in later.
        checked = _lstat(dest)
        target = dest
        if kind == "file" and dest.is_dir() and not dest.is_symlink():
            entries = list(self.history.iter_tree(version.tree))
            target = dest / entries[0].path if len(entries) == 1 else dest
        if not force and (target.exists() or target.is_symlink()):
            self._check_recorded(target, kind)
        keep: list[str] = []
        if kind == "dir" and dest.is_dir() and not dest.is_symlink():
            keep = self._carried_over(version, dest, force=force)
        written = restore_content(
            self.history,
            version,
            kind,
            dest,
            keep,
            exclude=self.store.config.exclude,
            checked=True,
            expect=checked,
        )
        return version, written

    def _carried_over(self, version: Version, dest: Path, *, force: bool) -> list[str]:
        """What of ``dest`` no snapshot records, to carry into the restored copy.

        ``.git`` and excluded paths (``.env``, ``*.log``, ``node_modules``) are
        not the artifact's content, so a restore keeps them, as a git checkout
        keeps ignored files. One the version itself holds a file or directory
        at (after a change of ``exclude``) is refused unless ``force``.
        """
        keep = excluded_paths(dest, self.store.config.exclude)
        if not keep:
            return keep
        files: set[str] = set()
        dirs: set[str] = set()
        for entry in self.history.iter_tree(version.tree):
            files.add(entry.path)
            parts = entry.path.split("/")
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts)))

        def clashes(path: str) -> bool:
            # The path itself is the version's, or a parent of it is a file there.
            parts = path.split("/")
            prefixes = ("/".join(parts[:i]) for i in range(1, len(parts)))
            return path in files or path in dirs or any(p in files for p in prefixes)

        clash = [path for path in keep if clashes(path)]
        if clash and not force:
            raise DestinationError(
                f"{dest / clash[0]} is excluded from snapshots but version "
                f"{version.id} holds that path; move it away first, or pass "
                "--force to replace it with the version's"
            )
        return [path for path in keep if path not in clash]

    def _check_recorded(self, dest: Path, kind: str) -> None:
        if dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir()):
            return
        if kind == "file" and dest.is_file() and not dest.is_symlink():
            # A command or agent file may be restored under another name:
            # compare its content with every version's single blob.
            history = self.history
            node = FileNode(str(dest), dest.name, MODE_FILE, dest.stat().st_size)
            try:
                (blob,) = hash_blob_file(node, history.algorithms[-1:])
            except SourceError as exc:
                raise DestinationError(
                    f"{dest} cannot be checked ({exc}); "
                    "pass --force to replace it anyway"
                ) from exc
            recorded = {
                entry.blob
                for version in self.versions()
                for entry in history.iter_tree(version.tree)
            }
            if blob.hex() in recorded:
                return
            raise DestinationError(
                f"{dest} holds content not recorded in any version of "
                f"{self.name!r}; snapshot it first, or pass --force to replace it"
            )
        try:
            current = content_hash(dest, self.store.config.exclude)
        except SourceError as exc:
            raise DestinationError(
                f"{dest} cannot be checked ({exc}); pass --force to replace it anyway"
            ) from exc
        if current not in {v.hash for v in self.versions()}:
            raise DestinationError(
                f"{dest} holds content not recorded in any version of "
                f"{self.name!r}; snapshot it first, or pass --force to replace it"
            )

    def pending(self) -> list[str]:
        """Derived data that is missing or stale, which any write restores.

        Version tags and ``manifest.toml`` are derived from the commits: a
        crash between moving ``main`` and writing them, or a store built from
        a git clone, leaves them missing. So does a snapshot that could not
        finish (:class:`UnfinishedError`), which with ``export.auto`` also
        leaves its version unexported. Nothing is lost; :meth:`repair`
        (``verify --repair``), the next snapshot or the next export writes them.
        """
        with self.reading():
            return self._pending()

    def _pending(self) -> list[str]:
        pending = [f"{self.name}: {p}" for p in check_manifest(self)]
        try:
            history = self.history
            versions = history.versions()
            pending.extend(f"{self.name}: {p}" for p in self._latest_lag())
            newest = history.latest()
            if (
                self.store.config.auto_export
                and newest is not None
                and not self.materializer().is_intact(newest)
            ):
                pending.append(
                    f"{self.name}: {newest.id}: not exported although export.auto "
                    "is on (verify --repair or the next snapshot exports it)"
                )
        except GitVersionsError:
            return pending  # verify() reports why
        for version in versions:
            if history.tag_target(version.id) is None:
                pending.append(
                    f"{self.name}: {version.id}: tag refs/tags/{version.id} is missing"
                )
        return pending

    def repair(self) -> list[str]:
        """Write the derived data :meth:`pending` lists; return what was repaired.

        Takes the writer lock. With ``export.auto``, exports what a snapshot
        left unexported, as that snapshot would have; damaged materialized
        versions are rewritten.
        """
        repaired: list[str] = []
        with self.lock():
            repaired.extend(
                f"{self.name}: tag {v.id} re-created"
                for v in self.history.ensure_tags(full=True)
            )
            if write_manifest(self):
                repaired.append(f"{self.name}: manifest.toml rebuilt from the history")
            repaired.extend(self._finish_auto_export())
            if self.versions_dir.is_dir():
                materializer = self.materializer()
                materializer.clean_leftovers()
                repaired.extend(
                    f"{self.name}: versions/{entry} rewritten from the history"
                    for entry in materializer.repair(self.history.versions())
                )
                repaired.extend(
                    f"{self.name}: versions/{entry} removed (not the configured form)"
                    for entry in materializer.drop_other_latest()
                )
        return repaired

    def _finish_auto_export(self) -> list[str]:
        """With ``export.auto``, export what a snapshot left unexported (locked)."""
        if not self.store.config.auto_export or self._exported():
            return []
        result = self._export_locked(self.history.versions(), every=True)
        name, latest = self.name, self.materializer().latest_path.name
        return [
            *(f"{name}: versions/{v} exported (export.auto)" for v in result.written),
            f"{name}: versions/{latest} -> {result.latest}",
            *(f"{name}: versions/{v} removed by retention" for v in result.pruned),
        ]

    def _exported(self) -> bool:
        """Tell whether the newest version is exported and ``latest`` names it."""
        newest = self.history.latest()
        if newest is None:
            return True
        materializer = self.materializer()
        return materializer.is_intact(newest) and materializer.latest_is(newest)

    def merge(
        self,
        ref: str | None = None,
        *,
        message: str | None = None,
        no_ff: bool = False,
        dry_run: bool = False,
        favor: Literal["ours", "theirs"] | None = None,
    ) -> MergeResult:
        """Merge REF into ``main``; see :func:`gitversions.merging.merge`."""
        from gitversions.merging import merge

        return merge(
            self, ref, message=message, no_ff=no_ff, dry_run=dry_run, favor=favor
        )

    def verify(self) -> list[Problem]:
        """Check the history and the materialized versions; return every problem.

        Every stored tree is checked, reachable or not, by the rules a fetch
        applies (:func:`~gitversions.git.trees.check_tree_entries`), so what
        ``git fsck --strict`` would reject is named here too.

        Missing derived data (version tags, ``manifest.toml``) is not damage:
        :meth:`pending` lists it. Holds the lock shared, so that no prune,
        export or fetch changes ``versions/`` or the history while it reads.

        Returns:
            The problems, each a :class:`~gitversions.verify.Problem` (text
            naming the artifact) that says whether it is in the history or in
            the materialized versions, which ``verify --repair`` rewrites.
        """
        with self.reading():
            return self._verify()

    def _verify(self) -> list[Problem]:
        problems: list[str] = []
        try:
            history = self.history
            versions = history.versions()
        except GitVersionsError as exc:
            return [Problem(f"{self.name}: {exc}", "history")]
        problems.extend(f"{self.name}: {p}" for p in check_history(history, versions))
        # Every stored tree, as git fsck --strict: one no version names counts too.
        problems.extend(f"{self.name}: {p}" for p in history.unsafe_trees())
        try:
            fresh = History.open(self.history_path, use_cache=False)
            try:
                derived = {v.commit: v.id for v in fresh.versions()}
            finally:
                fresh.close()
        except GitVersionsError as exc:
            problems.append(f"{self.name}: deriving ids afresh failed: {exc}")
        else:
            problems.extend(
                f"{self.name}: {v.id}: cached id is wrong "
                f"(derived {derived.get(v.commit)})"
                for v in versions
                if derived.get(v.commit) != v.id
            )
        found = [Problem(p, "history") for p in problems]
        try:
            found.extend(
                Problem(f"{self.name}: {p}", "versions")
                for p in self._check_versions_dir(versions)
            )
        except GitVersionsError as exc:
            found.append(Problem(f"{self.name}: versions/: {exc}", "versions"))
        return found

    def _check_versions_dir(self, versions: list[Version]) -> list[str]:
        if not self.versions_dir.is_dir():
            return []
        problems: list[str] = []
        materializer = self.materializer()
        by_id = {str(v.id): v for v in versions}
        for path in sorted(self.versions_dir.iterdir()):
            name = path.name
            if name in LATEST_NAMES:
                continue
            if name.startswith(".") and TMP_MARK in name:
                continue  # a killed export's temporary, removed by the next one
            stem, fmt = stored_form(name)
            if fmt is not None and stem in by_id:
                # Either compressed form is a version, whatever is configured.
                problems.extend(
                    f"versions/{p}"
                    for p in materializer.check_archive(by_id[stem], path, fmt)
                )
                continue
            stem = name.removesuffix(ARCHIVE_SUFFIX["zip"])
            if stem != name and stem in by_id and path.is_file():
                continue  # an archive exported with --format zip
            version = by_id.get(name)
            if version is None:
                problems.append(f"versions/{name}: not a version of this history")
                continue
            if path.is_symlink() or not path.is_dir():
                problems.append(f"versions/{name}: not a directory")
                continue
            problems.extend(
                f"versions/{p}" for p in materializer.check_dir(version, path)
            )
            meta = path / VERSION_FILENAME
            if meta.is_file():
                problems.extend(
                    f"versions/{name}/{VERSION_FILENAME}: {p}"
                    for p in validate_version_toml(meta.read_text("utf-8", "replace"))
                )
        if self.history.latest() is None:
            return problems
        for name in LATEST_NAMES:
            latest = self.versions_dir / name
            if latest.exists() or latest.is_symlink():
                problems.extend(self._check_latest(latest, by_id, materializer))
        return problems

    def _check_latest(
        self, latest: Path, by_id: dict[str, Version], materializer: Materializer
    ) -> list[str]:
        """Check one ``latest`` pointer (symlink or copy, of either form)."""
        name = latest.name
        _stem, fmt = stored_form(name)
        named = self._latest_names(latest, by_id)
        if named is None:
            return [f"versions/{name}: names no version of this history"]
        if latest.is_symlink():
            target = self.versions_dir / os.readlink(latest)
            present = (
                target.is_dir() and not target.is_symlink()
                if fmt is None
                else target.is_file() and not target.is_symlink()
            )
            return [] if present else [f"versions/{name}: points at a missing version"]
        if fmt is None:
            return [f"versions/{p}" for p in materializer.check_dir(named, latest)]
        return [f"versions/{p}" for p in materializer.check_archive(named, latest, fmt)]

    @staticmethod
    def _latest_names(latest: Path, by_id: dict[str, Version]) -> Version | None:
        """The version a ``latest`` pointer names (symlink target or copy's id).

        A pointer names versions of its own form only: ``latest`` a
        directory, ``latest.tar.gz`` a ``.tar.gz`` archive, and so on.
        """
        _stem, fmt = stored_form(latest.name)
        if latest.is_symlink():
            stem, target_fmt = stored_form(os.readlink(latest))
            return by_id.get(stem) if target_fmt == fmt else None
        if fmt is not None:
            top = archive_version_id(latest) if latest.is_file() else None
            return by_id.get(top) if top is not None else None
        try:
            text = (latest / VERSION_FILENAME).read_text("utf-8")
            data = parse_version_toml(text)
        except (OSError, UnicodeDecodeError, GitVersionsError):
            return None
        table = data.get("version")
        key = table.get("id") if isinstance(table, dict) else None
        return by_id.get(key) if isinstance(key, str) else None

    def _latest_lag(self) -> list[str]:
        """Say if ``latest`` names a complete but older version (pending).

        Also names a ``latest`` pointer of a form not configured (left by a
        change of ``version_compression``), which the next export removes.
        """
        configured = self.materializer().latest_path
        notes = [
            f"versions/{name} is not of the configured version_compression "
            "(the next export removes it)"
            for name in LATEST_NAMES
            if name != configured.name
            and (
                (self.versions_dir / name).exists()
                or (self.versions_dir / name).is_symlink()
            )
        ]
        newest = self.history.latest()
        if newest is None or not (configured.exists() or configured.is_symlink()):
            return notes
        by_id = {str(v.id): v for v in self.history.versions()}
        named = self._latest_names(configured, by_id)
        if named is not None and named.id != newest.id:
            notes.append(
                f"versions/{configured.name} names {named.id}, not the newest "
                f"{newest.id} (the next export moves it)"
            )
        return notes

    def gc(self) -> dict[str, int]:
        """Pack every object (with deltas); drop unreachable ones over two weeks old.

        Missing version tags are re-created, then tags are packed into
        ``packed-refs`` crash-safely (written and renamed in before any loose
        tag is deleted; ``main`` stays loose). The new pack is durable before
        any loose object or old pack it replaces is removed; blobs too large to
        pack in memory stay loose.
        """
        import zlib

        with self.lock():
            history = self.history
            history.clear_stale_locks()
            # Tags first, so the ones re-created now are packed with the rest.
            history.ensure_tags(full=True)
            try:
                stats = history.gc(prune=True)
            except (zlib.error, ValueError, KeyError) as exc:
                raise CorruptionError(
                    f"cannot pack {self.name!r}: an object is damaged ({exc}); "
                    f"`gitversions verify {self.name}` names it"
                ) from exc
            return {
                "loose_objects_before": stats.loose_objects_before,
                "loose_objects_after": stats.loose_objects_after,
                "packs_before": stats.packs_before,
                "packs_after": stats.packs_after,
                "pruned_objects": len(stats.pruned_objects),
                "packed_tags": stats.packed_tags,
            }


def _auto_repack(history: History) -> None:
    """Repack when thresholds pass; a failure is logged, never the snapshot's.

    Keeps the number of files (and of fds) small. The version is recorded
    already, and a failed repack leaves every object readable (see
    :mod:`gitversions.git.repack`), so it is reported as a warning.
    """
    from gitversions.git import repack  # only a snapshot needs it: not at start-up

    try:
        repack.auto_repack(history)
    except Exception as exc:  # the version stands; the next write retries
        _log.warning(
            "gitversions: warning: automatic repack of %s failed: %s", history.path, exc
        )


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None


class Store:
    """A store root: configuration and artifacts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._config: Config | None = None
        self._opened: list[Artifact] = []

    @property
    def config(self) -> Config:
        """The root's configuration (read on first use)."""
        if self._config is None:
            self._config = load_config(self.root)
        return self._config

    def init(self) -> bool:
        """Create the root and its ``gitversions.toml``; False if they existed."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / ARTIFACTS).mkdir(exist_ok=True)
        path = self.root / CONFIG_FILENAME
        if path.exists():
            load_config(self.root)  # complain now about a bad existing file
            return False
        atomic_write(path, (render_default().encode("utf-8"),))
        return True

    def artifact(self, name: str) -> Artifact:
        """The artifact named ``name`` (it may not exist yet)."""
        artifact = Artifact(self, name)
        self._opened.append(artifact)
        return artifact

    def close(self) -> None:
        """Close every artifact this store handed out."""
        for artifact in self._opened:
            artifact.close()
        self._opened.clear()

    def existing(self, name: str) -> Artifact:
        """The artifact named ``name``; NotFoundError if it has no history."""
        artifact = self.artifact(name)
        if not artifact.exists():
            known = self.names()
            hint = f" (known: {', '.join(known[:10])})" if known else ""
            raise NotFoundError(f"no artifact named {name!r} in {self.root}{hint}")
        return artifact

    def names(self) -> list[str]:
        """The names of the artifacts that have a history, sorted."""
        base = self.root / ARTIFACTS
        if not base.is_dir():
            return []
        names = []
        for path in base.iterdir():
            try:
                validate_name(path.name)
            except InputError:
                continue
            if (path / HISTORY / "HEAD").is_file():
                names.append(path.name)
        return sorted(names)

    def check_destination(self, dest: Path) -> None:
        """Refuse a restore target that overlaps the store's own files."""
        real = dest.resolve()
        artifacts = (self.root / ARTIFACTS).resolve()
        root = self.root.resolve()
        if real == root or root.is_relative_to(real) or real.is_relative_to(artifacts):
            raise DestinationError(
                f"refusing to write {dest}: it overlaps the store's own files "
                f"at {self.root}"
            )

    def snapshot(
        self,
        name: str,
        src: Path,
        *,
        message: str | None = None,
        source: str | None = None,
        force: bool = False,
        timestamp: int | None = None,
        artifact_kind: str | None = None,
    ) -> SnapshotResult:
        """Record SRC as a new version of ``name``, creating the artifact if needed.

        Nothing in the store changes unless the version is recorded. Once it
        is (``main`` names it), a failure of the work that follows (its tag,
        ``manifest.toml``, the automatic export) raises
        :class:`UnfinishedError`, which carries the version.

        Args:
            name: The artifact.
            src: A directory (skill) or a single file (command, agent).
            message: The version's message.
            source: Where the content came from (default: the newest version's
                source, or ``"local"`` for a new artifact).
            force: Record a version even when nothing changed.
            timestamp: Commit time in seconds since the epoch (default: now).
            artifact_kind: ``"skill"``, ``"command"`` or ``"agent"``, for the
                manifest (default: as recorded, else inferred from SRC's path).

        Returns:
            The version and whether it was created.

        Raises:
            UnfinishedError: The version was recorded, but its tag, manifest
                or automatic export could not be written; ``verify --repair``
                finishes them.
        """
        check_kind(artifact_kind, src)
        artifact = self.artifact(name)
        scanned = scan_source(src, self.config.exclude)
        if VERSION_FILENAME.encode() in scanned.root.children:
            raise SourceError(
                f"SRC holds {VERSION_FILENAME} at its top, a name reserved for "
                "gitversions metadata; remove or rename it"
            )
        options: dict[str, Any] = {
            "message": message,
            "source_label": source,
            "force": force,
            "timestamp": timestamp,
        }
        new_dirs = [
            p
            for p in (self.root, self.root / ARTIFACTS, artifact.home)
            if not p.exists()
        ]
        with artifact.lock():
            version, created, failed = self._record(
                artifact, scanned, (src, artifact_kind), options, new_dirs
            )
        if failed is None and self.config.auto_export:
            try:
                # Always: an export killed after the previous snapshot recorded
                # its version is finished by the retry (exports are incremental).
                artifact.export()
            except Exception as exc:
                if not created:
                    raise
                failed = ("export", exc)
        if failed is not None:
            raise self._unfinished(artifact, version, failed) from failed[1]
        (record,) = artifact.records([version])
        return SnapshotResult(version, created, record)

    def _record(
        self,
        artifact: Artifact,
        scanned: Source,
        origin: tuple[Path, str | None],
        options: dict[str, Any],
        new_dirs: list[Path],
    ) -> tuple[Version, bool, tuple[str, Exception] | None]:
        """Record a version under the lock, then its manifest.

        Args:
            artifact: The artifact (its lock held).
            scanned: SRC, scanned.
            origin: SRC and the artifact kind the caller gave, if any.
            options: ``message``, ``source_label``, ``force``, ``timestamp``.
            new_dirs: The directories the lock created, to remove again if
                a first snapshot fails.

        Returns:
            The version, whether it is new, and the step that failed after
            ``main`` moved (with its error), if one did.
        """
        src, artifact_kind = origin
        new_history = not artifact.exists()
        for leftover in artifact.home.glob(f".{HISTORY}.tmp-*"):
            remove_tree(leftover)  # a creation killed before its rename
        if new_history:
            History.create(artifact.history_path, self.config.object_format)
        history = artifact.history
        kind = history.kind()
        if kind is not None and kind != scanned.kind:
            shape = {"dir": "a directory", "file": "a single file"}
            raise SourceError(
                f"artifact {artifact.name!r} holds {shape[kind]}, but SRC is "
                f"{shape[scanned.kind]}"
            )
        try:
            if new_history:
                # Before main moves, so that nothing but derived data is left
                # to write after it; a failure removes the history with them.
                history.set_kind(scanned.kind)
                record_kind(artifact, artifact_kind, src)
            version, created = history.record(scanned, **options)
            if created:
                _auto_repack(history)
        except UnfinishedError as exc:
            cause = exc.__cause__
            return (
                exc.version,
                True,
                ("tag", cause if isinstance(cause, Exception) else exc),
            )
        except BaseException:
            if new_history:
                self._forget(artifact, new_dirs)
            raise
        try:
            if kind is None and not new_history:
                history.set_kind(scanned.kind)
            update_manifest(
                artifact, kind=artifact_kind, src=src, new=version if created else None
            )
        except Exception as exc:
            if not created:
                raise
            return version, True, ("manifest", exc)
        return version, created, None

    @staticmethod
    def _forget(artifact: Artifact, new_dirs: list[Path]) -> None:
        """Remove what a failed first snapshot created, lock file included."""
        artifact.close()
        remove_tree(artifact.history_path)
        # Leave the store exactly as it was; a waiter on the lock notices its
        # file is gone and takes a new one.
        with contextlib.suppress(OSError):
            (artifact.home / LOCK).unlink()
        for path in reversed(new_dirs):
            with contextlib.suppress(OSError):
                path.rmdir()  # only if empty

    def _unfinished(
        self,
        artifact: Artifact,
        version: Version,
        failed: tuple[str, Exception],
    ) -> UnfinishedError:
        """The error of a snapshot recorded but not finished: what, and why."""
        record: dict[str, Any] | None
        try:
            (record,) = artifact.records([version])
        except Exception:  # the error to report is the first one
            record = None
        step, exc = failed
        steps = ["tag", "manifest", *(["export"] if self.config.auto_export else [])]
        todo = steps[steps.index(step) :]
        what = {
            "tag": f"write its tag refs/tags/{version.id} in {artifact.history_path}",
            "manifest": f"update {artifact.home / MANIFEST_FILENAME}",
            "export": f"export it to {artifact.versions_dir}",
        }[step]
        rest = f"; not done either: {', '.join(todo[1:])}" if todo[1:] else ""
        return UnfinishedError(
            f"{artifact.name}: recorded {version.id}, but could not {what}: "
            f"{_reason(exc)}{rest}; run `gitversions verify --repair "
            f"{artifact.name}` to finish",
            version,
            todo,
            record,
        )


def _reason(exc: BaseException) -> str:
    """An error in one line, with the path an OS error names."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc) or type(exc).__name__


# -- patches ------------------------------------------------------------------

_ABBREV = 7  # git's default for the object ids of an ``index`` line


def _file_patch(
    history: History, path: str, a: TreeEntry | None, b: TreeEntry | None
) -> list[str]:
    """One path's ``diff --git`` section, as git prints it (no renames)."""
    a_name = quote_path(path, "a/") if a else "/dev/null"
    b_name = quote_path(path, "b/") if b else "/dev/null"
    lines = [f"diff --git {quote_path(path, 'a/')} {quote_path(path, 'b/')}\n"]
    if a is None and b is not None:
        lines.append(f"new file mode {b.mode:06o}\n")
    elif b is None and a is not None:
        lines.append(f"deleted file mode {a.mode:06o}\n")
    elif a is not None and b is not None and a.mode != b.mode:
        lines += [f"old mode {a.mode:06o}\n", f"new mode {b.mode:06o}\n"]
    if a is not None and b is not None and a.blob == b.blob:
        return lines  # a mode change only
    same_mode = f" {a.mode:06o}" if a and b and a.mode == b.mode else ""
    lines.append(f"index {_abbrev(a)}..{_abbrev(b)}{same_mode}\n")
    a_text = _patch_text(history.read_blob(a.blob) if a else b"")
    b_text = _patch_text(history.read_blob(b.blob) if b else b"")
    if a_text is None or b_text is None:
        return [*lines, f"Binary files {a_name} and {b_name} differ\n"]
    hunks = _hunks(a_text, b_text)
    if not hunks:
        return lines  # an empty file added or deleted: headers only, as git
    return [*lines, _file_line("---", a_name), _file_line("+++", b_name), *hunks]


def _abbrev(entry: TreeEntry | None) -> str:
    return entry.blob[:_ABBREV] if entry is not None else "0" * _ABBREV


def _file_line(mark: str, name: str) -> str:
    # git ends a name holding a space with a tab, so that patch tools and
    # git apply do not read a trailing date into it
    return f"{mark} {name}{chr(9) if ' ' in name else ''}\n"


def _patch_text(data: bytes) -> str | None:
    """The text of a blob, or None if it is binary (not UTF-8, or has NUL)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "\0" in text else text


def _hunks(a_text: str, b_text: str) -> list[str]:
    """Unified-diff hunks (3 lines of context), git's no-newline marker included."""
    body = list(difflib.unified_diff(_lines(a_text), _lines(b_text), n=3))[2:]
    return [
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in body
    ]


def _lines(text: str) -> list[str]:
    """Lines split at LF only (git's lines: CR, FF and the like stay inside)."""
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]

"""Share artifact history with git remotes: push, fetch, clone and named remotes.

A remote is any git repository: a path, ``file://``, ``git://``, ``http[s]://``,
``ssh://`` or ``user@host:path`` (see :mod:`gitversions.transport`), or a bundle
file to clone from. Named remotes live in the history's own git configuration as
``[remote "origin"] url = ...``, so plain git sees them too. A URL is saved there
without its credentials (:func:`~gitversions.transport.strip_credentials`): a
password given in a URL serves the one command it was given to, and later
transfers take credentials from the environment or a git credential helper.

**push** sends ``refs/heads/main`` and every version tag. It refuses to move the
remote's main unless that is a fast-forward (the remote's main is an ancestor of
ours), or ``force`` is given; a remote tag with a version's id that names another
commit is reported and never overwritten.

**fetch** brings the remote's main and version tags in, then *adopts* what is new:
every new commit becomes a version with its computed id (commits made with plain
git included: ``source = "git"``, their message, their parents) and gets its tag.
Before anything is adopted, each new version's tree is checked as the
materializer would (names, modes, depth), so a hostile remote's history is
refused, not written. The outcome, :class:`FetchResult`, is one of:

- ``fast-forward``: the remote's main descends from ours; main moves to it;
- ``diverged``: both sides have versions the other lacks; nothing local
  changes, the remote's head is kept at ``refs/remotes/<remote>/main`` and the
  result says which versions are on each side and what the user can do;
- ``forced`` (``force=True`` on divergence): main moves to the remote's head;
  the local-only versions keep their tags, so none is lost;
- ``ahead``, ``up-to-date``, ``empty`` (the remote has no main), or
  ``refused`` (an unsafe tree or an id collision blocked the remote's main).

A remote tag whose id is taken locally by another commit is a collision: it is
reported and kept at ``refs/remotes/<remote>/tags/<id>``, never written over the
local tag.

**clone** creates an artifact from a remote (or a bundle): a new bare history is
filled by a fetch in a hidden directory and renamed into place only when complete.

Every write happens under the artifact's lock; the remote is reached without it
being held longer than the transfer needs.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dulwich.client import GitClient
from dulwich.errors import ChecksumMismatch, ObjectFormatException
from dulwich.objects import Commit, ObjectID, Tag, Tree
from dulwich.refs import Ref as GitRef
from dulwich.repo import Repo

from gitversions.display import quote_path
from gitversions.errors import (
    ConflictError,
    CorruptionError,
    DestinationError,
    GitVersionsError,
    InputError,
    NotFoundError,
    RemoteError,
    UnsafePathError,
    naming,
)
from gitversions.git.history import History, Version
from gitversions.git.localxfer import Quarantine, copy_objects, missing_objects
from gitversions.git.transport import (
    build_config,
    local_path,
    redact_url,
    strip_credentials,
    url_kind,
    with_client,
)
from gitversions.git.trees import check_tree_entries
from gitversions.materialize.export import ExportResult, remove_tree
from gitversions.model import graph
from gitversions.model.ids import VersionId
from gitversions.model.paths import MAX_DEPTH
from gitversions.snapshot.hashing import (
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    MODE_TREE,
    encode_tree,
    hash_object,
)
from gitversions.store import ARTIFACTS, HISTORY, LOCK, Artifact, Store

__all__ = [
    "DEFAULT_REMOTE",
    "Divergence",
    "FetchResult",
    "ProgressFn",
    "PushResult",
    "TagCollision",
    "add_remote",
    "clone",
    "fetch",
    "list_remotes",
    "push",
    "remove_remote",
    "resolve_remote",
    "validate_remote_name",
]

DEFAULT_REMOTE = "origin"
MAIN = GitRef(b"refs/heads/main")
HEAD = GitRef(b"HEAD")
TAGS = b"refs/tags/"
REMOTES = b"refs/remotes/"
ProgressFn = Callable[[str], None]

_REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HEX = re.compile(rb"[0-9a-f]{40}|[0-9a-f]{64}")
_PROGRESS_INTERVAL = 0.1
_LOOSE_TAGS = 16  # more new tags than this are written as packed refs
_MODES = {MODE_FILE, MODE_EXEC, MODE_LINK, MODE_TREE}


# -- results ----------------------------------------------------------------------


@dataclass(frozen=True)
class TagCollision:
    """A version id that names one commit here and another on the remote.

    Attributes:
        id: The version id (the tag's name).
        local: The commit the local tag names.
        remote: The commit the remote's tag (or newly adopted version) names.
        kept_as: Where the remote's commit is kept locally, if anywhere.
    """

    id: str
    local: str
    remote: str
    kept_as: str | None = None

    def describe(self) -> str:
        """One line for the user."""
        where = f"; the remote's is kept at {self.kept_as}" if self.kept_as else ""
        return (
            f"tag collision: {self.id} is commit {self.local[:12]} here but "
            f"{self.remote[:12]} on the remote; neither was overwritten{where}"
        )


@dataclass(frozen=True)
class Divergence:
    """Local and remote histories that each hold versions the other lacks.

    Attributes:
        remote_ref: Where the remote's head is kept (``refs/remotes/<r>/main``).
        base: The newest version both sides share, if any.
        local_only: Ids of the versions only this history has, oldest first.
        remote_only: Ids of the versions only the remote has, oldest first.
    """

    remote_ref: str
    base: str | None
    local_only: tuple[str, ...]
    remote_only: tuple[str, ...]


@dataclass
class FetchResult:
    """What a fetch (or clone) did.

    Attributes:
        remote: The remote's name, or a label for an unnamed URL.
        url: The remote's URL without credentials.
        status: ``fast-forward``, ``forced``, ``up-to-date``, ``ahead``,
            ``diverged``, ``empty`` or ``refused``.
        adopted: The versions new to this history, oldest first.
        collisions: Tags that name different commits here and there.
        problems: Remote versions that could not be adopted, and why.
        divergence: Details when the histories diverged.
        refused_tags: Remote version tags refused (none is kept), with the
            reason; ``problems`` sums them up in one line.
        head: The version ``main`` names afterwards.
        exported: What was materialized afterwards (``export.auto``).
    """

    remote: str
    url: str
    status: str = "up-to-date"
    adopted: list[Version] = field(default_factory=list)
    collisions: list[TagCollision] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    divergence: Divergence | None = None
    refused_tags: dict[str, str] = field(default_factory=dict)
    head: str | None = None
    exported: ExportResult | None = None

    @property
    def ok(self) -> bool:
        """True when the local history now holds everything the remote offered."""
        return (
            self.status not in ("diverged", "refused")
            and not self.collisions
            and not self.problems
        )

    def advice(self, artifact: str) -> list[str]:
        """What the user can do about a divergence, a collision or a problem."""
        lines: list[str] = []
        if self.divergence is not None:
            d = self.divergence
            lines += [
                f"{artifact}: local and remote histories have diverged"
                + (f" after {d.base}" if d.base else " (no common version)"),
                f"  only here:      {_id_list(d.local_only)}",
                f"  only on remote: {_id_list(d.remote_only)} (kept at {d.remote_ref})",
                "  nothing local was changed. You can:",
                f"    - keep yours and overwrite the remote: gitversions push "
                f"{artifact} --force",
                f"    - take the remote's as latest (yours stay as tagged versions): "
                f"gitversions fetch {artifact} --force",
                f"    - combine both: gitversions merge {artifact} (then push)",
            ]
        lines += [c.describe() for c in self.collisions]
        lines += self.problems
        return lines

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        data: dict[str, Any] = {
            "remote": self.remote,
            "url": self.url,
            "status": self.status,
            "ok": self.ok,
            "head": self.head,
            "adopted": [str(v.id) for v in self.adopted],
            "collisions": [c.__dict__ for c in self.collisions],
            "problems": list(self.problems),
            "refused_tags": dict(self.refused_tags),
            "divergence": None,
        }
        if self.divergence is not None:
            data["divergence"] = {
                "remote_ref": self.divergence.remote_ref,
                "base": self.divergence.base,
                "local_only": list(self.divergence.local_only),
                "remote_only": list(self.divergence.remote_only),
            }
        if self.exported is not None:
            data["exported"] = self.exported.written
        return data


@dataclass
class PushResult:
    """What a push did.

    Attributes:
        remote: The remote's name, or None for an unnamed URL.
        url: The remote's URL without credentials.
        status: ``pushed``, ``forced`` or ``up-to-date``.
        main: The commit the remote's main names afterwards.
        updated: Refs the remote accepted.
        collisions: Remote tags that name other commits (left alone).
        rejected: Refs the remote refused, with its reason.
    """

    remote: str | None
    url: str
    status: str = "up-to-date"
    main: str | None = None
    updated: list[str] = field(default_factory=list)
    collisions: list[TagCollision] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every ref was pushed."""
        return not self.collisions and not self.rejected

    def to_json(self) -> dict[str, Any]:
        """The result as JSON-ready data."""
        return {
            "remote": self.remote,
            "url": self.url,
            "status": self.status,
            "ok": self.ok,
            "main": self.main,
            "updated": list(self.updated),
            "collisions": [c.__dict__ for c in self.collisions],
            "rejected": dict(self.rejected),
        }


def _id_list(ids: Iterable[str], limit: int = 8) -> str:
    items = list(ids)
    if not items:
        return "(none)"
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


# -- progress -------------------------------------------------------------------


class _Reporter:
    """Turns dulwich's progress bytes and our own counts into lines."""

    def __init__(self, callback: ProgressFn | None) -> None:
        self.callback = callback
        self.buffer = b""
        self.last = 0.0

    def __call__(self, data: bytes) -> None:
        if self.callback is None:
            return
        self.buffer += data
        *lines, self.buffer = re.split(rb"[\r\n]", self.buffer)
        for line in lines:
            text = line.decode("utf-8", "replace").strip()
            if text:
                self.callback(text)

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last >= _PROGRESS_INTERVAL:
            self.last = now
            return True
        return False

    def say(self, text: str) -> None:
        if self.callback is not None:
            self.callback(text)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1 << 20):.2f} MiB"


# -- remotes --------------------------------------------------------------------


def validate_remote_name(name: str) -> str:
    """Check a remote's name: 1-64 of ``A-Z a-z 0-9 . _ -``, starting alphanumeric.

    Raises:
        InputError: For any other name.
    """
    if not _REMOTE_NAME.fullmatch(name) or name.endswith((".", ".lock")):
        raise InputError(
            f"invalid remote name {name!r}: use 1-64 characters of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return name


def list_remotes(history: History) -> dict[str, str]:
    """The named remotes of a history and their URLs (as configured)."""
    config = history.repo.get_config()
    remotes: dict[str, str] = {}
    for section in config.sections():
        if len(section) == 2 and section[0] == b"remote":
            with contextlib.suppress(KeyError):
                name = section[1].decode("utf-8", "replace")
                remotes[name] = config.get(section, b"url").decode("utf-8", "replace")
    return dict(sorted(remotes.items()))


def add_remote(artifact: Artifact, name: str, url: str) -> str:
    """Name a remote of an artifact (``git remote add`` for its history).

    The URL is saved without credentials (a password, and for http(s) the
    user name too), so ``history.git/config`` never holds a secret.

    Returns:
        The URL as saved.

    Raises:
        InputError: For a bad name or URL, or a name already in use.
    """
    validate_remote_name(name)
    url_kind(url)
    with artifact.lock():
        history = artifact.history
        remotes = list_remotes(history)
        if name in remotes:
            raise InputError(
                f"{artifact.name}: remote {name!r} already exists "
                f"({redact_url(remotes[name])}); remove it first"
            )
        saved = strip_credentials(url)
        config = history.repo.get_config()
        section = (b"remote", name.encode())
        config.set(section, b"url", saved.encode("utf-8"))
        config.set(
            section, b"fetch", b"+refs/heads/*:refs/remotes/%s/*" % name.encode()
        )
        config.write_to_path()
    return saved


def remove_remote(artifact: Artifact, name: str) -> None:
    """Forget a named remote and its remote-tracking refs.

    Raises:
        NotFoundError: If the artifact has no such remote.
    """
    with artifact.lock():
        history = artifact.history
        if name not in list_remotes(history):
            raise NotFoundError(f"{artifact.name}: no remote named {name!r}")
        config = history.repo.get_config()
        del config[(b"remote", name.encode())]
        config.write_to_path()
        prefix = GitRef(REMOTES + name.encode() + b"/")
        refs = history.repo.refs
        for ref in list(refs.keys(base=prefix)):
            refs.remove_if_equals(GitRef(prefix + ref), None)


def resolve_remote(history: History, target: str | None) -> tuple[str | None, str]:
    """Turn what the user named into ``(remote name or None, URL)``.

    Args:
        history: The artifact's history (for its named remotes).
        target: A remote's name, a URL, or None for the default remote
            (``origin``, or the only one there is).

    Raises:
        InputError: If no remote is given and there is no default.
    """
    remotes = list_remotes(history)
    if target is None:
        if DEFAULT_REMOTE in remotes:
            return DEFAULT_REMOTE, remotes[DEFAULT_REMOTE]
        if len(remotes) == 1:
            ((name, url),) = remotes.items()
            return name, url
        raise InputError(
            "no remote given, and no default: pass a URL, or name one with "
            "`gitversions remote add NAME origin URL`"
        )
    if target in remotes:
        return target, remotes[target]
    saved = strip_credentials(target)
    for name, url in remotes.items():
        if url in (target, saved):
            return name, target  # with the credentials given, for this command
    url_kind(target)
    return None, target


def _label(name: str | None, url: str) -> str:
    if name is not None:
        return name
    import hashlib

    return (
        "url-"
        + hashlib.sha1(redact_url(url).encode(), usedforsecurity=False).hexdigest()[:8]
    )


# -- graph helpers --------------------------------------------------------------


def _parents_in(history: History) -> Callable[[bytes], tuple[bytes, ...]]:
    """A commit's parents, read through the history (and its per-history cache)."""

    def parents(sha: bytes) -> tuple[bytes, ...]:
        try:
            found = history.parents(sha.decode("ascii"))
        except CorruptionError as exc:
            raise CorruptionError(
                f"{exc}; the remote sent an incomplete or damaged history"
            ) from None
        return tuple(p.encode("ascii") for p in found)

    return parents


def _walk(history: History, tips: Iterable[bytes], stop: set[bytes]) -> list[bytes]:
    """Commits reachable from ``tips`` and not from (nor in) ``stop``."""
    return graph.ancestors(_parents_in(history), tips, stop=stop)


def _ancestors(history: History, tip: bytes | None) -> set[bytes]:
    return set(_walk(history, [tip], set())) if tip else set()


def _peel(repo: Repo, sha: bytes, chain: list[bytes] | None = None) -> bytes | None:
    """The commit a (possibly annotated) tag names, or None.

    The annotated tags passed on the way are appended to ``chain``.
    """
    for _ in range(10):
        try:
            obj = repo.object_store[ObjectID(sha)]
        except KeyError:
            return None
        if isinstance(obj, Commit):
            return sha
        if not isinstance(obj, Tag):
            return None
        if chain is not None:
            chain.append(sha)
        sha = obj.object[1]
    return None


# -- adoption -------------------------------------------------------------------


class _TreeCheck:
    """Checks new trees as export would, deriving their content hashes.

    Every level of every tree passes :func:`check_tree_entries`, the one
    strict check (the rules of :meth:`History.check_tree`): safe names, no
    duplicates, git's order, only file, executable, symlink and directory
    modes, no ``.version.toml`` at the top; besides, at most :data:`MAX_DEPTH`
    levels, and symlink targets non-empty and free of NUL. Each tree id is
    checked once however many versions share it, and its SHA-256 id is
    handed to the history's cache, so computing the version reads it no more.
    """

    def __init__(self, history: History, trees: Mapping[bytes, Tree]) -> None:
        self.history = history
        self.trees = dict(trees)
        self.done: dict[bytes, tuple[int, bytes]] = {}  # id -> (height, sha256)
        self.blobs: dict[bytes, bytes] = {}
        self.sha256 = history.format == "sha256"
        self.passed: set[bytes] = set()  # commits, trees and blobs that passed

    def _raw(self, oid: bytes) -> bytes:
        """A tree's body exactly as stored (dulwich's parse would hide duplicates)."""
        tree = self.trees.get(oid)
        if tree is None:
            try:
                obj = self.history.repo.object_store[ObjectID(oid)]
            except (ChecksumMismatch, ObjectFormatException, ValueError) as exc:
                raise CorruptionError(
                    f"tree {oid.decode()} is damaged ({exc})"
                ) from None
            if not isinstance(obj, Tree):
                raise CorruptionError(f"object {oid.decode()} should be a tree")
            tree = obj
        return tree.as_raw_string()

    def _blob_hash(self, oid: bytes, mode: int, where: str) -> bytes:
        if mode == MODE_LINK:
            target = self.history.read_blob(oid.decode("ascii"))
            if not target or b"\0" in target:
                raise UnsafePathError(f"symlink {where!r} has an invalid target")
        self.passed.add(oid)
        if self.sha256:
            # The id is the hash already; still, a tree named as a file is
            # refused here, not by the export after adoption.
            self.history.blob_size(oid.decode("ascii"))
            return bytes.fromhex(oid.decode("ascii"))
        value = self.blobs.get(oid)
        if value is None:
            body = self.history.read_blob(oid.decode("ascii"))
            value = self.blobs[oid] = hash_object("sha256", b"blob", body)
            self.history.remember_sha256(oid.decode("ascii"), value.hex())
        return value

    def check(self, oid: bytes, prefix: str = "", depth: int = 0) -> bytes:
        """Check tree ``oid`` found at ``depth``; return its SHA-256 id (raw)."""
        known = self.done.get(oid)
        if known is not None:
            if depth + known[0] >= MAX_DEPTH:
                raise UnsafePathError(f"tree is nested more than {MAX_DEPTH} deep")
            return known[1]
        if depth >= MAX_DEPTH:
            raise UnsafePathError(f"tree is nested more than {MAX_DEPTH} deep")
        entries: list[tuple[bytes, int, bytes]] = []
        height = 0
        raw = self._raw(oid)
        tree = oid.decode("ascii")
        for name, mode, hex_id in check_tree_entries(
            raw, tree, self.history.format, prefix
        ):
            sha = hex_id.encode("ascii")
            where = prefix + name.decode("utf-8")
            if mode == MODE_TREE:
                sub = self.check(sha, where + "/", depth + 1)
                height = max(height, self.done[sha][0] + 1)
            else:
                sub = self._blob_hash(sha, mode, where)
            entries.append((name, mode, sub))
        if self.sha256:
            value = bytes.fromhex(tree)
        else:
            value = hash_object("sha256", b"tree", encode_tree(entries))
            self.history.remember_sha256(tree, value.hex())
        self.done[oid] = (height, value)
        self.passed.add(oid)
        return value

    def check_commit(self, commit: bytes) -> None:
        """Check a new commit's tree.

        Raises:
            UnsafePathError: For a tree that may not be written to disk.
            CorruptionError: For missing or damaged objects.
        """
        sha = commit.decode("ascii")
        try:
            tree = self.history.tree_of(sha).encode("ascii")
            self.check(tree)
            # The top level again, for the name reserved there only.
            check_tree_entries(
                self._raw(tree), tree.decode(), self.history.format, top=True
            )
            self.passed.add(commit)
        except UnsafePathError as exc:
            raise UnsafePathError(f"commit {sha[:12]}: {exc}") from None
        except KeyError:
            raise CorruptionError(f"commit {sha[:12]}: objects are missing") from None

    def version(self, commit: bytes) -> Version:
        """The version of a commit whose tree :meth:`check_commit` passed."""
        sha = commit.decode("ascii")
        try:
            return self.history.version(sha)
        except UnsafePathError as exc:
            raise UnsafePathError(f"commit {sha[:12]}: {exc}") from None
        except KeyError:
            raise CorruptionError(f"commit {sha[:12]}: objects are missing") from None


@dataclass
class _Adoption:
    versions: list[Version]
    collisions: list[TagCollision]
    problem: str | None = None
    passed: set[bytes] = field(default_factory=set)  # what the checks read


def _local_tags(history: History) -> dict[str, str]:
    """The version tags of a history: id -> commit (one read of the refs)."""
    return {
        ref.decode("utf-8", "replace"): sha.decode("ascii")
        for ref, sha in history.repo.refs.as_dict(GitRef(TAGS)).items()
    }


def _prepare(
    history: History,
    commits: list[bytes],
    tracking: bytes,
    trees: Mapping[bytes, Tree] | None = None,
    tags: Mapping[str, str] | None = None,
) -> _Adoption:
    """Check new commits and their ids against ``tags`` (id -> commit)."""
    versions: list[Version] = []
    checker = _TreeCheck(history, trees or {})
    try:
        # Every tree first: a version's id needs its parents' hashes too.
        for commit in commits:
            checker.check_commit(commit)
        for commit in commits:
            versions.append(checker.version(commit))
    except (UnsafePathError, CorruptionError) as exc:
        return _Adoption([], [], f"refused remote history: {exc}")
    versions.sort(key=lambda v: v.sort_key)
    collisions: list[TagCollision] = []
    claimed: dict[str, str] = {}
    if tags is None:
        tags = _local_tags(history)
    for version in versions:
        key = str(version.id)
        local = tags.get(key)
        other = local if local is not None else claimed.get(key)
        if other is not None and other != version.commit:
            collisions.append(
                TagCollision(key, other, version.commit, (tracking + b"main").decode())
            )
        claimed.setdefault(key, version.commit)
    return _Adoption(versions, collisions, passed=checker.passed)


def _apply(history: History, versions: list[Version]) -> None:
    """Tag every adopted version (collisions were ruled out by :func:`_prepare`).

    Many tags go into ``packed-refs`` in one atomic write, as ``git fetch``
    and ``git pack-refs`` would leave them, instead of one file each.
    """
    tags = _local_tags(history)
    missing = {str(v.id): v for v in versions if str(v.id) not in tags}
    if len(missing) <= _LOOSE_TAGS:
        for version in missing.values():
            history.ensure_tag(version)
        return
    history.repo.refs.add_packed_refs(
        {
            GitRef(TAGS + key.encode()): ObjectID(v.commit.encode())
            for key, v in missing.items()
        }
    )


def _set_ref(repo: Repo, ref: bytes, sha: bytes) -> None:
    repo.refs.set_if_equals(GitRef(ref), None, ObjectID(sha))


@dataclass
class _Remote:
    main: bytes | None
    branch: str
    tags: dict[str, bytes]
    trees: dict[bytes, Tree] = field(default_factory=dict)
    # the annotated tag objects each version tag passes through
    chains: dict[str, list[bytes]] = field(default_factory=dict)


@dataclass
class _Plan:
    """What a fetch writes once the objects it keeps are in; decided first.

    Attributes:
        old: ``main`` before the fetch.
        new: Where ``main`` moves (compare-and-swap from ``old``), if it does.
        retag: Local versions to tag before ``main`` moves away from them.
        versions: Versions to tag (adopted, or tagged on the remote only).
        kept: Remote-tracking refs to write: ref -> commit.
        tips: Commits whose objects are kept.
        passed: Every object the checks read and passed.
        refused: Remote tags refused, with the reason: nothing of them is kept.
    """

    old: bytes | None
    new: bytes | None = None
    retag: list[Version] = field(default_factory=list)
    versions: dict[str, Version] = field(default_factory=dict)
    kept: dict[bytes, bytes] = field(default_factory=dict)
    tips: set[bytes] = field(default_factory=set)
    passed: set[bytes] = field(default_factory=set)
    refused: dict[str, str] = field(default_factory=dict)

    def keep(self, ref: bytes, commit: bytes, adoption: _Adoption | None) -> None:
        """Keep ``commit`` (whose new history ``adoption`` checked) at ``ref``."""
        self.kept[ref] = commit
        self.tips.add(commit)
        if adoption is not None:
            self.passed |= adoption.passed

    def tag(self, versions: Iterable[Version]) -> None:
        """Tag ``versions`` (and keep their objects)."""
        for version in versions:
            self.versions.setdefault(str(version.id), version)
            self.tips.add(version.commit.encode())


class _FormatMismatch(RemoteError):
    """The remote's object format differs (caught by clone, which adapts)."""

    def __init__(self, wanted: str) -> None:
        super().__init__(wanted)
        self.wanted = wanted


def _format_error(url: str, theirs: str, ours: str) -> RemoteError:
    return RemoteError(
        f"{redact_url(url)} holds {theirs.upper()} objects, but this history is "
        f"{ours.upper()}; histories of different object formats cannot be combined"
    )


def _download(  # noqa: C901, PLR0915 - the two receive paths (local walk, client) share one quarantine and cleanup
    history: History,
    url: str,
    reporter: _Reporter,
    quarantine: Quarantine,
    *,
    allow_any_format: bool = False,
) -> _Remote:
    """Fetch the remote's main and version tags into the quarantine."""
    repo = history.repo
    hex_len = 64 if history.format == "sha256" else 40

    def determine_wants(
        refs: Mapping[GitRef, ObjectID], depth: int | None = None
    ) -> list[ObjectID]:
        wanted: set[bytes] = set()
        for ref, sha in refs.items():
            if sha is None or not _HEX.fullmatch(sha):
                continue
            if len(sha) != hex_len:
                fmt = "sha256" if len(sha) == 64 else "sha1"
                if allow_any_format:
                    raise _FormatMismatch(fmt)
                raise _format_error(url, fmt, history.format)
            if ref in (MAIN, HEAD) or (
                ref.startswith(TAGS)
                and not ref.endswith(b"^{}")
                and VersionId.is_valid(ref[len(TAGS) :].decode("utf-8", "replace"))
            ):
                wanted.add(sha)
        return [
            ObjectID(s) for s in sorted(wanted) if ObjectID(s) not in repo.object_store
        ]

    def action(client: GitClient, path: str) -> Any:
        try:
            return client.fetch(
                path, repo, determine_wants=determine_wants, progress=reporter
            )
        except AssertionError as exc:  # dulwich's local fetch across formats
            if "object format" not in str(exc):
                raise
            other = "sha1" if history.format == "sha256" else "sha256"
            if allow_any_format:
                raise _FormatMismatch(other) from None
            raise _format_error(url, other, history.format) from None

    fetched: Mapping[Any, Any]  # ref name -> id (or None), from either path
    symrefs: Mapping[Any, Any]
    commits: set[bytes]  # ids known to be commits (read by the local walk)
    trees: dict[bytes, Tree]  # trees the local walk read
    if url_kind(url) in ("local", "file"):
        where = local_path(url)
        assert where is not None
        source = _open_local(where)
        try:
            if source.object_format.name != history.format:
                theirs = source.object_format.name
                if allow_any_format:
                    raise _FormatMismatch(theirs)
                raise _format_error(url, theirs, history.format)
            fetched = source.get_refs()
            symrefs = source.refs.get_symrefs()
            missing = missing_objects(source, repo, determine_wants(fetched))
        except BaseException:
            source.close()
            raise
        quarantine.read_through(source, missing)  # closed with the quarantine
        commits = set(missing.commits)
        trees = missing.trees
    else:
        with naming(history.objects_dir):  # where the received pack is written
            result = with_client(url, build_config(repo.get_config()), "pull", action)
        fetched, symrefs = result.refs, result.symrefs or {}
        commits = set()
        trees = {}
    refs: dict[bytes, bytes] = {
        k: v for k, v in fetched.items() if v is not None and _HEX.fullmatch(v)
    }
    main, branch = _remote_main(refs, symrefs)
    remote = _Remote(main, branch, {}, trees)
    for ref, sha in refs.items():
        if not ref.startswith(TAGS) or ref.endswith(b"^{}"):
            continue
        name = ref[len(TAGS) :].decode("utf-8", "replace")
        if VersionId.is_valid(name):
            chain: list[bytes] = []
            commit = sha if sha in commits else _peel(repo, sha, chain)
            if commit is not None:
                remote.tags[name] = commit
                remote.chains[name] = chain
    if main is not None and _peel(repo, main) != main:
        raise RemoteError(f"{redact_url(url)}: the remote's {branch} is not a commit")
    return remote


def _remote_main(
    refs: Mapping[bytes, bytes], symrefs: Mapping[Any, Any]
) -> tuple[bytes | None, str]:
    """The remote's main (or what its HEAD names) and that branch's name."""
    main = refs.get(MAIN)
    if main is not None:
        return main, "main"
    head = symrefs.get(HEAD)
    if head is not None and head.startswith(b"refs/heads/") and head in refs:
        return refs[head], head[len(b"refs/heads/") :].decode("utf-8", "replace")
    if HEAD in refs:
        return refs[HEAD], "HEAD"
    return None, "main"


def _fetch_into(
    history: History,
    url: str,
    label: str,
    *,
    force: bool,
    progress: ProgressFn | None,
    allow_any_format: bool = False,
) -> FetchResult:
    """Download from ``url`` and adopt what is new (the caller holds the lock).

    Everything received stays in a :class:`Quarantine` until every check has
    passed; only then is what is kept moved in and are refs written, so a
    refused or failed fetch leaves neither objects nor refs behind.
    """
    reporter = _Reporter(progress)
    result = FetchResult(remote=label, url=redact_url(url))
    tracking = REMOTES + label.encode() + b"/"
    with Quarantine(history.repo) as quarantine:
        remote = _download(
            history, url, reporter, quarantine, allow_any_format=allow_any_format
        )
        reporter.say("Adopting new versions...")
        plan = _plan(history, remote, result, force=force, tracking=tracking)
        whole = quarantine.accept(
            plan.tips, plan.passed, _object_progress(reporter, "Receiving")
        )
    if not whole:
        history.forget_unstored()  # facts derived from what was refused
    _write(history, plan)
    if result.status in ("up-to-date", "ahead", "fast-forward", "forced"):
        # Tags a killed fetch (or snapshot) left pending on main.
        history.ensure_tags()
    result.adopted.sort(key=lambda v: v.sort_key)
    head = history.head()
    result.head = str(history.version(head).id) if head else None
    history.flush_caches()
    return result


def _plan(
    history: History,
    remote: _Remote,
    result: FetchResult,
    *,
    force: bool,
    tracking: bytes,
) -> _Plan:
    """Check what the remote offers and decide what to keep; nothing is written."""
    old_main = history.head()
    plan = _Plan(old_main.encode() if old_main else None)
    local_versions = history.versions()
    known = {v.commit.encode() for v in local_versions}
    blocked: set[bytes] = set()
    # Where main goes is decided by ancestry against main alone: a version
    # tagged here but not on main (left by a fetch killed before it moved
    # main) does not make this history "ahead".
    on_main = _ancestors(history, plan.old)
    if remote.main is None:
        result.status = "empty"
    elif remote.main == plan.old or remote.main in on_main:
        result.status = "up-to-date" if remote.main == plan.old else "ahead"
        plan.keep(tracking + b"main", remote.main, None)
    else:
        new = _plan_main(
            history, remote, result, plan, force, tracking, local_versions, on_main
        )
        if plan.new is None:
            blocked.update(c for c in new if c not in known)
        else:
            known.update(new)
    _plan_tags(history, remote, result, plan, known, blocked, tracking)
    for name, chain in remote.chains.items():
        commit = remote.tags[name]
        if name not in plan.refused and (commit in known or commit in plan.passed):
            plan.passed.update(chain)  # the annotated tags of versions kept
    result.refused_tags = dict(plan.refused)
    if plan.refused:
        result.problems.append(_refused_tags_line(plan.refused))
    return plan


def _plan_main(
    history: History,
    remote: _Remote,
    result: FetchResult,
    plan: _Plan,
    force: bool,
    tracking: bytes,
    local_versions: list[Version],
    on_main: set[bytes],
) -> list[bytes]:
    """Decide about the remote's main, which this history does not have yet.

    Returns:
        The commits main would gain.
    """
    assert remote.main is not None
    old = plan.old
    new = _walk(history, [remote.main], on_main)  # what main would gain
    fast_forward = old is None or graph.is_ancestor(
        _parents_in(history), old, remote.main
    )
    adoption = _prepare(history, new, tracking, remote.trees)
    if adoption.problem:
        result.status = "refused"
        result.problems.append(
            f"{adoption.problem}; nothing of the remote's {remote.branch} was "
            "adopted or kept"
        )
        return new
    # Its history passed every check: kept, whatever is decided about main.
    plan.keep(tracking + b"main", remote.main, adoption)
    if not fast_forward and not force:
        result.status = "diverged"
        result.divergence = _divergence(history, old, remote.main, new, tracking)
    elif adoption.collisions:
        result.status = "refused"
        result.collisions.extend(adoption.collisions)
    else:
        if old is not None and not fast_forward:
            plan.retag = local_versions  # keep every local version tagged
        plan.new = remote.main
        plan.tag(adoption.versions)
        result.status = "fast-forward" if fast_forward else "forced"
        known = {v.commit for v in local_versions}
        result.adopted.extend(v for v in adoption.versions if v.commit not in known)
    return new


def _plan_tags(
    history: History,
    remote: _Remote,
    result: FetchResult,
    plan: _Plan,
    known: set[bytes],
    blocked: set[bytes],
    tracking: bytes,
) -> None:
    """Decide about the remote's version tags: adopt, keep aside, or refuse."""
    tags = _local_tags(history)  # as they will be: with the versions planned
    tags.update((key, version.commit) for key, version in plan.versions.items())
    for name, commit in sorted(remote.tags.items()):
        local = tags.get(name)
        if local is not None and local.encode() == commit:
            continue
        if local is not None and (commit in known or commit in plan.passed):
            _collision(plan, result, name, local, commit, tracking, None)
            continue
        if commit in blocked:
            continue  # part of a divergence or a refused history, reported already
        if commit in known:
            version = history.version(commit.decode())
            if str(version.id) != name:
                plan.refused[name] = (
                    f"names commit {commit.decode()[:12]}, whose version id is "
                    f"{version.id}"
                )
            else:
                plan.tag([version])
            continue
        # A commit this history lacks: only on the remote's tag.
        new = _walk(history, [commit], known)
        adoption = _prepare(history, new, tracking, remote.trees, tags)
        mine = next((v for v in adoption.versions if v.commit.encode() == commit), None)
        if adoption.problem or mine is None:
            plan.refused[name] = adoption.problem or "its commit is not a version"
            blocked.update(new)
        elif local is not None:
            _collision(plan, result, name, local, commit, tracking, adoption)
        elif adoption.collisions:
            plan.refused[name] = "its history collides with versions here"
            result.collisions.extend(adoption.collisions)
            blocked.update(new)
        elif str(mine.id) != name:
            plan.refused[name] = f"names a commit whose version id is {mine.id}"
            blocked.update(new)
        else:
            plan.tag(adoption.versions)
            plan.passed |= adoption.passed
            tags.update((str(v.id), v.commit) for v in adoption.versions)
            result.adopted.extend(adoption.versions)
            known.update(new)


def _collision(
    plan: _Plan,
    result: FetchResult,
    name: str,
    local: str,
    commit: bytes,
    tracking: bytes,
    adoption: _Adoption | None,
) -> None:
    """A remote tag naming another commit than ours: reported, kept aside."""
    kept = tracking + b"tags/" + name.encode()
    plan.keep(kept, commit, adoption)
    result.collisions.append(TagCollision(name, local, commit.decode(), kept.decode()))


def _refused_tags_line(refused: Mapping[str, str], shown: int = 3) -> str:
    """One line for any number of refused remote tags (a remote may send many)."""
    names = sorted(refused, key=VersionId.parse)
    first = "; ".join(f"{quote_path(n)} ({refused[n]})" for n in names[:shown])
    more = f"; and {len(names) - shown} more" if len(names) > shown else ""
    return (
        f"{len(names)} remote tag(s) refused, none kept: {first}{more} "
        "(--json lists them all)"
    )


def _write(history: History, plan: _Plan) -> None:
    """Write what :func:`_plan` decided: main, tags, then remote-tracking refs."""
    repo = history.repo
    if plan.new is not None:
        for version in plan.retag:
            history.ensure_tag(version)
        # main moves first: the tags of the new versions are derived data
        # that a crash may leave pending (ensure_tags re-creates them), while
        # main is what the next fetch and snapshot build on.
        if not repo.refs.set_if_equals(
            MAIN,
            ObjectID(plan.old) if plan.old else None,
            ObjectID(plan.new),
        ):
            raise ConflictError(
                "refs/heads/main moved while fetching (was it changed with "
                "plain git?); try again"
            )
    _apply(history, list(plan.versions.values()))
    for ref, commit in plan.kept.items():
        _set_ref(repo, ref, commit)


def _divergence(
    history: History,
    old: bytes | None,
    remote_main: bytes,
    remote_new: list[bytes],
    tracking: bytes,
) -> Divergence:
    local_anc = _ancestors(history, old)
    remote_anc = _ancestors(history, remote_main)
    bases = graph.merge_bases(_parents_in(history), old, remote_main) if old else []
    base = None
    if bases:  # several after criss-cross merges: name the newest
        best = max(
            (history.version(c.decode()) for c in bases), key=lambda v: v.sort_key
        )
        base = str(best.id)
    local_only = sorted(
        (history.version(c.decode()) for c in local_anc - remote_anc),
        key=lambda v: v.sort_key,
    )
    remote_ids: list[tuple[tuple[int, int, str], str]] = []
    for commit in remote_new:
        try:
            version = history.version(commit.decode())
        except GitVersionsError:
            remote_ids.append(((0, 0, ""), f"commit {commit.decode()[:12]}"))
            continue
        remote_ids.append((version.sort_key, str(version.id)))
    remote_ids.sort()
    return Divergence(
        remote_ref=(tracking + b"main").decode(),
        base=base,
        local_only=tuple(str(v.id) for v in local_only),
        remote_only=tuple(label for _key, label in remote_ids),
    )


# -- the API --------------------------------------------------------------------


def fetch(
    artifact: Artifact,
    source: str | None = None,
    *,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> FetchResult:
    """Bring new versions in from a remote, and materialize them if configured.

    Args:
        artifact: An existing artifact.
        source: A remote's name or a URL (default: the default remote).
        force: On divergence, move main to the remote's head anyway; the
            local-only versions keep their tags.
        progress: Called with progress lines (objects, bytes).

    Returns:
        What happened; ``result.ok`` is False on divergence, collision or a
        refused (unsafe) remote history, which :meth:`FetchResult.advice` explains.

    Raises:
        RemoteError: If the remote cannot be reached or read.
    """
    history = artifact.history
    name, url = resolve_remote(history, source)
    with artifact.lock():
        history.clear_stale_locks()
        _clear_pack_locks(history)
        result = _fetch_into(
            history, url, _label(name, url), force=force, progress=progress
        )
    if artifact.store.config.auto_export:
        # Always, not only when something new arrived: a fetch killed during
        # its export is retried as "up to date", and must still finish it.
        # The export is incremental: versions already written are not redone.
        exported = artifact.export()
        if result.status != "refused" or exported.written:
            result.exported = exported
    return result


def _clear_pack_locks(history: History) -> None:
    """Remove the pack index locks of a writer killed while adding a pack.

    dulwich renames a new pack into ``objects/pack`` and then writes its index
    through ``<index>.lock``; a kill in between leaves the lock, and the retry,
    writing the same pack (same name), fails on it. Under the artifact's lock
    no other writer exists. (The pack without an index is invisible, and is
    replaced by the retry.)
    """
    pack_dir = history.objects_dir / "pack"
    for leftover in pack_dir.glob("*.lock"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def push(  # noqa: C901, PLR0915 - the push protocol in order: lock, ancestry, objects, refs, tags
    artifact: Artifact,
    target: str | None = None,
    *,
    force: bool = False,
    progress: ProgressFn | None = None,
) -> PushResult:
    """Send main and every version tag to a remote.

    Args:
        artifact: An existing artifact with at least one version.
        target: A remote's name or a URL (default: the default remote). A local
            path that does not exist yet becomes a new bare repository.
        force: Move the remote's main even when that is not a fast-forward
            (version tags are never overwritten).
        progress: Called with progress lines (objects, bytes).

    Returns:
        What was pushed; ``result.ok`` is False when a tag collided or the remote
        refused a ref.

    Raises:
        ConflictError: When the remote's main is not an ancestor of ours (fetch
            first, or pass ``force``).
        RemoteError: If the remote cannot be reached or refuses the push.
    """
    history = artifact.history
    name, url = resolve_remote(history, target)
    kind = url_kind(url)
    if kind == "bundle":
        raise InputError(
            f"{url} is a bundle; write one with `gitversions export "
            f"{artifact.name} --format bundle`"
        )
    reporter = _Reporter(progress)
    shown = redact_url(url)
    if history.format == "sha256" and kind not in ("local", "file"):
        # dulwich 1.2 writes SHA-1 pack streams only; a server would hang up.
        raise RemoteError(
            f"{shown}: pushing a SHA-256 history over {kind} is not supported yet; "
            "push to a path or file:// URL, or move it as a bundle "
            "(export --format bundle)"
        )
    with artifact.lock():
        history.clear_stale_locks()
        head = history.head()
        if head is None:
            raise InputError(f"{artifact.name} has no versions to push")
        history.ensure_tag(history.version(head))  # lost to a crash? re-create
        repo = history.repo
        local_main = ObjectID(head.encode())
        local_tags = {
            ref: sha
            for ref, sha in repo.refs.as_dict(GitRef(TAGS)).items()
            if VersionId.is_valid(ref.decode("utf-8", "replace"))
        }
        local_tags = {GitRef(TAGS + ref): sha for ref, sha in local_tags.items()}
        if kind in ("local", "file"):
            _ensure_local_target(url, history)
        result = PushResult(remote=name, url=shown)

        def update_refs(refs: dict[GitRef, ObjectID]) -> dict[GitRef, ObjectID]:
            new: dict[GitRef, ObjectID] = {}
            theirs = refs.get(MAIN)
            if theirs != local_main:
                if theirs is not None and not _is_ancestor(history, theirs, local_main):
                    if not force:
                        raise ConflictError(
                            f"{shown}: the remote's main has versions this history "
                            f"lacks (it is at {_describe_commit(history, theirs)}); "
                            f"run `gitversions fetch {artifact.name}` first, or push "
                            "with --force to overwrite it"
                        )
                    result.status = "forced"
                new[MAIN] = local_main
            for ref, sha in local_tags.items():
                current = refs.get(ref)
                peeled = refs.get(GitRef(ref + b"^{}"), current)
                if current is None:
                    new[ref] = sha
                elif sha not in (peeled, current):
                    result.collisions.append(
                        TagCollision(
                            ref[len(TAGS) :].decode(),
                            sha.decode(),
                            (peeled or current).decode(),
                        )
                    )
            if new and result.status == "up-to-date":
                result.status = "pushed"
            result.updated = sorted(r.decode() for r in new)
            return new

        def generate(
            have: Any, want: Any, *, ofs_delta: bool = False, progress: Any = None
        ) -> tuple[int, Iterator[Any]]:
            count, records = repo.generate_pack_data(
                set(have), set(want), progress=progress, ofs_delta=ofs_delta
            )
            return count, _counted(records, count, reporter)

        def action(client: GitClient, path: str) -> Any:
            return client.send_pack(
                path.encode("utf-8") if not isinstance(path, bytes) else path,
                update_refs,
                generate_pack_data=generate,
                progress=reporter,
            )

        if kind in ("local", "file"):
            where = local_path(url)
            assert where is not None
            statuses = _push_local(history, where, update_refs, reporter)
        else:
            sent = with_client(url, build_config(repo.get_config()), "push", action)
            statuses = sent.ref_status or {}
        for ref, error in statuses.items():
            if error is not None:
                result.rejected[ref.decode("utf-8", "replace")] = error
        result.updated = [u for u in result.updated if u not in result.rejected]
        if MAIN.decode() in result.rejected:
            raise RemoteError(
                f"{shown}: the remote refused to update main: "
                f"{result.rejected[MAIN.decode()]}"
            )
        result.main = head
        if name is not None:
            _set_ref(repo, REMOTES + name.encode() + b"/main", local_main)
    return result


def _push_local(
    history: History,
    path: Path,
    update_refs: Callable[[dict[GitRef, ObjectID]], dict[GitRef, ObjectID]],
    reporter: _Reporter,
) -> dict[bytes, str | None]:
    """Push into a repository on this machine, as ``git push`` to a path does.

    No server process and no pack stream: the objects the target lacks are
    linked or copied in (checked against their ids, see :mod:`._localxfer`);
    new tags are written to ``packed-refs`` in one atomic write (none existed:
    ``update_refs`` only adds absent tags); ``main`` moves last, by
    compare-and-swap.
    """
    target = _open_local(path)
    statuses: dict[bytes, str | None] = {}
    try:
        if not target.bare and target.refs.get_symrefs().get(HEAD) == MAIN:
            raise RemoteError(
                f"{path}: refusing to update the checked-out branch of a "
                "non-bare repository (push to a bare one)"
            )
        if target.object_format.name != history.format:
            raise _format_error(str(path), target.object_format.name, history.format)
        old = {
            ref: sha
            for ref, sha in target.get_refs().items()
            if ref != HEAD and _HEX.fullmatch(sha)
        }
        new = update_refs(dict(old))
        changed = {ref: sha for ref, sha in new.items() if old.get(ref) != sha}
        if not changed:
            return statuses
        missing = missing_objects(history.repo, target, changed.values())
        copy_objects(
            history.repo, target, missing, _object_progress(reporter, "Writing")
        )
        tags = {r: s for r, s in changed.items() if r.startswith(TAGS)}
        taken = {r for r in tags if r in target.refs}
        for ref in taken:
            statuses[ref] = "already exists"
        target.refs.add_packed_refs({r: s for r, s in tags.items() if r not in taken})
        for ref, sha in changed.items():
            if ref in tags:
                continue
            if not target.refs.set_if_equals(ref, old.get(ref), sha):
                statuses[ref] = "the remote ref moved meanwhile"
    finally:
        target.close()
    return statuses


def _open_local(path: Path) -> Repo:
    try:
        return Repo(str(path))
    except Exception:
        raise RemoteError(f"{path}: not a git repository") from None


def _object_progress(
    reporter: _Reporter, verb: str
) -> Callable[[int, int, int], None] | None:
    if reporter.callback is None:
        return None

    def show(done: int, total: int, moved: int) -> None:
        if done == total or reporter.due():
            percent = 100 * done // max(total, 1)
            end = ", done." if done == total else ""
            reporter.say(
                f"{verb} objects: {percent}% ({done}/{total}), {_size(moved)}{end}"
            )

    return show


def _counted(records: Iterable[Any], count: int, reporter: _Reporter) -> Iterator[Any]:
    sent = 0
    done = 0
    for record in records:
        done += 1
        sent += record.decomp_len or 0
        yield record
        if reporter.callback is not None and reporter.due():
            reporter.say(
                f"Writing objects: {100 * done // max(count, 1)}% ({done}/{count}), "
                f"{_size(sent)}"
            )
    if count:
        reporter.say(f"Writing objects: 100% ({done}/{count}), {_size(sent)}, done.")


def _is_ancestor(history: History, ancestor: bytes, descendant: bytes) -> bool:
    if ancestor == descendant:
        return True
    if ObjectID(ancestor) not in history.repo.object_store:
        return False
    return graph.is_ancestor(_parents_in(history), ancestor, descendant)


def _describe_commit(history: History, sha: bytes) -> str:
    if ObjectID(sha) not in history.repo.object_store:
        return f"commit {sha.decode()[:12]}, not fetched yet"
    try:
        return str(history.version(sha.decode()).id)
    except GitVersionsError:
        return f"commit {sha.decode()[:12]}"


def _ensure_local_target(url: str, history: History) -> None:
    """Create a bare repository at a local path that does not exist yet."""
    path = local_path(url)
    assert path is not None
    if path.exists():
        return
    if os.sep not in url and not url.startswith("file:"):
        raise InputError(
            f"no remote named {url!r} and no repository at ./{url} (name remotes "
            "with `gitversions remote add`, or give a path containing /)"
        )
    if not path.parent.is_dir():
        raise DestinationError(f"cannot create {path}: {path.parent} does not exist")
    repo = Repo.init_bare(str(path), mkdir=True, object_format=history.format)
    try:
        repo.refs.set_symbolic_ref(HEAD, MAIN)
    finally:
        repo.close()


def clone(
    store: Store,
    url: str,
    name: str,
    *,
    progress: ProgressFn | None = None,
) -> FetchResult:
    """Create artifact ``name`` from a remote or a bundle file.

    The history is built in a hidden directory and renamed into place only once
    complete; ``origin`` is set to ``url`` without its credentials (they serve
    this clone only). New versions are materialized if the
    store's ``export.auto`` is set.

    Raises:
        InputError: If the artifact exists already.
        UnsafePathError: If the remote's history may not be written to disk.
        RemoteError: If the remote cannot be reached or read.
    """
    artifact = store.artifact(name)
    if artifact.exists():
        raise InputError(
            f"artifact {name!r} already exists in {store.root}; fetch into it instead"
        )
    kind = url_kind(url)
    if kind in ("local", "bundle"):
        source = Path(url).expanduser()
        if not source.exists():
            raise NotFoundError(f"{url}: no such repository or bundle")
        url = str(source.absolute())
    new_dirs = [
        p for p in (store.root, store.root / ARTIFACTS, artifact.home) if not p.exists()
    ]
    with artifact.lock():
        if artifact.exists():
            raise InputError(f"artifact {name!r} already exists in {store.root}")
        for leftover in artifact.home.glob(f".{HISTORY}.tmp-*"):
            remove_tree(leftover)
        try:
            result = _clone_into(artifact, url, store.config.object_format, progress)
        except BaseException:
            _forget_artifact(artifact, new_dirs)
            raise
    if result.adopted and store.config.auto_export:
        result.exported = artifact.export()
    return result


def _forget_artifact(artifact: Artifact, new_dirs: list[Path]) -> None:
    """Undo a failed clone: its lock file and the directories it created.

    A waiter on the lock notices its file is gone and takes a new one.
    """
    with contextlib.suppress(OSError):
        (artifact.home / LOCK).unlink()
    for path in reversed(new_dirs):
        with contextlib.suppress(OSError):
            path.rmdir()  # only if empty


def _clone_into(
    artifact: Artifact, url: str, object_format: str, progress: ProgressFn | None
) -> FetchResult:
    tmp = artifact.home / f".{HISTORY}.tmp-clone-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        for attempt in range(2):
            history = History.create(tmp, object_format)
            try:
                try:
                    result = _fetch_into(
                        history,
                        url,
                        DEFAULT_REMOTE,
                        force=False,
                        progress=progress,
                        allow_any_format=attempt == 0,
                    )
                except _FormatMismatch as exc:
                    history.close()
                    remove_tree(tmp)
                    object_format = exc.wanted
                    continue
                if result.status == "refused":
                    raise UnsafePathError(
                        f"cannot clone {redact_url(url)}: "
                        + "; ".join(result.advice(artifact.name))
                    )
                config = history.repo.get_config()
                section = (b"remote", DEFAULT_REMOTE.encode())
                config.set(section, b"url", strip_credentials(url).encode("utf-8"))
                config.set(section, b"fetch", b"+refs/heads/*:refs/remotes/origin/*")
                config.write_to_path()
                latest = history.latest()
                if latest is not None:
                    history.set_kind(_infer_kind(history, latest))
            finally:
                history.close()
            break
        os.rename(tmp, artifact.history_path)
    except BaseException:
        with contextlib.suppress(OSError):
            remove_tree(tmp)
        raise
    artifact.close()
    return result


def _infer_kind(history: History, version: Version) -> str:
    """A single top-level file other than SKILL.md is a command or an agent."""
    entries = list(history.iter_tree(version.tree))
    if (
        len(entries) == 1
        and "/" not in entries[0].path
        and entries[0].path != "SKILL.md"
        and entries[0].mode != MODE_LINK
    ):
        return "file"
    return "dir"

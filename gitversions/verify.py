"""Checks of a history that ``verify`` runs (restic's ``check``, git's ``fsck``)."""

from __future__ import annotations

from gitversions.errors import GitVersionsError
from gitversions.git.history import History
from gitversions.model.paths import VERSION_FILENAME
from gitversions.model.version import Version
from gitversions.snapshot.hashing import MODE_LINK

__all__ = ["Problem", "check_history"]


class Problem(str):
    """One thing ``verify`` found wrong: its text, and the part it is in.

    A ``str`` (so it prints, compares and serializes as its text), with
    ``part``: ``"history"`` (objects, refs, ids: only a clone or a backup
    mends those) or ``"versions"`` (materialized copies: ``verify --repair``
    rewrites them from the history).
    """

    part: str

    def __new__(cls, text: str, part: str) -> Problem:
        """A problem ``text`` in ``part``."""
        problem = super().__new__(cls, text)
        problem.part = part
        return problem


def check_history(  # noqa: C901 - every check of verify's list, each a few lines
    history: History, versions: list[Version]
) -> list[str]:
    """What is wrong in a history: HEAD, ids, tags, content hashes, every object.

    Every blob of every version is read (and so checked against its id),
    every tree walked with the strict check, and every cached content hash
    recomputed.
    """
    problems: list[str] = []
    head = history.head_target()
    if head != "refs/heads/main":
        problems.append(f"HEAD should point at refs/heads/main, not {head!r}")
    seen: dict[str, str] = {}
    for version in versions:
        label = str(version.id)
        if label in seen and seen[label] != version.commit:
            problems.append(f"{label}: two versions share this id")
        seen[label] = version.commit
        target = history.tag_target(version.id)
        if target is not None and target != version.commit:
            problems.append(f"{label}: tag names commit {target}, not {version.commit}")
        try:
            recomputed = history.sha256_of_tree(version.tree, trust_cache=False)
            for entry in history.iter_tree(version.tree):
                if entry.path == VERSION_FILENAME:
                    problems.append(
                        f"{label}: holds {VERSION_FILENAME!r} at its top, a name "
                        "reserved for gitversions metadata"
                    )
                if entry.mode != MODE_LINK:
                    for _chunk in history.iter_blob(entry.blob):
                        pass  # read (and so check) every byte, one chunk at a time
                    continue
                data = history.read_blob(entry.blob)
                if not data or b"\0" in data:
                    problems.append(
                        f"{label}: symlink {entry.path!r} has an invalid target"
                    )
        except GitVersionsError as exc:
            problems.append(f"{label}: {exc}")
            continue
        if recomputed != version.hash:
            problems.append(
                f"{label}: cached content hash is wrong (is {recomputed[:12]})"
            )
    for name, tagged in history.tag_refs().items():
        if name in seen:
            continue
        # A writer may have added the tag after the walk above: judge it by
        # its own commit, not by that earlier walk.
        try:
            found: Version | None = history.version(tagged)
        except GitVersionsError:
            found = None
        if found is None or str(found.id) != name:
            problems.append(f"tag {name} does not name a version with that id")
    history.flush_caches()
    return problems

"""Walks of the commit graph: ancestors, ancestry and merge bases.

Pure functions over a ``parents(commit) -> tuple of parent ids`` callable, so the
same code serves a history (whose commits come from its caches) and a fetch
(whose new commits were just copied in). Nothing here reads a repository.

Every walk is iterative and visits each commit once: a 10,000-commit linear
history costs 10,000 steps, never their square.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterable, Sequence
from typing import TypeVar

__all__ = ["ancestors", "is_ancestor", "merge_bases"]

C = TypeVar("C", bound=Hashable)


def ancestors(
    parents: Callable[[C], Sequence[C]],
    heads: Iterable[C],
    *,
    stop: Collection[C] = (),
) -> list[C]:
    """Return the commits reachable from ``heads`` (themselves included).

    Commits in ``stop`` are neither returned nor walked through, so
    ``ancestors(p, [theirs], stop=set(ancestors(p, [mine])))`` is what
    ``theirs`` has that ``mine`` lacks (``git rev-list theirs ^mine``).

    Args:
        parents: The parents of a commit, in order.
        heads: Where the walk starts.
        stop: Commits (usually a set) that end the walk.

    Returns:
        Each commit once, in the order a depth-first walk meets it.
    """
    seen: set[C] = set()
    order: list[C] = []
    stack = [h for h in heads if h not in stop]
    while stack:
        commit = stack.pop()
        if commit in seen or commit in stop:
            continue
        seen.add(commit)
        order.append(commit)
        stack.extend(p for p in parents(commit) if p not in seen)
    return order


def is_ancestor(
    parents: Callable[[C], Sequence[C]],
    ancestor: C,
    descendant: C,
    *,
    generation: Callable[[C], int] | None = None,
) -> bool:
    """Tell whether ``ancestor`` is reachable from ``descendant`` (or equal).

    As ``git merge-base --is-ancestor``. With generation numbers (1 for a root,
    else 1 + the largest of the parents'), commits older than ``ancestor``
    are not walked through.

    Args:
        parents: The parents of a commit, in order.
        ancestor: The commit looked for.
        descendant: Where the walk starts.
        generation: A commit's generation number, if known cheaply.

    Returns:
        True when ``descendant`` contains ``ancestor``.
    """
    floor = generation(ancestor) if generation is not None else 0
    seen: set[C] = set()
    stack = [descendant]
    while stack:
        commit = stack.pop()
        if commit == ancestor:
            return True
        if commit in seen:
            continue
        seen.add(commit)
        if generation is not None and generation(commit) <= floor:
            continue  # every ancestor of it is older than the one looked for
        stack.extend(p for p in parents(commit) if p not in seen)
    return False


def merge_bases(parents: Callable[[C], Sequence[C]], a: C, b: C) -> list[C]:
    """Return every lowest common ancestor of ``a`` and ``b``.

    Exactly the commits ``git merge-base --all a b`` prints: common ancestors
    that are not ancestors of another common ancestor. A criss-cross history
    has several; unrelated histories have none; if one commit contains the
    other, it is the answer.

    The common ancestors are closed under "parent of", so a common ancestor
    is redundant exactly when it is a parent of another: one pass over the
    common commits finds the lowest ones, in time linear in the history.

    Args:
        parents: The parents of a commit, in order.
        a: One commit.
        b: The other.

    Returns:
        The merge bases, in the order a walk from ``a`` meets them.
    """
    mine = ancestors(parents, [a])
    theirs = set(ancestors(parents, [b]))
    common = [c for c in mine if c in theirs]
    shared = set(common)
    below = {p for c in common for p in parents(c) if p in shared}
    return [c for c in common if c not in below]

"""Which names and paths may be written to disk (the tree-path checks).

Trees come from snapshots, from remotes and from archives; all of them are checked
here before a byte is written, with the same rules:

- a component is not empty, ``.`` or ``..``;
- it holds no ``/``, ``\\`` or NUL;
- it is not ``.git`` in any letter case, nor a spelling that some filesystem
  treats as ``.git`` (trailing dots or spaces, the 8.3 name ``git~1``);
- a path has at most :data:`MAX_DEPTH` components.
"""

from __future__ import annotations

__all__ = [
    "MAX_DEPTH",
    "check_component",
    "check_relative_path",
    "is_git_dir_name",
]

MAX_DEPTH = 128


def is_git_dir_name(name: bytes) -> bool:
    """Tell whether ``name`` is ``.git`` on some filesystem (any case, NTFS aliases).

    Args:
        name: One path component, as bytes.

    Returns:
        True for ``.git``, ``.GIT``, ``.git.``, ``.git `` and ``git~1``.
    """
    folded = name.lower()
    return folded.rstrip(b". ") == b".git" or folded == b"git~1"


def check_component(name: bytes) -> str | None:
    """Say why ``name`` may not be a path component, or None if it may.

    Args:
        name: One path component, as bytes.

    Returns:
        A short reason, or None when the component is safe.
    """
    if not name:
        return "empty name"
    if name in (b".", b".."):
        return f"name {name.decode()!r} is not allowed"
    if b"/" in name:
        return "name contains '/'"
    if b"\\" in name:
        return "name contains a backslash"
    if b"\0" in name:
        return "name contains NUL"
    if is_git_dir_name(name):
        return "name is reserved for git metadata (.git)"
    return None


def check_relative_path(path: str) -> str | None:
    """Say why ``path`` is not a safe normalized relative POSIX path, or None.

    Args:
        path: A path such as ``scripts/process.js``.

    Returns:
        A short reason, or None when the path is safe.
    """
    if not path:
        return "empty path"
    if path.startswith("/"):
        return "absolute path"
    parts = path.split("/")
    if len(parts) > MAX_DEPTH:
        return f"more than {MAX_DEPTH} levels deep"
    for part in parts:
        reason = check_component(part.encode("utf-8", "surrogateescape"))
        if reason:
            return reason
    return None

"""Tree objects read as ``git fsck --strict`` reads them: the one strict check.

Pure functions over a tree's stored body (no repository): every tree that
comes in, from a snapshot, a fetch, a clone, or a history being exported or
restored, passes :func:`check_tree_entries` level by level before anything is
recorded or written.
"""

from __future__ import annotations

import re

from gitversions.errors import CorruptionError, UnsafePathError
from gitversions.model.paths import VERSION_FILENAME, check_component, name_key
from gitversions.snapshot.hashing import MODE_EXEC, MODE_FILE, MODE_LINK, MODE_TREE

__all__ = ["ALLOWED_MODES", "check_tree_entries", "parse_tree"]

ALLOWED_MODES = {MODE_FILE, MODE_EXEC, MODE_LINK, MODE_TREE}
_MODE_TEXT = re.compile(rb"[0-7]{1,7}")
_RESERVED = VERSION_FILENAME.encode()


def parse_tree(raw: bytes, tree: str, fmt: str) -> list[tuple[bytes, int, str]]:
    """Parse a tree object's body as ``git fsck --strict`` reads it.

    dulwich's parser keeps one of duplicate names and re-sorts entries; git
    refuses both, so this parser does too.

    Args:
        raw: The tree's body, as stored.
        tree: Its id, for messages.
        fmt: The object format, ``"sha1"`` or ``"sha256"``.

    Returns:
        The ``(name, mode, hex id)`` entries in stored order.

    Raises:
        UnsafePathError: For a duplicate name, entries out of git's order
            (a directory sorts as if its name ended in ``/``) or a
            zero-padded mode.
        CorruptionError: For a tree that cannot be parsed.
    """
    width = 32 if fmt == "sha256" else 20
    entries: list[tuple[bytes, int, str]] = []
    names: set[bytes] = set()
    previous = b""
    pos = 0
    try:
        while pos < len(raw):
            space = raw.index(b" ", pos)
            nul = raw.index(b"\0", space)
            text = raw[pos:space]
            if not _MODE_TEXT.fullmatch(text):
                raise ValueError(f"mode {text!r} is not octal")
            mode = int(text, 8)
            name = raw[space + 1 : nul]
            sha = raw[nul + 1 : nul + 1 + width]
            if len(sha) != width:
                raise ValueError("truncated entry")
            pos = nul + 1 + width
            if text.startswith(b"0"):
                raise UnsafePathError(f"tree {tree}: entry {name!r} has a padded mode")
            key = name + b"/" if mode == MODE_TREE else name
            if name in names:
                raise UnsafePathError(f"tree {tree}: duplicate entry {name!r}")
            if entries and key <= previous:
                raise UnsafePathError(f"tree {tree}: entries out of git's order")
            names.add(name)
            previous = key
            entries.append((name, mode, sha.hex()))
    except ValueError as exc:
        raise CorruptionError(f"tree {tree} is damaged: {exc}") from exc
    return entries


def check_tree_entries(
    raw: bytes, tree: str, fmt: str, prefix: str = "", *, top: bool = False
) -> list[tuple[bytes, int, str]]:
    """The one strict check of a tree object, used wherever a tree comes in.

    Snapshot, fetch, clone, export and restore all pass every level of a
    version's tree through here before anything is recorded or written:
    :func:`parse_tree`'s rules, then every name a safe path component
    (:func:`check_component`: no ``.``, ``..``, ``.git`` in any spelling,
    ``/``, NUL or empty name), no two names that a case-insensitive
    filesystem takes for one (:func:`name_key`: case, Unicode normalization),
    names in UTF-8, and only file, executable, symlink and directory modes.

    Args:
        raw: The tree's body, as stored.
        tree: Its id, for messages.
        fmt: The object format, ``"sha1"`` or ``"sha256"``.
        prefix: The tree's path in the version (``""`` or ending in ``/``).
        top: The tree is a version's root: ``.version.toml`` is reserved.

    Returns:
        The ``(name, mode, hex id)`` entries in stored order.

    Raises:
        UnsafePathError: For a tree that may not be recorded or written.
        CorruptionError: For a tree that cannot be parsed.
    """
    entries = parse_tree(raw, tree, fmt)
    seen: dict[str, bytes] = {}
    for name, mode, _sha in entries:
        where = f"{prefix}{name.decode('utf-8', 'replace')}"
        reason = check_component(name)
        key = name_key(name)
        if reason is None and key in seen:
            twin = seen[key].decode("utf-8", "replace")
            reason = (
                f"duplicate name: {twin!r} differs only in letter case or Unicode "
                "form (one file on macOS or Windows)"
            )
        if reason is None and not _is_utf8(name):
            reason = "name is not UTF-8"
        if reason is None and mode not in ALLOWED_MODES:
            reason = f"unsupported mode {mode:o}"
        if reason is None and top and name == _RESERVED:
            reason = "a name reserved for gitversions metadata"
        if reason:
            raise UnsafePathError(f"unsafe tree entry {where!r}: {reason}")
        seen[key] = name
    return entries


def _is_utf8(name: bytes) -> bool:
    try:
        name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True

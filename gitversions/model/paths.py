"""Which names and paths may be written to disk (the tree-path checks).

Trees come from snapshots, from remotes and from archives; all of them are checked
here before a byte is written, with the same rules:

- a component is not empty, ``.`` or ``..``;
- it holds no ``/``, ``\\`` or NUL;
- it is not ``.git`` in any letter case, nor a spelling that some filesystem
  treats as ``.git`` (NTFS: trailing dots or spaces, ``:stream``, the 8.3 name
  ``git~1``; HFS+: ignorable Unicode code points inside);
- a path has at most :data:`MAX_DEPTH` components;
- no two names of one directory have the same :func:`name_key`: they would be
  one file on a case-insensitive filesystem (macOS, Windows).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "MAX_DEPTH",
    "VERSION_FILENAME",
    "check_component",
    "check_relative_path",
    "is_git_dir_name",
    "name_key",
]

MAX_DEPTH = 128

#: The metadata file of a materialized version: no version may hold one at its top.
VERSION_FILENAME = ".version.toml"


# Code points HFS+ ignores when comparing names (git's is_hfs_dotgit).
_HFS_IGNORABLE = frozenset(
    [*range(0x200C, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)


# Names that are safe at a glance: ASCII, not starting with "." (so neither
# "." nor ".." nor any .git spelling) nor with "git~" (NTFS's short name of
# .git), and free of "/", "\\", NUL and ":". Anything else takes the full checks.
_PLAIN = re.compile(rb"(?![Gg][Ii][Tt]~)[A-Za-z0-9_+=,@-][A-Za-z0-9._+=,@ ~-]*")


def _is_ntfs_dotgit(folded: bytes) -> bool:
    # NTFS drops trailing dots and spaces and reads ":" as a stream separator,
    # and "git~1" is the 8.3 short name of ".git" (git's is_ntfs_dotgit).
    for prefix in (b".git", b"git~1"):
        if folded.startswith(prefix):
            rest = folded[len(prefix) :].lstrip(b". ")
            if not rest or rest.startswith(b":"):
                return True
    return False


def _is_hfs_dotgit(name: bytes) -> bool:
    try:
        text = name.decode("utf-8")
    except UnicodeDecodeError:
        return False
    visible = "".join(c for c in text if ord(c) not in _HFS_IGNORABLE)
    return visible.lower() == ".git"


def is_git_dir_name(name: bytes) -> bool:
    """Tell whether ``name`` is ``.git`` on some filesystem.

    Covers every spelling ``git fsck`` reports as ``hasDotgit``: any letter
    case, NTFS aliases (trailing dots or spaces, ``.git:stream``, ``git~1``)
    and HFS+ aliases (``.git`` with ignorable Unicode code points inside).

    Args:
        name: One path component, as bytes.

    Returns:
        True when writing ``name`` could create or replace a ``.git``.
    """
    folded = name.lower()
    # HFS+'s ignorable code points are never ASCII: skip that (slow) check.
    return _is_ntfs_dotgit(folded) or (not name.isascii() and _is_hfs_dotgit(name))


def name_key(name: bytes) -> str:
    """The form under which case-insensitive filesystems compare ``name``.

    Two names of one directory with the same key are twins: macOS (APFS,
    HFS+) and Windows (NTFS) would store them as one file, so the second
    would overwrite the first, or be written through it if it is a link. The
    key is Unicode's canonical caseless form, ``NFD(casefold(NFD(name)))``,
    without the code points HFS+ ignores: ``README.md`` and ``readme.md``,
    ``K.md`` with the Kelvin sign and ``k.md``, ``é`` composed (NFC) and
    decomposed (NFD), ``straße`` and ``STRASSE`` are twins.

    Args:
        name: One path component, as bytes (non-UTF-8 bytes are kept as they are).

    Returns:
        The key; equal keys mean the names collide.

    Example:
        >>> name_key("\\u212a.md".encode()) == name_key(b"k.md")  # Kelvin sign
        True
    """
    if name.isascii():
        return name.lower().decode("ascii")  # what the rest reduces to for ASCII
    text = name.decode("utf-8", "surrogateescape")
    text = "".join(c for c in text if ord(c) not in _HFS_IGNORABLE)
    folded = unicodedata.normalize("NFD", text).casefold()
    return unicodedata.normalize("NFD", folded)


def check_component(name: bytes) -> str | None:
    """Say why ``name`` may not be a path component, or None if it may.

    Args:
        name: One path component, as bytes.

    Returns:
        A short reason, or None when the component is safe.
    """
    if _PLAIN.fullmatch(name):
        return None  # the common case, decided by one regex (10,000s per scan)
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
        try:
            raw = part.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return "not valid UTF-8"
        reason = check_component(raw)
        if reason:
            return reason
    return None

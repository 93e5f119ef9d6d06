"""Artifact names, version ids and refs: parse, format and order (pure values)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

from gitversions.errors import InvalidNameError, InvalidRefError

__all__ = [
    "HASH_HEX_LENGTH",
    "MAX_NUMBER",
    "SHORT_HASH_LENGTH",
    "HashPrefixRef",
    "LatestRef",
    "NumberRef",
    "Ref",
    "VersionId",
    "VersionIdRef",
    "parse_ref",
    "validate_name",
]

MAX_NAME_LENGTH = 128
SHORT_HASH_LENGTH = 7
HASH_HEX_LENGTH = 64

_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]+")
# Numbers are bounded (18 digits) so no input can make int() or str() work hard.
MAX_NUMBER = 10**18 - 1
_VERSION_ID = re.compile(r"v([1-9][0-9]{0,17})-([0-9a-f]{7})")
_NUMBER_REF = re.compile(r"v([1-9][0-9]{0,17})")
_LATEST_REF = re.compile(r"latest(?:~([0-9]{1,18}))?")
_HEX_REF = re.compile(r"[0-9a-f]{4,64}")


def validate_name(name: str) -> str:
    """Check an artifact name and return it unchanged.

    A name is 1 to 128 characters of ``A-Z a-z 0-9 . _ -`` and does not start
    with ``.`` or ``-``, so it is always a single safe path component.

    Args:
        name: The proposed artifact name.

    Returns:
        The same name.

    Raises:
        InvalidNameError: With the reason the name is refused.

    Example:
        >>> validate_name("canvas-design")
        'canvas-design'
    """
    shown = repr(name)
    if not name:
        raise InvalidNameError("invalid artifact name '': a name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"invalid artifact name {shown[:40]}...: {len(name)} characters, "
            f"at most {MAX_NAME_LENGTH} allowed"
        )
    if not _NAME_CHARS.fullmatch(name):
        bad = sorted({c for c in name if not _NAME_CHARS.fullmatch(c)})
        raise InvalidNameError(
            f"invalid artifact name {shown}: character(s) {''.join(bad)!r} not "
            "allowed (use A-Z a-z 0-9 . _ -)"
        )
    if name[0] in ".-":
        raise InvalidNameError(
            f"invalid artifact name {shown}: cannot start with {name[0]!r}"
        )
    return name


_SHORT_HASH = re.compile(r"[0-9a-f]{7}")


@total_ordering
@dataclass(frozen=True)
class VersionId:
    """A version id ``v<n>-<h>``: ``n`` its number, ``h`` 7 hex digits of the hash.

    Ordering is by number first (``v10`` after ``v9``), then by hash, which is
    the order of the SPEC when timestamps are equal.
    """

    number: int
    short_hash: str

    def __post_init__(self) -> None:
        if self.number < 1:
            raise InvalidRefError(f"version number must be >= 1, not {self.number}")
        if not _SHORT_HASH.fullmatch(self.short_hash):
            raise InvalidRefError(
                f"version hash must be 7 lowercase hex digits, not {self.short_hash!r}"
            )

    @classmethod
    def parse(cls, text: str) -> VersionId:
        """Parse ``v<n>-<7 hex>``.

        Args:
            text: The id, e.g. ``"v2-8be01d4"``.

        Returns:
            The parsed id.

        Raises:
            InvalidRefError: If ``text`` is not a well-formed id.
        """
        match = _VERSION_ID.fullmatch(text)
        if not match:
            raise InvalidRefError(
                f"not a version id: {text!r} (expected v<n>-<7 hex digits>)"
            )
        return cls(int(match.group(1)), match.group(2))

    @classmethod
    def for_hash(cls, number: int, content_hash: str) -> VersionId:
        """Build the id of version ``number`` whose content hash is ``content_hash``.

        Args:
            number: The version number, 1 or more.
            content_hash: The full 64-hex content hash.

        Returns:
            The id ``v<number>-<first 7 hex digits>``.
        """
        return cls(number, content_hash[:SHORT_HASH_LENGTH])

    @staticmethod
    def is_valid(text: str) -> bool:
        """Tell whether ``text`` is a well-formed version id."""
        return _VERSION_ID.fullmatch(text) is not None

    def __str__(self) -> str:
        return f"v{self.number}-{self.short_hash}"

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, VersionId):
            return NotImplemented
        return (self.number, self.short_hash) < (other.number, other.short_hash)


@dataclass(frozen=True)
class VersionIdRef:
    """A REF naming a full version id."""

    id: VersionId


@dataclass(frozen=True)
class NumberRef:
    """A REF ``v<n>``: the version numbered ``n``, where only one is."""

    number: int


@dataclass(frozen=True)
class HashPrefixRef:
    """A REF of 4 to 64 hex digits: a prefix of a content hash or of a commit id."""

    prefix: str


@dataclass(frozen=True)
class LatestRef:
    """A REF ``latest`` or ``latest~N``: the newest version, or N first-parents back."""

    back: int = 0


Ref = VersionIdRef | NumberRef | HashPrefixRef | LatestRef


def parse_ref(text: str) -> Ref:
    """Parse a REF as the command line accepts it.

    Accepted forms: a full id (``v2-8be01d4``), ``v<n>``, a content-hash or commit
    prefix of at least 4 hex digits, ``latest`` and ``latest~N``.

    Args:
        text: What the user typed.

    Returns:
        One of the REF value types.

    Raises:
        InvalidRefError: If ``text`` matches no accepted form.

    Example:
        >>> parse_ref("latest~2")
        LatestRef(back=2)
    """
    if VersionId.is_valid(text):
        return VersionIdRef(VersionId.parse(text))
    match = _NUMBER_REF.fullmatch(text)
    if match:
        return NumberRef(int(match.group(1)))
    match = _LATEST_REF.fullmatch(text)
    if match:
        return LatestRef(int(match.group(1) or 0))
    if _HEX_REF.fullmatch(text.lower()):
        return HashPrefixRef(text.lower())
    shown = repr(text) if len(text) <= 80 else repr(text[:77] + "...")
    raise InvalidRefError(
        f"invalid REF {shown}: use a version id (v2-8be01d4), v<n>, "
        "4+ hex digits of a hash or commit, latest, or latest~N"
    )

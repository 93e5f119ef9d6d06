"""Errors about damaged objects met inside dulwich, as one clear error."""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator

from dulwich.errors import ChecksumMismatch, ObjectFormatException

from gitversions.errors import CorruptionError

__all__ = ["translate"]


@contextlib.contextmanager
def translate(what: str) -> Iterator[None]:
    """Report a damaged object met inside dulwich as one clear error.

    Args:
        what: What was being done, for the message (``"writing the bundle"``).

    Raises:
        CorruptionError: For a checksum mismatch, a malformed object or data
            that does not decompress.
    """
    try:
        yield
    except (ChecksumMismatch, ObjectFormatException, zlib.error) as exc:
        raise CorruptionError(
            f"{what}: an object of the history is damaged ({exc}); "
            "`gitversions verify` names it"
        ) from exc

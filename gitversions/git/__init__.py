"""One artifact's bare git repository: the only package that imports dulwich.

:mod:`.history` is the facade (record, resolve, trees, changes, caches), made of
parts with one job each: :mod:`.refs`, :mod:`.trees` (the strict tree check),
:mod:`.loose` and :mod:`.repack` (objects), and :mod:`.remote`,
:mod:`.transport`, :mod:`.localxfer` and :mod:`.bundle` (sharing).
:func:`translate` turns dulwich's (and zlib's) errors about damaged objects
into :class:`~gitversions.errors.CorruptionError`, where dulwich reads whole
histories on our behalf.
"""

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

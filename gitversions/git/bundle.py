"""Git bundles: one file holding a whole history, for offline transfer.

``export --format bundle`` writes ``<name>.bundle`` with ``HEAD``,
``refs/heads/main`` and every version tag; ``git clone x.bundle`` accepts it, and
so does ``gitversions clone x.bundle NAME`` (through dulwich's bundle client).
A SHA-1 history gives a v2 bundle; a SHA-256 history a v3 bundle declaring
``@object-format=sha256``, as git writes them.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from dulwich.bundle import create_bundle_from_repo, write_bundle
from dulwich.refs import Ref

from gitversions.errors import InputError, naming
from gitversions.fs.atomic import fsync_dir
from gitversions.git.history import History, Version
from gitversions.git.translate import translate

__all__ = ["BUNDLE_SUFFIX", "write_history_bundle"]

BUNDLE_SUFFIX = ".bundle"


def write_history_bundle(
    history: History, target: Path, versions: Sequence[Version] = ()
) -> Path:
    """Write a bundle of the history at ``target``, atomically.

    Args:
        history: The artifact's history.
        target: The bundle file to write (replaced if it exists).
        versions: Only these versions' tags (and all they descend from);
            default: main and every version.

    Returns:
        ``target``.

    Raises:
        InputError: If the history has no versions.
    """
    head = history.head()
    if head is None:
        raise InputError("the history has no versions to bundle")
    chosen = versions or history.versions()
    refs: list[Ref] = [Ref(f"refs/tags/{v.id}".encode()) for v in chosen]
    if not versions or any(v.commit == head for v in versions):
        refs = [Ref(b"HEAD"), Ref(b"refs/heads/main"), *refs]
    for version in chosen:
        history.ensure_tag(version)
    capabilities: dict[str, str | None] = (
        {"object-format": "sha256"} if history.format == "sha256" else {}
    )
    with translate("cannot write the bundle"):
        bundle = create_bundle_from_repo(
            history.repo,
            refs=refs,
            version=3 if capabilities else 2,
            capabilities=capabilities,
        )
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        with (
            translate("cannot write the bundle"),
            naming(target),
            tmp.open("xb") as out,
        ):
            write_bundle(out, bundle)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        bundle.close()
    return target

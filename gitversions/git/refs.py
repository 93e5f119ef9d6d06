"""One history's refs: ``main``, version tags and ``packed-refs``, as git keeps them.

Refs are read by our own code (dulwich parses and validates all of
``packed-refs`` for each lookup, which grows with the history) and moved by
git's lock protocol: ``<ref>.lock`` created exclusively, compared, fsynced,
then renamed (``main``) or hardlinked (a tag: never overwritten) into place.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from dulwich.refs import Ref as GitRef
from dulwich.repo import Repo

from gitversions.errors import ConflictError
from gitversions.fs.atomic import fsync_dir, sync, write_all

__all__ = ["MAIN", "TAG_PREFIX", "Refs", "read_loose_ref"]

MAIN = GitRef(b"refs/heads/main")
TAG_PREFIX = b"refs/tags/"
_OBJECT_ID = re.compile(rb"[0-9a-f]{40}(?:[0-9a-f]{24})?")


def read_loose_ref(path: str | Path) -> str | None:
    """The object id a loose ref file holds, or None (missing, symbolic, odd)."""
    try:
        with open(path, "rb") as f:
            value = f.read(128).strip()
    except OSError:
        return None
    return value.decode("ascii") if _OBJECT_ID.fullmatch(value) else None


class Refs:
    """The refs of one bare repository at ``path``."""

    def __init__(self, path: Path, repo: Repo) -> None:
        self.path = path
        self.repo = repo
        self._packed_key: tuple[int, int, int] | None = None
        self._packed_raw = b""
        self._packed_refs: dict[bytes, bytes] | None = None

    def head(self) -> str | None:
        """Return the commit ``main`` points at, or None for an empty history."""
        try:
            value = self.repo.refs[MAIN]
        except KeyError:
            return None
        return value.decode("ascii")

    def _packed_data(self) -> bytes:
        """The bytes of ``packed-refs``, read again only when it was replaced.

        git and gitversions replace it by rename, so a new file has a new
        inode. dulwich validates every line of it for each new repository
        object: with thousands of packed tags that cost more than the rest of
        a snapshot, so it is read here.
        """
        path = self.path / "packed-refs"
        try:
            st = os.stat(path)
        except OSError:
            self._packed_key, self._packed_raw, self._packed_refs = None, b"", None
            return b""
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        if key != self._packed_key:
            try:
                data = path.read_bytes()
            except OSError:
                data = b""
            self._packed_key, self._packed_raw, self._packed_refs = key, data, None
        return self._packed_raw

    def packed_value(self, ref: bytes) -> str | None:
        """One ref's value in ``packed-refs``, found by one C-speed search.

        A snapshot asks for one or two refs; parsing thousands of lines into a
        dict for that cost more than the rest of the snapshot.
        """
        data = self._packed_data()
        needle = b" " + ref + b"\n"
        at = data.find(needle)
        while at >= 0:
            value = data[data.rfind(b"\n", 0, at) + 1 : at]
            if _OBJECT_ID.fullmatch(value):
                return value.decode("ascii")
            at = data.find(needle, at + 1)  # a "^peeled" line, or odd
        return None

    def packed_refs(self) -> dict[bytes, bytes]:
        """Every ref in ``packed-refs`` and the object id it names."""
        return dict(self._packed())

    def _packed(self) -> dict[bytes, bytes]:
        """``packed-refs`` parsed (values that are not object ids skipped)."""
        data = self._packed_data()
        if self._packed_refs is None:
            refs: dict[bytes, bytes] = {}
            for line in data.split(b"\n"):
                if line[:1] in (b"", b"#", b"^"):
                    continue
                value, _, name = line.partition(b" ")
                if _OBJECT_ID.fullmatch(value):
                    refs[name] = value
            self._packed_refs = refs
        return self._packed_refs

    def tags(self) -> dict[str, str]:
        """Return every tag directly under ``refs/tags/`` and the id it names.

        Loose tags are listed before ``packed-refs`` is read, as git and dulwich
        do, so a concurrent ``gc`` packing them (packed-refs renamed in first,
        loose files deleted after) never hides one.
        """
        loose: dict[str, str] = {}
        with (
            contextlib.suppress(OSError),
            os.scandir(self.path / "refs" / "tags") as it,
        ):
            for entry in it:
                if entry.name.endswith(".lock") or not entry.is_file(
                    follow_symlinks=False
                ):
                    continue
                value = read_loose_ref(entry.path)
                if value is not None:
                    loose[entry.name] = value
        found = {
            name[len(TAG_PREFIX) :].decode("utf-8", "replace"): value.decode("ascii")
            for name, value in self._packed().items()
            if name.startswith(TAG_PREFIX) and b"/" not in name[len(TAG_PREFIX) :]
        }
        found.update(loose)
        return found

    def head_target(self) -> str | None:
        """The ref ``HEAD`` points at (``refs/heads/main`` in a store's history)."""
        target = self.repo.refs.get_symrefs().get(GitRef(b"HEAD"))
        return None if target is None else target.decode("utf-8", "replace")

    def tag_refs(self) -> dict[str, str]:
        """Every ref under ``refs/tags/`` (nested ones too) and the id it names."""
        return {
            ref.decode("utf-8", "replace"): value.decode("ascii", "replace")
            for ref, value in self.repo.refs.as_dict(GitRef(b"refs/tags/")).items()
        }

    def tag_target(self, name: str) -> str | None:
        """Return the commit ``refs/tags/<name>`` names, if the tag exists."""
        loose = self.path / "refs" / "tags" / name
        if not loose.exists():
            return self.packed_value(TAG_PREFIX + name.encode())
        if (found := read_loose_ref(loose)) is not None:
            return found
        try:  # a symbolic or odd ref, or a race: let dulwich decide
            return self.repo.refs[GitRef(TAG_PREFIX + name.encode())].decode("ascii")
        except KeyError:
            return None

    def remote_mains(self) -> dict[str, str]:
        """Every fetched remote line: ``refs/remotes/<remote>/main`` by remote."""
        prefix = b"refs/remotes/"
        found: dict[str, str] = {}
        for ref, value in self.repo.refs.as_dict(GitRef(prefix)).items():
            remote, slash, branch = ref.partition(b"/")
            if slash and branch == b"main":
                found[remote.decode("utf-8", "replace")] = value.decode("ascii")
        return dict(sorted(found.items()))

    def move_main(self, old: str | None, new: str) -> bool:
        """Compare-and-swap ``main`` from ``old`` to ``new`` (call under the lock).

        git's protocol (see :func:`_ref_lock`): the current value is compared
        while ``main.lock`` is held, then the lock is renamed over ``main``.
        (dulwich's ``set_if_equals`` also parses all of ``packed-refs`` on every
        call, which grows with the history.)

        Returns:
            False if ``main`` no longer names ``old``.

        Raises:
            ConflictError: If another writer holds ``main.lock``.
        """
        path = self.path / "refs" / "heads" / "main"
        try:
            with _ref_lock(path, new) as lock:
                if path.exists():
                    current = read_loose_ref(path)
                else:
                    current = self.packed_value(MAIN)
                if current != old:
                    return False
                os.replace(lock, path)
        except FileExistsError:
            raise ConflictError(
                "refs/heads/main is locked by another writer (main.lock); try again"
            ) from None
        fsync_dir(path.parent)
        return True

    def create_tag(self, name: str, commit: str) -> str | None:
        """Create ``refs/tags/<name>`` naming ``commit`` unless it exists.

        The tag's lock file is hardlinked to its name: ``link`` never
        replaces an existing file, so a tag is never overwritten, and readers
        see no tag or a complete one. (dulwich's ``add_if_new`` would parse
        all of ``packed-refs`` first.)

        Returns:
            The commit the tag names now (``commit`` unless it was taken).
        """
        current = self.tag_target(name)
        if current is None:
            path = self.path / "refs" / "tags" / name
            with _ref_lock(path, commit) as lock:
                if _link_new(lock, path):
                    fsync_dir(path.parent)
                    return commit
            current = self.tag_target(name)  # raced by a plain-git writer
        return current


@contextlib.contextmanager
def _ref_lock(path: Path, value: str) -> Iterator[Path]:
    """Take git's lock of a ref: ``<ref>.lock``, created exclusively, holding ``value``.

    The value is fsynced before the lock is yielded, so renaming or linking
    it into place publishes a complete ref. The lock is removed on exit
    unless the caller moved it.

    Raises:
        FileExistsError: If another writer holds the lock.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(path.name + ".lock")
    fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        try:
            write_all(fd, value.encode("ascii") + b"\n", lock)
            sync(fd, lock)
        finally:
            os.close(fd)
        yield lock
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def _link_new(source: Path, target: Path) -> bool:
    """Give ``source`` the name ``target`` unless that exists; True if it did.

    A hardlink never replaces a file. Where hardlinks are not supported (some
    network or FUSE filesystems), rename as git does, after checking: only a
    plain-git writer racing inside that check could be replaced (we hold the
    artifact's lock).
    """
    try:
        os.link(source, target)
    except FileExistsError:
        return False
    except OSError:
        if target.exists():
            return False
        os.replace(source, target)
    return True

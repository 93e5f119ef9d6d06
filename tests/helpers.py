"""Plain helpers shared by the test modules: ``from helpers import run_git, fsck``.

tests/ has no ``__init__.py``; pytest's default ``prepend`` import mode puts the
directory of the top ``conftest.py`` (tests/) on ``sys.path``, so this module
imports as ``helpers`` from tests/ and tests/compat/ alike. Fixtures stay in
``conftest.py``; what is here is ordinary functions that fixtures and tests call.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import Any

from click.testing import Result
from dulwich.objects import Blob, Commit, Tree
from dulwich.repo import Repo

from gitversions.snapshot.hashing import MODE_EXEC, DirNode, LinkNode
from gitversions.store import Store

GIT = shutil.which("git")

#: A directory snapshot: relative POSIX path -> (st_mode, bytes or link target).
Listing = dict[str, tuple[int, bytes | str]]
#: Files as git sees them: relative POSIX path -> (kind, bytes or link target),
#: kind being ``"file"``, ``"exec"`` or ``"link"``.
Content = dict[str, tuple[str, bytes | str]]

# Highest-precedence attributes that turn every content filter off.
NEUTRAL_ATTRIBUTES = "* -text !eol -ident -filter !working-tree-encoding\n"


# -- the real git CLI ------------------------------------------------------------


def _git(
    *args: str | Path, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert GIT is not None, "git is required for the tests"
    return subprocess.run(
        [GIT, *map(str, args)], cwd=cwd, capture_output=True, text=True, check=False
    )


def run_git(*args: str | Path, cwd: Path | None = None, check: bool = True) -> str:
    """Run the real git CLI (the judge of what we write) and return its stdout.

    Args:
        *args: git's arguments, e.g. ``"--git-dir", history, "log"``.
        cwd: the directory to run git in (default: the current one).
        check: raise ``AssertionError`` when git exits non-zero.

    Returns:
        git's standard output, as text.
    """
    proc = _git(*args, cwd=cwd)
    if check and proc.returncode != 0:
        command = " ".join(map(str, args))
        raise AssertionError(f"git {command} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def fsck(history: Path, *, full: bool = False, check_stderr: bool = True) -> None:
    """Assert that ``git fsck --strict --no-dangling`` finds nothing wrong.

    Args:
        history: the bare repository to check (an artifact's ``history.git``).
        full: pass ``--full`` as well.
        check_stderr: also fail when git's stderr mentions an error although
            git exits 0 (pass false to judge by the exit status alone).
    """
    extra = ["--full"] if full else []
    proc = _git("--git-dir", history, "fsck", "--strict", "--no-dangling", *extra)
    assert proc.returncode == 0, f"fsck {history}:\n{proc.stdout}{proc.stderr}"
    if check_stderr:
        assert "error" not in proc.stderr.lower(), proc.stderr


def fsck_histories_under(
    base: Path, *, full: bool = False, check_stderr: bool = True
) -> None:
    """Run :func:`fsck` on every ``history.git`` (with a HEAD) below ``base``."""
    for history in base.rglob("history.git"):
        if (history / "HEAD").is_file():
            fsck(history, full=full, check_stderr=check_stderr)


def git_write_tree(src: Path, work: Path, *, neutral_attributes: bool = False) -> str:
    """What git prints for SRC: init (sha256), add --all --force, write-tree.

    This is the SPEC's definition of the content hash, computed by the real git.

    Args:
        src: a directory (copied with its symlinks) or a single file.
        work: where to build the git work tree (must not exist yet).
        neutral_attributes: turn every git content filter off first
            (see ``NEUTRAL_ATTRIBUTES``).

    Returns:
        The SHA-256 tree id git computed.
    """
    if src.is_dir():
        shutil.copytree(src, work, symlinks=True)
    else:
        work.mkdir()
        shutil.copy2(src, work / src.name, follow_symlinks=False)
    run_git("init", "-q", "--object-format=sha256", cwd=work)
    if neutral_attributes:
        (work / ".git" / "info").mkdir(exist_ok=True)
        (work / ".git" / "info" / "attributes").write_text(NEUTRAL_ATTRIBUTES)
    run_git("add", "--all", "--force", cwd=work)
    return run_git("write-tree", cwd=work).strip()


# -- building and reading directories ---------------------------------------------


def write_tree(
    base: Path, files: dict[str, str | bytes], *, replace: bool = False
) -> Path:
    """Create files under ``base`` from a mapping of relative path to content.

    Args:
        base: the directory to write into (created with its parents).
        files: relative POSIX path -> content; ``str`` is written as UTF-8.
        replace: remove whatever ``base`` held first, so it holds exactly
            ``files``.

    Returns:
        ``base``.
    """
    if replace and base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return base


def listing_of(
    base: Path, *, directories: bool = True, exact_modes: bool = True
) -> Listing:
    """Snapshot of a directory: relative path -> (mode, content or link target).

    Nothing is followed: a symlink is recorded with its own text. A missing
    ``base`` gives an empty listing.

    Args:
        base: the directory to list (not itself included).
        directories: list directories (and any other entry that is neither a
            regular file nor a symlink) too, as ``(mode, b"")``.
        exact_modes: record every entry's full ``st_mode``; when false, links
            and directories are recorded by their file type alone
            (``stat.S_IFMT``), as git does. Regular files always keep their
            full mode.

    Returns:
        The listing, in walk order.
    """
    result: Listing = {}
    for root, dirs, files in os.walk(base):
        for name in sorted(dirs + files):
            path = Path(root) / name
            rel = path.relative_to(base).as_posix()
            mode = path.lstat().st_mode
            shown = mode if exact_modes else stat.S_IFMT(mode)
            if stat.S_ISLNK(mode):
                result[rel] = (shown, os.readlink(path))
            elif stat.S_ISREG(mode):
                result[rel] = (mode, path.read_bytes())
            elif directories:
                result[rel] = (shown, b"")
    return result


def content_of(base: Path, *, exclude: Collection[str] = ()) -> Content:
    """Files and symlinks under ``base`` as git sees them: path -> (kind, data).

    Args:
        base: the directory to read (directories themselves are not listed).
        exclude: relative POSIX paths to leave out; an excluded directory is
            not entered (e.g. ``{".git"}`` for a work tree).

    Returns:
        ``"link"`` entries hold the link's text; ``"exec"`` (owner may execute)
        and ``"file"`` entries hold the bytes.
    """
    found: Content = {}
    for root, dirs, files in os.walk(base):
        here = Path(root)
        dirs[:] = [
            d for d in dirs if (here / d).relative_to(base).as_posix() not in exclude
        ]
        for name in sorted(dirs + files):
            path = here / name
            rel = path.relative_to(base).as_posix()
            if rel in exclude:
                continue
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            elif path.is_file():
                exe = path.stat().st_mode & stat.S_IXUSR
                found[rel] = ("exec" if exe else "file", path.read_bytes())
    return found


def scanned_paths(node: DirNode, prefix: str = "") -> dict[str, str]:
    """Flatten a scanned tree: POSIX path -> kind (file, exec, link)."""
    out: dict[str, str] = {}
    for raw, child in node.children.items():
        rel = prefix + raw.decode("utf-8")
        if isinstance(child, DirNode):
            out.update(scanned_paths(child, rel + "/"))
        elif isinstance(child, LinkNode):
            out[rel] = "link"
        else:
            out[rel] = "exec" if child.mode == MODE_EXEC else "file"
    return out


# -- crafted git objects (what a hostile history may hold) -------------------------

#: The author and committer of every crafted commit.
MALLORY = b"Mallory <m@example.com>"


def add_blob(repo: Repo, data: bytes) -> bytes:
    """Store a blob holding ``data`` in ``repo``; return its id."""
    blob = Blob.from_string(data)
    repo.object_store.add_object(blob)
    return blob.id


def add_tree(repo: Repo, entries: Iterable[tuple[bytes, int, bytes]]) -> bytes:
    """Store a tree of ``(name, mode, id)`` entries in ``repo``; return its id.

    Nothing is checked: names and modes may be anything git would refuse.
    """
    tree = Tree()
    for name, mode, sha in entries:
        tree.add(name, mode, sha)
    repo.object_store.add_object(tree)
    return tree.id


def add_commit(
    repo: Repo, tree: bytes, parents: list[bytes], message: bytes, when: int
) -> bytes:
    """Store a commit by ``MALLORY`` at ``when`` (UTC) in ``repo``; return its id.

    No ref is moved: point ``refs/heads/main`` (or a tag) at it to publish it.
    """
    commit = Commit()
    commit.tree = tree
    commit.parents = parents
    commit.author = commit.committer = MALLORY
    commit.author_time = commit.commit_time = when
    commit.author_timezone = commit.commit_timezone = 0
    commit.message = message
    repo.object_store.add_object(commit)
    return commit.id


# -- stores and the CLI -------------------------------------------------------------


def set_config(store: Store, text: str) -> Store:
    """Write the store's gitversions.toml and return a Store that reads it afresh."""
    (store.root / "gitversions.toml").write_text(text, encoding="utf-8")
    return Store(store.root)


def ok(result: Result, *, check_traceback: bool = True) -> Result:
    """Assert that a CLI run succeeded and return it.

    Args:
        result: what click's runner returned.
        check_traceback: also assert that no traceback was printed.

    Returns:
        ``result``.
    """
    assert result.exit_code == 0, (
        f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        f"\n{result.exception!r}"
    )
    if check_traceback:
        assert "Traceback" not in result.output
    return result


def ok_json(result: Result, *, check_traceback: bool = True) -> Any:
    """Assert that a CLI run succeeded (see :func:`ok`); return its parsed stdout."""
    return json.loads(ok(result, check_traceback=check_traceback).stdout)


# SPEC §4, written out here (not imported from the library) so tests judge it.
SPEC_VERSION_FIELDS = [
    "id",
    "number",
    "timestamp",
    "hash",
    "commit",
    "source",
    "message",
    "parent_versions",
]
SPEC_CHANGE_FIELDS = ["files_changed", "added", "modified", "deleted", "summary"]
SPEC_FIELDS = SPEC_VERSION_FIELDS + SPEC_CHANGE_FIELDS


def calls_made(work: Callable[[], object]) -> int:
    """Count the function calls (Python and C) ``work`` makes, in every thread.

    A measure of work that, unlike time, does not depend on the machine's load:
    tests compare it across input sizes to prove an operation linear.
    """
    count = 0

    def hook(_frame: object, event: str, _arg: object) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    threading.setprofile(hook)  # type: ignore[arg-type]
    sys.setprofile(hook)  # type: ignore[arg-type]
    try:
        work()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]
    return count

"""Scanning SRC and computing the content hash (gitversions.snapshot.hashing)."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from helpers import scanned_paths, write_tree

from gitversions.errors import SourceError
from gitversions.model.paths import MAX_DEPTH
from gitversions.snapshot import hashing
from gitversions.snapshot.hashing import (
    CHUNK_SIZE,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    MODE_TREE,
    FileNode,
    LinkNode,
    content_hash,
    encode_tree,
    hash_blob_file,
    hash_object,
    scan_source,
)


def git_blob_id(data: bytes, algorithm: str = "sha256") -> bytes:
    return hashlib.new(algorithm, b"blob %d\0" % len(data) + data).digest()


class PatchedOs(ModuleType):
    """Stands in for ``os`` in gitversions.snapshot.hashing, with a few overrides."""

    def __init__(self, **overrides: Any) -> None:
        super().__init__("os")
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


# -- scan_source ------------------------------------------------------------


def test_directory_source(tmp_path: Path) -> None:
    src = write_tree(
        tmp_path / "skill",
        {"SKILL.md": "# s\n", "scripts/run.sh": "#!/bin/sh\n", "docs/a/b.md": "b"},
    )
    (src / "scripts" / "run.sh").chmod(0o755)
    (src / "link").symlink_to("SKILL.md")
    source = scan_source(src)
    assert source.kind == "dir"
    assert source.path == src
    assert scanned_paths(source.root) == {
        "SKILL.md": "file",
        "scripts/run.sh": "exec",
        "docs/a/b.md": "file",
        "link": "link",
    }
    assert source.file_count() == 4


def test_single_file_source_is_a_tree_holding_that_file(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "commands", {"review.md": "Review the code.\n"})
    source = scan_source(src / "review.md")
    assert source.kind == "file"
    assert scanned_paths(source.root) == {"review.md": "file"}
    node = source.root.children[b"review.md"]
    assert isinstance(node, FileNode)
    assert node.size == len("Review the code.\n")
    assert source.file_count() == 1


def test_single_executable_file_keeps_its_mode(tmp_path: Path) -> None:
    src = write_tree(tmp_path, {"tool.sh": "#!/bin/sh\n"}) / "tool.sh"
    src.chmod(0o700)
    assert scanned_paths(scan_source(src).root) == {"tool.sh": "exec"}


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        (0o644, "file"),
        (0o600, "file"),
        (0o444, "file"),
        (0o755, "exec"),
        (0o700, "exec"),
        (0o744, "exec"),
        (0o100, "exec"),
        (0o654, "file"),  # group may execute, the owner may not: git says 644
        (0o645, "file"),
    ],
)
def test_exec_bit_is_the_owners(tmp_path: Path, mode: int, kind: str) -> None:
    src = write_tree(tmp_path / "s", {"f": "x"})
    (src / "f").chmod(mode)
    assert scanned_paths(scan_source(src).root) == {"f": kind}


def test_symlinks_are_recorded_not_followed(tmp_path: Path) -> None:
    outside = write_tree(tmp_path / "outside", {"secret.txt": "secret"})
    src = write_tree(tmp_path / "s", {"real/file.txt": "x"})
    (src / "to-dir").symlink_to("real")
    (src / "to-outside").symlink_to(outside)
    (src / "up").symlink_to("../outside/secret.txt")
    (src / "dangling").symlink_to("nowhere")
    source = scan_source(src)
    assert scanned_paths(source.root) == {
        "real/file.txt": "file",
        "to-dir": "link",
        "to-outside": "link",
        "up": "link",
        "dangling": "link",
    }
    children = source.root.children
    assert children[b"to-outside"] == LinkNode("to-outside", os.fsencode(outside))
    assert children[b"up"] == LinkNode("up", b"../outside/secret.txt")
    assert children[b"dangling"] == LinkNode("dangling", b"nowhere")


def test_empty_directories_are_absent(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "s", {"a/keep.txt": "k"})
    (src / "empty").mkdir()
    (src / "nested" / "empty" / "deeper").mkdir(parents=True)
    (src / "a" / "empty-too").mkdir()
    source = scan_source(src)
    assert scanned_paths(source.root) == {"a/keep.txt": "file"}
    assert set(source.root.children) == {b"a"}


def test_empty_source_directory_is_an_empty_tree(tmp_path: Path) -> None:
    src = tmp_path / "empty"
    src.mkdir()
    assert scan_source(src).root.children == {}
    # git's well-known empty tree in SHA-256.
    assert content_hash(src) == (
        "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"
    )


@pytest.mark.parametrize("name", [".git", ".GIT", ".Git", ".gIt"])
def test_git_entries_in_any_case_are_excluded(tmp_path: Path, name: str) -> None:
    src = write_tree(
        tmp_path / "s",
        {
            "SKILL.md": "s",
            f"{name}/config": "[core]\n",
            f"{name}/HEAD": "ref: refs/heads/main\n",
            f"sub/{name}/objects/x": "x",
            "sub/file.txt": "f",
            ".gitignore": "*.log\n",
            ".github/ci.yml": "on: push\n",
        },
    )
    (src / "deeper").mkdir()
    (src / "deeper" / name).write_text("gitdir: ../elsewhere\n")  # a .git *file*
    assert scanned_paths(scan_source(src).root) == {
        "SKILL.md": "file",
        "sub/file.txt": "file",
        ".gitignore": "file",
        ".github/ci.yml": "file",
    }


def test_gitignore_is_content_not_instructions(tmp_path: Path) -> None:
    src = write_tree(
        tmp_path / "s",
        {".gitignore": "*.log\nbuild/\n", "debug.log": "d", "build/out.txt": "o"},
    )
    assert scanned_paths(scan_source(src).root) == {
        ".gitignore": "file",
        "debug.log": "file",
        "build/out.txt": "file",
    }


EXCLUDE_TREE = {
    "SKILL.md": "s",
    "a.pyc": "x",
    "lib/b.pyc": "x",
    "lib/b.py": "x",
    "build/out.txt": "x",
    "lib/build/out.txt": "x",
    "docs/draft.md": "x",
    "docs/final.md": "x",
    "other/docs/draft.md": "x",
    "__pycache__/m.cpython-311.pyc": "x",
    "lib/__pycache__/n.pyc": "x",
}


@pytest.mark.parametrize(
    ("patterns", "left_out"),
    [
        ((), set()),
        (
            ("*.pyc",),
            {
                "a.pyc",
                "lib/b.pyc",
                "__pycache__/m.cpython-311.pyc",
                "lib/__pycache__/n.pyc",
            },
        ),
        (("__pycache__",), {"__pycache__/m.cpython-311.pyc", "lib/__pycache__/n.pyc"}),
        (("build",), {"build/out.txt", "lib/build/out.txt"}),
        # a pattern with "/" matches the path inside SRC, so it is anchored
        (("/build",), {"build/out.txt"}),
        (("build/",), {"build/out.txt"}),
        (("docs/draft.md",), {"docs/draft.md"}),
        (("docs/*.md",), {"docs/draft.md", "docs/final.md"}),
        (
            ("*.pyc", "docs"),
            {
                "a.pyc",
                "lib/b.pyc",
                "__pycache__/m.cpython-311.pyc",
                "lib/__pycache__/n.pyc",
                "docs/draft.md",
                "docs/final.md",
                "other/docs/draft.md",
            },
        ),
        (("*.PYC",), set()),  # matching is case-sensitive, like git on Linux
        (("nothing-matches",), set()),
    ],
)
def test_exclude_patterns(
    tmp_path: Path, patterns: tuple[str, ...], left_out: set[str]
) -> None:
    src = write_tree(tmp_path / "s", dict(EXCLUDE_TREE))
    kept = set(scanned_paths(scan_source(src, patterns).root))
    assert kept == set(EXCLUDE_TREE) - left_out


def test_excluding_every_file_of_a_directory_drops_the_directory(
    tmp_path: Path,
) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "cache/a.pyc": "x"})
    assert set(scan_source(src, ["*.pyc"]).root.children) == {b"SKILL.md"}


def test_excluded_files_do_not_change_the_hash(tmp_path: Path) -> None:
    clean = write_tree(tmp_path / "clean", {"SKILL.md": "s", "lib/m.py": "m"})
    dirty = write_tree(
        tmp_path / "dirty",
        {"SKILL.md": "s", "lib/m.py": "m", "lib/m.pyc": "junk", "x.pyc": "junk"},
    )
    assert content_hash(dirty) != content_hash(clean)
    assert content_hash(dirty, ["*.pyc"]) == content_hash(clean)


# -- refusals -----------------------------------------------------------------


def test_missing_src_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist") as info:
        scan_source(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("target", ["real-dir", "real-file.md", "missing"])
def test_src_symlink_is_refused(tmp_path: Path, target: str) -> None:
    write_tree(tmp_path, {"real-dir/SKILL.md": "s", "real-file.md": "f"})
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(SourceError, match="symbolic link") as info:
        scan_source(link)
    assert target in str(info.value)


def test_fifo_inside_src_is_refused(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s"})
    os.mkfifo(src / "pipe")
    with pytest.raises(SourceError, match=r"pipe.*fifo"):
        scan_source(src)


def test_fifo_as_src_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(SourceError, match="fifo"):
        scan_source(tmp_path / "pipe")


def test_socket_inside_src_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "sub/x": "x"})
    monkeypatch.chdir(src / "sub")  # bind a short relative path (AF_UNIX limit)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind("agent.sock")
        with pytest.raises(SourceError, match=r"sub/agent\.sock.*socket"):
            scan_source(src)
    finally:
        sock.close()


def test_device_inside_src_is_refused(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s"})
    try:
        os.mknod(src / "null", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here")
    with pytest.raises(SourceError, match="device"):
        scan_source(src)


def test_non_utf8_file_name_is_refused(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s"})
    raw = os.fsencode(src) + b"/caf\xe9.md"
    with open(raw, "wb") as fh:
        fh.write(b"latin-1 name")
    with pytest.raises(SourceError, match="not valid UTF-8"):
        scan_source(src)


def test_non_utf8_directory_name_is_refused(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s"})
    os.mkdir(os.fsencode(src) + b"/\xff\xfe")
    with open(os.fsencode(src) + b"/\xff\xfe/f", "wb") as fh:
        fh.write(b"x")
    with pytest.raises(SourceError, match="not valid UTF-8"):
        scan_source(src)


@pytest.mark.parametrize(
    "name",
    [
        "back\\slash.md",
        "git~1",
        ".git.",
        ".git ",
        "GIT~1",
        # HFS+ ignores zero-width joiners, so this is `.git` on macOS; a
        # history holding it fails `git fsck --strict` (hasDotgit).
        ".g\u200cit",
    ],
)
def test_names_that_cannot_be_exported_safely_are_refused(
    tmp_path: Path, name: str
) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", f"sub/{name}": "x"})
    with pytest.raises(SourceError) as info:
        scan_source(src)
    message = str(info.value)
    assert f"sub/{name}" in message or repr(f"sub/{name}")[1:-1] in message


def test_backslash_in_single_file_src_is_refused(tmp_path: Path) -> None:
    src = write_tree(tmp_path, {"a\\b.md": "x"}) / "a\\b.md"
    with pytest.raises(SourceError, match="backslash"):
        scan_source(src)


def test_unreadable_directory_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "locked/x": "x"})
    locked = os.fsencode(src / "locked")

    def scandir(path: Any) -> Any:
        if path == locked:
            raise PermissionError(13, "Permission denied", path)
        return os.scandir(path)

    monkeypatch.setattr(hashing, "os", PatchedOs(scandir=scandir))
    with pytest.raises(SourceError, match=r"locked.*Permission denied"):
        scan_source(src)


def test_unreadable_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "secret.md": "x"})
    source = scan_source(src)
    secret = str(src / "secret.md")

    def deny(path: Any, flags: int, *args: Any) -> int:
        if os.fsdecode(path) == secret:
            raise PermissionError(13, "Permission denied", path)
        return os.open(path, flags, *args)

    monkeypatch.setattr(hashing, "os", PatchedOs(open=deny))
    with pytest.raises(SourceError, match=r"secret\.md.*Permission denied"):
        hashing.hash_source(source, ("sha256",))


def test_file_vanishing_before_it_is_read_is_refused(tmp_path: Path) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "gone.md": "x"})
    source = scan_source(src)
    (src / "gone.md").unlink()
    with pytest.raises(SourceError, match=r"gone\.md.*vanished"):
        hashing.hash_source(source, ("sha256",))


def test_file_replaced_by_symlink_before_read_is_not_followed(
    tmp_path: Path,
) -> None:
    outside = write_tree(tmp_path / "outside", {"secret": "secret"})
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "f.md": "x"})
    source = scan_source(src)
    (src / "f.md").unlink()
    (src / "f.md").symlink_to(outside / "secret")
    with pytest.raises(SourceError, match=r"f\.md"):
        hashing.hash_source(source, ("sha256",))


def test_max_depth_is_the_limit_export_enforces(tmp_path: Path) -> None:
    # A path may have at most MAX_DEPTH components (paths.check_relative_path,
    # and the exporter refuses deeper trees); a snapshot must not record what
    # can never be exported.
    ok = tmp_path / "ok"
    (ok.joinpath(*["d"] * (MAX_DEPTH - 1))).mkdir(parents=True)
    ok.joinpath(*["d"] * (MAX_DEPTH - 1), "f").write_text("x")
    assert scan_source(ok).file_count() == 1

    deep = tmp_path / "deep"
    (deep.joinpath(*["d"] * MAX_DEPTH)).mkdir(parents=True)
    deep.joinpath(*["d"] * MAX_DEPTH, "f").write_text("x")
    with pytest.raises(SourceError, match="levels deep"):
        scan_source(deep)


# -- files that change while being read -----------------------------------------


def _growing_reads(target: str, *, times: int) -> PatchedOs:
    """An ``os`` whose read() appends to ``target`` on the first ``times`` reads."""
    count = {"n": 0}

    def read(fd: int, n: int) -> bytes:
        data = os.read(fd, n)
        if count["n"] < times and os.path.samefile(f"/proc/self/fd/{fd}", target):
            count["n"] += 1
            with open(target, "ab") as fh:
                fh.write(b"+more")
        return data

    return PatchedOs(read=read)


def test_file_that_keeps_growing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "log.txt": "start"})
    source = scan_source(src)
    monkeypatch.setattr(hashing, "os", _growing_reads(str(src / "log.txt"), times=1000))
    with pytest.raises(SourceError, match=r"log\.txt.*kept changing"):
        hashing.hash_source(source, ("sha256",))


def test_file_rewritten_in_place_with_same_size_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tree(tmp_path / "s", {"data.bin": b"A" * 64})
    target = src / "data.bin"
    os.utime(target, ns=(10**9, 10**9))  # an old mtime, so any write changes it
    node = scan_source(src).root.children[b"data.bin"]
    assert isinstance(node, FileNode)
    flips = iter(range(1_000_000))

    def read(fd: int, n: int) -> bytes:
        data = os.read(fd, n)
        with open(target, "r+b") as fh:
            fh.write(bytes([65 + next(flips) % 26]) * 64)  # same size
        os.utime(target, ns=(10**9, 10**9 + next(flips)))
        return data

    monkeypatch.setattr(hashing, "os", PatchedOs(read=read))
    with pytest.raises(SourceError, match="kept changing"):
        hash_blob_file(node, ("sha256",))


def test_file_that_changes_once_is_read_again_never_torn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_tree(tmp_path / "s", {"notes.md": "first version\n"})
    node = scan_source(src).root.children[b"notes.md"]
    assert isinstance(node, FileNode)
    monkeypatch.setattr(hashing, "os", _growing_reads(node.path, times=1))
    (blob,) = hash_blob_file(node, ("sha256",))
    final = (src / "notes.md").read_bytes()
    assert final == b"first version\n+more"
    assert blob == git_blob_id(final)


def test_file_that_changed_between_scan_and_read_is_hashed_as_read(
    tmp_path: Path,
) -> None:
    src = write_tree(tmp_path / "s", {"a.md": "short"})
    node = scan_source(src).root.children[b"a.md"]
    assert isinstance(node, FileNode)
    (src / "a.md").write_bytes(b"a much longer content than before")
    (blob,) = hash_blob_file(node, ("sha256",))
    assert blob == git_blob_id(b"a much longer content than before")


# -- hashes -------------------------------------------------------------------


def test_hash_blob_file_streams_large_files(tmp_path: Path) -> None:
    size = 3 * CHUNK_SIZE + 12345
    data = (hashlib.sha256(b"seed").digest() * (size // 32 + 1))[:size]
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    node = FileNode(str(path), "big.bin", MODE_FILE, size)
    sha256, sha1 = hash_blob_file(node, ("sha256", "sha1"))
    assert sha256 == git_blob_id(data, "sha256")
    assert sha1 == git_blob_id(data, "sha1")


def test_hash_blob_file_reads_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 3 * CHUNK_SIZE + 1
    path = tmp_path / "big.bin"
    path.write_bytes(b"z" * size)
    biggest = {"n": 0}

    def read(fd: int, n: int) -> bytes:
        biggest["n"] = max(biggest["n"], n)
        return os.read(fd, n)

    monkeypatch.setattr(hashing, "os", PatchedOs(read=read))
    node = FileNode(str(path), "big.bin", MODE_FILE, size)
    assert hash_blob_file(node, ("sha256",)) == (git_blob_id(b"z" * size),)
    assert biggest["n"] <= CHUNK_SIZE


@pytest.mark.parametrize(
    "data", [b"", b"x", b"hello\n", bytes(range(256)), b"\0" * 1000]
)
def test_hash_blob_file_matches_git_blob_ids(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    node = FileNode(str(path), "f", MODE_FILE, len(data))
    assert hash_blob_file(node, ("sha1",)) == (git_blob_id(data, "sha1"),)


def test_hash_object_known_ids() -> None:
    # `git hash-object` of an empty blob, in both formats.
    assert hash_object("sha1", b"blob", b"").hex() == (
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
    )
    assert hash_object("sha256", b"blob", b"").hex() == (
        "473a0f4c3be8a93681a267e3b1e9a7dcda1185436fe141f7749120a303721813"
    )


def test_encode_tree_uses_git_order() -> None:
    blob = b"\x11" * 32
    entries = [
        (b"a0", MODE_FILE, blob),
        (b"a", MODE_TREE, blob),  # sorts as "a/"
        (b"a.b", MODE_FILE, blob),
        (b"a-b", MODE_EXEC, blob),
        (b"B", MODE_LINK, blob),
    ]
    body = encode_tree(entries)
    names = [chunk.split(b" ", 1)[1] for chunk in body.split(b"\0")[:-1]]
    order = [n.lstrip(b"\x11") for n in names]
    assert order == [b"B", b"a-b", b"a.b", b"a", b"a0"]
    assert body.startswith(b"120000 B\0")
    assert b"40000 a\0" in body
    assert b"100755 a-b\0" in body
    assert encode_tree(list(reversed(entries))) == body


def test_content_hash_is_independent_of_mtimes_and_creation_order(
    tmp_path: Path,
) -> None:
    files = {
        "SKILL.md": "# s\n",
        "b/one.md": "1",
        "a/two.md": "2",
        "a/z/three.md": "3",
        "c.md": "c",
    }
    first = write_tree(tmp_path / "first", files)
    second = tmp_path / "second"
    for rel in reversed(list(files)):
        write_tree(second, {rel: files[rel]})
    for i, path in enumerate(sorted(second.rglob("*"))):
        os.utime(path, (1_000_000 + i * 7919, 2_000_000 + i * 104729))
    (first / "a" / "two.md").chmod(0o600)  # permissions other than x don't count
    assert content_hash(first) == content_hash(second)
    assert len(content_hash(first)) == 64
    assert content_hash(first) == content_hash(str(first))


@pytest.mark.parametrize(
    "change",
    ["content", "rename", "exec", "symlink", "move"],
)
def test_content_hash_changes_with_content(tmp_path: Path, change: str) -> None:
    src = write_tree(tmp_path / "s", {"SKILL.md": "s", "lib/a.md": "a"})
    before = content_hash(src)
    if change == "content":
        (src / "lib" / "a.md").write_text("A")
    elif change == "rename":
        (src / "lib" / "a.md").rename(src / "lib" / "b.md")
    elif change == "exec":
        (src / "lib" / "a.md").chmod(0o755)
    elif change == "symlink":
        (src / "lib" / "a.md").unlink()
        (src / "lib" / "a.md").symlink_to("a")  # same bytes, now a link
    else:
        (src / "lib" / "a.md").rename(src / "a.md")
    assert content_hash(src) != before


def test_path_and_content_do_not_collide(tmp_path: Path) -> None:
    # "a/b" holding "c" is not "a" holding "b/c" or a file named "a" holding "b".
    one = write_tree(tmp_path / "one", {"a/b": "c"})
    two = write_tree(tmp_path / "two", {"a": "b/c"})
    three = write_tree(tmp_path / "three", {"a/b/c": ""})
    assert len({content_hash(one), content_hash(two), content_hash(three)}) == 3


def test_single_file_hash_depends_on_its_name(tmp_path: Path) -> None:
    write_tree(tmp_path, {"x.md": "same", "y.md": "same"})
    assert content_hash(tmp_path / "x.md") != content_hash(tmp_path / "y.md")

"""The content hash is what git itself computes for the same directory.

SPEC: the content hash is exactly what ``git init --object-format=sha256 && git
add --all --force && git write-tree`` prints. Every test here builds a tree,
copies it byte for byte (symlinks as symlinks) into a fresh git work tree, and
compares ``content_hash`` with git's answer.
"""

from __future__ import annotations

import os
import random
import shutil
import unicodedata
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import git_write_tree, scanned_paths, write_tree

from gitversions.snapshot.hashing import content_hash, scan_source

pytestmark = pytest.mark.compat

Git = Callable[..., str]


def git_paths(git: Git, work: Path) -> set[str]:
    """The paths git recorded (to show what differs when the hashes do)."""
    out = git("ls-files", "-z", "--stage", cwd=work)
    return {line.split("\t", 1)[1] for line in out.split("\0") if line}


def assert_same_as_git(git: Git, src: Path, work: Path) -> str:
    expected = git_write_tree(src, work)
    if src.is_dir():
        assert set(scanned_paths(scan_source(src).root)) == git_paths(git, work)
    assert content_hash(src) == expected
    return expected


NFC = unicodedata.normalize("NFC", "café.md")
NFD = unicodedata.normalize("NFD", "café.md")


@pytest.fixture
def tricky_tree(tmp_path: Path) -> Path:
    src = write_tree(
        tmp_path / "src",
        {
            "SKILL.md": "# Canvas design\n\nDraw things.\n",
            "nested/deeper/deepest/leaf.txt": "leaf\n",
            "nested/sibling.md": "sibling\n",
            "scripts/run.sh": "#!/bin/sh\necho run\n",
            "scripts/group-exec-only": "not executable for git\n",
            "scripts/notes.txt": "plain\n",
            "binary.bin": bytes(range(256)) * 16 + b"\0\r\n\xff",
            "crlf.txt": b"windows\r\nline endings\r\n",
            "empty.txt": b"",
            NFC: "composed\n",
            NFD: "decomposed\n",
            "日本語/ファイル.md": "unicode dir\n",
            "name with spaces.md": "spaces\n",
            "-leading-dash": "dash\n",
            # git sorts a directory as if its name ended with "/":
            # "a-b" < "a.b" < "a/" < "a0" (and "A" before all of them)
            "a/inner.txt": "in a/\n",
            "a.b": "a.b\n",
            "a-b": "a-b\n",
            "a0": "a0\n",
            "A": "upper\n",
            "ab/x": "dir ab\n",
            "ab.txt": "file ab.txt\n",
            "ab0": "file ab0\n",
            "x/a": "file a\n",
            "x/a.b": "x\n",
            "x/a-b": "x\n",
            "x/a0": "x\n",
            "x/a b": "x\n",
            # a .git directory that is not a repository: skipped by both
            "sub/.git/config": "[core]\n\tbare = false\n",
            "sub/real.txt": "real\n",
            # .gitignore is content; what it names is added all the same
            ".gitignore": "*.log\nignored/\nbuild\n",
            "debug.log": "ignored by .gitignore, kept by --force\n",
            "ignored/file.txt": "kept\n",
            "nested/.gitignore": "*\n",
            "nested/build": "kept\n",
            ".github/workflows/ci.yml": "on: push\n",
            ".gitattributes": "*.bin binary\n",
        },
    )
    (src / "scripts" / "run.sh").chmod(0o755)
    (src / "scripts" / "group-exec-only").chmod(0o654)
    (src / "nested" / "sibling.md").chmod(0o700)
    (src / "link-in-tree").symlink_to("SKILL.md")
    (src / "link-to-dir").symlink_to("nested/deeper")
    (src / "nested" / "link-up").symlink_to("../scripts/run.sh")
    (src / "dangling").symlink_to("does/not/exist")
    (src / "escape").symlink_to("../../../etc/passwd")
    (src / "absolute").symlink_to("/etc/hostname")
    (src / "unicode-link").symlink_to(NFD)
    (src / "empty-dir").mkdir()
    (src / "nested" / "empty" / "emptier").mkdir(parents=True)
    return src


def test_tricky_tree_matches_git_write_tree(
    git: Git, tricky_tree: Path, tmp_path: Path
) -> None:
    assert_same_as_git(git, tricky_tree, tmp_path / "work")


def test_tricky_tree_entries_as_git_records_them(
    git: Git, tricky_tree: Path, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    git_write_tree(tricky_tree, work)
    stage = git("ls-files", "-z", "--stage", cwd=work).split("\0")
    modes = {line.split("\t", 1)[1]: line.split(" ", 1)[0] for line in stage if line}
    # The checks of this file are only worth something if git sees the tree the
    # way the fixture means it to.
    assert modes["scripts/run.sh"] == "100755"
    assert modes["scripts/group-exec-only"] == "100644"
    assert modes["escape"] == "120000"
    assert modes["link-to-dir"] == "120000"
    assert NFC in modes
    assert NFD in modes
    assert "debug.log" in modes
    assert "sub/real.txt" in modes
    assert not any(".git/" in path for path in modes)
    assert not any(path.startswith("empty-dir") for path in modes)


def test_gitattributes_are_content_not_instructions(tmp_path: Path) -> None:
    # Like .gitignore, a .gitattributes file inside an artifact is content: the
    # bytes on disk are what is versioned (and restored), never a normalized
    # form. So the reference is git with every in-tree attribute overridden.
    src = write_tree(
        tmp_path / "src",
        {
            ".gitattributes": "* text=auto eol=crlf ident\n",
            "crlf.txt": b"one\r\ntwo\r\n",
            "lf.txt": b"one\ntwo\n",
            "ident.c": "/* $Id: 0123 $ */\n",
        },
    )
    raw = git_write_tree(src, tmp_path / "work", neutral_attributes=True)
    filtered = git_write_tree(src, tmp_path / "work2")
    assert raw != filtered  # git add alone would have rewritten the content
    assert content_hash(src) == raw


def test_git_metadata_is_left_out_like_git_does(git: Git, tmp_path: Path) -> None:
    src = write_tree(
        tmp_path / "src",
        {
            "SKILL.md": "s\n",
            "pkg/.git/config": "[core]\n",
            "pkg/.git/HEAD": "ref: refs/heads/main\n",
            "pkg/module.py": "x = 1\n",
            "deep/er/.git/description": "unnamed\n",
            "deep/er/file": "f\n",
        },
    )
    with_git = assert_same_as_git(git, src, tmp_path / "work")
    for junk in ("pkg/.git", "deep/er/.git"):
        shutil.rmtree(src / junk)
    assert content_hash(src) == with_git


@pytest.mark.parametrize(
    ("name", "content", "mode"),
    [
        ("review.md", "Review the code.\n", 0o644),
        ("agent.md", "---\nname: a\n---\nBody ünïcode\n", 0o600),
        ("tool.sh", "#!/bin/sh\n", 0o755),
        ("empty.md", "", 0o644),
        (NFD, "decomposed name\n", 0o644),
    ],
)
def test_single_file_artifact_is_a_tree_holding_that_file(
    git: Git, tmp_path: Path, name: str, content: str, mode: int
) -> None:
    src = write_tree(tmp_path / "commands", {name: content}) / name
    src.chmod(mode)
    assert_same_as_git(git, src, tmp_path / "work")


def test_single_file_hash_equals_hash_of_directory_holding_it(tmp_path: Path) -> None:
    write_tree(tmp_path / "a", {"cmd.md": "x\n"})
    write_tree(tmp_path / "dir", {"cmd.md": "x\n"})
    assert content_hash(tmp_path / "a" / "cmd.md") == content_hash(tmp_path / "dir")


def test_large_file_matches_git(git: Git, tmp_path: Path) -> None:
    rng = random.Random(7)
    size = (3 << 20) + 777
    write_tree(tmp_path / "src", {"big.bin": rng.randbytes(size), "SKILL.md": "s"})
    assert_same_as_git(git, tmp_path / "src", tmp_path / "work")


# -- randomly generated trees ---------------------------------------------------

NAME_POOL = [
    "a",
    "b",
    "A",
    "Z",
    "a.b",
    "a-b",
    "a_b",
    "a0",
    "ab",
    "ab.c",
    "a b",
    "-dash",
    "dot.",
    "a:b",
    "~tilde",
    "é",
    "e\u0301",
    "ß",
    "日本",
    "😀",
    ".hidden",
    ".gitignore",
    "README.md",
    "x" * 60,
]
LINK_TARGETS = ["a", "../a", "../../x/y", "/etc/passwd", "nowhere/deep", "é", "."]


def random_tree(rng: random.Random, base: Path, depth: int = 0) -> None:
    base.mkdir(parents=True, exist_ok=True)
    names = rng.sample(NAME_POOL, rng.randint(0, 8) if depth else rng.randint(6, 12))
    for name in names:
        path = base / name
        roll = rng.random()
        if roll < 0.3 and depth < 4:
            random_tree(rng, path, depth + 1)  # may stay empty: then absent
        elif roll < 0.42:
            os.symlink(rng.choice(LINK_TARGETS), path)
        else:
            size = rng.choice([0, 1, 17, 300, 5000])
            data = (
                rng.randbytes(size)
                if rng.random() < 0.5
                else "".join(rng.choice("ab \n\té") for _ in range(size)).encode()
            )
            path.write_bytes(data)
            path.chmod(rng.choice([0o644, 0o755, 0o600, 0o700, 0o654, 0o744]))


@pytest.mark.parametrize("seed", range(10))
def test_random_trees_match_git(git: Git, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    src = tmp_path / "src"
    random_tree(rng, src)
    assert_same_as_git(git, src, tmp_path / "work")

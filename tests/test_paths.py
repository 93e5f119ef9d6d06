"""Which tree names and paths may be written to disk (gitversions.model.paths)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from gitversions.model.paths import (
    MAX_DEPTH,
    check_component,
    check_relative_path,
    is_git_dir_name,
    name_key,
)

# Names that are `.git` on some filesystem. Each of them is what `git fsck
# --strict` reports as `hasDotgit` (git's is_ntfs_dotgit / is_hfs_dotgit): a
# history holding one of them fails fsck and is refused by every git host, and
# checking it out on Windows or macOS writes into the repository's metadata.
DOTGIT_ALIASES = [
    ".git",
    ".GIT",
    ".Git",
    ".gIT",
    ".git.",
    ".git..",
    ".git ",
    ".git. .",
    ".GIT  ",
    "git~1",
    "GIT~1",
    "Git~1",
    # NTFS: trailing dots and spaces are dropped from the 8.3 alias too.
    "git~1.",
    "git~1 ",
    # NTFS alternate data streams of .git.
    ".git::$INDEX_ALLOCATION",
    ".git:",
    # HFS+: zero-width code points are ignored in names.
    ".g\u200cit",
    ".gi\u200dt",
    ".\u200egit",
    "\u202a.git",
    ".git\ufeff",
    ".G\u200cIT",
]

NOT_DOTGIT = [
    "git",
    "GIT",
    ".gitignore",
    ".gitattributes",
    ".gitmodules",
    ".github",
    ".gitkeep",
    "..git",
    ".git.x",
    ".git-x",
    "x.git",
    "git~2",
    "git~10",
    "git1",
    ".gi",
    ".gitt",
    "_git",
    ".g it",
    ".\u200bgit",  # a zero-width space is not ignored by HFS+
]


@pytest.mark.parametrize("name", DOTGIT_ALIASES)
def test_dotgit_aliases_are_git_dir_names(name: str) -> None:
    assert is_git_dir_name(name.encode("utf-8"))


@pytest.mark.parametrize("name", NOT_DOTGIT)
def test_ordinary_names_are_not_git_dir_names(name: str) -> None:
    assert not is_git_dir_name(name.encode("utf-8"))


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (b"", "empty"),
        (b".", "'.'"),
        (b"..", "'..'"),
        (b"a/b", "'/'"),
        (b"/", "'/'"),
        (b"../x", "'/'"),
        (b"a\\b", "backslash"),
        (b"..\\x", "backslash"),
        (b"\\", "backslash"),
        (b"a\0b", "NUL"),
        (b"\0", "NUL"),
        (b".git", ".git"),
        (b".GIT", ".git"),
        (b".Git", ".git"),
        (b".git.", ".git"),
        (b".git ", ".git"),
        (b"git~1", ".git"),
        (b"GIT~1", ".git"),
    ],
)
def test_check_component_refuses(name: bytes, reason: str) -> None:
    message = check_component(name)
    assert message is not None
    assert reason in message


@pytest.mark.parametrize(
    "name",
    [
        "SKILL.md",
        "a",
        "git",
        ".gitignore",
        ".github",
        ".gitkeep",
        "..git",
        "...",
        ".hidden",
        "-rf",
        "name with spaces",
        "tab\there",
        "café.md",
        "cafe\u0301.md",
        "файл.txt",
        "名前.md",
        "emoji-😀",
        "a:b",
        "x" * 255,
    ],
)
def test_check_component_accepts_ordinary_names(name: str) -> None:
    assert check_component(name.encode("utf-8")) is None


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/", "absolute"),
        ("/etc/passwd", "absolute"),
        ("//x", "absolute"),
        (".", "'.'"),
        ("..", "'..'"),
        ("../x", "'..'"),
        ("a/../b", "'..'"),
        ("a/..", "'..'"),
        ("./a", "'.'"),
        ("a/./b", "'.'"),
        ("a//b", "empty"),
        ("a/", "empty"),
        ("a\\b", "backslash"),
        ("..\\..\\x", "backslash"),
        ("a\0b", "NUL"),
        (".git", ".git"),
        (".git/config", ".git"),
        ("sub/.git/hooks/post-checkout", ".git"),
        ("sub/.GIT/config", ".git"),
        ("sub/.Git", ".git"),
        ("x/.git./y", ".git"),
        ("x/git~1/config", ".git"),
        ("/".join(["d"] * MAX_DEPTH + ["f"]), f"{MAX_DEPTH} levels"),
        ("/".join(["d"] * (MAX_DEPTH * 4)), f"{MAX_DEPTH} levels"),
    ],
)
def test_check_relative_path_refuses(path: str, reason: str) -> None:
    message = check_relative_path(path)
    assert message is not None
    assert reason in message


@pytest.mark.parametrize(
    "path",
    [
        "SKILL.md",
        "scripts/process.js",
        ".gitignore",
        "sub/.gitignore",
        ".github/workflows/ci.yml",
        "git/config",
        "a/b/c/d/e/f.txt",
        "ünïcödé/файл.md",
        "with space/and more.txt",
        "..git/x",
        "/".join(["d"] * (MAX_DEPTH - 1) + ["f"]),
    ],
)
def test_check_relative_path_accepts_normal_paths(path: str) -> None:
    assert check_relative_path(path) is None


def test_max_depth_counts_components() -> None:
    assert check_relative_path("/".join(["d"] * MAX_DEPTH)) is None
    assert check_relative_path("/".join(["d"] * (MAX_DEPTH + 1))) is not None


# -- git is the judge of what is `.git` ---------------------------------------


def _git_says_dotgit(name: str, repo: Path) -> bool:
    """Write a tree holding ``name`` and ask `git fsck --strict` about it."""
    git = shutil.which("git")
    assert git is not None
    shutil.rmtree(repo, ignore_errors=True)
    subprocess.run([git, "init", "-q", "--bare", str(repo)], check=True)
    blob = (
        subprocess.run(
            [git, "--git-dir", str(repo), "hash-object", "-w", "--stdin"],
            input=b"x\n",
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    line = f"100644 blob {blob}\t{name}\n".encode()
    subprocess.run(
        [git, "--git-dir", str(repo), "mktree"],
        input=line,
        capture_output=True,
        check=True,
    )
    fsck = subprocess.run(
        [git, "--git-dir", str(repo), "fsck", "--strict", "--no-dangling"],
        capture_output=True,
        check=False,
    )
    return b"hasDotgit" in fsck.stderr + fsck.stdout


@pytest.mark.compat
def test_is_git_dir_name_agrees_with_git_fsck(tmp_path: Path) -> None:
    disagree = []
    for name in DOTGIT_ALIASES + NOT_DOTGIT:
        ours = is_git_dir_name(name.encode("utf-8"))
        theirs = _git_says_dotgit(name, tmp_path / "repo.git")
        # The tables above are right about git, so only gitversions can be wrong.
        assert theirs == (name in DOTGIT_ALIASES), name
        if ours != theirs:
            disagree.append(name)
    assert disagree == []


def _full_rules(name: bytes) -> bool:
    """check_component's rules spelled out without its fast path."""
    return (
        bool(name)
        and name not in (b".", b"..")
        and not any(c in name for c in (b"/", b"\\", b"\0"))
        and not is_git_dir_name(name)
    )


def test_fast_path_agrees_with_the_full_rules() -> None:
    # The one-regex fast path must never accept what the full checks refuse:
    # random names over an alphabet rich in the characters that matter.
    import random

    rng = random.Random(11)
    alphabet = b".gitGIT~1:/\\\0 a-_+=,@xyz\xc3\xa9\xe2\x80\x8c"
    for _ in range(40_000):
        name = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        assert (check_component(name) is None) == _full_rules(name), name
    for name in (b"git~1", b"GiT~1", b"git~1.", b"git~10", b"-rf", b"a b", b"f.md"):
        assert (check_component(name) is None) == _full_rules(name), name


# Pairs that macOS (APFS, HFS+) or Windows (NTFS) store as one file.
TWINS = [
    ("README.md", "readme.md"),
    ("\u212a.md", "k.md"),  # KELVIN SIGN folds to k
    ("caf\u00e9.md", "cafe\u0301.md"),  # NFC and NFD
    ("stra\u00dfe", "STRASSE"),  # full case folding: sharp s is ss
    ("\u00c5ngstr\u00f6m", "A\u030angstro\u0308m"),  # NFC and NFD, upper
    ("\u03a3\u03bf\u03c6\u03af\u03b1", "\u03c3\u03bf\u03c6\u03b9\u0301\u03b1"),
    ("a\u200cb", "AB"),  # HFS+ ignores U+200C
]


@pytest.mark.parametrize(("one", "other"), TWINS)
def test_twins_have_one_key(one: str, other: str) -> None:
    assert name_key(one.encode()) == name_key(other.encode())


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (b"a.md", b"b.md"),
        ("\u00e9".encode(), b"e"),  # an accent is not a case
        (b"ss", b"s"),
        (b"i", "\u0131".encode()),  # dotless i is its own letter
        (b"a\xff", b"a\xfe"),  # not UTF-8: compared as bytes
    ],
)
def test_different_names_have_different_keys(one: bytes, other: bytes) -> None:
    assert name_key(one) != name_key(other)

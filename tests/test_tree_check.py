"""The one strict tree check (git.trees.check_tree_entries), case by case.

Trees are written byte for byte, as a hostile remote could; the rules that are
git's own (duplicates, order, padded modes) are also put to ``git fsck --strict``,
which must refuse the same trees.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest
from helpers import GIT, run_git

from gitversions.errors import CorruptionError, UnsafePathError
from gitversions.git.trees import check_tree_entries, parse_tree

BLOB = hashlib.sha1(b"blob 2\0x\n").hexdigest()
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


def body(*entries: tuple[bytes, bytes, str]) -> bytes:
    return b"".join(b"%s %s\0%s" % (m, n, bytes.fromhex(i)) for m, n, i in entries)


def f(name: bytes, mode: bytes = b"100644") -> tuple[bytes, bytes, str]:
    return (mode, name, BLOB)


def d(name: bytes) -> tuple[bytes, bytes, str]:
    return (b"40000", name, EMPTY_TREE)


REFUSED = {
    "duplicate": (body(f(b"a"), f(b"a")), "duplicate entry"),
    "duplicate-file-and-dir": (body(f(b"a"), d(b"a")), "duplicate entry"),
    "unsorted": (body(f(b"b"), f(b"a")), "git's order"),
    "dir-sorts-with-slash": (body(d(b"a"), f(b"a.b")), "git's order"),
    "padded-mode": (body(f(b"a", b"0100644")), "padded mode"),
    "case-duplicate": (body(f(b"A"), f(b"a")), "duplicate name"),
    # one file on macOS or Windows too: beyond ASCII case (git order: bytes)
    "kelvin-sign": (body(f(b"k.md"), f("\u212a.md".encode())), "duplicate name"),
    "nfc-nfd": (
        body(f("cafe\u0301.md".encode()), f("caf\u00e9.md".encode())),
        "duplicate name",
    ),
    "sharp-s": (body(f(b"STRASSE"), f("stra\u00dfe".encode())), "duplicate name"),
    "case-dir-and-file": (body(d(b"Docs"), f(b"docs")), "duplicate name"),
    "dot": (body(d(b".")), "not allowed"),
    "dotdot": (body(f(b"..")), "not allowed"),
    ".git": (body(d(b".git")), ".git"),
    ".GIT": (body(f(b".GIT")), ".git"),
    "ntfs-alias": (body(d(b"git~1")), ".git"),
    "slash": (body(f(b"a/b")), "'/'"),
    "empty-name": (body(f(b"")), "empty name"),
    "not-utf8": (body(f(b"\xff")), "not UTF-8"),
    "mode-100664": (body(f(b"a", b"100664")), "unsupported mode"),
    "gitlink": (body((b"160000", b"a", BLOB)), "unsupported mode"),
    "reserved-at-top": (body(f(b".version.toml")), "reserved"),
}

# git's own rules: git fsck --strict refuses these trees too.
GIT_MESSAGE = {
    "duplicate": "duplicateEntries",
    "duplicate-file-and-dir": "duplicateEntries",
    "unsorted": "treeNotSorted",
    "dir-sorts-with-slash": "treeNotSorted",
    "padded-mode": "zeroPaddedFilemode",
}
GIT_RULES = list(GIT_MESSAGE)


@pytest.mark.parametrize("case", REFUSED)
def test_the_check_refuses(case: str) -> None:
    raw, reason = REFUSED[case]
    with pytest.raises(UnsafePathError, match=reason):
        check_tree_entries(raw, "t", "sha1", top=True)


def test_good_trees_pass_and_keep_their_order() -> None:
    raw = body(f(b"a"), f(b"a.b"), d(b"a0"), d(b"b"), f(b"run", b"100755"))
    names = [n for n, _m, _i in check_tree_entries(raw, "t", "sha1", top=True)]
    assert names == [b"a", b"a.b", b"a0", b"b", b"run"]
    # a file sorts before a directory of a longer name: "a.b" < "a/" in git
    assert check_tree_entries(body(f(b"a.b"), d(b"a")), "t", "sha1")
    # .version.toml is reserved at the top only
    assert check_tree_entries(body(f(b".version.toml")), "t", "sha1", "sub/")


@pytest.mark.parametrize(
    "raw", [b"100644 a\0\x01\x02", b"10064x a\0" + bytes(20), b"100644 a"]
)
def test_damaged_trees_are_corruption(raw: bytes) -> None:
    with pytest.raises(CorruptionError, match="damaged"):
        parse_tree(raw, "t", "sha1")


@pytest.mark.parametrize("case", GIT_RULES)
def test_git_fsck_strict_refuses_the_same_trees(tmp_path: Path, case: str) -> None:
    repo = tmp_path / "repo.git"
    run_git("init", "-q", "--bare", repo)
    assert GIT is not None
    write = [GIT, "--git-dir", str(repo), "hash-object", "--literally", "-w"]
    for kind, data in (("blob", b"x\n"), ("tree", b""), ("tree", REFUSED[case][0])):
        subprocess.run(
            [*write, "-t", kind, "--stdin"], input=data, check=True, capture_output=True
        )
    raw = b"tree %d\0%s" % (len(REFUSED[case][0]), REFUSED[case][0])
    tree = hashlib.sha1(raw).hexdigest()
    proc = subprocess.run(
        [GIT, "--git-dir", str(repo), "fsck", "--strict", tree],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert GIT_MESSAGE[case] in proc.stdout + proc.stderr

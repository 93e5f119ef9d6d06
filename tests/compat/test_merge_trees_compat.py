"""The tree merge gives git merge-tree's verdict, conflicted paths and tree.

Seeded, generated (base, ours, theirs) trees, each merged by
``gitversions.merge.trees.merge_trees`` and by ``git merge-tree --write-tree``
(git 2.39). Every case is a few files under a few directories, each path edited
by one of: nothing, a change on one side, the same change on both, text changes
on both (the line generator of test_linemerge_compat), an exec-bit change, a
change to a symlink or back, binary content changed on both, a delete on one
or both sides (modify/delete), adds on one or both sides (add/add), a file
replaced by a directory or a directory by a file (file/directory).

git detects renames and cannot be told not to (``merge.renames`` is not read by
merge-tree); gitversions does not. So added files carry content no deleted file
resembles: a rename is never found and the two rule sets coincide.

Sizes: 300 cases by default, 2,000 with ``--full`` (or
``GITVERSIONS_TREE_MERGE_CASES=N``), all git calls in one shell. Required
(issue 11): the same clean/conflict verdict in >= 99.5 % of cases, the same
conflicted paths, and git's exact tree id for >= 99 % of clean merges. The
figures are printed; the tree ids of conflicted merges (markers, kept sides,
moved files) are compared and printed too.
"""

from __future__ import annotations

import hashlib
import os
import random
import shlex
import subprocess
from pathlib import Path

import pytest
from helpers import GIT
from test_linemerge_compat import report, triple

from gitversions.merge.trees import merge_trees, tree_id

pytestmark = pytest.mark.compat

Flat = dict[str, tuple[int, str]]
Case = tuple[Flat, Flat, Flat]
REG, EXE, LNK = 0o100644, 0o100755, 0o120000
PATHS = ["a", "b", "c.md", "d/x", "d/y", "d/e/z", "s/t", "a~o"]
OPS = [
    "keep", "ours", "theirs", "same", "both", "both", "both", "exec-ours",
    "exec-theirs", "exec-both", "link-ours", "link-theirs", "link-both", "binary",
    "del-ours", "del-theirs", "del-both", "dir-ours", "dir-theirs", "dir-both",
]  # fmt: skip
ADDS = ["add-ours", "add-theirs", "add-same", "add-both", "add-types", "add-exec"]


def case_count(config: pytest.Config) -> int:
    if "GITVERSIONS_TREE_MERGE_CASES" in os.environ:
        return int(os.environ["GITVERSIONS_TREE_MERGE_CASES"])
    return 2000 if config.getoption("--full") else 300


class Blobs:
    """The blob store of the test: SHA-1 ids, as the git repository has."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        blob_id = hashlib.sha1(b"blob %d\0%s" % (len(data), data)).hexdigest()
        self.data[blob_id] = data
        return blob_id


class Generator:
    def __init__(self, rng: random.Random, blobs: Blobs, case: int) -> None:
        self.rng, self.blobs, self.case, self.n = rng, blobs, case, 0

    def unique(self, data: bytes) -> bytes:
        """Content no other file resembles (so git finds no rename)."""
        self.n += 1
        tag = f"{self.case}.{self.n}:".encode()
        return b"".join(tag + line for line in data.splitlines(True)) or tag + b"\n"

    def entry(self, mode: int, data: bytes) -> tuple[int, str]:
        return mode, self.blobs.put(data)

    def link(self) -> tuple[int, str]:
        self.n += 1
        return self.entry(LNK, f"target-{self.case}-{self.n}".encode())

    def edit(self, path: str, op: str, trees: Case) -> None:
        base, ours, theirs = trees
        rng = self.rng
        o, a, b = triple(rng)
        mode = base[path][0] if path in base else REG
        if op in ("ours", "theirs", "same"):
            new = self.entry(mode, a + b"changed\n")
            if op != "theirs":
                ours[path] = new
            if op != "ours":
                theirs[path] = new
        elif op == "both":
            base[path] = self.entry(mode, o)
            ours[path], theirs[path] = self.entry(mode, a), self.entry(mode, b)
        elif op.startswith("exec"):
            flip = EXE if mode == REG else REG
            side, other = (ours, theirs) if op != "exec-theirs" else (theirs, ours)
            side[path] = (flip, side[path][1])
            if op == "exec-both":
                other[path] = self.entry(other[path][0], b + b"more\n")
        elif op.startswith("link"):
            if op in ("link-ours", "link-both"):
                ours[path] = self.link()
            if op in ("link-theirs", "link-both"):
                theirs[path] = self.link() if rng.random() < 0.7 else ours[path]
        elif op == "binary":
            base[path] = self.entry(mode, b"\0base" + o)
            ours[path] = self.entry(mode, b"\0ours" + a)
            theirs[path] = self.entry(mode, b"\0theirs" + b)
        elif op.startswith("del"):
            if op != "del-theirs":
                ours.pop(path)
            if op != "del-ours":
                theirs.pop(path)
            other = theirs if op == "del-ours" else ours
            if op != "del-both" and path in other and rng.random() < 0.6:
                other[path] = self.entry(mode, a + b"edited\n")  # modify/delete
        elif op.startswith("dir"):
            sides = {"dir-ours": [ours], "dir-theirs": [theirs]}.get(op, [ours, theirs])
            for side in sides:
                side.pop(path)
                side[f"{path}/{rng.choice(['f', 'g'])}"] = self.entry(
                    REG, self.unique(a)
                )
            other = theirs if op == "dir-ours" else ours
            if op != "dir-both" and rng.random() < 0.5:
                other[path] = self.entry(mode, b + b"edited\n")

    def add(self, path: str, op: str, trees: Case) -> None:
        _, ours, theirs = trees
        _, a, b = triple(self.rng)
        a, b = self.unique(a), self.unique(b)
        if op == "add-ours":
            ours[path] = self.entry(REG, a)
        elif op == "add-theirs":
            theirs[path] = self.entry(REG, b)
        elif op == "add-same":
            ours[path] = theirs[path] = self.entry(REG, a)
        elif op == "add-both":
            ours[path] = self.entry(REG, a)
            theirs[path] = self.entry(REG, a + b if self.rng.random() < 0.5 else b)
        elif op == "add-types":
            ours[path], theirs[path] = self.entry(REG, a), self.link()
            if self.rng.random() < 0.5:
                ours[path], theirs[path] = theirs[path], ours[path]
        else:
            ours[path], theirs[path] = self.entry(REG, a), self.entry(EXE, a)

    def case_trees(self) -> Case:
        rng = self.rng
        chosen = rng.sample(PATHS, rng.randint(1, 5))
        base: Flat = {}
        for path in chosen:
            blocked = any(
                p.startswith(path + "/") or path.startswith(p + "/") for p in base
            )
            if not blocked:
                o = triple(rng)[0]
                base[path] = self.entry(EXE if rng.random() < 0.15 else REG, o)
        trees = (base, dict(base), dict(base))
        for path in list(base):
            self.edit(path, rng.choice(OPS), trees)
        for _ in range(rng.randint(0, 2)):
            path = rng.choice(PATHS)
            if all(path not in t for t in trees):
                self.add(path, rng.choice(ADDS), trees)
        return trees


def cases(count: int) -> tuple[list[Case], Blobs]:
    rng = random.Random("tree-merge")
    blobs = Blobs()
    return [Generator(rng, blobs, i).case_trees() for i in range(count)], blobs


# -- git, in one process per step ------------------------------------------------


def _commit(ref: str, mark: int, parent: int | None, tree: Flat, blobs: Blobs) -> bytes:
    out = bytearray(
        f"commit refs/heads/{ref}\nmark :{mark}\ncommitter t <t@t> 0 +0000\n"
        f"data 2\nx\n".encode()
    )
    if parent:
        out += f"from :{parent}\n".encode()
    out += b"deleteall\n"
    for path, (mode, blob_id) in sorted(tree.items()):
        data = blobs.data[blob_id]
        out += b"M %o inline %s\ndata %d\n%s\n" % (mode, path.encode(), len(data), data)
    return bytes(out + b"\n")


def git_merge_trees(
    tmp: Path, all_cases: list[Case], blobs: Blobs
) -> list[tuple[int, str, list[str]]]:
    """(exit status, tree id, conflicted paths) of merge-tree for each case."""
    subprocess.run([str(GIT), "init", "-q", "--bare", "repo.git"], cwd=tmp, check=True)
    stream = bytearray()
    for i, (base, ours, theirs) in enumerate(all_cases):
        stream += _commit(f"b{i}", 3 * i + 1, None, base, blobs)
        stream += _commit(f"o{i}", 3 * i + 2, 3 * i + 1, ours, blobs)
        stream += _commit(f"t{i}", 3 * i + 3, 3 * i + 1, theirs, blobs)
    subprocess.run(
        [str(GIT), "--git-dir", "repo.git", "fast-import", "--quiet"],
        cwd=tmp, input=bytes(stream), check=True, capture_output=True,
    )  # fmt: skip
    git = shlex.quote(str(GIT))
    lines = ["export GIT_DIR=repo.git"]
    lines += [
        f"{git} merge-tree --write-tree --name-only -z --no-messages o{i} t{i}"
        f" > {i}.mt; echo $? > {i}.rc"
        for i in range(len(all_cases))
    ]
    (tmp / "run.sh").write_text("\n".join(lines) + "\n")
    subprocess.run(["bash", "run.sh"], cwd=tmp, check=True, capture_output=True)
    results = []
    for i in range(len(all_cases)):
        fields = (tmp / f"{i}.mt").read_bytes().split(b"\0")
        paths = sorted({f.decode() for f in fields[1:] if f})
        results.append((int((tmp / f"{i}.rc").read_text()), fields[0].decode(), paths))
    return results


def test_merge_trees_is_git_merge_tree(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    count = case_count(request.config)
    all_cases, blobs = cases(count)
    expected = git_merge_trees(tmp_path, all_cases, blobs)
    verdict = paths_agree = clean = clean_tree = conflicted = conflicted_tree = 0
    bad: list[str] = []
    for i, ((base, ours, theirs), (status, tree, paths)) in enumerate(
        zip(all_cases, expected, strict=True)
    ):
        result = merge_trees(
            base, ours, theirs, blobs.data.__getitem__, blobs.put,
            ours_label=f"o{i}", theirs_label=f"t{i}",
        )  # fmt: skip
        ours_paths = sorted(
            {c.path for c in result.conflicts if not c.git_only_in_gitversions}
        )
        same_tree = tree_id(result.tree) == tree
        verdict += (not ours_paths) == (status == 0)
        paths_agree += ours_paths == paths
        if status == 0:
            clean, clean_tree = clean + 1, clean_tree + same_tree
        else:
            conflicted, conflicted_tree = conflicted + 1, conflicted_tree + same_tree
        if (ours_paths != paths or not same_tree) and len(bad) < 5:
            bad.append(f"case {i}: git {paths} vs ours {ours_paths}\n {all_cases[i]!r}")
    report(
        capsys,
        f"tree merge vs git merge-tree: {verdict}/{count} same verdict, "
        f"{paths_agree}/{count} same conflicted paths, "
        f"{clean_tree}/{clean} clean merges with git's tree id, "
        f"{conflicted_tree}/{conflicted} conflicted merges with git's tree",
    )
    assert verdict >= 0.995 * count, "\n".join(bad)
    assert paths_agree >= 0.995 * count, "\n".join(bad)
    assert clean_tree >= 0.99 * clean, "\n".join(bad)

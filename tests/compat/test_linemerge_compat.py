"""The line-level merge and diff give git's own output, byte for byte.

Seeded, generated (base, ours, theirs) triples, each merged by
``gitversions.merge.lines.merge_lines`` and by the real ``git merge-file -p`` (with
``-L`` labels; ``--diff3``, ``--zdiff3``, ``--ours``, ``--theirs``, ``--union``).
The triples cover edits in different regions, adjacent and overlapping edits,
insertions at one point, deletions, identical changes, whole-file replacements,
empty files, a last line without newline on any side, CRLF text and repetitive
lines (where the choice between equally short diffs decides the conflicts).

Sizes: 500 triples per style by default, 2,500 with ``--full`` (or
``GITVERSIONS_MERGE_CASES=N``); a fifth of that for zdiff3 and union, a tenth
for merge-ort's settings (histogram diff, zealous level) against
``git merge-tree --write-tree``. All git calls of one style run in one shell
process, so the default run costs a few seconds. Required (issue 11): output
byte-identical in at least 99.5 % of the triples and the same verdict (git's
exit status is its number of conflicts: the counts must agree); the figures are
printed at the end of the run.
"""

from __future__ import annotations

import os
import random
import re
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import GIT

from gitversions.merge.lines import diff_lines, merge_lines, split_lines

pytestmark = pytest.mark.compat

Triple = tuple[bytes, bytes, bytes]

STYLES: dict[str, tuple[list[str], dict[str, str]]] = {
    "merge": ([], {}),
    "diff3": (["--diff3"], {"style": "diff3"}),
    "zdiff3": (["--zdiff3"], {"style": "zdiff3"}),
    "ours": (["--ours"], {"favor": "ours"}),
    "theirs": (["--theirs"], {"favor": "theirs"}),
    "union": (["--union"], {"favor": "union"}),
}
REQUIRED = 0.995

# Line pools: distinct prose, a few repeated lines (with lines that have no
# letter or digit, which git treats specially between conflicts), and a tiny
# alphabet where nearly every line matches many others.
TEXT = [f"line {i}: the {w} value" for i, w in enumerate("abcdefghijklmnopqrst")]
REPETITIVE = ["{", "}", "", "    return x;", "a", "b", "# ---", "a"]
TINY = ["a", "b", "c"]


def case_count(config: pytest.Config) -> int:
    if "GITVERSIONS_MERGE_CASES" in os.environ:
        return int(os.environ["GITVERSIONS_MERGE_CASES"])
    return 2500 if config.getoption("--full") else 500


# -- the generator -------------------------------------------------------------


def _fresh(rng: random.Random, pool: list[str], k: int) -> list[str]:
    return [rng.choice([*pool, "X", "Y", f"new {rng.randrange(50)}"]) for _ in range(k)]


def _edit(
    rng: random.Random, lines: list[str], pool: list[str], lo: int, hi: int
) -> None:
    """One edit inside lines[lo:hi]: replace, insert or delete a few lines."""
    at = rng.randint(lo, max(lo, hi))
    size = rng.randint(0, min(3, max(0, hi - at)))
    kind = rng.random()
    if kind < 0.3:
        lines[at : at + size] = []
    elif kind < 0.6:
        lines[at:at] = _fresh(rng, pool, rng.randint(1, 3))
    else:
        lines[at : at + max(size, 1)] = _fresh(rng, pool, rng.randint(1, 3))


def _sides(
    rng: random.Random, base: list[str], pool: list[str]
) -> tuple[list[str], list[str]]:
    """Ours and theirs from the base, by one of the scenarios of the docstring."""
    ours, theirs = list(base), list(base)
    n = len(base)
    scenario = rng.choice(
        ["regions", "adjacent", "overlap", "same-point", "delete", "replace",
         "identical", "random", "random", "one-side"]
    )  # fmt: skip
    if scenario == "regions":
        _edit(rng, theirs, pool, n // 2 + 1, n)
        _edit(rng, ours, pool, 0, n // 2 - 1)
    elif scenario in ("adjacent", "overlap"):
        cut = rng.randint(0, n)
        reach = 0 if scenario == "adjacent" else rng.randint(1, 3)
        theirs[cut : cut + rng.randint(0, 3)] = _fresh(rng, pool, rng.randint(0, 3))
        ours[max(0, cut - 3) : cut + reach] = _fresh(rng, pool, rng.randint(0, 3))
    elif scenario == "same-point":
        cut = rng.randint(0, n)
        ours[cut:cut] = _fresh(rng, pool, rng.randint(1, 3))
        theirs[cut:cut] = _fresh(rng, pool, rng.randint(1, 3))
    elif scenario == "delete":
        for side in (ours, theirs):
            at = rng.randint(0, n)
            side[at : at + rng.randint(1, 4)] = []
    elif scenario == "replace":
        ours[:] = _fresh(rng, pool, rng.randint(0, 8))
        if rng.random() < 0.5:
            theirs[:] = _fresh(rng, pool, rng.randint(0, 8))
        else:
            _edit(rng, theirs, pool, 0, n)
    elif scenario == "identical":
        _edit(rng, ours, pool, 0, n)
        theirs[:] = ours
        _edit(rng, theirs, pool, 0, len(theirs)) if rng.random() < 0.5 else None
    elif scenario == "one-side":
        _edit(rng, rng.choice([ours, theirs]), pool, 0, n)
    else:
        for side in (ours, theirs):
            for _ in range(rng.randint(0, 4)):
                _edit(rng, side, pool, 0, len(side))
    return ours, theirs


def _encode(rng: random.Random, lines: list[str], eol: str) -> bytes:
    text = "".join(line + eol for line in lines)
    if lines and rng.random() < 0.15:  # a last line without newline
        text = text[: -len(eol)]
    return text.encode()


def triple(rng: random.Random) -> Triple:
    """One seeded (base, ours, theirs) case."""
    pool = rng.choice([TEXT, TEXT, REPETITIVE, TINY])
    size = rng.choice([0, 1, 2, 5, 10, 20, 40])
    if rng.random() < 0.01:
        size = 400  # long enough for xdiff's frequent-line pruning to matter
    base = [rng.choice(pool) for _ in range(size)]
    ours, theirs = _sides(rng, base, pool)
    crlf = rng.random() < 0.15
    eols = ["\r\n" if crlf else "\n"] * 3
    if crlf and rng.random() < 0.3:
        eols[rng.randrange(3)] = "\n"  # one side converted
    return (
        _encode(rng, base, eols[0]),
        _encode(rng, ours, eols[1]),
        _encode(rng, theirs, eols[2]),
    )


# -- git, in one shell per batch -----------------------------------------------


def git_merge_files(
    tmp: Path, triples: list[Triple], options: list[str]
) -> list[tuple[bytes, int]]:
    """``git merge-file -p`` of every triple: (output, exit status) each."""
    lines = ["set +e"]
    opts = " ".join(shlex.quote(o) for o in options)
    for i, (base, ours, theirs) in enumerate(triples):
        for suffix, data in (("b", base), ("o", ours), ("t", theirs)):
            (tmp / f"{i}.{suffix}").write_bytes(data)
        lines.append(
            f"{shlex.quote(str(GIT))} merge-file -p {opts} -L OURS -L BASE -L THEIRS "
            f"{i}.o {i}.b {i}.t > {i}.out; echo $? > {i}.rc"
        )
    (tmp / "run.sh").write_text("\n".join(lines) + "\n")
    subprocess.run(["bash", "run.sh"], cwd=tmp, check=True, capture_output=True)
    return [
        ((tmp / f"{i}.out").read_bytes(), int((tmp / f"{i}.rc").read_text()))
        for i in range(len(triples))
    ]


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """Print a figure past pytest's capture (the issue asks for the figures)."""
    with capsys.disabled():
        print(f"\n{text}")


@pytest.mark.parametrize("style", list(STYLES))
def test_merge_lines_is_git_merge_file(
    style: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    options, kwargs = STYLES[style]
    count = case_count(request.config)
    if style in ("zdiff3", "union"):
        count //= 5  # the rarer options: fewer cases
    rng = random.Random(f"linemerge-{style}")
    triples = [triple(rng) for _ in range(count)]
    expected = git_merge_files(tmp_path, triples, options)
    same_bytes = same_verdict = 0
    first_bad: list[str] = []
    for (base, ours, theirs), (output, status) in zip(triples, expected, strict=True):
        result = merge_lines(
            base, ours, theirs, ours_label="OURS", theirs_label="THEIRS",
            base_label="BASE", **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
        same_verdict += len(result.conflicts) == status
        same_bytes += result.content == output
        if result.content != output and len(first_bad) < 3:
            first_bad.append(
                f"{(base, ours, theirs)!r}\n git: {output!r}\n ours: {result.content!r}"
            )
    report(
        capsys,
        f"linemerge vs git merge-file {' '.join(options) or '(default)'}: "
        f"{same_bytes}/{count} byte-identical, {same_verdict}/{count} same verdict",
    )
    assert same_verdict == count, "\n".join(first_bad)
    assert same_bytes >= REQUIRED * count, "\n".join(first_bad)


# -- the diff alone, against git diff -U0 --------------------------------------

HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


def git_hunks(
    git_diff: Callable[..., bytes], a: bytes, b: bytes, algorithm: str
) -> list[tuple[int, int, int, int]]:
    out = git_diff(a, b, algorithm)
    hunks = []
    for match in HUNK.finditer(out):
        s1, c1, s2, c2 = (None if g is None else int(g) for g in match.groups())
        n1 = 1 if c1 is None else c1
        n2 = 1 if c2 is None else c2
        assert s1 is not None and s2 is not None
        hunks.append((s1 - (1 if n1 else 0), n1, s2 - (1 if n2 else 0), n2))
    return hunks


@pytest.mark.parametrize("algorithm", ["myers", "histogram"])
def test_diff_lines_is_git_diff(algorithm: str, tmp_path: Path) -> None:
    """Hunks of ``git diff --no-index -U0 --no-indent-heuristic``, same places."""

    def git_diff(a: bytes, b: bytes, alg: str) -> bytes:
        (tmp_path / "a").write_bytes(a)
        (tmp_path / "b").write_bytes(b)
        return subprocess.run(
            [str(GIT), "diff", "--no-index", "-U0", "--no-indent-heuristic",
             f"--diff-algorithm={alg}", "a", "b"],
            cwd=tmp_path, capture_output=True, check=False,
        ).stdout  # fmt: skip

    rng = random.Random(f"diff-{algorithm}")
    for size in [0, 3, 30, 30, 30, 300, 300, 3000]:
        pool = [f"{i}" for i in range(rng.choice([2, 3, 10, 1000]))]
        a = [rng.choice(pool) + "\n" for _ in range(size)]
        b = list(a)
        for _ in range(rng.randint(0, size // 4 + 1)):
            at = rng.randint(0, len(b))
            b[at : at + rng.randint(0, 3)] = [
                rng.choice([*pool, "x"]) + "\n"
            ] * rng.randint(0, 3)
        a_bytes, b_bytes = "".join(a).encode(), "".join(b).encode()
        ours = diff_lines(
            split_lines(a_bytes), split_lines(b_bytes), algorithm=algorithm
        )  # type: ignore[arg-type]
        got = [(h.a_start, h.a_count, h.b_start, h.b_count) for h in ours]
        assert got == git_hunks(git_diff, a_bytes, b_bytes, algorithm), (a, b)


# -- merge-ort's settings, against git merge-tree ----------------------------------


def _fast_import(tmp: Path, triples: list[Triple]) -> list[tuple[str, str]]:
    """Write each triple as three commits of one file ``f`` (base, then ours and
    theirs on it) with one ``git fast-import``; return (ours, theirs) ids."""
    stream = bytearray()
    for i, sides in enumerate(triples):
        for k, data in enumerate(sides):
            mark = 10 * i + k + 1  # blobs 1-3, commits 6-8 (mark 0 is invalid)
            parent = f"from :{10 * i + 6}\n" if k else ""
            stream += b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data)
            stream += (
                f"commit refs/heads/c{mark}\nmark :{mark + 5}\n"
                f"committer t <t@t> 0 +0000\ndata 2\nx\n{parent}M 100644 :{mark} f\n\n"
            ).encode()
    subprocess.run(
        [str(GIT), "--git-dir", "repo.git", "fast-import", "--quiet",
         "--export-marks=marks"],
        cwd=tmp, input=bytes(stream), check=True, capture_output=True,
    )  # fmt: skip
    marks = dict(
        line.split() for line in (tmp / "marks").read_text().splitlines() if line
    )
    return [
        (marks[f":{10 * i + 7}"], marks[f":{10 * i + 8}"]) for i in range(len(triples))
    ]


def git_merge_trees(
    tmp: Path, triples: list[Triple]
) -> list[tuple[bytes, int, str, str]]:
    """Merge each triple with ``git merge-tree --write-tree``, in one shell.

    Returns, per triple: the merged file, the exit status (1: conflicts) and
    the two commit ids (the conflict labels).
    """
    git = shlex.quote(str(GIT))
    subprocess.run([str(GIT), "init", "-q", "--bare", "repo.git"], cwd=tmp, check=True)
    commits = _fast_import(tmp, triples)
    lines = ["export GIT_DIR=repo.git"]
    for i, (ours_id, theirs_id) in enumerate(commits):
        lines.append(
            f"{git} merge-tree --write-tree {ours_id} {theirs_id} > {i}.mt;"
            f" echo $? > {i}.rc; {git} cat-file blob $(head -n 1 {i}.mt):f > {i}.out"
        )
    (tmp / "run.sh").write_text("\n".join(lines) + "\n")
    subprocess.run(["bash", "run.sh"], cwd=tmp, check=True, capture_output=True)
    return [
        ((tmp / f"{i}.out").read_bytes(), int((tmp / f"{i}.rc").read_text()), *ids)
        for i, ids in enumerate(commits)
    ]


def test_histogram_zealous_is_merge_ort(
    tmp_path: Path, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """merge-ort (``git merge``, ``git merge-tree``): histogram, level zealous."""
    rng = random.Random("linemerge-merge-tree")
    count = case_count(request.config) // 5
    triples = []
    while len(triples) < count:
        base, ours, theirs = triple(rng)
        if len({base, ours, theirs}) == 3:  # else merge-ort needs no content merge
            triples.append((base, ours, theirs))
    same = 0
    expected = git_merge_trees(tmp_path, triples)
    for (base, ours, theirs), (blob, status, ours_id, theirs_id) in zip(
        triples, expected, strict=True
    ):
        result = merge_lines(
            base, ours, theirs, ours_label=ours_id, theirs_label=theirs_id,
            algorithm="histogram", level="zealous",
        )  # fmt: skip
        assert result.clean == (status == 0), (base, ours, theirs)
        same += result.content == blob
    report(capsys, f"linemerge (histogram, zealous) vs git merge-tree: {same}/{count}")
    assert same >= REQUIRED * count

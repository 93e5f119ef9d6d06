"""The commit-graph walks (gitversions.model.graph), judged by the real git CLI.

Each history is built with ``git fast-import`` (every commit named, with the
parents it is given), then every pair of commits is put to
``git merge-base --all`` and ``git merge-base --is-ancestor`` and to
:mod:`gitversions.model.graph`, which must agree exactly.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from helpers import GIT, run_git, write_tree
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitversions.git.history import History
from gitversions.model.graph import ancestors, is_ancestor, merge_bases
from gitversions.store import Store

#: A history: each commit's name and its parents' names, parents first.
Spec = list[tuple[str, tuple[str, ...]]]


def build(repo: Path, spec: Spec) -> dict[str, str]:
    """Create the commits of ``spec`` in a new bare repository; name -> id."""
    run_git("init", "-q", "--bare", repo)
    lines: list[str] = []
    for number, (name, parents) in enumerate(spec, 1):
        message = name.encode()
        lines += [
            f"commit refs/heads/{name}",
            f"mark :{number}",
            f"committer T <t@example.com> {1_700_000_000 + number} +0000",
            f"data {len(message)}",
            name,
        ]
        marks = {n: i for i, (n, _p) in enumerate(spec, 1)}
        if parents:
            lines.append(f"from :{marks[parents[0]]}")
            lines += [f"merge :{marks[p]}" for p in parents[1:]]
        lines.append("")
    marks_file = repo / "marks"
    assert GIT is not None
    subprocess.run(
        [
            GIT,
            "--git-dir",
            str(repo),
            "fast-import",
            "--quiet",
            f"--export-marks={marks_file}",
        ],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
    )
    ids = dict(line.split() for line in marks_file.read_text().splitlines())
    return {name: ids[f":{i}"] for i, (name, _p) in enumerate(spec, 1)}


def git_bases(repo: Path, a: str, b: str) -> set[str]:
    out = run_git("--git-dir", repo, "merge-base", "--all", a, b, check=False)
    return set(out.split())


def git_is_ancestor(repo: Path, a: str, b: str) -> bool:
    assert GIT is not None
    proc = subprocess.run(
        [GIT, "--git-dir", str(repo), "merge-base", "--is-ancestor", a, b],
        check=False,
    )
    assert proc.returncode in (0, 1)
    return proc.returncode == 0


def compare(
    repo: Path, spec: Spec, pairs: Sequence[tuple[str, str]] | None = None
) -> int:
    """Assert graph's answers equal git's for ``pairs`` (default: all); count them."""
    ids = build(repo, spec)
    table = {ids[name]: tuple(ids[p] for p in parents) for name, parents in spec}
    generation: dict[str, int] = {}
    for name, parents in spec:  # parents come first in a spec
        generation[ids[name]] = 1 + max(
            (generation[ids[p]] for p in parents), default=0
        )
    wanted = pairs or list(itertools.product([n for n, _ in spec], repeat=2))
    for x, y in wanted:
        a, b = ids[x], ids[y]
        found = merge_bases(table.__getitem__, a, b)
        assert len(found) == len(set(found)), (x, y)
        assert set(found) == git_bases(repo, a, b), (x, y)
        expected = git_is_ancestor(repo, a, b)
        assert is_ancestor(table.__getitem__, a, b) is expected, (x, y)
        assert (
            is_ancestor(table.__getitem__, a, b, generation=generation.__getitem__)
            is expected
        ), (x, y)
    return len(wanted)


def chain(prefix: str, start: str | None, length: int) -> Spec:
    spec: Spec = []
    previous = start
    for i in range(length):
        name = f"{prefix}{i}"
        spec.append((name, (previous,) if previous else ()))
        previous = name
    return spec


HISTORIES: dict[str, Spec] = {
    "linear": chain("c", None, 5),
    "fork": [
        ("r", ()),
        ("x1", ("r",)),
        ("x2", ("x1",)),
        ("y1", ("r",)),
        ("m", ("x2", "y1")),
    ],
    "criss-cross": [
        ("a", ()),
        ("b", ("a",)),
        ("c", ("a",)),
        ("d", ("b", "c")),
        ("e", ("c", "b")),
        ("f", ("d",)),
        ("g", ("e",)),
    ],
    "double-criss-cross": [
        ("a", ()),
        ("b", ("a",)),
        ("c", ("a",)),
        ("d", ("b", "c")),
        ("e", ("c", "b")),
        ("f", ("d", "e")),
        ("g", ("e", "d")),
        ("h", ("f",)),
    ],
    "three-bases": [
        ("r", ()),
        ("p", ("r",)),
        ("q", ("r",)),
        ("s", ("r",)),
        ("x", ("p", "q", "s")),
        ("y", ("s", "q", "p")),
    ],
    "octopus": [
        ("r", ()),
        ("a", ("r",)),
        ("b", ("r",)),
        ("c", ("r",)),
        ("m", ("a", "b", "c")),
        ("n", ("a", "b")),
        ("o", ("c",)),
    ],
    "disjoint-roots": [
        ("r1", ()),
        ("r2", ()),
        ("x", ("r1",)),
        ("y", ("r2",)),
        ("m", ("x", "y")),
        ("z", ("y",)),
    ],
    "uneven-branches": [
        *chain("t", None, 3),
        *chain("long", "t2", 12),
        ("short", ("t1",)),
        ("merge", ("long11", "short")),
    ],
}


@pytest.mark.parametrize("name", HISTORIES)
def test_merge_bases_and_ancestry_match_git(tmp_path: Path, name: str) -> None:
    assert compare(tmp_path / "repo.git", HISTORIES[name]) >= 25


def test_deep_chains_match_git(tmp_path: Path) -> None:
    spec = [
        *chain("c", None, 400),
        *chain("side", "c150", 200),
        ("tip", ("c399", "side199")),
        *chain("other", None, 3),
    ]
    pairs = [
        ("c399", "side199"),
        ("tip", "side199"),
        ("c399", "c0"),
        ("c0", "c399"),
        ("side10", "c151"),
        ("tip", "other2"),
    ]
    assert compare(tmp_path / "repo.git", spec, pairs) == len(pairs)


@st.composite
def dags(draw: st.DrawFn) -> Spec:
    """A random history: each commit has 0 to 3 distinct earlier parents."""
    size = draw(st.integers(2, 14))
    spec: Spec = [("n0", ())]
    for i in range(1, size):
        chosen = draw(
            st.lists(st.integers(0, i - 1), min_size=0, max_size=3, unique=True)
        )
        spec.append((f"n{i}", tuple(f"n{p}" for p in chosen)))
    return spec


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(spec=dags(), data=st.data())
def test_random_histories_match_git(
    tmp_path_factory: pytest.TempPathFactory, spec: Spec, data: st.DataObject
) -> None:
    names = [n for n, _ in spec]
    pairs = data.draw(
        st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=6)
    )
    repo = tmp_path_factory.mktemp("dag") / "repo.git"
    compare(repo, spec, [*pairs, (names[-1], names[-2])])


class Counted:
    """A linear history of ``size`` integers that counts its parent reads."""

    def __init__(self, size: int, fork: int | None = None) -> None:
        self.size, self.fork, self.reads = size, fork, 0

    def __call__(self, commit: int) -> tuple[int, ...]:
        self.reads += 1
        if commit == -1 and self.fork is not None:
            return (self.fork,)  # a one-commit side branch
        return (commit - 1,) if commit > 0 else ()


def test_walks_are_linear_on_a_long_history() -> None:
    """10,000 commits in a line: each walk reads each commit a few times at most."""
    parents = Counted(10_000)
    assert merge_bases(parents, 9_999, 5_000) == [5_000]
    assert parents.reads <= 3 * 10_000
    parents = Counted(10_000, fork=4_000)
    assert merge_bases(parents, 9_999, -1) == [4_000]
    assert parents.reads <= 3 * 10_000
    parents = Counted(10_000)
    assert len(ancestors(parents, [9_999])) == 10_000
    assert parents.reads == 10_000
    parents = Counted(10_000)
    assert is_ancestor(parents, 0, 9_999)
    assert parents.reads == 9_999


def test_is_ancestor_stops_at_older_generations() -> None:
    parents = Counted(10_000)
    assert not is_ancestor(parents, 9_000, 5_000, generation=lambda c: c + 1)
    assert parents.reads == 0  # 5,000 is older than 9,000: nothing to walk
    assert is_ancestor(parents, 4_990, 5_000, generation=lambda c: c + 1)
    assert parents.reads == 10


def test_ancestors_stop_where_told() -> None:
    parents = Counted(100)
    assert sorted(ancestors(parents, [99], stop={90, 50})) == list(range(91, 100))
    assert ancestors(parents, [90], stop={90}) == []


def test_history_merge_bases_of_a_criss_cross(tmp_path: Path) -> None:
    """The History method the three-way merge uses, on a real history."""
    store = Store(tmp_path / "store")
    src = write_tree(tmp_path / "src", {"SKILL.md": "one\n"})
    store.snapshot("skill", src, message="v1")
    path = store.artifact("skill").history.path
    store.close()
    history = History.open(path)
    try:
        base = history.head()
        assert base is not None
        tree = history.version(base).tree

        def commit(message: str, *parents: str) -> str:
            args = [a for p in parents for a in ("-p", p)]
            return run_git(
                "--git-dir", path, "commit-tree", tree, "-m", message, *args
            ).strip()

        b, c = commit("b", base), commit("c", base)
        d, e = commit("d", b, c), commit("e", c, b)
        assert sorted(history.merge_bases(d, e)) == sorted([b, c])
        assert history.merge_bases(d, b) == [b]
        assert history.is_ancestor(base, e)
        assert not history.is_ancestor(d, e)
        assert sorted(git_bases(path, d, e)) == sorted([b, c])
    finally:
        history.close()

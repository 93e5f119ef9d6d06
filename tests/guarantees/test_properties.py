"""Property tests: round trips, the content hash against git, id order, metadata.

Random trees (Unicode names in NFC and NFD, executable bits, relative symlinks,
empty and binary files, empty directories) must come back exactly from
snapshot -> export and snapshot -> restore, in SHA-1 and SHA-256 stores; the
content hash must equal what ``git write-tree`` prints in a SHA-256 repository;
version ids must be totally ordered, by number first; and ``.version.toml`` must
survive render -> parse -> render unchanged (and validate clean).

Example counts come from the hypothesis profile the conftest loads: 25 per test
by default, 300 with ``--full``.
"""

from __future__ import annotations

import calendar
import itertools
import os
import stat
import subprocess
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import crash_harness as harness
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gitversions.formats.metadata import (
    render_version_toml,
    validate_version_toml,
)
from gitversions.git.history import Changes, Version
from gitversions.model.ids import VersionId, parse_ref
from gitversions.model.paths import check_component, check_relative_path, name_key
from gitversions.store import Store

pytestmark = pytest.mark.property

Count = Callable[[str], None]

# -- random trees --------------------------------------------------------------------


@dataclass(frozen=True)
class File:
    data: bytes
    perm: int  # permission bits on disk; git sees only the owner's x bit


@dataclass(frozen=True)
class Link:
    target: str


class EmptyDir:
    """A directory with nothing in it (absent from every version)."""


Node = File | Link | EmptyDir | dict  # dict: name -> Node

# Precomposed and decomposed spellings, recorded byte for byte (never
# normalized); two of one name in a directory are twins (see _distinct).
UNICODE_NAMES = ["é", "e\u0301", "Å", "A\u030a", "ñ", "n\u0303", "ﬁ", "ß", "Ω", "日本"]

name_text = st.text(
    st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="/\\\0",
    ),
    min_size=1,
    max_size=10,
)
names = st.one_of(name_text, st.sampled_from(UNICODE_NAMES)).filter(
    lambda n: check_component(n.encode()) is None and len(n.encode()) <= 200
)
files = st.builds(
    File,
    st.one_of(
        st.just(b""),
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda t: t.encode()),
    ),
    st.sampled_from([0o644, 0o600, 0o444, 0o755, 0o700, 0o744, 0o711, 0o775]),
)
links = st.builds(
    Link,
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
        min_size=1,
        max_size=40,
    ).filter(lambda t: not t.startswith("/")),
)
leaves = st.one_of(files, files, links, st.just(EmptyDir()))


def _distinct(tree: dict[str, Node]) -> bool:
    """Twins (one name on macOS or Windows) are refused by snapshot: avoid them."""
    return len({name_key(k.encode()) for k in tree}) == len(tree)


trees = st.recursive(
    leaves,
    lambda children: st.dictionaries(names, children, max_size=4).filter(_distinct),
    max_leaves=14,
)
roots = (
    st.dictionaries(names, trees, min_size=1, max_size=5)
    .filter(_distinct)
    .filter(lambda t: ".version.toml" not in t)
)

Expected = dict[str, tuple[str, bytes]]


def build(base: Path, tree: dict[str, Node]) -> Expected:
    """Write a tree to disk; return what a version of it must hold."""
    expected: Expected = {}

    def walk(path: Path, node: Node, rel: str) -> None:
        if isinstance(node, dict):
            path.mkdir()
            for name, child in node.items():
                walk(path / name, child, f"{rel}/{name}" if rel else name)
        elif isinstance(node, File):
            path.write_bytes(node.data)
            path.chmod(node.perm)
            kind = "exec" if node.perm & stat.S_IXUSR else "file"
            expected[rel] = (kind, node.data)
        elif isinstance(node, Link):
            os.symlink(node.target, path)
            expected[rel] = ("link", node.target.encode())
        else:
            path.mkdir()

    base.mkdir(parents=True)
    for name, child in tree.items():
        walk(base / name, child, name)
    return expected


def found(base: Path, skip_top: tuple[str, ...] = ()) -> Expected:
    """What a directory holds, as git would see it."""
    result: Expected = {}
    for root, dirs, filenames in os.walk(base):
        here = Path(root)
        for name in filenames + [d for d in dirs if (here / d).is_symlink()]:
            path = here / name
            rel = path.relative_to(base).as_posix()
            if rel in skip_top:
                continue
            st_ = path.lstat()
            if stat.S_ISLNK(st_.st_mode):
                result[rel] = ("link", os.fsencode(os.readlink(path)))
            else:
                kind = "exec" if st_.st_mode & stat.S_IXUSR else "file"
                result[rel] = (kind, path.read_bytes())
    return result


def git_write_tree_sha256(src: Path, scratch: Path) -> str:
    """What ``git add --all --force && git write-tree`` prints (SHA-256 repo)."""
    gitdir = scratch / "oracle.git"
    env = harness.git_env()

    def git(*args: str) -> str:
        proc = subprocess.run(
            ["git", "--git-dir", str(gitdir), "--work-tree", str(src), *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    subprocess.run(
        ["git", "init", "-q", "--bare", "--object-format=sha256", str(gitdir)],
        check=True,
        env=env,
    )
    # Highest-precedence attributes: no content filter may change a byte.
    (gitdir / "info").mkdir(exist_ok=True)
    (gitdir / "info" / "attributes").write_text(
        "* -text !eol -ident -filter !working-tree-encoding\n"
    )
    git("add", "--all", "--force", ".")
    return git("write-tree")


@given(tree=roots, object_format=st.sampled_from(["sha1", "sha256"]))
def test_snapshot_export_and_restore_give_back_exactly_the_tree(
    tree: dict[str, Node], object_format: str, count_example: Count
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        src = base / "src"
        expected = build(src, tree)
        assume(expected)  # a tree of empty directories has nothing to record
        root = base / "store"
        root.mkdir()
        (root / "gitversions.toml").write_text(f'object_format = "{object_format}"\n')
        store = Store(root)
        try:
            version = store.snapshot("prop", src).version
            artifact = store.artifact("prop")
            artifact.export()
            exported = artifact.versions_dir / str(version.id)
            assert found(exported, (".version.toml",)) == expected
            dest = base / "restored" / "prop"
            artifact.restore("latest", dest)
            assert found(dest) == expected
            # and the restored copy is recognised as that very version
            assert store.snapshot("prop", dest).created is False
        finally:
            store.close()
    count_example("property examples: round trip")


@given(tree=roots)
def test_the_content_hash_is_what_git_write_tree_prints(
    tree: dict[str, Node], count_example: Count
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        src = base / "src"
        expected = build(src, tree)
        assume(expected)
        root = base / "store"
        store = Store(root)
        try:
            version = store.snapshot("prop", src).version
        finally:
            store.close()
        assert version.hash == git_write_tree_sha256(src, base)
    count_example("property examples: hash vs git write-tree")


# -- version ids ---------------------------------------------------------------------

hex7 = st.text("0123456789abcdef", min_size=7, max_size=7)
version_ids = st.builds(VersionId, st.integers(1, 10**9), hex7)


@given(ids=st.lists(version_ids, min_size=1, max_size=30))
def test_version_id_order_is_total_and_agrees_with_numbers(
    ids: list[VersionId], count_example: Count
) -> None:
    ordered = sorted(ids)
    for a, b in itertools.pairwise(ordered):
        assert a <= b
        assert (a.number, a.short_hash) <= (b.number, b.short_hash)
        assert a.number <= b.number  # v10 after v9: numeric, not textual
    for a in ids:
        for b in ids:
            assert sum((a < b, a == b, b < a)) == 1  # total and antisymmetric
            if a.number < b.number:
                assert a < b
    for a in ids:
        assert VersionId.parse(str(a)) == a
        assert parse_ref(str(a)).id == a  # type: ignore[union-attr]
    count_example("property examples: id order")


@given(
    items=st.lists(
        st.tuples(
            version_ids,
            st.integers(0, 2**33),
            st.text("0123456789abcdef", min_size=64, max_size=64),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_versions_sort_by_number_then_time_then_hash(
    items: list[tuple[VersionId, int, str]], count_example: Count
) -> None:
    versions = [
        Version(vid, h, "0" * 40, "0" * 40, t, "local", "", (), ())
        for vid, t, h in items
    ]
    ordered = sorted(versions, key=lambda v: v.sort_key)
    for a, b in itertools.pairwise(ordered):
        assert (a.number, a.time, a.hash) <= (b.number, b.time, b.hash)
    count_example("property examples: version order")


# -- .version.toml -------------------------------------------------------------------

path_parts = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\0"),
    min_size=1,
    max_size=8,
).filter(lambda p: check_component(p.encode()) is None)
rel_paths = st.lists(path_parts, min_size=1, max_size=4).map("/".join)
single_line = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\n\r"),
    min_size=1,
    max_size=40,
).filter(str.strip)


@st.composite
def versions_with_changes(draw: st.DrawFn) -> tuple[Version, Changes]:
    number = draw(st.integers(1, 10**6))
    content = draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    commit = draw(
        st.one_of(
            st.text("0123456789abcdef", min_size=40, max_size=40),
            st.text("0123456789abcdef", min_size=64, max_size=64),
        )
    )
    parents = tuple(
        draw(
            st.lists(
                st.builds(VersionId, st.integers(1, max(1, number - 1)), hex7),
                max_size=3 if number > 1 else 0,
            )
        )
    )
    paths = sorted(set(draw(st.lists(rel_paths, max_size=8))))
    groups: dict[str, list[str]] = {"added": [], "modified": [], "deleted": []}
    for path in paths:
        groups[draw(st.sampled_from(sorted(groups)))].append(path)
    version = Version(
        id=VersionId.for_hash(number, content),
        hash=content,
        commit=commit,
        tree="0" * len(commit),
        time=draw(st.integers(0, 253402300799)),
        source=draw(single_line),
        message=draw(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)),
        parents=tuple("0" * len(commit) for _ in parents),
        parent_versions=parents,
    )
    changes = Changes(
        tuple(groups["added"]), tuple(groups["modified"]), tuple(groups["deleted"])
    )
    return version, changes


def version_from(data: dict) -> tuple[Version, Changes]:  # type: ignore[type-arg]
    """Rebuild the value types from a parsed ``.version.toml``."""
    v, c = data["version"], data["changes"]
    when = calendar.timegm(
        datetime.strptime(v["timestamp"], "%Y-%m-%dT%H:%M:%SZ").timetuple()
    )
    version = Version(
        id=VersionId.parse(v["id"]),
        hash=v["hash"],
        commit=v["commit"],
        tree="",
        time=when,
        source=v["source"],
        message=v["message"],
        parents=(),
        parent_versions=tuple(VersionId.parse(p) for p in v["parent_versions"]),
    )
    return version, Changes(
        tuple(c["added"]), tuple(c["modified"]), tuple(c["deleted"])
    )


@given(pair=versions_with_changes())
def test_version_toml_render_parse_render_is_identical(
    pair: tuple[Version, Changes], count_example: Count
) -> None:
    version, changes = pair
    text = render_version_toml(version, changes)
    data = tomllib.loads(text)
    assert data["version"]["message"] == version.message
    assert data["version"]["source"] == version.source
    again = render_version_toml(*version_from(data))
    assert again == text
    assert validate_version_toml(text) == []
    for path in changes.files_changed:
        assert check_relative_path(path) is None
    count_example("property examples: .version.toml round trip")

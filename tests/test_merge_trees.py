"""The tree merge, rule by rule (gitversions/merge/trees.py, SPEC §7).

Each case is one rule of merge-ort as git 2.39 applies it without renames; the
differential proof against git is tests/compat/test_merge_trees_compat.py.
"""

from __future__ import annotations

import hashlib

import pytest

from gitversions.merge.trees import TreeMergeResult, build_trees, merge_trees, tree_id

REG, EXE, LNK = 0o100644, 0o100755, 0o120000
STORE: dict[str, bytes] = {}


def blob(data: bytes) -> str:
    blob_id = hashlib.sha1(b"blob %d\0%s" % (len(data), data)).hexdigest()
    STORE[blob_id] = data
    return blob_id


def f(data: bytes, mode: int = REG) -> tuple[int, str]:
    return mode, blob(data)


def merge(
    base: dict[str, tuple[int, str]],
    ours: dict[str, tuple[int, str]],
    theirs: dict[str, tuple[int, str]],
) -> TreeMergeResult:
    return merge_trees(
        base, ours, theirs, STORE.__getitem__, blob, ours_label="O", theirs_label="T"
    )


def kinds(result: TreeMergeResult) -> list[tuple[str, str]]:
    return [(c.path, c.kind) for c in result.conflicts]


TEXT = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n"


def test_one_sided_changes_are_taken() -> None:
    base = {"a": f(b"a\n"), "b": f(b"b\n"), "c": f(b"c\n"), "l": f(b"x", LNK)}
    ours = {"a": f(b"A\n"), "b": f(b"b\n", EXE), "l": f(b"x", LNK), "n": f(b"n\n")}
    theirs = {**base, "d/e": f(b"e\n")}
    theirs["l"] = f(b"y", LNK)
    result = merge(base, ours, theirs)
    assert result.clean
    assert result.tree == {
        "a": f(b"A\n"), "b": f(b"b\n", EXE), "d/e": f(b"e\n"),
        "l": f(b"y", LNK), "n": f(b"n\n"),
    }  # fmt: skip
    statuses = {r.path: r.status for r in result.files}
    assert statuses == {
        "a": "ours", "b": "ours", "c": "ours", "d/e": "theirs", "l": "theirs",
        "n": "ours",
    }  # fmt: skip


def test_identical_changes_are_taken_once() -> None:
    base = {"a": f(b"a\n")}
    same = {"a": f(b"A\n"), "n": f(b"n\n")}
    result = merge(base, same, dict(same))
    assert result.clean and result.tree == same
    assert [r.as_json() for r in result.files] == [
        {"path": "a", "status": "both", "conflict": None},
        {"path": "n", "status": "both", "conflict": None},
    ]


def test_text_changed_on_both_sides_merges_line_by_line() -> None:
    result = merge(
        {"t": f(TEXT)},
        {"t": f(TEXT.replace(b"2\n", b"two\n"))},
        {"t": f(TEXT.replace(b"8\n", b"eight\n"))},
    )
    merged = TEXT.replace(b"2\n", b"two\n").replace(b"8\n", b"eight\n")
    assert result.clean and result.tree == {"t": f(merged)}
    assert result.blobs == {blob(merged): merged}
    assert result.files[0].status == "merged"


def test_overlapping_text_changes_conflict_with_git_markers() -> None:
    result = merge(
        {"t": f(TEXT)},
        {"t": f(TEXT.replace(b"5\n", b"ours\n"))},
        {"t": f(TEXT.replace(b"5\n", b"theirs\n"))},
    )
    want = TEXT.replace(b"5\n", b"<<<<<<< O\nours\n=======\ntheirs\n>>>>>>> T\n")
    assert kinds(result) == [("t", "content")]
    assert result.tree["t"] == f(want)
    assert result.conflicts[0].label == "CONFLICT (content)"
    assert result.files[0].as_json() == {
        "path": "t", "status": "conflict", "conflict": "content",
    }  # fmt: skip


def test_exec_bit_on_one_side_and_content_on_the_other_merge() -> None:
    result = merge({"s": f(TEXT)}, {"s": f(TEXT, EXE)}, {"s": f(TEXT + b"10\n")})
    assert result.clean and result.tree == {"s": f(TEXT + b"10\n", EXE)}


def test_exec_bit_added_differently_on_both_sides_conflicts() -> None:
    result = merge({}, {"s": f(TEXT, EXE)}, {"s": f(TEXT)})
    assert kinds(result) == [("s", "add/add")]
    assert result.conflicts[0].detail == "mode"
    assert result.tree == {"s": f(TEXT, EXE)}


def test_binary_changed_on_both_sides_conflicts_keeping_ours() -> None:
    result = merge({"b": f(b"\0base")}, {"b": f(b"\0ours")}, {"b": f(b"\0theirs")})
    assert kinds(result) == [("b", "content")]
    assert result.conflicts[0].detail == "binary"
    assert result.tree == {"b": f(b"\0ours")} and result.blobs == {}


def test_symlinks_changed_on_both_sides_conflict_keeping_ours() -> None:
    result = merge({"l": f(b"x", LNK)}, {"l": f(b"y", LNK)}, {"l": f(b"z", LNK)})
    assert kinds(result) == [("l", "content")]
    assert result.conflicts[0].detail == "symlink"
    assert result.tree == {"l": f(b"y", LNK)}


def test_modify_delete_keeps_the_modified_side() -> None:
    base = {"a": f(b"a\n"), "b": f(b"b\n")}
    result = merge(base, {"b": f(b"B\n")}, {"a": f(b"A\n")})
    assert kinds(result) == [("a", "modify/delete"), ("b", "modify/delete")]
    assert result.tree == {"a": f(b"A\n"), "b": f(b"B\n")}


def test_add_add_merges_against_an_empty_base() -> None:
    result = merge({}, {"n": f(b"same\nours\n")}, {"n": f(b"same\ntheirs\n")})
    want = b"same\n<<<<<<< O\nours\n=======\ntheirs\n>>>>>>> T\n"
    assert kinds(result) == [("n", "add/add")]
    assert result.tree == {"n": f(want)}


def test_file_directory_moves_the_file_aside() -> None:
    # Ours added a file where theirs added a directory: the file moves.
    result = merge({}, {"p": f(b"file\n")}, {"p/x": f(b"x\n")})
    assert kinds(result) == [("p~O", "file/directory")]
    assert result.tree == {"p/x": f(b"x\n"), "p~O": f(b"file\n")}
    assert result.conflicts[0].original == "p"
    # A name already taken gets git's _0 suffix.
    result = merge({"p~T": f(b"t\n")}, {"p/x": f(b"x\n"), "p~T": f(b"t\n")},
                   {"p": f(b"f\n"), "p~T": f(b"t\n")})  # fmt: skip
    assert kinds(result) == [("p~T_0", "file/directory")]


def test_file_directory_with_a_modify_delete() -> None:
    base = {"p": f(b"p\n")}
    result = merge(base, {"p/x": f(b"x\n")}, {"p": f(b"P\n")})
    assert kinds(result) == [("p~T", "file/directory"), ("p~T", "modify/delete")]
    assert result.tree == {"p/x": f(b"x\n"), "p~T": f(b"P\n")}


def test_a_file_replaced_by_a_directory_on_one_side_is_clean() -> None:
    base = {"p": f(b"p\n")}
    assert merge(base, {"p/x": f(b"x\n")}, dict(base)).tree == {"p/x": f(b"x\n")}
    # A directory that merges to nothing is not in the way of a file.
    base = {"p/x": f(b"x\n")}
    result = merge(base, {"p": f(b"f\n")}, dict(base))
    assert result.clean and result.tree == {"p": f(b"f\n")}


def test_distinct_types_move_the_regular_file() -> None:
    result = merge({}, {"k": f(b"file\n")}, {"k": f(b"t", LNK)})
    assert kinds(result) == [("k", "distinct types"), ("k~O", "distinct types")]
    assert result.tree == {"k": f(b"t", LNK), "k~O": f(b"file\n")}
    result = merge({}, {"k": f(b"t", LNK)}, {"k": f(b"file\n")})
    assert result.tree == {"k": f(b"t", LNK), "k~T": f(b"file\n")}


def test_deleted_on_both_sides_is_gone() -> None:
    result = merge({"a": f(b"a\n"), "b": f(b"b\n")}, {"b": f(b"b\n")}, {"b": f(b"b\n")})
    assert result.clean and result.tree == {"b": f(b"b\n")}


def test_gitversions_refuses_twins_and_a_top_level_version_toml() -> None:
    result = merge({}, {"Read.md": f(b"a\n")}, {"read.md": f(b"b\n")})
    assert kinds(result) == [("Read.md", "name twins"), ("read.md", "name twins")]
    assert all(c.git_only_in_gitversions for c in result.conflicts)
    result = merge({}, {"d/\u00e9": f(b"a\n")}, {"d/e\u0301": f(b"b\n")})
    assert {c.kind for c in result.conflicts} == {"name twins"}
    result = merge({}, {".version.toml": f(b"x\n")}, {})
    assert kinds(result) == [(".version.toml", "reserved name")]
    assert result.files[0].status == "conflict"
    assert merge({}, {"sub/.version.toml": f(b"x\n")}, {}).clean


@pytest.mark.parametrize(
    ("b", "x"),
    [
        ({"a": f(b"a\n")}, {"a": f(b"b\n"), "c/d": f(b"d\n", EXE)}),
        ({"a": f(b"a\n"), "l": f(b"t", LNK)}, {"l/x": f(b"y\n")}),
    ],
)
def test_merge_properties(
    b: dict[str, tuple[int, str]], x: dict[str, tuple[int, str]]
) -> None:
    for ours, theirs in ((x, x), (b, x), (x, b)):
        result = merge(b, ours, theirs)
        assert result.clean and result.tree == x


def test_swapping_sides_swaps_the_conflict_sides() -> None:
    base = {"t": f(TEXT)}
    ours = {"t": f(TEXT.replace(b"5\n", b"ours\n"))}
    theirs = {"t": f(TEXT.replace(b"5\n", b"theirs\n"))}
    one = merge(base, ours, theirs)
    two = merge_trees(
        base, theirs, ours, STORE.__getitem__, blob, ours_label="T", theirs_label="O"
    )
    assert kinds(one) == kinds(two)
    swapped = STORE[one.tree["t"][1]].replace(b"ours", b"X").replace(b"theirs", b"ours")
    swapped = swapped.replace(b"X", b"theirs").replace(b"O\n", b"Z\n")
    swapped = swapped.replace(b"T\n", b"O\n").replace(b"Z\n", b"T\n")
    assert STORE[two.tree["t"][1]] == swapped


def test_tree_ids_are_git_tree_ids() -> None:
    empty = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    assert tree_id({}) == empty
    root, bodies = build_trees({"a": f(b"hello\n"), "d/e": f(b"hello\n")})
    assert len(bodies) == 2 and root in bodies
    assert len(tree_id({"a": f(b"x")}, "sha256")) == 64

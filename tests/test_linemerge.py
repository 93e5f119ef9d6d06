"""Line-level diff and three-way merge: each rule of git merge-file, by hand.

The expected texts below are what ``git merge-file -p -L OURS -L BASE -L THEIRS``
prints for the same inputs (tests/compat/test_linemerge_compat.py checks
thousands of generated cases against git itself).
"""

from __future__ import annotations

import random

import pytest

from gitversions.merge import lines as linemerge
from gitversions.merge.lines import (
    ConflictHunk,
    DiffHunk,
    diff_lines,
    is_binary,
    merge_lines,
    split_lines,
)

LABELS = {"ours_label": "OURS", "theirs_label": "THEIRS", "base_label": "BASE"}


def merge(base: str, ours: str, theirs: str, **kwargs: object) -> tuple[str, int]:
    """Merge texts; return the merged text and its number of conflicts."""
    result = merge_lines(
        base.encode(),
        ours.encode(),
        theirs.encode(),
        **{**LABELS, **kwargs},  # type: ignore[arg-type]
    )
    assert result.clean == (not result.conflicts)
    return result.content.decode(), len(result.conflicts)


def lines(*items: str) -> str:
    return "".join(f"{item}\n" for item in items)


BASE = lines("a", "b", "c", "d", "e", "f", "g", "h")


# -- one side, both sides, identical changes -----------------------------------


def test_changes_in_different_regions_merge_cleanly() -> None:
    ours = BASE.replace("b\n", "B\n")
    theirs = BASE.replace("g\n", "G\n")
    assert merge(BASE, ours, theirs) == (
        lines("a", "B", "c", "d", "e", "f", "G", "h"),
        0,
    )


def test_a_side_without_changes_yields_the_other_side_verbatim() -> None:
    theirs = "x\r\ny"  # taken as is, CRs and missing newline included
    assert merge(BASE, BASE, theirs) == (theirs, 0)
    assert merge(BASE, theirs, BASE) == (theirs, 0)


def test_identical_changes_are_taken_once() -> None:
    both = BASE.replace("d\n", "D\nD2\n")
    assert merge(BASE, both, both) == (both, 0)


def test_identical_change_beside_another_change_is_clean() -> None:
    ours = BASE.replace("d\n", "D\n").replace("a\n", "A\n")
    theirs = BASE.replace("d\n", "D\n")
    assert merge(BASE, ours, theirs) == (ours, 0)


# -- conflicts -----------------------------------------------------------------


def test_overlapping_changes_conflict_with_git_markers() -> None:
    ours = BASE.replace("d\n", "ours\n")
    theirs = BASE.replace("d\n", "theirs\n")
    text, conflicts = merge(BASE, ours, theirs)
    assert conflicts == 1
    assert text == lines(
        "a", "b", "c",
        "<<<<<<< OURS", "ours", "=======", "theirs", ">>>>>>> THEIRS",
        "e", "f", "g", "h",
    )  # fmt: skip


def test_adjacent_changes_conflict() -> None:
    ours = BASE.replace("c\n", "C\n")
    theirs = BASE.replace("d\n", "D\n")
    text, conflicts = merge(BASE, ours, theirs)
    assert conflicts == 1
    assert text == lines(
        "a", "b",
        "<<<<<<< OURS", "C", "d", "=======", "c", "D", ">>>>>>> THEIRS",
        "e", "f", "g", "h",
    )  # fmt: skip


def test_insertions_at_one_point_conflict() -> None:
    text, conflicts = merge(lines("a", "b"), lines("a", "x", "b"), lines("a", "y", "b"))
    assert (text, conflicts) == (
        lines("a", "<<<<<<< OURS", "x", "=======", "y", ">>>>>>> THEIRS", "b"),
        1,
    )


def test_deletion_against_change_conflicts() -> None:
    ours = BASE.replace("d\n", "")
    theirs = BASE.replace("d\n", "D\n")
    text, conflicts = merge(BASE, ours, theirs)
    assert conflicts == 1
    assert "<<<<<<< OURS\n=======\nD\n>>>>>>> THEIRS\n" in text


def test_conflict_is_narrowed_to_the_lines_that_differ() -> None:
    """Both sides rewrite c..e alike but for one line: only that line conflicts."""
    ours = BASE.replace("c\nd\ne\n", "C\nD1\nE\n")
    theirs = BASE.replace("c\nd\ne\n", "C\nD2\nE\n")
    text, conflicts = merge(BASE, ours, theirs)
    assert conflicts == 1
    assert text == lines(
        "a", "b", "C",
        "<<<<<<< OURS", "D1", "=======", "D2", ">>>>>>> THEIRS",
        "E", "f", "g", "h",
    )  # fmt: skip


def test_conflicts_close_together_are_joined() -> None:
    """Two narrowed conflicts 3 lines apart read better as one."""
    base = lines("1", "2", "3", "4", "5", "6", "7")
    ours = lines("x1", "2", "3", "4", "x5", "6", "7")
    theirs = lines("y1", "2", "3", "4", "y5", "6", "7")
    text, conflicts = merge(base, ours, theirs)
    assert conflicts == 1
    assert text == lines(
        "<<<<<<< OURS", "x1", "2", "3", "4", "x5",
        "=======", "y1", "2", "3", "4", "y5", ">>>>>>> THEIRS",
        "6", "7",
    )  # fmt: skip


def test_conflicts_apart_by_lines_without_letters_are_joined() -> None:
    """Four lines apart: joined if none has a letter or digit (merge-file's level)."""
    base = lines("1", "{", "}", "(", ")", "5", "z")
    ours = lines("x1", "{", "}", "(", ")", "x5", "z")
    theirs = lines("y1", "{", "}", "(", ")", "y5", "z")
    assert merge(base, ours, theirs)[1] == 1
    assert merge(base, ours, theirs, level="zealous")[1] == 2  # merge-ort's level
    lettered = [ours, theirs]
    lettered = [side.replace("(\n", "w\n") for side in lettered]
    assert merge(base.replace("(\n", "w\n"), *lettered)[1] == 2


def test_level_minimal_and_eager() -> None:
    both = BASE.replace("d\n", "D\n")
    assert merge(BASE, both, both, level="eager") == (both, 0)
    assert merge(BASE, both, both, level="minimal")[1] == 1
    ours = BASE.replace("c\nd\n", "C\nD1\n")
    theirs = BASE.replace("c\nd\n", "C\nD2\n")
    text, _ = merge(BASE, ours, theirs, level="eager")
    assert "<<<<<<< OURS\nC\nD1\n=======\nC\nD2\n" in text  # not narrowed


def test_overlapping_changes_that_end_equal_are_clean() -> None:
    """The two diffs cut the region differently, yet both sides read the same."""
    base, ours, theirs = (
        lines("c", "b", "a", "c", "a"),
        lines("X", "b", "b", "a"),
        lines("c", "b", "a"),
    )
    assert merge(base, ours, theirs) == (ours, 0)


def test_conflict_hunks_give_the_line_ranges() -> None:
    ours = BASE.replace("c\nd\ne\n", "C\nD1\nE\n")
    theirs = BASE.replace("c\nd\ne\n", "C\nD2\nE\n")
    result = merge_lines(BASE.encode(), ours.encode(), theirs.encode())
    # narrowed to ours line 3 and theirs line 3; the base region was c..e
    assert result.conflicts == (ConflictHunk(2, 3, 3, 1, 3, 1),)
    assert not result.clean


def test_labels_may_be_absent_and_markers_longer() -> None:
    text, _ = merge(
        lines("a"), lines("b"), lines("c"),
        ours_label=None, theirs_label=None, marker_size=9,
    )  # fmt: skip
    assert text == lines("<<<<<<<<<", "b", "=========", "c", ">>>>>>>>>")


# -- diff3 and zdiff3 ----------------------------------------------------------


def test_diff3_shows_the_base_and_does_not_narrow() -> None:
    ours = BASE.replace("c\nd\ne\n", "C\nD1\nE\n")
    theirs = BASE.replace("c\nd\ne\n", "C\nD2\nE\n")
    text, conflicts = merge(BASE, ours, theirs, style="diff3")
    assert conflicts == 1
    assert text == lines(
        "a", "b",
        "<<<<<<< OURS", "C", "D1", "E",
        "||||||| BASE", "c", "d", "e",
        "=======", "C", "D2", "E",
        ">>>>>>> THEIRS",
        "f", "g", "h",
    )  # fmt: skip


def test_zdiff3_moves_common_ends_out_of_the_conflict() -> None:
    ours = BASE.replace("c\nd\ne\n", "C\nD1\nE\n")
    theirs = BASE.replace("c\nd\ne\n", "C\nD2\nE\n")
    text, _ = merge(BASE, ours, theirs, style="zdiff3")
    assert text == lines(
        "a", "b", "C",
        "<<<<<<< OURS", "D1", "||||||| BASE", "c", "d", "e",
        "=======", "D2", ">>>>>>> THEIRS",
        "E", "f", "g", "h",
    )  # fmt: skip


# -- -X ours / theirs / union --------------------------------------------------


@pytest.mark.parametrize(
    ("favor", "middle"),
    [("ours", ["x"]), ("theirs", ["y"]), ("union", ["x", "y"])],
)
def test_favor_resolves_conflicts(favor: str, middle: list[str]) -> None:
    text, conflicts = merge(
        lines("a", "b", "c"), lines("a", "x", "c"), lines("a", "y", "c"), favor=favor
    )
    assert (text, conflicts) == (lines("a", *middle, "c"), 0)


def test_favor_keeps_a_missing_last_newline_missing() -> None:
    assert merge("a\nb", "a\nx", "a\ny", favor="ours") == ("a\nx", 0)
    assert merge("a\nb", "a\nx", "a\ny", favor="union") == ("a\nx\ny", 0)


# -- last line without newline, CRLF -------------------------------------------


def test_conflict_on_a_last_line_without_newline_ends_each_side() -> None:
    text, conflicts = merge("a\nb", "a\nx", "a\ny")
    assert conflicts == 1
    assert text == lines("a", "<<<<<<< OURS", "x", "=======", "y", ">>>>>>> THEIRS")


def test_adding_a_newline_on_one_side_merges() -> None:
    assert merge("a\nb\nc", "A\nb\nc", "a\nb\nc\n") == ("A\nb\nc\n", 0)


def test_crlf_text_gets_crlf_markers() -> None:
    base, ours, theirs = "a\r\nb\r\nc\r\n", "a\r\nx\r\nc\r\n", "a\r\ny\r\nc\r\n"
    text, _ = merge(base, ours, theirs)
    assert text == ("a\r\n<<<<<<< OURS\r\nx\r\n=======\r\ny\r\n>>>>>>> THEIRS\r\nc\r\n")


def test_crlf_markers_need_every_side_to_use_crlf() -> None:
    text, _ = merge("a\nb\nc\n", "a\r\nx\r\nc\r\n", "a\r\ny\r\nc\r\n")
    assert "<<<<<<< OURS\n" in text  # the base uses LF: markers too


def test_lf_markers_when_ours_uses_lf() -> None:
    text, _ = merge("a\nb\n", "x\n", "x\r\n")
    assert text == "<<<<<<< OURS\nx\n=======\nx\r\n>>>>>>> THEIRS\n"


def test_crlf_conflict_on_a_last_line_without_newline() -> None:
    text, _ = merge("a\r\nb", "a\r\nx", "a\r\ny")
    assert text == "a\r\n<<<<<<< OURS\r\nx\r\n=======\r\ny\r\n>>>>>>> THEIRS\r\n"


# -- empty files ---------------------------------------------------------------


def test_empty_base_with_two_different_additions_conflicts() -> None:
    text, conflicts = merge("", "x\n", "y\n")
    assert (text, conflicts) == (
        lines("<<<<<<< OURS", "x", "=======", "y", ">>>>>>> THEIRS"),
        1,
    )


def test_emptied_on_one_side_and_unchanged_on_the_other() -> None:
    assert merge(BASE, "", BASE) == ("", 0)
    assert merge("", "", "") == ("", 0)


# -- argument checks -----------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"style": "fancy"},
        {"favor": "mine"},
        {"level": "max"},
        {"algorithm": "patience"},
    ],
)
def test_unknown_options_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="unknown"):
        merge_lines(b"a\n", b"b\n", b"c\n", **kwargs)  # type: ignore[arg-type]


# -- lines, binary -------------------------------------------------------------


def test_split_lines_cuts_at_newlines_only() -> None:
    assert split_lines(b"") == []
    assert split_lines(b"a\nb") == [b"a\n", b"b"]
    assert split_lines(b"a\r\nb\r\n") == [b"a\r\n", b"b\r\n"]
    assert split_lines(b"a\rb\nc\r") == [b"a\rb\n", b"c\r"]  # a lone CR is no end


def test_is_binary_is_a_nul_in_the_first_8000_bytes() -> None:
    assert is_binary(b"text\0more")
    assert not is_binary(b"plain text\n")
    assert not is_binary(b"x" * 8000 + b"\0")
    assert is_binary(b"x" * 7999 + b"\0")


# -- the diff ------------------------------------------------------------------


def test_diff_lines_gives_git_hunks() -> None:
    a = [b"a\n", b"b\n", b"c\n", b"d\n"]
    b = [b"a\n", b"B\n", b"c\n", b"d\n", b"e\n"]
    assert diff_lines(a, b) == [DiffHunk(1, 1, 1, 1), DiffHunk(4, 0, 4, 1)]
    assert diff_lines(a, a) == []
    assert diff_lines([], b) == [DiffHunk(0, 0, 0, 5)]


def test_diff_slides_an_inserted_repeat_down_as_git_does() -> None:
    """Inserting a second "x" after one: git reports the lower one as added."""
    a = [b"a\n", b"x\n", b"b\n"]
    b = [b"a\n", b"x\n", b"x\n", b"b\n"]
    assert diff_lines(a, b) == [DiffHunk(2, 0, 2, 1)]


def test_histogram_anchors_on_unique_lines() -> None:
    """Where Myers matches the common "}" lines, histogram keeps the functions whole."""
    a = [b"f()\n", b"{\n", b"one\n", b"}\n", b"g()\n", b"{\n", b"two\n", b"}\n"]
    b = [b"g()\n", b"{\n", b"two\n", b"}\n", b"h()\n", b"{\n", b"one\n", b"}\n"]
    assert diff_lines(a, b, algorithm="histogram") == [
        DiffHunk(0, 4, 0, 0),
        DiffHunk(8, 0, 4, 4),
    ]


def apply(a: list[bytes], b: list[bytes], hunks: list[DiffHunk]) -> list[bytes]:
    """Apply an edit script to ``a`` (taking the new lines from ``b``)."""
    out: list[bytes] = []
    at = 0
    for h in hunks:
        assert h.a_start >= at
        out.extend(a[at : h.a_start])
        out.extend(b[h.b_start : h.b_start + h.b_count])
        at = h.a_start + h.a_count
    return out + a[at:]


@pytest.mark.parametrize("algorithm", ["myers", "histogram"])
def test_heavy_rewrites_still_give_a_valid_script(
    algorithm: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past xdiff's cost limits the search takes short cuts: still a correct diff.

    The limit is lowered so that the short cuts (a long snake far along, or
    the furthest path) are taken on inputs small enough for a unit test.
    """
    rng = random.Random(11)
    for cost_min, alphabet in [(256, 3), (256, 80), (10_000, 3), (10_000, 80)]:
        monkeypatch.setattr(linemerge, "_MAX_COST_MIN", cost_min)
        monkeypatch.setattr(linemerge, "_HEUR_MIN_COST", 16)
        a = [b"%d\n" % rng.randrange(alphabet) for _ in range(1500)]
        b = []
        for start in range(0, 1500, 30):
            b.extend(
                a[start : start + 25] if rng.random() < 0.6 else a[start : start + 2]
            )
            b.extend(
                b"%d\n" % rng.randrange(alphabet) for _ in range(rng.randint(0, 9))
            )
        hunks = diff_lines(a, b, algorithm=algorithm)  # type: ignore[arg-type]
        assert apply(a, b, hunks) == b


def test_histogram_falls_back_to_myers_on_frequent_lines() -> None:
    """Every common line occurs more than 64 times: xdiff hands over to Myers."""
    a = [b"x\n"] * 70 + [b"a\n"]
    b = [b"b\n"] + [b"x\n"] * 70
    assert diff_lines(a, b, algorithm="histogram") == diff_lines(a, b)
    assert diff_lines(a, b) == [DiffHunk(0, 0, 0, 1), DiffHunk(70, 1, 71, 0)]

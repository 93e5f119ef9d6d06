"""Artifact names, version ids and REFs (gitversions.model.ids)."""

from __future__ import annotations

import itertools

import pytest

from gitversions.errors import GitVersionsError, InvalidNameError, InvalidRefError
from gitversions.model.ids import (
    HashPrefixRef,
    LatestRef,
    NumberRef,
    VersionId,
    VersionIdRef,
    parse_ref,
    validate_name,
)

# -- artifact names ---------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "canvas-design",
        "a",
        "A",
        "0",
        "x" * 128,
        "a.b_c-1",
        "Skill_2.0",
        "trailing.",
        "trailing-",
        "a..b",
        "UPPER-lower_09",
    ],
)
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "empty"),
        ("x" * 129, "129 characters"),
        ("x" * 1000, "1000 characters"),
        ("../x", "'/'"),
        ("/abs", "'/'"),
        ("a/b", "'/'"),
        ("a\\b", "\\"),
        ("a\0b", "\\x00"),
        ("a b", "' '"),
        ("a\nb", "\\n"),
        ("a\tb", "\\t"),
        ("-rf", "cannot start with '-'"),
        ("--help", "cannot start with '-'"),
        (".hidden", "cannot start with '.'"),
        (".", "cannot start with '.'"),
        ("..", "cannot start with '.'"),
        ("café", "é"),
        ("naïve-skill", "ï"),
        ("имя", "и"),
        ("名前", "名"),
        ("٣", "٣"),  # a digit, but not an ASCII one
        ("\uff53kill", "\uff53"),  # fullwidth letter s
        ("a:b", "':'"),
        ("a*b", "'*'"),
        ("a~1", "'~'"),
    ],
)
def test_invalid_names_are_refused_naming_the_problem(name: str, problem: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name(name)
    message = str(info.value)
    assert "invalid artifact name" in message
    assert problem in message


def test_long_name_message_stays_short() -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_name("y" * 5000)
    assert len(str(info.value)) < 200


def test_invalid_name_error_is_bad_input() -> None:
    with pytest.raises(ValueError, match="invalid artifact name") as info:
        validate_name("a/b")
    assert isinstance(info.value, GitVersionsError)
    assert info.value.exit_code == 2
    assert InvalidNameError.exit_code == 2


# -- version ids ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "short_hash"),
    [
        ("v1-3f2a9c1", 1, "3f2a9c1"),
        ("v2-8be01d4", 2, "8be01d4"),
        ("v10-0000000", 10, "0000000"),
        ("v123456789-abcdef0", 123456789, "abcdef0"),
    ],
)
def test_version_id_parse_and_format_round_trip(
    text: str, number: int, short_hash: str
) -> None:
    vid = VersionId.parse(text)
    assert vid == VersionId(number, short_hash)
    assert vid.number == number
    assert vid.short_hash == short_hash
    assert str(vid) == text
    assert VersionId.is_valid(text)


def test_version_id_for_hash_uses_first_seven_hex_digits() -> None:
    full = "8be01d4" + "f" * 57
    assert str(VersionId.for_hash(2, full)) == "v2-8be01d4"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "v",
        "v1",
        "v1-",
        "1-abcdef0",
        "v0-abcdef0",
        "v01-abcdef0",
        "v-1-abcdef0",
        "V1-abcdef0",
        "v1-ABCDEF0",
        "v1-abcdef",
        "v1-abcdef01",
        "v1-abcdefg",
        "v1_abcdef0",
        "v1-abcdef0 ",
        " v1-abcdef0",
        "v1-abcdef0\n",
        "v1.5-abcdef0",
        "v٣-abcdef0",
        "latest",
    ],
)
def test_malformed_version_ids_are_refused(text: str) -> None:
    assert not VersionId.is_valid(text)
    with pytest.raises(InvalidRefError, match="not a version id"):
        VersionId.parse(text)


@pytest.mark.parametrize(
    ("number", "short_hash"),
    [
        (0, "abcdef0"),
        (-1, "abcdef0"),
        (1, "ABCDEF0"),
        (1, "abcdef"),
        (1, "abcdef01"),
        (1, "xyzxyzx"),
    ],
)
def test_version_id_constructor_refuses_bad_parts(number: int, short_hash: str) -> None:
    with pytest.raises(InvalidRefError):
        VersionId(number, short_hash)


def test_v10_sorts_after_v9() -> None:
    v9 = VersionId.parse("v9-fffffff")
    v10 = VersionId.parse("v10-0000000")
    assert v9 < v10
    assert v10 > v9
    assert sorted([v10, v9]) == [v9, v10]
    # Not the string order, which would put v10 first.
    assert sorted([str(v10), str(v9)]) == [str(v10), str(v9)]


def test_ids_order_numerically_then_by_hash() -> None:
    texts = [
        "v2-0000001",
        "v1-ffffff0",
        "v11-0000000",
        "v2-0000000",
        "v100-0000000",
        "v3-aaaaaaa",
        "v20-0000000",
        "v1-0000000",
    ]
    ordered = sorted(VersionId.parse(t) for t in texts)
    assert [str(v) for v in ordered] == [
        "v1-0000000",
        "v1-ffffff0",
        "v2-0000000",
        "v2-0000001",
        "v3-aaaaaaa",
        "v11-0000000",
        "v20-0000000",
        "v100-0000000",
    ]


def test_ordering_is_total_and_consistent_with_equality() -> None:
    ids = [
        VersionId(n, h)
        for n in (1, 2, 9, 10)
        for h in ("0000000", "0abcdef", "fffffff")
    ]
    for a, b in itertools.product(ids, repeat=2):
        key_a, key_b = (a.number, a.short_hash), (b.number, b.short_hash)
        assert (a < b) == (key_a < key_b)
        assert (a <= b) == (key_a <= key_b)
        assert (a > b) == (key_a > key_b)
        assert (a >= b) == (key_a >= key_b)
        assert (a == b) == (key_a == key_b)
        assert sum([a < b, a == b, a > b]) == 1


def test_equal_ids_hash_alike_and_dedupe() -> None:
    a = VersionId.parse("v3-abcdef0")
    b = VersionId(3, "abcdef0")
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, VersionId(3, "abcdef1")}) == 2


def test_version_id_does_not_compare_with_other_types() -> None:
    vid = VersionId.parse("v1-abcdef0")
    assert vid != "v1-abcdef0"
    with pytest.raises(TypeError):
        _ = vid < "v2-abcdef0"  # type: ignore[operator]


# -- REFs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v2-8be01d4", VersionIdRef(VersionId(2, "8be01d4"))),
        ("v10-0000000", VersionIdRef(VersionId(10, "0000000"))),
        ("v1", NumberRef(1)),
        ("v2", NumberRef(2)),
        ("v10", NumberRef(10)),
        ("v999", NumberRef(999)),
        ("latest", LatestRef(0)),
        ("latest~0", LatestRef(0)),
        ("latest~1", LatestRef(1)),
        ("latest~10", LatestRef(10)),
        ("8be0", HashPrefixRef("8be0")),
        ("8be01d4", HashPrefixRef("8be01d4")),
        ("0000", HashPrefixRef("0000")),
        ("1234", HashPrefixRef("1234")),
        ("ABCD", HashPrefixRef("abcd")),
        ("8BE01D4", HashPrefixRef("8be01d4")),
        ("DeadBeef", HashPrefixRef("deadbeef")),
        ("a" * 40, HashPrefixRef("a" * 40)),
        ("F" * 64, HashPrefixRef("f" * 64)),
    ],
)
def test_parse_ref_forms(text: str, expected: object) -> None:
    assert parse_ref(text) == expected


@pytest.mark.parametrize("length", range(4, 65))
def test_hex_prefixes_of_4_to_64_digits_are_accepted(length: int) -> None:
    text = ("0123456789abcdef" * 4)[:length]
    assert parse_ref(text) == HashPrefixRef(text)
    assert parse_ref(text.upper()) == HashPrefixRef(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "ABC",
        "a" * 65,
        "v0",
        "v00",
        "v01",
        "v-1",
        "v",
        "v1-xyz",
        "v1-abcdef",
        "v1-abcdef01",
        "v0-abcdef0",
        "latest~",
        "latest~-1",
        "latest~ 1",
        "latest~1~1",
        "latest~x",
        "latest^",
        "latest-1",
        "Latest",
        "HEAD",
        "HEAD~1",
        "main",
        "ghij",
        "abcd ",
        " abcd",
        "abc\0d",
        "../abcd",
        "٠١٢٣",  # Arabic-Indic digits are not hex digits
    ],
)
def test_invalid_refs_are_refused(text: str) -> None:
    with pytest.raises(InvalidRefError, match="invalid REF") as info:
        parse_ref(text)
    assert info.value.exit_code == 2
    assert isinstance(info.value, ValueError)


def test_invalid_ref_message_lists_accepted_forms() -> None:
    with pytest.raises(InvalidRefError) as info:
        parse_ref("nope")
    message = str(info.value)
    assert "'nope'" in message
    for form in ("v<n>", "latest", "latest~N", "hex"):
        assert form in message


def test_invalid_ref_message_truncates_huge_input() -> None:
    with pytest.raises(InvalidRefError) as info:
        parse_ref("z" * 10_000)
    assert len(str(info.value)) < 400

"""``.version.toml``: render, parse and validate (gitversions.formats.metadata)."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable
from typing import Any

import pytest
import tomlkit
from helpers import SPEC_FIELDS, calls_made
from hypothesis import given, settings
from hypothesis import strategies as st

from gitversions.errors import MetadataError
from gitversions.formats.metadata import (
    Problem,
    parse_version_toml,
    render_version_toml,
    validate_version_toml,
    version_record,
)
from gitversions.git.history import Changes, Version
from gitversions.model.ids import VersionId

HASH1 = "3f2a9c1" + "0" * 57
HASH2 = "8be01d4" + "a1" * 28 + "f"
COMMIT1 = "c1" * 20
COMMIT2 = "c2" * 20
TIME = 1764496800  # 2025-11-30T10:00:00Z


def make_version(
    number: int = 2,
    content_hash: str = HASH2,
    *,
    commit: str = COMMIT2,
    time: int = TIME,
    source: str = "anthropics/skills/canvas-design",
    message: str = "Add a script",
    parents: tuple[str, ...] = (COMMIT1,),
    parent_versions: tuple[VersionId, ...] | None = None,
) -> Version:
    if parent_versions is None:
        parent_versions = (VersionId.for_hash(1, HASH1),) if number > 1 else ()
        parents = parents if number > 1 else ()
    return Version(
        id=VersionId.for_hash(number, content_hash),
        hash=content_hash,
        commit=commit,
        tree="7e" * 20,
        time=time,
        source=source,
        message=message,
        parents=parents,
        parent_versions=parent_versions,
    )


CHANGES = Changes(added=("scripts/process.js",), modified=("SKILL.md",), deleted=())


def valid_document() -> dict[str, Any]:
    return parse_version_toml(render_version_toml(make_version(), CHANGES))


def fields(problems: list[Problem]) -> set[str]:
    return {p.field for p in problems}


# -- render and parse ---------------------------------------------------------


def test_render_matches_the_spec_example() -> None:
    text = render_version_toml(make_version(), CHANGES)
    assert text == (
        "[version]\n"
        f'id = "v2-8be01d4"\n'
        "number = 2\n"
        'timestamp = "2025-11-30T10:00:00Z"\n'
        f'hash = "{HASH2}"\n'
        f'commit = "{COMMIT2}"\n'
        'source = "anthropics/skills/canvas-design"\n'
        'message = "Add a script"\n'
        'parent_versions = ["v1-3f2a9c1"]\n'
        "\n"
        "[changes]\n"
        'files_changed = ["SKILL.md", "scripts/process.js"]\n'
        'added = ["scripts/process.js"]\n'
        'modified = ["SKILL.md"]\n'
        "deleted = []\n"
        'summary = "1 added, 1 modified"\n'
    )


def test_parse_gives_back_every_value() -> None:
    version = make_version()
    data = parse_version_toml(render_version_toml(version, CHANGES))
    record = version_record(version, CHANGES)
    assert set(data) == {"version", "changes"}
    assert {**data["version"], **data["changes"]} == record
    assert list(data["version"]) == SPEC_FIELDS[:8]
    assert list(data["changes"]) == SPEC_FIELDS[8:]


def test_record_has_the_flattened_spec_fields() -> None:
    record = version_record(make_version(), CHANGES)
    assert list(record) == SPEC_FIELDS
    assert record["id"] == "v2-8be01d4"
    assert record["number"] == 2
    assert record["timestamp"] == "2025-11-30T10:00:00Z"
    assert record["parent_versions"] == ["v1-3f2a9c1"]
    assert record["files_changed"] == ["SKILL.md", "scripts/process.js"]
    assert record["summary"] == "1 added, 1 modified"


@pytest.mark.parametrize(
    "message",
    [
        "",
        "plain",
        'say "hello"',
        "it's",
        "'''triple single'''",
        '"""triple double"""',
        "back\\slash \\n not a newline",
        "line 1\nline 2\n\nline 4",
        "windows\r\nline",
        "tab\there",
        "control \x01 \x1b[31m \x7f",
        "unicode: café, naïve, 日本語, emoji 😀, rtl \u202e",
        "nfd: cafe\u0301",
        "# not a comment",
        "key = 'value'\n[table]",
        " leading and trailing spaces ",
        "x" * 10_000,
    ],
)
def test_messages_round_trip(message: str) -> None:
    version = make_version(message=message, source=f"src {message[:20]}")
    text = render_version_toml(version, CHANGES)
    data = parse_version_toml(text)
    assert data["version"]["message"] == message
    assert data["version"]["source"] == f"src {message[:20]}"
    assert validate_version_toml(text) == []


def test_render_is_deterministic() -> None:
    first = render_version_toml(make_version(message='m\n"q" é'), CHANGES)
    again = render_version_toml(make_version(message='m\n"q" é'), CHANGES)
    rebuilt = render_version_toml(
        make_version(message='m\n"q" é'),
        Changes(("scripts/process.js",), ("SKILL.md",), ()),
    )
    assert first == again == rebuilt
    assert first.encode("utf-8") == rebuilt.encode("utf-8")


@pytest.mark.parametrize(
    ("version", "changes"),
    [
        pytest.param(
            make_version(1, HASH1, commit=COMMIT1, message="Initial"),
            Changes(added=("SKILL.md", "reference.md", "scripts/process.js")),
            id="first",
        ),
        pytest.param(make_version(), CHANGES, id="second"),
        pytest.param(
            make_version(
                5,
                HASH2,
                parents=(COMMIT1, COMMIT2),
                parent_versions=(
                    VersionId(4, "1111111"),
                    VersionId(3, "2222222"),
                ),
            ),
            Changes(added=("b.md",), modified=("a.md",), deleted=("z/old.md",)),
            id="merge",
        ),
        pytest.param(
            make_version(2, HASH2, commit="e" * 64),
            Changes(),
            id="sha256-commit-no-changes",
        ),
        pytest.param(
            make_version(12, HASH2, time=0),
            Changes(deleted=("a", "b/c", "b/d")),
            id="epoch",
        ),
        pytest.param(
            make_version(3, HASH2),
            Changes(
                added=(".gitignore", "ü/файл.md"),
                modified=(".github/ci.yml",),
            ),
            id="dotfiles-unicode",
        ),
    ],
)
def test_rendered_files_validate(version: Version, changes: Changes) -> None:
    text = render_version_toml(version, changes)
    assert validate_version_toml(text) == []
    data = parse_version_toml(text)
    assert {**data["version"], **data["changes"]} == version_record(version, changes)


def tomlkit_render(version: Version, changes: Changes) -> str:
    """How ``.version.toml`` was rendered before issue 15 (quadratic arrays)."""
    record = version_record(version, changes)
    version_keys = ["id", "number", "timestamp", "hash", "commit", "source"]
    version_keys += ["message", "parent_versions"]
    change_keys = ["files_changed", "added", "modified", "deleted", "summary"]
    doc = tomlkit.document()
    for name, keys in (("version", version_keys), ("changes", change_keys)):
        table = tomlkit.table()
        for key in keys:
            table.add(key, record[key])
        doc.add(name, table)
    return tomlkit.dumps(doc)


# Quotes, backslashes, every control character, non-ASCII (no lone
# surrogates: they cannot be written as UTF-8 at all).
_TRICKY = st.one_of(
    st.sampled_from(['"', "\\", "'", "\x7f", "\x1b", "\u2028", "é", "日", "😀"]),
    st.characters(max_codepoint=0x1F),
    st.characters(codec="utf-8"),
)
_TEXT = st.text(_TRICKY, max_size=12)
_PATHS = st.lists(_TEXT, max_size=6, unique=True).map(sorted)


@settings(max_examples=300, deadline=None)
@given(
    message=_TEXT,
    source=_TEXT,
    added=_PATHS,
    modified=_PATHS,
    deleted=_PATHS,
)
def test_render_is_byte_identical_to_tomlkit(
    message: str,
    source: str,
    added: list[str],
    modified: list[str],
    deleted: list[str],
) -> None:
    version = make_version(message=message, source=source)
    changes = Changes(tuple(added), tuple(modified), tuple(deleted))
    text = render_version_toml(version, changes)
    assert text.encode("utf-8") == tomlkit_render(version, changes).encode("utf-8")
    data = tomllib.loads(text)
    assert {**data["version"], **data["changes"]} == version_record(version, changes)


def test_render_escapes_every_control_character_as_tomlkit_does() -> None:
    name = "".join(map(chr, [*range(0x20), 0x7F])) + '"\\é😀'
    version = make_version(message=name, source=name)
    changes = Changes(added=(name,), deleted=(name + "x",))
    text = render_version_toml(version, changes)
    assert text == tomlkit_render(version, changes)
    assert '"\\u0000\\u0001' in text
    assert "\\b\\t\\n\\u000b\\f\\r" in text
    assert '\\u001f\\u007f\\"\\\\é😀"' in text


def _many_changes(count: int) -> Changes:
    return Changes(
        added=tuple(sorted(f"dir{i % 7}/file-{i:06}.md" for i in range(count))),
        deleted=tuple(f"old/gone-{i:06}.md" for i in range(count)),
    )


def test_render_work_grows_linearly_with_the_paths() -> None:
    # Counted calls (Python and C), not time: a quadratic renderer (tomlkit's
    # Array.append re-indexes the whole array) makes 4x the paths ~16x the work.
    version = make_version()
    small = calls_made(lambda: render_version_toml(version, _many_changes(300)))
    large = calls_made(lambda: render_version_toml(version, _many_changes(1200)))
    assert large <= 5 * small


def test_parse_and_validate_work_grows_linearly_with_the_paths() -> None:
    version = make_version()
    small_text = render_version_toml(version, _many_changes(300))
    large_text = render_version_toml(version, _many_changes(1200))
    small = calls_made(lambda: validate_version_toml(small_text))
    large = calls_made(lambda: validate_version_toml(large_text))
    assert validate_version_toml(large_text) == []
    assert large <= 5 * small


def test_summary_of_no_changes() -> None:
    text = render_version_toml(make_version(), Changes())
    assert parse_version_toml(text)["changes"]["summary"] == "no changes"


def test_parse_refuses_non_toml() -> None:
    with pytest.raises(MetadataError, match="not valid TOML"):
        parse_version_toml("[version\nid = ")


def test_problem_text_names_field() -> None:
    assert str(Problem("version.id", "missing")) == "version.id: missing"


# -- validation: one broken file per row ----------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def setv(key: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["version"][key] = value

    return mutate


def setc(key: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc["changes"][key] = value

    return mutate


def delv(key: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del doc["version"][key]

    return mutate


def delc(key: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del doc["changes"][key]

    return mutate


def changes(
    added: list[Any], modified: list[Any], deleted: list[Any], *, summary: str = ""
) -> Mutation:
    """Set all change lists consistently (files_changed = sorted union)."""

    def mutate(doc: dict[str, Any]) -> None:
        table = doc["changes"]
        table["added"], table["modified"], table["deleted"] = added, modified, deleted
        table["files_changed"] = sorted([*added, *modified, *deleted], key=str)
        table["summary"] = (
            summary
            or Changes(
                tuple(map(str, added)),
                tuple(map(str, modified)),
                tuple(map(str, deleted)),
            ).summary
        )

    return mutate


def both(*mutations: Mutation) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        for m in mutations:
            m(doc)

    return mutate


def settop(key: str, value: Any) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        doc[key] = value

    return mutate


def deltop(key: str) -> Mutation:
    def mutate(doc: dict[str, Any]) -> None:
        del doc[key]

    return mutate


BROKEN: list[Any] = [
    # missing fields, one at a time
    *[
        pytest.param(delv(k), {f"version.{k}"}, "missing", id=f"missing-version.{k}")
        for k in SPEC_FIELDS[:8]
    ],
    *[
        pytest.param(delc(k), {f"changes.{k}"}, "missing", id=f"missing-changes.{k}")
        for k in SPEC_FIELDS[8:]
    ],
    pytest.param(deltop("version"), {"version"}, "missing", id="no-version-table"),
    pytest.param(deltop("changes"), {"changes"}, "missing", id="no-changes-table"),
    pytest.param(settop("version", 1), {"version"}, "table", id="version-not-table"),
    pytest.param(settop("changes", []), {"changes"}, "table", id="changes-not-table"),
    # wrong types
    pytest.param(setv("id", 2), {"version.id"}, "must be a string", id="id-int"),
    pytest.param(
        setv("number", "2"), {"version.number"}, "must be an integer", id="num-str"
    ),
    pytest.param(setv("number", 2.0), {"version.number"}, "float", id="num-float"),
    pytest.param(setv("number", True), {"version.number"}, "bool", id="num-bool"),
    pytest.param(setv("hash", 1), {"version.hash"}, "must be a string", id="hash-int"),
    pytest.param(setv("commit", []), {"version.commit"}, "array", id="commit-list"),
    pytest.param(setv("source", 1), {"version.source"}, "int", id="source-int"),
    pytest.param(setv("message", ["m"]), {"version.message"}, "array", id="msg-list"),
    pytest.param(
        setv("parent_versions", "v1-3f2a9c1"),
        {"version.parent_versions"},
        "must be an array",
        id="parents-str",
    ),
    pytest.param(
        setc("summary", 2), {"changes.summary"}, "must be a string", id="summary-int"
    ),
    pytest.param(
        both(setc("added", "scripts/process.js"), setc("files_changed", ["SKILL.md"])),
        {"changes.added"},
        "must be an array",
        id="added-str",
    ),
    pytest.param(
        setc("deleted", {"a": 1}), {"changes.deleted"}, "must be an array", id="del-tbl"
    ),
    # number and id
    pytest.param(
        both(setv("number", 0), setv("parent_versions", [])),
        {"version.number"},
        "1 or more",
        id="number-zero",
    ),
    pytest.param(
        both(setv("number", -3), setv("parent_versions", [])),
        {"version.number"},
        "1 or more",
        id="number-negative",
    ),
    pytest.param(setv("number", 3), {"version.id"}, "does not match", id="id-number"),
    pytest.param(
        setv("id", "v2-8be01d5"), {"version.id"}, "does not match", id="id-hash"
    ),
    pytest.param(
        setv("hash", "f" * 64), {"version.id"}, "does not match", id="hash-vs-id"
    ),
    pytest.param(setv("id", "v2-8BE01D4"), {"version.id"}, "v<n>-<7 hex>", id="id-up"),
    pytest.param(setv("id", "2-8be01d4"), {"version.id"}, "v<n>-<7 hex>", id="id-nov"),
    pytest.param(setv("id", "v2"), {"version.id"}, "v<n>-<7 hex>", id="id-short"),
    pytest.param(setv("id", ""), {"version.id"}, "v<n>-<7 hex>", id="id-empty"),
    # hash
    pytest.param(setv("hash", HASH2[:-1]), {"version.hash"}, "64", id="hash-63"),
    pytest.param(setv("hash", HASH2 + "0"), {"version.hash"}, "64", id="hash-65"),
    pytest.param(setv("hash", HASH2[:40]), {"version.hash"}, "64", id="hash-sha1"),
    pytest.param(setv("hash", HASH2.upper()), {"version.hash"}, "lowercase", id="HASH"),
    pytest.param(setv("hash", "g" * 64), {"version.hash"}, "hex", id="hash-nonhex"),
    # timestamp
    *[
        pytest.param(
            setv("timestamp", stamp), {"version.timestamp"}, "RFC 3339", id=f"ts-{i}"
        )
        for i, stamp in enumerate(
            [
                "yesterday",
                "",
                "1764496800",
                "2025-11-30",
                "2025-11-30T10:00:00",  # no offset
                "2025-11-30T10:00Z",  # no seconds
                "2025-11-30T10:00:00+0000",  # offset without colon
                "2025-02-30T10:00:00Z",  # no such day
                "2025-13-01T10:00:00Z",
                "2025-11-30T25:00:00Z",
                "2025-11-30T10:61:00Z",
                "30/11/2025 10:00:00Z",
                "\uff12\uff10\uff12\uff15-11-30T10:00:00Z",  # fullwidth digits
                " 2025-11-30T10:00:00Z",
            ]
        )
    ],
    pytest.param(
        setv("timestamp", tomlkit.datetime("2025-11-30T10:00:00Z")),
        {"version.timestamp"},
        "must be a str",
        id="ts-toml-datetime",
    ),
    # commit
    *[
        pytest.param(
            setv("commit", c), {"version.commit"}, "40 or 64", id=f"commit-{i}"
        )
        for i, c in enumerate(
            ["", "abc", "c2" * 19, "c2" * 20 + "c", "C2" * 20, "z" * 40, "e" * 63]
        )
    ],
    # parents
    pytest.param(
        setv("parent_versions", ["v1"]),
        {"version.parent_versions[0]"},
        "not a version id",
        id="parent-short",
    ),
    pytest.param(
        setv("parent_versions", [1]),
        {"version.parent_versions[0]"},
        "not a version id",
        id="parent-int",
    ),
    pytest.param(
        setv("parent_versions", ["v1-3f2a9c1", "v1-XYZ"]),
        {"version.parent_versions[1]"},
        "not a version id",
        id="parent-bad-second",
    ),
    pytest.param(
        setv("parent_versions", ["v2-3f2a9c1"]),
        {"version.parent_versions[0]"},
        "not older",
        id="parent-same-number",
    ),
    pytest.param(
        setv("parent_versions", ["v1-3f2a9c1", "v7-0000000"]),
        {"version.parent_versions[1]"},
        "not older",
        id="parent-newer",
    ),
    # paths
    *[
        pytest.param(
            changes([], [], [path]),
            {"changes.deleted[0]", "changes.files_changed[0]"},
            "not a safe relative path",
            id=f"unsafe-{path!r}",
        )
        for path in [
            "../x",
            "/etc/passwd",
            "a//b",
            "a/",
            "./a",
            "a/../b",
            "a\\b",
            ".git/config",
            "sub/.GIT/hooks/pre-commit",
            "",
        ]
    ],
    pytest.param(
        changes([1], [], []),
        {"changes.added[0]", "changes.files_changed[0]"},
        "must be a string",
        id="path-int",
    ),
    pytest.param(
        both(changes(["b", "a"], [], []), setc("summary", "2 added")),
        {"changes.added"},
        "sorted",
        id="added-unsorted",
    ),
    pytest.param(
        both(
            setc("files_changed", ["scripts/process.js", "SKILL.md"]),
        ),
        {"changes.files_changed"},
        "sorted",
        id="files-unsorted",
    ),
    pytest.param(
        both(changes(["a", "a"], [], []), setc("summary", "2 added")),
        {"changes.added", "changes.files_changed"},
        "repeat",
        id="added-duplicate",
    ),
    pytest.param(
        both(changes(["a"], ["a"], []), setc("summary", "1 added, 1 modified")),
        {"changes.files_changed"},
        "repeat",
        id="added-and-modified",
    ),
    pytest.param(
        setc("files_changed", ["SKILL.md"]),
        {"changes.files_changed"},
        "added + modified + deleted",
        id="files-changed-short",
    ),
    pytest.param(
        setc("files_changed", ["SKILL.md", "other.md", "scripts/process.js"]),
        {"changes.files_changed"},
        "added + modified + deleted",
        id="files-changed-extra",
    ),
    pytest.param(
        setc("summary", "2 added"), {"changes.summary"}, "should be", id="summary"
    ),
    pytest.param(
        setc("summary", ""), {"changes.summary"}, "1 added, 1 modified", id="sum-empty"
    ),
    pytest.param(
        changes([], [], [], summary="1 added, 1 modified"),
        {"changes.summary"},
        "no changes",
        id="summary-not-no-changes",
    ),
    # unknown fields and tables
    pytest.param(
        setv("author", "me"), {"version.author"}, "unknown field", id="unknown-v"
    ),
    pytest.param(setc("renamed", []), {"changes.renamed"}, "unknown", id="unknown-c"),
    pytest.param(settop("extra", {"a": 1}), {"extra"}, "unknown table", id="table"),
    pytest.param(settop("note", "x"), {"note"}, "unknown", id="unknown-top-key"),
]


@pytest.mark.parametrize(("mutate", "expected_fields", "fragment"), BROKEN)
def test_broken_files_name_the_problem_field(
    mutate: Mutation, expected_fields: set[str], fragment: str
) -> None:
    doc = copy.deepcopy(valid_document())
    mutate(doc)
    text = tomlkit.dumps(doc)
    problems = validate_version_toml(text)
    assert fields(problems) == expected_fields, problems
    assert any(fragment in p.message for p in problems), problems


@pytest.mark.parametrize(
    "text",
    [
        "[version\n",
        "version = \n",
        'id = "v1-abc"\nid = "v1-abc"\n',
        "[version]\nmessage = 'unterminated\n",
        "\x00",
    ],
)
def test_not_toml_is_one_file_problem(text: str) -> None:
    problems = validate_version_toml(text)
    assert len(problems) == 1
    assert problems[0].field == "file"
    assert "not valid TOML" in problems[0].message


def test_empty_file_misses_both_tables() -> None:
    assert fields(validate_version_toml("")) == {"version", "changes"}


def test_every_problem_is_reported_at_once() -> None:
    doc = valid_document()
    doc["version"]["hash"] = "nope"
    doc["version"]["timestamp"] = "never"
    doc["version"]["commit"] = "x"
    doc["changes"]["summary"] = "wrong"
    problems = validate_version_toml(tomlkit.dumps(doc))
    assert fields(problems) == {
        "version.hash",
        "version.timestamp",
        "version.commit",
        "changes.summary",
    }


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-11-30T10:00:00Z",
        "2025-11-30T10:00:00z",
        "2025-11-30t10:00:00Z",
        "2025-11-30T10:00:00.5Z",
        "2025-11-30T10:00:00.123456Z",
        "2025-11-30T11:30:00+01:30",
        "2025-11-30T05:00:00-05:00",
        "2024-02-29T00:00:00Z",
    ],
)
def test_valid_rfc3339_timestamps_are_accepted(stamp: str) -> None:
    doc = valid_document()
    doc["version"]["timestamp"] = stamp
    assert validate_version_toml(tomlkit.dumps(doc)) == []


def test_valid_document_fixture_is_valid() -> None:
    # Guards the table above: every row starts from a file with no problem.
    text = tomlkit.dumps(valid_document())
    assert validate_version_toml(text) == []
    assert tomllib.loads(text) == valid_document()

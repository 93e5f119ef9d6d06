"""Fuzzing: validators and parsers answer any input with their documented result.

- ``validate_version_toml(text)`` returns a list of problems and never raises;
- ``parse_ref(text)`` returns a REF or raises ``InvalidRefError``, nothing else;
- ``check_component(bytes)`` and ``check_relative_path(text)`` never raise;
- ``load_config(root)`` returns a ``Config`` or raises ``ConfigError``;
- ``validate_name(text)`` returns the name or raises ``InvalidNameError``.

Inputs: arbitrary text and bytes, near-misses of the accepted forms, mutations of
real files, random TOML documents, and the corpus in ``corpus/`` (replayed on
every run, crashing inputs included, see ``corpus/README.md``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from helpers import SPEC_CHANGE_FIELDS, SPEC_VERSION_FIELDS
from hypothesis import example, given
from hypothesis import strategies as st

from gitversions.errors import ConfigError, InvalidNameError, InvalidRefError
from gitversions.formats.config import Config, load_config
from gitversions.formats.metadata import Problem, validate_version_toml
from gitversions.model.ids import (
    HashPrefixRef,
    LatestRef,
    NumberRef,
    VersionIdRef,
    parse_ref,
    validate_name,
)
from gitversions.model.paths import (
    check_component,
    check_relative_path,
    is_git_dir_name,
)

pytestmark = pytest.mark.fuzz

CORPUS = Path(__file__).parent / "corpus"
Count = Callable[[str], None]

VALID = (CORPUS / "valid-escaped-message.version.toml").read_text()
any_text = st.text(st.characters(codec=None, blacklist_categories=()), max_size=300)
# Digit strings past Python's int-to-str limit (4300 digits): built as text,
# since the test itself could not print such an int.
huge_digits = st.integers(4290, 4400).map(lambda k: "9" * k)

# -- .version.toml -------------------------------------------------------------------


def check_validator(text: str) -> list[Problem]:
    problems = validate_version_toml(text)
    assert isinstance(problems, list)
    for problem in problems:
        assert isinstance(problem, Problem) and str(problem)
    return problems


@given(text=any_text)
def test_validate_version_toml_never_raises_on_any_text(
    text: str, count_example: Count
) -> None:
    check_validator(text)
    count_example("fuzz examples: .version.toml text")


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A real .version.toml with a few random edits."""
    lines = VALID.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(
            st.sampled_from(["delete", "insert", "duplicate", "replace", "cut"])
        )
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        if action == "delete" and lines:
            del lines[at]
        elif action == "insert":
            lines.insert(at, draw(any_text) + "\n")
        elif action == "duplicate" and lines:
            lines.insert(at, lines[at])
        elif action == "replace" and lines and " = " in lines[at]:
            key = lines[at].split(" = ")[0]
            value = draw(st.one_of(toml_values.map(_dump_value), huge_digits, nested))
            lines[at] = f"{key} = {value}\n"
        elif action == "cut":
            text = "".join(lines)
            cut = draw(st.integers(0, len(text)))
            lines = [text[:cut]]
    return "".join(lines)


def _dump_value(value: object) -> str:
    try:
        return tomlkit.item(value).as_string()
    except Exception:
        return "0"


nested = st.integers(1, 4000).map(lambda k: "[" * k + "]" * k)
scalars = st.one_of(
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=30),
    st.sampled_from(["v1-a2360db", "v2-d9a7c60", "v0-0000000", "latest", "../x", ""]),
    st.datetimes(timezones=st.just(dt.UTC)),
    st.dates(),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(min_size=1, max_size=8), inner, max_size=4),
    ),
    max_leaves=10,
)
VERSION_KEYS = SPEC_VERSION_FIELDS
CHANGE_KEYS = SPEC_CHANGE_FIELDS


@st.composite
def documents(draw: st.DrawFn, keys: dict[str, list[str]]) -> str:
    doc: dict[str, Any] = {}
    for table, known in keys.items():
        if draw(st.booleans()) or not draw(st.booleans()):
            fields = draw(
                st.dictionaries(
                    st.one_of(st.sampled_from(known), st.text(min_size=1, max_size=8)),
                    toml_values,
                    max_size=len(known) + 2,
                )
            )
            doc[table] = fields
    if draw(st.booleans()):
        doc.update(
            draw(
                st.dictionaries(
                    st.text(min_size=1, max_size=8), toml_values, max_size=2
                )
            )
        )
    try:
        return tomlkit.dumps(doc)
    except Exception:  # a value tomlkit cannot write: send what it could
        return str(doc)


@given(
    text=st.one_of(
        mutated(), documents({"version": VERSION_KEYS, "changes": CHANGE_KEYS})
    )
)
def test_validate_version_toml_never_raises_on_near_misses(
    text: str, count_example: Count
) -> None:
    check_validator(text)
    count_example("fuzz examples: .version.toml near misses")


# -- REFs -----------------------------------------------------------------------------

near_refs = st.one_of(
    any_text,
    st.from_regex(r"\Av[0-9]{0,12}(-[0-9a-fA-F]{0,9})?\Z"),
    st.from_regex(r"\Alatest(~-?[0-9]{0,12})*\Z"),
    st.from_regex(r"\A[0-9a-fA-FxX]{0,70}\Z"),
    huge_digits.map(lambda n: f"v{n}"),
    huge_digits.map(lambda n: f"latest~{n}"),
    huge_digits.map(lambda n: f"v{n}-abcdef0"),
)


@given(text=near_refs)
def test_parse_ref_raises_only_invalid_ref_error(
    text: str, count_example: Count
) -> None:
    try:
        ref = parse_ref(text)
    except InvalidRefError as exc:
        assert str(exc).startswith("invalid REF") or "version id" in str(exc)
    else:
        if isinstance(ref, VersionIdRef):
            assert str(ref.id) == text
        elif isinstance(ref, NumberRef):
            assert f"v{ref.number}" == text
        elif isinstance(ref, LatestRef):
            assert text.startswith("latest") and ref.back >= 0
        else:
            assert isinstance(ref, HashPrefixRef) and ref.prefix == text.lower()
            assert 4 <= len(ref.prefix) <= 64
    count_example("fuzz examples: REF parser")


# -- tree paths ----------------------------------------------------------------------


@given(name=st.binary(max_size=60))
@example(name=b".git\xff")
@example(name=".g\u200cit".encode())
def test_check_component_never_raises(name: bytes, count_example: Count) -> None:
    reason = check_component(name)
    assert reason is None or (isinstance(reason, str) and reason)
    assert isinstance(is_git_dir_name(name), bool)
    if reason is None:
        assert name not in (b"", b".", b"..") and b"/" not in name and b"\0" not in name
    count_example("fuzz examples: tree names")


@given(
    path=st.one_of(
        any_text,
        st.lists(
            st.sampled_from(["a", ".", "..", "", ".git", "é", "\udc80", "\ud800"]),
            max_size=6,
        ).map("/".join),
    )
)
@example(path="a/" * 200 + "b")
def test_check_relative_path_never_raises(path: str, count_example: Count) -> None:
    reason = check_relative_path(path)
    assert reason is None or (isinstance(reason, str) and reason)
    if reason is None:
        parts = path.split("/")
        assert (
            path and not path.startswith("/") and ".." not in parts and "" not in parts
        )
    count_example("fuzz examples: relative paths")


# -- names and configuration ----------------------------------------------------------


@given(name=st.one_of(any_text, st.text("abc.-_/", max_size=200)))
def test_validate_name_raises_only_invalid_name_error(
    name: str, count_example: Count
) -> None:
    try:
        assert validate_name(name) == name
    except InvalidNameError as exc:
        assert str(exc).startswith("invalid artifact name")
    else:
        assert "/" not in name and name not in (".", "..") and 1 <= len(name) <= 128
    count_example("fuzz examples: artifact names")


CONFIG_KEYS = {
    "export": ["latest", "auto"],
    "retention": ["keep", "keep_days", "protect"],
}


def load_config_text(data: bytes) -> Config:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "gitversions.toml").write_bytes(data)
        return load_config(Path(tmp))


@given(
    data=st.one_of(
        st.binary(max_size=200),
        any_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
        documents(CONFIG_KEYS).map(str.encode),
        st.dictionaries(
            st.sampled_from(["object_format", "exclude", "lock_timeout", "bogus"]),
            toml_values,
            max_size=3,
        ).map(lambda d: tomlkit.dumps(d).encode()),
        huge_digits.map(lambda d: f"lock_timeout = {d}\n".encode()),
        nested.map(lambda n: f"exclude = {n}\n".encode()),
    )
)
def test_load_config_raises_only_config_error(
    data: bytes, count_example: Count
) -> None:
    try:
        config = load_config_text(data)
    except ConfigError as exc:
        assert "gitversions.toml" in str(exc)
    else:
        assert isinstance(config, Config)
        assert math.isfinite(config.lock_timeout) and config.lock_timeout >= 0
    count_example("fuzz examples: gitversions.toml")


# -- the corpus ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", sorted(CORPUS.glob("*.version.toml")), ids=lambda p: p.name
)
def test_version_toml_corpus(path: Path, figures: Any) -> None:
    problems = check_validator(path.read_text("utf-8"))
    if path.name.startswith("valid-"):
        assert problems == []
    elif not path.name.startswith("edge-"):
        assert problems, f"{path.name} should have problems"
    figures["fuzz: corpus inputs replayed"] += 1


@pytest.mark.parametrize(
    "path", sorted(CORPUS.glob("*.gitversions.toml")), ids=lambda p: p.name
)
def test_config_corpus(path: Path, figures: Any) -> None:
    try:
        load_config_text(path.read_bytes())
    except ConfigError:
        assert not path.name.startswith("valid-")
    else:
        assert path.name.startswith("valid-")
    figures["fuzz: corpus inputs replayed"] += 1


@pytest.mark.parametrize(
    "text", json.loads((CORPUS / "refs.json").read_text()), ids=lambda t: repr(t[:24])
)
def test_ref_corpus(text: str, figures: Any) -> None:
    with contextlib.suppress(InvalidRefError):
        parse_ref(text)
    figures["fuzz: corpus inputs replayed"] += 1


@pytest.mark.parametrize(
    "text", json.loads((CORPUS / "paths.json").read_text()), ids=lambda t: repr(t[:24])
)
def test_path_corpus(text: str, figures: Any) -> None:
    for reason in (
        check_relative_path(text),
        check_component(text.encode("utf-8", "surrogatepass")),
    ):
        assert reason is None or isinstance(reason, str)
    figures["fuzz: corpus inputs replayed"] += 1

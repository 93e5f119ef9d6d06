"""``.version.toml``: render from a version, parse, and validate.

The file is rendered from the commit alone, so it is byte-identical whichever
clone renders it::

    [version]
    id = "v2-8be01d4"
    number = 2
    timestamp = "2025-11-30T10:00:00Z"
    hash = "8be01d4..."               # 64 hex digits
    commit = "..."                    # 40 or 64 hex digits
    source = "anthropics/skills/canvas-design"
    message = "..."
    parent_versions = ["v1-3f2a9c1"]

    [changes]                         # against the first parent
    files_changed = ["SKILL.md", "scripts/process.js"]
    added = ["scripts/process.js"]
    modified = ["SKILL.md"]
    deleted = []
    summary = "1 added, 1 modified"
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gitversions.errors import MetadataError
from gitversions.model.ids import MAX_NUMBER, VersionId
from gitversions.model.paths import VERSION_FILENAME, check_relative_path
from gitversions.model.version import Changes, Version

__all__ = [
    "VERSION_FILENAME",
    "Problem",
    "parse_version_toml",
    "render_version_toml",
    "validate_version_toml",
    "version_record",
]

_VERSION_FIELDS = {
    "id": str,
    "number": int,
    "timestamp": str,
    "hash": str,
    "commit": str,
    "source": str,
    "message": str,
    "parent_versions": list,
}
_CHANGE_FIELDS = {
    "files_changed": list,
    "added": list,
    "modified": list,
    "deleted": list,
    "summary": str,
}
_NAMES: dict[type, str] = {
    str: "a string",
    int: "an integer",
    list: "an array",
    bool: "a boolean",
    float: "a float",
    dict: "a table",
}


def _type_name(value: object) -> str:
    return _NAMES.get(type(value), type(value).__name__)


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)


def version_record(version: Version, changes: Changes) -> dict[str, Any]:
    """Return a version's fields as one flat mapping (the ``--json`` form).

    Args:
        version: The version.
        changes: Its changes against the first parent.

    Returns:
        ``id``, ``number``, ``timestamp``, ``hash``, ``commit``, ``source``,
        ``message``, ``parent_versions``, ``files_changed``, ``added``,
        ``modified``, ``deleted``, ``summary``.
    """
    return {
        "id": str(version.id),
        "number": version.number,
        "timestamp": version.timestamp,
        "hash": version.hash,
        "commit": version.commit,
        "source": version.source,
        "message": version.message,
        "parent_versions": [str(p) for p in version.parent_versions],
        "files_changed": list(changes.files_changed),
        "added": list(changes.added),
        "modified": list(changes.modified),
        "deleted": list(changes.deleted),
        "summary": changes.summary,
    }


# TOML basic-string escapes: the short forms TOML has, \uXXXX for the other
# control characters, as tomlkit writes them (so the bytes never changed).
_STRING_ESCAPES = {code: f"\\u{code:04x}" for code in (*range(0x20), 0x7F)} | {
    ord("\b"): "\\b",
    ord("\t"): "\\t",
    ord("\n"): "\\n",
    ord("\f"): "\\f",
    ord("\r"): "\\r",
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def _toml_string(text: str) -> str:
    return f'"{text.translate(_STRING_ESCAPES)}"'


def _toml_value(value: str | int | list[str]) -> str:
    """One value of ``.version.toml``: a string, an integer or a string array."""
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, int):
        return str(value)
    return f"[{', '.join(map(_toml_string, value))}]"


def render_version_toml(version: Version, changes: Changes) -> str:
    """Render ``.version.toml`` for a version (deterministic).

    The text is written directly, in time linear in the number of paths (a
    tomlkit document took quadratic time to build its arrays), and is byte for
    byte what tomlkit renders from the same tables.

    Args:
        version: The version.
        changes: Its changes against the first parent.

    Returns:
        The file's text.
    """
    record = version_record(version, changes)
    lines = ["[version]"]
    lines.extend(f"{key} = {_toml_value(record[key])}" for key in _VERSION_FIELDS)
    lines += ["", "[changes]"]
    lines.extend(f"{key} = {_toml_value(record[key])}" for key in _CHANGE_FIELDS)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a ``.version.toml``: where, and what."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


def parse_version_toml(text: str) -> dict[str, Any]:
    """Parse ``.version.toml`` text into plain Python values.

    Raises:
        MetadataError: If the text is not TOML.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MetadataError(f"not valid TOML: {exc}") from exc
    except RecursionError:
        raise MetadataError("not valid TOML: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise MetadataError(f"not valid TOML: {exc}") from exc


def _check_paths(field: str, value: list[Any], problems: list[Problem]) -> list[str]:
    paths: list[str] = []
    for index, item in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(item, str):
            problems.append(
                Problem(where, f"must be a string, not {type(item).__name__}")
            )
            continue
        reason = check_relative_path(item)
        if reason:
            problems.append(
                Problem(where, f"{item!r} is not a safe relative path ({reason})")
            )
        paths.append(item)
    if paths != sorted(paths):
        problems.append(Problem(field, "paths must be sorted"))
    if len(set(paths)) != len(paths):
        problems.append(Problem(field, "paths must not repeat"))
    return paths


def _check_version(  # noqa: C901 - one flat check per field of SPEC §4, read top to bottom
    table: dict[str, Any], problems: list[Problem]
) -> None:
    for key, kind in _VERSION_FIELDS.items():
        where = f"version.{key}"
        if key not in table:
            problems.append(Problem(where, "missing"))
            continue
        value = table[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            problems.append(
                Problem(
                    where,
                    f"must be {_NAMES[kind]}, not {_type_name(value)}",
                )
            )
    for key in sorted(set(table) - set(_VERSION_FIELDS)):
        problems.append(Problem(f"version.{key}", "unknown field"))
    number, hash_, id_ = table.get("number"), table.get("hash"), table.get("id")
    # Checks that combine fields run only on fields of the right type, so one
    # wrong value is reported once, not again by every rule that uses it.
    valid_number = (
        number
        if isinstance(number, int)
        and not isinstance(number, bool)
        and 1 <= number <= MAX_NUMBER
        else None
    )
    if isinstance(number, int) and not isinstance(number, bool) and number > MAX_NUMBER:
        problems.append(Problem("version.number", f"must be at most {MAX_NUMBER}"))
    if isinstance(number, int) and not isinstance(number, bool) and number < 1:
        problems.append(Problem("version.number", f"must be 1 or more, not {number}"))
    hash_ok = (
        isinstance(hash_, str) and re.fullmatch(r"[0-9a-f]{64}", hash_) is not None
    )
    if isinstance(hash_, str) and not hash_ok:
        problems.append(Problem("version.hash", "must be 64 lowercase hex digits"))
    if isinstance(id_, str):
        if not VersionId.is_valid(id_):
            problems.append(
                Problem("version.id", f"{id_!r} is not of the form v<n>-<7 hex>")
            )
        elif hash_ok and valid_number is not None:
            expected = str(VersionId.for_hash(valid_number, str(hash_)))
            if id_ != expected:
                problems.append(
                    Problem(
                        "version.id",
                        f"{id_!r} does not match number and hash ({expected!r})",
                    )
                )
    stamp = table.get("timestamp")
    if isinstance(stamp, str):
        try:
            if not _RFC3339.fullmatch(stamp):
                raise ValueError
            datetime.fromisoformat(stamp.replace("z", "Z"))
        except ValueError:
            problems.append(
                Problem("version.timestamp", f"{stamp!r} is not an RFC 3339 time")
            )
    commit = table.get("commit")
    if isinstance(commit, str) and not re.fullmatch(
        r"[0-9a-f]{40}|[0-9a-f]{64}", commit
    ):
        problems.append(
            Problem("version.commit", "must be 40 or 64 lowercase hex digits")
        )
    parents = table.get("parent_versions")
    if isinstance(parents, list):
        for index, item in enumerate(parents):
            where = f"version.parent_versions[{index}]"
            if not isinstance(item, str) or not VersionId.is_valid(item):
                problems.append(Problem(where, f"{item!r} is not a version id"))
            elif (
                valid_number is not None
                and VersionId.parse(item).number >= valid_number
            ):
                problems.append(
                    Problem(
                        where, f"{item!r} is not older than version number {number}"
                    )
                )


def _check_changes(table: dict[str, Any], problems: list[Problem]) -> None:
    for key, kind in _CHANGE_FIELDS.items():
        where = f"changes.{key}"
        if key not in table:
            problems.append(Problem(where, "missing"))
        elif not isinstance(table[key], kind):
            problems.append(
                Problem(
                    where,
                    f"must be {_NAMES[kind]}, not {_type_name(table[key])}",
                )
            )
    for key in sorted(set(table) - set(_CHANGE_FIELDS)):
        problems.append(Problem(f"changes.{key}", "unknown field"))
    groups: dict[str, list[str]] = {}
    well_typed = True
    for key in ("files_changed", "added", "modified", "deleted"):
        value = table.get(key)
        if isinstance(value, list):
            groups[key] = _check_paths(f"changes.{key}", value, problems)
            well_typed = well_typed and all(isinstance(item, str) for item in value)
    if len(groups) == 4 and well_typed:
        union = sorted([*groups["added"], *groups["modified"], *groups["deleted"]])
        if union != groups["files_changed"]:
            problems.append(
                Problem(
                    "changes.files_changed",
                    "must list exactly added + modified + deleted",
                )
            )
        summary = table.get("summary")
        expected = Changes(
            tuple(groups["added"]), tuple(groups["modified"]), tuple(groups["deleted"])
        ).summary
        if isinstance(summary, str) and summary != expected:
            problems.append(
                Problem("changes.summary", f"{summary!r} should be {expected!r}")
            )


def validate_version_toml(text: str) -> list[Problem]:
    """Check a ``.version.toml`` and name every problem found.

    Args:
        text: The file's content.

    Returns:
        The problems, empty when the file is valid.
    """
    try:
        data = parse_version_toml(text)
    except MetadataError as exc:
        return [Problem("file", str(exc))]
    problems: list[Problem] = []
    for key in sorted(set(data) - {"version", "changes"}):
        problems.append(Problem(key, "unknown table"))
    for name, check in (("version", _check_version), ("changes", _check_changes)):
        table = data.get(name)
        if table is None:
            problems.append(Problem(name, "missing table"))
        elif not isinstance(table, dict):
            problems.append(Problem(name, "must be a table"))
        else:
            check(table, problems)
    return problems

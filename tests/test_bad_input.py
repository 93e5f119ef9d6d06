"""Bad input gets one clear line on stderr, the right exit status, and loses nothing.

Every case runs against a store that already holds an artifact with two
versions (materialized, with ``latest``), and checks that the store's directory
listing -- every path, mode and byte -- is the same before and after.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helpers
import pytest
from click.testing import CliRunner, Result

from gitversions.cli import cli
from gitversions.store import Store

NAME = "canvas-design"
T0 = 1_700_000_000

Invoke = Callable[..., Result]
Listing = Callable[[Path], helpers.Listing]


@pytest.fixture(autouse=True)
def _histories_pass_fsck(tmp_path: Path) -> Iterator[None]:
    """Every history a test writes must pass ``git fsck --strict``."""
    yield
    helpers.fsck_histories_under(tmp_path, check_stderr=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding NAME with two versions, exported (built once per module)."""
    base = tmp_path_factory.mktemp("template")
    store = Store(base / "store")
    store.init()
    src = base / "src" / NAME
    (src / "scripts").mkdir(parents=True)
    (src / "SKILL.md").write_text("# Canvas design\n\nDraw things.\n")
    (src / "reference.md").write_text("Supporting notes.\n")
    (src / "scripts" / "process.js").write_text("console.log('process');\n")
    (src / "scripts" / "process.js").chmod(0o755)
    store.snapshot(NAME, src, message="first", timestamp=T0)
    (src / "SKILL.md").write_text("# Canvas design\n\nDraw better things.\n")
    (src / "examples.md").write_text("An example.\n")
    store.snapshot(NAME, src, message="second", timestamp=T0 + 60)
    artifact = store.artifact(NAME)
    artifact.export()
    artifact.close()
    # What every user does next: read it back (this also settles any caches).
    runner = CliRunner()
    for args in (["log", NAME], ["verify"], ["--json", "list"]):
        result = runner.invoke(cli, ["--root", str(store.root), *args])
        assert result.exit_code == 0, result.output
    return store.root


@pytest.fixture
def populated(template: Path, store_root: Path) -> Path:
    """A fresh copy of the template store at ``store_root``."""
    shutil.copytree(template, store_root, symlinks=True)
    return store_root


def refused(
    invoke: Invoke,
    listing: Listing,
    root: Path,
    *args: str,
    status: int = 2,
) -> str:
    """Run a command that must fail; return its one error line."""
    before = listing(root)
    result = invoke(*args)
    assert result.exit_code == status, (
        f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        f"\n{result.exception!r}"
    )
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert lines[0].startswith("gitversions: error: ")
    assert result.stdout == ""
    after = listing(root)
    assert after == before, describe_change(before, after)
    return lines[0]


def describe_change(before: helpers.Listing, after: helpers.Listing) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(p for p in set(before) & set(after) if before[p] != after[p])
    return f"store changed: added {added}, removed {removed}, changed {changed}"


# -- artifact names -------------------------------------------------------------

BAD_NAMES = [
    pytest.param("../x", id="dotdot"),
    pytest.param("/abs", id="absolute"),
    pytest.param("a/b", id="slash"),
    pytest.param("", id="empty"),
    pytest.param("a" * 300, id="300-chars"),
    pytest.param("-rf", id="dash"),
    pytest.param(".hidden", id="dot"),
    pytest.param("a b", id="space"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("naïve", id="non-ascii"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_invalid_name_on_snapshot(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    make_skill: Callable[..., Path],
    name: str,
    json_flag: bool,
) -> None:
    src = make_skill("other", {"SKILL.md": "# other\n"})
    args = ["--json"] if json_flag else []
    line = refused(invoke, listing, populated, *args, "snapshot", "--", name, str(src))
    assert "invalid artifact name" in line


@pytest.mark.parametrize("name", BAD_NAMES[:7])
@pytest.mark.parametrize(
    "command",
    [
        ["log"],
        ["show"],
        ["diff", "{name}", "v1"],
        ["export"],
        ["restore", "{name}", "v1", "{dest}"],
        ["verify"],
        ["gc"],
    ],
    ids=["log", "show", "diff", "export", "restore", "verify", "gc"],
)
def test_invalid_name_on_reading_commands(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    name: str,
    command: list[str],
) -> None:
    dest = tmp_path / "dest"
    if len(command) == 1:
        args = [command[0], "--", name]
    else:
        args = [
            command[0],
            "--",
            *(a.format(name=name, dest=dest) for a in command[1:]),
        ]
    line = refused(invoke, listing, populated, *args)
    assert "invalid artifact name" in line
    assert not dest.exists()


def test_long_name_message_is_short(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    line = refused(invoke, listing, populated, "log", "b" * 300)
    assert "300 characters" in line
    assert len(line) < 200


# -- SRC ----------------------------------------------------------------------


@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_missing_src(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path, json_flag: bool
) -> None:
    missing = tmp_path / "nowhere" / "skill"
    args = ["--json"] if json_flag else []
    line = refused(invoke, listing, populated, *args, "snapshot", NAME, str(missing))
    assert str(missing) in line


def test_missing_src_for_new_artifact(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    refused(invoke, listing, populated, "snapshot", "fresh", str(tmp_path / "nope"))
    assert not (populated / "artifacts" / "fresh").exists()


def test_missing_src_for_hash(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    line = refused(invoke, listing, populated, "hash", str(tmp_path / "nope"))
    assert "nope" in line


def _fail_second_open(monkeypatch: pytest.MonkeyPatch, src: Path) -> list[str]:
    """Make the second file opened under ``src`` unreadable (EACCES)."""
    real_open = os.open
    opened: list[str] = []
    base = os.fsencode(src)

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        raw = os.fsencode(path)
        if raw.startswith(base + b"/") or raw == base:
            opened.append(os.fsdecode(raw))
            if len(opened) == 2:
                raise PermissionError(13, "Permission denied", os.fsdecode(raw))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    return opened


@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_unreadable_file_in_src(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    json_flag: bool,
) -> None:
    """A file that cannot be read: nothing of the half-hashed content stays."""
    src = tmp_path / "unreadable"
    src.mkdir()
    # Content the store has never seen, so reading the first file stores a blob.
    for i, name in enumerate(["SKILL.md", "notes.md", "more.md"]):
        (src / name).write_text(f"brand new content {i}\n")
    opened = _fail_second_open(monkeypatch, src)
    args = ["--json"] if json_flag else []
    line = refused(invoke, listing, populated, *args, "snapshot", NAME, str(src))
    monkeypatch.undo()
    # Files are read on a thread pool, so a third may have been opened too.
    assert len(opened) >= 2
    assert Path(opened[1]).name in line
    assert "Permission denied" in line
    # Once readable again, the same snapshot succeeds as v3.
    result = invoke("--json", "snapshot", NAME, str(src))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["number"] == 3


def test_unreadable_file_in_src_of_new_artifact(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first snapshot that fails leaves no trace of the artifact."""
    src = tmp_path / "unreadable"
    src.mkdir()
    for i, name in enumerate(["SKILL.md", "notes.md"]):
        (src / name).write_text(f"content {i}\n")
    _fail_second_open(monkeypatch, src)
    refused(invoke, listing, populated, "snapshot", "fresh", str(src))
    monkeypatch.undo()
    assert "fresh" not in json.loads(invoke("--json", "list").stdout)


def test_unreadable_single_file_src(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cmd = tmp_path / "cmds" / "review.md"
    cmd.parent.mkdir()
    cmd.write_text("Review.\n")
    store = Store(populated)
    store.snapshot("review", cmd, timestamp=T0)
    cmd.write_text("Review again.\n")
    real_open = os.open

    def fake_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if os.fsdecode(path) == str(cmd):
            raise PermissionError(13, "Permission denied", str(cmd))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake_open)
    line = refused(invoke, listing, populated, "snapshot", "review", str(cmd))
    assert "review.md" in line


def test_unreadable_directory_in_src(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    make_skill: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = make_skill("other", {"private/notes.md": "secret\n"})
    private = os.fsencode(src / "private")
    real_scandir = os.scandir

    def fake_scandir(path: Any = ".") -> Any:
        if os.fsencode(path) == private:
            raise PermissionError(13, "Permission denied", os.fsdecode(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", fake_scandir)
    line = refused(invoke, listing, populated, "snapshot", NAME, str(src))
    assert "private" in line


def test_fifo_in_src(
    invoke: Invoke, listing: Listing, populated: Path, make_skill: Callable[..., Path]
) -> None:
    src = make_skill("other")
    os.mkfifo(src / "scripts" / "pipe")
    line = refused(invoke, listing, populated, "snapshot", NAME, str(src))
    assert "scripts/pipe" in line
    assert "fifo" in line


def test_fifo_as_src(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.md"
    os.mkfifo(fifo)
    line = refused(invoke, listing, populated, "snapshot", "pipe", str(fifo))
    assert "fifo" in line
    assert not (populated / "artifacts" / "pipe").exists()


def test_unix_socket_in_src(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    make_skill: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = make_skill("other")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with monkeypatch.context() as m:
            m.chdir(src)  # a short relative path: sun_path is limited to ~108 bytes
            sock.bind("agent.sock")
        line = refused(invoke, listing, populated, "snapshot", NAME, str(src))
    finally:
        sock.close()
    assert "agent.sock" in line
    assert "socket" in line


def test_device_as_src(invoke: Invoke, listing: Listing, populated: Path) -> None:
    line = refused(invoke, listing, populated, "snapshot", NAME, os.devnull)
    assert "device" in line


def test_special_file_with_newline_in_name_stays_one_line(
    invoke: Invoke, listing: Listing, populated: Path, make_skill: Callable[..., Path]
) -> None:
    src = make_skill("other")
    os.mkfifo(src / "bad\nname")
    refused(invoke, listing, populated, "snapshot", NAME, str(src))


def test_missing_src_with_newline_in_path_stays_one_line(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    refused(invoke, listing, populated, "snapshot", NAME, str(tmp_path / "no\nsuch"))


def test_symlinked_src_root(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    make_skill: Callable[..., Path],
    tmp_path: Path,
) -> None:
    real = make_skill("other")
    link = tmp_path / "link-to-skill"
    link.symlink_to(real, target_is_directory=True)
    line = refused(invoke, listing, populated, "snapshot", NAME, str(link))
    assert "symbolic link" in line


def test_symlinked_single_file_src(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    target = tmp_path / "real.md"
    target.write_text("x\n")
    link = tmp_path / "review.md"
    link.symlink_to(target)
    line = refused(invoke, listing, populated, "snapshot", "review", str(link))
    assert "symbolic link" in line


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("back\\slash.md", id="backslash"),
        pytest.param("git~1", id="git-8.3-alias"),
        pytest.param(".git.", id="git-trailing-dot"),
    ],
)
def test_unsafe_name_in_src(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    make_skill: Callable[..., Path],
    bad: str,
) -> None:
    src = make_skill("other")
    (src / "scripts" / bad).write_text("x\n")
    line = refused(invoke, listing, populated, "snapshot", NAME, str(src))
    assert repr(f"scripts/{bad}") in line or f"scripts/{bad}" in line


def test_non_utf8_name_in_src(
    invoke: Invoke, listing: Listing, populated: Path, make_skill: Callable[..., Path]
) -> None:
    src = make_skill("other")
    with open(os.path.join(os.fsencode(src), b"caf\xe9.md"), "wb") as f:
        f.write(b"x\n")
    line = refused(invoke, listing, populated, "snapshot", NAME, str(src))
    assert "UTF-8" in line


def test_reserved_version_toml_in_src(
    invoke: Invoke, listing: Listing, populated: Path, make_skill: Callable[..., Path]
) -> None:
    src = make_skill("other", {".version.toml": "[version]\n"})
    line = refused(invoke, listing, populated, "snapshot", NAME, str(src))
    assert ".version.toml" in line


def test_file_src_for_directory_artifact(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    single = tmp_path / "SKILL.md"
    single.write_text("# just a file\n")
    line = refused(invoke, listing, populated, "snapshot", NAME, str(single))
    assert "single file" in line


@pytest.mark.parametrize(
    "label", ["two\nlines", "", "   "], ids=["newline", "empty", "blank"]
)
def test_bad_source_label(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    make_skill: Callable[..., Path],
    label: str,
) -> None:
    src = make_skill("other", {"SKILL.md": "# changed\n"})
    refused(invoke, listing, populated, "snapshot", NAME, str(src), "--source", label)


# -- unknown artifacts and refs ---------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["log", "nope"],
        ["show", "nope"],
        ["show", "nope", "v1"],
        ["diff", "nope", "v1"],
        ["export", "nope"],
        ["export", "nope", "--format", "zip", "--to", "{tmp}/z"],
        ["restore", "nope", "v1", "{tmp}/dest"],
        ["verify", "nope"],
        ["gc", "nope"],
    ],
    ids=lambda a: "-".join(a[:1] + a[2:3]),
)
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_unknown_artifact(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    args: list[str],
    json_flag: bool,
) -> None:
    argv = [a.format(tmp=tmp_path) for a in args]
    flags = ["--json"] if json_flag else []
    line = refused(invoke, listing, populated, *flags, *argv)
    assert "nope" in line
    assert NAME in line  # the hint lists the known artifacts
    assert not (tmp_path / "dest").exists()
    assert not (tmp_path / "z").exists()


UNKNOWN_REFS = [
    pytest.param("v9", id="number"),
    pytest.param("v2-0000000", id="full-id-wrong-hash"),
    pytest.param("v9-abcdef0", id="full-id"),
    pytest.param("0000000000", id="hex-prefix"),
    pytest.param("latest~2", id="latest-too-far"),
    pytest.param("latest~100", id="latest-far"),
]
MALFORMED_REFS = [
    pytest.param("v0", id="v0"),
    pytest.param("xyz", id="word"),
    pytest.param("abc", id="3-hex"),
    pytest.param("latest~-1", id="negative"),
    pytest.param("latest~x", id="latest-word"),
    pytest.param("HEAD", id="HEAD"),
    pytest.param("v1..v2", id="range"),
    pytest.param("v1-ABCDEF0", id="upper-id"),
    pytest.param("main", id="branch"),
    pytest.param("", id="empty"),
    pytest.param("a" * 500, id="long"),
]


@pytest.mark.parametrize("ref", UNKNOWN_REFS)
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_unknown_ref_on_show(
    invoke: Invoke, listing: Listing, populated: Path, ref: str, json_flag: bool
) -> None:
    flags = ["--json"] if json_flag else []
    line = refused(invoke, listing, populated, *flags, "show", NAME, ref)
    assert ref in line


@pytest.mark.parametrize("ref", MALFORMED_REFS)
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_malformed_ref_on_show(
    invoke: Invoke, listing: Listing, populated: Path, ref: str, json_flag: bool
) -> None:
    flags = ["--json"] if json_flag else []
    line = refused(invoke, listing, populated, *flags, "show", NAME, ref)
    assert "REF" in line or "unknown version" in line
    assert len(line) < 300


@pytest.mark.parametrize("ref", ["v9", "xyz", "latest~5"])
@pytest.mark.parametrize(
    "command",
    [
        ["diff", NAME, "{ref}"],
        ["diff", NAME, "v1", "{ref}"],
        ["diff", NAME, "{ref}", "v1", "--patch"],
        ["export", NAME, "{ref}"],
        ["export", NAME, "v1", "{ref}", "--to", "{tmp}/out"],
        ["export", NAME, "{ref}", "--format", "tar.gz", "--to", "{tmp}/out"],
        ["restore", NAME, "{ref}", "{tmp}/dest"],
    ],
    ids=["diff", "diff-second", "diff-patch", "export", "export-to", "tar", "restore"],
)
def test_bad_ref_on_other_commands(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    ref: str,
    command: list[str],
) -> None:
    argv = [a.format(ref=ref, tmp=tmp_path) for a in command]
    line = refused(invoke, listing, populated, *argv)
    assert ref in line
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "dest").exists()


# -- restore targets ---------------------------------------------------------------


def test_restore_into_the_store_is_refused(
    invoke: Invoke, listing: Listing, populated: Path
) -> None:
    for dest in (
        populated,
        populated / "artifacts",
        populated / "artifacts" / NAME / "versions",
        populated / "artifacts" / NAME / "history.git",
    ):
        line = refused(invoke, listing, populated, "restore", NAME, "v1", str(dest))
        assert "overlaps" in line


def test_restore_directory_over_a_file_is_refused(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "a-file"
    dest.write_text("keep me\n")
    refused(invoke, listing, populated, "restore", NAME, "v1", str(dest), "--force")
    assert dest.read_text() == "keep me\n"


# -- gitversions.toml ---------------------------------------------------------------

BAD_CONFIGS = [
    pytest.param("this is = = not toml\n", id="not-toml"),
    pytest.param('object_format = "sha1"\ncolour = "blue"\n', id="unknown-key"),
    pytest.param('[export]\nlatest = "auto"\nspeed = 3\n', id="unknown-export-key"),
    pytest.param('lock_timeout = "soon"\n', id="wrong-type-timeout"),
    pytest.param('exclude = "*.pyc"\n', id="wrong-type-exclude"),
    pytest.param('object_format = "md5"\n', id="bad-format"),
    pytest.param("lock_timeout = -1\n", id="negative-timeout"),
    pytest.param("export = 3\n", id="export-not-table"),
    pytest.param("[export]\nauto = 1\n", id="wrong-type-auto"),
    pytest.param('[export]\nlatest = "hardlink"\n', id="bad-latest"),
]


@pytest.mark.parametrize("text", BAD_CONFIGS)
@pytest.mark.parametrize(
    "command",
    [
        ["snapshot", NAME, "{src}"],
        ["snapshot", "fresh", "{src}"],
        ["init"],
        ["export", NAME],
        ["hash", "{src}"],
        ["list"],
        ["log", NAME],
        ["show", NAME],
    ],
    ids=["snapshot", "snapshot-new", "init", "export", "hash", "list", "log", "show"],
)
def test_malformed_config(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    make_skill: Callable[..., Path],
    text: str,
    command: list[str],
) -> None:
    (populated / "gitversions.toml").write_text(text)
    src = make_skill("other", {"SKILL.md": "# changed\n"})
    argv = [a.format(src=src) for a in command]
    # Malformed configuration is bad input (SPEC §6): exit 2, for every command.
    line = refused(invoke, listing, populated, *argv, status=2)
    assert "gitversions.toml" in line
    assert (populated / "gitversions.toml").read_text() == text


def test_config_not_utf8(
    invoke: Invoke, listing: Listing, populated: Path, make_skill: Callable[..., Path]
) -> None:
    (populated / "gitversions.toml").write_bytes(b'exclude = ["\xff"]\n')
    src = make_skill("other", {"SKILL.md": "# changed\n"})
    line = refused(invoke, listing, populated, "snapshot", NAME, str(src), status=2)
    assert "gitversions.toml" in line


# -- .version.toml given to validate ----------------------------------------------

GOOD_VERSION_TOML = """\
[version]
id = "v2-8be01d4"
number = 2
timestamp = "2025-11-30T10:00:00Z"
hash = "8be01d4{rest}"
commit = "{commit}"
source = "anthropics/skills/canvas-design"
message = "tighten the prompt"
parent_versions = ["v1-3f2a9c1"]

[changes]
files_changed = ["SKILL.md", "scripts/process.js"]
added = ["scripts/process.js"]
modified = ["SKILL.md"]
deleted = []
summary = "1 added, 1 modified"
""".format(rest="0" * 57, commit="a" * 40)


def _mutate(old: str, new: str) -> str:
    assert old in GOOD_VERSION_TOML
    return GOOD_VERSION_TOML.replace(old, new)


BAD_VERSION_TOMLS = [
    pytest.param("[version\nid = 1\n", "file", id="not-toml"),
    pytest.param(
        _mutate('id = "v2-8be01d4"', 'id = "v3-8be01d4"'), "version.id", id="id-number"
    ),
    pytest.param(
        _mutate('id = "v2-8be01d4"', 'id = "v2-1234567"'), "version.id", id="id-hash"
    ),
    pytest.param(
        _mutate('id = "v2-8be01d4"', 'id = "two"'), "version.id", id="id-form"
    ),
    pytest.param(
        _mutate("number = 2", 'number = "2"'), "version.number", id="number-type"
    ),
    pytest.param(
        _mutate("number = 2", "number = true"), "version.number", id="number-bool"
    ),
    pytest.param(
        _mutate('"2025-11-30T10:00:00Z"', '"30/11/2025 10:00"'),
        "version.timestamp",
        id="timestamp",
    ),
    pytest.param(
        _mutate('"2025-11-30T10:00:00Z"', '"2025-13-45T10:00:00Z"'),
        "version.timestamp",
        id="timestamp-range",
    ),
    pytest.param(
        _mutate('hash = "8be01d4', 'hash = "8BE01D4'), "version.hash", id="hash-upper"
    ),
    pytest.param(_mutate("0" * 57, "0" * 20), "version.hash", id="hash-short"),
    pytest.param(_mutate("a" * 40, "xyz"), "version.commit", id="commit"),
    pytest.param(
        _mutate('["v1-3f2a9c1"]', '["v1"]'), "version.parent_versions", id="parent-form"
    ),
    pytest.param(
        _mutate('["v1-3f2a9c1"]', '["v5-3f2a9c1"]'),
        "version.parent_versions",
        id="parent-newer",
    ),
    pytest.param(
        _mutate('source = "anthropics', 'sauce = "anthropics'),
        "version.source",
        id="missing-source",
    ),
    pytest.param(
        _mutate('modified = ["SKILL.md"]', 'modified = ["SKILL.md"]\nextra = 1'),
        "changes.extra",
        id="unknown-field",
    ),
    pytest.param(
        _mutate('added = ["scripts/process.js"]', 'added = ["../process.js"]'),
        "changes.added",
        id="path-dotdot",
    ),
    pytest.param(
        _mutate('added = ["scripts/process.js"]', 'added = ["/etc/passwd"]'),
        "changes.added",
        id="path-absolute",
    ),
    pytest.param(
        _mutate(
            'files_changed = ["SKILL.md", "scripts/process.js"]',
            'files_changed = ["scripts/process.js", "SKILL.md"]',
        ),
        "changes.files_changed",
        id="unsorted",
    ),
    pytest.param(
        _mutate('summary = "1 added, 1 modified"', 'summary = "2 added"'),
        "changes.summary",
        id="summary",
    ),
    pytest.param(
        GOOD_VERSION_TOML.split("[changes]")[0], "changes", id="missing-changes"
    ),
]


def test_good_version_toml_passes(
    invoke: Invoke, listing: Listing, populated: Path, tmp_path: Path
) -> None:
    path = tmp_path / "good.toml"
    path.write_text(GOOD_VERSION_TOML)
    result = invoke("validate", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{path}: ok\n"


@pytest.mark.parametrize(("text", "field"), BAD_VERSION_TOMLS)
@pytest.mark.parametrize("json_flag", [False, True], ids=["text", "json"])
def test_malformed_version_toml(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    text: str,
    field: str,
    json_flag: bool,
) -> None:
    bad = tmp_path / "bad" / ".version.toml"
    bad.parent.mkdir()
    bad.write_text(text)
    good = tmp_path / "good.toml"
    good.write_text(GOOD_VERSION_TOML)
    before = listing(populated)
    flags = ["--json"] if json_flag else []
    result = invoke(*flags, "validate", str(good), str(bad))
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stderr == ""
    if json_flag:
        report = json.loads(result.stdout)
        assert report[str(good)] == {"ok": True, "problems": []}
        assert report[str(bad)]["ok"] is False
        problems = report[str(bad)]["problems"]
    else:
        lines = result.stdout.splitlines()
        assert f"{good}: ok" in lines
        assert all(line.startswith((f"{good}: ", f"{bad}: ")) for line in lines)
        problems = [
            line.removeprefix(f"{bad}: ")
            for line in lines
            if line.startswith(f"{bad}:")
        ]
    assert problems
    assert any(p.startswith(f"{field}") for p in problems), problems
    assert listing(populated) == before
    assert bad.read_text() == text


@pytest.mark.parametrize(
    "content", [None, b"\xff\xfe not utf-8"], ids=["missing", "binary"]
)
def test_validate_unreadable_file(
    invoke: Invoke,
    listing: Listing,
    populated: Path,
    tmp_path: Path,
    content: bytes | None,
) -> None:
    path = tmp_path / "v.toml"
    if content is not None:
        path.write_bytes(content)
    line = refused(invoke, listing, populated, "validate", str(path))
    assert str(path) in line


# -- usage errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["snapshot", NAME],
        ["diff", NAME],
        ["restore", NAME, "v1"],
        ["export", NAME, "--format", "rar"],
        ["frobnicate"],
        ["log", NAME, "--no-such-option"],
    ],
    ids=["snapshot", "diff", "restore", "format", "command", "option"],
)
def test_usage_errors(
    invoke: Invoke, listing: Listing, populated: Path, args: list[str]
) -> None:
    before = listing(populated)
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "Error" in result.stderr
    assert listing(populated) == before


def test_store_still_works_after_all_that(
    invoke: Invoke, populated: Path, make_skill: Callable[..., Path]
) -> None:
    """The fixture's store is usable: the refusals above are not vacuous."""
    log = json.loads(invoke("--json", "log", NAME).stdout)
    assert [v["number"] for v in log] == [2, 1]
    src = make_skill("third", {"SKILL.md": "# third\n"})
    result = invoke("--json", "snapshot", NAME, str(src))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parent_versions"] == [log[0]["id"]]

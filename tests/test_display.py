"""Names and free text reach the terminal inert; ``--json`` keeps them exact.

File paths are quoted as git quotes them with ``core.quotePath=true`` (the
real git CLI is the judge); messages, source labels and error messages get
their control characters escaped.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from helpers import ok, ok_json, write_tree

from gitversions.display import printable, quote_path

Invoke = Callable[..., Result]
NAME = "demo"

#: File names that a history may hold: each one needs quoting, but one.
NAMES = [
    "x\nM  SKILL.md",
    "tab\there.md",
    'quo"te.md',
    "back\\slash.md",
    "esc\x1b[2Jclear.md",
    "bell\x07\x08\x0b\x0c\r.md",
    "ctl\x01\x1f\x7f.md",
    "caf\u00e9-\u65e5\u672c.md",
    "c1\u009b2J.md",
    "sp ace.md",
    "plain.md",
]
#: What a snapshot takes (it refuses a backslash; a fetched history may not).
SNAPSHOT_NAMES = [name for name in NAMES if "\\" not in name]
RAW_CONTROLS = [chr(c) for c in range(0x20) if chr(c) not in "\n"] + [
    "\x7f",
    "\x9b",
]


NS = ["--name-status"]


def git_name_status(work: Path, names: list[str]) -> list[str]:
    """``git diff --cached --name-status`` (quotePath on) after adding ``names``."""
    write_tree(work, {name: f"{name!r}\n" for name in names})
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "add", "-A"], check=True)
    out = subprocess.run(
        ["git", "-C", str(work), "-c", "core.quotePath=true", "diff", "--cached", *NS],
        capture_output=True,
        check=True,
    ).stdout.decode("ascii")  # quoted: nothing but ASCII is left
    return out.splitlines()


def test_quote_path_is_gits_quoting(tmp_path: Path) -> None:
    lines = git_name_status(tmp_path / "git", NAMES)
    assert sorted(lines) == sorted(f"A\t{quote_path(name)}" for name in NAMES)
    assert quote_path("plain.md") == "plain.md"
    assert quote_path("sp ace.md") == "sp ace.md"


def test_quote_path_prefix_and_undecodable_bytes() -> None:
    assert quote_path("a\nb", "a/") == '"a/a\\nb"'
    assert quote_path("ok", "b/") == "b/ok"
    raw = b"\xff.md".decode("utf-8", "surrogateescape")
    assert quote_path(raw) == '"\\377.md"'


def test_printable_escapes_controls_only() -> None:
    assert printable('plain text, caf\u00e9 \\ "q"') == 'plain text, caf\u00e9 \\ "q"'
    assert printable("a\x1b[2Jb\x07") == "a\\u001b[2Jb\\u0007"
    assert printable("1\n2\r3\t4") == "1\\n2\\r3\\t4"
    assert printable("c1\x9b\x85 del\x7f") == "c1\\u009b\\u0085 del\\u007f"
    assert printable("1\n2\t3\x1b", keep="\n\t") == "1\n2\t3\\u001b"
    raw = b"bad \xff".decode("utf-8", "surrogateescape")
    assert printable(raw) == "bad \\xff"


@pytest.fixture
def weird(invoke: Invoke, tmp_path: Path) -> Path:
    """An artifact whose first version holds every name of NAMES."""
    src = write_tree(tmp_path / "src", {name: f"{name!r}\n" for name in SNAPSHOT_NAMES})
    ok(invoke("snapshot", NAME, str(src), "-m", "names"))
    return src


def test_diff_names_are_quoted_as_git_quotes_them(
    invoke: Invoke, weird: Path, tmp_path: Path
) -> None:
    lines = ok(invoke("diff", NAME, "v1")).stdout_bytes.decode().split("\n")[:-1]
    git_lines = git_name_status(tmp_path / "git", SNAPSHOT_NAMES)
    assert lines == [line.replace("\t", "  ", 1) for line in git_lines]
    assert "M  SKILL.md" not in lines
    data = ok_json(invoke("--json", "diff", NAME, "v1"))
    assert sorted(data["added"]) == sorted(SNAPSHOT_NAMES)  # --json: the exact names


def test_log_and_show_escape_messages_and_labels(
    invoke: Invoke, make_skill: Callable[..., Path]
) -> None:
    src = make_skill(NAME)
    message = "clear\x1b[2Jscreen \x9b2J bell\x07"
    label = "evil\x1b]0;title\x07\x9b31m"
    ok(invoke("snapshot", NAME, str(src), "-m", message, "--source", label))
    log = ok(invoke("log", NAME)).stdout_bytes.decode()
    assert "clear\\u001b[2Jscreen \\u009b2J bell\\u0007" in log
    show = ok(invoke("show", NAME)).stdout_bytes.decode()
    assert "evil\\u001b]0;title\\u0007\\u009b31m" in show
    for text in (log, show):
        assert not any(char in text for char in RAW_CONTROLS)
    (record,) = ok_json(invoke("--json", "log", NAME))
    assert (record["message"], record["source"]) == (message, label)
    assert ok_json(invoke("--json", "show", NAME))["message"] == message


def test_error_messages_echo_names_inert(
    invoke: Invoke, weird: Path, tmp_path: Path
) -> None:
    """An OS error names its file raw; the error line escapes it."""
    blocker = tmp_path / "f\x1b[2J\x9b\nforged"
    blocker.write_text("a file where a directory should be\n")
    result = invoke("restore", NAME, "v1", str(blocker / "dest"))
    assert result.exit_code == 1
    err = result.stderr_bytes.decode() if result.stderr_bytes else ""
    assert err.startswith("gitversions: error: ")
    assert "f\\u001b[2J\\u009b\\nforged" in err
    assert err.count("\n") == 1
    assert not any(char in err for char in RAW_CONTROLS)


def test_verify_and_export_lines_hold_no_raw_control(
    invoke: Invoke, weird: Path, tmp_path: Path
) -> None:
    """A damaged materialized file is named inert in verify's problem line."""
    ok(invoke("export", NAME))
    store_versions = next(
        (tmp_path / "store" / "artifacts" / NAME).glob("versions/v1-*")
    )
    target = store_versions / "esc\x1b[2Jclear.md"
    target.chmod(0o644)
    target.write_text("changed\n")
    result = invoke("verify", NAME)
    assert result.exit_code == 1
    out = result.stdout_bytes.decode()
    assert "esc\\u001b[2Jclear.md" in out
    assert not any(char in out for char in RAW_CONTROLS)


def test_remote_progress_and_refusals_are_inert(
    invoke: Invoke,
    weird: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server's progress messages and refusal reasons are its own text."""
    from gitversions.cli.base import Env
    from gitversions.cli.remote import _transfer_progress
    from gitversions.git import remote

    monkeypatch.setattr(Env, "show_progress", lambda _self: True)
    with _transfer_progress(Env(None, None, False, False, False)) as show:
        assert show is not None
        show("remote: \x1b]0;pwned\x07 counting\x9b2J")
    err = capsys.readouterr().err
    assert "remote: \\u001b]0;pwned\\u0007 counting\\u009b2J" in err
    assert not any(char in err for char in RAW_CONTROLS if char not in "\r")

    def refused(*_args: object, **_kwargs: object) -> remote.PushResult:
        reason = "hook says \x1b[2J\nforged line"
        return remote.PushResult("origin", "/x", rejected={"refs/heads/main": reason})

    monkeypatch.setattr(remote, "push", refused)
    result = invoke("push", NAME, "/nowhere")
    assert result.exit_code == 1
    err = result.stderr_bytes.decode() if result.stderr_bytes else ""
    assert "hook says \\u001b[2J\\nforged line" in err
    assert not any(char in err for char in RAW_CONTROLS)

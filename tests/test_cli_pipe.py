"""A reader that goes away (``gitversions list | head -1``) ends the command quietly.

git dies by SIGPIPE there, which a shell reports as status 141; gitversions
exits with 141 itself, without a message. The tests run the real console
entry point in a subprocess with a real pipe: the reader takes a few bytes and
closes its end while the command still has output to write. The pipe is
shrunk to one page, so the command is blocked writing by then, whatever the
system's default pipe size.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ok, write_tree

import gitversions.cli as cli_module
from gitversions.cli import cli

PIPE_EXIT = 141  # 128 + SIGPIPE, what a shell reports for git in the same place
OUTPUT = 12_000  # bytes of output: far more than the one-page pipe
LONG_NAME = "n" * 120


def run_into_closed_pipe(root: Path, *args: str, read: int = 100) -> tuple[int, str]:
    """Run ``gitversions --root ROOT ARGS`` and close its stdout after ``read`` bytes.

    Returns:
        The exit status and stderr.
    """
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    with subprocess.Popen(
        [sys.executable, "-m", "gitversions", "--root", str(root), *args],
        stdout=w,
        stderr=subprocess.PIPE,
    ) as proc:
        os.close(w)
        got = os.read(r, read) if read else b""
        assert read == 0 or got, "the command printed nothing"
        os.close(r)
        _, err = proc.communicate()
    return proc.returncode, err.decode()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store with output to spare for list, log and diff --patch (built once)."""
    with pytest.MonkeyPatch.context() as env:
        tmp_path = tmp_path_factory.mktemp("pipe")
        env.setenv("HOME", str(tmp_path))
        env.setenv("GIT_CONFIG_NOSYSTEM", "1")
        env.setenv("GIT_CONFIG_GLOBAL", os.devnull)
        yield build_store(tmp_path)


def build_store(tmp_path: Path) -> Path:
    """Write the store and return its root."""
    store_root = tmp_path / "store"
    runner = CliRunner()

    def invoke(*args: str) -> None:
        ok(runner.invoke(cli, ["--root", str(store_root), *args]))

    # log: a dozen long lines; diff --patch: many sections (one write each)
    files = {f"f{n:03}.md": f"{n}\n" + "text\n" * 60 for n in range(100)}
    src = write_tree(tmp_path / "src", files)
    for n in range(12):
        write_tree(src, {"f000.md": f"{n}\n"})
        invoke("snapshot", "big", str(src), "-m", f"{n} " + "m" * (OUTPUT // 10))
    write_tree(src, {k: v.replace("text", "prose") for k, v in files.items()})
    invoke("snapshot", "big", str(src))
    small = write_tree(tmp_path / "small", {"a.md": "a\n"})
    invoke("snapshot", "small", str(small))
    artifacts = store_root / "artifacts"
    for n in range(OUTPUT // len(LONG_NAME)):
        shutil.copytree(artifacts / "small", artifacts / f"{LONG_NAME}{n}")
    return store_root


@pytest.mark.parametrize(
    "args",
    [("list",), ("log", "big"), ("diff", "big", "v1", "latest", "--patch")],
    ids=["list", "log", "diff-patch"],
)
def test_closed_pipe_ends_quietly_with_141(root: Path, args: tuple[str, ...]) -> None:
    status, err = run_into_closed_pipe(root, *args)
    assert err == ""
    assert status == PIPE_EXIT


@pytest.mark.parametrize(
    "args",
    [("list",), ("show", "small"), ("diff", "big", "v1", "latest", "--patch")],
    ids=["list", "show", "diff-patch"],
)
def test_pipe_closed_before_the_first_line(root: Path, args: tuple[str, ...]) -> None:
    status, err = run_into_closed_pipe(root, *args, read=0)
    assert (status, err) == (PIPE_EXIT, "")


def test_broken_pipe_in_process_exits_141_and_silences_stdout(
    root: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    """The handler itself: stdout is pointed at /dev/null, so the exit is silent."""
    r, w = os.pipe()
    os.close(r)
    stream = os.fdopen(w, "w")
    monkeypatch.setattr(sys, "stdout", stream)
    with pytest.raises(SystemExit) as exc:
        cli_module.main(["--root", str(root), "list"])
    assert exc.value.code == PIPE_EXIT
    stream.write("more after the exit\n")
    stream.flush()  # no BrokenPipeError: the fd now leads to /dev/null
    stream.close()
    assert capfd.readouterr().err == ""

"""Shared fixtures: stores, sample artifacts, the real git CLI, and the CLI runner."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitversions.cli import cli
from gitversions.store import Store

GIT = shutil.which("git")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="run the heavier suites (marked slow) at full size",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--full"):
        return
    skip = pytest.mark.skip(reason="heavy suite: run with --full")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep every test away from the real ~/.skillmeat and the user's git config."""
    monkeypatch.delenv("GITVERSIONS_ROOT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Author")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "author@example.com")
    (tmp_path / "home").mkdir(exist_ok=True)


def run_git(*args: str, cwd: Path | None = None, check: bool = True) -> str:
    """Run the real git CLI and return its stdout (the judge of what we write)."""
    assert GIT is not None, "git is required for the tests"
    proc = subprocess.run(
        [GIT, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed:\n{proc.stderr}")
    return proc.stdout


@pytest.fixture
def git() -> Callable[..., str]:
    """The real git CLI: ``git("--git-dir", path, "log")`` returns stdout."""
    return run_git


def fsck(history: Path) -> None:
    """Assert that ``git fsck --strict`` finds nothing wrong."""
    run_git("--git-dir", str(history), "fsck", "--strict", "--no-dangling")


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    """A store root path (not yet created)."""
    return tmp_path / "store"


@pytest.fixture
def store(store_root: Path) -> Store:
    """An initialized store."""
    s = Store(store_root)
    s.init()
    return s


def write_tree(base: Path, files: dict[str, str | bytes]) -> Path:
    """Create files under ``base`` from a mapping of relative path to content."""
    base.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return base


@pytest.fixture
def make_skill(tmp_path: Path) -> Callable[..., Path]:
    """Build a sample skill directory: ``make_skill("name", {"extra.md": "x"})``."""

    def make(name: str = "canvas-design", files: dict[str, str | bytes] | None = None) -> Path:
        base = tmp_path / "src" / name
        content: dict[str, str | bytes] = {
            "SKILL.md": "# Canvas design\n\nDraw things.\n",
            "reference.md": "Supporting notes.\n",
            "scripts/process.js": "console.log('process');\n",
        }
        content.update(files or {})
        write_tree(base, content)
        (base / "scripts" / "process.js").chmod(0o755)
        return base

    return make


@pytest.fixture
def runner() -> CliRunner:
    """click's runner, keeping stderr apart from stdout."""
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner, store_root: Path) -> Callable[..., Result]:
    """Run the CLI against ``store_root``: ``invoke("log", "name")``."""

    def run(*args: str, root: Path | None = None) -> Result:
        return runner.invoke(cli, ["--root", str(root or store_root), *args])

    return run


@pytest.fixture
def listing() -> Callable[[Path], dict[str, tuple[int, bytes | str]]]:
    """Snapshot of a directory: relative path -> (mode, content or link target)."""

    def take(base: Path) -> dict[str, tuple[int, bytes | str]]:
        result: dict[str, tuple[int, bytes | str]] = {}
        if not base.exists():
            return result
        for root, dirs, files in os.walk(base):
            for name in sorted(dirs + files):
                path = Path(root) / name
                rel = path.relative_to(base).as_posix()
                st = path.lstat()
                if path.is_symlink():
                    result[rel] = (st.st_mode, os.readlink(path))
                elif path.is_file():
                    result[rel] = (st.st_mode, path.read_bytes())
                else:
                    result[rel] = (st.st_mode, b"")
        return result

    return take


@pytest.fixture
def chdir(tmp_path: Path) -> Iterator[Path]:
    """Run the test inside a fresh working directory."""
    old = Path.cwd()
    work = tmp_path / "work"
    work.mkdir()
    os.chdir(work)
    try:
        yield work
    finally:
        os.chdir(old)

"""Shared fixtures: stores, sample artifacts, the real git CLI, and the CLI runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from helpers import Listing, listing_of, run_git, write_tree

from gitversions.cli import cli
from gitversions.store import Store


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="run the heavier suites (marked slow) at full size",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
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


@pytest.fixture
def git() -> Callable[..., str]:
    """The real git CLI: ``git("--git-dir", path, "log")`` returns stdout."""
    return run_git


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


@pytest.fixture
def make_skill(tmp_path: Path) -> Callable[..., Path]:
    """Build a sample skill directory: ``make_skill("name", {"extra.md": "x"})``."""

    def make(
        name: str = "canvas-design", files: dict[str, str | bytes] | None = None
    ) -> Path:
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
def listing() -> Callable[[Path], Listing]:
    """Snapshot of a directory: relative path -> (mode, content or link target)."""
    return listing_of


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

"""Shared pieces of the guarantee suites: sizes, markers, hypothesis profiles, figures.

Sizes (default run, then ``--full``), each overridable from the environment:

- crash kills: 30 / 320 (``--kills N`` or ``GITVERSIONS_KILLS``), half timed,
  half at precise write steps;
- concurrent writers x snapshots: 4 x 10 / 8 x 25 (``GITVERSIONS_WRITERS``,
  ``GITVERSIONS_SNAPSHOTS``);
- hypothesis examples per property or fuzz test: 25 / 300 (profiles
  ``gitversions-ci`` and ``gitversions-full``; ``--hypothesis-profile`` wins).

Every suite adds its figures (kills survived, versions written concurrently,
hostile cases tried, examples run) to ``figures``; they are printed at the end of
the run and, with ``GITVERSIONS_FIGURES=path``, written there as JSON.
"""

from __future__ import annotations

import collections
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[2]
HARNESS_PATH = REPO / "scripts" / "crash_harness.py"


def _load_harness() -> None:
    """Make ``scripts/crash_harness.py`` importable as ``crash_harness``."""
    if "crash_harness" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location("crash_harness", HARNESS_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_harness"] = module
    spec.loader.exec_module(module)


_load_harness()

_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
}
settings.register_profile("gitversions-ci", max_examples=25, **_COMMON)
settings.register_profile("gitversions-full", max_examples=300, **_COMMON)

FIGURES = pytest.StashKey[collections.Counter[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    # Honoured when tests/guarantees is named on the command line (its conftest
    # is then read before the arguments are parsed); GITVERSIONS_KILLS always is.
    parser.addoption(
        "--kills",
        type=int,
        default=None,
        help="crash-injection kills in total (default 30, with --full 320)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for marker, text in (
        ("crash", "crash injection: commands SIGKILLed mid-work"),
        ("concurrency", "concurrent writers and readers on one artifact"),
        ("hostile", "hostile names, sources, histories and files"),
        ("property", "hypothesis property tests (bounded by a profile)"),
        ("fuzz", "hypothesis fuzzing of the validators and parsers"),
    ):
        config.addinivalue_line("markers", f"{marker}: {text}")
    config.stash[FIGURES] = collections.Counter()
    if config.getoption("hypothesis_profile", default=None) is None:
        full = bool(config.getoption("--full", default=False))
        settings.load_profile("gitversions-full" if full else "gitversions-ci")


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    figures = config.stash.get(FIGURES, None)
    if not figures:
        return
    terminalreporter.section("gitversions guarantees: figures")
    for key in sorted(figures):
        terminalreporter.write_line(f"{key}: {figures[key]}")
    target = os.environ.get("GITVERSIONS_FIGURES")
    if target:
        Path(target).write_text(json.dumps(dict(figures), indent=2, sort_keys=True))


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


@pytest.fixture(scope="session")
def full(pytestconfig: pytest.Config) -> bool:
    """Whether the heavy sizes run (``--full``)."""
    return bool(pytestconfig.getoption("--full", default=False))


@pytest.fixture(scope="session")
def kills_wanted(pytestconfig: pytest.Config, full: bool) -> int:
    """Crash-injection kills in total, over both kill modes."""
    given = pytestconfig.getoption("--kills", default=None)
    return given or _env_int("GITVERSIONS_KILLS") or (320 if full else 30)


@pytest.fixture(scope="session")
def writers_and_snapshots(full: bool) -> tuple[int, int]:
    """Concurrent writers and snapshots per writer."""
    return (
        _env_int("GITVERSIONS_WRITERS") or (8 if full else 4),
        _env_int("GITVERSIONS_SNAPSHOTS") or (25 if full else 10),
    )


@pytest.fixture(scope="session")
def figures(pytestconfig: pytest.Config) -> collections.Counter[str]:
    """The run's figures: add counts here, they are printed at the end."""
    return pytestconfig.stash[FIGURES]


@pytest.fixture(scope="session")
def count_example(
    figures: collections.Counter[str],
) -> Callable[[str], None]:
    """Count one hypothesis example of a property or fuzz test."""

    def count(kind: str) -> None:
        figures[kind] += 1

    return count


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount tmpfs file systems with the options given; unmount them afterwards."""
    mounted: list[Path] = []

    def make(options: str) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)

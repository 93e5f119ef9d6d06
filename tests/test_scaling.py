"""Per-version work is linear in the version's files (issue 15, item 7).

Work is counted as function calls (Python and C, every thread; see
``helpers.calls_made``), not timed, so a loaded machine cannot fail these
tests. Three sizes N, 2N and 4N cancel the fixed cost: going from 2N to 4N
files adds twice the work of going from N to 2N when the work is linear, and
four times when it is quadratic (a tomlkit array re-indexed on every append
made exporting 100,000 files take hours).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import calls_made, write_tree

from gitversions.git import repack as _repack
from gitversions.materialize import export as export_module
from gitversions.store import Store

SIZES = (60, 120, 240)
# Linear growth gives 2.0; quadratic growth of even a tenth of the work, 2.2+.
# Thread scheduling (lock waits) moves the count by well under 1 %.
MAX_GROWTH = 2.15

Operation = Callable[[Store, str, Path], object]


def _files(count: int) -> dict[str, str]:
    # Nested directories of ten files each, as in a large skill.
    return {
        f"d{i % 5}/e{i // 50}/file-{i:05}.md": f"content {i}\n" for i in range(count)
    }


def _snapshot(store: Store, name: str, base: Path) -> object:
    return store.snapshot(name, base / "src", message="many files")


def _gc(store: Store, name: str, base: Path) -> object:
    return store.artifact(name).gc()


def _export(store: Store, name: str, base: Path) -> object:
    return store.artifact(name).export()


def _show(store: Store, name: str, base: Path) -> object:
    artifact = store.artifact(name)
    version = artifact.resolve("latest")
    return artifact.record(version), artifact.version_toml(version)


def _restore(store: Store, name: str, base: Path) -> object:
    return store.artifact(name).restore("latest", base / "restored")


def _verify(store: Store, name: str, base: Path) -> object:
    problems = store.artifact(name).verify()
    assert problems == []
    return problems


STEPS: dict[str, Operation] = {
    "snapshot": _snapshot,
    "gc": _gc,
    "export": _export,
    "show": _show,
    "restore": _restore,
    "verify": _verify,
}


def _work(root: Path, count: int) -> dict[str, int]:
    """Calls each step makes on a version of ``count`` files, each on a cold store."""
    base = root / str(count)
    write_tree(base / "src", {"SKILL.md": "# many\n", **_files(count)})
    Store(root / "store").init()
    name = f"a{count}"
    work: dict[str, int] = {}
    for step, operation in STEPS.items():
        store = Store(root / "store")
        try:
            work[step] = calls_made(lambda: operation(store, name, base))  # noqa: B023
        finally:
            store.close()
    return work


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, int]]:
    root = tmp_path_factory.mktemp("scaling")
    with pytest.MonkeyPatch.context() as patch:
        # Every size packed the same way (by the gc step): an automatic repack
        # past a threshold would change the work between sizes by itself.
        patch.setattr(_repack, "AUTO_LOOSE", 1 << 30)
        # One writer thread: with several, the calls counted depend on how
        # the threads are scheduled, not only on the work.
        patch.setattr(export_module, "WRITE_THREADS", 1)
        _work(root, 10)  # imports and first-use set-up, out of the counts
        return [_work(root, count) for count in SIZES]


@pytest.mark.parametrize("step", list(STEPS))
def test_step_work_is_linear_in_the_files(
    work: list[dict[str, int]], step: str
) -> None:
    small, middle, large = (sizes[step] for sizes in work)
    first, second = middle - small, large - middle
    assert first > 0
    assert second <= MAX_GROWTH * first, (step, small, middle, large)

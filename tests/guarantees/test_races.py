"""Symlink races driven step by step: nothing is written outside the target.

A restore or export writes into a directory the user (or another program)
can also write. Every step that could be raced calls ``_dirfd.step``; these
tests pause the command at each such step in turn and swap a name under it:
the temporary, the destination, a directory inside either, for a symlink to
another directory (or for another real directory). Whatever the command then
does, succeed or refuse:

- the other directory is byte for byte what it was (nothing written outside);
- every file the user had (``.git``, excluded ``.env`` and logs) still exists,
  at the destination or wherever the swap put it (nothing lost);
- on success the destination is a real directory holding the version.

The races are deterministic: each run fires once, at one numbered step.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import crash_harness as harness
import pytest
from helpers import listing_of

from gitversions.errors import GitVersionsError
from gitversions.fs import dirfd as _dirfd
from gitversions.snapshot.hashing import content_hash
from gitversions.store import Store

pytestmark = pytest.mark.faults

T0 = 1_700_000_000
EXCLUDE = '[".env", "*.log", "node_modules"]'
# Content only the user has: each must survive every race, somewhere.
USER_FILES = {
    ".git/config": b"[core]\n\tbare = false\n# user repo\n",
    ".git/HEAD": b"ref: refs/heads/user-branch\n",
    ".env": b"TOKEN=only-the-user-has-this\n",
    "run.log": b"a log only the user has\n",
    "scripts/debug.log": b"a nested log only the user has\n",
    "node_modules/pkg/index.js": b"module.exports = 'user dependency'\n",
}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    base = tmp_path_factory.mktemp("races")
    root = base / "store"
    root.mkdir()
    (root / "gitversions.toml").write_text(f"exclude = {EXCLUDE}\n")
    src = base / "src" / "sk"
    store = Store(root)
    for n in (1, 2):
        for d in ("", "scripts/", "refs/deep/"):
            (src / d).mkdir(parents=True, exist_ok=True)
            for i in range(3):
                (src / f"{d}f{i}.md").write_text(f"{d} file {i} of version {n}\n")
        (src / "SKILL.md").write_text(f"version {n}\n")
        if n == 1:
            os.symlink("SKILL.md", src / "link.md")
        store.snapshot("sk", src, timestamp=T0 + 60 * n)
    yield store
    store.close()


def _scene(store: Store, tmp: Path) -> tuple[Path, Path]:
    """A working copy at v2 with the user's own files, and a directory elsewhere."""
    work = tmp / "work"
    work.mkdir(parents=True)
    dest = work / "sk"
    store.artifact("sk").restore("v2", dest)
    for rel, data in USER_FILES.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    elsewhere = tmp / "elsewhere"
    (elsewhere / ".git").mkdir(parents=True)
    (elsewhere / ".git" / "config").write_bytes(b"[core]\n# elsewhere's repo\n")
    (elsewhere / "SKILL.md").write_bytes(b"not the artifact\n")
    (elsewhere / "scripts").mkdir()
    return dest, elsewhere


def _contents(top: Path) -> list[bytes]:
    """Every regular file's bytes under ``top``, never following a symlink."""
    found = []
    for dirpath, _dirs, files in os.walk(top):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found.append(path.read_bytes())
    return found


def _swap_for_link(path: Path, target: Path, aside: Path) -> None:
    """Move ``path`` to ``aside`` and put a symlink to ``target`` in its place."""
    if path.exists() or path.is_symlink():
        os.rename(path, aside)
    os.symlink(target, path)


def _temp_of(parent: Path, name: str) -> Path | None:
    temps = sorted(parent.glob(f".{name}.tmp-*"))
    return temps[0] if temps else None


Attack = Callable[[str, str, Path, Path], None]


def _attack_temp(_step: str, _where: str, dest: Path, elsewhere: Path) -> None:
    tmp = _temp_of(dest.parent, dest.name)
    if tmp is not None:
        _swap_for_link(tmp, elsewhere, dest.parent / "moved-temp")


def _attack_dest(_step: str, _where: str, dest: Path, elsewhere: Path) -> None:
    _swap_for_link(dest, elsewhere, dest.parent / "moved-dest")


def _attack_dest_with_dir(_step: str, _where: str, dest: Path, elsewhere: Path) -> None:
    os.rename(dest, dest.parent / "moved-dest")
    shutil.copytree(elsewhere, dest, symlinks=True)


def _attack_inside(step: str, where: str, dest: Path, elsewhere: Path) -> None:
    # The directory being made or walked, inside the temporary or the old copy.
    rel = where.split("/", maxsplit=1)[0] if step in ("carry", "write") else where
    for top in (_temp_of(dest.parent, dest.name), dest):
        if top is None or top.is_symlink():
            continue
        path = top / rel
        if path.is_dir() and not path.is_symlink():
            _swap_for_link(path, elsewhere, dest.parent / "moved-inside")
            return


ATTACKS: dict[str, Attack] = {
    "temporary-to-symlink": _attack_temp,
    "destination-to-symlink": _attack_dest,
    "destination-to-other-directory": _attack_dest_with_dir,
    "directory-inside-to-symlink": _attack_inside,
}


def _steps(run: Callable[[], object]) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def record(step: str, where: str) -> None:
        with lock:
            seen.append((step, where))

    _dirfd.race_hook = record
    try:
        run()
    finally:
        _dirfd.race_hook = None
    return seen


def _race_at(
    index: int, attack: Callable[[str, str], None], run: Callable[[], object]
) -> BaseException | None:
    count = [0]
    lock = threading.Lock()

    def hook(step: str, where: str) -> None:
        with lock:
            count[0] += 1
            fire = count[0] == index + 1
        if fire:
            attack(step, where)

    _dirfd.race_hook = hook
    try:
        run()
    except GitVersionsError as exc:
        return exc
    finally:
        _dirfd.race_hook = None
    return None


def _check_nothing_outside_and_nothing_lost(
    dest: Path, elsewhere: Path, before: object
) -> None:
    assert listing_of(elsewhere) == before, "something was written outside DEST"
    kept = _contents(dest.parent)
    for rel, data in USER_FILES.items():
        assert data in kept, f"the user's {rel} was lost"


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_restore_raced_at_every_step_writes_nothing_outside(
    store: Store, tmp_path: Path, attack: str, figures: collections.Counter[str]
) -> None:
    artifact = store.artifact("sk")
    dest, _ = _scene(store, tmp_path / "dry")
    steps = _steps(lambda: artifact.restore("v1", dest))
    names = {step for step, _ in steps}
    assert {"made", "mkdir", "opendir", "write", "swap", "swapped", "carry"} <= names
    refused = 0
    v1 = artifact.resolve("v1")
    for index in range(len(steps)):
        case = tmp_path / f"{index}"
        dest, elsewhere = _scene(store, case)
        before = listing_of(elsewhere)
        error = _race_at(
            index,
            lambda s, w, d=dest, e=elsewhere: ATTACKS[attack](s, w, d, e),
            lambda d=dest: artifact.restore("v1", d),
        )
        _check_nothing_outside_and_nothing_lost(dest, elsewhere, before)
        figures["races: restores raced"] += 1
        figures["races: writes outside the target"] += 0
        figures["races: user files lost"] += 0
        if error is None:
            # The version is in place; a swap after that moved it, as swapped.
            homes = [dest, dest.parent / "moved-dest"]
            assert any(
                home.is_dir()
                and not home.is_symlink()
                and content_hash(home, store.config.exclude) == v1.hash
                for home in homes
            ), f"restore succeeded without writing v1, at step {index}"
        else:
            refused += 1
            figures["races: restores refused"] += 1
        shutil.rmtree(case)
    # Swapping a name the restore depends on is noticed, not written through.
    assert refused > 0


@pytest.mark.parametrize(
    "attack", ["temporary-to-symlink", "directory-inside-to-symlink"]
)
def test_export_raced_at_every_step_writes_nothing_outside(
    store: Store, tmp_path: Path, attack: str, figures: collections.Counter[str]
) -> None:
    artifact = store.artifact("sk")
    out = tmp_path / "dry" / "out"
    steps = _steps(lambda: artifact.export(to=out))
    assert steps
    for index in range(len(steps)):
        case = tmp_path / f"{index}"
        _, elsewhere = _scene(store, case)
        out = case / "out"
        before = listing_of(elsewhere)

        def swap(step: str, where: str, o: Path = out, e: Path = elsewhere) -> None:
            # Temporaries in out/ are named after the entry they become.
            for tmp in sorted(o.glob(".*.tmp-*")):
                if attack == "temporary-to-symlink":
                    _swap_for_link(tmp, e, o.parent / "moved-temp")
                else:
                    rel = where.split("/", maxsplit=1)[0]
                    if (tmp / rel).is_dir():
                        _swap_for_link(tmp / rel, e, o.parent / "moved-inside")
                return

        _race_at(index, swap, lambda o=out: artifact.export(to=o))
        assert listing_of(elsewhere) == before, f"written outside at step {index}"
        figures["races: exports raced"] += 1
        shutil.rmtree(case)


def test_single_file_restore_never_writes_through_a_swapped_temporary(
    tmp_path: Path,
) -> None:
    root = tmp_path / "store"
    store = Store(root)
    src = tmp_path / "cmd.md"
    src.write_text("command v1\n")
    store.snapshot("cmd", src, timestamp=T0)
    artifact = store.artifact("cmd")
    dest = tmp_path / "project" / "cmd.md"
    dest.parent.mkdir()
    victim = tmp_path / "victim.md"
    victim.write_bytes(b"not to be touched\n")

    def swap(step: str, where: str) -> None:
        if step == "replace" and where == "cmd.md":
            (tmp,) = dest.parent.glob(".cmd.md.tmp-*")
            tmp.unlink()
            os.symlink(victim, tmp)

    _dirfd.race_hook = swap
    try:
        with pytest.raises(GitVersionsError, match="changed while"):
            artifact.restore("v1", dest)
    finally:
        _dirfd.race_hook = None
    assert victim.read_bytes() == b"not to be touched\n"
    store.close()


# -- a restore killed at any step loses nothing, and its leftovers go ---------------


@pytest.mark.parametrize(
    ("op", "when"),
    [
        ("open", "before"),  # the first file of the new copy
        ("fsync", "after"),  # the new copy written, not yet swapped in
        ("exchange", "after"),  # swapped in, the user's files not yet carried over
        ("rename", "after"),  # the first of them carried over
    ],
)
def test_a_restore_killed_at_any_step_loses_nothing(
    store: Store, tmp_path: Path, op: str, when: str
) -> None:
    dest, _ = _scene(store, tmp_path)
    argv = harness.wrap_argv(
        ["--root", str(store.root), "restore", "sk", "v1", str(dest)],
        kill_op=op,
        kill_at=1,
        when=when,
    )
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    for rel, data in USER_FILES.items():
        assert data in _contents(dest.parent), f"the user's {rel} was lost"
    # The next restore finishes the killed one: an unfinished copy is removed;
    # from a swapped-out old copy the user's files are carried into DEST first.
    store.artifact("sk").restore("v1", dest, force=True)
    for rel, data in USER_FILES.items():
        assert (dest / rel).read_bytes() == data, f"the user's {rel} was lost"
    assert [p.name for p in dest.parent.iterdir()] == ["sk"]
    assert (
        content_hash(dest, store.config.exclude)
        == store.artifact("sk").resolve("v1").hash
    )

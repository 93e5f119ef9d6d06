"""Faults: a full disk or a Ctrl-C leaves no lock, no temporary, no traceback.

SPEC §6 and issue 15: a command that fails on ENOSPC reports one line and
leaves no temporary behind (a temporary pack would keep the disk full); the next
writing command removes the stale temporaries of dead processes. Ctrl-C anywhere
ends with ``gitversions: interrupted``, exit status 130, and a store that
``git fsck --strict`` and ``verify`` accept. A failed clone leaves nothing.

The full disk is simulated in-process (every file dulwich opens, and every
``os.write``, draws from one budget of free bytes), and, where this runs as
root, reproduced on a tiny tmpfs. Ctrl-C is a SIGINT the command sends itself
at the N-th call of a file operation (``crash_harness.py wrap --signal INT``).
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import crash_harness as harness
import pytest

from gitversions import remote
from gitversions.cli import main
from gitversions.errors import GitVersionsError
from gitversions.store import Store

pytestmark = pytest.mark.faults

GV = harness.console_script()
ENOSPC = "No space left on device"


# -- building stores --------------------------------------------------------


def _write_files(src: Path, round_: int, count: int = 12) -> None:
    src.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        body = f"round {round_} file {index}\n" + os.urandom(600).hex()
        (src / f"f{index}.txt").write_text(body)


def _make_store(root: Path, src: Path, versions: int = 4) -> Store:
    """A store whose artifact ``demo`` has loose objects for gc to pack."""
    store = Store(root)
    for round_ in range(versions):
        _write_files(src, round_)
        store.snapshot("demo", src)
    store.close()
    return Store(root)


def _history(root: Path, name: str = "demo") -> Path:
    return root / "artifacts" / name / "history.git"


def _leftovers(root: Path, name: str = "demo") -> list[str]:
    """Lock files and temporaries under the store (not the artifact's own lock)."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel == f"artifacts/{name}/.lock":
            continue
        if (
            path.name.endswith(".lock")
            or path.name.startswith("tmp")
            or (".tmp-" in path.name)
        ):
            found.append(rel)
    return sorted(found)


def _check_whole(root: Path, name: str = "demo") -> None:
    assert harness.fsck(_history(root, name)) is None
    proc = subprocess.run(
        [*GV, "--root", str(root), "verify", name],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _run(root: Path, *args: str) -> int:
    """Run the command line in-process; return its exit status."""
    with pytest.raises(SystemExit) as exited:
        main(["--root", str(root), *args])
    code = exited.value.code
    return code if isinstance(code, int) else 1


# -- a full disk, simulated -----------------------------------------------------


class _Disk:
    """One budget of free bytes for every write the fault covers."""

    def __init__(self, free: int) -> None:
        self.free = free

    def take(self, size: int) -> None:
        if size > self.free:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.free -= size


class _FullRaw(io.FileIO):
    def __init__(self, fd: int, mode: str, disk: _Disk) -> None:
        super().__init__(fd, mode, closefd=True)
        self._disk = disk

    def write(self, data: Any) -> int:
        self._disk.take(len(memoryview(data)))
        return super().write(data)


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], _Disk]:
    """Make the disk full after ``free`` more bytes (files opened by fd, os.write)."""

    def install(free: int) -> _Disk:
        disk = _Disk(free)
        real_write = os.write

        def fdopen(fd: int, mode: str = "r", buffering: int = -1, **_: Any) -> Any:
            raw_mode = mode.replace("b", "").replace("t", "").replace("x", "w")
            if "+" in raw_mode:
                raw_mode = "r+"  # FileIO on an fd: no truncation either way
            raw = _FullRaw(fd, raw_mode, disk)
            if "+" in mode:
                return io.BufferedRandom(raw)
            if "w" in mode or "a" in mode:
                return io.BufferedWriter(raw)
            return io.BufferedReader(raw)  # pragma: no cover - not used for writes

        def write(fd: int, data: Any) -> int:
            disk.take(len(memoryview(data)))
            return real_write(fd, data)

        real_open = io.open
        flags = {"w": os.O_CREAT | os.O_TRUNC, "x": os.O_CREAT | os.O_EXCL}

        def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if isinstance(file, int) or not set(mode) & set("wxa+"):
                return real_open(file, mode, *args, **kwargs)
            how = flags.get(mode[0], os.O_APPEND | os.O_CREAT if "a" in mode else 0)
            how |= os.O_RDWR if "+" in mode else os.O_WRONLY
            binary = fdopen(os.open(file, how, 0o666), mode.replace("t", "") + "b")
            if "b" in mode:
                return binary
            encoding = kwargs.get("encoding") or (args[1] if len(args) > 1 else None)
            return io.TextIOWrapper(binary, encoding=encoding or "utf-8")

        monkeypatch.setattr(os, "fdopen", fdopen)
        monkeypatch.setattr(os, "write", write)
        monkeypatch.setattr(io, "open", open_)
        monkeypatch.setattr("builtins.open", open_)
        return disk

    return install


@pytest.fixture
def unraisable(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Collect 'Exception ignored in ...' reports (e.g. from ``__del__``)."""
    seen: list[str] = []

    def hook(report: Any) -> None:
        seen.append(f"{report.object!r}: {report.exc_value!r}")

    monkeypatch.setattr(sys, "unraisablehook", hook)
    return seen


@pytest.mark.parametrize("free", [0, 3000, 20000])
def test_gc_on_a_full_disk_leaves_no_temporary_and_the_next_gc_works(
    tmp_path: Path,
    full_disk: Callable[[int], _Disk],
    unraisable: list[str],
    capsys: pytest.CaptureFixture[str],
    free: int,
) -> None:
    root = tmp_path / "store"
    _make_store(root, tmp_path / "src").close()
    capsys.readouterr()
    full_disk(free)
    code = _run(root, "gc", "demo")
    err = capsys.readouterr().err
    import gc as python_gc

    python_gc.collect()  # a leaked _GitFile would complain in __del__ now
    assert code == 1
    assert err.splitlines() == [f"gitversions: error: {ENOSPC}"], err
    assert _leftovers(root) == []
    assert unraisable == []
    _check_whole(root)


@pytest.mark.parametrize("free", [0, 100])
def test_fetch_and_clone_on_a_full_disk_leave_nothing_behind(
    tmp_path: Path,
    full_disk: Callable[[int], _Disk],
    unraisable: list[str],
    capsys: pytest.CaptureFixture[str],
    free: int,
) -> None:
    upstream = tmp_path / "up"
    _make_store(upstream, tmp_path / "src", versions=2).close()
    root = tmp_path / "store"
    store = Store(root)
    remote.clone(store, str(_history(upstream)), "demo")
    store.close()
    more = Store(upstream)
    _write_files(tmp_path / "src", 9)
    more.snapshot("demo", tmp_path / "src")
    more.close()
    capsys.readouterr()
    full_disk(free)
    assert _run(root, "fetch", "demo") == 1
    assert _run(root, "clone", str(_history(upstream)), "copy") == 1
    err = capsys.readouterr().err
    import gc as python_gc

    python_gc.collect()
    assert err.splitlines() == [f"gitversions: error: {ENOSPC}"] * 2, err
    assert _leftovers(root) == []
    assert not (root / "artifacts" / "copy").exists()
    assert unraisable == []
    _check_whole(root)


def test_a_config_write_on_a_full_disk_leaves_no_lock(
    tmp_path: Path, full_disk: Callable[[int], _Disk], unraisable: list[str]
) -> None:
    """dulwich's own lock files (config.lock, main.lock, pack-*.idx.lock) go."""
    root = tmp_path / "store"
    store = _make_store(root, tmp_path / "src", versions=1)
    history = store.artifact("demo").history
    config = history.repo.get_config()
    config.set((b"core",), b"note", b"x" * 100)  # stays buffered until close
    full_disk(0)
    with pytest.raises(OSError, match="No space"):
        config.write_to_path()
    import gc as python_gc

    python_gc.collect()
    assert not (history.path / "config.lock").exists()
    assert unraisable == []
    store.close()


def test_the_next_writer_removes_stale_temporaries_but_not_fresh_ones(
    tmp_path: Path,
) -> None:
    """Leftovers of dead processes go; one newer than our lock may be live."""
    root = tmp_path / "store"
    _make_store(root, tmp_path / "src", versions=1).close()
    objects = _history(root) / "objects"
    stale = [
        objects / "pack" / "tmpdeadbeef.pack",
        objects / "tmp_pack_deadbeef",
        objects / "pack" / "pack-0000.idx.lock",
        _history(root) / "refs" / "heads" / "main.lock",
    ]
    fresh = objects / "pack" / "tmplive.pack"
    hour_ago = time.time() - 3600
    for path in [*stale, fresh]:
        path.write_bytes(b"x" * 100)
        os.utime(path, (hour_ago, hour_ago))
    in_an_hour = time.time() + 3600
    os.utime(fresh, (in_an_hour, in_an_hour))  # written after we took the lock
    for command in (["gc", "demo"], ["snapshot", "demo", str(tmp_path / "src")]):
        code = _run(root, *command)
        assert code == 0
        assert [p for p in stale if p.exists()] == []
        assert fresh.exists()
        for path in stale:
            path.write_bytes(b"x")
            os.utime(path, (hour_ago, hour_ago))


def test_the_next_writer_sweeps_the_quarantine_of_a_killed_fetch(
    tmp_path: Path,
) -> None:
    """A fetch killed while receiving leaves objects/tmp_objdir-incoming-*."""
    root = tmp_path / "store"
    _make_store(root, tmp_path / "src", versions=1).close()
    objects = _history(root) / "objects"
    stale = objects / "tmp_objdir-incoming-1-dead"
    fresh = objects / "tmp_objdir-incoming-2-live"
    hour_ago, in_an_hour = time.time() - 3600, time.time() + 3600
    for command in (["gc", "demo"], ["snapshot", "demo", str(tmp_path / "src")]):
        (stale / "pack").mkdir(parents=True)
        (stale / "pack" / "pack-0000.pack").write_bytes(b"x" * 100)
        os.utime(stale, (hour_ago, hour_ago))
        fresh.mkdir(exist_ok=True)
        os.utime(fresh, (in_an_hour, in_an_hour))  # made after we took the lock
        assert _run(root, *command) == 0
        assert not stale.exists()
        assert fresh.exists()
    fresh.rmdir()
    _check_whole(root)


needs_tmpfs = pytest.mark.skipif(
    sys.platform != "linux" or os.geteuid() != 0,
    reason="mounting a tmpfs needs root on Linux",
)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A mounted 4 MiB tmpfs, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(mount: Path, leave: int) -> Path:
    filler = mount / "filler"
    free = shutil.disk_usage(mount).free
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


@needs_tmpfs
@pytest.mark.parametrize("leave", [8 << 10, 24 << 10])
def test_gc_on_a_real_full_disk_frees_its_space(
    tmp_path: Path, tiny_disk: Path, leave: int
) -> None:
    root = tiny_disk / "store"
    _make_store(root, tmp_path / "src").close()
    filler = _fill(tiny_disk, leave)
    free_before = shutil.disk_usage(tiny_disk).free
    proc = subprocess.run(
        [*GV, "--root", str(root), "gc", "demo"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode == 0:
        pytest.skip("gc fitted in the space left")  # pragma: no cover
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [f"gitversions: error: {ENOSPC}"]
    assert _leftovers(root) == []
    assert shutil.disk_usage(tiny_disk).free >= free_before
    filler.unlink()
    _check_whole(root)
    proc = subprocess.run(
        [*GV, "--root", str(root), "gc", "demo"], capture_output=True, check=False
    )
    assert proc.returncode == 0


# -- Ctrl-C ---------------------------------------------------------------------


def _interrupted(
    root: Path,
    args: list[str],
    op: str,
    at: int,
    when: str = "before",
    path: str | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = harness.wrap_argv(
        ["--root", str(root), *args],
        kill_op=op,
        kill_at=at,
        when=when,
        kill_path=path,
        sig="INT",
    )
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _assert_interrupted(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "gitversions: interrupted\n"


@pytest.fixture(scope="module")
def gc_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("gc")
    _make_store(base / "store", base / "src").close()
    return base / "store"


@pytest.mark.parametrize(
    ("op", "at"),
    [("open", 1), ("fsync", 1), ("rename", 1), ("replace", 1), ("unlink", 3)],
)
def test_ctrl_c_during_gc(tmp_path: Path, gc_store: Path, op: str, at: int) -> None:
    root = tmp_path / "store"
    shutil.copytree(gc_store, root)
    _assert_interrupted(_interrupted(root, ["gc", "demo"], op, at))
    assert _leftovers(root) == []
    _check_whole(root)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("upstream")
    _make_store(base / "store", base / "src", versions=3).close()
    return _history(base / "store")


@pytest.mark.parametrize(
    ("op", "at"),
    [("open", 2), ("fsync", 1), ("link", 10), ("mkdir", 5), ("replace", 1)],
)
def test_ctrl_c_during_fetch(tmp_path: Path, upstream: Path, op: str, at: int) -> None:
    source_root = tmp_path / "source"
    shutil.copytree(upstream.parents[2], source_root)
    root = tmp_path / "store"
    store = Store(root)
    remote.clone(store, str(_history(source_root)), "demo")
    store.close()
    more = Store(source_root)
    for round_ in (7, 8):
        _write_files(tmp_path / "src2", round_)
        more.snapshot("demo", tmp_path / "src2")
    more.close()
    _assert_interrupted(_interrupted(root, ["fetch", "demo"], op, at))
    assert _leftovers(root) == []
    _check_whole(root)


@pytest.mark.parametrize(
    ("at", "when"),
    [(1, "before"), (2, "before"), (2, "after"), (3, "before"), (3, "after")],
)
def test_ctrl_c_while_a_received_pack_moves_in(
    tmp_path: Path, upstream: Path, at: int, when: str
) -> None:
    """A pack received over the network waits in a quarantine, then moves in.

    SIGINT at each rename touching the quarantine: dulwich finishing the pack
    there (1), the pack moving into objects/pack (2), then its index (3).
    Nothing is half-moved (no pack without its index), no temporary is left,
    and the retry adopts the new versions.
    """
    source_root = tmp_path / "source"
    shutil.copytree(upstream.parents[2], source_root)
    root = tmp_path / "store"
    store = Store(root)
    remote.clone(store, str(_history(source_root)), "demo")
    store.close()
    more = Store(source_root)
    _write_files(tmp_path / "src2", 7)
    more.snapshot("demo", tmp_path / "src2")
    more.close()
    assert (
        _run(source_root, "export", "demo", "--format", "bundle", "--to", str(tmp_path))
        == 0
    )
    bundle = tmp_path / "demo.bundle"
    args = ["fetch", "demo", str(bundle)]
    _assert_interrupted(_interrupted(root, args, "rename", at, when, "tmp_objdir"))
    assert _leftovers(root) == []
    packs = _history(root) / "objects" / "pack"
    assert {p.stem for p in packs.glob("*.pack")} == {
        p.stem for p in packs.glob("*.idx")
    }
    _check_whole(root)
    assert _run(root, *args) == 0
    _check_whole(root)


@pytest.mark.parametrize(
    ("op", "at"), [("mkdir", 1), ("open", 3), ("fsync", 2), ("rename", 1)]
)
def test_an_interrupted_clone_leaves_nothing(
    tmp_path: Path, upstream: Path, op: str, at: int
) -> None:
    root = tmp_path / "store"
    root.mkdir()
    proc = _interrupted(root, ["clone", str(upstream), "demo"], op, at)
    _assert_interrupted(proc)
    assert list(root.rglob("*")) == []


def test_a_failed_clone_leaves_nothing(tmp_path: Path, upstream: Path) -> None:
    root = tmp_path / "store"
    bad = tmp_path / "bad.git"
    shutil.copytree(upstream, bad)
    for pack in (bad / "objects" / "pack").glob("*.pack"):
        pack.chmod(0o644)
        data = bytearray(pack.read_bytes())
        data[len(data) // 2] ^= 0xFF
        pack.write_bytes(bytes(data))
    for obj in (bad / "objects").glob("??/*"):
        obj.chmod(0o644)
        obj.write_bytes(b"garbage")
    store = Store(root)
    with pytest.raises(GitVersionsError):
        remote.clone(store, str(bad), "demo")
    store.close()
    assert not root.exists() or list(root.rglob("*")) == []


@pytest.mark.xfail(
    strict=True,
    reason="restore_content renames its temporary into place outside the cleanup "
    "that covers the writing (materialize.py, being rewritten separately)",
)
def test_ctrl_c_at_the_last_step_of_a_restore_leaves_no_temporary(
    tmp_path: Path, upstream: Path
) -> None:
    root = upstream.parents[2]
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = _interrupted(
        root, ["restore", "demo", "latest", str(dest / "out")], "rename", 1
    )
    _assert_interrupted(proc)
    assert sorted(p.name for p in dest.iterdir()) == []


# -- the command line -------------------------------------------------------------


def test_an_error_raised_while_ctrl_c_unwinds_is_an_interruption(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A BufferError (an mmap closed while Ctrl-C unwinds) is no internal error."""
    root = tmp_path / "store"
    _make_store(root, tmp_path / "src", versions=1).close()

    def gc(self: Any) -> None:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise BufferError("cannot close exported pointers exist") from None

    monkeypatch.setattr("gitversions.store.Artifact.gc", gc)
    code = _run(root, "gc", "demo")
    assert code == 130
    assert capsys.readouterr().err == "gitversions: interrupted\n"

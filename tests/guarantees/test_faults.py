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

import collections
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import crash_harness as harness
import pytest

from gitversions.cli import main
from gitversions.errors import GitVersionsError, LockTimeoutError, UnfinishedError
from gitversions.git import remote
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


def _make_store(root: Path, src: Path, versions: int = 4, files: int = 12) -> Store:
    """A store whose artifact ``demo`` has loose objects for gc to pack."""
    store = Store(root)
    for round_ in range(versions):
        _write_files(src, round_, files)
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


def _disk_full(err: str, under: Path, times: int = 1) -> None:
    """``err`` is ``times`` one-line ENOSPC messages naming a path under ``under``."""
    lines = err.splitlines()
    assert len(lines) == times, err
    for line in lines:
        assert line.startswith(f"gitversions: error: {ENOSPC}: {under}{os.sep}"), err


def _run(root: Path, *args: str) -> int:
    """Run the command line in-process; return its exit status."""
    with pytest.raises(SystemExit) as exited:
        main(["--root", str(root), *args])
    code = exited.value.code
    return code if isinstance(code, int) else 1


# -- a full disk, simulated -----------------------------------------------------


class _Disk:
    """One budget of free bytes for every write the fault covers.

    With ``writes``, the disk is full from that write call on instead (the
    count of writes that still succeed), whatever their sizes.
    """

    def __init__(self, free: int, writes: int | None = None) -> None:
        self.free = free
        self.writes = writes

    def take(self, size: int) -> None:
        if self.writes is not None:
            if self.writes <= 0:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.writes -= 1
            return
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
    return lambda free: _install_full_disk(monkeypatch, _Disk(free))


def _install_full_disk(monkeypatch: pytest.MonkeyPatch, disk: _Disk) -> _Disk:
    """Make every write of files opened by fd, and every os.write, draw on ``disk``."""
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
    _disk_full(err, _history(root))
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
    _disk_full(err, root / "artifacts", times=2)
    assert _leftovers(root) == []
    assert not (root / "artifacts" / "copy").exists()
    assert unraisable == []
    _check_whole(root)


# command -> (its arguments, the directory its message must name a path in)
_WRITERS: dict[str, Callable[[Path, Path], tuple[list[str], Path]]] = {
    "snapshot": lambda r, t: (
        ["snapshot", "demo", str(t / "src2")],
        _history(r) / "objects",
    ),
    "first snapshot": lambda r, t: (
        ["snapshot", "new", str(t / "src2")],
        r / "artifacts" / "new",
    ),
    "export": lambda r, t: (["export", "demo"], r / "artifacts" / "demo" / "versions"),
    "export --to": lambda r, t: (["export", "demo", "--to", str(t / "out")], t / "out"),
    "restore": lambda r, t: (["restore", "demo", "v1", str(t / "dest")], t),
    "gc": lambda r, t: (["gc", "demo"], _history(r) / "objects"),
    "init": lambda r, t: (["--root", str(t / "fresh"), "init"], t / "fresh"),
    "remote add": lambda r, t: (["remote", "add", "demo", "o", "/x.git"], _history(r)),
    "clone": lambda r, t: (
        ["clone", str(_history(r)), "copy"],
        r / "artifacts" / "copy",
    ),
    "fetch": lambda r, t: (
        ["fetch", "demo", str(_history(t / "up"))],
        r / "artifacts" / "demo",
    ),
}


@pytest.mark.parametrize("free", [0, 2000])
@pytest.mark.parametrize("command", list(_WRITERS))
def test_a_full_disk_names_the_path_that_failed(
    tmp_path: Path,
    full_disk: Callable[[int], _Disk],
    capsys: pytest.CaptureFixture[str],
    command: str,
    free: int,
) -> None:
    """ENOSPC on a descriptor names no file; the message must still say where."""
    root = tmp_path / "store"
    _make_store(root, tmp_path / "src", versions=2).close()
    if command == "fetch":  # a remote one version ahead
        upstream = Store(tmp_path / "up")
        remote.clone(upstream, str(_history(root)), "demo")
        _write_files(tmp_path / "src", 9)
        upstream.snapshot("demo", tmp_path / "src")
        upstream.close()
    _write_files(tmp_path / "src2", 7)
    args, under = _WRITERS[command](root, tmp_path)
    if args[0] != "--root":
        args = ["--root", str(root), *args]
    capsys.readouterr()
    full_disk(free)
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    if exited.value.code == 0:
        assert command in ("init", "remote add", "clone", "fetch") and free, err
        return  # it fitted in the space left
    assert exited.value.code == 1
    _disk_full(err, under)


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
def tiny_disk(mount: Callable[[str], Path]) -> Path:
    """A mounted 4 MiB tmpfs, unmounted afterwards."""
    return mount("size=4m")


def _fill(mount: Path, leave: int) -> Path:
    filler = mount / "filler"
    free = shutil.disk_usage(mount).free
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


@needs_tmpfs
@pytest.mark.parametrize(
    "args",
    [
        ["export", "demo", "--to", "{disk}/out", "--format", "zip"],
        ["export", "demo", "--to", "{disk}/out", "--format", "tar.gz"],
        ["export", "demo", "--to", "{disk}/out"],
        ["restore", "demo", "v1", "{disk}/out"],
        ["--root", "{disk}/store", "snapshot", "demo", "{src}"],
    ],
    ids=["zip", "tar.gz", "dir", "restore", "snapshot"],
)
def test_a_real_full_disk_names_the_path_that_failed(
    tmp_path: Path, tiny_disk: Path, args: list[str]
) -> None:
    src = tmp_path / "src"
    for index in range(12):  # 12 x 64 KiB of incompressible text
        (src / f"f{index}.txt").parent.mkdir(exist_ok=True)
        (src / f"f{index}.txt").write_text(os.urandom(32 << 10).hex())
    root = tmp_path / "store"
    Store(root).snapshot("demo", src)
    _fill(tiny_disk, 64 << 10)
    argv = [a.format(disk=tiny_disk, src=src) for a in args]
    if argv[0] != "--root":
        argv = ["--root", str(root), *argv]
    proc = subprocess.run([*GV, *argv], capture_output=True, text=True, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    _disk_full(proc.stderr, tiny_disk)
    leftovers = sorted(p.name for p in tiny_disk.rglob("*") if ".tmp-" in p.name)
    assert leftovers == []


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
    _disk_full(proc.stderr, _history(root))
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


# -- a snapshot recorded, the work after it not done ---------------------------------


def _auto_store(
    root: Path, src: Path, versions: int = 1, auto: bool = True, files: int = 12
) -> None:
    """A store with ``[export] auto = true`` whose ``demo`` has ``versions``."""
    root.mkdir(parents=True)
    (root / "gitversions.toml").write_text("[export]\nauto = true\n" if auto else "")
    if versions:
        _make_store(root, src, versions=versions, files=files).close()


def _newest(root: Path) -> str | None:
    store = Store(root)
    try:
        artifact = store.artifact("demo")
        if not artifact.exists():
            return None
        latest = artifact.history.latest()
        return None if latest is None else str(latest.id)
    finally:
        store.close()


def _no_space(path: str) -> Callable[..., Any]:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)

    return fail


# The write each step makes after main moved, and what is then left undone.
_AFTER_MAIN = {
    "tag": (
        "gitversions.git.history.History.ensure_tag",
        ["tag", "manifest", "export"],
    ),
    "manifest": ("gitversions.formats.manifest.atomic_write", ["manifest", "export"]),
    "export": ("gitversions.materialize.export.Materializer._write_dir", ["export"]),
    "latest": ("gitversions.materialize.export.Materializer.update_latest", ["export"]),
}


@pytest.mark.parametrize("step", sorted(_AFTER_MAIN))
def test_a_snapshot_whose_follow_up_fails_after_main_moved_says_it_was_recorded(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    step: str,
) -> None:
    """Exit 3, the version named as recorded, what was not done; repair finishes."""
    root, src = tmp_path / "store", tmp_path / "src"
    _auto_store(root, src)
    before = _newest(root)
    _write_files(src, 1)
    target, unfinished = _AFTER_MAIN[step]
    monkeypatch.setattr(target, _no_space(f"/full/{step}"))
    capsys.readouterr()
    code = _run(root, "--json", "snapshot", "demo", str(src))
    out, err = capsys.readouterr()
    monkeypatch.undo()
    recorded = _newest(root)
    assert recorded is not None and recorded != before  # main moved
    assert code == 3
    data = json.loads(out)
    assert data["id"] == recorded
    assert data["unchanged"] is False
    assert data["summary"] == "12 modified"
    assert data["unfinished"] == unfinished
    (line,) = err.splitlines()
    assert line.startswith(f"gitversions: error: demo: recorded {recorded}, but ")
    assert f"{ENOSPC}: /full/{step}" in line
    assert line.endswith("run `gitversions verify --repair demo` to finish")
    assert line == f"gitversions: error: {data['error']}"
    # The version is in the history; what is missing is pending, not damage.
    assert _run(root, "log", "demo") == 0
    assert capsys.readouterr().out.startswith(recorded)
    assert _run(root, "verify", "demo") == 0
    assert "note: demo: " in capsys.readouterr().out
    assert _run(root, "verify", "--repair", "demo") == 0
    assert "repaired: demo: " in capsys.readouterr().err
    assert _run(root, "verify", "demo") == 0
    assert capsys.readouterr().out == "ok: demo\n"
    versions = root / "artifacts" / "demo" / "versions"
    assert (versions / recorded / ".version.toml").is_file()
    assert os.readlink(versions / "latest") == recorded
    assert _leftovers(root) == []
    _check_whole(root)


def test_a_recorded_but_unfinished_snapshot_prints_the_version_and_the_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Text output: the usual result line on stdout, the error on stderr."""
    root, src = tmp_path / "store", tmp_path / "src"
    _auto_store(root, src)
    _write_files(src, 1)
    versions = root / "artifacts" / "demo" / "versions"
    monkeypatch.setattr(_AFTER_MAIN["export"][0], _no_space(str(versions)))
    capsys.readouterr()
    assert _run(root, "snapshot", "demo", str(src)) == 3
    out, err = capsys.readouterr()
    recorded = _newest(root)
    assert out == f"demo: recorded {recorded} (12 modified)\n"
    assert err == (
        f"gitversions: error: demo: recorded {recorded}, but could not export it "
        f"to {versions}: {ENOSPC}: {versions}; run `gitversions verify --repair "
        "demo` to finish\n"
    )


def test_the_library_hands_over_the_recorded_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, src = tmp_path / "store", tmp_path / "src"
    _auto_store(root, src)
    _write_files(src, 1)
    monkeypatch.setattr(_AFTER_MAIN["manifest"][0], _no_space("/full"))
    store = Store(root)
    with pytest.raises(UnfinishedError) as info:
        store.snapshot("demo", src, message="kept")
    store.close()
    assert info.value.exit_code == 3
    assert info.value.unfinished == ("manifest", "export")
    assert info.value.version.message == "kept"
    assert str(info.value.version.id) == _newest(root)
    assert info.value.record is not None
    assert info.value.record["id"] == str(info.value.version.id)


@pytest.mark.parametrize("step", ["manifest", "export"])
def test_an_unchanged_snapshot_whose_follow_up_fails_is_a_plain_failure(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    step: str,
) -> None:
    """No version recorded now: exit 1, and no word of one."""
    root, src = tmp_path / "store", tmp_path / "src"
    _auto_store(root, src)
    (root / "artifacts" / "demo" / "manifest.toml").unlink()
    shutil.rmtree(root / "artifacts" / "demo" / "versions")
    monkeypatch.setattr(_AFTER_MAIN[step][0], _no_space("/full"))
    capsys.readouterr()
    assert _run(root, "snapshot", "demo", str(src)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"gitversions: error: {ENOSPC}: /full\n"


def test_an_export_kept_out_by_another_writer_is_named_too(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Not only a full disk: a lock held past lock_timeout, fields unreadable."""
    root, src = tmp_path / "store", tmp_path / "src"
    _auto_store(root, src)
    _write_files(src, 1)

    def export(*_args: Any, **_kwargs: Any) -> None:
        raise LockTimeoutError("artifact 'demo' is locked by pid 1 (gitversions)")

    def records(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr("gitversions.store.Artifact.export", export)
    monkeypatch.setattr("gitversions.store.Artifact.records", records)
    capsys.readouterr()
    assert _run(root, "snapshot", "demo", str(src)) == 3
    out, err = capsys.readouterr()
    recorded = _newest(root)
    assert out == f"demo: recorded {recorded}\n"  # no summary: it could not be read
    assert "could not export it to " in err
    assert ": artifact 'demo' is locked by pid 1 (gitversions); run " in err
    assert _run(root, "--json", "snapshot", "demo", str(src), "--force") == 3
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"id", "commit", "unchanged", "unfinished", "error"}
    assert data["id"] == _newest(root) != recorded


@pytest.mark.parametrize(
    ("auto", "first"), [(True, False), (True, True), (False, False)]
)
def test_a_snapshot_says_recorded_exactly_when_main_moved_whichever_write_fails(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    figures: collections.Counter[str],
    auto: bool,
    first: bool,
) -> None:
    """The disk fills at each write in turn: the message tells the truth at all.

    Exit 3 and ``recorded <id>`` when main moved, exit 1 and no such word when
    it did not; either way ``verify --repair`` leaves a store that is whole.
    """
    template, src = tmp_path / "template", tmp_path / "src"
    _auto_store(template, src, versions=0 if first else 1, auto=auto, files=3)
    _write_files(src, 1, count=3)
    before = _newest(template)
    summary = "added" if first else "modified"
    outcomes: dict[int, int] = {}
    writes = 0
    while True:
        root = tmp_path / f"run{writes}"
        shutil.copytree(template, root)
        capsys.readouterr()
        with pytest.MonkeyPatch.context() as patch:
            _install_full_disk(patch, _Disk(0, writes=writes))
            code = _run(root, "snapshot", "demo", str(src))
        out, err = capsys.readouterr()
        newest = _newest(root)
        outcomes[code] = outcomes.get(code, 0) + 1
        if code == 0:
            break
        assert ENOSPC in err, err
        if newest != before:
            assert code == 3, err
            assert out == f"demo: recorded {newest} (3 {summary})\n"
            assert err.startswith(f"gitversions: error: demo: recorded {newest}, ")
            assert "verify --repair demo" in err
            assert _run(root, "verify", "--repair", "demo") == 0
            capsys.readouterr()
            assert _run(root, "verify", "demo") == 0
            assert capsys.readouterr().out == "ok: demo\n"
        else:
            assert code == 1, err
            assert out == "" and "demo: recorded" not in err
        assert _leftovers(root) == []
        writes += 1
    figures["faults: snapshot ENOSPC points (one per write)"] += writes + 1
    figures["faults: snapshot ENOSPC after main moved, said recorded"] += outcomes.get(
        3, 0
    )
    assert outcomes.get(3, 0) >= (3 if auto else 2), outcomes
    assert outcomes.get(1, 0) >= 5, outcomes


def _fill_inodes(disk: Path, leave: int) -> None:
    """Take every free inode of ``disk`` but ``leave``."""
    filler = disk / "inodes"
    filler.mkdir()
    made = []
    while True:
        path = filler / str(len(made))
        try:
            path.touch()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            break
        made.append(path)
    for path in made[:leave]:
        path.unlink()


@needs_tmpfs
@pytest.mark.parametrize("by", ["blocks", "inodes"])
def test_a_snapshot_on_a_real_full_disk_says_recorded_exactly_when_main_moved(
    tmp_path: Path,
    mount: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    figures: collections.Counter[str],
    by: str,
) -> None:
    """A tmpfs filled to 0, 1, 2... free blocks (or inodes) under a snapshot.

    With ``export.auto``, the free space runs out at every stage in turn:
    before main moves (exit 1, nothing recorded), after it (exit 3, the
    version named as recorded; ``verify --repair`` finishes it once space is
    freed), or not at all (exit 0).
    """
    template, src = tmp_path / "template", tmp_path / "src"
    _auto_store(template, src, files=3)
    _write_files(src, 1, count=3)
    before = _newest(template)
    disk = mount("size=4m,nr_inodes=400")
    outcomes: collections.Counter[int] = collections.Counter()
    for leave in range(200):
        root = disk / "store"
        shutil.copytree(template, root)
        if by == "blocks":
            filler = _fill(disk, leave * 4096)
        else:
            _fill_inodes(disk, leave)
        capsys.readouterr()
        code = _run(root, "snapshot", "demo", str(src))
        out, err = capsys.readouterr()
        outcomes[code] += 1
        newest = _newest(root)
        if by == "blocks":
            filler.unlink()
        else:
            shutil.rmtree(disk / "inodes")
        if code == 0:
            break
        assert ENOSPC in err, err
        if newest != before:
            assert code == 3, err
            assert out == f"demo: recorded {newest} (3 modified)\n"
            assert err.startswith(f"gitversions: error: demo: recorded {newest}, ")
            assert _run(root, "verify", "--repair", "demo") == 0
            capsys.readouterr()
            assert _run(root, "verify", "demo") == 0
            assert capsys.readouterr().out == "ok: demo\n"
        else:
            assert code == 1, err
            assert out == "" and "demo: recorded" not in err
        assert _leftovers(root) == []
        shutil.rmtree(root)
    figures[f"faults: snapshot on a real full disk, by {by}"] += sum(outcomes.values())
    figures[f"faults: ... by {by}, after main moved, said recorded"] += outcomes[3]
    assert outcomes[0] == 1, outcomes
    assert outcomes[1] >= 1 and outcomes[3] >= 1, outcomes

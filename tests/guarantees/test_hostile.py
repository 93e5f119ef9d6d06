"""Hostile inputs: each gets a clear error, the right exit status, and writes nothing.

SPEC §6, "Nothing outside the target is ever written or read" and "Bad input gets
a clear error and loses nothing". Every case here compares a listing of the
directories around the target before and after the command: only the target may
change (and, where a command is documented to, the artifact's own derived data:
version tags, caches and ``manifest.toml``).

The corpus: artifact names; sources (links leading out, a symlinked SRC, special
files, unreadable files, files rewritten or deleted while being read); histories
crafted with raw git objects (names like ``..`` and ``.git``, ``/``, ``\\`` and
NUL in names, duplicates, unsorted trees, gitlinks, odd modes, a link and a
directory of one name, 300 levels of nesting, missing and mistyped objects);
damaged files (``gitversions.toml``, ``.version.toml``, a bit-flipped loose
object, a truncated pack); and tarballs for ``import-skillmeat`` (tar slip).
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import hashlib
import io
import json
import os
import shutil
import socket
import stat
import tarfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import crash_harness as harness
import pytest
from click.testing import CliRunner, Result

from gitversions.cli import cli
from gitversions.errors import InvalidNameError, SourceError
from gitversions.git import history as history_module
from gitversions.snapshot import hashing
from gitversions.store import Store

pytestmark = pytest.mark.hostile

NAME = "skill"
State = dict[str, tuple[str, str]]


def state_of(top: Path, skip: tuple[str, ...] = ()) -> State:
    """Every entry under ``top``: path -> (kind, content digest or link text).

    ``skip`` lists relative paths (and everything below them) to leave out.
    """
    result: State = {}
    if not top.exists():
        return result
    for root, dirs, files in os.walk(top):
        for name in sorted(dirs + files):
            path = Path(root) / name
            rel = path.relative_to(top).as_posix()
            if any(rel == s or rel.startswith(s + "/") for s in skip):
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                result[rel] = ("link", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                result[rel] = (f"file {st.st_mode & 0o7777:o}", digest)
            elif stat.S_ISDIR(st.st_mode):
                result[rel] = ("dir", "")
            else:
                result[rel] = ("special", "")
    return result


def changed(before: State, after: State) -> list[str]:
    """The paths that differ between two states."""
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))


def invoke(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--root", str(root), *args])


def assert_clear_failure(result: Result, statuses: tuple[int, ...] = (1, 2)) -> None:
    """A one-line ``gitversions: error:`` message, a known status, no traceback."""
    assert result.exit_code in statuses, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit), result.exception
    assert result.stderr.startswith("gitversions: error: "), result.stderr
    assert "internal error" not in result.stderr, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert result.stderr.count("\n") == 1, result.stderr


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory no command may touch: the target of hostile links."""
    base = tmp_path / "outside"
    (base / "sub").mkdir(parents=True)
    (base / "secret").write_text("do not read me\n")
    (base / "sub" / "x").write_text("do not overwrite me\n")
    return base


def make_src(base: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return base


# -- names ---------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../x",
    "..",
    ".",
    "/abs",
    "a/b",
    "a\\b",
    "",
    "n" * 300,
    "-rf",
    ".hidden",
    "with space",
    "ünïcode",
    "new\nline",
    "tab\t",
    "*",
    "~",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=repr)
@pytest.mark.parametrize(
    "command",
    ["snapshot", "log", "show", "export", "restore", "verify", "gc", "diff", "prune"],
)
def test_hostile_artifact_names_are_refused_and_nothing_is_written(
    tmp_path: Path, name: str, command: str, figures: collections.Counter[str]
) -> None:
    root = tmp_path / "store"
    src = make_src(tmp_path / "src", {"SKILL.md": "x\n"})
    dest = tmp_path / "dest"
    args = {
        "snapshot": [name, str(src)],
        "restore": [name, "latest", str(dest)],
        "diff": [name, "latest"],
    }.get(command, [name])
    before = state_of(tmp_path)
    result = invoke(root, command, "--", *args)
    assert_clear_failure(result, (2,))
    assert "invalid artifact name" in result.stderr
    assert state_of(tmp_path) == before
    figures["hostile: cases"] += 1


def test_dash_name_without_double_dash_is_bad_usage(tmp_path: Path) -> None:
    src = make_src(tmp_path / "src", {"SKILL.md": "x\n"})
    before = state_of(tmp_path)
    result = invoke(tmp_path / "store", "snapshot", "-rf", str(src))
    assert result.exit_code == 2
    assert "No such option" in result.stderr
    assert state_of(tmp_path) == before


@pytest.mark.parametrize("name", ["a\0b", "\0", "skill\0../../x"], ids=repr)
def test_nul_in_a_name_is_refused_by_the_library(
    tmp_path: Path, name: str, figures: collections.Counter[str]
) -> None:
    """argv cannot hold NUL; the library is the way in."""
    src = make_src(tmp_path / "src", {"SKILL.md": "x\n"})
    before = state_of(tmp_path)
    store = Store(tmp_path / "store")
    with pytest.raises(InvalidNameError, match="invalid artifact name"):
        store.snapshot(name, src)
    with pytest.raises(InvalidNameError):
        store.artifact(name)
    assert state_of(tmp_path) == before
    figures["hostile: cases"] += 1


# -- sources --------------------------------------------------------------------------


@contextlib.contextmanager
def reads_recorded(under: Path) -> Iterator[list[str]]:
    """Record every open, stat, scandir and readlink of a path under ``under``."""
    seen: list[str] = []
    real = {name: getattr(os, name) for name in ("open", "stat", "scandir", "listdir")}
    real_open = builtins.open
    base = str(under.resolve())

    def note(path: object) -> None:
        if isinstance(path, int):
            return
        text = os.fsdecode(path)  # type: ignore[arg-type]
        resolved = os.path.realpath(text)
        if resolved.startswith(base) or text.startswith(base):
            seen.append(text)

    def wrap(name: str) -> Callable[..., object]:
        def hooked(path: object = ".", *args: object, **kwargs: object) -> object:
            follows = name != "stat" or kwargs.get("follow_symlinks", True)
            if follows:
                note(path)
            return real[name](path, *args, **kwargs)

        return hooked

    def hooked_open(file: object, *args: object, **kwargs: object) -> object:
        note(file)
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    for name in real:
        setattr(os, name, wrap(name))
    builtins.open = hooked_open
    try:
        yield seen
    finally:
        for name, func in real.items():
            setattr(os, name, func)
        builtins.open = real_open


def test_links_leading_out_are_recorded_as_links_and_never_followed(
    tmp_path: Path, outside: Path, figures: collections.Counter[str]
) -> None:
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    links = {
        "abs-file": str(outside / "secret"),
        "abs-dir": str(outside),
        "up-file": "../../outside/secret",
        "deep/up-dir": "../../../outside/sub",
        "dangling": "/nonexistent/nowhere",
        "self": "self",
    }
    for rel, target in links.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, src / rel)
    root = tmp_path / "store"
    outside_before = state_of(outside)
    with reads_recorded(outside) as seen:
        store = Store(root)
        try:
            result = store.snapshot(NAME, src)
            version = result.version
        finally:
            store.close()
    assert seen == [], f"the snapshot looked outside SRC: {seen}"
    history = root / "artifacts" / NAME / "history.git"
    tree = harness.tree_listing(history, version.commit)
    for rel, target in links.items():
        mode, oid = tree[rel]
        assert mode == 0o120000
        assert oid == harness.blob_id("sha1", target.encode())
    # export and restore recreate the links and never write through them
    assert invoke(root, "export", NAME).exit_code == 0
    exported = root / "artifacts" / NAME / "versions" / str(version.id)
    dest = tmp_path / "restored"
    assert invoke(root, "restore", NAME, "latest", str(dest)).exit_code == 0
    for top in (exported, dest):
        for rel, target in links.items():
            assert os.readlink(top / rel) == target
    assert state_of(outside) == outside_before
    figures["hostile: cases"] += len(links)


def test_restore_never_writes_through_a_link_left_in_dest(
    tmp_path: Path, outside: Path
) -> None:
    """v1 has ``data`` -> outside/sub; v2 has a real ``data/x``. Restore v2 over v1."""
    root = tmp_path / "store"
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    os.symlink(str(outside / "sub"), src / "data")
    store = Store(root)
    try:
        v1 = store.snapshot(NAME, src).version
        (src / "data").unlink()
        make_src(src, {"data/x": "mine, not outside's\n"})
        v2 = store.snapshot(NAME, src).version
    finally:
        store.close()
    dest = tmp_path / "work" / NAME
    assert invoke(root, "restore", NAME, str(v1.id), str(dest)).exit_code == 0
    assert (dest / "data").is_symlink()
    outside_before = state_of(outside)
    assert invoke(root, "restore", NAME, str(v2.id), str(dest)).exit_code == 0
    assert not (dest / "data").is_symlink()
    assert (dest / "data" / "x").read_text() == "mine, not outside's\n"
    assert state_of(outside) == outside_before


def test_a_symlinked_src_root_is_refused(tmp_path: Path, outside: Path) -> None:
    link = tmp_path / "skill-link"
    os.symlink(outside, link)
    before = state_of(tmp_path)
    result = invoke(tmp_path / "store", "snapshot", NAME, str(link))
    assert_clear_failure(result, (2,))
    assert "symbolic link" in result.stderr
    assert state_of(tmp_path) == before


def _fifo(src: Path) -> Path:
    os.mkfifo(src / "pipe")
    return src


def _socket(src: Path) -> Path:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "sock"))
    sock.close()
    return src


def _fifo_src(src: Path) -> Path:
    os.mkfifo(src.parent / "pipe-src")
    return src.parent / "pipe-src"


def _device_src(_src: Path) -> Path:
    return Path("/dev/null")


@pytest.mark.parametrize(
    ("kind", "make", "words"),
    [
        ("fifo", _fifo, "a fifo"),
        ("socket", _socket, "a socket"),
        ("fifo as SRC", _fifo_src, "a fifo"),
        ("device as SRC", _device_src, "a device"),
    ],
)
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_special_files_are_refused_and_nothing_is_written(
    tmp_path: Path,
    kind: str,
    make: Callable[[Path], Path],
    words: str,
    existing: bool,
    figures: collections.Counter[str],
) -> None:
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    root = tmp_path / "store"
    if existing:
        assert invoke(root, "snapshot", NAME, str(src)).exit_code == 0
    target = make(src)
    before = state_of(tmp_path)
    result = invoke(root, "snapshot", NAME, str(target))
    assert_clear_failure(result, (2,))
    assert words in result.stderr
    assert state_of(tmp_path) == before
    figures["hostile: cases"] += 1


@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
@pytest.mark.parametrize("what", ["file", "directory", "single-file SRC"])
def test_unreadable_sources_are_refused_and_nothing_is_written(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    existing: bool,
    what: str,
    figures: collections.Counter[str],
) -> None:
    """Tests run as root, where chmod 000 reads fine: the refusal is injected."""
    src = make_src(
        tmp_path / "src" / NAME, {"SKILL.md": "skill\n", "private/key.md": "k\n"}
    )
    root = tmp_path / "store"
    if what == "single-file SRC":
        src = make_src(tmp_path / "cmds", {"review.md": "review\n"}) / "review.md"
    if existing:
        assert invoke(root, "snapshot", NAME, str(src)).exit_code == 0
        if what == "single-file SRC":
            src.write_text("changed\n")
        else:
            (src / "SKILL.md").write_text("changed\n")
    victim = {
        "file": src / "private" / "key.md",
        "directory": src / "private",
        "single-file SRC": src,
    }[what]
    denied = os.fsencode(victim)

    def deny(func: Callable[..., object]) -> Callable[..., object]:
        def hooked(path: object, *args: object, **kwargs: object) -> object:
            if not isinstance(path, int) and os.fsencode(path) == denied:  # type: ignore[arg-type]
                raise PermissionError(13, "Permission denied", os.fsdecode(denied))
            return func(path, *args, **kwargs)

        return hooked

    before = state_of(tmp_path)
    monkeypatch.setattr(os, "open", deny(os.open))
    monkeypatch.setattr(os, "scandir", deny(os.scandir))
    result = invoke(root, "snapshot", NAME, str(src))
    monkeypatch.undo()
    assert_clear_failure(result, (2,))
    assert "Permission denied" in result.stderr
    assert state_of(tmp_path) == before
    figures["hostile: cases"] += 1


def _pieces(state: int, size: int, count: int) -> list[bytes]:
    piece = size // count
    patterns = [f"<state {state} piece {p}>".encode() for p in range(count)]
    return [(pat * (piece // len(pat) + 1))[:piece] for pat in patterns]


@pytest.mark.parametrize(
    ("size", "count", "pause", "budget"),
    [
        (256 << 10, 4, 0.03, 2.0),
        (1 << 20, 1, 0.0, 3.0),
        ((8 << 20) + 1000, 4, 0.9, 2.5),
    ],
    ids=["256KiB-in-4-writes-with-pauses", "1MiB-in-1-write-nonstop", "9MiB-streamed"],
)
def test_a_file_rewritten_during_snapshots_is_never_recorded_torn(
    tmp_path: Path,
    size: int,
    count: int,
    pause: float,
    budget: float,
    figures: collections.Counter[str],
) -> None:
    """A background thread rewrites a file in place, piece by piece, in a loop.

    Between two writes the file holds "state k-1 with its first m pieces
    replaced by state k's". A recorded version must hold one of those, never a
    piece cut in the middle: that would be a read overlapping a write, which
    the snapshot promises to detect and redo ("a file that changes while it is
    read is read again"). A snapshot that cannot get a stable read fails with a
    clear SourceError and records nothing.
    """
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    data = src / "data.bin"
    data.write_bytes(b"".join(_pieces(0, size, count)))
    stop = threading.Event()
    written = [0]

    def rewrite() -> None:
        state = 0
        with data.open("r+b", buffering=0) as f:
            while not stop.is_set():
                state += 1
                for p, piece in enumerate(_pieces(state, size, count)):
                    f.seek(p * (size // count))
                    f.write(piece)
                written[0] = state
                if pause and state % 3 == 0:  # a quiet moment, so reads can win
                    stop.wait(pause)

    root = tmp_path / "store"
    store = Store(root)
    recorded: list[str] = []
    refused = 0
    thread = threading.Thread(target=rewrite, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + budget
        while time.monotonic() < deadline and len(recorded) + refused < 150:
            try:
                result = store.snapshot(NAME, src, force=True)
            except SourceError as exc:
                assert "kept changing" in str(exc), exc
                refused += 1
                continue
            recorded.append(result.version.commit)
    finally:
        stop.set()
        thread.join()
        store.close()
    # A file rewritten without a pause is never still: refusing every attempt
    # ("kept changing") is right; a file that pauses must be recorded.
    assert recorded or (not pause and refused), "no snapshot succeeded"
    history = root / "artifacts" / NAME / "history.git"
    plen = size // count
    torn = []
    for commit in recorded:
        content = harness.run_git_bytes(
            history, "cat-file", "blob", f"{commit}:data.bin"
        )
        assert len(content) == size
        states: list[int | str] = []
        for p in range(count):
            piece = content[p * plen : (p + 1) * plen]
            k = int(piece[: piece.index(b">")].split()[1])
            states.append(k if piece == _pieces(k, size, count)[p] else f"{k}, cut")
        # between two writes: pieces 0..m-1 of state k, the rest of state k-1
        whole = all(isinstance(k, int) for k in states)
        if not (whole and states == sorted(states, reverse=True)) or (
            whole and int(states[0]) - int(states[-1]) > 1
        ):
            torn.append(states)
    assert torn == [], (
        f"{len(torn)} of {len(recorded)} versions hold a read that overlapped a "
        f"write (pieces by state): {torn[:5]}"
    )
    figures["hostile: cases"] += 1
    figures["hostile: versions recorded while their file was rewritten"] += len(
        recorded
    )
    if recorded:  # all refused: the artifact (and its history) was never made
        assert harness.fsck(history) is None
    else:
        assert not history.exists()


# -- files replaced or rewritten at an exact moment of their read ----------------------
#
# Each case acts on data.md at one precise point of the snapshot's read, through
# stand-ins for ``os`` and ``time`` inside gitversions.snapshot.hashing: no thread
# races the snapshot, so every outcome is the same on an idle or a loaded machine.

Hook = Callable[[str, int], None]


class _Stand(ModuleType):
    """A module whose attributes are the real module's, except a few overrides."""

    def __init__(self, real: ModuleType, **overrides: Any) -> None:
        super().__init__(real.__name__)
        self.__dict__.update(overrides)
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def act_during_read(
    monkeypatch: pytest.MonkeyPatch, name: str, hook: Hook
) -> collections.Counter[str]:
    """Call ``hook(point, n)`` at the n-th ``point`` of the reads of file ``name``.

    Points: ``open`` (scanned, not yet opened), ``opened`` (opened, not yet
    stat'ed), ``read`` (after each chunk) and ``pause`` (the stillness wait
    between two reads of a recently modified file). Returns the counts.
    """
    counts: collections.Counter[str] = collections.Counter()
    fds: set[int] = set()
    mine = threading.local()  # is this reader thread on ``name``?
    guard = threading.Lock()

    def fire(point: str) -> None:
        with guard:
            counts[point] += 1
            n = counts[point]
        hook(point, n)

    def open_(path: str, flags: int, *args: Any) -> int:
        mine.on = os.path.basename(path) == name
        if mine.on:
            fire("open")
        fd = os.open(path, flags, *args)
        if mine.on:
            fds.add(fd)
            fire("opened")
        return fd

    def read(fd: int, size: int) -> bytes:
        chunk = os.read(fd, size)
        if fd in fds:
            fire("read")
        return chunk

    def close(fd: int) -> None:
        fds.discard(fd)
        os.close(fd)

    def sleep(seconds: float) -> None:
        if getattr(mine, "on", False):
            fire("pause")
        time.sleep(seconds)

    monkeypatch.setattr(hashing, "os", _Stand(os, open=open_, read=read, close=close))
    monkeypatch.setattr(hashing, "time", _Stand(time, sleep=sleep))
    monkeypatch.setattr(hashing, "CHUNK_SIZE", 4096)  # several chunks per file
    return counts


OLD = b"the old content, complete\n" * 2500  # 65,000 bytes: 16 chunks
NEW = b"THE NEW CONTENT, ALSO COMPLETE AND LONGER\n" * 2000


def _replace_atomically(path: Path, data: bytes) -> None:
    """What editors and SkillMeat do: a whole temporary file, renamed over."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _snapshot_data(tmp_path: Path, src: Path) -> bytes | SourceError:
    """Snapshot ``src`` once; data.md as git shows it, or the refusal."""
    root = tmp_path / "store"
    store = Store(root)
    try:
        commit = store.snapshot(NAME, src).version.commit
    except SourceError as exc:
        assert not (root / "artifacts" / NAME / "history.git").exists()
        return exc
    finally:
        store.close()
    history = root / "artifacts" / NAME / "history.git"
    assert harness.fsck(history) is None
    return harness.run_git_bytes(history, "cat-file", "blob", f"{commit}:data.md")


# (point, n) of the replacement; the streamed path reads the file twice (to hash
# it, then to store it), so its second open falls between hashing and storing.
REPLACE_AT = {
    "after-scan-before-open": ("open", 1),
    "after-open-before-stat": ("opened", 1),
    "between-two-chunks": ("read", 3),
    "in-the-stillness-wait": ("pause", 1),
    "between-hashing-and-storing": ("open", 2),
}


def _replace_cases() -> Iterator[Any]:
    for moment, (point, _n) in REPLACE_AT.items():
        for streamed in (False, True):
            if moment == "between-hashing-and-storing" and not streamed:
                continue  # the in-memory path reads a file once
            # Whether the file counts as just modified decides how many reads
            # it gets: both are tried, neither is left to the machine's load.
            for recent in (True,) if point == "pause" else (False, True):
                how = (
                    "streamed" if streamed else "in-memory",
                    "recent" if recent else "old",
                )
                yield pytest.param(
                    moment, streamed, recent, id="-".join((moment, *how))
                )


@pytest.mark.parametrize(("moment", "streamed", "recent"), list(_replace_cases()))
def test_a_file_replaced_atomically_during_a_snapshot_is_never_recorded_torn(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    moment: str,
    streamed: bool,
    recent: bool,
    figures: collections.Counter[str],
) -> None:
    """SPEC §6: a file replaced by rename while it is read is recorded whole.

    The snapshot records the old content or the new one, never a mix. On the
    streamed path (files over 8 MiB, forced small here) a file replaced after
    the read that hashed it may instead be refused ("kept changing"): the store
    reads it again and finds other content than it hashed.
    """
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    data = src / "data.md"
    data.write_bytes(OLD)
    point = REPLACE_AT[moment]
    _pin_recent(monkeypatch, recent)
    if streamed:
        monkeypatch.setattr(history_module, "_SMALL_FILE", 1024)

    def hook(at: str, n: int) -> None:
        if (at, n) == point:
            _replace_atomically(data, NEW)

    counts = act_during_read(monkeypatch, "data.md", hook)
    got = _snapshot_data(tmp_path, src)
    assert counts[point[0]] >= point[1], "the replacement never happened"
    if isinstance(got, SourceError):
        assert streamed and moment != "after-scan-before-open", got
        assert "kept changing" in str(got), got
    elif moment == "after-scan-before-open":
        assert got == NEW
    else:
        assert got in (OLD, NEW), f"data.md is torn ({len(got)} bytes)"
    figures["hostile: cases"] += 1


def _pin_recent(monkeypatch: pytest.MonkeyPatch, recent: bool) -> None:
    """Make every file count as just modified (read twice around a stillness
    wait), or none: a file the test wrote moments ago may be read more than
    ``RACY_NS`` later on a loaded machine, so neither is left to the load."""
    monkeypatch.setattr(hashing, "RACY_NS", (1 if recent else -1) << 62)


def _rewrite(path: Path, data: bytes) -> None:
    """Rewrite ``path`` in place (same inode), as ``open(path, "wb")`` does."""
    with path.open("r+b") as f:
        f.write(data)
        f.truncate()


PARTIAL = NEW[: len(NEW) // 2]  # a writer's first write of NEW


@dataclass(frozen=True)
class InPlace:
    """A file rewritten in place at given points of its read, and what must follow."""

    name: str
    first: bytes  # data.md when scanned
    writes: dict[tuple[str, int], bytes | None]  # (point, n) -> data, None: delete
    expected: bytes | str  # content recorded, or the refusal's words
    every_read: bool = False  # a new content after every chunk read
    recent: bool = False  # just written: read twice around a stillness wait


IN_PLACE = [
    # A change during the read shows in size, mtime or ctime: read again.
    InPlace(
        "same-size-rewrite-during-read", OLD, {("read", 3): OLD.upper()}, OLD.upper()
    ),
    InPlace("shortened-during-read", OLD, {("read", 3): OLD[:1000]}, OLD[:1000]),
    InPlace("grown-during-read", OLD, {("read", 3): OLD + b"more\n"}, OLD + b"more\n"),
    # A writer that resumes within the stillness wait: its first part is one
    # whole read that a second read does not confirm.
    InPlace(
        "writer-resumes-in-the-wait", PARTIAL, {("pause", 1): NEW}, NEW, recent=True
    ),
    # The limit: a writer paused for longer than the wait cannot be told from
    # one that has finished; what the file held, still, is recorded.
    InPlace("writer-paused-past-the-wait", PARTIAL, {}, PARTIAL, recent=True),
    InPlace("keeps-changing", OLD, {}, "kept changing", every_read=True, recent=True),
    InPlace("deleted-before-open", OLD, {("open", 1): None}, "vanished"),
]


@pytest.mark.parametrize("case", IN_PLACE, ids=lambda c: c.name)
def test_a_file_rewritten_in_place_is_recorded_whole_as_read_or_refused(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    case: InPlace,
    figures: collections.Counter[str],
) -> None:
    """SPEC §6: a file changing in place is recorded only from a read it did
    not change during, and confirmed by a second read after a still moment;
    otherwise the snapshot is refused clearly and records nothing."""
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    data = src / "data.md"
    data.write_bytes(case.first)
    os.utime(data, ns=(10**18, 10**18))  # old: any write changes mtime
    _pin_recent(monkeypatch, case.recent)
    versions = iter(range(1, 10**6))

    def hook(at: str, n: int) -> None:
        if (at, n) in case.writes:
            write = case.writes[at, n]
            if write is None:
                data.unlink()
            else:
                _rewrite(data, write)
        elif case.every_read and at == "read":
            _rewrite(data, b"%d\n" % next(versions) * 20_000)

    counts = act_during_read(monkeypatch, "data.md", hook)
    got = _snapshot_data(tmp_path, src)
    if isinstance(case.expected, str):
        assert isinstance(got, SourceError), f"recorded {len(got)} bytes"
        assert case.expected in str(got) and "data.md" in str(got), got
    else:
        assert got == case.expected, f"data.md recorded with {len(got)} bytes"
        if case.recent:
            assert counts["pause"] >= 1, "accepted without a second read"
    figures["hostile: cases"] += 1


# -- crafted histories ---------------------------------------------------------------


class Crafter:
    """Writes raw git objects into a bare repository, bypassing every check."""

    def __init__(self, history: Path) -> None:
        self.history = history
        fmt = harness.run_git(history, "rev-parse", "--show-object-format").strip()
        self.algorithm = "sha256" if fmt == "sha256" else "sha1"

    def raw(self, kind: bytes, body: bytes) -> str:
        data = b"%s %d\0%s" % (kind, len(body), body)
        oid = hashlib.new(self.algorithm, data).hexdigest()
        path = self.history / "objects" / oid[:2] / oid[2:]
        path.parent.mkdir(exist_ok=True)
        if not path.exists():
            path.write_bytes(zlib.compress(data))
        return oid

    def blob(self, data: bytes | str) -> str:
        return self.raw(b"blob", data.encode() if isinstance(data, str) else data)

    def tree(self, *entries: tuple[str, bytes, str], sort: bool = False) -> str:
        """A tree of (mode, name, id) entries, written in the given order."""
        if sort:
            entries = tuple(
                sorted(entries, key=lambda e: e[1] + (b"/" if e[0] == "40000" else b""))
            )
        body = b"".join(
            b"%s %s\0%s" % (mode.encode(), name, bytes.fromhex(oid))
            for mode, name, oid in entries
        )
        return self.raw(b"tree", body)

    def file_tree(self, name: bytes, mode: str = "100644", data: str = "x\n") -> str:
        return self.tree(
            ("100644", b"SKILL.md", self.blob("ok\n")),
            (mode, name, self.blob(data)),
            sort=True,
        )

    def commit(self, tree: str, parents: list[str], message: str = "crafted") -> str:
        lines = [f"tree {tree}", *(f"parent {p}" for p in parents)]
        lines += [
            "author Mallory <m@example.com> 1700000000 +0000",
            "committer Mallory <m@example.com> 1700000000 +0000",
            "",
            message,
            "",
        ]
        return self.raw(b"commit", "\n".join(lines).encode())

    def missing(self) -> str:
        return ("ab" * 32)[: 64 if self.algorithm == "sha256" else 40]


@dataclass(frozen=True)
class Case:
    """A crafted history: how to build its root tree (or whole commit)."""

    name: str
    build: Callable[[Crafter, Path], str]
    commit: bool = False  # build returns a commit id, not a tree id


def _deep(c: Crafter, levels: int) -> str:
    tree = c.tree(("100644", b"bottom.md", c.blob("deep\n")))
    for level in range(levels):
        tree = c.tree(("40000", b"d%d" % level, tree))
    return c.tree(("100644", b"SKILL.md", c.blob("ok\n")), ("40000", b"top", tree))


def _sub(c: Crafter) -> str:
    return c.tree(("100644", b"x", c.blob("planted\n")))


def _long_path(c: Crafter) -> str:
    tree = c.tree(("100644", b"f.md", c.blob("far\n")))
    for level in range(40):
        tree = c.tree(("40000", b"%03d" % level + b"x" * 120, tree))
    return c.tree(("100644", b"SKILL.md", c.blob("ok\n")), ("40000", b"top", tree))


def _garbage(c: Crafter) -> str:
    return c.raw(b"tree", b"\x00\xffgarbage" * 9)


CASES = [
    Case("dotdot", lambda c, o: c.file_tree(b"..")),
    Case("dotdot-dir", lambda c, o: c.tree(("40000", b"..", _sub(c)))),
    Case("dot", lambda c, o: c.tree(("40000", b".", _sub(c)))),
    Case(
        ".git",
        lambda c, o: c.tree(
            (
                "40000",
                b".git",
                c.tree(("100644", b"config", c.blob("[core]\n\thooksPath=/tmp\n"))),
            )
        ),
    ),
    Case(".GIT", lambda c, o: c.tree(("40000", b".GIT", _sub(c)))),
    Case(".Git-file", lambda c, o: c.file_tree(b".Git")),
    Case(".git.", lambda c, o: c.tree(("40000", b".git.", _sub(c)))),
    Case(".git-space", lambda c, o: c.tree(("40000", b".git ", _sub(c)))),
    Case("git~1", lambda c, o: c.tree(("40000", b"GIT~1", _sub(c)))),
    Case("ntfs-stream", lambda c, o: c.file_tree(b".git::$INDEX_ALLOCATION")),
    Case(
        "hfs-ignorable", lambda c, o: c.tree(("40000", ".g\u200cit".encode(), _sub(c)))
    ),
    Case(
        "nested-.git",
        lambda c, o: c.tree(("40000", b"sub", c.tree(("40000", b".git", _sub(c))))),
    ),
    Case("slash", lambda c, o: c.file_tree(b"a/b")),
    Case("absolute", lambda c, o: c.file_tree(str(o / "planted").encode())),
    Case("dotdot-path", lambda c, o: c.file_tree(b"../../outside/planted")),
    Case("backslash", lambda c, o: c.file_tree(b"..\\..\\planted")),
    Case("nul", lambda c, o: c.file_tree(b"a\0b")),
    Case("empty-name", lambda c, o: c.file_tree(b"")),
    Case("non-utf8", lambda c, o: c.file_tree(b"\xff\xfe.md")),
    Case(
        "reserved-.version.toml",
        lambda c, o: c.file_tree(b".version.toml", data="[version]\n"),
    ),
    Case(
        "duplicate-file",
        lambda c, o: c.tree(
            ("100644", b"a", c.blob("1\n")), ("100644", b"a", c.blob("2\n"))
        ),
    ),
    Case(
        "duplicate-file-and-dir",
        lambda c, o: c.tree(("100644", b"a", c.blob("1\n")), ("40000", b"a", _sub(c))),
    ),
    Case(
        "duplicate-apart",
        lambda c, o: c.tree(
            ("100644", b"a", c.blob("1\n")),
            ("100644", b"a.b", c.blob("2\n")),
            ("40000", b"a", _sub(c)),
        ),
    ),
    Case(
        "link-then-dir",
        lambda c, o: c.tree(
            ("120000", b"a", c.blob(str(o / "sub"))), ("40000", b"a", _sub(c))
        ),
    ),
    Case(
        "dir-then-link",
        lambda c, o: c.tree(
            ("40000", b"a", _sub(c)), ("120000", b"a", c.blob(str(o / "sub")))
        ),
    ),
    Case(
        "case-duplicate",
        lambda c, o: c.tree(
            ("100644", b"A", c.blob("1\n")), ("100644", b"a", c.blob("2\n"))
        ),
    ),
    Case(
        "unsorted",
        lambda c, o: c.tree(
            ("100644", b"b", c.blob("1\n")), ("100644", b"a", c.blob("2\n"))
        ),
    ),
    Case(
        "gitlink",
        lambda c, o: c.tree(
            ("100644", b"SKILL.md", c.blob("ok\n")), ("160000", b"sub", c.missing())
        ),
    ),
    Case("mode-100664", lambda c, o: c.file_tree(b"m", mode="100664")),
    Case("mode-100600", lambda c, o: c.file_tree(b"m", mode="100600")),
    Case("mode-100777", lambda c, o: c.file_tree(b"m", mode="100777")),
    Case("mode-040755", lambda c, o: c.tree(("40755", b"d", _sub(c)))),
    Case("mode-0", lambda c, o: c.file_tree(b"m", mode="0")),
    Case("mode-letters", lambda c, o: c.file_tree(b"m", mode="10064x")),
    Case("empty-link", lambda c, o: c.tree(("120000", b"l", c.blob("")))),
    Case(
        "link-with-nul",
        lambda c, o: c.tree(("120000", b"l", c.blob(b"a\0/etc/passwd"))),
    ),
    Case("missing-blob", lambda c, o: c.tree(("100644", b"m", c.missing()))),
    Case("tree-entry-is-blob", lambda c, o: c.tree(("40000", b"d", c.blob("x\n")))),
    Case("blob-entry-is-tree", lambda c, o: c.tree(("100644", b"f", _sub(c)))),
    Case("truncated-tree", lambda c, o: c.raw(b"tree", b"100644 a\0" + b"\x01" * 5)),
    Case("garbage-tree", lambda c, o: _garbage(c)),
    Case("deep-300", lambda c, o: _deep(c, 300)),
    Case("deep-128", lambda c, o: _deep(c, 128)),
    Case("commit-tree-is-blob", lambda c, o: c.commit(c.blob("x\n"), []), commit=True),
    Case("commit-tree-missing", lambda c, o: c.commit(c.missing(), []), commit=True),
    Case(
        "commit-parent-missing",
        lambda c, o: c.commit(c.file_tree(b"ok.md"), [c.missing()]),
        commit=True,
    ),
]

# Trees that git accepts but no filesystem can hold: writing them to disk must
# fail cleanly; an archive, verify, show and log may take them.
UNWRITABLE_CASES = [
    Case("name-300-bytes", lambda c, o: c.file_tree(b"n" * 300)),
    Case("path-5000-bytes", lambda c, o: _long_path(c)),
]

# Trees that are odd but safe: links leading out are content; they must be
# recreated as links, and nothing may be written through them.
SAFE_CASES = [
    Case(
        "abs-link",
        lambda c, o: c.tree(
            ("100644", b"SKILL.md", c.blob("ok\n")),
            ("120000", b"evil", c.blob(str(o / "sub"))),
            sort=True,
        ),
    ),
    Case(
        "up-link",
        lambda c, o: c.tree(
            ("100644", b"SKILL.md", c.blob("ok\n")),
            ("120000", b"up", c.blob("../../../../outside/sub")),
            sort=True,
        ),
    ),
    Case(
        "link-chain",
        lambda c, o: c.tree(
            ("120000", b"a", c.blob("b")), ("120000", b"b", c.blob(str(o))), sort=True
        ),
    ),
]


@pytest.fixture(scope="module", params=["sha1", "sha256"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A store with one normal version, exported and restored, to copy per case."""
    base = tmp_path_factory.mktemp(f"template-{request.param}")
    root = base / "store"
    root.mkdir()
    (root / "gitversions.toml").write_text(f'object_format = "{request.param}"\n')
    src = make_src(base / "src" / NAME, {"SKILL.md": "# fine\n", "docs/a.md": "a\n"})
    store = Store(root)
    try:
        store.snapshot(NAME, src, message="honest")
        store.artifact(NAME).export()
        store.artifact(NAME).restore("latest", base / "dest" / NAME)
    finally:
        store.close()
    (base / "outside" / "sub").mkdir(parents=True)
    (base / "outside" / "sub" / "x").write_text("do not overwrite me\n")
    (base / "outside" / "secret").write_text("secret\n")
    return base


@dataclass
class Crafted:
    base: Path
    root: Path
    history: Path
    versions: Path
    dest: Path
    out: Path
    commit: str


def craft(template: Path, tmp_path: Path, case: Case) -> Crafted:
    base = tmp_path / "w"
    shutil.copytree(template, base, symlinks=True)
    root = base / "store"
    history = root / "artifacts" / NAME / "history.git"
    c = Crafter(history)
    head = (history / "refs" / "heads" / "main").read_text().strip()
    built = case.build(c, base / "outside")
    commit = built if case.commit else c.commit(built, [head])
    (history / "refs" / "heads" / "main").write_text(commit + "\n")
    return Crafted(
        base,
        root,
        history,
        root / "artifacts" / NAME / "versions",
        base / "dest" / NAME,
        base / "out",
        commit,
    )


def _derived(rel: str) -> bool:
    """Files a command may update in the store although it targets elsewhere."""
    parts = rel.split("/")
    return (
        "gitversions" in parts[4:6]  # history.git/gitversions: cache hints
        or rel.endswith("/.lock")
        or rel.endswith("/manifest.toml")
        or "/refs/tags" in rel  # tags of versions on main (re-created on export)
        or rel.endswith("/packed-refs")
    )


COMMANDS: dict[str, Callable[[Crafted], list[str]]] = {
    "export": lambda w: ["export", NAME],
    "export --to": lambda w: ["export", NAME, "--to", str(w.out)],
    "export tar.gz": lambda w: [
        "export",
        NAME,
        "latest",
        "--to",
        str(w.out),
        "--format",
        "tar.gz",
    ],
    "restore": lambda w: ["restore", NAME, "latest", str(w.dest)],
    "verify": lambda w: ["verify", NAME],
    "show": lambda w: ["show", NAME],
    "log": lambda w: ["log", NAME],
    "diff": lambda w: ["diff", NAME, "latest"],
}
TARGET = {
    "export": lambda w: w.versions,
    "export --to": lambda w: w.out,
    "export tar.gz": lambda w: w.out,
    "restore": lambda w: w.dest.parent,
}


def run_crafted(template: Path, tmp_path: Path, case: Case) -> dict[str, Result]:
    w = craft(template, tmp_path, case)
    results = {}
    for command, args in COMMANDS.items():
        target = TARGET.get(command, lambda _w: None)(w)
        skip = (target.relative_to(w.base).as_posix(),) if target else ()
        before = state_of(w.base, skip)
        target_before = state_of(target) if target else {}
        result = invoke(w.root, *args(w))
        after = state_of(w.base, skip)
        outside_target = [rel for rel in changed(before, after) if not _derived(rel)]
        assert outside_target == [], f"{case.name}: {command} wrote {outside_target}"
        if command in ("show", "log", "diff"):
            assert not [r for r in changed(before, after) if "/refs/" in r]
        results[command] = result
        if target is not None and result.exit_code != 0:
            # A refused export or restore leaves its target exactly as it was,
            # except versions that are complete (export --to of the good v1).
            now = state_of(target)
            for rel in changed(target_before, now):
                top = rel.split("/")[0]
                assert not top.startswith("."), f"{case.name}: {command} left {rel}"
                if command == "export --to":
                    assert (target / top / ".version.toml").is_file()
                else:
                    pytest.fail(f"{case.name}: refused {command} changed {rel}")
    return results


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_crafted_histories_are_refused_and_nothing_is_written_outside_the_target(
    template: Path, tmp_path: Path, case: Case, figures: collections.Counter[str]
) -> None:
    results = run_crafted(template, tmp_path, case)
    for command in ("export", "export --to", "export tar.gz", "restore"):
        assert_clear_failure(results[command])
    verify = results["verify"]
    assert verify.exit_code == 1, f"verify passed a crafted history:\n{verify.output}"
    assert "problem:" in verify.stdout and "internal error" not in verify.output
    for command in ("show", "log", "diff"):
        if results[command].exit_code != 0:
            assert_clear_failure(results[command])
    figures["hostile: cases"] += 1
    figures["hostile: commands run on crafted histories"] += len(results)


# Refused by the strict tree check itself (git fsck --strict rejects them all),
# not by a missing or unreadable object.
_TREE_CHECK_NAMES = {
    "duplicate-file",
    "duplicate-file-and-dir",
    "duplicate-apart",
    "link-then-dir",
    "dir-then-link",
    "unsorted",
    "case-duplicate",
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_fetch_from_a_crafted_history_adopts_nothing(
    template: Path, tmp_path: Path, case: Case, figures: collections.Counter[str]
) -> None:
    """The crafted history as a remote: fetch keeps main and writes no version."""
    w = craft(template, tmp_path / "remote", case)
    local = tmp_path / "local"
    shutil.copytree(template, local, symlinks=True)
    root = local / "store"
    history = root / "artifacts" / NAME / "history.git"
    main = (history / "refs" / "heads" / "main").read_text()
    versions = root / "artifacts" / NAME / "versions"
    before = state_of(versions)
    result = invoke(root, "fetch", NAME, str(w.history))
    assert result.exit_code != 0, f"{case.name}: fetch adopted:\n{result.output}"
    assert "Traceback" not in result.output + result.stderr
    assert "internal error" not in result.stderr, result.stderr
    if case.name in _TREE_CHECK_NAMES:
        assert result.exit_code == 1
        assert "refused remote history" in result.stderr, result.stderr
    assert (history / "refs" / "heads" / "main").read_text() == main
    assert state_of(versions) == before
    assert [p.name for p in (history / "refs" / "tags").iterdir()] == [
        p.name
        for p in (
            template / "store/artifacts" / NAME / "history.git/refs/tags"
        ).iterdir()
    ]
    figures["hostile: crafted histories fetch refused"] += 1


@pytest.mark.parametrize("case", UNWRITABLE_CASES, ids=lambda c: c.name)
def test_trees_no_filesystem_can_hold_fail_cleanly_on_disk(
    template: Path, tmp_path: Path, case: Case, figures: collections.Counter[str]
) -> None:
    results = run_crafted(template, tmp_path, case)
    for command in ("export", "export --to", "restore"):
        assert_clear_failure(results[command], (1,))
    for command, result in results.items():
        if result.exit_code != 0:
            assert "internal error" not in result.output + result.stderr, command
    figures["hostile: cases"] += 1


@pytest.mark.parametrize("case", SAFE_CASES, ids=lambda c: c.name)
def test_links_in_crafted_histories_are_recreated_never_followed(
    template: Path, tmp_path: Path, case: Case, figures: collections.Counter[str]
) -> None:
    results = run_crafted(template, tmp_path, case)
    for command, result in results.items():
        assert result.exit_code == 0, (command, result.output)
    base = tmp_path / "w"
    assert state_of(base / "outside") == state_of(template / "outside")
    restored = base / "dest" / NAME
    for entry in restored.iterdir():
        if entry.is_symlink():
            assert not os.readlink(entry).startswith(str(restored))
    figures["hostile: cases"] += 1


# -- damaged files -------------------------------------------------------------------

BAD_CONFIGS: dict[str, bytes] = {
    "not TOML": b"lock_timeout = [\n",
    "unknown key": b"lock_timout = 3\n",
    "wrong type": b'lock_timeout = "soon"\n',
    "negative": b"lock_timeout = -1\n",
    "nan": b"lock_timeout = nan\n",
    "object format": b'object_format = "md5"\n',
    "exclude type": b'exclude = "*.pyc"\n',
    "latest mode": b'[export]\nlatest = "hard"\n',
    "export not a table": b"export = 3\n",
    "retention keep 0": b"[retention]\nkeep = 0\n",
    "not UTF-8": b"exclude = ['\xff']\n",
    "NUL byte": b"lock_timeout = 1\0\n",
    "deep nesting": b"exclude = " + b"[" * 5000 + b"]" * 5000 + b"\n",
    "huge integer": b"lock_timeout = " + b"9" * 5000 + b"\n",
}


@pytest.mark.parametrize("text", BAD_CONFIGS.values(), ids=BAD_CONFIGS.keys())
@pytest.mark.parametrize(
    "command", ["snapshot", "log", "export", "verify", "gc", "list"]
)
def test_a_malformed_config_fails_every_command_clearly(
    tmp_path: Path, text: bytes, command: str, figures: collections.Counter[str]
) -> None:
    root = tmp_path / "store"
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    assert invoke(root, "snapshot", NAME, str(src)).exit_code == 0
    (src / "SKILL.md").write_text("changed\n")
    (root / "gitversions.toml").write_bytes(text)
    before = state_of(tmp_path)
    args = {"snapshot": [NAME, str(src)], "list": []}.get(command, [NAME])
    result = invoke(root, command, *args)
    assert_clear_failure(result, (2,))
    assert "gitversions.toml" in result.stderr
    assert state_of(tmp_path) == before
    figures["hostile: cases"] += 1


BAD_VERSION_TOMLS: dict[str, Callable[[str], str]] = {
    "not TOML": lambda t: t + "\n[[[\n",
    "wrong id": lambda t: t.replace('id = "v1-', 'id = "v9-'),
    "missing field": lambda t: "\n".join(
        line for line in t.splitlines() if not line.startswith("hash")
    ),
    "bad timestamp": lambda t: t.replace("T", "X", 1),
    "path escapes": lambda t: t.replace('added = ["', 'added = ["../'),
    "deep nesting": lambda t: t + "x = " + "[" * 3000 + "]" * 3000 + "\n",
    "huge integer": lambda t: t.replace("number = 1", "number = " + "9" * 5000),
    "huge parent": lambda t: t.replace(
        "parent_versions = []", 'parent_versions = ["v' + "9" * 5000 + '-abcdef0"]'
    ),
    "empty": lambda t: "",
}


@pytest.mark.parametrize(
    "damage", BAD_VERSION_TOMLS.values(), ids=BAD_VERSION_TOMLS.keys()
)
def test_a_damaged_version_toml_is_named_and_export_repairs_it(
    tmp_path: Path, damage: Callable[[str], str], figures: collections.Counter[str]
) -> None:
    root = tmp_path / "store"
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "skill\n"})
    assert invoke(root, "snapshot", NAME, str(src)).exit_code == 0
    assert invoke(root, "export", NAME).exit_code == 0
    versions = root / "artifacts" / NAME / "versions"
    (vdir,) = [p for p in versions.iterdir() if p.name != "latest"]
    meta = vdir / ".version.toml"
    good = meta.read_text()
    meta.chmod(0o644)
    meta.write_text(damage(good))
    result = invoke(root, "verify", NAME)
    assert result.exit_code == 1, result.output
    assert f"versions/{vdir.name}/.version.toml" in result.stdout, result.stdout
    assert "internal error" not in result.output
    checked = invoke(root, "validate", str(meta))
    assert checked.exit_code == 1, checked.output
    assert "internal error" not in checked.output + checked.stderr
    assert invoke(root, "export", NAME).exit_code == 0
    assert meta.read_text() == good
    assert invoke(root, "verify", NAME).exit_code == 0
    figures["hostile: cases"] += 1


@pytest.fixture
def two_versions(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "store"
    src = make_src(tmp_path / "src" / NAME, {"SKILL.md": "v1\n", "keep.md": "same\n"})
    store = Store(root)
    try:
        v1 = store.snapshot(NAME, src).version
        (src / "SKILL.md").write_text("v2 " * 3000)
        v2 = store.snapshot(NAME, src).version
        store.artifact(NAME).restore(str(v1.id), tmp_path / "dest" / NAME)
    finally:
        store.close()
    return root, [str(v1.id), str(v2.id)]


def _blob_of(history: Path, rev: str) -> str:
    return harness.run_git(history, "rev-parse", rev).strip()


def _damage_checks(tmp_path: Path, root: Path, damaged_id: str, bad_oid: str) -> None:
    dest = tmp_path / "dest" / NAME
    versions = root / "artifacts" / NAME / "versions"
    verify = invoke(root, "verify", NAME)
    assert verify.exit_code == 1, verify.output
    assert bad_oid in verify.stdout or "damaged" in verify.stdout, verify.stdout
    for args in (
        ["export", NAME],
        ["export", NAME, damaged_id, "--to", str(tmp_path / "out")],
        ["export", NAME, damaged_id, "--to", str(tmp_path / "out"), "--format", "zip"],
        ["restore", NAME, damaged_id, str(dest)],
        ["diff", NAME, damaged_id, "--patch"],
    ):
        before = state_of(tmp_path)
        result = invoke(root, *args)
        assert_clear_failure(result, (1,))
        assert not (versions / damaged_id).exists()
        after = state_of(tmp_path)
        wrote = [r for r in changed(before, after) if not _derived(r)]
        assert all(
            r.startswith("store/artifacts/skill/versions/v1-")
            or r.startswith("out/v1-")
            or r == "store/artifacts/skill/versions"
            or r == "out"
            for r in wrote
        ), wrote
    assert not list(versions.glob(".*")) if versions.exists() else True


def test_a_bit_flipped_loose_object_is_named_and_never_exported(
    tmp_path: Path,
    two_versions: tuple[Path, list[str]],
    figures: collections.Counter[str],
) -> None:
    root, (_v1, v2) = two_versions
    history = root / "artifacts" / NAME / "history.git"
    oid = _blob_of(history, f"{v2}:SKILL.md")
    path = history / "objects" / oid[:2] / oid[2:]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x10
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    _damage_checks(tmp_path, root, v2, oid)
    gc = invoke(root, "gc", NAME)
    if gc.exit_code != 0:
        assert_clear_failure(gc, (1,))
    figures["hostile: cases"] += 1


def test_a_truncated_pack_is_named_and_never_exported(
    tmp_path: Path,
    two_versions: tuple[Path, list[str]],
    figures: collections.Counter[str],
) -> None:
    root, (_v1, v2) = two_versions
    assert invoke(root, "gc", NAME).exit_code == 0
    history = root / "artifacts" / NAME / "history.git"
    oid = _blob_of(history, f"{v2}:SKILL.md")
    (pack,) = (history / "objects" / "pack").glob("*.pack")
    pack.chmod(0o644)
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size // 2)
    _damage_checks(tmp_path, root, v2, oid)
    figures["hostile: cases"] += 1


# -- tarballs (import-skillmeat): no tar slip ---------------------------------------


def _tar_member(
    name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"x\n", link: str = ""
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o644
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    info.linkname = link
    return info, None


TARBALLS: dict[str, Callable[[Path], list[tuple[tarfile.TarInfo, bytes | None]]]] = {
    "dotdot": lambda o: [_tar_member("default/skills/a/../../../../outside/planted")],
    "absolute": lambda o: [_tar_member(str(o / "planted"))],
    "symlink out then write through": lambda o: [
        _tar_member("default/skills/a/SKILL.md"),
        _tar_member("default/skills/a/door", tarfile.SYMTYPE, link=str(o)),
        _tar_member("default/skills/a/door/planted"),
    ],
    "hardlink out": lambda o: [
        _tar_member("default/skills/a/SKILL.md"),
        _tar_member("default/skills/a/hard", tarfile.LNKTYPE, link=str(o / "secret")),
    ],
    "device": lambda o: [
        _tar_member("default/skills/a/SKILL.md"),
        _tar_member("default/skills/a/null", tarfile.CHRTYPE),
    ],
    "fifo": lambda o: [
        _tar_member("default/skills/a/SKILL.md"),
        _tar_member("default/skills/a/pipe", tarfile.FIFOTYPE),
    ],
    ".git inside": lambda o: [
        _tar_member("default/skills/a/SKILL.md"),
        _tar_member(
            "default/skills/a/.git/config", data=b"[core]\n\thooksPath = /tmp\n"
        ),
    ],
}


@pytest.mark.parametrize("members", TARBALLS.values(), ids=TARBALLS.keys())
def test_hostile_tarballs_write_nothing_outside_the_store(
    tmp_path: Path,
    outside: Path,
    members: Callable[[Path], list[tuple[tarfile.TarInfo, bytes | None]]],
    figures: collections.Counter[str],
) -> None:
    snaps = tmp_path / "snapshots" / "default"
    snaps.mkdir(parents=True)
    with tarfile.open(snaps / "20250101-000000-000000.tar.gz", "w:gz") as tar:
        for info, data in members(outside):
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    (snaps / "snapshots.toml").write_text(
        '[[snapshots]]\nid = "20250101-000000-000000"\n'
        'timestamp = "2025-01-01T00:00:00Z"\nmessage = "hostile"\n'
    )
    root = tmp_path / "store"
    before = state_of(tmp_path, ("store",))
    result = invoke(root, "--json", "import-skillmeat", str(snaps))
    assert result.exit_code in (0, 1), result.output
    assert "internal error" not in result.output + result.stderr
    assert state_of(tmp_path, ("store",)) == before
    store = Store(root)
    try:
        for name in store.names():
            artifact = store.artifact(name)
            for version in artifact.versions():
                for entry in artifact.history.iter_tree(version.tree):
                    assert ".git" not in entry.path.lower().split("/")
                    assert not entry.path.startswith("/") and ".." not in entry.path
    finally:
        store.close()
    figures["hostile: cases"] += 1


def test_json_output_of_refusals_is_still_one_clear_line(tmp_path: Path) -> None:
    result = invoke(tmp_path / "store", "--json", "log", "../x")
    assert_clear_failure(result, (2,))
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout or "x")

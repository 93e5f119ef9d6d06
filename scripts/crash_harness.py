#!/usr/bin/env python3
"""Crash injection for gitversions: SIGKILL commands mid-work, then check the store.

The harness runs ``snapshot``, ``export``, ``restore`` and ``gc`` against a store
holding a realistic artifact (40 files, a few MB, now and then a file over 8 MiB
so that the streaming path runs) and kills them with SIGKILL in two ways:

- **timed**: the console script is started and killed after a random delay drawn
  from the measured durations of that command (a random fraction of one of them);
- **step**: the command runs through this file's ``wrap`` mode, which hooks the
  operating-system steps that change files (``os.write``/``pwrite`` (killed after
  writing half the buffer: a torn write), ``fsync``, ``replace``, ``rename``,
  ``symlink``, ``mkdir``, ``rmdir``, ``unlink``, ``ftruncate``, ``fchmod``,
  ``link``, ``open`` for writing, and the ``renameat2`` exchange of the
  materializer) and
  SIGKILLs the process at the N-th call of one of them, chosen at random from the
  calls an unkilled run of the same command made.

After every kill it checks, with the real ``git`` and its own oracle (no
gitversions code) as judges:

- ``git fsck --strict`` and ``gitversions verify`` find nothing wrong;
- every version acknowledged before the kill (its command exited 0) is still on
  ``main`` and tagged with its id;
- nothing half-written is visible: each ``versions/<id>`` is exactly the content
  of that version plus its ``.version.toml``, ``latest`` names a complete version
  and never disappears once it existed;
- a restore target is entirely the old version or entirely the new one;

then retries the same command, which must succeed (a lock left by the killed
process must not block it) and leave everything complete and clean.

``fetch`` is not covered: remotes (``push``/``fetch``/``clone``) are not
implemented yet.

Usage::

    python scripts/crash_harness.py run --kills 300             # both modes
    python scripts/crash_harness.py run --kills 40 --mode step --seed 7 --keep /tmp/c
    python scripts/crash_harness.py wrap [--kill-op OP --kill-at N --when W]
        [--counts FILE] -- [gitversions arguments]             # used by run

``run`` prints a summary (``--json`` for JSON) and exits 1 if any check failed.
The tests in ``tests/guarantees/test_crash.py`` import this file.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
COMMANDS = ("snapshot", "export", "restore", "gc", "fetch")
HUGE = (8 << 20) + 4099  # past the 8 MiB in-memory threshold: the streaming path
ARTIFACT = "skill"

# --------------------------------------------------------------------------
# wrap mode: run gitversions.cli.main with kill hooks on the write steps
# --------------------------------------------------------------------------

HOOKED_OS = (
    "write",
    "pwrite",
    "fsync",
    "replace",
    "rename",
    "symlink",
    "mkdir",
    "rmdir",
    "unlink",
    "ftruncate",
    "fchmod",
    "link",
    "open",
)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def install_kill_hooks(
    kill_op: str | None,
    kill_at: int,
    when: str,
    counts: collections.Counter[str],
    kill_path: str | None = None,
    sig: int = signal.SIGKILL,
) -> None:
    """Hook the file-changing os functions: count calls, SIGKILL at one of them.

    Args:
        kill_op: The hooked operation to kill at (None: only count, unless
            ``kill_path`` is given).
        kill_at: Kill at this call of ``kill_op`` (1-based), or at this call
            touching ``kill_path``.
        when: ``before`` the call, ``after`` it, or ``half`` (write half the
            buffer first: a torn write).
        counts: Filled with the number of calls per operation.
        kill_path: Only calls whose path arguments contain this text count
            towards ``kill_at`` (any operation unless ``kill_op`` is given).
        sig: The signal: SIGKILL, SIGSTOP to freeze the process there, or
            SIGINT (a Ctrl-C: the command unwinds).
    """
    guard = threading.Lock()
    real_kill, getpid = os.kill, os.getpid
    matched = [0]

    sent = [False]

    def die() -> None:
        # One signal per run, as one Ctrl-C: a hooked call in a worker thread
        # goes on after sending it (Python delivers it to the main thread), and
        # must not send a second one from its "after" point.
        if sent[0]:
            return
        sent[0] = True
        real_kill(getpid(), sig)
        if sig == signal.SIGKILL:
            time.sleep(60)  # pragma: no cover - never reached

    def full(name: Any, dir_fd: Any) -> str:
        # A name relative to a directory descriptor (the *at calls) is matched
        # as the whole path it stands for.
        text = os.fsdecode(name)
        if isinstance(dir_fd, int) and not os.path.isabs(text):
            with contextlib.suppress(OSError):
                return os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), text)
        return text

    def hit(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        with guard:
            counts[op] += 1
            if kill_path is not None:
                if kill_op is not None and op != kill_op:
                    return False
                fds = (
                    kwargs.get("dir_fd", kwargs.get("src_dir_fd")),
                    kwargs.get("dst_dir_fd", kwargs.get("dir_fd")),
                )
                if op == "exchange":
                    fds = (args[0], args[0])
                    args = args[1:]
                paths = [
                    full(a, fd)
                    for a, fd in zip(args[:2], fds, strict=False)
                    if isinstance(a, str | bytes | os.PathLike)
                ]
                if not any(kill_path in p for p in paths):
                    return False
                matched[0] += 1
                return matched[0] == kill_at
            return op == kill_op and counts[op] == kill_at

    def make(op: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(*args: Any, **kwargs: Any) -> Any:
            if op == "open":
                flags = args[1] if len(args) > 1 else kwargs.get("flags", 0)
                if not flags & _WRITE_FLAGS:
                    return func(*args, **kwargs)
            if not hit(op, args, kwargs):
                return func(*args, **kwargs)
            if when == "half" and op in ("write", "pwrite") and len(args) >= 2:
                data = memoryview(args[1])
                func(args[0], data[: len(data) // 2], *args[2:])
                die()
            if when != "after":
                die()
            result = func(*args, **kwargs)
            die()
            return result  # pragma: no cover - never reached

        return hooked

    for name in HOOKED_OS:
        setattr(os, name, make(name, getattr(os, name)))
    import gitversions.fs.dirfd as dirfd

    dirfd.exchange_at = make("exchange", dirfd.exchange_at)  # type: ignore[assignment]


def wrap_main(argv: Sequence[str]) -> None:
    """``wrap`` mode: run the gitversions command line with kill hooks."""
    parser = argparse.ArgumentParser(prog="crash_harness.py wrap")
    parser.add_argument("--kill-op", default=None)
    parser.add_argument("--kill-at", type=int, default=0)
    parser.add_argument("--when", default="before", choices=("before", "after", "half"))
    parser.add_argument("--counts", default=None, help="write call counts here")
    parser.add_argument("--kill-path", default=None, help="kill at a call on this path")
    parser.add_argument("--signal", default="KILL", choices=("KILL", "STOP", "INT"))
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args(argv)
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    # Import everything first, so hooks see only the command's own work.
    import dulwich.gc
    import dulwich.repo  # noqa: F401

    import gitversions.cli
    import gitversions.git.history
    import gitversions.store

    counts: collections.Counter[str] = collections.Counter()
    if ns.counts:
        import atexit

        target = ns.counts

        def dump() -> None:
            with open(target, "w", encoding="utf-8") as f:
                json.dump(dict(counts), f)

        atexit.register(dump)
    sig = {"KILL": signal.SIGKILL, "STOP": signal.SIGSTOP, "INT": signal.SIGINT}[
        ns.signal
    ]
    install_kill_hooks(ns.kill_op, ns.kill_at, ns.when, counts, ns.kill_path, sig)
    gitversions.cli.main(list(args))


def wrap_argv(
    args: Sequence[str],
    *,
    kill_op: str | None = None,
    kill_at: int = 1,
    when: str = "before",
    kill_path: str | None = None,
    sig: str = "KILL",
    counts: Path | None = None,
) -> list[str]:
    """The command line that runs ``gitversions ARGS`` with a kill hook.

    Args:
        args: The gitversions arguments.
        kill_op: Kill at a call of this hooked operation (see ``HOOKED_OS``,
            plus ``exchange``).
        kill_at: Which call (1-based).
        when: ``before``, ``after`` or ``half`` (a torn write).
        kill_path: Kill at a call whose path contains this text.
        sig: ``KILL``, ``STOP`` to freeze the process there, or ``INT`` (a
            Ctrl-C).
        counts: Write the call counts here when the command ends normally.
    """
    argv = [
        sys.executable,
        str(HERE),
        "wrap",
        "--when",
        when,
        "--kill-at",
        str(kill_at),
    ]
    argv += ["--signal", sig]
    if kill_op is not None:
        argv += ["--kill-op", kill_op]
    if kill_path is not None:
        argv += ["--kill-path", kill_path]
    if counts is not None:
        argv += ["--counts", str(counts)]
    return [*argv, "--", *args]


# --------------------------------------------------------------------------
# the oracle: what git and plain hashing say, with no gitversions code
# --------------------------------------------------------------------------


def git_env() -> dict[str, str]:
    """The environment for the real git: no user or system configuration."""
    env = dict(os.environ)
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="Crash Harness",
        GIT_AUTHOR_EMAIL="crash@example.com",
        GIT_COMMITTER_NAME="Crash Harness",
        GIT_COMMITTER_EMAIL="crash@example.com",
    )
    return env


def run_git(history: Path, *args: str, check: bool = True) -> str:
    """Run ``git --git-dir history ...`` and return stdout."""
    proc = subprocess.run(
        ["git", "--git-dir", str(history), *args],
        capture_output=True,
        text=True,
        env=git_env(),
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def run_git_bytes(history: Path, *args: str) -> bytes:
    """Run ``git --git-dir history ...`` and return stdout as bytes."""
    proc = subprocess.run(
        ["git", "--git-dir", str(history), *args],
        capture_output=True,
        env=git_env(),
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr!r}")
    return proc.stdout


def fsck(history: Path) -> str | None:
    """Run ``git fsck --strict``; return its complaint, or None when clean."""
    proc = subprocess.run(
        ["git", "--git-dir", str(history), "fsck", "--strict", "--no-dangling"],
        capture_output=True,
        text=True,
        env=git_env(),
        check=False,
    )
    if proc.returncode != 0 or "error" in proc.stderr.lower():
        return (proc.stdout + proc.stderr).strip()[:2000] or f"exit {proc.returncode}"
    return None


def blob_id(algorithm: str, data: bytes) -> str:
    """The git blob id of ``data``."""
    h = hashlib.new(algorithm)
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


Listing = dict[str, tuple[int, str]]  # path -> (git mode, blob id)


def dir_listing(top: Path, algorithm: str, skip_top: Sequence[str] = ()) -> Listing:
    """List a directory the way git would record it: path -> (mode, blob id).

    Raises:
        ValueError: If it holds anything but files, links and directories.
    """
    result: Listing = {}
    for root, dirs, files in os.walk(top):
        base = Path(root)
        for name in sorted(files + [d for d in dirs if (base / d).is_symlink()]):
            path = base / name
            rel = path.relative_to(top).as_posix()
            if rel in skip_top:
                continue
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                result[rel] = (
                    0o120000,
                    blob_id(algorithm, os.fsencode(os.readlink(path))),
                )
            elif stat.S_ISREG(st.st_mode):
                mode = 0o100755 if st.st_mode & stat.S_IXUSR else 0o100644
                result[rel] = (mode, blob_id(algorithm, path.read_bytes()))
            else:
                raise ValueError(f"{rel}: not a file, link or directory")
    return result


def tree_listing(history: Path, commit: str) -> Listing:
    """List a commit's tree with ``git ls-tree -r``: path -> (mode, blob id)."""
    out = run_git(history, "ls-tree", "-r", "-z", "--full-tree", commit)
    result: Listing = {}
    for item in out.split("\0"):
        if not item:
            continue
        meta, _, path = item.partition("\t")
        mode, _kind, oid = meta.split()
        result[path] = (int(mode, 8), oid)
    return result


def listing_of_src(top: Path, algorithm: str) -> Listing:
    """What a snapshot of ``top`` should record (``.git`` left out)."""
    return {
        k: v
        for k, v in dir_listing(top, algorithm).items()
        if not any(part.lower() == ".git" for part in k.split("/"))
    }


def fingerprint(*tops: Path) -> list[tuple[str, int, int]]:
    """Names, sizes and mtimes under some directories (did anything change?)."""
    found: list[tuple[str, int, int]] = []
    for top in tops:
        for root, dirs, files in os.walk(top):
            for name in dirs + files:
                path = Path(root) / name
                with contextlib.suppress(OSError):
                    st = path.lstat()
                    found.append((str(path), st.st_size, st.st_mtime_ns))
    return sorted(found)


# --------------------------------------------------------------------------
# the artifact: 40 files, a few MB, sometimes a file past 8 MiB
# --------------------------------------------------------------------------


class SourceTree:
    """A skill directory that changes a little before each snapshot."""

    def __init__(self, path: Path, rng: random.Random, files: int = 40) -> None:
        self.path = path
        self.rng = rng
        self.count = files
        self.serial = 0
        self._huge_variants = [
            random.Random(seed).randbytes(HUGE) for seed in (rng.random(), rng.random())
        ]
        path.mkdir(parents=True, exist_ok=True)
        (path / "SKILL.md").write_text("# Crash-tested skill\n", "utf-8")
        for index in range(files):
            self._write(index)
        (path / "scripts").mkdir(exist_ok=True)
        (path / "scripts" / "run.sh").write_text("#!/bin/sh\necho run\n", "utf-8")
        (path / "scripts" / "run.sh").chmod(0o755)
        os.symlink("../SKILL.md", path / "scripts" / "skill-link")

    def _file(self, index: int) -> Path:
        return self.path / f"part{index % 4}" / f"file{index:02d}.bin"

    def _write(self, index: int) -> None:
        target = self._file(index)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = self.rng.choice((0, 100, 2_000, 10_000, 40_000, 150_000))
        self.serial += 1
        body = self.rng.randbytes(size) if size else b""
        with contextlib.suppress(FileNotFoundError):
            target.chmod(0o644)
        target.write_bytes(body + b"\nserial %d\n" % self.serial)

    def mutate(self) -> None:
        """Change a few files, sometimes the executable bit, sometimes a huge file."""
        for index in self.rng.sample(range(self.count), self.rng.randint(1, 4)):
            self._write(index)
        if self.rng.random() < 0.3:
            victim = self._file(self.rng.randrange(self.count))
            victim.chmod(victim.stat().st_mode ^ 0o100)
        huge = self.path / "assets" / "huge.bin"
        if huge.exists():
            huge.unlink()
            huge.parent.rmdir()
        elif self.rng.random() < 0.2:
            huge.parent.mkdir()
            huge.write_bytes(self.rng.choice(self._huge_variants))
        (self.path / "SKILL.md").write_text(
            f"# Crash-tested skill\n\nrevision {self.serial}\n", "utf-8"
        )


# --------------------------------------------------------------------------
# campaigns
# --------------------------------------------------------------------------


@dataclass
class Violation:
    """A broken guarantee: which check, after which command and kill."""

    category: str
    command: str
    round: int
    detail: str

    def __str__(self) -> str:
        return f"[{self.category}] round {self.round} ({self.command}): {self.detail}"


@dataclass
class Report:
    """What a run did and found."""

    kills: int = 0
    kills_by_command: collections.Counter[str] = field(
        default_factory=collections.Counter
    )
    kill_points: collections.Counter[str] = field(default_factory=collections.Counter)
    interrupted_work: int = 0
    finished_before_kill: int = 0
    retries: int = 0
    max_retry_seconds: float = 0.0
    acknowledged: int = 0
    lost: int = 0
    campaigns: int = 0
    violations: list[Violation] = field(default_factory=list)
    notes: collections.Counter[str] = field(default_factory=collections.Counter)
    seconds: float = 0.0

    def merge(self, other: Report) -> None:
        """Add another report's figures to this one."""
        self.kills += other.kills
        self.kills_by_command.update(other.kills_by_command)
        self.kill_points.update(other.kill_points)
        self.interrupted_work += other.interrupted_work
        self.finished_before_kill += other.finished_before_kill
        self.retries += other.retries
        self.max_retry_seconds = max(self.max_retry_seconds, other.max_retry_seconds)
        self.acknowledged += other.acknowledged
        self.lost += other.lost
        self.campaigns += other.campaigns
        self.violations.extend(other.violations)
        self.notes.update(other.notes)
        self.seconds += other.seconds

    def categories(self) -> collections.Counter[str]:
        """Violations counted by category."""
        return collections.Counter(v.category for v in self.violations)

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain data."""
        return {
            "kills": self.kills,
            "kills_by_command": dict(self.kills_by_command),
            "interrupted_work": self.interrupted_work,
            "finished_before_kill": self.finished_before_kill,
            "retries": self.retries,
            "max_retry_seconds": round(self.max_retry_seconds, 2),
            "acknowledged_versions": self.acknowledged,
            "lost_versions": self.lost,
            "campaigns": self.campaigns,
            "violations": len(self.violations),
            "violations_by_category": dict(self.categories()),
            "notes": dict(self.notes),
            "distinct_kill_points": len(self.kill_points),
            "seconds": round(self.seconds, 1),
        }

    def summary(self) -> str:
        """A few lines for people."""
        lines = [
            f"kills: {self.kills} {dict(sorted(self.kills_by_command.items()))} "
            f"(timed kills that interrupted visible work: {self.interrupted_work}; "
            f"runs that finished before their kill: {self.finished_before_kill})",
            f"distinct step kill points: {len(self.kill_points)}",
            f"retries: {self.retries} (slowest {self.max_retry_seconds:.2f}s)",
            f"acknowledged versions: {self.acknowledged}, lost: {self.lost}",
            f"violations: {len(self.violations)} {dict(self.categories())}",
        ]
        if self.notes:
            lines.append(f"notes: {dict(self.notes)}")
        lines.extend(f"  {v}" for v in self.violations[:40])
        return "\n".join(lines)


@dataclass(frozen=True)
class StoreSpec:
    """How a campaign's store is configured."""

    object_format: str = "sha1"
    latest: str = "auto"

    def label(self) -> str:
        """A short name."""
        return f"{self.object_format}/{self.latest}"


SPECS = (StoreSpec("sha1", "auto"), StoreSpec("sha256", "copy"))


def console_script() -> list[str]:
    """The ``gitversions`` console script installed beside this Python."""
    script = Path(sys.executable).with_name("gitversions")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "gitversions"]  # pragma: no cover


class Campaign:
    """One store, one artifact, a sequence of killed and retried commands."""

    def __init__(
        self,
        workdir: Path,
        seed: int,
        spec: StoreSpec,
        mode: str,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.workdir = workdir
        self.rng = random.Random(seed)
        self.spec = spec
        self.mode = mode
        self.log = log or (lambda _text: None)
        self.root = workdir / "store"
        self.home = self.root / "artifacts" / ARTIFACT
        self.history = self.home / "history.git"
        self.versions_dir = self.home / "versions"
        self.dest_parent = workdir / "restored"
        self.dest = self.dest_parent / ARTIFACT
        self.src = SourceTree(workdir / "src" / ARTIFACT, self.rng)
        self.upstream = workdir / "upstream.git"
        self.peer_root = workdir / "peer"
        self.peer_src = SourceTree(workdir / "peer-src" / ARTIFACT, self.rng, files=8)
        self.algorithm = "sha256" if spec.object_format == "sha256" else "sha1"
        self.report = Report(campaigns=1)
        self.acknowledged: dict[str, str] = {}  # id -> commit
        self.durations: dict[str, list[float]] = collections.defaultdict(list)
        self.counts: dict[str, collections.Counter[str]] = {}
        self.latest_seen = False
        self.dest_version: str | None = None
        self._checked_dirs: dict[str, tuple[int, ...]] = {}
        self._trees: dict[str, Listing] = {}
        self.round = 0
        self.restore_ref = ""
        self._reported: set[tuple[str, str]] = set()
        self.root.mkdir(parents=True)
        self.dest_parent.mkdir()
        (self.root / "gitversions.toml").write_text(
            f'object_format = "{spec.object_format}"\n'
            "lock_timeout = 20\n"
            "\n[export]\n"
            f'latest = "{spec.latest}"\n'
            "auto = true\n",
            "utf-8",
        )

    # -- running commands --------------------------------------------------

    def argv(self, command: str) -> list[str]:
        """The gitversions arguments of one command of this campaign."""
        base = ["--root", str(self.root), "-q"]
        if command == "snapshot":
            return [*base, "--json", "snapshot", ARTIFACT, str(self.src.path)]
        if command == "restore":
            return [*base, "restore", ARTIFACT, self.restore_ref, str(self.dest)]
        if command == "fetch":
            return [*base, "fetch", ARTIFACT, str(self.upstream)]
        return [*base, command, ARTIFACT]

    def _wrap_argv(
        self, args: list[str], op: str | None, at: int, when: str, counts: Path | None
    ) -> list[str]:
        return wrap_argv(args, kill_op=op, kill_at=at, when=when, counts=counts)

    def run_clean(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run a command without killing it (through wrap, counting its steps)."""
        counts = self.workdir / "counts.json"
        with contextlib.suppress(FileNotFoundError):
            counts.unlink()
        started = time.monotonic()
        proc = subprocess.run(
            self._wrap_argv(self.argv(command), None, 0, "before", counts),
            capture_output=True,
            text=True,
            env=git_env(),
            check=False,
        )
        elapsed = time.monotonic() - started
        self.durations[command].append(elapsed)
        if proc.returncode == 0 and counts.exists():
            self.counts[command] = collections.Counter(
                json.loads(counts.read_text("utf-8"))
            )
        return proc

    def run_killed(self, command: str) -> tuple[int, str, str, str]:
        """Run a command and SIGKILL it; return (status, stdout, stderr, point)."""
        args = self.argv(command)
        if self.mode == "timed":
            spread = self.durations.get(command) or [0.4]
            delay = self.rng.uniform(0, 0.9 * self.rng.choice(spread))
            proc = subprocess.Popen(
                [*console_script(), *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=git_env(),
            )
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            out, err = proc.communicate()
            return proc.returncode, out, err, f"{delay:.3f}s"
        # Before a clean run of this command was counted: its first fsync.
        counts = self.counts.get(command) or collections.Counter({"fsync": 1})
        ops = sorted(op for op, n in counts.items() if n > 0)
        op = self.rng.choice(ops)
        at = self.rng.randint(1, counts[op])
        when = (
            "half"
            if op in ("write", "pwrite")
            else self.rng.choice(("before", "after"))
        )
        proc2 = subprocess.run(
            self._wrap_argv(args, op, at, when, None),
            capture_output=True,
            text=True,
            env=git_env(),
            check=False,
        )
        return proc2.returncode, proc2.stdout, proc2.stderr, f"{op}#{at}:{when}"

    # -- preparing ---------------------------------------------------------

    @contextlib.contextmanager
    def _store(self) -> Iterator[Any]:
        from gitversions.store import Store

        store = Store(self.root)
        try:
            yield store
        finally:
            store.close()

    def _library_snapshot(self) -> None:
        self.src.mutate()
        with self._store() as store:
            result = store.snapshot(ARTIFACT, self.src.path, message="prepared")
        self.acknowledged[str(result.version.id)] = result.version.commit
        self.report.acknowledged += 1

    def _setup_upstream(self) -> None:
        """Push the history to a bare upstream and clone it into a peer store."""
        from gitversions.git import remote
        from gitversions.store import Store

        with self._store() as store:
            remote.push(store.artifact(ARTIFACT), str(self.upstream))
        self.peer_root.mkdir()
        (self.peer_root / "gitversions.toml").write_text(
            f'object_format = "{self.spec.object_format}"\n', "utf-8"
        )
        peer = Store(self.peer_root)
        try:
            remote.clone(peer, str(self.upstream), ARTIFACT)
        finally:
            peer.close()

    def _publish_upstream(self) -> None:
        """Give the upstream one or two versions the local store lacks."""
        from gitversions.git import remote
        from gitversions.store import Store

        with self._store() as store:
            remote.push(store.artifact(ARTIFACT), str(self.upstream))
        peer = Store(self.peer_root)
        try:
            artifact = peer.artifact(ARTIFACT)
            remote.fetch(artifact, str(self.upstream), force=True)
            for _ in range(self.rng.randint(1, 2)):
                self.peer_src.mutate()
                peer.snapshot(ARTIFACT, self.peer_src.path, message="from the peer")
            remote.push(artifact, str(self.upstream))
        finally:
            peer.close()

    def prepare(self, command: str) -> None:
        """Make sure the command has work to do."""
        if command == "snapshot":
            self.src.mutate()
        elif command == "export":
            self._library_snapshot()
            latest = self.versions_dir / "latest"
            pointed = os.readlink(latest) if latest.is_symlink() else None
            dirs = [
                p
                for p in self.versions_dir.iterdir()
                if p.name not in ("latest", pointed) and not p.name.startswith(".")
            ]
            for victim in self.rng.sample(dirs, min(len(dirs), self.rng.randint(1, 3))):
                shutil.rmtree(victim)
                self._checked_dirs.pop(victim.name, None)
        elif command == "gc":
            self._library_snapshot()
        elif command == "fetch":
            self._publish_upstream()
        elif command == "restore":
            if len(self.acknowledged) < 2:
                self._library_snapshot()
            choices = sorted(set(self.acknowledged) - {self.dest_version or ""})
            self.restore_ref = self.rng.choice(choices)

    # -- checking ----------------------------------------------------------

    def _violate(self, category: str, command: str, detail: str) -> None:
        if (category, detail) in self._reported:
            return  # the same leftover or problem, still there: reported once
        self._reported.add((category, detail))
        violation = Violation(category, command, self.round, detail)
        self.report.violations.append(violation)
        self.log(str(violation))

    def _tree(self, commit: str) -> Listing:
        if commit not in self._trees:
            self._trees[commit] = tree_listing(self.history, commit)
        return self._trees[commit]

    def _refs(self) -> dict[str, str]:
        out = run_git(self.history, "for-each-ref", "--format=%(objectname) %(refname)")
        refs = {}
        for line in out.splitlines():
            oid, _, name = line.partition(" ")
            refs[name] = oid
        return refs

    def _check_version_dir(self, path: Path, tags: dict[str, str]) -> str | None:
        """Say what is wrong with a materialized version directory, if anything."""
        try:
            meta = tomllib.loads((path / ".version.toml").read_text("utf-8"))
            vid = meta["version"]["id"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return f"{path.name}: no readable .version.toml ({exc})"
        if path.name != "latest" and vid != path.name:
            return f"{path.name}: its .version.toml says {vid}"
        commit = tags.get(vid)
        if commit is None:
            return f"{path.name}: {vid} is not a tagged version"
        try:
            found = dir_listing(path, self.algorithm, skip_top=(".version.toml",))
        except ValueError as exc:
            return f"{path.name}: {exc}"
        expected = self._tree(commit)
        if found != expected:
            missing = sorted(set(expected) - set(found))[:3]
            extra = sorted(set(found) - set(expected))[:3]
            wrong = sorted(
                k for k in set(found) & set(expected) if found[k] != expected[k]
            )
            return (
                f"{path.name}: differs from {vid} (missing {missing}, "
                f"unexpected {extra}, different {wrong[:3]})"
            )
        return None

    def check(self, command: str, after: str) -> None:
        """Check every guarantee; record violations."""
        leftovers_ok = after == "kill"
        home_entries = (
            sorted(p.name for p in self.home.iterdir()) if self.home.exists() else []
        )
        for name in home_entries:
            if name in (".lock", "history.git", "versions", "manifest.toml"):
                continue
            if name.startswith(".history.git.tmp-") and (
                leftovers_ok or command != "snapshot"
            ):
                self.report.notes[f"history-temporary-after-{after}"] += 1
                continue
            if name.startswith(".manifest.toml.tmp-"):
                # A small hidden temporary of atomic_write; documented, harmless.
                self.report.notes[f"manifest-temporary-after-{after}"] += 1
                continue
            self._violate(
                "leftover", command, f"artifacts/{ARTIFACT}/{name} after {after}"
            )
        if not self.history.exists():
            if self.acknowledged:
                self._violate("lost", command, "history.git is gone")
            return
        if not (self.history / "HEAD").is_file():
            self._violate("partial-history", command, "history.git without HEAD")
            return
        problem = fsck(self.history)
        if problem:
            self._violate("fsck", command, problem)
        with self._store() as store:
            try:
                problems = store.artifact(ARTIFACT).verify()
            except Exception as exc:
                problems = [f"verify crashed: {type(exc).__name__}: {exc}"]
        for text in problems:
            self._violate("verify", command, text)
        refs = self._refs()
        main = refs.get("refs/heads/main")
        tags = {
            name.removeprefix("refs/tags/"): oid
            for name, oid in refs.items()
            if name.startswith("refs/tags/")
        }
        on_main = (
            set(run_git(self.history, "rev-list", main).split()) if main else set()
        )
        for vid, commit in self.acknowledged.items():
            if commit not in on_main:
                self.report.lost += 1
                self._violate("lost", command, f"acknowledged {vid} is not on main")
            elif tags.get(vid) is None and after == "kill":
                # Tags are derived from main; the next snapshot or export
                # re-creates them. A retry must have done so (see below).
                self.report.notes[f"tag-missing-after-{command}-kill"] += 1
            elif tags.get(vid) != commit:
                self._violate(
                    "tags",
                    command,
                    f"acknowledged {vid} is tagged {tags.get(vid)} after {after}",
                )
        known = {**self.acknowledged, **tags}
        self._check_versions(command, after, known, main)
        self._check_dest(command, after, known)
        if after == "retry":
            self._check_complete(command, tags, main, on_main)

    def _check_versions(
        self, command: str, after: str, tags: dict[str, str], main: str | None
    ) -> None:
        if not self.versions_dir.exists():
            if self.latest_seen:
                self._violate("latest", command, "versions/ disappeared")
            return
        latest = self.versions_dir / "latest"
        for path in sorted(self.versions_dir.iterdir()):
            name = path.name
            if name.startswith("."):
                if after == "kill":
                    self.report.notes[f"hidden-temporary-after-{command}-kill"] += 1
                else:
                    self._violate("leftover", command, f"versions/{name} after retry")
                continue
            if name == "latest":
                continue
            st = path.lstat()
            key = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
            if self._checked_dirs.get(name) == key:
                continue
            problem = (
                "not a directory"
                if not stat.S_ISDIR(st.st_mode)
                else self._check_version_dir(path, tags)
            )
            if problem:
                self._violate("partial-version", command, problem)
            else:
                self._checked_dirs[name] = key
        if latest.is_symlink():
            self.latest_seen = True
            target = os.readlink(latest)
            if "/" in target or target not in self._checked_dirs:
                self._violate(
                    "latest", command, f"latest -> {target!r}: not a complete version"
                )
        elif latest.is_dir():
            self.latest_seen = True
            problem = self._check_version_dir(latest, tags)
            if problem:
                self._violate("latest", command, problem)
        elif self.latest_seen:
            self._violate("latest", command, "latest disappeared")

    def _check_dest(self, command: str, after: str, tags: dict[str, str]) -> None:
        if not self.dest_parent.exists():
            return
        for path in self.dest_parent.iterdir():
            if path.name == ARTIFACT:
                continue
            if after == "kill" and path.name.startswith(f".{ARTIFACT}.tmp-"):
                self.report.notes["restore-temporary-after-kill"] += 1
                continue
            self._violate(
                "leftover",
                command,
                f"{path.name} beside the restore target after {after}",
            )
        if not self.dest.exists():
            if self.dest_version is not None:
                self._violate("restore", command, "the restore target disappeared")
            return
        found = dir_listing(self.dest, self.algorithm)
        candidates = [self.dest_version]
        if command == "restore":
            candidates.append(self.restore_ref)
        for vid in candidates:
            if vid is not None and vid in tags and found == self._tree(tags[vid]):
                if after == "retry" or vid == self.restore_ref:
                    self.dest_version = vid
                return
        self._violate(
            "restore",
            command,
            f"restore target is neither {candidates[0]} nor {candidates[-1]}",
        )

    def _check_complete(
        self, command: str, tags: dict[str, str], main: str | None, on_main: set[str]
    ) -> None:
        """After a successful retry: everything complete, numbered 1..n, linear."""
        numbers = sorted(int(t[1:].split("-")[0]) for t in tags)
        if numbers != list(range(1, len(numbers) + 1)):
            self._violate("numbers", command, f"version numbers {numbers}")
        if len(on_main) != len(tags):
            self._violate(
                "tags", command, f"{len(on_main)} commits on main, {len(tags)} tags"
            )
        merges = run_git(self.history, "rev-list", "--min-parents=2", main or "HEAD")
        if merges.strip():
            self._violate("linear", command, "main has merge commits")
        newest = next((vid for vid, c in tags.items() if c == main), None)
        latest = self.versions_dir / "latest"
        if (
            command in ("export", "snapshot")
            and newest is not None
            and latest.is_symlink()
            and os.readlink(latest) != newest
        ):
            self._violate("latest", command, f"latest is not the newest {newest}")
        if command == "export":
            missing = sorted(set(tags) - set(self._checked_dirs))
            if missing:
                self._violate(
                    "export", command, f"versions not materialized: {missing}"
                )
        if command == "restore" and self.dest_version != self.restore_ref:
            self._violate("restore", command, f"{self.dest} is not {self.restore_ref}")
        if command == "snapshot" and main is not None:
            expected = listing_of_src(self.src.path, self.algorithm)
            if self._tree(main) != expected:
                self._violate("snapshot", command, "newest version differs from SRC")
        if command in ("snapshot", "gc"):
            for leftover in (self.history / "objects").glob("tmp_obj_*"):
                self._violate("leftover", command, f"objects/{leftover.name}")
        if command == "gc":
            pack = self.history / "objects" / "pack"
            leftovers = list(pack.glob("tmp_pack_*")) if pack.exists() else []
            if leftovers:
                self.report.notes["gc-tmp_pack-left-after-retry"] += len(leftovers)

    # -- the loop ----------------------------------------------------------

    def _acknowledge(self, command: str, stdout: str) -> None:
        if command == "fetch":
            # Every version the upstream holds is now acknowledged here.
            out = run_git(
                self.upstream,
                "for-each-ref",
                "--format=%(refname:short) %(objectname)",
                "refs/tags",
            )
            for line in out.splitlines():
                vid, commit = line.split()
                if vid not in self.acknowledged:
                    self.acknowledged[vid] = commit
                    self.report.acknowledged += 1
            return
        if command != "snapshot":
            return
        record = json.loads(stdout)
        self.acknowledged[record["id"]] = record["commit"]
        self.report.acknowledged += 1

    def one(self, command: str) -> bool:
        """Kill one run of ``command``, check, retry, check; True if it was killed."""
        self.round += 1
        self.prepare(command)
        before = fingerprint(self.root, self.dest_parent)
        status, out, err, point = self.run_killed(command)
        killed = status == -signal.SIGKILL
        if killed:
            self.report.kills += 1
            self.report.kills_by_command[command] += 1
            if self.mode == "step":
                op, _, rest = point.partition("#")
                self.report.kill_points[f"{command}:{op}:{rest.split(':')[-1]}"] += 1
            elif fingerprint(self.root, self.dest_parent) != before:
                self.report.interrupted_work += 1
            self.log(f"round {self.round}: killed {command} at {point}")
        elif status == 0:
            self.report.finished_before_kill += 1
            self._acknowledge(command, out)
        else:
            self._violate(
                "command-failed", command, f"exit {status}: {err.strip()[:500]}"
            )
        self.check(command, "kill")
        started = time.monotonic()
        proc = self.run_clean(command)
        self.report.retries += 1
        self.report.max_retry_seconds = max(
            self.report.max_retry_seconds, time.monotonic() - started
        )
        if proc.returncode != 0:
            self._violate(
                "retry-failed",
                command,
                f"exit {proc.returncode}: {proc.stderr.strip()[:500]}",
            )
        else:
            self._acknowledge(command, proc.stdout)
        self.check(command, "retry")
        return killed

    def run(self, kills: int, budget_rounds: int | None = None) -> Report:
        """Run until ``kills`` processes were killed; return the report."""
        started = time.monotonic()
        # The very first snapshot (creating the artifact) is killed too.
        while not self.acknowledged and self.round < 20:
            self.one("snapshot")
        self._library_snapshot()
        with self._store() as store:
            artifact = store.artifact(ARTIFACT)
            self.restore_ref = next(iter(self.acknowledged))
            artifact.restore(self.restore_ref, self.dest)
            self.dest_version = self.restore_ref
        self._setup_upstream()
        limit = budget_rounds or kills * 4 + 10
        order: list[str] = []
        while self.report.kills < kills and self.round < limit:
            if not order:
                order = list(COMMANDS)
                self.rng.shuffle(order)
            self.one(order.pop())
        self.report.seconds = time.monotonic() - started
        return self.report


def run_campaigns(
    kills: int,
    mode: str,
    seed: int,
    workdir: Path,
    per_campaign: int = 25,
    specs: Sequence[StoreSpec] = SPECS,
    log: Callable[[str], None] | None = None,
    keep: bool = False,
) -> Report:
    """Run enough campaigns (alternating store kinds) for ``kills`` kills.

    Args:
        kills: Kills wanted in total.
        mode: ``timed`` or ``step``.
        seed: Seed of every random choice (campaign ``i`` uses ``seed + i``).
        workdir: Where the stores go.
        per_campaign: Kills per store before starting a fresh one.
        specs: Store kinds to alternate.
        log: Called with progress lines.
        keep: Keep each campaign's directory.

    Returns:
        The merged report.
    """
    total = Report(campaigns=0)
    index = 0
    while total.kills < kills:
        want = min(per_campaign, kills - total.kills)
        spec = specs[index % len(specs)]
        where = workdir / f"{mode}-{index:03d}-{spec.object_format}-{spec.latest}"
        where.mkdir(parents=True)
        campaign = Campaign(where, seed + index, spec, mode, log)
        report = campaign.run(want)
        total.merge(report)
        if log is not None:
            log(f"campaign {index} ({spec.label()}, {mode}): {report.as_dict()}")
        if not keep and not report.violations:
            shutil.rmtree(where, ignore_errors=True)
        index += 1
        if report.kills == 0:  # pragma: no cover - nothing could be killed
            break
    return total


def run_main(argv: Sequence[str]) -> int:
    """``run`` mode: kill, check and report."""
    parser = argparse.ArgumentParser(prog="crash_harness.py run")
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--mode", choices=("timed", "step", "both"), default="both")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--per-campaign", type=int, default=25)
    parser.add_argument("--keep", type=Path, default=None, help="keep stores here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    ns = parser.parse_args(argv)
    seed = ns.seed if ns.seed is not None else random.randrange(1 << 30)
    modes = ("timed", "step") if ns.mode == "both" else (ns.mode,)
    log = None if ns.quiet or ns.json else (lambda text: print(text, flush=True))
    total = Report(campaigns=0)
    base = ns.keep or Path(tempfile.mkdtemp(prefix="gitversions-crash-"))
    base.mkdir(parents=True, exist_ok=True)
    try:
        for index, mode in enumerate(modes):
            share = ns.kills // len(modes) + (index < ns.kills % len(modes))
            total.merge(
                run_campaigns(
                    share,
                    mode,
                    seed + 1000 * index,
                    base,
                    ns.per_campaign,
                    log=log,
                    keep=ns.keep is not None,
                )
            )
    finally:
        if ns.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    if ns.json:
        print(json.dumps({"seed": seed, **total.as_dict()}, indent=2))
    else:
        print(f"seed: {seed}")
        print(total.summary())
    return 1 if total.violations else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``run`` or ``wrap``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["wrap"]:
        wrap_main(args[1:])
        return 0  # pragma: no cover - wrap_main exits through click
    if args[:1] == ["run"]:
        args = args[1:]
    return run_main(args)


if __name__ == "__main__":
    sys.exit(main())

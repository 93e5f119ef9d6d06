"""Concurrent writers are serialized, lose nothing, and readers never see half a state.

SPEC §6, "Concurrent writers on one artifact are serialized; none of their
versions is lost, no id is duplicated, and a writer that cannot get the lock in
time fails clearly." Writers here are separate processes (the lock is an OS lock
between processes); readers run the console script (``log``, ``show``,
``export --to``, ``verify``) in a loop while the writes happen.
"""

from __future__ import annotations

import collections
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import crash_harness as harness
import pytest

pytestmark = pytest.mark.concurrency

GV = harness.console_script()
NAME = "shared"

# One writer process: waits for the start signal, then records SNAPSHOTS versions
# of its own, distinct content, printing one JSON line per version.
WRITER = r"""
import json, sys, time
from pathlib import Path
from gitversions.store import Store

root, src, writer, count, go = sys.argv[1:6]
src, writer, count = Path(src), int(writer), int(count)
src.mkdir(parents=True, exist_ok=True)
(src / "SKILL.md").write_text("# shared skill\n")
while not Path(go).exists():
    time.sleep(0.005)
for i in range(count):
    (src / "who.txt").write_text(f"writer {writer} snapshot {i}\n")
    (src / f"w{writer}.md").write_text(f"{writer}:{i}\n" * (i + 1))
    store = Store(Path(root))
    try:
        result = store.snapshot("shared", src, message=f"w{writer}-{i}")
    finally:
        store.close()
    print(json.dumps({"writer": writer, "i": i, "id": str(result.version.id),
                      "commit": result.version.commit, "created": result.created}),
          flush=True)
"""


def expected_content(message: str) -> dict[str, str]:
    """The files a version with this message holds (without other writers' files)."""
    writer, i = (int(x) for x in message[1:].split("-"))
    return {
        "who.txt": f"writer {writer} snapshot {i}\n",
        f"w{writer}.md": f"{writer}:{i}\n" * (i + 1),
    }


def run_gv(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GV, "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=harness.git_env(),
        check=False,
    )


class Readers:
    """Threads running read commands in a loop, recording anything wrong."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = root
        self.scratch = scratch
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.reads: collections.Counter[str] = collections.Counter()
        self.threads = [
            threading.Thread(target=self._loop, args=(kind,), daemon=True)
            for kind in ("log", "show", "export", "verify")
        ]

    def __enter__(self) -> Readers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _loop(self, kind: str) -> None:
        seen = 0
        serial = 0
        while not self.stop.is_set():
            if not (self.root / "artifacts" / NAME / "history.git" / "HEAD").exists():
                time.sleep(0.01)
                continue
            serial += 1
            try:
                seen = getattr(self, f"_{kind}")(seen, serial)
            except Exception as exc:  # a reader's own failure is a finding too
                self.problems.append(f"{kind}: {type(exc).__name__}: {exc}")
            self.reads[kind] += 1
            self.stop.wait(0.05)  # leave the writers most of the machine

    def _fail(self, kind: str, proc: subprocess.CompletedProcess[str]) -> None:
        said = (proc.stdout + proc.stderr).strip()[:400]
        self.problems.append(f"{kind} exited {proc.returncode}: {said}")

    def _log(self, seen: int, _serial: int) -> int:
        proc = run_gv(self.root, "--json", "log", NAME)
        if proc.returncode != 0:
            self._fail("log", proc)
            return seen
        versions = json.loads(proc.stdout)
        numbers = [v["number"] for v in versions]
        if numbers != list(range(len(versions), 0, -1)):
            self.problems.append(f"log: numbers {numbers[:5]}... not n..1")
        for newer, older in itertools.pairwise(versions):
            if newer["parent_versions"] != [older["id"]]:
                self.problems.append(f"log: {newer['id']} parent is not {older['id']}")
        if len(versions) < seen:
            self.problems.append(f"log: {len(versions)} versions after {seen}")
        return len(versions)

    def _show(self, seen: int, _serial: int) -> int:
        proc = run_gv(self.root, "--json", "show", NAME, "latest")
        if proc.returncode != 0:
            self._fail("show", proc)
            return seen
        record = json.loads(proc.stdout)
        if record["number"] < seen:
            self.problems.append(f"show: latest went back to {record['number']}")
        if not re.fullmatch(r"w\d+-\d+", record["message"]):
            self.problems.append(f"show: odd message {record['message']!r}")
        return int(record["number"])

    def _export(self, seen: int, serial: int) -> int:
        target = self.scratch / f"export-{serial}"
        proc = run_gv(
            self.root, "export", NAME, "latest", "latest~1", "--to", str(target)
        )
        if proc.returncode != 0:
            if "unknown version 'latest~1'" in proc.stderr:
                return seen  # only one version so far
            self._fail("export", proc)
            return seen
        for version_dir in target.iterdir():
            if version_dir.name == "latest":
                if not (target / os.readlink(version_dir)).is_dir():
                    self.problems.append("export: latest names no directory")
                continue
            meta = (version_dir / ".version.toml").read_text()
            message = re.search(r'^message = "(.*)"$', meta, re.M)
            assert message is not None, meta
            for rel, text in expected_content(message.group(1)).items():
                if (version_dir / rel).read_text() != text:
                    self.problems.append(f"export: {version_dir.name}/{rel} is torn")
        subprocess.run(["rm", "-rf", str(target)], check=True)
        return seen

    def _verify(self, seen: int, _serial: int) -> int:
        proc = run_gv(self.root, "verify", NAME)
        if proc.returncode != 0:
            self._fail("verify", proc)
        return seen


def test_concurrent_writers_lose_nothing_and_readers_see_whole_states(
    tmp_path: Path,
    writers_and_snapshots: tuple[int, int],
    figures: collections.Counter[str],
) -> None:
    writers, snapshots = writers_and_snapshots
    root = tmp_path / "store"
    root.mkdir()
    (root / "gitversions.toml").write_text("lock_timeout = 300\n")
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER,
                str(root),
                str(tmp_path / f"src{w}"),
                str(w),
                str(snapshots),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=harness.git_env(),
        )
        for w in range(writers)
    ]
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with Readers(root, scratch) as readers:
        go.touch()
        results = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
    records = [json.loads(line) for out, _ in results for line in out.splitlines()]
    total = writers * snapshots
    assert len(records) == total
    assert all(r["created"] for r in records)
    ids = [r["id"] for r in records]
    assert len(set(ids)) == total, "a version id was handed out twice"

    history = root / "artifacts" / NAME / "history.git"
    first_parent = harness.run_git(
        history, "rev-list", "--first-parent", "main"
    ).split()
    everything = harness.run_git(history, "rev-list", "main").split()
    assert len(first_parent) == len(everything) == total
    for line in harness.run_git(history, "rev-list", "--parents", "main").splitlines():
        assert len(line.split()) <= 2, f"a merge in a linear history: {line}"
    tags = dict(
        line.split()
        for line in harness.run_git(
            history,
            "for-each-ref",
            "--format=%(refname:short) %(objectname)",
            "refs/tags",
        ).splitlines()
    )
    assert {r["id"]: r["commit"] for r in records} == tags
    log = json.loads(run_gv(root, "--json", "log", NAME).stdout)
    assert [v["number"] for v in log] == list(range(total, 0, -1))
    assert sorted(v["message"] for v in log) == sorted(
        f"w{w}-{i}" for w in range(writers) for i in range(snapshots)
    )
    # Each version holds what its writer wrote, never a mix.
    batch = "".join(f"{r['commit']}:who.txt\n" for r in records)
    out = subprocess.run(
        ["git", "--git-dir", str(history), "cat-file", "--batch"],
        input=batch,
        capture_output=True,
        text=True,
        env=harness.git_env(),
        check=True,
    ).stdout
    assert sorted(re.findall(r"writer \d+ snapshot \d+", out)) == sorted(
        f"writer {r['writer']} snapshot {r['i']}" for r in records
    )
    assert harness.fsck(history) is None
    assert run_gv(root, "verify", NAME).returncode == 0
    figures["concurrency: versions written concurrently"] += total
    figures["concurrency: writer processes"] += writers
    figures["concurrency: reads during writes"] += sum(readers.reads.values())
    assert min(readers.reads.values()) >= 1, readers.reads
    others = [p for p in readers.problems if not p.startswith("verify")]
    assert others == [], "a reader saw a partial state"
    # verify is a reader too: it must not report damage while writers work.
    assert readers.problems == []


HOLDER = r"""
import sys, time
from pathlib import Path
from gitversions.store import Store

store = Store(Path(sys.argv[1]))
with store.artifact("shared").lock():
    print("locked", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def one_version(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "store"
    root.mkdir()
    (root / "gitversions.toml").write_text("lock_timeout = 0.3\n")
    src = tmp_path / "src"
    src.mkdir()
    (src / "SKILL.md").write_text("v1\n")
    assert run_gv(root, "snapshot", NAME, str(src)).returncode == 0
    (src / "SKILL.md").write_text("v2\n")
    return root, src


def listing(top: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every entry under ``top``: path -> (mode, mtime, content of files)."""
    found = {}
    for path in sorted(top.rglob("*")):
        st = path.lstat()
        body = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        found[str(path.relative_to(top))] = (st.st_mode, st.st_mtime_ns, body)
    return found


def test_a_writer_that_cannot_get_the_lock_fails_clearly_and_writes_nothing(
    one_version: tuple[Path, Path],
) -> None:
    root, src = one_version
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
        env=harness.git_env(),
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        before = listing(root)
        started = time.monotonic()
        proc = run_gv(root, "snapshot", NAME, str(src))
        waited = time.monotonic() - started
        assert proc.returncode == 1
        assert proc.stderr.startswith("gitversions: error: artifact 'shared' is locked")
        assert f"pid {holder.pid} " in proc.stderr
        assert "gave up after 0.3s" in proc.stderr
        assert "lock_timeout" in proc.stderr and "Traceback" not in proc.stderr
        assert proc.stderr.count("\n") == 1
        assert 0.3 <= waited < 10
        assert listing(root) == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The holder's death frees the lock at once: no stale lock to clean by hand.
    started = time.monotonic()
    assert run_gv(root, "snapshot", NAME, str(src)).returncode == 0
    assert time.monotonic() - started < 5


def test_a_frozen_writer_is_named_so_the_user_can_recover(
    one_version: tuple[Path, Path],
) -> None:
    """A snapshot stopped mid-write (SIGSTOP) holds the lock; the error says who."""
    root, src = one_version
    frozen = subprocess.Popen(
        harness.wrap_argv(
            ["--root", str(root), "snapshot", NAME, str(src)],
            kill_path="tmp_obj_",
            sig="STOP",
        ),
        env=harness.git_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(f"/proc/{frozen.pid}/stat") as f:
                if f.read().split(") ")[1].startswith("T"):
                    break
            time.sleep(0.02)
        else:
            pytest.fail("the writer never stopped")
        (src / "SKILL.md").write_text("v3\n")
        proc = run_gv(root, "snapshot", NAME, str(src))
        assert proc.returncode == 1
        assert f"locked by pid {frozen.pid} " in proc.stderr
        assert "wait for that process to finish" in proc.stderr
    finally:
        frozen.send_signal(signal.SIGKILL)
        frozen.wait()
    proc = run_gv(root, "--json", "snapshot", NAME, str(src))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["number"] == 2
    assert harness.fsck(root / "artifacts" / NAME / "history.git") is None


def test_writers_racing_with_no_patience_either_win_or_fail_cleanly(
    tmp_path: Path, figures: collections.Counter[str]
) -> None:
    """lock_timeout = 0: losers fail at once, winners are all recorded, no more."""
    root = tmp_path / "store"
    root.mkdir()
    (root / "gitversions.toml").write_text("lock_timeout = 0\n")
    procs = []
    for w in range(6):
        src = tmp_path / f"src{w}"
        src.mkdir()
        (src / "who.txt").write_text(f"writer {w}\n")
        procs.append(
            subprocess.Popen(
                [*GV, "--root", str(root), "--json", "snapshot", NAME, str(src)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=harness.git_env(),
            )
        )
    won: dict[str, str] = {}
    lost = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        if proc.returncode == 0:
            record = json.loads(out)
            won[record["id"]] = record["commit"]
        else:
            lost += 1
            assert proc.returncode == 1, err
            assert re.fullmatch(
                r"gitversions: error: artifact 'shared' is locked by "
                r"(pid \d+ .*|another process); gave up after 0s .*\n",
                err,
            ), err
    assert won
    history = root / "artifacts" / NAME / "history.git"
    tags = harness.run_git(history, "tag").split()
    assert sorted(tags) == sorted(won)
    assert harness.fsck(history) is None
    figures["concurrency: lock-timeout losers failing cleanly"] += lost


# -- verify reads one state ------------------------------------------------------


def exported_store(tmp_path: Path, config: str = "") -> Path:
    """A store whose artifact has three versions, all exported into versions/."""
    root = tmp_path / "store"
    root.mkdir()
    (root / "gitversions.toml").write_text(config)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / "SKILL.md").write_text(f"version {i}\n")
        (src / "notes.md").write_text(f"notes {i}\n" * 50)
        assert run_gv(root, "snapshot", NAME, str(src)).returncode == 0
    assert run_gv(root, "export", NAME).returncode == 0
    return root


def test_no_prune_changes_versions_while_verify_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prune that comes while verify is half way through waits for it.

    verify listed versions/ and is about to check the first directory when a
    prune (another process) starts: it gets no lock (lock_timeout = 0 here),
    and verify reports the state it began with, undamaged, not "missing file".
    """
    from gitversions.materialize.export import Materializer
    from gitversions.store import Store

    root = exported_store(tmp_path, "lock_timeout = 0\n")
    real = Materializer.check_dir
    pruned: list[subprocess.CompletedProcess[str]] = []

    def check_dir(self: Materializer, version: object, directory: Path) -> list[str]:
        if not pruned:  # verify is between its listing and its reading
            pruned.append(run_gv(root, "prune", NAME, "--keep", "1"))
        return real(self, version, directory)  # type: ignore[arg-type]

    monkeypatch.setattr(Materializer, "check_dir", check_dir)
    store = Store(root)
    try:
        assert store.artifact(NAME).verify() == []
    finally:
        store.close()
    (prune,) = pruned
    assert prune.returncode == 1, prune.stdout + prune.stderr
    assert f"artifact '{NAME}' is locked" in prune.stderr
    monkeypatch.undo()
    assert run_gv(root, "prune", NAME, "--keep", "1").returncode == 0
    assert run_gv(root, "verify", NAME).stdout == f"ok: {NAME}\n"


# Runs the command line, printing "waiting" the first time the lock is refused.
SPY = r"""
import sys
import gitversions.fs.lock as lock

real, told = lock._try_lock, []

def spy(*args, **kwargs):
    got = real(*args, **kwargs)
    if not got and not told:
        told.append(True)
        print("waiting", flush=True)
    return got

lock._try_lock = spy
from gitversions.cli import main
main(sys.argv[1:])
"""


def test_verify_waits_for_a_prune_half_way_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A verify started while a prune holds the lock waits, then finds no damage.

    The prune is stopped after renaming the first version away; it goes on
    only once verify has been refused the lock, so the order is fixed.
    """
    from gitversions.materialize import retention
    from gitversions.store import Store

    root = exported_store(tmp_path)
    real = retention.remove_tree
    first: list[str] = []
    verify: list[subprocess.Popen[str]] = []

    def remove_tree(path: Path) -> None:
        if not verify:
            proc = subprocess.Popen(
                [sys.executable, "-c", SPY, "--root", str(root), "verify", NAME],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=harness.git_env(),
            )
            verify.append(proc)
            assert proc.stdout is not None
            first.append(proc.stdout.readline())
        real(path)

    monkeypatch.setattr(retention, "remove_tree", remove_tree)
    store = Store(root)
    try:
        result = retention.prune(store.artifact(NAME), keep=1)
    finally:
        store.close()
    assert len(result.removed) == 2
    (proc,) = verify
    out, err = proc.communicate(timeout=120)
    assert first == ["waiting\n"], [*first, out, err]
    assert proc.returncode == 0, out + err
    assert out == f"ok: {NAME}\n"


def test_verify_shares_the_lock_and_verify_repair_takes_it_alone(
    tmp_path: Path,
) -> None:
    """Readers do not block each other; a repair writes, so it waits for readers."""
    from gitversions.store import Store

    root = exported_store(tmp_path, "lock_timeout = 0\n")
    store = Store(root)
    try:
        with store.artifact(NAME).reading():
            plain = run_gv(root, "verify", NAME)
            repair = run_gv(root, "verify", "--repair", NAME)
    finally:
        store.close()
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout == f"ok: {NAME}\n"
    assert repair.returncode == 1
    assert repair.stderr.startswith(f"gitversions: error: artifact '{NAME}' is locked")
    assert run_gv(root, "verify", "--repair", NAME).returncode == 0

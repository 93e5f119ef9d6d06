"""Bench: push and fetch of a long history to and from a local bare repository.

Compares gitversions (the library, in process) with the real git CLI moving the
same data:

- push: ``remote.push`` into an empty bare repository, against
  ``git push --mirror`` of the artifact's history into another empty one;
- fetch: ``remote.clone`` (a fetch into an empty history, then the adoption of
  every version: ids computed, trees checked, tags written), against
  ``git fetch`` of main and every tag into an empty bare repository.

Each figure is the best of ``--repeat`` runs. Usage::

    python scripts/bench_remote.py [--versions 1000] [--repeat 3] [--keep DIR]

Prints a table ``reference s | gitversions s | ratio | target`` and exits 1 if
a ratio misses its target (with ``--check``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET = 1.5


def build_history(root: Path, versions: int) -> Path:
    """A store whose artifact ``bench`` has ``versions`` versions; its history."""
    from gitversions.store import Store

    store = Store(root)
    store.init()
    src = root.parent / "bench-src"
    (src / "scripts").mkdir(parents=True, exist_ok=True)
    for i in range(8):
        (src / f"ref{i}.md").write_text(f"# Reference {i}\n\n" + "text line\n" * 40)
    (src / "scripts" / "run.py").write_text("print('run')\n" * 20)
    t0 = 1_760_000_000
    for n in range(versions):
        (src / "SKILL.md").write_text(f"# Skill\n\nrevision {n}\n" + "body\n" * 30)
        if n % 10 == 0:
            (src / f"ref{n % 8}.md").write_text(f"# Reference, edit {n}\n")
        store.snapshot("bench", src, message=f"revision {n}", timestamp=t0 + n)
    artifact = store.existing("bench")
    artifact.close()
    return artifact.history_path


def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def empty_bare(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    git("init", "-q", "--bare", "--initial-branch=main", str(path))
    return path


def best(repeat: int, prepare: Callable[[], None], run: Callable[[], None]) -> float:
    times = []
    for _ in range(repeat):
        prepare()
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="work here and keep the data")
    parser.add_argument("--check", action="store_true", help="exit 1 above target")
    args = parser.parse_args(argv)

    from gitversions.git import remote
    from gitversions.store import Store

    work = args.keep or Path(tempfile.mkdtemp(prefix="gv-bench-remote-"))
    work.mkdir(parents=True, exist_ok=True)
    env_home = work / "home"
    env_home.mkdir(exist_ok=True)
    os.environ.update(
        {
            "HOME": str(env_home),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
        }
    )
    try:
        built = time.perf_counter()
        history = build_history(work / "store", args.versions)
        print(
            f"built {args.versions} versions in {time.perf_counter() - built:.1f}s",
            file=sys.stderr,
        )
        store = Store(work / "store")
        target = work / "pushed.git"
        mirror = work / "mirror.git"

        def gv_push() -> None:
            artifact = store.existing("bench")
            result = remote.push(artifact, str(target))
            artifact.close()
            assert result.ok

        def git_push() -> None:
            git("--git-dir", str(history), "push", "-q", "--mirror", str(mirror))

        push_gv = best(args.repeat, lambda: empty_bare(target), gv_push)
        push_git = best(args.repeat, lambda: empty_bare(mirror), git_push)

        clone_root = work / "clone"
        fetched = work / "fetched.git"

        def reset_clone() -> None:
            if clone_root.exists():
                shutil.rmtree(clone_root)

        def gv_fetch() -> None:
            result = remote.clone(Store(clone_root), str(target), "bench")
            assert result.ok and len(result.adopted) == args.versions

        def git_fetch() -> None:
            git(
                "--git-dir", str(fetched), "fetch", "-q", str(target),
                "+refs/heads/main:refs/heads/main", "+refs/tags/*:refs/tags/*",
            )  # fmt: skip

        fetch_gv = best(args.repeat, reset_clone, gv_fetch)
        fetch_git = best(args.repeat, lambda: empty_bare(fetched), git_fetch)

        rows = [
            (f"push {args.versions} versions", push_git, push_gv),
            (f"fetch {args.versions} versions", fetch_git, fetch_gv),
        ]
        print(
            f"{'operation':<24} | {'reference s':>11} | {'gitversions s':>13} | "
            f"{'ratio':>6} | target"
        )
        missed = False
        for label, ref, ours in rows:
            ratio = ours / ref if ref else float("inf")
            missed |= ratio > TARGET
            print(
                f"{label:<24} | {ref:>11.3f} | {ours:>13.3f} | {ratio:>5.2f}x | "
                f"<= {TARGET}x"
            )
        return 1 if (missed and args.check) else 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

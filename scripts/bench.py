"""Benchmark gitversions against plain git and hashlib on one 10 MB artifact.

    .venv/bin/python scripts/bench.py [--quick] [--runs N] [--json] [--compression]
                                      [--huge]

One artifact is generated in a temporary directory (removed at exit): 10 MiB in
60 files, text (markdown and JavaScript-like, compressible) and binary (random
bytes), some in subdirectories, the same for a given --seed. Then, side by side,
each time the median of N runs after one warm-up, the reference and gitversions
alternating so that a noisy machine hurts both alike:

  a. snapshot of new content, whole processes, a fresh store / repository each
     run: ``gitversions snapshot`` vs ``git init --bare && git add -A && git commit``;
  b. content hash, in process: ``gitversions.snapshot.hashing.content_hash`` vs reading
     every file in 1 MiB chunks into ``hashlib.sha256``;
  c. export of one version, whole processes, a fresh target each run:
     ``gitversions export --to`` vs ``git archive | tar -x``.

Rows P2, P4, P6-P11 come from scripts/bench_scale.py, P12 (a three-way merge
of one 10 MB text file against ``git merge-file``) from scripts/bench_merge.py.

This is a measurement, not a test: it exits 0 even when a target is missed, and
prints MISSED for it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

TOTAL_BYTES = 10 * 1024 * 1024
FILE_COUNT = 60
BINARY_FILES = 20
CHUNK = 1 << 20
NAME = "bench"

# fmt: off
WORDS = [
    "canvas", "design", "skill", "render", "layout", "palette", "colour", "stroke",
    "gradient", "vector", "export", "prompt", "agent", "command", "review", "token",
    "stream", "buffer", "module", "import", "function", "return", "const", "await",
    "async", "promise", "value", "index", "width", "height",
]
# fmt: on


@dataclass
class Result:
    """One line of the table."""

    work: str
    reference: str
    reference_s: float
    gitversions_s: float
    target: float
    limit_s: float | None = None  # and at most this many seconds
    max_over_s: float | None = None  # or: at most this much over the reference
    unit: str = "s"  # "s", or "MB" for sizes

    @property
    def ratio(self) -> float:
        """gitversions figure over reference figure."""
        return self.gitversions_s / self.reference_s

    @property
    def ok(self) -> bool:
        """Whether the ratio (and absolute limit) meets the target."""
        if self.max_over_s is not None:
            return self.gitversions_s - self.reference_s <= self.max_over_s
        if self.limit_s is not None and self.gitversions_s > self.limit_s:
            return False
        return self.ratio <= self.target

    @property
    def target_text(self) -> str:
        """The target as printed."""
        if self.max_over_s is not None:
            return f"<= +{self.max_over_s:g} s"
        text = f"<= {self.target:g}x"
        if self.limit_s is not None:
            text += f", <= {self.limit_s:g} s"
        return text


# -- the artifact -------------------------------------------------------------


def _text_lines(rng: random.Random, count: int) -> list[str]:
    lines = []
    for i in range(count):
        words = " ".join(rng.choices(WORDS, k=rng.randint(3, 12)))
        kind = i % 4
        if kind == 0:
            lines.append(f"## {words.title()}\n")
        elif kind == 1:
            lines.append(f"- {words}.\n")
        elif kind == 2:
            lines.append(
                f"const {rng.choice(WORDS)}{i} = ({words.replace(' ', ', ')});\n"
            )
        else:
            lines.append(f"  // {words}\n")
    return lines


def _text(rng: random.Random, pool: list[str], size: int) -> bytes:
    parts: list[str] = []
    length = 0
    while length < size:
        chunk = "".join(rng.choices(pool, k=256))
        parts.append(chunk)
        length += len(chunk)
    return "".join(parts).encode("ascii")[:size]


def generate(dest: Path, seed: int) -> tuple[int, int]:
    """Write the artifact into ``dest``; return (files, bytes)."""
    rng = random.Random(seed)
    weights = [rng.uniform(0.2, 1.8) for _ in range(FILE_COUNT)]
    scale = TOTAL_BYTES / sum(weights)
    sizes = [int(w * scale) for w in weights]
    sizes[-1] += TOTAL_BYTES - sum(sizes)
    pool = _text_lines(rng, 4000)
    folders = ["", "", "docs", "docs/guides", "src", "src/lib", "assets", "assets/img"]
    for index, size in enumerate(sizes):
        binary = index % 3 == 2 and index // 3 < BINARY_FILES
        folder = dest / rng.choice(folders)
        folder.mkdir(parents=True, exist_ok=True)
        if binary:
            path = folder / f"blob{index:02d}.bin"
            path.write_bytes(rng.randbytes(size))
        else:
            suffix = ".md" if index % 2 else ".js"
            path = folder / f"file{index:02d}{suffix}"
            path.write_bytes(_text(rng, pool, size))
        if index % 10 == 5:
            path.chmod(0o755)
    files = [p for p in dest.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


# -- timing -------------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT")}
    env.pop("GITVERSIONS_ROOT", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # users run from compiled modules
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_AUTHOR_NAME="bench",
        GIT_AUTHOR_EMAIL="bench@example.com",
        GIT_COMMITTER_NAME="bench",
        GIT_COMMITTER_EMAIL="bench@example.com",
    )
    return env


def _run(args: list[str], env: dict[str, str], cwd: Path | None = None) -> None:
    proc = subprocess.run(args, capture_output=True, check=False, env=env, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({proc.returncode}):\n"
            f"{proc.stderr.decode(errors='replace')}"
        )


def measure(
    runs: int,
    reference: Callable[[int], None],
    ours: Callable[[int], None],
    prepare: Callable[[int], None] | None = None,
) -> tuple[float, float]:
    """Median seconds of ``reference`` and ``ours``, alternating, after a warm-up.

    ``prepare(i)`` runs untimed before each pair (to make fresh targets).
    """
    ref_times: list[float] = []
    our_times: list[float] = []
    for i in range(runs + 1):  # run 0 is the warm-up
        if prepare is not None:
            prepare(i)
        pairs = [(reference, ref_times), (ours, our_times)]
        if i % 2:
            pairs.reverse()
        for func, times in pairs:
            start = time.perf_counter()
            func(i)
            elapsed = time.perf_counter() - start
            if i:
                times.append(elapsed)
    return statistics.median(ref_times), statistics.median(our_times)


def plain_hash(src: Path) -> dict[str, str]:
    """The reference of (b): SHA-256 of every file, read in 1 MiB chunks."""
    digests = {}
    for folder, _dirs, names in os.walk(src):
        for name in names:
            path = os.path.join(folder, name)
            h = hashlib.sha256()
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    h.update(chunk)
            digests[path] = h.hexdigest()
    return digests


def bench(
    work: Path, runs: int, seed: int, quick: bool = False
) -> tuple[list[Result], dict[str, object]]:
    """Generate the artifact under ``work`` and measure a, b and c."""
    from gitversions.snapshot.hashing import content_hash

    src = work / "src" / NAME
    files, size = generate(src, seed)
    gitversions = shutil.which("gitversions", path=str(Path(sys.executable).parent))
    if gitversions is None:
        raise RuntimeError(f"no gitversions command beside {sys.executable}")
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("git is not installed")
    env = _env()
    results: list[Result] = []

    def fresh(name: str, i: int) -> Path:
        path = work / f"{name}-{i}"
        if path.exists():
            shutil.rmtree(path)
        return path

    # a. snapshot of new content, whole processes, fresh store each run
    def git_snapshot(i: int) -> None:
        repo = str(work / f"git-a-{i}")
        genv = {**env, "GIT_DIR": repo, "GIT_WORK_TREE": str(src)}
        _run([git, "init", "-q", "--bare", repo], env=env)
        _run([git, "add", "-A"], env=genv, cwd=src)
        _run([git, "commit", "-q", "-m", "x"], env=genv, cwd=src)

    def gv_snapshot(i: int) -> None:
        root = str(work / f"gv-a-{i}")
        _run([gitversions, "--root", root, "snapshot", NAME, str(src)], env=env)

    def clean_a(i: int) -> None:
        for old in (f"git-a-{i - 1}", f"gv-a-{i - 1}"):
            shutil.rmtree(work / old, ignore_errors=True)
        fresh("git-a", i)
        fresh("gv-a", i)

    ref_s, our_s = measure(runs, git_snapshot, gv_snapshot, clean_a)
    results.append(
        Result(
            "P1 snapshot (new content, process)",
            "git init --bare + add -A + commit",
            ref_s,
            our_s,
            1.2,
        )
    )

    # b. content hash, in process
    expected = content_hash(src)
    ref_s, our_s = measure(
        runs, lambda _i: plain_hash(src), lambda _i: content_hash(src)
    )
    if content_hash(src) != expected:
        raise RuntimeError("content_hash is not stable across runs")
    results.append(
        Result(
            "P3 content hash (in process)",
            "hashlib.sha256 per file, 1 MiB reads",
            ref_s,
            our_s,
            1.5,
        )
    )

    # c. export one version, whole processes, fresh target each run
    root = work / "gv-c"
    repo = work / "git-c.git"
    _run([gitversions, "--root", str(root), "snapshot", NAME, str(src)], env=env)
    genv = {**env, "GIT_DIR": str(repo), "GIT_WORK_TREE": str(src)}
    _run([git, "init", "-q", "--bare", str(repo)], env=env)
    _run([git, "add", "-A"], env=genv, cwd=src)
    _run([git, "commit", "-q", "-m", "x"], env=genv, cwd=src)
    commit = subprocess.run(
        [git, "--git-dir", str(repo), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout.strip()

    def git_export(i: int) -> None:
        out = work / f"git-out-{i}"
        out.mkdir()
        archive = subprocess.Popen(
            [git, "--git-dir", str(repo), "archive", commit],
            stdout=subprocess.PIPE,
            env=env,
        )
        tar = subprocess.run(
            ["tar", "-x", "-C", str(out)], stdin=archive.stdout, check=False
        )
        assert archive.stdout is not None
        archive.stdout.close()
        if archive.wait() != 0 or tar.returncode != 0:
            raise RuntimeError("git archive | tar -x failed")

    def gv_export(i: int) -> None:
        out = str(work / f"gv-out-{i}")
        _run(
            [gitversions, "--root", str(root), "export", NAME, "v1", "--to", out],
            env=env,
        )

    def clean_c(i: int) -> None:
        for old in (f"git-out-{i - 1}", f"gv-out-{i - 1}"):
            _remove(work / old)
        _remove(work / f"git-out-{i}")
        _remove(work / f"gv-out-{i}")

    ref_s, our_s = measure(runs, git_export, gv_export, clean_c)
    results.append(
        Result(
            "P5 export one version (process)",
            "git archive piped into tar -x",
            ref_s,
            our_s,
            1.2,
        )
    )

    # c'. the same export through the library, in this process: the work
    # itself (read, decompress, write, fsync, rename) without Python's and
    # dulwich's start-up, against the same git pipeline.
    from gitversions.store import Store

    def gv_export_in_process(i: int) -> None:
        artifact = Store(root).artifact(NAME)
        try:
            artifact.export(["v1"], to=work / f"gv-out-{i}")
        finally:
            artifact.close()

    ref_s, our_s = measure(runs, git_export, gv_export_in_process, clean_c)
    results.append(
        Result(
            "P5 export one version (in process)",
            "git archive piped into tar -x",
            ref_s,
            our_s,
            1.2,
        )
    )
    data = {"files": files, "bytes": size, "content_hash": expected, "seed": seed}
    from bench_scale import bench_scale  # rows P2, P4, P6-P11, P13

    results.extend(bench_scale(work, runs, seed, gitversions, git, env, quick))
    from bench_merge import bench_merge  # row P12

    results.extend(bench_merge(work, runs, seed, git, env))
    return results, data


def _remove(path: Path) -> None:
    """Remove an exported tree (its files may be read-only)."""
    if not path.exists():
        return
    for folder, dirs, _names in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
    os.chmod(path, 0o755)
    shutil.rmtree(path)


# -- report -------------------------------------------------------------------


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 0
    git = subprocess.run(
        ["git", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    from importlib.metadata import version

    return {
        "nproc": str(cores),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "git": git.removeprefix("git version "),
        "gitversions": version("gitversions"),
        "dulwich": version("dulwich"),
        "platform": platform.platform(),
    }


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    header = [
        "work",
        "reference",
        "reference",
        "gitversions",
        "ratio",
        "target",
        "ok",
    ]
    rows = [
        [
            r.work,
            r.reference,
            f"{r.reference_s:.3f} {r.unit}",
            f"{r.gitversions_s:.3f} {r.unit}",
            f"{r.ratio:.2f}x",
            r.target_text,
            "ok" if r.ok else "MISSED",
        ]
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
            + " |"
        )

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _compile_package() -> str:
    """Write gitversions' bytecode, as installing a wheel does.

    An editable install (``pip install -e``) compiles nothing, and where
    ``PYTHONDONTWRITEBYTECODE`` is set no ``.pyc`` is ever cached, so every
    process would compile every module again (about 0.05 s): that measures the
    development setup, not what users run. compileall writes the files even
    under that variable; Python reads them either way.
    """
    import compileall

    import gitversions

    package = Path(gitversions.__file__).parent
    ok = compileall.compile_dir(str(package), quiet=1)
    return f"bytecode of {package} written" if ok else "bytecode: compileall failed"


def _huge_only(runs: int, quick: bool) -> int:
    """Run row P13 alone and print its table."""
    from bench_scale import bench_huge

    _compile_package()
    gitversions = shutil.which("gitversions", path=str(Path(sys.executable).parent))
    git = shutil.which("git")
    if gitversions is None or git is None:
        raise RuntimeError("gitversions (beside this Python) and git are needed")
    with tempfile.TemporaryDirectory(prefix="gitversions-bench-") as tmp:
        rows = bench_huge(Path(tmp) / "p12", runs, gitversions, git, _env(), quick)
    print(table(rows))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; always 0 unless it could not run at all."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 5")
    parser.add_argument("--runs", type=int, help="runs per measurement (median)")
    parser.add_argument("--seed", type=int, default=2, help="seed of the artifact")
    parser.add_argument("--json", action="store_true", help="also print JSON")
    parser.add_argument(
        "--compression",
        action="store_true",
        help="only row P11: versions/ size and export time per version_compression",
    )
    parser.add_argument(
        "--huge",
        action="store_true",
        help="only row P13: export, restore and show of one version of "
        "100,000 files (5,000 with --quick)",
    )
    args = parser.parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    if runs < 1:
        parser.error("--runs must be at least 1")
    if args.huge:
        return _huge_only(runs, args.quick)
    if args.compression:
        from bench_scale import bench_compression

        with tempfile.TemporaryDirectory(prefix="gitversions-bench-") as tmp:
            _rows, text = bench_compression(Path(tmp), runs, args.seed, args.quick)
        print(text)
        return 0

    compiled = _compile_package()
    info = machine()
    print(
        f"machine: {info['nproc']} cores, Python {info['python']}, git {info['git']}, "
        f"gitversions {info['gitversions']} (dulwich {info['dulwich']}), "
        f"{info['platform']}"
    )
    print(compiled)
    with tempfile.TemporaryDirectory(prefix="gitversions-bench-") as tmp:
        results, data = bench(Path(tmp), runs, args.seed, args.quick)
    print(
        f"artifact: {data['files']} files, {int(data['bytes']) / 2**20:.1f} MiB "
        f"(seed {args.seed}); median of {runs} runs after a warm-up\n"
    )
    print(table(results))
    missed = [r.work for r in results if not r.ok]
    print()
    if missed:
        print(f"MISSED: {', '.join(missed)}")
    else:
        print("all targets met")
    if args.json:
        print(
            json.dumps(
                {
                    "machine": info,
                    "artifact": data,
                    "runs": runs,
                    "results": [
                        {**asdict(r), "ratio": round(r.ratio, 3), "ok": r.ok}
                        for r in results
                    ],
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Rows P2, P4, P6-P11, P13 of scripts/bench.py: behaviour at scale.

P11 (``bench_compression``, also alone with ``bench.py --compression``)
compares ``[storage] version_compression`` none, gzip and bzip2 on the same
history and prints a table of sizes and export times. P13 (``bench_huge``, also
alone with ``bench.py --huge``) times one version of very many small files.

Sizes depend on the mode: --quick (what CI can afford) uses smaller artifacts
and histories than the full mode; each row says the size it measured.
"""

from __future__ import annotations

import os
import random
import resource
import shutil
import sys
import tarfile
import time
from pathlib import Path

from bench import NAME, Result, _remove, _run, generate, measure

# (full, quick)
FILES_P2 = (10_000, 10_000)
VERSIONS_P4 = (10_000, 1_000)
VERSIONS_P7 = (200, 50)
BIG_P8 = (1 << 30, 256 << 20)
SNAPSHOTS_P9 = (2_000, 300)
WINDOW_P9 = (100, 50)
VERSIONS_P11 = (20, 4)
FILES_P13 = (100_000, 5_000)


def _pick(sizes: tuple[int, int], quick: bool) -> int:
    return sizes[1] if quick else sizes[0]


def _du(path: Path) -> int:
    total = 0
    seen: set[tuple[int, int]] = set()
    for folder, _dirs, names in os.walk(path):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) in seen:
                continue  # a hardlink counts once
            seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
    return total


def _many_files(dest: Path, count: int) -> None:
    rng = random.Random(7)
    per_dir = 100
    for index in range(count):
        folder = dest / f"d{index // per_dir:03d}"
        if index % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index % per_dir:03d}.md").write_text(
            f"file {index}\n" * rng.randint(1, 40)
        )


def _edit_line(path: Path, i: int) -> None:
    lines = path.read_bytes().split(b"\n")
    lines[len(lines) // 2] = b"edited line %d" % i
    path.write_bytes(b"\n".join(lines))


def _history(root: Path, src: Path, count: int, texts: list[Path]) -> None:
    """Record ``count`` versions with one-line edits, in this process."""
    from gitversions.store import Store

    store = Store(root)
    for i in range(count):
        _edit_line(texts[i % len(texts)], i)
        store.snapshot(NAME, src, timestamp=1764496800 + i)
        store.close()


def bench_scale(
    work: Path,
    runs: int,
    seed: int,
    gitversions: str,
    git: str,
    env: dict[str, str],
    quick: bool,
) -> list[Result]:
    """Measure P2, P4, P6-P11, P13; return their rows."""
    results: list[Result] = []
    python = sys.executable

    # P2: unchanged snapshot of a 10,000-file artifact vs os.walk + lstat.
    files = _pick(FILES_P2, quick)
    many = work / "p2-src"
    _many_files(many, files)
    root2 = work / "p2-store"
    _run([gitversions, "--root", str(root2), "snapshot", NAME, str(many)], env=env)
    time.sleep(3.1)  # past the racy margin, as a real second snapshot would be
    _run([gitversions, "--root", str(root2), "snapshot", NAME, str(many)], env=env)
    walk = (
        "import os,sys\n"
        "for r,d,f in os.walk(sys.argv[1]):\n"
        "    for n in f: os.lstat(os.path.join(r,n))\n"
    )
    ref_s, our_s = measure(
        runs,
        lambda _i: _run([python, "-c", walk, str(many)], env=env),
        lambda _i: _run(
            [gitversions, "--root", str(root2), "snapshot", NAME, str(many)], env=env
        ),
    )
    results.append(
        Result(
            f"P2 unchanged snapshot, {files} files (process)",
            "python os.walk + lstat (process)",
            ref_s,
            our_s,
            2.0,
            limit_s=0.3,
        )
    )

    # P4: log --json and show v<n> with many versions vs git log --oneline.
    count = _pick(VERSIONS_P4, quick)
    src4 = work / "p4-src"
    (src4).mkdir()
    (src4 / "SKILL.md").write_text("# skill\n" + "line\n" * 50)
    (src4 / "notes.md").write_text("notes\n" * 20)
    root4 = work / "p4-store"
    _history(root4, src4, count, [src4 / "notes.md"])
    repo4 = root4 / "artifacts" / NAME / "history.git"
    # The first log fills the caches a clone or an old store lacks.
    _run([gitversions, "--root", str(root4), "--json", "log", NAME], env=env)
    git_log = [git, "--git-dir", str(repo4), "log", "--oneline"]
    ref_s, our_s = measure(
        runs,
        lambda _i: _run(git_log, env=env),
        lambda _i: _run(
            [gitversions, "--root", str(root4), "--json", "log", NAME], env=env
        ),
    )
    results.append(
        Result(
            f"P4 log --json, {count} versions",
            "git log --oneline",
            ref_s,
            our_s,
            float("inf"),
            limit_s=0.5,
        )
    )
    ref_s, our_s = measure(
        runs,
        lambda _i: _run(git_log, env=env),
        lambda _i: _run(
            [gitversions, "--root", str(root4), "show", NAME, f"v{count * 9 // 10}"],
            env=env,
        ),
    )
    results.append(
        Result(
            f"P4 show v{count * 9 // 10}, {count} versions",
            "git log --oneline",
            ref_s,
            our_s,
            float("inf"),
            limit_s=0.3,
        )
    )

    # P7: storage of one-line-edit versions after gc vs one tar.gz.
    versions = _pick(VERSIONS_P7, quick)
    src7 = work / "p7-src" / NAME
    generate(src7, seed)
    texts = sorted(p for p in src7.rglob("*") if p.suffix in (".md", ".js"))
    root7 = work / "p7-store"
    _history(root7, src7, versions, texts)
    history7 = root7 / "artifacts" / NAME / "history.git"
    loose = _du(history7)
    start = time.perf_counter()
    _run([gitversions, "--root", str(root7), "gc", NAME], env=env)
    gc_s = time.perf_counter() - start
    tarball = work / "p7.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:
        tf.add(src7, NAME)
    one = tarball.stat().st_size
    stored = _du(history7)
    results.append(
        Result(
            f"P7 storage, {versions} versions before gc (loose objects)",
            "one tar.gz of the artifact",
            one / 1e6,
            loose / 1e6,
            float("inf"),
            unit="MB",
        )
    )
    results.append(
        Result(
            f"P7 gc of {versions} versions (process)",
            "-",
            gc_s,
            gc_s,
            float("inf"),
        )
    )
    results.append(
        Result(
            f"P7 storage, {versions} versions after gc "
            f"(a tar.gz per version: {one * versions / 1e6:.0f} MB)",
            "one tar.gz of the artifact",
            one / 1e6,
            stored / 1e6,
            1.3,
            unit="MB",
        )
    )

    # P6: export after one new snapshot with many versions materialized.
    # (all P7 versions materialized: without hardlinks, 1,000 versions of a
    # 10 MB artifact would take 10 GB)
    if True:
        _run([gitversions, "--root", str(root7), "export", NAME], env=env)
        one_dir = work / "p6-one"
        texts[0].write_text(texts[0].read_text() + "one more line\n")

        def gv_one(i: int) -> None:
            _remove(one_dir)
            _run(
                [
                    gitversions,
                    "--root",
                    str(root7),
                    "export",
                    NAME,
                    "latest",
                    "--to",
                    str(one_dir),
                ],
                env=env,
            )

        def gv_incremental(i: int) -> None:
            _edit_line(texts[1], 10_000 + i)
            _run(
                [gitversions, "--root", str(root7), "snapshot", NAME, str(src7)],
                env=env,
            )
            start = time.perf_counter()
            _run([gitversions, "--root", str(root7), "export", NAME], env=env)
            incremental.append(time.perf_counter() - start)

        incremental: list[float] = []
        ref_s, _ = measure(runs, gv_one, gv_incremental)
        our_s = sorted(incremental[1:])[len(incremental[1:]) // 2]
        size_versions = _du(root7 / "artifacts" / NAME / "versions")
        size_one = _du(one_dir)
        count_dirs = len(list((root7 / "artifacts" / NAME / "versions").glob("v*")))
        results.append(
            Result(
                f"P6 export after a snapshot, {count_dirs} materialized",
                "export of a single version",
                ref_s,
                our_s,
                2.0,
            )
        )
        results.append(
            Result(
                f"P6 bytes of {count_dirs} materialized versions",
                "bytes of one version",
                size_one / 1e6,
                size_versions / 1e6,
                1.5,
                unit="MB",
            )
        )

    # P8: peak RSS of snapshot and export of an artifact with a big file.
    big = _pick(BIG_P8, quick)
    src8 = work / "p8-src"
    src8.mkdir()
    with (src8 / "big.bin").open("wb") as f:
        block = random.Random(8).randbytes(1 << 20)
        for _ in range(big >> 20):
            f.write(block)
    (src8 / "SKILL.md").write_text("big\n")
    root8 = work / "p8-store"
    peaks = []
    for args in (
        ["snapshot", NAME, str(src8)],
        ["export", NAME, "--to", str(work / "p8-out")],
        ["gc", NAME],
    ):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        _run([gitversions, "--root", str(root8), *args], env=env)
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peaks.append(max(before, after) / 1024)
    shutil.rmtree(src8)
    _remove(work / "p8-out")
    results.append(
        Result(
            f"P8 peak RSS, snapshot + export + gc, {big >> 20} MiB file",
            "256 MiB",
            256.0,
            max(peaks),
            1.0,
            unit="MiB",
        )
    )

    # P9: many snapshots in a row: the last window vs the first.
    total = _pick(SNAPSHOTS_P9, quick)
    window = _pick(WINDOW_P9, quick)
    from gitversions.store import Store

    src9 = work / "p9-src"
    src9.mkdir()
    (src9 / "SKILL.md").write_text("# skill\n" + "line\n" * 200)
    store = Store(work / "p9-store")
    times = []
    for i in range(total):
        _edit_line(src9 / "SKILL.md", i)
        start = time.perf_counter()
        store.snapshot(NAME, src9)
        store.close()
        times.append(time.perf_counter() - start)
    packs = len(
        list((work / "p9-store" / "artifacts" / NAME / "history.git").rglob("*.pack"))
    )
    results.append(
        Result(
            f"P9 {total} snapshots: last {window} ({packs} packs left)",
            f"the first {window}",
            sum(times[:window]),
            sum(times[-window:]),
            1.2,
        )
    )

    # P10: start-up.
    ref_s, our_s = measure(
        runs,
        lambda _i: _run([python, "-c", "pass"], env=env),
        lambda _i: _run([gitversions, "--help"], env=env),
    )
    results.append(
        Result(
            "P10 gitversions --help", "python -c pass", ref_s, our_s, 0, max_over_s=0.15
        )
    )
    ref_s, our_s = measure(
        runs,
        lambda _i: _run([python, "-c", "pass"], env=env),
        lambda _i: _run([gitversions, "--root", str(root2), "log", NAME], env=env),
    )
    results.append(
        Result(
            "P10 gitversions log (1 version)",
            "python -c pass",
            ref_s,
            our_s,
            0,
            max_over_s=0.15,
        )
    )
    results.extend(bench_compression(work / "p11", runs, seed, quick)[0])
    results.extend(bench_huge(work / "p13", runs, gitversions, git, env, quick))
    return results


def bench_huge(
    work: Path,
    runs: int,
    gitversions: str,
    git: str,
    env: dict[str, str],
    quick: bool,
) -> list[Result]:
    """P13: one version of very many small files (100 per directory).

    Everything per version must be linear in its files: ``export`` of the
    version within 2x a ``restore`` of it (the same files written, plus
    ``.version.toml``, which lists every path), and ``show`` against git
    listing the same changes. Whole processes, fresh targets; in full mode
    (100,000 files) one run after the warm-up, as each takes minutes.

    Args:
        work: A directory to work in (created).
        runs: Runs per measurement in quick mode (the median is kept).
        gitversions: The ``gitversions`` command.
        git: The ``git`` command.
        env: The environment of every process.
        quick: 5,000 files instead of 100,000.

    Returns:
        The rows for bench.py's table.
    """
    files = _pick(FILES_P13, quick)
    runs = runs if quick else 1
    src, root = work / "src", work / "store"
    _many_files(src, files)
    repo = root / "artifacts" / NAME / "history.git"
    cli = [gitversions, "--root", str(root)]
    start = time.perf_counter()
    _run([*cli, "snapshot", NAME, str(src)], env=env)
    snapshot_s = time.perf_counter() - start
    genv = {**env, "GIT_DIR": str(work / "git.git"), "GIT_WORK_TREE": str(src)}
    start = time.perf_counter()
    _run([git, "init", "-q", "--bare", str(work / "git.git")], env=env)
    _run([git, "add", "-A"], env=genv, cwd=src)
    _run([git, "commit", "-q", "-m", "x"], env=genv, cwd=src)
    git_s = time.perf_counter() - start
    shutil.rmtree(src)

    def restore(i: int) -> None:
        _run([*cli, "restore", NAME, "v1", str(work / f"restored-{i}")], env=env)

    def export(i: int) -> None:
        _run([*cli, "export", NAME, "v1", "--to", str(work / f"exported-{i}")], env)

    # Nothing is deleted between runs: freeing 100,000 inodes slowed whichever
    # command ran next, and the alternation gives one side that slot more often.
    ref_s, our_s = measure(runs, restore, export, lambda _i: os.sync())
    for i in range(runs + 1):
        _remove(work / f"restored-{i}")
        _remove(work / f"exported-{i}")
    git_show = [git, "--git-dir", str(repo), "show", "--name-status", "main"]
    show_ref, show_s = measure(
        runs,
        lambda _i: _run(git_show, env=env),
        lambda _i: _run([*cli, "show", NAME], env=env),
    )
    return [
        Result(
            f"P13 snapshot of {files} files, 100 a directory (process, 1 run)",
            "git init --bare + add -A + commit",
            git_s,
            snapshot_s,
            float("inf"),
        ),
        Result(
            f"P13 export of a {files}-file version (process)",
            "restore of the same version",
            ref_s,
            our_s,
            2.0,
        ),
        Result(
            f"P13 show of a {files}-file version (process)",
            "git show --name-status",
            show_ref,
            show_s,
            float("inf"),
            limit_s=5.0 if not quick else 1.0,
        ),
    ]


COMPRESSIONS = (
    ("none", True, "none (directories, hardlinked)"),
    ("none", False, "none, hardlink = false"),
    ("gzip", True, "gzip (<id>.tar.gz)"),
    ("bzip2", True, "bzip2 (<id>.tar.bz2)"),
)


def _configured_copy(history: Path, root: Path, compression: str, link: bool) -> None:
    home = root / "artifacts" / NAME
    home.mkdir(parents=True)
    shutil.copytree(history, home / "history.git", symlinks=True)
    (root / "gitversions.toml").write_text(
        f"[export]\nhardlink = {'true' if link else 'false'}\n\n"
        f'[storage]\nversion_compression = "{compression}"\n'
    )


def bench_compression(
    work: Path, runs: int, seed: int, quick: bool
) -> tuple[list[Result], str]:
    """P11: ``versions/`` size and export time for each version_compression.

    One history (the 10 MiB artifact, then one-line edits of its text files)
    is copied into one store per setting; each store exports every version
    into an empty ``versions/`` (in process, median of ``runs``, one run in
    quick mode), then ``versions/`` is measured in allocated bytes (a
    hardlinked file counted once).

    Args:
        work: An empty directory to work in.
        runs: Runs per export time (the median is kept).
        seed: Seed of the generated artifact.
        quick: Fewer versions and one run.

    Returns:
        The rows for bench.py's table, and a Markdown table of the figures.
    """
    from gitversions.store import Store

    count = _pick(VERSIONS_P11, quick)
    runs = 1 if quick else runs
    src = work / "src" / NAME
    files, size = generate(src, seed)
    texts = sorted(p for p in src.rglob("*") if p.suffix in (".md", ".js"))
    base = work / "base"
    _history(base, src, count, texts)
    history = base / "artifacts" / NAME / "history.git"
    figures: list[tuple[str, float, float]] = []
    for index, (compression, link, label) in enumerate(COMPRESSIONS):
        root = work / f"store-{index}"
        _configured_copy(history, root, compression, link)
        versions = root / "artifacts" / NAME / "versions"
        times = []
        for _ in range(runs):
            _remove(versions)
            store = Store(root)
            start = time.perf_counter()
            store.artifact(NAME).export()
            times.append(time.perf_counter() - start)
            store.close()
        figures.append((label, _du(versions) / 1e6, sorted(times)[len(times) // 2]))
        _remove(versions)
    header = (
        f"{count} versions of a {size / 2**20:.1f} MiB artifact in {files} files "
        "(one-line edits between versions)"
    )
    lines = [
        header,
        "",
        "| version_compression | versions/ size | per version | export all |",
        "|---------------------|----------------|-------------|------------|",
    ]
    for label, megabytes, seconds in figures:
        lines.append(
            f"| {label} | {megabytes:.1f} MB | {megabytes / count:.2f} MB "
            f"| {seconds:.2f} s |"
        )
    _label, none_mb, none_s = figures[0]
    rows = []
    for label, megabytes, seconds in figures[2:]:
        rows.append(
            Result(
                f"P11 versions/ size, {count} versions, {label}",
                "none (directories, hardlinked)",
                none_mb,
                megabytes,
                float("inf"),
                unit="MB",
            )
        )
        rows.append(
            Result(
                f"P11 export {count} versions (in process), {label}",
                "none (directories, hardlinked)",
                none_s,
                seconds,
                float("inf"),
            )
        )
    return rows, "\n".join(lines)

"""Row P12 of scripts/bench.py: a line-level merge of one 10 MB text file.

The file is generated from the same line pool as the benchmark artifact
(markdown and JavaScript-like lines, many of them repeated, as in real text).
Ours changes three regions of it and theirs two others, so the merge is clean
and every line is diffed twice. Measured side by side: ``git merge-file -p``
(a process writing the result to a file) and ``gitversions.merge.lines.merge_lines``
in this process, reading the three files and writing the result. The outputs
are compared: a difference stops the benchmark.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

from bench import Result, _text, _text_lines, measure

SIZE_P12 = 10 * 1024 * 1024  # also with --quick: the target is for 10 MB


def _edited(lines: list[bytes], rng: random.Random, where: list[float]) -> bytes:
    """The lines with a few lines rewritten and added at each fraction of ``where``."""
    edited = list(lines)
    for fraction in sorted(where, reverse=True):
        at = int(len(edited) * fraction)
        edited[at : at + 4] = [
            b"edited %d line %d\n" % (at, rng.randrange(9)) for _ in range(6)
        ]
    return b"".join(edited)


def bench_merge(
    work: Path, runs: int, seed: int, git: str, env: dict[str, str]
) -> list[Result]:
    """Measure P12; return its row."""
    from gitversions.merge.lines import merge_lines

    rng = random.Random(seed)
    base = _text(rng, _text_lines(rng, 4000), SIZE_P12)
    base = base[: base.rfind(b"\n") + 1]
    lines = base.splitlines(keepends=True)
    folder = work / "p12"
    folder.mkdir()
    files = {
        "base": base,
        "ours": _edited(lines, rng, [0.1, 0.5, 0.9]),
        "theirs": _edited(lines, rng, [0.3, 0.7]),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    command = [git, "merge-file", "-p", "ours", "base", "theirs"]

    def reference(_i: int) -> None:
        with open(folder / "git-out", "wb") as out:
            subprocess.run(command, cwd=folder, env=env, stdout=out, check=True)

    def ours(_i: int) -> None:
        base, mine, theirs = (
            (folder / n).read_bytes() for n in ("base", "ours", "theirs")
        )
        result = merge_lines(
            base, mine, theirs, ours_label="ours", theirs_label="theirs"
        )
        (folder / "gv-out").write_bytes(result.content)

    ref_s, our_s = measure(runs, reference, ours)
    if (folder / "gv-out").read_bytes() != (folder / "git-out").read_bytes():
        raise RuntimeError("P12: linemerge and git merge-file disagree")
    size = len(base) / 2**20
    return [
        Result(
            f"P12 merge-file, {size:.0f} MiB text, 5 edits (in process)",
            "git merge-file -p",
            ref_s,
            our_s,
            3,
        )
    ]

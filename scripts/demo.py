"""The main job, end to end: version a sample skill with the gitversions CLI.

A sample skill is snapshotted three times with edits between; the history is
shown with ``log``, ``diff`` and ``show``, materialized with ``export``, checked
with ``verify``, and finally read with the real git CLI, which needs nothing
from gitversions. Every command is printed before it runs; the first one that
fails stops the demo with its exit status.

Run it with ``bash scripts/demo.sh``. It works in ``./demo-store/`` (git-ignored,
recreated on every run) and leaves the files there to look around.
"""

from __future__ import annotations

import base64
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "demo-store"
NAME = "canvas-design"
STORE = "store"  # the store root, inside DEMO
SKILL = Path("skills") / NAME  # the sample skill, inside DEMO
HISTORY = f"{STORE}/artifacts/{NAME}/history.git"
VERSIONS = Path(STORE, "artifacts", NAME, "versions")

# A 1x1 PNG: a small binary asset.
LOGO = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)

SKILL_MD = """\
---
name: canvas-design
description: Create visual art in .png and .pdf documents using design philosophy.
---

# Canvas design

Start from a design philosophy, then express it visually on a canvas.
See reference.md for the palette rules.
"""

REFERENCE_MD = """\
# Palette rules

- At most three colours.
- Prefer generous whitespace.
"""

PROCESS_JS = """\
#!/usr/bin/env node
// Render a canvas description to PNG.
const [input] = process.argv.slice(2);
console.log(`rendering ${input}`);
"""

BUILD_SH = """\
#!/bin/sh
# Build the canvas renderer.
set -e
node scripts/process.js example.json
"""


class DemoError(Exception):
    """A step failed; carries the exit status to leave with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def gitversions_exe() -> str:
    """The ``gitversions`` console script of the virtualenv running this demo."""
    bindir = Path(sys.executable).parent
    found = shutil.which("gitversions", path=str(bindir))
    if found is None:
        raise DemoError(
            f"no gitversions command in {bindir}; run `bash scripts/demo.sh`", 1
        )
    return found


def say(text: str = "") -> None:
    """Print a line of narration."""
    print(text, flush=True)


def run(*args: str) -> None:
    """Print ``$ <command>`` and run it in DEMO; stop the demo if it fails."""
    say(f"\n$ {shlex.join(args)}")
    program = GITVERSIONS if args[0] == "gitversions" else args[0]
    env = {**os.environ, "GIT_PAGER": "cat", "PAGER": "cat"}
    try:
        status = subprocess.run(
            [program, *args[1:]], cwd=DEMO, env=env, check=False
        ).returncode
    except FileNotFoundError:
        raise DemoError(f"{args[0]} is not installed", 127) from None
    if status != 0:
        raise DemoError(
            f"`{shlex.join(args)}` failed with exit status {status}", status
        )


def write(rel: str, content: str | bytes, *, executable: bool = False) -> None:
    """Write a file of the sample skill."""
    path = DEMO / SKILL / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    path.chmod(0o755 if executable else 0o644)


def remove_tree(path: Path) -> None:
    """Remove a directory, including exported versions (which are read-only)."""

    def make_writable(func: object, failed: str, exc_info: object) -> None:
        parent = os.path.dirname(failed)
        os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
        if os.path.isdir(failed) and not os.path.islink(failed):
            os.chmod(failed, os.stat(failed).st_mode | stat.S_IWUSR | stat.S_IXUSR)
            shutil.rmtree(failed, onerror=make_writable)
        else:
            os.unlink(failed)

    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable)


def print_tree(root: Path) -> None:
    """Print a directory like ``tree -aF``: links with their target, * for +x."""
    say(f"\n{root}/")

    def walk(directory: Path, prefix: str) -> None:
        entries = sorted(directory.iterdir(), key=lambda p: p.name)
        for index, path in enumerate(entries):
            last = index == len(entries) - 1
            branch = "└── " if last else "├── "
            if path.is_symlink():
                say(f"{prefix}{branch}{path.name} -> {os.readlink(path)}")
            elif path.is_dir():
                say(f"{prefix}{branch}{path.name}/")
                walk(path, prefix + ("    " if last else "│   "))
            else:
                mark = "*" if os.access(path, os.X_OK) else ""
                say(f"{prefix}{branch}{path.name}{mark}")

    walk(DEMO / root, "")


def demo() -> None:
    """Run every step of the demo."""
    remove_tree(DEMO)
    DEMO.mkdir()
    say(f"Working in {DEMO} (recreated on every run).")

    say(f"\n# A sample skill in {SKILL}/, as SkillMeat would fetch it.")
    write("SKILL.md", SKILL_MD)
    write("reference.md", REFERENCE_MD)
    write("scripts/process.js", PROCESS_JS, executable=True)
    write("assets/logo.png", LOGO)
    run("gitversions", "--root", STORE, "init")
    run(
        "gitversions", "--root", STORE, "snapshot", NAME, str(SKILL),
        "--source", "anthropics/skills/canvas-design",
        "-m", "Import canvas-design from anthropics/skills",
    )  # fmt: skip

    say("\n# Edit: reword SKILL.md and add a build script.")
    write("SKILL.md", SKILL_MD.replace("Start from", "Always start from"))
    write("scripts/build.sh", BUILD_SH)
    run(
        "gitversions", "--root", STORE, "snapshot", NAME, str(SKILL),
        "-m", "Reword the opening; add scripts/build.sh",
    )  # fmt: skip

    say("\n# Edit: fold reference.md into SKILL.md, make build.sh executable.")
    (DEMO / SKILL / "reference.md").unlink()
    write("SKILL.md", SKILL_MD.replace("See reference.md for", "Follow") + "\n")
    (DEMO / SKILL / "scripts" / "build.sh").chmod(0o755)
    run(
        "gitversions", "--root", STORE, "snapshot", NAME, str(SKILL),
        "-m", "Drop reference.md; build.sh is executable",
    )  # fmt: skip

    say("\n# The history, a diff, and one version's metadata.")
    run("gitversions", "--root", STORE, "log", NAME)
    run("gitversions", "--root", STORE, "diff", NAME, "v1", "v2", "--patch")
    run("gitversions", "--root", STORE, "show", NAME)

    say("\n# Materialize every version as a plain directory, then check it all.")
    run("gitversions", "--root", STORE, "export", NAME)
    print_tree(VERSIONS)
    run("gitversions", "--root", STORE, "verify")

    say("\n# The same history is plain git: read it with the git CLI.")
    run("git", "--git-dir", HISTORY, "log", "--oneline", "--decorate")
    run("git", "--git-dir", HISTORY, "fsck", "--strict")

    say(f"\nDemo complete: the store and the sample skill are in {DEMO}/")


def main() -> int:
    """Run the demo; return its exit status."""
    global GITVERSIONS
    try:
        GITVERSIONS = gitversions_exe()
        demo()
    except DemoError as exc:
        print(f"\ndemo failed: {exc}", file=sys.stderr)
        return exc.status
    return 0


GITVERSIONS = "gitversions"

if __name__ == "__main__":
    sys.exit(main())

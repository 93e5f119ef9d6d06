"""``diff --patch`` against the real git CLI: the same change, the same patch.

Each test builds one change twice: as two gitversions versions, and as a commit
plus a staged tree in a plain git repository. ``git diff --cached`` there is
the judge of what our patch must say, and ``git apply`` of our patch onto the
old content must give exactly the new content (empty files, modes, symlinks).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from helpers import ok, ok_json, run_git, write_tree

NAME = "demo"
Invoke = Callable[..., Result]

# Old and new content: path -> text, or ("link", target), or ("exec", text).
Spec = dict[str, str | tuple[str, str]]

OLD: Spec = {
    "SKILL.md": "# Demo\n\nOne line.\n",
    "gone/__init__.py": "",
    "empty-exec": "",
    "run.sh": "echo one\n",
    "link": ("link", "SKILL.md"),
    "becomes-link": "plain text\n",
    "crlf.txt": "a\r\nb\r\nform\x0cfeed\rlone\n",
    "keep.txt": "same\n",
    "ansi.txt": "plain\n",
}
NEW: Spec = {
    "SKILL.md": "# Demo\n\nOne line.\nTwo lines.\n",
    "pkg/__init__.py": "",
    "empty-exec": ("exec", ""),
    "run.sh": ("exec", "echo two\n"),
    "link": ("link", "keep.txt"),
    "becomes-link": ("link", "SKILL.md"),
    "crlf.txt": "a\r\nB\r\nform\x0cfeed\rlone!\n",
    "keep.txt": "same\n",
    "ansi.txt": "\x1b[31mred\x1b[0m\n",  # content: kept byte for byte
    "no-newline.txt": "last line without newline",
    "space name.md": "spaced\n",
}


def build(base: Path, spec: Spec) -> Path:
    """Write ``spec`` into ``base`` (emptied first); return ``base``."""
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    for rel, value in spec.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        kind, text = value if isinstance(value, tuple) else ("file", value)
        if kind == "link":
            os.symlink(text, path)
            continue
        write_tree(base, {rel: text.encode()})
        path.chmod(0o755 if kind == "exec" else 0o644)
    return base


def git_patch(work: Path, old: Spec, new: Spec) -> str:
    """What ``git diff --cached`` prints for the change from ``old`` to ``new``."""
    build(work / "old", old)
    run_git("init", "-q", work / "old")
    run_git("-C", work / "old", "add", "-A")
    run_git("-C", work / "old", "commit", "-q", "-m", "old")
    build(work / "new", new)
    os.rename(work / "old" / ".git", work / "new" / ".git")
    run_git("-C", work / "new", "add", "-A")
    # bytes, not run_git's text: universal newlines would turn CR into LF
    return subprocess.run(
        ["git", "-c", "core.quotePath=true", "diff", "--cached", "--no-renames"],
        cwd=work / "new",
        capture_output=True,
        check=True,
    ).stdout.decode("utf-8")


def our_patch(invoke: Invoke, tmp_path: Path, old: Spec, new: Spec) -> str:
    """Snapshot ``old`` then ``new`` and print ``diff v1 v2 --patch``."""
    src = tmp_path / "src"
    ok(invoke("snapshot", NAME, str(build(src, old))))
    ok(invoke("snapshot", NAME, str(build(src, new))))
    # stdout_bytes: click's Result.stdout turns CRLF into LF
    return ok(invoke("diff", NAME, "v1", "v2", "--patch")).stdout_bytes.decode()


def per_file(patch: str) -> dict[str, str]:
    """Split a git patch into its ``diff --git`` sections, keyed by header line."""
    sections: dict[str, str] = {}
    header = ""
    for line in (f"{text}\n" for text in patch.split("\n")):
        if line.startswith("diff --git "):
            header = line
            sections[header] = sections.get(header, "")
        sections[header] = sections.get(header, "") + line
    return sections


def test_patch_equals_git_diff_for_empty_files_modes_and_links(
    invoke: Invoke, tmp_path: Path
) -> None:
    ours = our_patch(invoke, tmp_path, OLD, NEW)
    theirs = git_patch(tmp_path / "git", OLD, NEW)
    assert "diff --git a/pkg/__init__.py b/pkg/__init__.py\nnew file mode 100644\n" in (
        ours
    )
    assert "diff --git a/gone/__init__.py b/gone/__init__.py\ndeleted file" in ours
    assert per_file(ours) == per_file(theirs)
    assert ours == theirs


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"a.md": "x\n"}, {"a.md": "x\n", "__init__.py": ""}),
        ({"a.md": "x\n", "__init__.py": ""}, {"a.md": "x\n"}),
    ],
    ids=["added-empty", "deleted-empty"],
)
def test_patch_of_only_an_empty_file_is_not_empty(
    invoke: Invoke, tmp_path: Path, old: Spec, new: Spec
) -> None:
    ours = our_patch(invoke, tmp_path, old, new)
    assert ours
    assert ours == git_patch(tmp_path / "git", old, new)


def applied(invoke: Invoke, tmp_path: Path, patch: str, old: Spec) -> Path:
    """``git apply`` the patch onto ``old``; assert the tree is version 2's."""
    work = build(tmp_path / "apply", old)
    (tmp_path / "p.diff").write_text(patch, encoding="utf-8", newline="")
    proc = subprocess.run(
        ["git", "apply", str(tmp_path / "p.diff")],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    new_hash = ok_json(invoke("--json", "show", NAME, "v2"))["hash"]
    assert ok_json(invoke("--json", "hash", str(work)))["hash"] == new_hash
    return work


def test_git_apply_of_the_patch_gives_the_new_tree(
    invoke: Invoke, tmp_path: Path
) -> None:
    work = applied(invoke, tmp_path, our_patch(invoke, tmp_path, OLD, NEW), OLD)
    assert (work / "pkg" / "__init__.py").read_bytes() == b""
    assert not (work / "gone").exists()
    assert os.readlink(work / "becomes-link") == "SKILL.md"
    assert os.access(work / "empty-exec", os.X_OK)


def test_patch_quotes_names_like_git(invoke: Invoke, tmp_path: Path) -> None:
    """Names with controls, quotes, spaces and non-ASCII: git's headers exactly."""
    old: Spec = {"SKILL.md": "x\n", "esc\x1b[2J.md": "old\n", "gone\n.md": ""}
    new: Spec = {
        "SKILL.md": "x\n",
        "esc\x1b[2J.md": "new\n",
        "x\nM  SKILL.md": "not a line of the diff\n",
        "caf\u00e9 sp.md": "",
        "tab\t.md": ("exec", "t\n"),
        'q"uote.md': ("link", "SKILL.md"),
        "sp ace.md": "spaced\n",
    }
    ours = our_patch(invoke, tmp_path, old, new)
    assert ours == git_patch(tmp_path / "git", old, new)
    assert "\nM  SKILL.md" not in ours
    work = applied(invoke, tmp_path, ours, old)
    assert (work / "x\nM  SKILL.md").read_text() == "not a line of the diff\n"


def test_binary_files_get_gits_line(invoke: Invoke, tmp_path: Path) -> None:
    """NUL makes a file binary for git and us; not UTF-8 is binary for us only."""
    old: Spec = {"logo.bin": "\0\1\2", "latin1.txt": "caf\n"}
    new: Spec = {"logo.bin": "\0\1\3", "latin1.txt": "caf\n"}
    ours = our_patch(invoke, tmp_path, old, new)
    assert ours == git_patch(tmp_path / "git", old, new)
    assert "Binary files a/logo.bin and b/logo.bin differ\n" in ours
    src = tmp_path / "src"
    (src / "latin1.txt").write_bytes(b"caf\xe9\n")
    ok(invoke("snapshot", NAME, str(src)))
    patch = ok(invoke("diff", NAME, "v3", "--patch")).stdout
    assert patch.endswith("Binary files a/latin1.txt and b/latin1.txt differ\n")

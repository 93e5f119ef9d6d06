"""Histories written by gitversions, judged by the real git CLI."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from helpers import content_of, fsck, fsck_histories_under, ok_json

pytestmark = pytest.mark.compat

NAME = "canvas-design"
LABEL = "anthropics/skills/canvas-design"
FORK = "me/skills-fork"

Git = Callable[..., str]
Invoke = Callable[..., Result]


def history_of(store_root: Path, name: str = NAME) -> Path:
    return store_root / "artifacts" / name / "history.git"


@pytest.fixture(autouse=True)
def _histories_pass_fsck(tmp_path: Path) -> Iterator[None]:
    """Every history a test writes must pass ``git fsck --strict``."""
    yield
    fsck_histories_under(tmp_path, full=True, check_stderr=False)


@pytest.fixture(params=["sha1", "sha256"])
def object_format(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def built(
    invoke: Invoke,
    store_root: Path,
    make_skill: Callable[..., Path],
    object_format: str,
) -> tuple[Path, list[dict[str, Any]]]:
    """Three versions of a skill with a symlink: (src, records oldest first)."""
    store_root.mkdir(parents=True)
    if object_format == "sha256":
        (store_root / "gitversions.toml").write_text('object_format = "sha256"\n')
    src = make_skill(NAME, {"docs/guide.md": "A guide.\n"})
    (src / "LINK.md").symlink_to("SKILL.md")
    records = [
        ok_json(
            invoke(
                "--json",
                "snapshot",
                NAME,
                str(src),
                "--source",
                LABEL,
                "-m",
                "first cut",
            ),
            check_traceback=False,
        )
    ]
    (src / "SKILL.md").write_text("# Canvas design\n\nDraw better things.\n")
    (src / "scripts" / "render.py").write_text("print('render')\n")
    (src / "scripts" / "render.py").chmod(0o755)
    records.append(
        ok_json(
            invoke(
                "--json",
                "snapshot",
                NAME,
                str(src),
                "--source",
                FORK,
                "-m",
                "second\n\nwith body",
            ),
            check_traceback=False,
        )
    )
    (src / "reference.md").unlink()
    (src / "scripts" / "process.js").chmod(0o644)  # an exec-bit-only change
    records.append(
        # FORK carries over
        ok_json(invoke("--json", "snapshot", NAME, str(src)), check_traceback=False)
    )
    history = history_of(store_root)
    assert (history / "objects").is_dir()
    return src, records


def sha256_tree_via_archive(git: Git, history: Path, rev: str, work: Path) -> str:
    """The SHA-256 tree id of ``rev``'s content, by a fresh SHA-256 repository."""
    work.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "--git-dir", str(history), "archive", rev],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(work)], input=archive.stdout, check=True)
    git("init", "-q", "--object-format=sha256", str(work))
    git("-C", str(work), "add", "--all", "--force")
    return git("-C", str(work), "write-tree").strip()


# -- the repository itself ------------------------------------------------------------


def test_fsck_strict_clean(
    git: Git, store_root: Path, built: Any, object_format: str
) -> None:
    history = history_of(store_root)
    fsck(history, full=True, check_stderr=False)
    assert git(
        "--git-dir", str(history), "rev-parse", "--show-object-format"
    ).strip() == (object_format)
    assert git("--git-dir", str(history), "symbolic-ref", "HEAD").strip() == (
        "refs/heads/main"
    )
    assert git(
        "--git-dir", str(history), "rev-parse", "--is-bare-repository"
    ).strip() == ("true")


def test_fsck_after_export_and_gc(
    git: Git, invoke: Invoke, store_root: Path, built: Any
) -> None:
    assert invoke("export", NAME).exit_code == 0
    assert invoke("gc", NAME).exit_code == 0
    fsck(history_of(store_root), full=True, check_stderr=False)
    assert git("--git-dir", str(history_of(store_root)), "count-objects", "-v")


def test_log_has_one_commit_per_version_with_parents(
    git: Git, store_root: Path, built: Any
) -> None:
    _, records = built
    lines = git(
        "--git-dir", str(history_of(store_root)), "log", "--format=%H %P%x00%s", "main"
    ).splitlines()
    assert len(lines) == len(records)
    by_commit = {r["commit"]: r for r in records}
    by_id = {r["id"]: r for r in records}
    for line, record in zip(lines, reversed(records), strict=True):
        hashes, subject = line.split("\0")
        commit, *parents = hashes.split()
        assert commit == record["commit"]
        assert parents == [by_id[p]["commit"] for p in record["parent_versions"]]
        assert subject == record["message"].splitlines()[0]
        assert by_commit[commit]["id"] == record["id"]


def test_tags_name_every_version(git: Git, store_root: Path, built: Any) -> None:
    _, records = built
    history = str(history_of(store_root))
    assert git("--git-dir", history, "tag").split() == sorted(r["id"] for r in records)
    for record in records:
        assert (
            git("--git-dir", history, "rev-parse", f"{record['id']}^{{commit}}").strip()
            == (record["commit"])
        )
    assert (
        git("--git-dir", history, "rev-parse", "main").strip() == records[-1]["commit"]
    )


def test_git_diff_matches_gitversions_diff(
    git: Git, invoke: Invoke, store_root: Path, built: Any
) -> None:
    _, records = built
    history = str(history_of(store_root))
    pairs = [
        (records[0], records[1]),
        (records[1], records[2]),
        (records[0], records[2]),
    ]
    for old, new in pairs:
        ours = ok_json(
            invoke("--json", "diff", NAME, old["id"], new["id"]), check_traceback=False
        )
        theirs: dict[str, str] = {}
        for line in git(
            "--git-dir",
            history,
            "diff",
            "--no-renames",
            "--name-status",
            old["id"],
            new["id"],
        ).splitlines():
            status, path = line.split("\t")
            theirs[path] = status
        expected = {
            **dict.fromkeys(ours["added"], "A"),
            **dict.fromkeys(ours["modified"], "M"),
            **dict.fromkeys(ours["deleted"], "D"),
        }
        assert theirs == expected
    # Mode-only changes count as modified, as git sees them.
    assert "scripts/process.js" in records[2]["modified"]


def test_git_show_gives_content(git: Git, store_root: Path, built: Any) -> None:
    _, records = built
    history = str(history_of(store_root))
    assert git("--git-dir", history, "show", f"{records[0]['id']}:SKILL.md") == (
        "# Canvas design\n\nDraw things.\n"
    )
    assert git("--git-dir", history, "show", f"{records[1]['id']}:SKILL.md") == (
        "# Canvas design\n\nDraw better things.\n"
    )
    tree = git("--git-dir", history, "ls-tree", "-r", records[1]["id"]).splitlines()
    modes = {line.split("\t")[1]: line.split()[0] for line in tree}
    assert modes["LINK.md"] == "120000"
    assert modes["scripts/render.py"] == "100755"
    assert modes["scripts/process.js"] == "100755"
    assert modes["SKILL.md"] == "100644"
    assert (
        git("--git-dir", history, "show", f"{records[1]['id']}:LINK.md") == "SKILL.md"
    )


def test_clone_checks_out_latest_content(
    git: Git, store_root: Path, built: Any, tmp_path: Path
) -> None:
    src, _ = built
    clone = tmp_path / "clone"
    git("clone", "-q", str(history_of(store_root)), str(clone))
    assert git("-C", str(clone), "rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert content_of(clone, exclude={".git"}) == content_of(src)
    assert git("-C", str(clone), "status", "--porcelain") == ""


def test_commit_message_ends_with_source_trailer(
    git: Git, store_root: Path, built: Any
) -> None:
    _, records = built
    history = str(history_of(store_root))
    labels = [LABEL, FORK, FORK]
    for record, label in zip(records, labels, strict=True):
        body = git("--git-dir", history, "log", "-1", "--format=%B", record["id"])
        assert body.rstrip("\n").endswith(f"\n\nGitversions-Source: {label}")
        trailer = git(
            "--git-dir",
            history,
            "log",
            "-1",
            "--format=%(trailers:key=Gitversions-Source,valueonly)",
            record["id"],
        )
        assert trailer.strip() == label
        assert record["source"] == label
    body = git("--git-dir", history, "log", "-1", "--format=%B", records[1]["id"])
    assert body.startswith("second\n\nwith body\n")


def test_content_hash_is_sha256_tree(
    git: Git, store_root: Path, built: Any, object_format: str, tmp_path: Path
) -> None:
    _src, records = built
    history = history_of(store_root)
    for i, record in enumerate(records):
        if object_format == "sha256":
            tree = git(
                "--git-dir", str(history), "rev-parse", f"{record['id']}^{{tree}}"
            )
            assert tree.strip() == record["hash"]
        else:
            judged = sha256_tree_via_archive(
                git, history, record["id"], tmp_path / f"a{i}"
            )
            assert judged == record["hash"]
        assert record["id"] == f"v{i + 1}-{record['hash'][:7]}"


# -- commits made with plain git ------------------------------------------------------


def _git_commit_and_push(
    git: Git, history: Path, clone: Path, edit: Callable[[Path], None], message: str
) -> str:
    git("clone", "-q", str(history), str(clone))
    edit(clone)
    git("-C", str(clone), "add", "--all")
    git("-C", str(clone), "commit", "-q", "-m", message)
    git("-C", str(clone), "push", "-q", "origin", "main")
    return git("-C", str(clone), "rev-parse", "HEAD").strip()


def _hand_edit(clone: Path) -> None:
    (clone / "SKILL.md").write_text("# Canvas design\n\nEdited by hand.\n")
    (clone / "notes.md").write_text("From a git user.\n")


def test_plain_git_commit_is_a_version(
    git: Git,
    invoke: Invoke,
    store_root: Path,
    built: Any,
    tmp_path: Path,
    object_format: str,
) -> None:
    _, records = built
    history = history_of(store_root)
    clone = tmp_path / "clone"
    commit = _git_commit_and_push(git, history, clone, _hand_edit, "Edit by hand")
    fsck(history, full=True, check_stderr=False)

    expected_hash = (
        git("--git-dir", str(history), "rev-parse", "main^{tree}").strip()
        if object_format == "sha256"
        else sha256_tree_via_archive(git, history, "main", tmp_path / "judge")
    )
    log = ok_json(invoke("--json", "log", NAME), check_traceback=False)
    newest = log[0]
    assert len(log) == 4
    assert newest["commit"] == commit
    assert newest["source"] == "git"
    assert newest["message"] == "Edit by hand"
    assert newest["number"] == 4
    assert newest["hash"] == expected_hash
    assert newest["id"] == f"v4-{expected_hash[:7]}"
    assert newest["parent_versions"] == [records[-1]["id"]]
    assert newest["added"] == ["notes.md"]
    assert newest["modified"] == ["SKILL.md"]
    assert (
        ok_json(invoke("--json", "show", NAME, "latest"), check_traceback=False)["id"]
        == newest["id"]
    )
    text_log = invoke("log", NAME).stdout.splitlines()
    assert text_log[0].startswith(newest["id"])
    assert "Edit by hand" in text_log[0]


def test_plain_git_commit_exports_and_verifies(
    git: Git, invoke: Invoke, store_root: Path, built: Any, tmp_path: Path
) -> None:
    _, records = built
    history = history_of(store_root)
    _git_commit_and_push(git, history, tmp_path / "clone", _hand_edit, "Edit by hand")
    newest = ok_json(invoke("--json", "show", NAME), check_traceback=False)
    exported = ok_json(invoke("--json", "export", NAME), check_traceback=False)
    assert exported["latest"] == newest["id"]
    version_dir = store_root / "artifacts" / NAME / "versions" / newest["id"]
    meta = tomllib.loads((version_dir / ".version.toml").read_text())
    assert meta["version"]["source"] == "git"
    assert meta["version"]["message"] == "Edit by hand"
    assert meta["version"]["parent_versions"] == [records[-1]["id"]]
    assert {**meta["version"], **meta["changes"]} == newest
    assert (version_dir / "notes.md").read_text() == "From a git user.\n"
    verify = invoke("verify", NAME)
    assert verify.exit_code == 0, verify.stdout + verify.stderr
    assert invoke("validate", str(version_dir / ".version.toml")).exit_code == 0
    fsck(history, full=True, check_stderr=False)


def test_plain_git_commit_is_tagged_by_the_next_snapshot(
    git: Git, invoke: Invoke, store_root: Path, built: Any, tmp_path: Path
) -> None:
    src, _ = built
    history = history_of(store_root)
    _git_commit_and_push(git, history, tmp_path / "clone", _hand_edit, "Edit by hand")
    v4 = ok_json(invoke("--json", "show", NAME), check_traceback=False)
    (src / "more.md").write_text("More.\n")
    v5 = ok_json(invoke("--json", "snapshot", NAME, str(src)), check_traceback=False)
    assert v5["number"] == 5
    assert v5["parent_versions"] == [v4["id"]]
    tags = git("--git-dir", str(history), "tag").split()
    assert v4["id"] in tags
    assert v5["id"] in tags
    fsck(history, full=True, check_stderr=False)


def test_plain_git_merge_has_two_parent_versions(
    git: Git, invoke: Invoke, store_root: Path, built: Any, tmp_path: Path
) -> None:
    _, records = built
    history = history_of(store_root)
    clone = tmp_path / "clone"
    git("clone", "-q", str(history), str(clone))
    c = str(clone)
    git("-C", c, "checkout", "-q", "-b", "side")
    (clone / "side.md").write_text("side\n")
    git("-C", c, "add", "--all")
    git("-C", c, "commit", "-q", "-m", "side work")
    git("-C", c, "checkout", "-q", "main")
    (clone / "SKILL.md").write_text("# main work\n")
    git("-C", c, "commit", "-q", "-am", "main work")
    git("-C", c, "merge", "-q", "--no-edit", "side")
    git("-C", c, "push", "-q", "origin", "main")
    log = ok_json(invoke("--json", "log", NAME), check_traceback=False)
    merge, *_ = log
    by_commit = {v["commit"]: v for v in log}
    parents = git("-C", c, "log", "-1", "--format=%P").split()
    assert merge["parent_versions"] == [by_commit[p]["id"] for p in parents]
    assert [by_commit[p]["number"] for p in parents] == [4, 4]
    assert merge["number"] == 5
    assert merge["source"] == "git"
    assert len(log) == len(records) + 3

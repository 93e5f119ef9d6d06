"""The command line through click's runner: every command, as text and as JSON."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import tarfile
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from helpers import SPEC_FIELDS, fsck_histories_under, ok, ok_json

from gitversions.cli import cli

VERSION_KEYS = set(SPEC_FIELDS)
DIFF_KEYS = {"from", "to", "files_changed", "added", "modified", "deleted", "summary"}
COMMANDS = [
    "init",
    "snapshot",
    "list",
    "log",
    "show",
    "diff",
    "export",
    "restore",
    "verify",
    "gc",
    "hash",
    "validate",
]
NAME = "canvas-design"

Invoke = Callable[..., Result]


# -- helpers ------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _histories_pass_fsck(tmp_path: Path) -> Iterator[None]:
    """Every history a test writes must pass ``git fsck --strict``."""
    yield
    fsck_histories_under(tmp_path, check_stderr=False)


def tree_of(base: Path) -> dict[str, tuple[bool, bytes]]:
    """Files under base (ignoring .version.toml): path -> (executable, content)."""
    found: dict[str, tuple[bool, bytes]] = {}
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if path.is_file() and rel != ".version.toml":
            found[rel] = (bool(path.stat().st_mode & stat.S_IXUSR), path.read_bytes())
    return found


def check_version(record: dict[str, Any]) -> None:
    """A version object has exactly the flattened fields, with consistent values."""
    assert set(record) == VERSION_KEYS
    assert record["id"] == f"v{record['number']}-{record['hash'][:7]}"
    assert len(record["hash"]) == 64
    assert all(c in "0123456789abcdef" for c in record["hash"])
    assert len(record["commit"]) in (40, 64)
    assert record["timestamp"].endswith("Z")
    assert sorted(record["files_changed"]) == record["files_changed"]
    assert (
        sorted(record["added"] + record["modified"] + record["deleted"])
        == record["files_changed"]
    )


@pytest.fixture
def two_versions(
    invoke: Invoke, make_skill: Callable[..., Path]
) -> tuple[Path, dict[str, Any], dict[str, Any], dict[str, tuple[bool, bytes]]]:
    """A skill with two versions: (src, v1 record, v2 record, v1 content)."""
    src = make_skill(NAME)
    v1_content = tree_of(src)
    v1 = ok_json(
        invoke(
            "--json",
            "snapshot",
            NAME,
            str(src),
            "--source",
            "anthropics/skills/canvas-design",
            "-m",
            "first cut",
        )
    )
    (src / "SKILL.md").write_text("# Canvas design\n\nDraw better things.\n")
    (src / "reference.md").unlink()
    (src / "examples.md").write_text("An example.\n")
    v2 = ok_json(invoke("--json", "snapshot", NAME, str(src), "-m", "second\n\nbody"))
    return src, v1, v2, v1_content


# -- init ---------------------------------------------------------------------


def test_init_creates_root_and_config_text(invoke: Invoke, store_root: Path) -> None:
    first = ok(invoke("init"))
    assert "initialized" in first.stdout
    assert (store_root / "gitversions.toml").is_file()
    again = ok(invoke("init"))
    assert "already initialized" in again.stdout


def test_init_json(invoke: Invoke, store_root: Path) -> None:
    data = ok_json(invoke("--json", "init"))
    assert data == {"root": str(store_root), "created": True}
    assert ok_json(invoke("--json", "init"))["created"] is False
    tomllib.loads((store_root / "gitversions.toml").read_text())


# -- snapshot -----------------------------------------------------------------


def test_snapshot_directory_text(
    invoke: Invoke, make_skill: Callable[..., Path], store_root: Path
) -> None:
    src = make_skill(NAME)
    result = ok(invoke("snapshot", NAME, str(src), "-m", "first"))
    assert result.stdout.startswith(f"{NAME}: recorded v1-")
    assert "3 added" in result.stdout
    assert (store_root / "artifacts" / NAME / "history.git" / "HEAD").is_file()


def test_snapshot_directory_json(two_versions: Any) -> None:
    _src, v1, v2, _ = two_versions
    for record in (v1, v2):
        assert set(record) == VERSION_KEYS | {"unchanged"}
        assert record["unchanged"] is False
        check_version({k: v for k, v in record.items() if k != "unchanged"})
    assert v1["number"] == 1
    assert v1["parent_versions"] == []
    assert v1["source"] == "anthropics/skills/canvas-design"
    assert v1["message"] == "first cut"
    assert v1["added"] == ["SKILL.md", "reference.md", "scripts/process.js"]
    assert v1["summary"] == "3 added"
    assert v2["number"] == 2
    assert v2["parent_versions"] == [v1["id"]]
    assert v2["source"] == v1["source"]  # no --source: the label carries over
    assert v2["message"] == "second\n\nbody"
    assert v2["added"] == ["examples.md"]
    assert v2["modified"] == ["SKILL.md"]
    assert v2["deleted"] == ["reference.md"]
    assert v2["summary"] == "1 added, 1 modified, 1 deleted"


def test_snapshot_unchanged_text_and_json(invoke: Invoke, two_versions: Any) -> None:
    src, _, v2, _ = two_versions
    text = ok(invoke("snapshot", NAME, str(src)))
    assert "unchanged" in text.stdout
    assert v2["id"] in text.stdout
    data = ok_json(invoke("--json", "snapshot", NAME, str(src)))
    assert data["unchanged"] is True
    assert {k: v for k, v in data.items() if k != "unchanged"} == {
        k: v for k, v in v2.items() if k != "unchanged"
    }
    log = ok_json(invoke("--json", "log", NAME))
    assert [v["id"] for v in log] == [v2["id"], two_versions[1]["id"]]


def test_snapshot_force_records_same_content(invoke: Invoke, two_versions: Any) -> None:
    src, _, v2, _ = two_versions
    forced = ok_json(invoke("--json", "snapshot", NAME, str(src), "--force"))
    assert forced["unchanged"] is False
    assert forced["number"] == 3
    assert forced["hash"] == v2["hash"]
    assert forced["parent_versions"] == [v2["id"]]
    assert forced["files_changed"] == []
    assert forced["summary"] == "no changes"


def test_snapshot_single_file(invoke: Invoke, tmp_path: Path, store_root: Path) -> None:
    cmd = tmp_path / "commands" / "review.md"
    cmd.parent.mkdir()
    cmd.write_text("Review the diff.\n")
    text = ok(invoke("snapshot", "review", str(cmd)))
    assert "recorded v1-" in text.stdout
    first = ok_json(invoke("--json", "show", "review"))
    assert first["source"] == "local"  # a new artifact without --source
    assert first["files_changed"] == ["review.md"]
    cmd.write_text("Review the diff carefully.\n")
    data = ok_json(invoke("--json", "snapshot", "review", str(cmd)))
    check_version({k: v for k, v in data.items() if k != "unchanged"})
    assert data["modified"] == ["review.md"]
    assert data["number"] == 2
    hashed = ok_json(invoke("--json", "hash", str(cmd)))
    assert hashed["hash"] == data["hash"]
    ok(invoke("export", "review"))
    latest = store_root / "artifacts" / "review" / "versions" / "latest"
    assert (latest / "review.md").read_text() == "Review the diff carefully.\n"
    assert sorted(p.name for p in latest.iterdir()) == [".version.toml", "review.md"]


# -- list ---------------------------------------------------------------------


def test_list_text_and_json(invoke: Invoke, two_versions: Any, tmp_path: Path) -> None:
    _, _, v2, _ = two_versions
    cmd = tmp_path / "agent.md"
    cmd.write_text("An agent.\n")
    single = ok_json(invoke("--json", "snapshot", "agent", str(cmd)))
    rows = ok_json(invoke("--json", "list"))
    assert rows == [
        {"name": "agent", "versions": 1, "latest": single["id"]},
        {"name": NAME, "versions": 2, "latest": v2["id"]},
    ]
    lines = ok(invoke("list")).stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split() == ["agent", "1", single["id"]]
    assert lines[1].split() == [NAME, "2", v2["id"]]


def test_list_empty_store(invoke: Invoke, store: Any) -> None:
    assert ok_json(invoke("--json", "list")) == []
    result = ok(invoke("list"))
    assert result.stdout == ""
    assert "no artifacts" in result.stderr
    quiet = ok(invoke("-q", "list"))
    assert quiet.stdout == ""
    assert quiet.stderr == ""


# -- log ----------------------------------------------------------------------


def test_log_text(invoke: Invoke, two_versions: Any) -> None:
    _, v1, v2, _ = two_versions
    lines = ok(invoke("log", NAME)).stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(v2["id"])
    assert "second" in lines[0]
    assert "body" not in lines[0]  # only the first line of the message
    assert v2["timestamp"] in lines[0]
    assert lines[1].startswith(v1["id"])
    assert "first cut" in lines[1]
    assert "3 added" in lines[1]


def test_log_json(invoke: Invoke, two_versions: Any) -> None:
    _, v1, v2, _ = two_versions
    records = ok_json(invoke("--json", "log", NAME))
    assert [r["id"] for r in records] == [v2["id"], v1["id"]]
    for record in records:
        check_version(record)
    strip = {k: v for k, v in v2.items() if k != "unchanged"}
    assert records[0] == strip


# -- show ---------------------------------------------------------------------


def test_show_text_is_version_toml(invoke: Invoke, two_versions: Any) -> None:
    _, _, v2, _ = two_versions
    text = ok(invoke("show", NAME)).stdout
    data = tomllib.loads(text)
    assert set(data) == {"version", "changes"}
    flat = {**data["version"], **data["changes"]}
    assert flat == {k: v for k, v in v2.items() if k != "unchanged"}


def test_show_json(invoke: Invoke, two_versions: Any) -> None:
    _, v1, _, _ = two_versions
    record = ok_json(invoke("--json", "show", NAME, "v1"))
    check_version(record)
    assert record == {k: v for k, v in v1.items() if k != "unchanged"}


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ("full-id", 1),
        ("number", 1),
        ("hash-prefix", 1),
        ("commit-prefix", 1),
        ("upper-hash-prefix", 1),
        ("latest", 2),
        ("latest~1", 1),
        ("latest~0", 2),
    ],
)
def test_show_ref_syntax(
    invoke: Invoke, two_versions: Any, form: str, expected: int
) -> None:
    _, v1, v2, _ = two_versions
    refs = {
        "full-id": v1["id"],
        "number": "v1",
        "hash-prefix": v1["hash"][:8],
        "commit-prefix": v1["commit"][:10],
        "upper-hash-prefix": v1["hash"][:12].upper(),
        "latest": "latest",
        "latest~1": "latest~1",
        "latest~0": "latest~0",
    }
    record = ok_json(invoke("--json", "show", NAME, refs[form]))
    assert record["id"] == (v1 if expected == 1 else v2)["id"]


def test_show_four_hex_digit_prefix(invoke: Invoke, two_versions: Any) -> None:
    _, v1, v2, _ = two_versions
    prefix = v2["hash"][:4]
    others = (v1["hash"], v1["commit"], v2["commit"])
    if any(o.startswith(prefix) for o in others):  # pragma: no cover - 1 in 20000
        pytest.skip("prefix happens to be ambiguous")
    assert ok_json(invoke("--json", "show", NAME, prefix))["id"] == v2["id"]


# -- diff ---------------------------------------------------------------------


def test_diff_one_ref_text(invoke: Invoke, two_versions: Any) -> None:
    _, v1, v2, _ = two_versions
    result = ok(invoke("diff", NAME, "v2"))
    # One line per changed file, in sorted path order, with its A/M/D mark.
    assert result.stdout.splitlines() == [
        "M  SKILL.md",
        "A  examples.md",
        "D  reference.md",
    ]
    assert f"{v1['id']} -> {v2['id']}" in result.stderr
    first = ok(invoke("diff", NAME, "v1"))
    assert sorted(first.stdout.splitlines()) == [
        "A  SKILL.md",
        "A  reference.md",
        "A  scripts/process.js",
    ]


def test_diff_one_ref_json(invoke: Invoke, two_versions: Any) -> None:
    _, v1, v2, _ = two_versions
    data = ok_json(invoke("--json", "diff", NAME, "latest"))
    assert set(data) == DIFF_KEYS
    assert data["from"] == v1["id"]
    assert data["to"] == v2["id"]
    assert data["added"] == ["examples.md"]
    assert data["modified"] == ["SKILL.md"]
    assert data["deleted"] == ["reference.md"]
    assert data["files_changed"] == ["SKILL.md", "examples.md", "reference.md"]
    root = ok_json(invoke("--json", "diff", NAME, "v1"))
    assert root["from"] is None
    assert root["added"] == ["SKILL.md", "reference.md", "scripts/process.js"]


def test_diff_two_refs_text_and_json(invoke: Invoke, two_versions: Any) -> None:
    _, v1, v2, _ = two_versions
    backwards = ok_json(invoke("--json", "diff", NAME, v2["id"], v1["id"]))
    assert backwards["from"] == v2["id"]
    assert backwards["to"] == v1["id"]
    assert backwards["added"] == ["reference.md"]
    assert backwards["deleted"] == ["examples.md"]
    assert backwards["summary"] == "1 added, 1 modified, 1 deleted"
    text = ok(invoke("diff", NAME, "v2", "v1"))
    marks = dict(line.split("  ", 1)[::-1] for line in text.stdout.splitlines())
    assert marks == {"reference.md": "A", "SKILL.md": "M", "examples.md": "D"}
    same = ok_json(invoke("--json", "diff", NAME, "v1", "v1"))
    assert same["files_changed"] == []
    assert same["summary"] == "no changes"
    assert ok(invoke("diff", NAME, "v1", "v1")).stdout == ""


def test_diff_patch_text(invoke: Invoke, two_versions: Any) -> None:
    result = ok(invoke("diff", NAME, "v1", "v2", "--patch"))
    patch = result.stdout
    assert "--- a/SKILL.md\n+++ b/SKILL.md\n" in patch
    assert "-Draw things.\n" in patch
    assert "+Draw better things.\n" in patch
    assert "--- /dev/null\n+++ b/examples.md\n" in patch
    assert "+An example.\n" in patch
    assert "--- a/reference.md\n+++ /dev/null\n" in patch
    assert "-Supporting notes.\n" in patch


def test_diff_patch_json(invoke: Invoke, two_versions: Any) -> None:
    data = ok_json(invoke("--json", "diff", NAME, "v2", "--patch"))
    assert set(data) == DIFF_KEYS | {"patch"}
    assert "+Draw better things.\n" in data["patch"]
    text = ok(invoke("diff", NAME, "v2", "--patch")).stdout
    assert data["patch"] == text


def test_diff_patch_applies_with_git_apply(
    invoke: Invoke, two_versions: Any, tmp_path: Path
) -> None:
    """The unified diff is one that `git apply` takes to go from v1 to v2."""
    _, _, v2, v1_content = two_versions
    work = tmp_path / "apply"
    for rel, (exe, data) in v1_content.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_bytes(data)
        (work / rel).chmod(0o755 if exe else 0o644)
    patch = ok(invoke("diff", NAME, "v1", "v2", "--patch")).stdout
    (tmp_path / "p.diff").write_text(patch)
    proc = subprocess.run(
        ["git", "apply", "--unsafe-paths", str(tmp_path / "p.diff")],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (work / "SKILL.md").read_text() == "# Canvas design\n\nDraw better things.\n"
    assert not (work / "reference.md").exists()
    assert (work / "examples.md").read_text() == "An example.\n"
    assert ok_json(invoke("--json", "hash", str(work)))["hash"] == v2["hash"]


# -- export -------------------------------------------------------------------


def test_export_dir_default_text_and_json(
    invoke: Invoke, two_versions: Any, store_root: Path
) -> None:
    _, v1, v2, v1_content = two_versions
    versions = store_root / "artifacts" / NAME / "versions"
    text = ok(invoke("export", NAME))
    assert "2 written" in text.stdout
    assert f"latest -> {v2['id']}" in text.stdout
    assert os.readlink(versions / "latest") == v2["id"]
    assert tree_of(versions / v1["id"]) == v1_content
    meta = tomllib.loads((versions / v1["id"] / ".version.toml").read_text())
    assert {**meta["version"], **meta["changes"]} == {
        k: v for k, v in v1.items() if k != "unchanged"
    }
    again = ok_json(invoke("--json", "export", NAME))
    assert again == {
        "target": str(versions),
        "written": [],
        "intact": [v1["id"], v2["id"]],
        "latest": v2["id"],
    }


def test_export_to_dir_json(invoke: Invoke, two_versions: Any, tmp_path: Path) -> None:
    _, v1, v2, v1_content = two_versions
    out = tmp_path / "out"
    data = ok_json(invoke("--json", "export", NAME, "--to", str(out)))
    assert data["target"] == str(out)
    assert data["written"] == [v1["id"], v2["id"]]
    assert data["latest"] == v2["id"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [v1["id"], v2["id"], "latest"]
    )
    assert tree_of(out / v1["id"]) == v1_content


def test_export_one_ref(invoke: Invoke, two_versions: Any, tmp_path: Path) -> None:
    _, v1, _, _ = two_versions
    out = tmp_path / "one"
    data = ok_json(invoke("--json", "export", NAME, "v1", "--to", str(out)))
    assert v1["id"] in data["written"]
    assert (out / v1["id"] / ".version.toml").is_file()


def test_export_tar_gz(invoke: Invoke, two_versions: Any, tmp_path: Path) -> None:
    _, v1, v2, v1_content = two_versions
    out = tmp_path / "tars"
    text = ok(invoke("export", NAME, "--format", "tar.gz", "--to", str(out)))
    assert "2 written" in text.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        f"{v1['id']}.tar.gz",
        f"{v2['id']}.tar.gz",
    ]
    with tarfile.open(out / f"{v1['id']}.tar.gz") as tar:
        files = {m.name: m for m in tar.getmembers() if m.isfile() or m.issym()}
        assert set(files) == {f"{v1['id']}/{p}" for p in v1_content} | {
            f"{v1['id']}/.version.toml"
        }
        for rel, (exe, data) in v1_content.items():
            member = files[f"{v1['id']}/{rel}"]
            extracted = tar.extractfile(member)
            assert extracted is not None
            assert extracted.read() == data
            assert bool(member.mode & 0o100) == exe
    data = ok_json(
        invoke("--json", "export", NAME, "v2", "--format", "tar.gz", "--to", str(out))
    )
    assert data["written"] == [f"{v2['id']}.tar.gz"]


def test_export_zip(invoke: Invoke, two_versions: Any, tmp_path: Path) -> None:
    _, v1, v2, v1_content = two_versions
    out = tmp_path / "zips"
    data = ok_json(
        invoke("--json", "export", NAME, "--format", "zip", "--to", str(out))
    )
    assert data["written"] == [f"{v1['id']}.zip", f"{v2['id']}.zip"]
    with zipfile.ZipFile(out / f"{v1['id']}.zip") as zf:
        names = set(zf.namelist())
        assert names == {f"{v1['id']}/{p}" for p in v1_content} | {
            f"{v1['id']}/.version.toml"
        }
        for rel, (exe, content) in v1_content.items():
            info = zf.getinfo(f"{v1['id']}/{rel}")
            assert zf.read(info) == content
            assert bool((info.external_attr >> 16) & 0o100) == exe
        meta = tomllib.loads(zf.read(f"{v1['id']}/.version.toml").decode())
        assert meta["version"]["id"] == v1["id"]
    text = ok(invoke("export", NAME, "--format", "zip", "--to", str(out)))
    assert "2 written" in text.stdout


# -- restore ------------------------------------------------------------------


def test_restore_into_new_dest(
    invoke: Invoke, two_versions: Any, tmp_path: Path
) -> None:
    _, v1, _, v1_content = two_versions
    dest = tmp_path / "restored"
    text = ok(invoke("restore", NAME, "v1", str(dest)))
    assert f"restored {v1['id']}" in text.stdout
    assert tree_of(dest) == v1_content


def test_restore_rollback_json(invoke: Invoke, two_versions: Any) -> None:
    src, v1, _, v1_content = two_versions
    data = ok_json(invoke("--json", "restore", NAME, "latest~1", str(src)))
    assert data == {"id": v1["id"], "dest": str(src)}
    assert tree_of(src) == v1_content
    assert ok_json(invoke("--json", "hash", str(src)))["hash"] == v1["hash"]


def test_restore_refuses_unrecorded_content(invoke: Invoke, two_versions: Any) -> None:
    src, _v1, _, v1_content = two_versions
    (src / "SKILL.md").write_text("work in progress, never snapshotted\n")
    refused = invoke("restore", NAME, "v1", str(src))
    assert refused.exit_code == 2
    assert refused.stderr.startswith("gitversions: error:")
    assert (src / "SKILL.md").read_text() == "work in progress, never snapshotted\n"
    ok(invoke("restore", NAME, "v1", str(src), "--force"))
    assert tree_of(src) == v1_content


def test_restore_single_file_into_directory(invoke: Invoke, tmp_path: Path) -> None:
    cmd = tmp_path / "review.md"
    cmd.write_text("one\n")
    ok(invoke("snapshot", "review", str(cmd)))
    cmd.write_text("two\n")
    ok(invoke("snapshot", "review", str(cmd)))
    dest = tmp_path / "project" / "commands"
    dest.mkdir(parents=True)
    data = ok_json(invoke("--json", "restore", "review", "v1", str(dest)))
    assert data["dest"] == str(dest / "review.md")
    assert (dest / "review.md").read_text() == "one\n"


# -- verify -------------------------------------------------------------------


def test_verify_ok_text_and_json(invoke: Invoke, two_versions: Any) -> None:
    ok(invoke("export", NAME))
    assert ok(invoke("verify")).stdout.splitlines() == [f"ok: {NAME}"]
    assert ok(invoke("verify", NAME)).stdout.splitlines() == [f"ok: {NAME}"]
    assert ok_json(invoke("--json", "verify")) == {
        NAME: {"ok": True, "problems": [], "pending": []}
    }


def test_verify_names_tampered_file(
    invoke: Invoke, two_versions: Any, store_root: Path
) -> None:
    _, v1, _, _ = two_versions
    ok(invoke("export", NAME))
    target = store_root / "artifacts" / NAME / "versions" / v1["id"] / "SKILL.md"
    target.chmod(0o644)
    target.write_text("tampered\n")
    target.chmod(0o444)
    result = invoke("verify", NAME)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    problems = [line for line in result.stdout.splitlines() if "problem" in line]
    assert problems
    assert any(v1["id"] in p and "SKILL.md" in p for p in problems)
    data = json.loads(invoke("--json", "verify").stdout)
    assert data[NAME]["ok"] is False
    assert any("SKILL.md" in p and v1["id"] in p for p in data[NAME]["problems"])
    assert invoke("--json", "verify").exit_code == 1


def test_verify_names_deleted_and_extra_files(
    invoke: Invoke, two_versions: Any, store_root: Path
) -> None:
    _, _, v2, _ = two_versions
    ok(invoke("export", NAME))
    version_dir = store_root / "artifacts" / NAME / "versions" / v2["id"]
    version_dir.chmod(0o755)
    (version_dir / "examples.md").unlink()
    (version_dir / "stray.txt").write_text("not in the version\n")
    result = invoke("verify")
    assert result.exit_code == 1
    assert "examples.md" in result.stdout
    assert "stray.txt" in result.stdout
    fixed = ok_json(invoke("--json", "export", NAME, "--repair"))
    assert v2["id"] in fixed["written"]
    assert (version_dir / "examples.md").read_text() == "An example.\n"
    assert not (version_dir / "stray.txt").exists()
    ok(invoke("verify"))


# -- gc -----------------------------------------------------------------------


def test_gc_text_and_json(invoke: Invoke, two_versions: Any, store_root: Path) -> None:
    _, v1, v2, _ = two_versions
    text = ok(invoke("gc"))
    assert text.stdout.startswith(f"{NAME}:")
    assert "pack" in text.stdout
    history = store_root / "artifacts" / NAME / "history.git"
    assert list((history / "objects" / "pack").glob("*.pack"))
    data = ok_json(invoke("--json", "gc", NAME))
    assert set(data) == {NAME}
    assert set(data[NAME]) == {
        "loose_objects_before",
        "loose_objects_after",
        "packs_before",
        "packs_after",
        "pruned_objects",
        "packed_tags",
    }
    assert data[NAME]["loose_objects_after"] == 0
    assert "tag(s) packed" in text.stdout and text.stdout.count("2 tag(s)") == 1
    # Everything still reads the same after packing.
    assert [v["id"] for v in ok_json(invoke("--json", "log", NAME))] == [
        v2["id"],
        v1["id"],
    ]
    ok(invoke("verify", NAME))


# -- hash and validate ----------------------------------------------------------


def test_hash_text_and_json(
    invoke: Invoke, make_skill: Callable[..., Path], git: Callable[..., str]
) -> None:
    src = make_skill(NAME)
    value = ok(invoke("hash", str(src))).stdout.strip()
    assert len(value) == 64
    assert ok_json(invoke("--json", "hash", str(src))) == {
        "path": str(src),
        "hash": value,
    }
    recorded = ok_json(invoke("--json", "snapshot", NAME, str(src)))
    assert recorded["hash"] == value
    # The definition: git's SHA-256 tree id of the directory.
    work = src.parent / "judge"
    shutil.copytree(src, work, symlinks=True)
    git("init", "-q", "--object-format=sha256", str(work))
    git("-C", str(work), "add", "--all", "--force")
    assert git("-C", str(work), "write-tree").strip() == value


def test_validate_text_and_json(
    invoke: Invoke, two_versions: Any, store_root: Path
) -> None:
    _, v1, v2, _ = two_versions
    ok(invoke("export", NAME))
    versions = store_root / "artifacts" / NAME / "versions"
    files = [str(versions / v / ".version.toml") for v in (v1["id"], v2["id"])]
    text = ok(invoke("validate", *files))
    assert text.stdout.splitlines() == [f"{f}: ok" for f in files]
    data = ok_json(invoke("--json", "validate", *files))
    assert data == {f: {"ok": True, "problems": []} for f in files}


# -- global options -------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(runner: CliRunner, command: str) -> None:
    result = runner.invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_top_level_help(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout
    for command in COMMANDS:
        assert command in result.stdout


def test_quiet_suppresses_remarks_not_results(
    invoke: Invoke, two_versions: Any
) -> None:
    loud = ok(invoke("diff", NAME, "v2"))
    assert loud.stderr != ""
    quiet = ok(invoke("-q", "diff", NAME, "v2"))
    assert quiet.stderr == ""
    assert quiet.stdout == loud.stdout
    assert ok(invoke("--quiet", "log", NAME)).stdout == ok(invoke("log", NAME)).stdout


def test_root_from_environment(
    runner: CliRunner, make_skill: Callable[..., Path], tmp_path: Path
) -> None:
    root = tmp_path / "env-root"
    src = make_skill(NAME)
    result = runner.invoke(
        cli, ["snapshot", NAME, str(src)], env={"GITVERSIONS_ROOT": str(root)}
    )
    ok(result)
    assert (root / "artifacts" / NAME / "history.git" / "HEAD").is_file()
    listed = runner.invoke(cli, ["--json", "list"], env={"GITVERSIONS_ROOT": str(root)})
    assert [r["name"] for r in ok_json(listed)] == [NAME]


def test_root_option_beats_environment(
    runner: CliRunner, make_skill: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_skill(NAME)
    env_root, opt_root = tmp_path / "env-root", tmp_path / "opt-root"
    ok(
        runner.invoke(
            cli,
            ["--root", str(opt_root), "snapshot", NAME, str(src)],
            env={"GITVERSIONS_ROOT": str(env_root)},
        )
    )
    assert (opt_root / "artifacts" / NAME).is_dir()
    assert not env_root.exists()


def test_default_root_is_the_collection(
    runner: CliRunner, make_skill: Callable[..., Path], tmp_path: Path
) -> None:
    src = make_skill(NAME)
    ok(runner.invoke(cli, ["snapshot", NAME, str(src)]))
    collection = tmp_path / "home" / ".skillmeat" / "collection"
    assert (collection / "artifacts" / NAME / "history.git" / "HEAD").is_file()


def test_project_with_dir(
    runner: CliRunner, make_skill: Callable[..., Path], tmp_path: Path
) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    src = make_skill(NAME)
    ok(runner.invoke(cli, ["--project", str(project), "snapshot", NAME, str(src)]))
    assert (project / ".claude" / "artifacts" / NAME / "history.git").is_dir()
    rows = ok_json(runner.invoke(cli, ["--project", str(project), "--json", "list"]))
    assert [r["name"] for r in rows] == [NAME]


def test_bare_project_before_an_option(
    runner: CliRunner, make_skill: Callable[..., Path], chdir: Path
) -> None:
    src = make_skill(NAME)
    ok(runner.invoke(cli, ["--project", "-q", "snapshot", NAME, str(src)]))
    assert (chdir / ".claude" / "artifacts" / NAME / "history.git").is_dir()
    rows = ok_json(runner.invoke(cli, ["--project", "--json", "list"]))
    assert [r["name"] for r in rows] == [NAME]


def test_bare_project_before_init(runner: CliRunner, chdir: Path) -> None:
    """`gitversions --project init` (the example of `init --help`) uses ./.claude."""
    result = runner.invoke(cli, ["--project", "init"])
    ok(result)
    assert (chdir / ".claude" / "gitversions.toml").is_file()


def test_bare_project_before_snapshot(
    runner: CliRunner, make_skill: Callable[..., Path], chdir: Path
) -> None:
    src = make_skill(NAME)
    ok(runner.invoke(cli, ["--project", "snapshot", NAME, str(src)]))
    assert (chdir / ".claude" / "artifacts" / NAME / "history.git").is_dir()


def test_root_and_project_together_is_usage_error(
    runner: CliRunner, tmp_path: Path, chdir: Path
) -> None:
    root = tmp_path / "r"
    result = runner.invoke(cli, ["--root", str(root), "--project", str(chdir), "list"])
    assert result.exit_code == 2
    assert "--root" in result.stderr
    assert "--project" in result.stderr
    assert "Traceback" not in result.output
    assert not root.exists()
    assert not (chdir / ".claude").exists()

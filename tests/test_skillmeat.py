"""SkillMeat integration: importing tarball snapshots and whole collections."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import tomlkit
from click.testing import Result
from helpers import Content, content_of, fsck, run_git

from gitversions.errors import InputError, SourceError
from gitversions.formats.manifest import artifact_kind
from gitversions.skillmeat import (
    ImportLimits,
    format_size,
    import_snapshots,
    parse_size,
    read_index,
    scan_collection,
    snapshot_collection,
)
from gitversions.store import Store


class SkillMeat:
    """Writes a collection and its snapshots exactly as SkillMeat does.

    ``snapshot`` mirrors ``SnapshotManager.create_snapshot``: the id is the UTC
    time as ``%Y%m%d-%H%M%S-%f``, the tarball is ``tar.add(collection,
    arcname=name)`` in ``w:gz`` mode, and ``snapshots.toml`` gets a table with
    ``id``, ``timestamp`` (naive ``isoformat()``), ``message``,
    ``artifact_count`` and the absolute ``tarball_path``.
    """

    def __init__(self, home: Path, name: str = "default") -> None:
        self.name = name
        self.collection = home / ".skillmeat" / "collections" / name
        self.snapshots = home / ".skillmeat" / "snapshots" / name
        self.clock = datetime(2025, 3, 1, 9, 30, 15, 250000)
        self.ids: list[str] = []
        self.collection.mkdir(parents=True)
        (self.collection / "collection.toml").write_text(
            f'[collection]\nname = "{name}"\nversion = "1.0.0"\n'
        )
        (self.collection / "collection.lock").write_text("[lock]\nentries = []\n")

    def write(self, rel: str, content: str | bytes, executable: bool = False) -> None:
        path = self.collection / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        path.chmod(0o755 if executable else 0o644)

    def remove(self, rel: str) -> None:
        (self.collection / rel).unlink()

    def snapshot(self, message: str) -> str:
        now = self.clock
        self.clock += timedelta(days=1, minutes=7)
        snapshot_id = now.strftime("%Y%m%d-%H%M%S-%f")
        self.snapshots.mkdir(parents=True, exist_ok=True)
        tarball = self.snapshots / f"{snapshot_id}.tar.gz"
        with tarfile.open(tarball, "w:gz") as tar:
            tar.add(self.collection, arcname=self.name)
        count = sum(
            len(list((self.collection / d).iterdir()))
            for d in ("skills", "commands", "agents")
            if (self.collection / d).exists()
        )
        self.add_index_entry(snapshot_id, now.isoformat(), message, count, tarball)
        self.ids.append(snapshot_id)
        return snapshot_id

    def add_index_entry(
        self, snapshot_id: str, stamp: str, message: str, count: int, tarball: Path
    ) -> None:
        index = self.snapshots / "snapshots.toml"
        data = tomlkit.parse(index.read_text()) if index.exists() else {}
        entries = list(data.get("snapshots", []))
        entries.append(
            {
                "id": snapshot_id,
                "timestamp": stamp,
                "message": message,
                "artifact_count": count,
                "tarball_path": str(tarball),
            }
        )
        self.snapshots.mkdir(parents=True, exist_ok=True)
        index.write_text(tomlkit.dumps({"snapshots": entries}))

    def time_of(self, snapshot_id: str) -> int:
        when = datetime.strptime(snapshot_id, "%Y%m%d-%H%M%S-%f")
        return int(when.replace(tzinfo=UTC).timestamp())


LOGO = bytes(range(256)) * 4


def build_history(sm: SkillMeat) -> list[str]:
    """Four snapshots of a realistic collection, with edits in between."""
    sm.write("skills/canvas-design/SKILL.md", "# Canvas design\n\nDraw things.\n")
    sm.write("skills/canvas-design/reference.md", "Palette notes.\n")
    sm.write("skills/canvas-design/scripts/render.py", "print('r')\n", True)
    sm.write("skills/canvas-design/scripts/helpers.py", "X = 1\n")
    sm.write("skills/canvas-design/templates/base.html", "<html></html>\n")
    sm.write("skills/pdf-tools/SKILL.md", "# PDF tools\n")
    sm.write("skills/pdf-tools/scripts/extract.py", "#!/usr/bin/env python\n", True)
    sm.write("skills/pdf-tools/assets/logo.png", LOGO)
    os.symlink("SKILL.md", sm.collection / "skills/pdf-tools/README.md")
    os.link(
        sm.collection / "skills/pdf-tools/scripts/extract.py",
        sm.collection / "skills/pdf-tools/scripts/extract_all.py",
    )
    sm.write("skills/review/SKILL.md", "# Review skill\n")
    sm.write("commands/review.md", "Review the diff.\n")
    sm.write("commands/deploy.md", "Deploy to staging.\n")
    sm.write("agents/code-reviewer.md", "---\nname: code-reviewer\n---\nBe strict.\n")
    sm.write("agents/planner.md", "---\nname: planner\n---\nPlan.\n")
    sm.snapshot("Initial collection")

    sm.write("skills/canvas-design/SKILL.md", "# Canvas design\n\nDraw better.\n")
    sm.write("skills/canvas-design/scripts/new_tool.py", "print('n')\n", True)
    sm.write("skills/pdf-tools/scripts/lib.py", "def f():\n    pass\n")
    sm.write("commands/deploy.md", "Deploy to production.\n")
    sm.snapshot("Tune canvas and deploy")

    sm.remove("agents/planner.md")
    sm.write("agents/tester.md", "---\nname: tester\n---\nTest.\n")
    sm.remove("skills/pdf-tools/assets/logo.png")
    (sm.collection / "skills/canvas-design/scripts/render.py").chmod(0o644)
    sm.snapshot("Drop planner, add tester")

    sm.write("agents/planner.md", "---\nname: planner\n---\nPlan.\n")
    sm.write("skills/data-viz/SKILL.md", "# Data viz\n")
    sm.write("skills/data-viz/scripts/plot.py", "plot()\n", True)
    sm.write("commands/review.md", "Review the diff carefully.\n")
    sm.snapshot("Bring planner back, add data-viz")
    return sm.ids


NAMES = {
    ("skill", "canvas-design"): "canvas-design",
    ("skill", "pdf-tools"): "pdf-tools",
    ("skill", "review"): "review",
    ("skill", "data-viz"): "data-viz",
    ("command", "review"): "command-review",
    ("command", "deploy"): "deploy",
    ("agent", "code-reviewer"): "code-reviewer",
    ("agent", "planner"): "planner",
    ("agent", "tester"): "tester",
}


def tarball_artifacts(tarball: Path, collection: str) -> dict[tuple[str, str], Content]:
    """Each artifact's files as the tarball holds them: path -> (kind, content)."""
    result: dict[tuple[str, str], Content] = {}
    areas = {"skills": "skill", "commands": "command", "agents": "agent"}
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        by_name = {m.name: m for m in members}
        for member in members:
            parts = member.name.split("/")
            assert parts[0] == collection
            if len(parts) < 3 or parts[1] not in areas or member.isdir():
                continue
            kind = areas[parts[1]]
            if kind == "skill":
                key, rel = (kind, parts[2]), "/".join(parts[3:])
            else:
                key, rel = (kind, parts[2].removesuffix(".md")), parts[2]
            if member.issym():
                entry: tuple[str, bytes | str] = ("link", member.linkname)
            else:
                source = by_name[member.linkname] if member.islnk() else member
                data = tar.extractfile(source)
                assert data is not None
                mode = "exec" if member.mode & 0o100 else "file"
                entry = (mode, data.read())
            result.setdefault(key, {})[rel] = entry
    return result


def refs(store: Store) -> dict[str, str]:
    return {
        name: run_git("--git-dir", str(store.artifact(name).history_path), "show-ref")
        for name in store.names()
    }


@pytest.fixture
def sm(tmp_path: Path) -> SkillMeat:
    return SkillMeat(tmp_path / "home")


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point tempfile at a directory of our own, to see what is left in it."""
    area = tmp_path / "tmp-area"
    area.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(area))
    return area


# -- importing realistic snapshots ---------------------------------------------


def test_import_matches_every_tarball_file_by_file(
    sm: SkillMeat, store: Store, tmp_path: Path, private_tmp: Path
) -> None:
    ids = build_history(sm)
    report = import_snapshots(store, sm.snapshots)

    assert [s.status for s in report.snapshots] == ["imported"] * 4
    assert sorted(store.names()) == sorted(NAMES.values())
    assert report.renamed == {"commands/review.md": "command-review"}
    counts = {name: len(store.artifact(name).versions()) for name in store.names()}
    assert counts == {
        "canvas-design": 3,  # S1, S2 edit, S3 mode change; S4 unchanged
        "pdf-tools": 3,  # S1, S2 lib.py, S3 logo removed
        "review": 1,
        "command-review": 2,  # S1, S4
        "deploy": 2,
        "code-reviewer": 1,
        "planner": 1,  # gone in S3, back unchanged in S4: no new version
        "tester": 1,
        "data-viz": 1,
    }
    assert report.snapshots[2].absent == ["planner"]
    assert report.created == sum(counts.values())

    checked = 0
    for snapshot_id, info in zip(ids, read_index(sm.snapshots)[0], strict=True):
        expected = tarball_artifacts(info.tarball, "default")
        when = sm.time_of(snapshot_id)
        for key, files in expected.items():
            artifact = store.artifact(NAMES[key])
            version = max(
                (v for v in artifact.versions() if v.time <= when),
                key=lambda v: v.sort_key,
            )
            out = tmp_path / "check" / snapshot_id / NAMES[key]
            artifact.export([str(version.id)], to=out)
            assert (
                content_of(out / str(version.id), exclude={".version.toml"}) == files
            ), (snapshot_id, key)
            checked += 1
    assert checked == 7 + 7 + 7 + 9
    assert list(private_tmp.iterdir()) == []

    for name in store.names():
        fsck(store.artifact(name).history_path, check_stderr=False)


def test_import_carries_times_messages_sources_and_kinds(
    sm: SkillMeat, store: Store
) -> None:
    ids = build_history(sm)
    import_snapshots(store, sm.snapshots)
    canvas = store.artifact("canvas-design").versions()
    assert [v.message for v in canvas] == [
        "Initial collection",
        "Tune canvas and deploy",
        "Drop planner, add tester",
    ]
    assert [v.time for v in canvas] == [sm.time_of(i) for i in ids[:3]]
    assert [v.source for v in canvas] == [f"skillmeat:default@{i}" for i in ids[:3]]
    log = run_git(
        "--git-dir",
        str(store.artifact("canvas-design").history_path),
        "log",
        "--format=%at %s",
    )
    assert log.splitlines()[-1] == f"{sm.time_of(ids[0])} Initial collection"
    kinds = {n: artifact_kind(store.artifact(n)) for n in store.names()}
    assert kinds["canvas-design"] == "skill"
    assert kinds["command-review"] == "command"
    assert kinds["planner"] == "agent"
    manifest = (store.artifact("planner").home / "manifest.toml").read_text()
    assert 'kind = "agent"' in manifest


def test_import_twice_adds_nothing(sm: SkillMeat, store: Store) -> None:
    build_history(sm)
    import_snapshots(store, sm.snapshots)
    before = refs(store)
    again = import_snapshots(store, sm.snapshots)
    assert again.created == 0
    assert refs(store) == before
    assert sorted(again.snapshots[0].already) == sorted(
        n for k, n in NAMES.items() if k[1] not in ("tester", "data-viz")
    )


def test_reimport_after_local_changes_adds_nothing(sm: SkillMeat, store: Store) -> None:
    build_history(sm)
    import_snapshots(store, sm.snapshots)
    sm.write("agents/code-reviewer.md", "Edited locally after the import.\n")
    local = store.snapshot("code-reviewer", sm.collection / "agents/code-reviewer.md")
    assert local.created
    before = refs(store)
    assert import_snapshots(store, sm.snapshots).created == 0
    assert refs(store) == before


def test_later_snapshots_import_incrementally(sm: SkillMeat, store: Store) -> None:
    build_history(sm)
    import_snapshots(store, sm.snapshots)
    sm.write("commands/deploy.md", "Deploy everywhere.\n")
    new_id = sm.snapshot("Deploy everywhere")
    report = import_snapshots(store, sm.snapshots)
    assert [s.created for s in report.snapshots if s.created] == [
        {"deploy": "v3-" + store.artifact("deploy").versions()[-1].hash[:7]}
    ]
    assert store.artifact("deploy").history.latest().source.endswith(new_id)


def test_dry_run_writes_nothing_and_predicts_the_import(
    sm: SkillMeat, store: Store, listing: Callable[[Path], dict[str, object]]
) -> None:
    build_history(sm)
    before = listing(store.root)
    planned = import_snapshots(store, sm.snapshots, dry_run=True)
    assert listing(store.root) == before
    done = import_snapshots(store, sm.snapshots)
    assert [s.created for s in planned.snapshots] == [s.created for s in done.snapshots]
    assert [s.unchanged for s in planned.snapshots] == [
        s.unchanged for s in done.snapshots
    ]
    again = import_snapshots(store, sm.snapshots, dry_run=True)
    assert again.created == 0


def test_cli_import_text_json_and_progress(
    sm: SkillMeat,
    invoke: Callable[..., Result],
    store_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = build_history(sm)
    dry = invoke("import-skillmeat", str(sm.snapshots), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would create canvas-design v1-" in dry.stdout
    assert not (store_root / "artifacts").exists()

    monkeypatch.setattr("gitversions.cli.base.Env.show_progress", lambda self: True)
    done = invoke("import-skillmeat", str(sm.snapshots))
    assert done.exit_code == 0, done.output
    assert f"{ids[0]}  2025-03-01T09:30:15Z" in done.stdout
    assert "renamed: commands/review.md -> command-review" in done.stdout
    assert "absent (no version): planner" in done.stdout
    assert "importing" in done.stderr
    assert "4 of 4 snapshot(s) read, 15 version(s) created" in done.stderr

    again = invoke("--json", "import-skillmeat", str(sm.snapshots))
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["versions_created"] == 0
    assert data["failed"] == []
    assert [s["status"] for s in data["snapshots"]] == ["imported"] * 4
    listed = invoke("--json", "list")
    assert {row["name"] for row in json.loads(listed.stdout)} == set(NAMES.values())


# -- the snapshot index ----------------------------------------------------------


def test_moved_snapshot_dir_finds_tarballs_by_name(sm: SkillMeat, store: Store) -> None:
    build_history(sm)
    moved = sm.snapshots.parent / "moved" / "default"
    moved.parent.mkdir()
    sm.snapshots.rename(moved)
    report = import_snapshots(store, moved)
    assert [s.status for s in report.snapshots] == ["imported"] * 4


def test_missing_index_falls_back_to_tarball_names(sm: SkillMeat, store: Store) -> None:
    ids = build_history(sm)
    (sm.snapshots / "snapshots.toml").unlink()
    report = import_snapshots(store, sm.snapshots)
    assert [s.id for s in report.snapshots] == ids
    assert "snapshots.toml not found" in report.notes[0]
    canvas = store.artifact("canvas-design").versions()
    assert canvas[0].message == f"SkillMeat snapshot {ids[0]}"
    assert canvas[0].time == sm.time_of(ids[0])


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[[snapshots]\nid = ", "unreadable"),
        ('title = "no snapshots here"\n', "has no [[snapshots]]"),
    ],
)
def test_malformed_index_falls_back(sm: SkillMeat, text: str, why: str) -> None:
    ids = build_history(sm)
    (sm.snapshots / "snapshots.toml").write_text(text)
    (sm.snapshots / "not-an-id.tar.gz").write_bytes(
        (sm.snapshots / f"{ids[0]}.tar.gz").read_bytes()
    )
    infos, notes = read_index(sm.snapshots)
    assert why in notes[0]
    assert [i.id for i in infos] == [*ids, "not-an-id"]
    assert infos[-1].tarball == sm.snapshots / "not-an-id.tar.gz"


def test_index_oddities_are_reported(sm: SkillMeat) -> None:
    sm.write("commands/a.md", "a\n")
    first = sm.snapshot("one")
    second = sm.snapshot("two")
    index = sm.snapshots / "snapshots.toml"
    data = tomlkit.parse(index.read_text())
    entries = data["snapshots"]
    entries[1]["timestamp"] = "yesterday-ish"  # falls back to the id's time
    entries[0]["timestamp"] = "2025-03-01T09:30:15Z"
    entries.append({"id": "../../etc", "message": "hostile"})
    entries.append({"message": "no id at all"})
    entries.append(dict(entries[0]))
    index.write_text(tomlkit.dumps(data))
    (sm.snapshots / "stray.tar.gz").write_bytes(b"")
    infos, notes = read_index(sm.snapshots)
    assert [i.id for i in infos] == [first, second]
    assert infos[1].time == sm.time_of(second)
    assert infos[0].time == sm.time_of(first)
    assert any("entry #3 has no usable id" in n for n in notes)
    assert any("entry #4 has no usable id" in n for n in notes)
    assert any("listed twice" in n for n in notes)
    assert any("stray.tar.gz is not listed" in n for n in notes)


def test_toml_datetime_timestamps_are_accepted(sm: SkillMeat, store: Store) -> None:
    sm.write("commands/a.md", "a\n")
    sid = sm.snapshot("one")
    index = sm.snapshots / "snapshots.toml"
    text = index.read_text().replace(
        'timestamp = "2025-03-01T09:30:15.250000"', "timestamp = 2025-03-01T09:30:15Z"
    )
    index.write_text(text)
    (info,), _ = read_index(sm.snapshots)
    assert info.time == sm.time_of(sid)


def test_snapshot_dir_must_be_a_directory(store: Store, tmp_path: Path) -> None:
    with pytest.raises(SourceError):
        import_snapshots(store, tmp_path / "nope")
    with pytest.raises(InputError, match="collection name"):
        import_snapshots(store, tmp_path, collection="a@b")


# -- hostile, corrupt and missing tarballs ---------------------------------------


def member(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    data: bytes = b"x\n",
    link: str = "",
    mode: int = 0o644,
) -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    if kind in (tarfile.REGTYPE, tarfile.AREGTYPE):
        info.size = len(data)
        return info, data
    return info, None


def write_tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def everything_outside(tmp_path: Path, store: Store) -> dict[str, object]:
    result: dict[str, object] = {}
    for root, dirs, files in os.walk(tmp_path):
        for name in dirs + files:
            path = Path(root) / name
            if path.is_relative_to(store.root):
                continue
            result[str(path)] = path.lstat().st_mode
    return result


def test_hostile_tarballs_are_refused_and_nothing_escapes(
    sm: SkillMeat, store: Store, tmp_path: Path, private_tmp: Path
) -> None:
    good = [member("default/commands/ok.md", data=b"ok\n")]
    evil = tmp_path / "evil"
    cases: dict[str, list[tuple[tarfile.TarInfo, bytes | None]]] = {
        "absolute": [*good, member(str(evil / "abs"))],
        "dotdot": [*good, member("default/../../evil-dotdot")],
        "dotdot-in-skill": [*good, member("default/skills/s/../../../../x")],
        "link-etc": [
            *good,
            member("default/skills/leaky/SKILL.md"),
            member("default/skills/leaky/pw", tarfile.SYMTYPE, link="/etc/passwd"),
        ],
        "link-up": [
            *good,
            member("default/skills/escape/SKILL.md"),
            member("default/skills/escape/up", tarfile.SYMTYPE, link="../../x"),
        ],
        "hardlink-abs": [
            *good,
            member("default/skills/hl/pw", tarfile.LNKTYPE, link="/etc/passwd"),
        ],
        "hardlink-up": [
            *good,
            member("default/skills/hl2/pw", tarfile.LNKTYPE, link="../../outside"),
        ],
        "hardlink-meta": [
            *good,
            member("default/collection.toml"),
            member(
                "default/skills/hl3/c", tarfile.LNKTYPE, link="default/collection.toml"
            ),
        ],
        "fifo": [*good, member("default/skills/f/pipe", tarfile.FIFOTYPE)],
        "device": [*good, member("default/agents/tty.md", tarfile.CHRTYPE)],
        "through-link": [
            *good,
            member("default/skills/via/sub/a", data=b"a\n"),
            member("default/skills/via/d", tarfile.SYMTYPE, link="sub"),
            member("default/skills/via/d/evil", data=b"through\n"),
        ],
        "duplicate": [
            *good,
            member("default/skills/dup/SKILL.md", data=b"one\n"),
            member("default/skills/dup/SKILL.md", data=b"two\n"),
        ],
        "command-link": [
            *good,
            member("default/commands/alias.md", tarfile.SYMTYPE, link="ok.md"),
        ],
    }
    sm.snapshots.mkdir(parents=True)
    clock = datetime(2025, 1, 1, tzinfo=UTC)
    for number, (label, members) in enumerate(cases.items()):
        when = clock + timedelta(hours=number)
        sid = when.strftime("%Y%m%d-%H%M%S-%f")
        write_tar(sm.snapshots / f"{sid}.tar.gz", members)
        sm.add_index_entry(
            sid, when.replace(tzinfo=None).isoformat(), label, 1, Path(f"{sid}.tar.gz")
        )
    outside = everything_outside(tmp_path, store)
    report = import_snapshots(store, sm.snapshots)
    by_message = {s.message: s for s in report.snapshots}

    for label in ("absolute", "dotdot", "dotdot-in-skill"):
        assert by_message[label].status == "refused", label
        assert not by_message[label].created
    assert "absolute path" in by_message["absolute"].problems[0]
    assert "'..'" in by_message["dotdot"].problems[0]

    skipped_artifact = {
        "link-etc": ("skills/leaky", "symlink to an absolute path"),
        "link-up": ("skills/escape", "pointing outside its skill"),
        "hardlink-abs": ("skills/hl", "hardlink to '/etc/passwd'"),
        "hardlink-up": ("skills/hl2", "hardlink to '../../outside'"),
        "hardlink-meta": ("skills/hl3", "hardlink to 'default/collection.toml'"),
        "fifo": ("skills/f", "a fifo"),
        "device": ("agents/tty.md", "a device"),
        "through-link": ("skills/via", "goes through skills/via/d, which is a symlink"),
        "duplicate": ("skills/dup", "duplicate member"),
        "command-link": ("commands/alias.md", "must be a regular file"),
    }
    for label, (rel, reason) in skipped_artifact.items():
        outcome = by_message[label]
        assert outcome.status == "imported", label
        assert reason in outcome.skipped[rel], (label, outcome.skipped)
    assert store.names() == ["ok"]
    assert len(store.artifact("ok").versions()) == 1

    assert everything_outside(tmp_path, store) == outside
    assert list(private_tmp.iterdir()) == []
    assert not evil.exists()
    fsck(store.artifact("ok").history_path, check_stderr=False)


def test_corrupt_and_missing_tarballs_are_reported(
    sm: SkillMeat,
    store: Store,
    invoke: Callable[..., Result],
    private_tmp: Path,
) -> None:
    ids = build_history(sm)
    good = sm.snapshots / f"{ids[1]}.tar.gz"
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])  # truncated
    (sm.snapshots / f"{ids[2]}.tar.gz").unlink()  # missing
    sm.write("commands/late.md", "late\n")
    bad_gzip = sm.snapshot("not gzip")
    (sm.snapshots / f"{bad_gzip}.tar.gz").write_bytes(b"this is not a tarball\n")
    plain = sm.snapshot("gzip, not tar")
    (sm.snapshots / f"{plain}.tar.gz").write_bytes(gzip.compress(b"\1" * 700))

    result = invoke("import-skillmeat", str(sm.snapshots))
    assert result.exit_code == 1, result.output
    assert f"{ids[1]}  2025-03-02T09:37:15Z  NOT IMPORTED (corrupt)" in result.stdout
    assert f"{ids[2]}  2025-03-03T09:44:15Z  NOT IMPORTED (missing)" in result.stdout
    assert "2 of 6 snapshot(s) read" in result.stderr
    assert f"not imported: {ids[1]}, {ids[2]}, {bad_gzip}, {plain}" in result.stderr

    data_json = invoke("--json", "import-skillmeat", str(sm.snapshots))
    assert data_json.exit_code == 1
    report = json.loads(data_json.stdout)
    assert [s["status"] for s in report["snapshots"]] == [
        "imported",
        "corrupt",
        "missing",
        "imported",
        "corrupt",
        "corrupt",
    ]
    assert report["versions_created"] == 0  # the good ones were imported already
    store_ = Store(store.root)
    planner = store_.artifact("planner").versions()
    assert len(planner) == 1
    # S4 was imported on top of S1: its content is there, as in the tarball.
    assert store_.artifact("data-viz").exists()
    assert list(private_tmp.iterdir()) == []
    for name in store_.names():
        fsck(store_.artifact(name).history_path, check_stderr=False)


# -- limits: a small tarball may expand to gigabytes --------------------------------


def _bomb(sm: SkillMeat, kind: str) -> None:
    """Add to the collection what passes one low limit (a few KB compressed)."""
    if kind == "file size":  # one member of 2 MiB of zeros: 2 KB compressed
        sm.write("skills/bomb/SKILL.md", b"\0" * (2 << 20))
    elif kind == "size":  # three members of 600 KiB, each under the file limit
        for index in range(3):
            sm.write(f"skills/bomb/part{index}.bin", b"\0" * (600 << 10))
    else:  # entries: 60 small files
        for index in range(60):
            sm.write(f"skills/bomb/f{index}.md", f"{index}\n")


LIMITS = {
    # kind: (the low limit, what the message says, the limit raised)
    "file size": (["--max-file-size", "1M"], "--max-file-size 1M", "3M"),
    "size": (["--max-size", "1M"], "--max-size 1M", "2M"),
    "entries": (["--max-entries", "50"], "--max-entries 50", "100"),
}


@pytest.mark.parametrize("kind", list(LIMITS))
def test_a_tarball_past_a_limit_stops_the_import_there(
    sm: SkillMeat,
    store: Store,
    invoke: Callable[..., Result],
    private_tmp: Path,
    kind: str,
) -> None:
    option, named, raised = LIMITS[kind]
    sm.write("skills/ok/SKILL.md", "ok\n")
    first = sm.snapshot("fine")
    _bomb(sm, kind)
    bomb = sm.snapshot("too big")
    sm.write("skills/ok/SKILL.md", "later\n")
    later = sm.snapshot("after it")
    assert (sm.snapshots / f"{bomb}.tar.gz").stat().st_size < 64 << 10

    result = invoke("import-skillmeat", str(sm.snapshots), *option)
    assert result.exit_code == 1, result.output
    assert f"{bomb}  2025-03-02T09:37:15Z  NOT IMPORTED (over-limit)" in result.stdout
    assert named in result.stdout and "run again with a higher" in result.stdout
    assert later not in result.stdout
    assert f"stopped at {bomb}" in result.stderr
    assert "1 of 2 snapshot(s) read" in result.stderr
    # Nothing of the snapshot past the limit, nor after it; nothing left in tmp.
    assert Store(store.root).names() == ["ok"]
    assert [v.message for v in Store(store.root).artifact("ok").versions()] == ["fine"]
    assert list(private_tmp.iterdir()) == []

    as_json = json.loads(
        invoke("--json", "import-skillmeat", str(sm.snapshots), *option).stdout
    )
    assert as_json["stopped_at"] == bomb
    assert [s["status"] for s in as_json["snapshots"]] == ["imported", "over-limit"]

    # With the limit raised, the import continues where it stopped.
    flag = option[0]
    done = invoke("import-skillmeat", str(sm.snapshots), flag, raised)
    assert done.exit_code == 0, done.output
    fresh = Store(store.root)
    assert fresh.names() == ["bomb", "ok"]
    assert [v.message for v in fresh.artifact("ok").versions()] == ["fine", "after it"]
    assert first in done.stdout


def test_a_header_claiming_megabytes_is_not_read_into_memory(
    sm: SkillMeat, store: Store, private_tmp: Path
) -> None:
    # A pax header is read whole by tarfile: its size counts as a member's.
    sm.write("skills/ok/SKILL.md", "ok\n")
    sm.snapshot("fine")
    tarball = sm.snapshots / "20250302-093715-250000.tar.gz"
    info = tarfile.TarInfo("default/skills/ok/" + "n" * (3 << 20))
    info.size = 2
    with tarfile.open(tarball, "w:gz", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(b"x\n"))
    sm.add_index_entry("20250302-093715-250000", "2025-03-02T09:37:15", "", 1, tarball)
    limits = ImportLimits(max_file_size=64 << 10)
    report = import_snapshots(store, sm.snapshots, limits=limits)
    assert [s.status for s in report.snapshots] == ["imported", "over-limit"]
    assert "--max-file-size 64K" in report.snapshots[1].problems[0]
    assert list(private_tmp.iterdir()) == []


def test_entries_are_not_held_in_memory(
    sm: SkillMeat, store: Store, tmp_path: Path
) -> None:
    # tarfile keeps every member it reads: 300,000 entries took 1.25 GB. Here
    # 20,000 entries outside the artifacts (passed over, never written).
    import tracemalloc

    sm.write("skills/ok/SKILL.md", "ok\n")
    sm.snapshot("fine")
    tarball = sm.snapshots / f"{sm.ids[0]}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        ok = tarfile.TarInfo("default/skills/ok/SKILL.md")
        ok.size = 3
        tar.addfile(ok, io.BytesIO(b"ok\n"))
        for index in range(20_000):
            tar.addfile(tarfile.TarInfo(f"default/other/entry-{index:05}"))
    tracemalloc.start()
    try:
        report = import_snapshots(store, sm.snapshots)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [s.status for s in report.snapshots] == ["imported"]
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB at the peak"


def test_a_full_disk_while_unpacking_names_the_path_and_stops(
    sm: SkillMeat,
    store: Store,
    invoke: Callable[..., Result],
    private_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Not a corrupt tarball: the temporary copy's disk is full, and says where.
    import errno

    from gitversions.errors import naming

    build_history(sm)

    def full(fd: int, data: bytes, path: Path) -> None:
        with naming(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr("gitversions.skillmeat.write_all", full)
    result = invoke("import-skillmeat", str(sm.snapshots))
    assert result.exit_code == 1
    line = f"gitversions: error: No space left on device: {private_tmp}{os.sep}"
    assert result.stderr.startswith(line), result.stderr
    assert "corrupt" not in result.output
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("4096", 4096),
        ("1000", 1000),
        ("512K", 512 << 10),
        ("100M", 100 << 20),
        ("2g", 2 << 30),
        ("1TiB", 1 << 40),
        (" 3 MB ", 3 << 20),
    ],
)
def test_sizes_are_read_in_binary_units(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert parse_size(format_size(size)) == size


@pytest.mark.parametrize("text", ["", "0", "-1", "1.5G", "12X", "G"])
def test_bad_sizes_are_refused(
    text: str, sm: SkillMeat, invoke: Callable[..., Result]
) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)
    result = invoke("import-skillmeat", str(sm.snapshots), "--max-size", text)
    assert result.exit_code == 2
    assert "is not a size" in result.stderr


def test_the_help_states_the_default_limits(invoke: Callable[..., Result]) -> None:
    text = " ".join(invoke("import-skillmeat", "--help").stdout.split())
    default = ImportLimits()
    assert f"(default: {default.max_entries})" in text
    assert f"(default: {format_size(default.max_size)})" in text
    assert f"(default: {format_size(default.max_file_size)})" in text


def test_symlinked_tarball_is_not_followed(sm: SkillMeat, store: Store) -> None:
    ids = build_history(sm)
    target = sm.snapshots / f"{ids[0]}.tar.gz"
    elsewhere = sm.snapshots.parent / "elsewhere.tar.gz"
    target.rename(elsewhere)
    target.symlink_to(elsewhere)
    report = import_snapshots(store, sm.snapshots)
    assert report.snapshots[0].status == "missing"
    assert "is a symlink" in report.snapshots[0].problems[0]


def test_entries_that_are_not_artifacts_are_reported(
    sm: SkillMeat, store: Store
) -> None:
    sm.snapshots.mkdir(parents=True)
    sid = "20250101-000000-000000"
    write_tar(
        sm.snapshots / f"{sid}.tar.gz",
        [
            member("default", tarfile.DIRTYPE),
            member("default/skills", tarfile.DIRTYPE),
            member("default/skills/README.md"),
            member("default/skills/empty", tarfile.DIRTYPE),
            member("default/skills/bad name", tarfile.DIRTYPE),
            member("default/skills/bad name/SKILL.md"),
            member("default/skills/gitty/.git/config"),
            member("default/skills/gitty/SKILL.md"),
            member("default/skills/slash/a\\b"),
            member("default/commands/notes.txt"),
            member("default/commands/nested/x.md"),
            member("default/agents/ok.md", tarfile.AREGTYPE),
            member("other/skills/x/SKILL.md"),
            member("./default/commands/dotted.md"),
        ],
    )
    sm.add_index_entry(sid, "2025-01-01T00:00:00", "odd", 1, Path(f"{sid}.tar.gz"))
    (outcome,) = import_snapshots(store, sm.snapshots).snapshots
    assert outcome.status == "imported"
    assert sorted(outcome.created) == ["dotted", "gitty", "ok"]
    skipped = outcome.skipped
    assert "not a directory" in skipped["skills/README.md"]
    assert "empty" in skipped["skills/empty"]
    assert "invalid artifact name 'bad name'" in skipped["skills/bad name"]
    assert "backslash" in skipped["skills/slash"]
    assert "not a .md file" in skipped["commands/notes.txt"]
    assert "subdirectory" in skipped["commands/nested/"]
    assert "outside the collection" in skipped["other/"]
    gitty = store.artifact("gitty")
    assert [e.path for e in gitty.history.iter_tree(gitty.versions()[0].tree)] == [
        "SKILL.md"
    ]


# -- naming --------------------------------------------------------------------


def test_names_collide_across_kinds_deterministically(
    sm: SkillMeat, store: Store
) -> None:
    sm.write("skills/x/SKILL.md", "skill\n")
    sm.write("commands/x.md", "command\n")
    sm.write("agents/x.md", "agent\n")
    sm.write("skills/command-y/SKILL.md", "skill named like a renamed command\n")
    sm.write("skills/y/SKILL.md", "y\n")
    sm.write("commands/y.md", "y\n")
    sm.write("commands/" + "z" * 125 + ".md", "long\n")
    sm.write("skills/" + "z" * 125 + "/SKILL.md", "long\n")
    report = snapshot_collection(store, sm.collection)
    assert report.renamed == {
        "commands/x.md": "command-x",
        "agents/x.md": "agent-x",
    }
    assert "'command-y' by a skill" in report.skipped["commands/y.md"]
    assert "taken by a skill" in report.skipped["commands/" + "z" * 125 + ".md"]
    assert sorted(report.created) == sorted(
        ["x", "command-x", "agent-x", "command-y", "y", "z" * 125]
    )


def test_existing_owner_keeps_its_name(sm: SkillMeat, store: Store) -> None:
    sm.write("commands/x.md", "command first\n")
    snapshot_collection(store, sm.collection)
    sm.write("skills/x/SKILL.md", "a skill arrives later\n")
    report = snapshot_collection(store, sm.collection)
    assert report.renamed == {"skills/x": "skill-x"}
    assert report.unchanged == {"x": "v1-" + store.artifact("x").versions()[0].hash[:7]}
    assert artifact_kind(store.artifact("skill-x")) == "skill"


# -- whole-collection snapshots ------------------------------------------------------


def test_snapshot_collection_records_every_artifact(
    sm: SkillMeat, store: Store
) -> None:
    build_history(sm)
    report = snapshot_collection(store, sm.collection, message="checkpoint")
    assert sorted(report.created) == sorted(NAMES.values())
    assert report.unchanged == {}
    for name in report.created:
        version = store.artifact(name).history.latest()
        assert version.source == "skillmeat:default"
        assert version.message == "checkpoint"
        fsck(store.artifact(name).history_path, check_stderr=False)
    again = snapshot_collection(store, sm.collection)
    assert again.created == {}
    assert sorted(again.unchanged) == sorted(report.created)
    sm.write("skills/pdf-tools/SKILL.md", "# PDF tools v2\n")
    third = snapshot_collection(store, sm.collection)
    assert list(third.created) == ["pdf-tools"]
    assert third.created["pdf-tools"].startswith("v2-")


def test_snapshot_collection_skips_what_it_cannot_record(
    sm: SkillMeat, store: Store
) -> None:
    sm.write("skills/ok/SKILL.md", "ok\n")
    sm.write("skills/stray.md", "a file where skills are directories\n")
    (sm.collection / "skills/empty").mkdir()
    sm.write("skills/piped/SKILL.md", "has a fifo\n")
    os.mkfifo(sm.collection / "skills/piped/pipe")
    sm.write("commands/nested/x.md", "nested\n")
    sm.write("commands/notes.txt", "not markdown\n")
    os.symlink("ok.md", sm.collection / "commands/alias.md")
    sm.write("agents/ok.md", "agent\n")
    (sm.collection / "agents/.git").mkdir()
    report = snapshot_collection(store, sm.collection)
    assert sorted(report.created) == ["agent-ok", "ok"]
    assert report.renamed == {"agents/ok.md": "agent-ok"}
    assert report.unchanged == {}
    skipped = report.skipped
    assert "not a directory" in skipped["skills/stray.md"]
    assert "empty" in skipped["skills/empty"]
    assert "a fifo" in skipped["skills/piped"]
    assert "subdirectory" in skipped["commands/nested/"]
    assert "not a .md file" in skipped["commands/notes.txt"]
    assert "symlink" in skipped["commands/alias.md"]


def test_scan_collection_refuses_non_collections(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a directory"):
        scan_collection(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(SourceError, match="not a SkillMeat collection"):
        scan_collection(tmp_path / "plain")
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "skills").write_text("a file\n")
    (tmp_path / "odd" / "agents").mkdir()
    entries, skipped = scan_collection(tmp_path / "odd")
    assert entries == []
    assert skipped == {"skills": "not a directory"}


def test_cli_snapshot_collection(
    sm: SkillMeat,
    invoke: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    build_history(sm)
    monkeypatch.setattr("gitversions.cli.base.Env.show_progress", lambda self: True)
    first = invoke("snapshot-collection", str(sm.collection), "-m", "one go")
    assert first.exit_code == 0, first.output
    assert "new        canvas-design v1-" in first.stdout
    assert "renamed    commands/review.md -> command-review" in first.stdout
    assert "collection default: 9 new, 0 unchanged, 0 skipped" in first.stderr
    second = invoke("--json", "snapshot-collection", str(sm.collection))
    data = json.loads(second.stdout)
    assert data["created"] == {}
    assert len(data["unchanged"]) == 9
    sm.write("skills/stray.md", "x\n")
    third = invoke("snapshot-collection", str(sm.collection))
    assert "skipped    skills/stray.md: not a directory" in third.stdout
    missing = invoke("snapshot-collection", str(sm.collection / "nope"))
    assert missing.exit_code == 2


def test_more_member_oddities(sm: SkillMeat, store: Store, tmp_path: Path) -> None:
    local = tmp_path / "local" / "same.md"
    local.parent.mkdir()
    local.write_text("same\n")
    store.snapshot("same", local, artifact_kind="command")
    sm.snapshots.mkdir(parents=True)
    sid = "20250101-000000-000000"
    write_tar(
        sm.snapshots / f"{sid}.tar.gz",
        [
            member("default/skills/latin/caf\udce9.md"),
            member("default/skills/weird/SKILL.md"),
            member("default/skills/weird/volume", b"Z"),
            member("default/skills/meta/.version.toml"),
            member("default/commands/same.md", data=b"same\n"),
        ],
    )
    index = sm.snapshots / "snapshots.toml"
    index.write_text(f'[[snapshots]]\nid = "{sid}"\nmessage = "odd members"\n')
    (outcome,) = import_snapshots(store, sm.snapshots).snapshots
    assert outcome.status == "imported"
    assert "is not UTF-8" in outcome.skipped["skills/latin"]
    assert "unsupported member type" in outcome.skipped["skills/weird"]
    assert ".version.toml" in outcome.skipped["skills/meta"]
    assert outcome.unchanged == ["same"]  # equal to the local version
    assert outcome.created == {}

"""Retention: prune removes materialized versions only, never history."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from helpers import fsck

from gitversions.errors import ConfigError, InputError
from gitversions.formats.config import load_config
from gitversions.materialize.retention import prune
from gitversions.store import Artifact, Store

DAY = 86400


def configure(store: Store, text: str) -> None:
    (store.root / "gitversions.toml").write_text(text)
    store._config = None  # read it again


def five_versions(store: Store, tmp_path: Path, *, days_apart: int = 10) -> Artifact:
    """An artifact with five versions, 40, 30, 20, 10 and 0 days old."""
    src = tmp_path / "src" / "skill"
    src.mkdir(parents=True)
    now = int(time.time())
    for n in range(5):
        (src / "SKILL.md").write_text(f"version {n + 1}\n")
        store.snapshot("skill", src, timestamp=now - (4 - n) * days_apart * DAY)
    return store.artifact("skill")


def materialized(artifact: Artifact) -> list[str]:
    return sorted(
        p.name
        for p in artifact.versions_dir.iterdir()
        if p.name != "latest" and not p.name.startswith(".")
    )


def ids(artifact: Artifact) -> list[str]:
    return [str(v.id) for v in artifact.versions()]


def test_keep_newest_n(store: Store, tmp_path: Path) -> None:
    artifact = five_versions(store, tmp_path)
    artifact.export()
    all_ids = ids(artifact)
    result = prune(artifact, keep=2)
    assert result.removed == all_ids[:3]
    assert result.kept == all_ids[3:]
    assert materialized(artifact) == sorted(all_ids[3:])
    assert ids(artifact) == all_ids  # history is untouched
    assert os.readlink(artifact.versions_dir / "latest") == all_ids[-1]
    assert artifact.verify() == []
    fsck(artifact.history_path, check_stderr=False)
    # Anything pruned comes back with export.
    artifact.export([all_ids[0]])
    assert all_ids[0] in materialized(artifact)


def test_keep_days_and_dry_run(store: Store, tmp_path: Path) -> None:
    artifact = five_versions(store, tmp_path)
    artifact.export()
    all_ids = ids(artifact)
    dry = prune(artifact, keep_days=25, dry_run=True)
    assert dry.removed == all_ids[:2]  # 40 and 30 days old
    assert dry.dry_run
    assert materialized(artifact) == sorted(all_ids)
    done = prune(artifact, keep_days=25)
    assert done.removed == all_ids[:2]
    assert materialized(artifact) == sorted(all_ids[2:])


def test_rules_combine_and_latest_always_stays(store: Store, tmp_path: Path) -> None:
    artifact = five_versions(store, tmp_path)
    artifact.export()
    all_ids = ids(artifact)
    # keep=1 and keep_days=15: the union of both rules stays.
    assert prune(artifact, keep=1, keep_days=15, dry_run=True).kept == all_ids[3:]
    # Far in the future nothing is recent, yet latest stays.
    future = time.time() + 1000 * DAY
    result = prune(artifact, keep_days=0, now=future)
    assert result.kept == [all_ids[-1]]


def test_version_latest_points_at_is_kept(store: Store, tmp_path: Path) -> None:
    artifact = five_versions(store, tmp_path)
    artifact.export()
    all_ids = ids(artifact)
    link = artifact.versions_dir / "latest"
    link.unlink()
    link.symlink_to(all_ids[1])  # a stale latest, say from an older export
    assert prune(artifact, keep=1).kept == [all_ids[1], all_ids[-1]]


def test_protected_ids_and_config_defaults(store: Store, tmp_path: Path) -> None:
    artifact = five_versions(store, tmp_path)
    artifact.export()
    all_ids = ids(artifact)
    configure(
        store,
        f'[retention]\nkeep = 2\nprotect = ["{all_ids[0]}", "v99-0000000"]\n',
    )
    result = prune(store.artifact("skill"))
    assert result.removed == all_ids[1:3]
    assert materialized(artifact) == sorted([all_ids[0], *all_ids[3:]])


def test_export_applies_configured_retention(store: Store, tmp_path: Path) -> None:
    configure(store, "[retention]\nkeep = 2\n")
    artifact = five_versions(store, tmp_path)
    all_ids = ids(artifact)
    result = artifact.export()
    # Versions retention would remove are not even written.
    assert result.written == all_ids[3:]
    assert materialized(artifact) == sorted(all_ids[3:])
    # An explicitly requested version is spared; the next full export prunes it.
    artifact.export([all_ids[0]])
    assert all_ids[0] in materialized(artifact)
    again = artifact.export()
    assert again.pruned == [all_ids[0]]
    assert materialized(artifact) == sorted(all_ids[3:])
    assert artifact.verify() == []


def test_auto_export_with_retention(store: Store, tmp_path: Path) -> None:
    configure(store, "[export]\nauto = true\n\n[retention]\nkeep_days = 15\n")
    artifact = five_versions(store, tmp_path)
    assert materialized(artifact) == sorted(ids(artifact)[3:])


def test_prune_needs_a_rule(store: Store, tmp_path: Path) -> None:
    artifact = five_versions(store, tmp_path, days_apart=0)
    with pytest.raises(InputError, match="nothing to prune by"):
        prune(artifact)
    with pytest.raises(InputError, match="at least 1"):
        prune(artifact, keep=0)
    with pytest.raises(InputError, match="negative"):
        prune(artifact, keep_days=-1)


def test_prune_without_materialized_versions(store: Store, tmp_path: Path) -> None:
    artifact = five_versions(store, tmp_path)
    assert prune(artifact, keep=1).removed == []


def test_cli_prune(store: Store, tmp_path: Path, invoke: Callable[..., Result]) -> None:
    artifact = five_versions(store, tmp_path)
    all_ids = ids(artifact)
    assert invoke("export", "skill").exit_code == 0
    dry = invoke("prune", "skill", "--keep", "3", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.splitlines() == [
        f"would remove versions/{i}" for i in all_ids[:2]
    ]
    assert "2 would remove, 3 kept (history unchanged)" in dry.stderr
    done = invoke("--json", "prune", "skill", "--keep-days", "25")
    assert json.loads(done.stdout) == {
        "removed": all_ids[:2],
        "kept": all_ids[2:],
        "dry_run": False,
    }
    assert invoke("prune", "skill").exit_code == 2
    assert invoke("prune", "skill", "--keep", "0").exit_code == 2
    configure(store, "[retention]\nkeep = 1\n")
    shown = invoke("--json", "export", "skill", all_ids[0])
    assert json.loads(shown.stdout)["pruned"] == all_ids[2:4]  # v1 is spared
    full = invoke("--json", "export", "skill")
    assert json.loads(full.stdout)["pruned"] == [all_ids[0]]
    text = invoke("export", "skill", all_ids[1])
    assert text.exit_code == 0
    plain = invoke("export", "skill")
    assert f"retention removed {all_ids[1]}" in plain.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("retention = 3\n", "must be a table"),
        ("[retention]\nkeeps = 3\n", "unknown key(s) in [retention]: keeps"),
        ("[retention]\nkeep = 0\n", "retention.keep"),
        ("[retention]\nkeep = true\n", "retention.keep"),
        ("[retention]\nkeep = 1.5\n", "retention.keep"),
        ("[retention]\nkeep_days = -1\n", "retention.keep_days"),
        ('[retention]\nkeep_days = "1"\n', "retention.keep_days"),
        ('[retention]\nprotect = "v1-abcdef0"\n', "retention.protect"),
        ('[retention]\nprotect = ["v1"]\n', "retention.protect"),
    ],
)
def test_bad_retention_config(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "gitversions.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert message in str(info.value)


def test_retention_config_parses_and_default_file_is_valid(tmp_path: Path) -> None:
    (tmp_path / "gitversions.toml").write_text(
        '[retention]\nkeep = 3\nkeep_days = 7\nprotect = ["v1-abcdef0"]\n'
    )
    config = load_config(tmp_path)
    assert config.retention_keep == 3
    assert config.retention_keep_days == 7.0
    assert config.retention_protect == ("v1-abcdef0",)
    store = Store(tmp_path / "fresh")
    store.init()
    text = (store.root / "gitversions.toml").read_text()
    assert "[retention]" in text
    assert "#   keep = 10" in text
    assert load_config(store.root).retention_keep is None

"""Commands on versions, and SkillMeat's collections and snapshots.

init, snapshot, list, log, show, diff, export, restore, verify, prune, gc, hash,
validate, snapshot-collection, import-skillmeat. Each command parses its
arguments, makes one library call and prints the
result, as text or (with ``--json``) as JSON; errors are reported by
:mod:`gitversions.cli.base`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import click

from gitversions.cli.base import (
    CONTEXT,
    Env,
    _late_progress,
    _progress,
    pass_env,
)
from gitversions.display import printable, quote_path
from gitversions.errors import UnfinishedError

if TYPE_CHECKING:
    from gitversions.materialize.export import Format
    from gitversions.store import Artifact
    from gitversions.verify import Problem


@click.command(context_settings=CONTEXT)
@pass_env
def init(env: Env) -> None:
    """Create the store root and its gitversions.toml.

    \b
    Example:
      gitversions --project init        # creates ./.claude/gitversions.toml
    """
    created = env.store.init()
    if env.json:
        env.emit({"root": str(env.store.root), "created": created})
    elif created:
        env.out(f"initialized store at {env.store.root}")
    else:
        env.out(f"store at {env.store.root} already initialized")


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("src", type=click.Path(path_type=Path))
@click.option(
    "--source",
    "source",
    metavar="LABEL",
    help="Where SRC came from (default: the previous version's source, else 'local').",
)
@click.option("-m", "--message", help="Describe this version.")
@click.option("--force", is_flag=True, help="Record a version even if nothing changed.")
@pass_env
def snapshot(
    env: Env, name: str, src: Path, source: str | None, message: str | None, force: bool
) -> None:
    """Record SRC (a directory or a single file) as a new version of NAME.

    Content identical to the newest version creates no version unless --force.
    Exit status 3: the version was recorded, but its tag, manifest.toml or
    automatic export could not be written (the message says which, and why);
    `gitversions verify --repair NAME` finishes them.

    \b
    Example:
      gitversions snapshot canvas-design ./skills/canvas-design \\
          --source anthropics/skills/canvas-design -m "tighten the prompt"
      gitversions snapshot review .claude/commands/review.md
    """
    try:
        result = env.store.snapshot(
            name, src, message=message, source=source, force=force
        )
    except UnfinishedError as exc:
        # Recorded: say so on stdout as for any new version; the error (exit
        # 3) then says what was not done.
        record = exc.record or {"id": str(exc.version.id), "commit": exc.version.commit}
        if env.json:
            env.emit(
                {
                    **record,
                    "unchanged": False,
                    "unfinished": list(exc.unfinished),
                    "error": str(exc),
                }
            )
        else:
            summary = f" ({record['summary']})" if "summary" in record else ""
            env.out(f"{name}: recorded {exc.version.id}{summary}")
        raise
    if env.json:
        env.emit({**result.record, "unchanged": not result.created})
    elif result.created:
        env.out(f"{name}: recorded {result.version.id} ({result.record['summary']})")
    else:
        env.out(
            f"{name}: unchanged, still {result.version.id} "
            "(no version created; --force records one anyway)"
        )


@click.command("list", context_settings=CONTEXT)
@pass_env
def list_(env: Env) -> None:
    """List artifacts with their version count and latest id.

    \b
    Example:
      gitversions list
    """
    rows: list[dict[str, Any]] = []
    for name in env.store.names():
        artifact = env.store.artifact(name)
        rows.append(artifact.summary())
        artifact.close()
    if env.json:
        env.emit_rows(rows)
        return
    if not rows:
        env.info(f"no artifacts in {env.store.root}")
        return
    width = max(len(str(r["name"])) for r in rows)
    for row in rows:
        env.out(f"{row['name']:<{width}}  {row['versions']:>5}  {row['latest'] or '-'}")


def _artifact(env: Env, name: str) -> Artifact:
    return env.store.existing(name)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@pass_env
def log(env: Env, name: str) -> None:
    """Show the versions of NAME, newest first.

    \b
    Example:
      gitversions log canvas-design
      gitversions --json log canvas-design | jq '.[0].id'
    """
    artifact = _artifact(env, name)
    versions = list(reversed(artifact.versions()))
    if env.json:
        env.emit_rows(artifact.records(versions))
        return
    for version in versions:
        first_line = version.message.splitlines()[0] if version.message else ""
        summary = artifact.changes(version).summary
        env.out(f"{version.id}  {version.timestamp}  {summary:<24}  {first_line}")
    artifact.history.flush_caches()


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("ref", default="latest")
@pass_env
def show(env: Env, name: str, ref: str) -> None:
    """Show one version's metadata (default: latest), as .version.toml.

    REF is a version id (v2-8be01d4), v<n>, 4+ hex digits of the content hash or
    commit, latest, or latest~N.

    \b
    Example:
      gitversions show canvas-design v2
    """
    artifact = _artifact(env, name)
    version = artifact.resolve(ref)
    if env.json:
        (record,) = artifact.records([version])
        env.emit(record)
    else:
        # TOML escapes C0 controls in strings, not C1: \u0085 is TOML as well
        click.echo(printable(artifact.version_toml(version), keep="\n"), nl=False)
        artifact.history.flush_caches()


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("ref")
@click.argument("ref2", required=False)
@click.option("--patch", "-p", is_flag=True, help="Print a unified diff of text files.")
@pass_env
def diff(env: Env, name: str, ref: str, ref2: str | None, patch: bool) -> None:
    """Show the files that changed: REF against its parent, or REF to REF2.

    \b
    Example:
      gitversions diff canvas-design v2            # v2 against v1
      gitversions diff canvas-design v1 latest --patch
    """
    artifact = _artifact(env, name)
    if ref2 is None:
        new = artifact.resolve(ref)
        old = artifact.first_parent(new)
    else:
        old, new = artifact.resolve(ref), artifact.resolve(ref2)
    changes = artifact.diff(old, new)
    if env.json:
        record: dict[str, Any] = {
            "from": str(old.id) if old else None,
            "to": str(new.id),
            "files_changed": list(changes.files_changed),
            "added": list(changes.added),
            "modified": list(changes.modified),
            "deleted": list(changes.deleted),
            "summary": changes.summary,
        }
        if patch:
            record["patch"] = artifact.patch(old, new)
        env.emit(record)
        return
    if patch:
        # color=True: click would strip escape sequences from file content
        # when stdout is not a terminal, and the patch would no longer apply
        for section in artifact.patch_sections(old, new):
            click.echo(section, nl=False, color=True)
        return
    marks = {
        **dict.fromkeys(changes.added, "A"),
        **dict.fromkeys(changes.modified, "M"),
    }
    marks.update(dict.fromkeys(changes.deleted, "D"))
    for path in changes.files_changed:
        env.out(f"{marks[path]}  {quote_path(path)}")
    env.info(f"{old.id if old else '(nothing)'} -> {new.id}: {changes.summary}")


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("refs", nargs=-1)
@click.option(
    "--to",
    "to",
    metavar="DIR",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write here instead of the artifact's versions/.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["dir", "tar.gz", "tar.bz2", "zip", "bundle"]),
    default="dir",
    show_default=True,
    help="Directories, one archive per version, or one git bundle of the history.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Compare existing versions file by file (archives byte by byte); "
    "rewrite damaged ones.",
)
@pass_env
def export(
    env: Env,
    name: str,
    refs: tuple[str, ...],
    to: Path | None,
    fmt: Format | Literal["bundle"],
    repair: bool,
) -> None:
    """Materialize versions of NAME (default: all) and point latest at the newest.

    Version directories already intact are left alone; each new one appears by
    an atomic rename, read-only, with its .version.toml. With [storage]
    version_compression = "gzip" or "bzip2" in gitversions.toml, each version
    in the artifact's versions/ is one read-only archive instead (<id>.tar.gz,
    <id>.tar.bz2) and latest is latest.tar.gz or latest.tar.bz2; --to DIR
    writes what --format says.

    \b
    Example:
      gitversions export canvas-design
      gitversions export canvas-design v3 --to /tmp/out --format tar.gz
    """
    artifact = _artifact(env, name)
    count = len(refs) if refs else len(artifact.versions())
    with _progress(env, count, f"exporting {name}") as tick:
        result = artifact.export(
            list(refs),
            to=to,
            fmt=fmt,
            progress=tick,
            repair=repair,
        )
    target = result.target
    if env.json:
        env.emit(
            {
                "target": str(target),
                "written": result.written,
                "intact": result.intact,
                "latest": result.latest,
            }
            | ({"pruned": result.pruned} if result.pruned else {})
        )
        return
    env.out(
        f"{name}: {len(result.written)} written, {len(result.intact)} already intact "
        f"in {target}" + (f"; latest -> {result.latest}" if result.latest else "")
    )
    if result.pruned:
        env.info(f"{name}: retention removed {', '.join(result.pruned)}")


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("ref")
@click.argument("dest", type=click.Path())
@click.option(
    "--force",
    is_flag=True,
    help="Replace DEST even if it holds content no version records.",
)
@pass_env
def restore(env: Env, name: str, ref: str, dest: str, force: bool) -> None:
    """Write version REF of NAME into DEST (a rollback), atomically.

    DEST is replaced only once the new content is complete. If DEST holds
    content that no version of NAME records, restore refuses unless --force.
    What snapshots leave out (.git, and paths matching the store's exclude
    patterns such as .env or node_modules) is always kept.

    \b
    Example:
      gitversions restore canvas-design v1 ./skills/canvas-design
    """
    artifact = _artifact(env, name)
    into_dir = dest.endswith(("/", os.sep))  # "DEST/" names a directory
    version, written = artifact.restore(ref, Path(dest), force=force, into_dir=into_dir)
    if env.json:
        env.emit({"id": str(version.id), "dest": str(written)})
    else:
        env.out(f"{name}: restored {version.id} to {written}")


@click.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@click.option(
    "--repair",
    is_flag=True,
    help="Rebuild missing tags and manifest.toml; rewrite damaged versions/.",
)
@pass_env
def verify(env: Env, name: str | None, repair: bool) -> None:
    """Check histories, content hashes, materialized versions and manifests.

    Every tree stored in a history, used by a version or not, must pass the
    checks a fetch applies (what git fsck --strict rejects fails here too).

    Exits 1 if anything is damaged, naming each problem. Derived data that is
    only missing (a version tag, manifest.toml: after a crash, or in a store
    built from a git clone; a version export.auto did not export) is listed
    as a note; --repair writes it now, and so does the next snapshot or
    export. --repair also rewrites materialized versions (directories or
    archives) that differ from the history. verify waits for a writer of the
    artifact (snapshot, export, prune, fetch) to finish, and --repair takes
    the writer lock itself.

    \b
    Example:
      gitversions verify               # every artifact
      gitversions verify canvas-design --repair
    """
    names = [name] if name is not None else env.store.names()
    report: dict[str, list[Problem]] = {}
    notes: dict[str, list[str]] = {}
    for each in names:
        artifact = env.store.existing(each)
        if repair:
            for line in artifact.repair():  # under the writer lock
                env.info(f"repaired: {line}")
        with artifact.reading():  # no writer changes what is compared
            report[each] = artifact.verify()
            notes[each] = artifact.pending()
        artifact.close()
    bad = {k: v for k, v in report.items() if v}
    if env.json:
        env.emit(
            {
                n: {"ok": not p, "problems": p, "pending": notes[n]}
                for n, p in report.items()
            }
        )
    else:
        for each, problems in report.items():
            for problem in problems:
                env.out(f"problem: {problem}")
            if not problems:
                env.out(f"ok: {each}")
            for note in notes[each]:
                env.out(f"note: {note}")
        if any(notes.values()):
            env.info(
                "hint: notes name derived data (version tags, manifest.toml), not "
                "damage; `gitversions verify --repair`, the next snapshot or the "
                "next export restores it"
            )
    if bad:
        if any(p.part == "versions" for problems in bad.values() for p in problems):
            env.info(
                "hint: `gitversions verify NAME --repair` or `gitversions export "
                "NAME --repair` rewrites damaged materialized versions from the "
                "history"
            )
        raise SystemExit(1)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--keep", type=click.IntRange(min=1), metavar="N", help="Keep the newest N."
)
@click.option(
    "--keep-days",
    type=click.FloatRange(min=0),
    metavar="D",
    help="Keep versions newer than D days.",
)
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
@pass_env
def prune(
    env: Env, name: str, keep: int | None, keep_days: float | None, dry_run: bool
) -> None:
    """Remove old materialized versions of NAME from versions/ (history stays).

    A version stays if any rule keeps it: the newest N (--keep), those newer
    than D days (--keep-days), the one latest points at, and the ids listed in
    retention.protect. Without options, [retention] of gitversions.toml applies.
    Any version can be exported again later.

    \b
    Example:
      gitversions prune canvas-design --keep 5 --dry-run
      gitversions prune canvas-design --keep-days 90
    """
    from gitversions.materialize.retention import prune as prune_versions

    result = prune_versions(
        _artifact(env, name), keep=keep, keep_days=keep_days, dry_run=dry_run
    )
    if env.json:
        env.emit({"removed": result.removed, "kept": result.kept, "dry_run": dry_run})
        return
    verb = "would remove" if dry_run else "removed"
    for each in result.removed:
        env.out(f"{verb} versions/{each}")
    env.info(
        f"{name}: {len(result.removed)} {verb}, {len(result.kept)} kept "
        "(history unchanged)"
    )


@click.command("snapshot-collection", context_settings=CONTEXT)
@click.argument("collection_dir", type=click.Path(path_type=Path))
@click.option("-m", "--message", help="Describe the new versions.")
@pass_env
def snapshot_collection(env: Env, collection_dir: Path, message: str | None) -> None:
    """Record every skill, command and agent of a SkillMeat collection.

    Each artifact gets a version in its own history (source
    skillmeat:<collection>) unless it is unchanged. Names that collide across
    kinds are stored as <kind>-<name>, and the output says so.

    \b
    Example:
      gitversions snapshot-collection ~/.skillmeat/collections/default \\
          -m "before upgrading canvas-design"
    """
    from gitversions.skillmeat import snapshot_collection as record_collection

    with _late_progress(env, "recording") as (start, tick):
        report = record_collection(
            env.store, collection_dir, message=message, progress=tick, on_scan=start
        )
    if env.json:
        env.emit(report.to_dict())
        return
    for each, version in report.created.items():
        env.out(f"new        {each} {version}")
    for each, version in report.unchanged.items():
        env.out(f"unchanged  {each} {version}")
    for rel, each in report.renamed.items():
        env.out(f"renamed    {rel} -> {each} (the name is taken by another kind)")
    for rel, reason in report.skipped.items():
        env.out(f"skipped    {rel}: {reason}")
    env.info(
        f"collection {report.collection}: {len(report.created)} new, "
        f"{len(report.unchanged)} unchanged, {len(report.skipped)} skipped"
    )


def _size(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    """A size option: ``4096``, ``512K``, ``100M``, ``2G`` (binary units)."""
    if value is None:
        return None
    from gitversions.skillmeat import parse_size

    try:
        return parse_size(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


@click.command("import-skillmeat", context_settings=CONTEXT)
@click.argument("snapshot_dir", type=click.Path(path_type=Path))
@click.option(
    "--collection",
    metavar="NAME",
    help="The collection's name in the tarballs (default: SNAPSHOT_DIR's name).",
)
@click.option(
    "--dry-run", is_flag=True, help="Write nothing; print what would be created."
)
@click.option(
    "--max-entries",
    type=click.IntRange(min=1),
    metavar="N",
    help="Entries one tarball may hold (default: 100000).",
)
@click.option(
    "--max-size",
    callback=_size,
    metavar="SIZE",
    help="Content of one tarball, uncompressed (default: 1G).",
)
@click.option(
    "--max-file-size",
    callback=_size,
    metavar="SIZE",
    help="Content of one member of a tarball (default: 100M).",
)
@pass_env
def import_skillmeat(
    env: Env,
    snapshot_dir: Path,
    collection: str | None,
    dry_run: bool,
    max_entries: int | None,
    max_size: int | None,
    max_file_size: int | None,
) -> None:
    """Import SkillMeat tarball snapshots into per-artifact histories.

    Every snapshot listed in SNAPSHOT_DIR/snapshots.toml, oldest first, gives
    each changed skill, command and agent a version with the snapshot's time
    and message. Running it again adds nothing. Unsafe, corrupt or missing
    tarballs are reported and passed over (exit status 1 once the others are
    imported). A tarball past --max-entries, --max-size or --max-file-size
    stops the import there (exit status 1), before anything of it is recorded;
    run again with a higher limit to continue. SIZE is bytes, or K, M, G.

    \b
    Example:
      gitversions import-skillmeat ~/.skillmeat/snapshots/default --dry-run
      gitversions import-skillmeat ~/.skillmeat/snapshots/default
      gitversions import-skillmeat ~/.skillmeat/snapshots/big --max-size 4G
    """
    from gitversions.skillmeat import ImportLimits, import_snapshots

    default = ImportLimits()
    limits = ImportLimits(
        max_entries=max_entries or default.max_entries,
        max_size=max_size or default.max_size,
        max_file_size=max_file_size or default.max_file_size,
    )
    with _late_progress(env, "importing") as (start, tick):
        report = import_snapshots(
            env.store,
            snapshot_dir,
            collection=collection,
            dry_run=dry_run,
            limits=limits,
            progress=tick,
            on_index=start,
        )
    if env.json:
        env.emit(report.to_dict())
    else:
        _print_import(env, report)
    if report.failed:
        raise SystemExit(1)


def _print_import(env: Env, report: Any) -> None:
    for note in report.notes:
        env.out(f"note: {note}")
    verb = "would create" if report.dry_run else "new"
    for snap in report.snapshots:
        head = f"{snap.id}  {snap.timestamp}"
        if snap.status != "imported":
            env.out(f"{head}  NOT IMPORTED ({snap.status})")
            for problem in snap.problems:
                env.out(f"    {problem}")
            continue
        env.out(
            f"{head}  {len(snap.created)} {verb}, {len(snap.unchanged)} unchanged, "
            f"{len(snap.already)} already imported  {snap.message.splitlines()[0]}"
            if snap.message
            else f"{head}  {len(snap.created)} {verb}, {len(snap.unchanged)} "
            f"unchanged, {len(snap.already)} already imported"
        )
        for each, version in snap.created.items():
            env.out(f"    {verb} {each} {version}")
        for rel, reason in snap.skipped.items():
            env.out(f"    skipped {rel}: {reason}")
        if snap.absent:
            env.out(f"    absent (no version): {', '.join(snap.absent)}")
    for rel, each in report.renamed.items():
        env.out(f"renamed: {rel} -> {each} (the name is taken by another kind)")
    failed = report.failed
    summary = (
        f"collection {report.collection}: {len(report.snapshots) - len(failed)} of "
        f"{len(report.snapshots)} snapshot(s) read, {report.created} version(s) "
        + ("would be created" if report.dry_run else "created")
    )
    if failed:
        summary += f"; not imported: {', '.join(s.id for s in failed)}"
    if report.stopped_at is not None:
        summary += (
            f"; stopped at {report.stopped_at}, past a limit: the later snapshots "
            "were not read"
        )
    env.info(summary)


@click.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@pass_env
def gc(env: Env, name: str | None) -> None:
    """Pack loose objects (of NAME, or of every artifact).

    \b
    Example:
      gitversions gc
    """
    names = [name] if name is not None else env.store.names()
    report = {}
    with _progress(env, len(names), "packing") as tick:
        for each in names:
            artifact = env.store.existing(each)
            report[each] = artifact.gc()
            artifact.close()
            tick(each)
    if env.json:
        env.emit(report)
        return
    for each, stats in report.items():
        env.out(
            f"{each}: {stats['loose_objects_before']} loose objects packed into "
            f"{stats['packs_after']} pack(s), {stats['packed_tags']} tag(s) packed"
        )


@click.command("hash", context_settings=CONTEXT)
@click.argument("src", type=click.Path(path_type=Path))
@pass_env
def hash_(env: Env, src: Path) -> None:
    """Print the SHA-256 content hash of SRC (what `git write-tree` would say).

    \b
    Example:
      gitversions hash ./skills/canvas-design
    """
    from gitversions.snapshot.hashing import content_hash

    value = content_hash(src, env.store.config.exclude)
    if env.json:
        env.emit({"path": str(src), "hash": value})
    else:
        env.out(value)


@click.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_env
def validate(env: Env, files: tuple[Path, ...]) -> None:
    """Check .version.toml files, naming each problem; exits 1 if any.

    \b
    Example:
      gitversions validate versions/*/.version.toml
    """
    from gitversions.errors import InputError
    from gitversions.formats.metadata import validate_version_toml

    report: dict[str, list[str]] = {}
    for path in files:
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
        report[str(path)] = [str(p) for p in validate_version_toml(text)]
    if env.json:
        env.emit({p: {"ok": not v, "problems": v} for p, v in report.items()})
    else:
        for path_text, problems in report.items():
            for problem in problems:
                env.out(f"{path_text}: {problem}")
            if not problems:
                env.out(f"{path_text}: ok")
    if any(report.values()):
        raise SystemExit(1)

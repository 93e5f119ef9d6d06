"""The ``gitversions`` command line: thin commands over :mod:`gitversions.store`.

Each command parses its arguments, makes one library call and prints the result,
as text or (with ``--json``) as JSON. Errors of the library are reported in one
place, :func:`main`: a one-line message on stderr and the error's exit status
(1 for failures the user can act on, 2 for bad usage or bad input).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import click

from ._display import printable, quote_path
from .errors import GitVersionsError

if TYPE_CHECKING:
    from .materialize import Format
    from .store import Artifact, Store

__all__ = ["cli", "main"]

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@dataclass
class Env:
    """What the group callback hands every command."""

    root_option: str | None
    project_option: str | None
    json: bool
    quiet: bool
    verbose: bool
    _store: Store | None = None

    @property
    def store(self) -> Store:
        """The store at the resolved root."""
        if self._store is None:
            from .store import Store, resolve_root  # dulwich loads only when needed

            store = Store(resolve_root(self.root_option, self.project_option))
            _ = store.config  # a malformed gitversions.toml fails every command
            self._store = store
        return self._store

    def close(self) -> None:
        """Release the repositories the command opened."""
        if self._store is not None:
            self._store.close()

    def out(self, text: str) -> None:
        """Print a result line, its control characters escaped (tabs lay out)."""
        click.echo(printable(text, keep="\t"))

    def info(self, text: str) -> None:
        """Print a remark to stderr unless -q, its control characters escaped."""
        if not self.quiet:
            click.echo(printable(text, keep="\t"), err=True)

    def emit(self, data: Any) -> None:
        """Print JSON."""
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))

    def emit_rows(self, rows: list[Any]) -> None:
        """Print a JSON array with one compact element per line.

        For lists that grow with the history (``log``, ``list``): Python's
        C encoder runs only without indentation, and one element per line
        reads well with ``grep`` and ``jq -c`` alike.
        """
        if not rows:
            click.echo("[]")
            return
        lines = ",\n  ".join(json.dumps(row, ensure_ascii=False) for row in rows)
        click.echo(f"[\n  {lines}\n]")

    def show_progress(self) -> bool:
        """Whether long work should draw a progress bar."""
        return not self.quiet and not self.json and sys.stderr.isatty()


pass_env = click.make_pass_decorator(Env)


class Failure(click.ClickException):
    """A library error, shown as one line on stderr with its exit status."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc]  # per-error status

    def show(self, file: Any = None) -> None:
        """Print ``gitversions: error: <message>``."""
        message = printable(self.message)  # it may echo a name from a history
        click.echo(f"gitversions: error: {message}", err=True, file=file)


class Interrupted(click.ClickException):
    """Ctrl-C: one line on stderr, exit status 130 (128 + SIGINT), as shells do."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted")

    def show(self, file: Any = None) -> None:
        """Print ``gitversions: interrupted``."""
        click.echo("gitversions: interrupted", err=True, file=file)


def _interrupted(exc: BaseException) -> bool:
    """Tell whether ``exc`` is a Ctrl-C, or was raised while one unwound."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class Group(click.Group):
    """The command group: maps every error to a message and an exit status.

    ``GitVersionsError`` carries its own status (1, or 2 for bad input); an
    ``OSError`` the library did not anticipate is 1; anything else is a bug,
    reported in one line (with the traceback under ``-v``).
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Let a bare ``--project`` be followed directly by a command name.

        ``--project`` takes an optional DIR; click would read the command
        (``gitversions --project init``) as that DIR, so a command name there
        means "no DIR given".
        """
        args = list(args)
        for index, arg in enumerate(args):
            if arg == "--":
                break
            if arg == "--project" and index + 1 < len(args):
                if args[index + 1] in self.commands:
                    args.insert(index + 1, ".")
                break
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, translating errors; Ctrl-C anywhere is status 130."""
        try:
            result = self._invoke(ctx)
            ctx.close()  # here, so that an error while closing is translated too
            return result
        except BaseException as exc:
            if _interrupted(exc) and not isinstance(exc, click.exceptions.Exit):
                raise Interrupted from None
            raise

    def _invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; map library, OS and unexpected errors to statuses."""
        try:
            return super().invoke(ctx)
        except GitVersionsError as exc:
            raise Failure(str(exc), exc.exit_code) from exc
        except BrokenPipeError:
            _reader_gone()
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise Failure(f"{exc.strerror or exc}{where}", 1) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug: one line, details with -v
            env = ctx.find_object(Env)
            if env is not None and env.verbose:
                import traceback

                traceback.print_exc()
            raise Failure(
                f"internal error: {type(exc).__name__}: {exc} "
                "(please report it; rerun with -v for details)",
                1,
            ) from exc


#: The exit status when the reader of stdout went away: 128 + SIGPIPE, what a
#: shell reports for git (which dies by SIGPIPE) in ``git log | head -1``.
PIPE_EXIT = 141


def _reader_gone() -> NoReturn:
    """End quietly because stdout's reader closed the pipe (``| head -1``).

    stdout is pointed at /dev/null first, so that the flush of what is still
    buffered at exit cannot fail again and print Python's own complaint.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)
    raise SystemExit(PIPE_EXIT)


@contextmanager
def _progress(env: Env, total: int, label: str) -> Iterator[Callable[[Any], None]]:
    if not env.show_progress() or total < 2:
        yield lambda _item: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield lambda _item: bar.update(1)


@contextmanager
def _late_progress(
    env: Env, label: str
) -> Iterator[tuple[Callable[[list[Any]], None], Callable[[Any], None]]]:
    """A progress bar whose length is known only once the work is listed.

    Yields ``start(items)``, to call once with the list of work, and ``tick``.
    """
    with contextlib.ExitStack() as stack:
        current: list[Callable[[Any], None]] = [lambda _item: None]

        def start(items: list[Any]) -> None:
            current[0] = stack.enter_context(_progress(env, len(items), label))

        def tick(item: Any) -> None:
            current[0](item)

        yield start, tick


@click.group(cls=Group, context_settings=CONTEXT)
@click.option(
    "--root",
    "root",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Store root. Default: $GITVERSIONS_ROOT, else ~/.skillmeat/collection.",
)
@click.option(
    "--project",
    "project",
    metavar="[DIR]",
    is_flag=False,
    flag_value=".",
    default=None,
    type=click.Path(file_okay=False),
    help="Use the project store DIR/.claude (DIR defaults to the current directory).",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print only results; no progress.")
@click.option("-v", "--verbose", is_flag=True, help="Print more detail.")
@click.version_option(package_name="gitversions")
@click.pass_context
def cli(
    ctx: click.Context,
    root: str | None,
    project: str | None,
    as_json: bool,
    quiet: bool,
    verbose: bool,
) -> None:
    """Version history for Claude Code artifacts, in plain git.

    Every artifact (a skill directory, or a command or agent file) gets its own
    bare git repository; every snapshot is a version named v<n>-<hash>, and
    `export` materializes versions under versions/ with a .version.toml each.

    \b
    Example:
      gitversions snapshot canvas-design ./skills/canvas-design -m "first cut"
      gitversions log canvas-design
      gitversions export canvas-design
    """
    if root is not None and project is not None:
        raise click.UsageError("use either --root or --project, not both")
    env = Env(root, project, as_json, quiet, verbose)
    ctx.obj = env
    ctx.call_on_close(env.close)


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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

    \b
    Example:
      gitversions snapshot canvas-design ./skills/canvas-design \\
          --source anthropics/skills/canvas-design -m "tighten the prompt"
      gitversions snapshot review .claude/commands/review.md
    """
    result = env.store.snapshot(name, src, message=message, source=source, force=force)
    if env.json:
        env.emit({**result.record, "unchanged": not result.created})
    elif result.created:
        env.out(f"{name}: recorded {result.version.id} ({result.record['summary']})")
    else:
        env.out(
            f"{name}: unchanged, still {result.version.id} "
            "(no version created; --force records one anyway)"
        )


@cli.command("list", context_settings=CONTEXT)
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
        versions = artifact.versions()
        latest = artifact.history.latest()
        rows.append(
            {
                "name": name,
                "versions": len(versions),
                "latest": str(latest.id) if latest else None,
            }
        )
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


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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
        old = artifact.history.first_parent(new)
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


@cli.command(context_settings=CONTEXT)
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
    target = to or (artifact.home if fmt == "bundle" else artifact.versions_dir)
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


@cli.command(context_settings=CONTEXT)
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


@cli.command(context_settings=CONTEXT)
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
    built from a git clone) is listed as a note; --repair writes it now, and
    so does the next snapshot or export. --repair also rewrites materialized
    versions (directories or archives) that differ from the history.

    \b
    Example:
      gitversions verify               # every artifact
      gitversions verify canvas-design --repair
    """
    names = [name] if name is not None else env.store.names()
    report: dict[str, list[str]] = {}
    notes: dict[str, list[str]] = {}
    for each in names:
        artifact = env.store.existing(each)
        if repair:
            for line in artifact.repair():
                env.info(f"repaired: {line}")
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
        if any("versions/" in p for problems in bad.values() for p in problems):
            env.info(
                "hint: `gitversions verify NAME --repair` or `gitversions export "
                "NAME --repair` rewrites damaged materialized versions from the "
                "history"
            )
        raise SystemExit(1)


@cli.command(context_settings=CONTEXT)
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
    from .retention import prune as prune_versions

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


@cli.command("snapshot-collection", context_settings=CONTEXT)
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
    from .skillmeat import snapshot_collection as record_collection

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


@cli.command("import-skillmeat", context_settings=CONTEXT)
@click.argument("snapshot_dir", type=click.Path(path_type=Path))
@click.option(
    "--collection",
    metavar="NAME",
    help="The collection's name in the tarballs (default: SNAPSHOT_DIR's name).",
)
@click.option(
    "--dry-run", is_flag=True, help="Write nothing; print what would be created."
)
@pass_env
def import_skillmeat(
    env: Env, snapshot_dir: Path, collection: str | None, dry_run: bool
) -> None:
    """Import SkillMeat tarball snapshots into per-artifact histories.

    Every snapshot listed in SNAPSHOT_DIR/snapshots.toml, oldest first, gives
    each changed skill, command and agent a version with the snapshot's time
    and message. Running it again adds nothing. Unsafe, corrupt or missing
    tarballs are reported and passed over (exit status 1 once the others are
    imported).

    \b
    Example:
      gitversions import-skillmeat ~/.skillmeat/snapshots/default --dry-run
      gitversions import-skillmeat ~/.skillmeat/snapshots/default
    """
    from .skillmeat import import_snapshots

    with _late_progress(env, "importing") as (start, tick):
        report = import_snapshots(
            env.store,
            snapshot_dir,
            collection=collection,
            dry_run=dry_run,
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
    env.info(summary)


@cli.command(context_settings=CONTEXT)
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


@cli.command("hash", context_settings=CONTEXT)
@click.argument("src", type=click.Path(path_type=Path))
@pass_env
def hash_(env: Env, src: Path) -> None:
    """Print the SHA-256 content hash of SRC (what `git write-tree` would say).

    \b
    Example:
      gitversions hash ./skills/canvas-design
    """
    from .hashing import content_hash

    value = content_hash(src, env.store.config.exclude)
    if env.json:
        env.emit({"path": str(src), "hash": value})
    else:
        env.out(value)


@cli.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@pass_env
def validate(env: Env, files: tuple[Path, ...]) -> None:
    """Check .version.toml files, naming each problem; exits 1 if any.

    \b
    Example:
      gitversions validate versions/*/.version.toml
    """
    from .errors import InputError
    from .metadata import validate_version_toml

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


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the command line (the ``gitversions`` console script)."""
    cli.main(args=argv, prog_name="gitversions")
    raise SystemExit(0)  # pragma: no cover - click's standalone mode always exits


from . import _cli_remote  # noqa: E402, F401  registers push, fetch, clone, remote

"""The ``gitversions`` command line: thin commands over :mod:`gitversions.store`.

Each command parses its arguments, makes one library call and prints the result,
as text or (with ``--json``) as JSON. Errors of the library are reported in one
place, :func:`main`: a one-line message on stderr and the error's exit status
(1 for failures the user can act on, 2 for bad usage or bad input).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

import click

from .errors import GitVersionsError
from .materialize import Format
from .store import Artifact, Store, resolve_root

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
            self._store = Store(resolve_root(self.root_option, self.project_option))
        return self._store

    def out(self, text: str) -> None:
        """Print a result line (suppressed by -q unless it is data)."""
        click.echo(text)

    def info(self, text: str) -> None:
        """Print a remark to stderr unless -q."""
        if not self.quiet:
            click.echo(text, err=True)

    def emit(self, data: Any) -> None:
        """Print JSON."""
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))

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
        click.echo(f"gitversions: error: {self.message}", err=True, file=file)


class Group(click.Group):
    """The command group: maps every error to a message and an exit status.

    ``GitVersionsError`` carries its own status (1, or 2 for bad input); an
    ``OSError`` the library did not anticipate is 1; anything else is a bug,
    reported in one line (with the traceback under ``-v``).
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand, translating errors."""
        try:
            return super().invoke(ctx)
        except GitVersionsError as exc:
            raise Failure(str(exc), exc.exit_code) from exc
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise Failure(f"{exc.strerror or exc}{where}", 1) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise click.Abort from None
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


@contextmanager
def _progress(env: Env, total: int, label: str) -> Iterator[Callable[[Any], None]]:
    if not env.show_progress() or total < 2:
        yield lambda _item: None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield lambda _item: bar.update(1)


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
    ctx.obj = Env(root, project, as_json, quiet, verbose)


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
@click.option("--source", "source", metavar="LABEL", help="Where SRC came from.")
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
        env.emit(rows)
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
        env.emit([artifact.record(v) for v in versions])
        return
    for version in versions:
        first_line = version.message.splitlines()[0] if version.message else ""
        summary = artifact.changes(version).summary
        env.out(f"{version.id}  {version.timestamp}  {summary:<24}  {first_line}")


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
        env.emit(artifact.record(version))
    else:
        click.echo(artifact.version_toml(version), nl=False)


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
        click.echo(artifact.patch(old, new), nl=False)
        return
    marks = {
        **dict.fromkeys(changes.added, "A"),
        **dict.fromkeys(changes.modified, "M"),
    }
    marks.update(dict.fromkeys(changes.deleted, "D"))
    for path in changes.files_changed:
        env.out(f"{marks[path]}  {path}")
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
    type=click.Choice(["dir", "tar.gz", "zip", "bundle"]),
    default="dir",
    show_default=True,
    help="Directories, one archive per version, or one git bundle of the history.",
)
@click.option(
    "--repair",
    is_flag=True,
    help="Compare existing version directories file by file; rewrite damaged ones.",
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
    an atomic rename, read-only, with its .version.toml.

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
        )
        return
    env.out(
        f"{name}: {len(result.written)} written, {len(result.intact)} already intact "
        f"in {target}" + (f"; latest -> {result.latest}" if result.latest else "")
    )


@cli.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("ref")
@click.argument("dest", type=click.Path(path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Replace DEST even if it holds content no version records.",
)
@pass_env
def restore(env: Env, name: str, ref: str, dest: Path, force: bool) -> None:
    """Write version REF of NAME into DEST (a rollback), atomically.

    DEST is replaced only once the new content is complete. If DEST holds
    content that no version of NAME records, restore refuses unless --force.

    \b
    Example:
      gitversions restore canvas-design v1 ./skills/canvas-design
    """
    version, written = _artifact(env, name).restore(ref, dest, force=force)
    if env.json:
        env.emit({"id": str(version.id), "dest": str(written)})
    else:
        env.out(f"{name}: restored {version.id} to {written}")


@cli.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@pass_env
def verify(env: Env, name: str | None) -> None:
    """Check histories, content hashes and materialized versions.

    Exits 1 if anything is wrong, naming each problem.

    \b
    Example:
      gitversions verify               # every artifact
      gitversions verify canvas-design
    """
    names = [name] if name else env.store.names()
    report: dict[str, list[str]] = {}
    for each in names:
        artifact = env.store.existing(each)
        report[each] = artifact.verify()
        artifact.close()
    bad = {k: v for k, v in report.items() if v}
    if env.json:
        env.emit({n: {"ok": not p, "problems": p} for n, p in report.items()})
    else:
        for each, problems in report.items():
            if problems:
                for problem in problems:
                    env.out(f"problem: {problem}")
            else:
                env.out(f"ok: {each}")
    if bad:
        raise SystemExit(1)


@cli.command(context_settings=CONTEXT)
@click.argument("name", required=False)
@pass_env
def gc(env: Env, name: str | None) -> None:
    """Pack loose objects (of NAME, or of every artifact).

    \b
    Example:
      gitversions gc
    """
    names = [name] if name else env.store.names()
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
            f"{stats['packs_after']} pack(s)"
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

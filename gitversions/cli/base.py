"""The command group, its options and the one place errors become exit statuses.

Every command receives an :class:`Env` (the store, output mode, progress);
errors of the library are reported here: a one-line message on stderr and the
error's exit status (1 for failures the user can act on, 2 for bad usage or bad
input, 3 for a version recorded whose follow-up failed, 130 for Ctrl-C).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import click

from gitversions.display import printable
from gitversions.errors import GitVersionsError

if TYPE_CHECKING:
    from gitversions.store import Store

__all__ = ["CONTEXT", "Env", "cli", "main", "pass_env"]

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
            from gitversions.store import (  # dulwich loads only when needed
                Store,
                resolve_root,
            )

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


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the command line (the ``gitversions`` console script)."""
    cli.main(args=argv, prog_name="gitversions")
    raise SystemExit(0)  # pragma: no cover - click's standalone mode always exits

"""The command line's ``merge`` (SPEC §7; this slice: the clean cases).

A merge that conflicts records nothing, lists the conflicted paths and exits
1; the merge workspace, ``merge --continue``/``--abort`` and ``resolve`` are
not there yet.
"""

from __future__ import annotations

import click

from gitversions.cli.base import CONTEXT, Env, pass_env
from gitversions.display import printable, quote_path

__all__: list[str] = []


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("ref", required=False)
@click.option("-m", "--message", help="The merge version's message.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; write nothing.")
@click.option(
    "--no-ff", is_flag=True, help="Record a merge version even for a fast-forward."
)
@click.option(
    "-X",
    "favor",
    type=click.Choice(["ours", "theirs"]),
    help="Resolve content conflicts (text hunks, binary files, symlinks) to "
    "this side, as git's -X ours|theirs.",
)
@pass_env
def merge(
    env: Env,
    name: str,
    ref: str | None,
    message: str | None,
    dry_run: bool,
    no_ff: bool,
    favor: str | None,
) -> None:
    """Merge REF (a version, or a fetched remote line) into NAME's main.

    REF is a version REF or a remote line a fetch kept (origin, origin/main);
    default: the one remote line the last fetch brought in. Outcomes: up to
    date; fast-forward (main moves to REF, unless --no-ff); merged (a new
    version with parents [main, REF]); conflict (exit 1: nothing is recorded,
    main does not move, the conflicted paths are listed). The tree rules are
    git's merge-ort without rename detection.

    Not yet: the conflict workspace, merge --continue/--abort, resolve, and
    histories with several merge bases (criss-cross), which are refused.

    \b
    Example:
      gitversions fetch canvas-design
      gitversions merge canvas-design --dry-run
      gitversions merge canvas-design origin -m "Take the team's edits"
    """
    from gitversions.merging import merge as merge_artifact

    result = merge_artifact(
        env.store.existing(name),
        ref,
        message=message,
        no_ff=no_ff,
        dry_run=dry_run,
        favor="ours" if favor == "ours" else "theirs" if favor else None,
    )
    if env.json:
        env.emit(result.to_json())
    else:
        ff, merged = (
            ("would fast-forward", "would merge")
            if dry_run
            else ("fast-forwarded", "merged")
        )
        text = {
            "up-to-date": f"already up to date with {result.theirs}",
            "fast-forward": f"{ff} {result.ours} to {result.theirs}",
            "merged": f"{merged} {result.theirs} into {result.ours}: {result.version}",
            "conflict": f"merging {result.theirs} into {result.ours} conflicts; "
            "nothing was recorded",
        }[result.outcome]
        env.out(printable(f"{name}: {text}"))
        for conflict in result.conflicts:
            env.out(f"  {conflict.label}: {quote_path(conflict.path)}")
    if result.outcome == "conflict":
        raise SystemExit(1)

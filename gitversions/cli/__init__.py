"""The ``gitversions`` command line: thin commands over :mod:`gitversions.store`.

- :mod:`.base`: the group, its global options, :class:`~.base.Env`, and the one
  place where errors become messages and exit statuses;
- :mod:`.commands`: commands on versions (snapshot, log, show, diff, export,
  restore, verify, prune, gc, hash) and SkillMeat imports;
- :mod:`.remote`: push, fetch, clone and ``remote``;
- :mod:`.merging`: merge.

Every command is registered here, explicitly, so this file is the list of them.
"""

from __future__ import annotations

from gitversions.cli import commands, merging, remote
from gitversions.cli.base import cli, main

__all__ = ["cli", "main"]

for _command in (
    commands.init,
    commands.snapshot,
    commands.list_,
    commands.log,
    commands.show,
    commands.diff,
    commands.export,
    commands.restore,
    commands.verify,
    commands.prune,
    commands.gc,
    commands.hash_,
    commands.validate,
    commands.snapshot_collection,
    commands.import_skillmeat,
    remote.push,
    remote.fetch,
    remote.clone,
    remote.remote,
    merging.merge,
):
    cli.add_command(_command)

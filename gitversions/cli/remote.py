"""The command line's remote commands: push, fetch, clone and remote add/list/remove.

Registered on :data:`gitversions.cli.cli` when that module is imported; each
command is a few lines over :mod:`gitversions.remote`. Transfers draw progress
(objects, bytes) on stderr when it is a terminal, and stay silent with ``-q``,
``--json``, or when stderr is not a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from gitversions.cli.base import CONTEXT, Env, pass_env
from gitversions.display import printable

if TYPE_CHECKING:  # dulwich's client loads only when a remote command runs
    from gitversions.git.remote import FetchResult, ProgressFn

__all__: list[str] = []


@contextmanager
def _transfer_progress(env: Env) -> Iterator[ProgressFn | None]:
    """A callback drawing one updating line on stderr, or None when silent."""
    if not env.show_progress():
        yield None
        return
    width = 0

    def show(text: str) -> None:
        nonlocal width
        line = printable(text)[:120]  # the server's own messages ride in here
        sys.stderr.write("\r" + line.ljust(width))
        sys.stderr.flush()
        width = max(width, len(line))

    try:
        yield show
    finally:
        if width:
            sys.stderr.write("\r" + " " * width + "\r")
            sys.stderr.flush()


_NOT_SAVED = (
    "{name}: the credentials in the URL were not saved in history.git/config; "
    "later push and fetch take them from GITVERSIONS_HTTP_USER and "
    "GITVERSIONS_HTTP_PASSWORD or a git credential helper"
)


def _report_fetch(env: Env, name: str, result: FetchResult, verb: str) -> None:
    if env.json:
        env.emit({"name": name, **result.to_json()})
    else:
        new = len(result.adopted)
        text = {
            "fast-forward": f"{new} new version(s), latest {result.head}",
            "forced": f"main moved to the remote's {result.head}; {new} new version(s)",
            "up-to-date": f"up to date at {result.head}",
            "ahead": f"up to date; this history is ahead of {result.remote}",
            "empty": "the remote has no versions yet",
            "diverged": "histories have diverged; nothing local was changed",
            "refused": "the remote's new versions were refused",
        }[result.status]
        if result.status in ("up-to-date", "ahead") and new:
            text += f"; {new} more version(s) from its tags"
        env.out(f"{name}: {verb} {result.url}: {text}")
        if result.exported is not None and result.exported.written:
            env.out(
                f"{name}: materialized {len(result.exported.written)} version(s)"
                + (
                    f"; latest -> {result.exported.latest}"
                    if result.exported.latest
                    else ""
                )
            )
    if not result.ok:
        for line in result.advice(name):
            click.echo(printable(line), err=True)
        raise SystemExit(1)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("url", required=False)
@click.option(
    "--force",
    is_flag=True,
    help="Overwrite the remote's main even if that is not a fast-forward.",
)
@pass_env
def push(env: Env, name: str, url: str | None, force: bool) -> None:
    """Send NAME's history (main and every version tag) to URL or a named remote.

    URL is a path, file://, git://, http(s)://, ssh:// or user@host:path, or
    the name of a remote (default: origin). A remote whose main has versions
    this history lacks is refused unless --force; a remote tag naming another
    commit under a version's id is reported and never overwritten.

    \b
    Example:
      gitversions push canvas-design git@example.com:skills/canvas-design.git
      gitversions push canvas-design            # to the remote named origin
    """
    from gitversions.git import remote as remotes

    artifact = env.store.existing(name)
    with _transfer_progress(env) as progress:
        result = remotes.push(artifact, url, force=force, progress=progress)
    if env.json:
        env.emit({"name": name, **result.to_json()})
    else:
        text = {
            "pushed": f"pushed {len(result.updated)} ref(s)",
            "forced": f"forced main and pushed {len(result.updated)} ref(s)",
            "up-to-date": "everything up to date",
        }[result.status]
        env.out(f"{name}: {result.url}: {text}")
    if not result.ok:
        for collision in result.collisions:
            click.echo(printable(collision.describe()), err=True)
        for ref, reason in result.rejected.items():
            click.echo(printable(f"the remote refused {ref}: {reason}"), err=True)
        raise SystemExit(1)


@click.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("url", required=False)
@click.option(
    "--force",
    is_flag=True,
    help="On divergence, take the remote's head as latest; local-only versions "
    "stay as tagged versions.",
)
@pass_env
def fetch(env: Env, name: str, url: str | None, force: bool) -> None:
    """Bring in NAME's new versions from URL or a named remote (default: origin).

    Commits made with plain git become versions with computed ids. When both
    sides have new versions, nothing local changes: the remote's head is kept at
    refs/remotes/<remote>/main and the choices are printed (exit 1).

    What arrives waits in a quarantine until every new tree passed the safety
    checks: a refused history leaves no object and no ref (exit 1). Refused
    remote tags are summed up in one line; none is kept.

    \b
    Example:
      gitversions fetch canvas-design
    """
    from gitversions.git import remote as remotes

    artifact = env.store.existing(name)
    with _transfer_progress(env) as progress:
        result = remotes.fetch(artifact, url, force=force, progress=progress)
    _report_fetch(env, name, result, "fetched from")


@click.command(context_settings=CONTEXT)
@click.argument("url")
@click.argument("name")
@pass_env
def clone(env: Env, url: str, name: str) -> None:
    """Create artifact NAME from the history at URL (a remote or a bundle file).

    URL is saved as the remote origin, without credentials: a password in URL
    serves this clone only.

    \b
    Example:
      gitversions clone https://example.com/skills/canvas-design.git canvas-design
      gitversions clone ./canvas-design.bundle canvas-design
    """
    from gitversions.git import remote as remotes
    from gitversions.git.transport import strip_credentials

    with _transfer_progress(env) as progress:
        result = remotes.clone(env.store, url, name, progress=progress)
    if strip_credentials(url) != url:
        env.info(_NOT_SAVED.format(name=name))
    _report_fetch(env, name, result, "cloned")


@click.group(context_settings=CONTEXT)
def remote() -> None:
    """Name the remotes of an artifact (stored in its history's git config).

    \b
    Example:
      gitversions remote add canvas-design origin https://example.com/cd.git
      gitversions remote list canvas-design
    """


@remote.command("add", context_settings=CONTEXT)
@click.argument("name")
@click.argument("remote_name", metavar="REMOTE")
@click.argument("url")
@pass_env
def remote_add(env: Env, name: str, remote_name: str, url: str) -> None:
    """Name URL as REMOTE of artifact NAME (origin is the default for push/fetch).

    URL is saved in the history's git config without credentials (a password;
    for http(s) the user name too). Give those to push and fetch with
    GITVERSIONS_HTTP_USER and GITVERSIONS_HTTP_PASSWORD, or a git credential
    helper.
    """
    from gitversions.git import remote as remotes
    from gitversions.git.transport import redact_url

    saved = remotes.add_remote(env.store.existing(name), remote_name, url)
    if saved != url:
        env.info(_NOT_SAVED.format(name=name))
    if env.json:
        env.emit({"name": name, "remote": remote_name, "url": redact_url(saved)})
    else:
        env.out(f"{name}: remote {remote_name} -> {redact_url(saved)}")


@remote.command("list", context_settings=CONTEXT)
@click.argument("name")
@pass_env
def remote_list(env: Env, name: str) -> None:
    """List the remotes of artifact NAME (URLs shown without credentials)."""
    from gitversions.git import remote as remotes
    from gitversions.git.transport import redact_url

    found = remotes.list_remotes(env.store.existing(name).history)
    if env.json:
        env.emit({k: redact_url(v) for k, v in found.items()})
        return
    if not found:
        env.info(f"{name}: no remotes")
    for remote_name, url in found.items():
        env.out(f"{remote_name}\t{redact_url(url)}")


@remote.command("remove", context_settings=CONTEXT)
@click.argument("name")
@click.argument("remote_name", metavar="REMOTE")
@pass_env
def remote_remove(env: Env, name: str, remote_name: str) -> None:
    """Forget REMOTE of artifact NAME and its remote-tracking refs."""
    from gitversions.git import remote as remotes

    remotes.remove_remote(env.store.existing(name), remote_name)
    if env.json:
        env.emit({"name": name, "removed": remote_name})
    else:
        env.out(f"{name}: removed remote {remote_name}")

"""Reaching remotes: URLs, credentials, ssh, TLS, and dulwich's errors translated.

Every transfer goes through :func:`with_client`, which builds a dulwich client
for a URL, runs one operation with it, and turns whatever goes wrong into a
:class:`~gitversions.errors.GitVersionsError` whose message never shows a secret.

URLs, as git spells them:

- a local path (``/srv/skill.git``, ``../skill.git``) or ``file:///srv/skill.git``;
  a path to a git bundle file is read as a bundle;
- ``git://host[:port]/path`` (git daemon);
- ``http[s]://[user[:password]@]host[:port]/path`` (smart HTTP);
- ``ssh://[user@]host[:port]/path`` and the scp-like ``[user@]host:path``.

HTTP credentials come, in order, from the URL, from ``GITVERSIONS_HTTP_USER`` and
``GITVERSIONS_HTTP_PASSWORD``, and from git's credential helpers
(``credential.helper`` in the artifact's, the user's or the system's git
configuration), asked only once the server answers 401. Helpers are run
directly (``git-credential-<name>`` on PATH, an absolute path, or a ``!`` shell
snippet; ``store`` is read without git), so no ``git`` program is needed.

TLS certificates are checked against the system store; ``GIT_SSL_CAINFO`` (or
``http.sslCAInfo``, or OpenSSL's ``SSL_CERT_FILE``) names another bundle, and
``GIT_SSL_NO_VERIFY`` turns checking off as it does for git.

ssh runs the system ``ssh`` (dulwich's ``SubprocessSSHVendor``), or the command
in ``GIT_SSH_COMMAND``, ``GIT_SSH`` or ``core.sshCommand``, in that order.
"""

from __future__ import annotations

import errno
import os
import re
import shlex
import shutil
import subprocess
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import unquote, urlparse, urlunparse

from dulwich.client import (
    BundleClient,
    GitClient,
    HTTPProxyUnauthorized,
    HTTPUnauthorized,
    LocalGitClient,
    StrangeHostname,
    get_credentials_from_store,
    get_transport_and_path,
)
from dulwich.config import ConfigDict, ConfigFile, StackedConfig, env_config
from dulwich.credentials import urlmatch_credential_sections
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository

from gitversions.errors import GitVersionsError, InputError, RemoteError

__all__ = [
    "ENV_PASSWORD",
    "ENV_USER",
    "Credential",
    "Kind",
    "build_config",
    "credential_candidates",
    "local_path",
    "redact",
    "redact_url",
    "ssh_command_from_env",
    "strip_credentials",
    "url_kind",
    "with_client",
]

ENV_USER = "GITVERSIONS_HTTP_USER"
ENV_PASSWORD = "GITVERSIONS_HTTP_PASSWORD"  # noqa: S105 - a variable name
HELPER_TIMEOUT = 60.0
MASK = "***"

Kind = Literal["local", "bundle", "file", "git", "http", "https", "ssh"]
T = TypeVar("T")

_SCHEMES: dict[str, Kind] = {
    "file": "file",
    "git": "git",
    "http": "http",
    "https": "https",
    "ssh": "ssh",
    "git+ssh": "ssh",
    "ssh+git": "ssh",
}
_SCHEME_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
# userinfo of any URL inside a message: scheme://userinfo@
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/@\s'\"]+)@")


# -- URLs -----------------------------------------------------------------------


def _is_scp_like(url: str) -> bool:
    """Git's rule: ``host:path`` when a colon comes before any slash."""
    colon = url.find(":")
    if colon <= 0:
        return False
    slash = url.find("/")
    return slash == -1 or colon < slash


def url_kind(url: str) -> Kind:
    """Tell which transport a URL or path uses.

    Args:
        url: What the user typed.

    Returns:
        ``"local"`` (a path to a repository), ``"bundle"`` (a path to a bundle
        file), or the scheme: ``"file"``, ``"git"``, ``"http"``, ``"https"``,
        ``"ssh"`` (also for scp-like ``user@host:path``).

    Raises:
        InputError: For an empty URL or a scheme no transport serves.
    """
    if not url or not url.strip():
        raise InputError("the remote URL is empty")
    match = _SCHEME_URL.match(url)
    if match:
        scheme = match.group(1).lower()
        if scheme not in _SCHEMES:
            raise InputError(
                f"unsupported URL scheme {scheme!r} in {redact_url(url)} (use a path, "
                "file://, git://, http://, https://, ssh:// or user@host:path)"
            )
        return _SCHEMES[scheme]
    if _is_scp_like(url):
        return "ssh"
    path = Path(url).expanduser()
    if path.is_file() and BundleClient._is_bundle_file(str(path)):
        return "bundle"
    return "local"


def local_path(url: str) -> Path | None:
    """Return the filesystem path a local or ``file://`` URL names, else None."""
    kind = url_kind(url)
    if kind in ("local", "bundle"):
        return Path(url).expanduser().absolute()
    if kind == "file":
        return Path(unquote(urlparse(url).path))
    return None


def redact_url(url: str) -> str:
    """Return ``url`` fit to show: no password, and no userinfo at all for http(s).

    An http(s) user name is often a token, so the whole ``user:password@`` part
    becomes ``***@``; other schemes keep the user name (``ssh://git@host``) and
    lose only a password. Paths and scp-like ``user@host:path`` are unchanged.

    Example:
        >>> redact_url("https://alice:s3cret@example.com/a.git")
        'https://***@example.com/a.git'
        >>> redact_url("ssh://git:pw@example.com/a.git")
        'ssh://git:***@example.com/a.git'
    """
    match = _SCHEME_URL.match(url)
    if not match:
        return url
    try:
        parsed = urlparse(url)
    except ValueError:
        return _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", url)
    if "@" not in parsed.netloc:
        return url
    userinfo, _, hostport = parsed.netloc.rpartition("@")
    if parsed.scheme.lower() in ("http", "https"):
        shown = MASK
    elif ":" in userinfo:
        shown = f"{userinfo.split(':', 1)[0]}:{MASK}"
    else:
        return url
    return urlunparse(parsed._replace(netloc=f"{shown}@{hostport}"))


def strip_credentials(url: str) -> str:
    """Return ``url`` as it may be saved: without the secrets :func:`redact_url` hides.

    http(s) URLs lose their whole ``user:password@`` part (the user name is
    often a token); other schemes lose only a password (``ssh://git@host``
    keeps its user). Paths and scp-like ``user@host:path`` are unchanged. The
    rest of the URL is kept character for character.

    Example:
        >>> strip_credentials("https://alice:s3cret@example.com/a.git")
        'https://example.com/a.git'
        >>> strip_credentials("ssh://git:pw@example.com/a.git")
        'ssh://git@example.com/a.git'
    """
    match = _SCHEME_URL.match(url)
    if not match:
        return url
    start = match.end()
    end = min((i for c in "/?#" if (i := url.find(c, start)) >= 0), default=len(url))
    userinfo, at, hostport = url[start:end].rpartition("@")
    if not at:
        return url
    if match.group(1).lower() in ("http", "https"):
        kept = ""
    elif ":" in userinfo:
        kept = userinfo.split(":", 1)[0] + "@"
    else:
        return url
    return url[:start] + kept + hostport + url[end:]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Remove secrets from a message: URL userinfo and the given strings.

    Args:
        text: A message that may quote URLs or credentials.
        secrets: Passwords or tokens that must not appear, in any form.

    Returns:
        The text with every URL redacted by :func:`redact_url` and every secret
        (also URL-quoted) replaced by ``***``.
    """
    text = _USERINFO.sub(lambda m: redact_url(m.group(0) + "x")[:-1], text)
    from urllib.parse import quote

    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, MASK)
    return text


def _url_secrets(url: str) -> set[str]:
    if not _SCHEME_URL.match(url):
        return set()
    try:
        parsed = urlparse(url)
    except ValueError:
        return set()
    found = set()
    if parsed.password:
        found |= {parsed.password, unquote(parsed.password)}
    if parsed.scheme.lower() in ("http", "https") and parsed.username:
        found |= {parsed.username, unquote(parsed.username)}
    return found


def _strip_userinfo(url: str) -> str:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parsed.port}" if parsed.port else host
    return urlunparse(parsed._replace(netloc=netloc))


# -- configuration ----------------------------------------------------------------


def build_config(
    repo_config: ConfigFile | None = None,
    env: Mapping[str, str] | None = None,
) -> StackedConfig:
    """The git configuration a transfer reads, most specific first.

    Args:
        repo_config: The artifact repository's own ``config``, if any.
        env: The environment for the variables below (default ``os.environ``);
            the user's and system's files are found as git finds them
            (``GIT_CONFIG_GLOBAL``, ``GIT_CONFIG_NOSYSTEM``...) in ``os.environ``.

    Returns:
        A stack of: settings from the environment (``GIT_SSL_CAINFO``,
        ``GIT_SSL_NO_VERIFY``, ``GIT_CONFIG_COUNT``...), the repository's config,
        the user's and the system's git configuration.
    """
    environ = os.environ if env is None else env
    from_env = ConfigDict()
    if environ.get("GIT_SSL_CAINFO"):
        from_env.set((b"http",), b"sslCAInfo", os.fsencode(environ["GIT_SSL_CAINFO"]))
    no_verify = environ.get("GIT_SSL_NO_VERIFY", "").lower()
    if no_verify and no_verify not in ("0", "false", "no", "off"):
        from_env.set((b"http",), b"sslVerify", b"false")
    backends: list[ConfigFile] = []
    try:
        overrides = env_config(environ)
    except ValueError as exc:
        raise InputError(f"bad git configuration in the environment: {exc}") from exc
    if overrides is not None:
        backends.append(overrides)
    if repo_config is not None:
        backends.append(repo_config)
    backends.extend(StackedConfig.default_backends())
    return StackedConfig([from_env, *backends])  # type: ignore[list-item]


def ssh_command_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """The ssh command git would run: ``GIT_SSH_COMMAND``, else ``GIT_SSH``.

    ``GIT_SSH`` names a program without arguments, so it is quoted as one word.
    None means: ``core.sshCommand`` if configured, else ``ssh``.
    """
    environ = os.environ if env is None else env
    if environ.get("GIT_SSH_COMMAND"):
        return environ["GIT_SSH_COMMAND"]
    if environ.get("GIT_SSH"):
        return shlex.quote(environ["GIT_SSH"])
    return None


# -- credentials ----------------------------------------------------------------


@dataclass(frozen=True)
class Credential:
    """A user name and password for an HTTP remote, and where they came from.

    The password never appears in ``repr``.
    """

    username: str
    password: str = field(repr=False)
    source: str = ""
    helper: str | None = field(default=None, repr=False)


def _describe(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    host = parsed.hostname or ""
    if parsed.port:
        host = f"{host}:{parsed.port}"
    return {"protocol": parsed.scheme, "host": host, "path": parsed.path.lstrip("/")}


def _helper_argv(helper: str, action: str) -> list[str] | None:
    """The command that runs ``helper`` for ``action``, as git would, without git."""
    if helper.startswith("!"):
        return ["/bin/sh", "-c", f"{helper[1:]} {action}"]
    words = shlex.split(helper)
    if not words:
        return None
    if os.path.isabs(os.path.expanduser(words[0])):
        return ["/bin/sh", "-c", f"{helper} {action}"]
    program = shutil.which(f"git-credential-{words[0]}")
    if program is None:
        for directory in ("/usr/lib/git-core", "/usr/libexec/git-core"):
            candidate = Path(directory) / f"git-credential-{words[0]}"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                program = str(candidate)
                break
    if program is None:
        return None
    return [program, *words[1:], action]


def _run_helper(
    helper: str, action: str, fields: Mapping[str, str]
) -> dict[str, str] | None:
    argv = _helper_argv(helper, action)
    if argv is None:
        return None
    text = "".join(f"{k}={v}\n" for k, v in fields.items() if v) + "\n"
    try:
        proc = subprocess.run(
            argv,
            input=text.encode("utf-8"),
            capture_output=True,
            timeout=HELPER_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    answer: dict[str, str] = {}
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            answer[key.strip()] = value
    return answer


def _store_helper(helper: str, url: str, username: str | None) -> Credential | None:
    """The ``store`` helper, read directly (``store [--file=PATH]``)."""
    words = shlex.split(helper)
    files = [
        os.path.expanduser(w.split("=", 1)[1]) for w in words if w.startswith("--file=")
    ]
    parsed = urlparse(url)
    kwargs = {"fnames": files} if files else {}
    for user, password in get_credentials_from_store(
        parsed.scheme, parsed.hostname or "", username, **kwargs
    ):
        return Credential(user, password, "git credential store", None)
    return None


def _helpers(config: StackedConfig, url: str) -> list[str]:
    helpers: list[str] = []
    # Least specific configuration first; an empty value clears the list.
    for backend in reversed(config.backends):
        if not isinstance(backend, ConfigDict):
            continue
        for section in urlmatch_credential_sections(backend, url):
            try:
                values = list(backend.get_multivar(section, b"helper"))
            except KeyError:
                continue
            for value in values:
                text = value.decode("utf-8", "replace").strip()
                if text:
                    helpers.append(text)
                else:
                    helpers.clear()
    return helpers


def credential_candidates(
    url: str,
    config: StackedConfig,
    env: Mapping[str, str] | None = None,
) -> Iterator[Credential]:
    """Credentials to try for an http(s) URL that answered 401, in order.

    Args:
        url: The remote URL (its user name, if any, narrows the search).
        config: Where ``credential.helper`` is looked up.
        env: The environment (default ``os.environ``).

    Yields:
        The environment's pair, then each helper's answer.
    """
    environ = os.environ if env is None else env
    parsed = urlparse(url)
    wanted = unquote(parsed.username) if parsed.username else None
    password = environ.get(ENV_PASSWORD)
    if password:
        user = environ.get(ENV_USER) or wanted or "git"
        if wanted is None or user == wanted:
            yield Credential(user, password, f"${ENV_USER}/${ENV_PASSWORD}")
    plain = _strip_userinfo(url)
    fields = _describe(plain)
    fields["path"] = ""  # git sends the path only with credential.useHttpPath
    if wanted:
        fields["username"] = wanted
    for helper in _helpers(config, plain):
        name = shlex.split(helper)[0] if not helper.startswith("!") else ""
        if name == "store":
            found = _store_helper(helper, plain, wanted)
            if found is not None:
                yield found
            continue
        answer = _run_helper(helper, "get", fields)
        if answer is None:
            continue
        if answer.get("username") and answer.get("password"):
            yield Credential(
                answer["username"],
                answer["password"],
                f"credential helper {name or helper.split()[0]!r}",
                helper,
            )
        if answer.get("quit", "").lower() in ("1", "true", "yes", "on"):
            return


def _tell_helper(credential: Credential, url: str, action: str) -> None:
    """``approve`` (store) or ``reject`` (erase) a helper's credential."""
    if credential.helper is None:
        return
    fields = _describe(_strip_userinfo(url))
    fields["path"] = ""
    fields["username"] = credential.username
    fields["password"] = credential.password
    _run_helper(credential.helper, action, fields)


# -- clients and errors ---------------------------------------------------------


def _make_client(
    url: str,
    kind: Kind,
    config: StackedConfig,
    operation: str,
    credential: Credential | None,
) -> tuple[GitClient, str]:
    if kind in ("local", "file"):
        where = local_path(url)
        assert where is not None
        return LocalGitClient(), str(where)
    if kind == "bundle":
        return BundleClient(), str(Path(url).expanduser().absolute())
    location = url
    username = password = None
    if credential is not None:
        location = _strip_userinfo(url)
        username, password = credential.username, credential.password
    ssh_command = ssh_command_from_env() if kind == "ssh" else None
    return get_transport_and_path(
        location,
        config=config,
        operation=operation,
        ssh_command=ssh_command,
        username=username,
        password=password,
    )


# Errors of the local disk, which no connection raises: a fetch that meets one
# was writing what it received.
_LOCAL_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})


def translate_error(exc: BaseException, url: str, secrets: Iterable[str]) -> Exception:
    """Turn an error met while talking to ``url`` into a gitversions error.

    Args:
        exc: What dulwich, urllib3 or the operating system raised.
        url: The remote as the user gave it.
        secrets: Strings that must not appear in the message.

    Returns:
        A :class:`RemoteError` (or :class:`InputError` for a malformed URL) with a
        message that names the remote without its credentials; a full or
        read-only local disk stays an ``OSError`` (it is not the remote's).
    """
    shown = redact_url(url)
    if isinstance(exc, GitVersionsError):
        return exc
    if isinstance(exc, OSError) and exc.errno in _LOCAL_DISK_ERRORS:
        return exc  # writing what was received here: not the remote's fault
    if isinstance(exc, HTTPUnauthorized):
        return RemoteError(
            f"{shown}: authentication failed (HTTP 401); give credentials in the "
            f"URL, in ${ENV_USER} and ${ENV_PASSWORD}, or through a git "
            "credential helper"
        )
    if isinstance(exc, HTTPProxyUnauthorized):
        return RemoteError(f"{shown}: the HTTP proxy requires authentication (407)")
    if isinstance(exc, NotGitRepository):
        return RemoteError(f"{shown}: not a git repository, or it does not exist")
    if isinstance(exc, StrangeHostname):
        return InputError(f"{shown}: refusing the ssh host name {exc.args[0]!r}")
    if isinstance(exc, HangupException):
        lines = [
            line.decode("utf-8", "replace").strip()
            for line in (exc.stderr_lines or [])
            if line.strip()
        ]
        detail = "; ".join(lines[-3:]) or "the remote end hung up unexpectedly"
        return RemoteError(redact(f"{shown}: {detail}", secrets))
    if isinstance(exc, GitProtocolError):
        text = str(exc).strip() or type(exc).__name__
        if "CERTIFICATE_VERIFY_FAILED" in text:
            text = (
                "the server's TLS certificate is not trusted (set GIT_SSL_CAINFO "
                "or http.sslCAInfo to its CA bundle)"
            )
        elif "404" in text:
            text = "not a git repository, or it does not exist (HTTP 404)"
        return RemoteError(redact(f"{shown}: {text}", secrets))
    if isinstance(exc, ConnectionError | TimeoutError) or (
        isinstance(exc, OSError) and not isinstance(exc, FileNotFoundError)
    ):
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        return RemoteError(redact(f"{shown}: cannot connect: {reason}", secrets))
    if isinstance(exc, FileNotFoundError):
        return RemoteError(redact(f"{shown}: no such file or directory", secrets))
    if isinstance(exc, ValueError):
        return InputError(redact(f"{shown}: {exc}", secrets))
    return RemoteError(redact(f"{shown}: {type(exc).__name__}: {exc}", secrets))


def with_client(
    url: str,
    config: StackedConfig,
    operation: Literal["pull", "push"],
    action: Callable[[GitClient, str], T],
) -> T:
    """Run ``action(client, path)`` against ``url``, asking for credentials on 401.

    Args:
        url: The remote.
        config: Git configuration (TLS, helpers, ssh command, proxies).
        operation: ``"pull"`` or ``"push"`` (for ``pushInsteadOf``).
        action: The transfer; it may be called again with credentials after a
            401, which servers send before any ref is updated.

    Returns:
        What ``action`` returned.

    Raises:
        RemoteError: If the remote cannot be reached, refuses the credentials, or
            fails; the message holds no secret.
    """
    kind = url_kind(url)
    secrets = _url_secrets(url)
    has_password = bool(secrets) and urlparse(url).password is not None
    candidates: Iterator[Credential] = iter(())
    if kind in ("http", "https") and not has_password:
        candidates = credential_candidates(url, config)
    credential: Credential | None = None
    while True:
        try:
            client, path = _make_client(url, kind, config, operation, credential)
        except Exception as exc:
            raise translate_error(exc, url, secrets) from None
        try:
            with warnings.catch_warnings():
                # Only raised once the user turned verification off; git is quiet.
                warnings.filterwarnings("ignore", "Unverified HTTPS request")
                result = action(client, path)
        except HTTPUnauthorized as exc:
            if credential is not None:
                _tell_helper(credential, url, "erase")
            try:
                credential = next(candidates)
            except StopIteration:
                raise translate_error(exc, url, secrets) from None
            except Exception as error:  # a broken helper: report, keep secrets out
                raise RemoteError(
                    redact(f"{redact_url(url)}: credential helper failed: {error}")
                ) from None
            secrets |= {credential.password}
            continue
        except GitVersionsError:
            raise
        except Exception as exc:
            raise translate_error(exc, url, secrets) from None
        finally:
            client.close()
        if credential is not None:
            _tell_helper(credential, url, "store")
        return result

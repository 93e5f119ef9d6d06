"""The transport layer without a network: URLs, redaction, configuration, helpers."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from dulwich.client import HTTPUnauthorized
from dulwich.errors import GitProtocolError, HangupException, NotGitRepository

from gitversions.errors import InputError, RemoteError
from gitversions.git import transport
from gitversions.git.transport import (
    Credential,
    build_config,
    credential_candidates,
    redact,
    redact_url,
    ssh_command_from_env,
    strip_credentials,
    translate_error,
    url_kind,
)

REDACTIONS = [
    ("https://alice:s3cret@example.com/a.git", "https://***@example.com/a.git"),
    ("https://ghp_TOKEN@example.com/a.git", "https://***@example.com/a.git"),
    ("http://u:p@127.0.0.1:8080/git/x", "http://***@127.0.0.1:8080/git/x"),
    ("ssh://git:pw@example.com/a.git", "ssh://git:***@example.com/a.git"),
    ("ssh://git@example.com:2222/a.git", "ssh://git@example.com:2222/a.git"),
    ("git@example.com:skills/a.git", "git@example.com:skills/a.git"),
    ("git://example.com/a.git", "git://example.com/a.git"),
    ("/srv/a.git", "/srv/a.git"),
    ("file:///srv/a.git", "file:///srv/a.git"),
    ("https://example.com/a.git", "https://example.com/a.git"),
]


@pytest.mark.parametrize(("url", "shown"), REDACTIONS)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


SAVED = [
    ("https://alice:s3cret@example.com/a.git", "https://example.com/a.git"),
    ("https://ghp_TOKEN@example.com/a.git", "https://example.com/a.git"),
    ("HTTP://u:p@127.0.0.1:8080/git/x?y#z", "HTTP://127.0.0.1:8080/git/x?y#z"),
    ("https://u:p@ss@h/x", "https://h/x"),  # an unquoted @ in the password
    ("https://u:p@[::1]:8443/x", "https://[::1]:8443/x"),
    ("ssh://git:pw@example.com/a.git", "ssh://git@example.com/a.git"),
    ("git://u:pw@h/a.git", "git://u@h/a.git"),
    ("ssh://git@example.com:2222/a.git", "ssh://git@example.com:2222/a.git"),
    ("git@example.com:skills/a.git", "git@example.com:skills/a.git"),
    ("https://example.com/a@b.git", "https://example.com/a@b.git"),
    ("/srv/a@b.git", "/srv/a@b.git"),
    ("file:///srv/a@b.git", "file:///srv/a@b.git"),
]


@pytest.mark.parametrize(("url", "saved"), SAVED)
def test_strip_credentials_keeps_everything_but_the_secrets(
    url: str, saved: str
) -> None:
    assert strip_credentials(url) == saved
    # what is saved has nothing left to hide
    assert redact_url(saved) == saved


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS])
def test_a_full_local_disk_is_not_blamed_on_the_remote(code: int) -> None:
    # Met while writing the received pack: "cannot connect" would mislead.
    exc = OSError(code, os.strerror(code))
    assert translate_error(exc, "https://alice:pw@h/x", ["pw"]) is exc
    refused = translate_error(ConnectionRefusedError(111, "refused"), "https://h/x", [])
    assert isinstance(refused, RemoteError)


def test_redact_text_and_secrets() -> None:
    text = "failed for https://alice:s3cret@h/x and ssh://u:pw@h/y; token s3cret"
    out = redact(text, ["s3cret"])
    assert "s3cret" not in out and "alice" not in out and ":pw@" not in out
    assert "https://***@h/x" in out and "ssh://u:***@h/y" in out
    assert redact("p%40ss and p@ss", ["p@ss"]) == "*** and ***"


KINDS = [
    ("/srv/a.git", "local"),
    ("../a.git", "local"),
    ("a.git", "local"),
    ("./dir:with/colon", "local"),
    ("file:///srv/a.git", "file"),
    ("git://h/a.git", "git"),
    ("http://h/a.git", "http"),
    ("HTTPS://h/a.git", "https"),
    ("ssh://git@h/a.git", "ssh"),
    ("git+ssh://h/a.git", "ssh"),
    ("git@h:a.git", "ssh"),
    ("h:a.git", "ssh"),
]


@pytest.mark.parametrize(("url", "kind"), KINDS)
def test_url_kind(url: str, kind: str) -> None:
    assert url_kind(url) == kind


def test_url_kind_refuses(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty"):
        url_kind(" ")
    with pytest.raises(InputError, match="unsupported URL scheme 'ftp'"):
        url_kind("ftp://u:pw@h/x")
    bundle = tmp_path / "x.bundle"
    bundle.write_bytes(b"# v2 git bundle\n\n")
    assert url_kind(str(bundle)) == "bundle"
    assert transport.local_path(f"file://{tmp_path}/a%20b.git") == tmp_path / "a b.git"
    assert transport.local_path("git://h/x") is None


def test_ssh_command_from_env() -> None:
    assert ssh_command_from_env({}) is None
    assert ssh_command_from_env({"GIT_SSH_COMMAND": "ssh -p 2"}) == "ssh -p 2"
    assert ssh_command_from_env({"GIT_SSH": "/opt/my ssh"}) == "'/opt/my ssh'"
    both = {"GIT_SSH_COMMAND": "a", "GIT_SSH": "b"}
    assert ssh_command_from_env(both) == "a"


def test_build_config_from_environment(tmp_path: Path) -> None:
    env = {
        "GIT_SSL_CAINFO": "/ca.pem",
        "GIT_SSL_NO_VERIFY": "true",
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.proxy",
        "GIT_CONFIG_VALUE_0": "http://proxy:3128",
    }
    config = build_config(None, env)
    assert config.get((b"http",), b"sslCAInfo") == b"/ca.pem"
    assert config.get((b"http",), b"sslVerify") == b"false"
    assert config.get((b"http",), b"proxy") == b"http://proxy:3128"
    off = build_config(None, {"GIT_SSL_NO_VERIFY": "0"})
    with pytest.raises(KeyError):
        off.get((b"http",), b"sslVerify")
    with pytest.raises(InputError, match="environment"):
        build_config(None, {"GIT_CONFIG_COUNT": "x"})


def test_credential_repr_hides_password() -> None:
    cred = Credential("alice", "s3cret", "env")
    assert "s3cret" not in repr(cred)


def _config_with_helpers(tmp_path: Path, *helpers: str):
    """The user's configuration (GIT_CONFIG_GLOBAL, set by the test) with helpers."""
    path = tmp_path / "gitconfig"
    lines = ["[credential]"] + [f"\thelper = {h}" for h in helpers]
    path.write_text("\n".join(lines) + "\n")
    return build_config(None, {"GIT_CONFIG_GLOBAL": str(path)})


def test_credential_candidates_order_and_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = tmp_path / "h.sh"
    helper.write_text(
        "#!/bin/sh\ncat > /dev/null\necho username=bob\necho password=from-helper\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    config = _config_with_helpers(tmp_path, str(helper))
    env = {"GITVERSIONS_HTTP_PASSWORD": "tok"}
    found = list(credential_candidates("https://h/x.git", config, env))
    assert [(c.username, c.password) for c in found] == [
        ("git", "tok"),
        ("bob", "from-helper"),
    ]
    # A user name in the URL narrows the environment's pair.
    named = list(
        credential_candidates(
            "https://carol@h/x.git",
            config,
            {"GITVERSIONS_HTTP_USER": "dave", "GITVERSIONS_HTTP_PASSWORD": "t"},
        )
    )
    assert [c.username for c in named] == ["bob"]


def test_credential_helpers_reset_quit_and_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    quitter = tmp_path / "quit.sh"
    quitter.write_text("#!/bin/sh\ncat > /dev/null\necho quit=1\n")
    quitter.chmod(0o755)
    never = tmp_path / "never.sh"
    never.write_text("#!/bin/sh\necho username=x\necho password=y\n")
    never.chmod(0o755)
    failing = tmp_path / "fail.sh"
    failing.write_text("#!/bin/sh\nexit 3\n")
    failing.chmod(0o755)
    # An empty value clears the helpers configured before it.
    config = _config_with_helpers(
        tmp_path,
        str(never),
        "",
        "no-such-helper-anywhere",
        str(failing),
        str(quitter),
        str(never),
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    assert list(credential_candidates("https://h/x.git", config, {})) == []


def test_store_helper_reads_credentials_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    creds = tmp_path / "creds"
    creds.write_text("https://erin:pw1@h\nhttps://frank:pw2@other\n")
    config = _config_with_helpers(tmp_path, f"store --file={creds}")
    found = list(credential_candidates("https://h/x.git", config, {}))
    assert [(c.username, c.password) for c in found] == [("erin", "pw1")]


ERRORS = [
    (HTTPUnauthorized("Basic", "https://h/x"), "authentication failed"),
    (NotGitRepository(), "not a git repository"),
    (HangupException([b"fatal: nope", b""]), "fatal: nope"),
    (HangupException(), "hung up"),
    (GitProtocolError("unexpected http resp 404 for x"), "HTTP 404"),
    (GitProtocolError("[SSL: CERTIFICATE_VERIFY_FAILED] x"), "GIT_SSL_CAINFO"),
    (ConnectionRefusedError(111, "Connection refused"), "cannot connect"),
    (FileNotFoundError(2, "No such file"), "no such file"),
    (RuntimeError("odd"), "RuntimeError: odd"),
]


@pytest.mark.parametrize(("exc", "words"), ERRORS)
def test_translate_error(exc: BaseException, words: str) -> None:
    url = "https://alice:s3cret@h/x.git"
    error = translate_error(exc, url, {"s3cret", "alice"})
    assert isinstance(error, RemoteError)
    assert words in str(error)
    assert "s3cret" not in str(error) and "alice" not in str(error)


def test_translate_error_input_errors() -> None:
    assert isinstance(translate_error(ValueError("bad"), "x", ()), InputError)
    same = InputError("mine")
    assert translate_error(same, "x", ()) is same


def test_with_client_reports_broken_helper(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kw: object):
        raise OSError("helper exploded with s3cret")
        yield  # pragma: no cover

    monkeypatch.setattr(transport, "credential_candidates", boom)

    def action(_client: object, _path: str) -> None:
        raise HTTPUnauthorized("Basic", "https://h/x")

    with pytest.raises(RemoteError, match="credential helper failed"):
        transport.with_client("https://h/x.git", build_config(None, {}), "pull", action)


def test_helper_argv_forms(tmp_path: Path) -> None:
    assert transport._helper_argv("!echo hi", "get") == ["/bin/sh", "-c", "echo hi get"]
    assert transport._helper_argv("/opt/h --x", "get") == [
        "/bin/sh",
        "-c",
        "/opt/h --x get",
    ]
    assert transport._helper_argv("", "get") is None
    assert transport._helper_argv("surely-missing-helper", "get") is None

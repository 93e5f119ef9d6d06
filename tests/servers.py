"""Real git servers on 127.0.0.1 for the remote tests, started and stopped by fixtures.

- :class:`GitDaemon`: ``git daemon`` with receive-pack enabled (``git://``);
- :class:`HttpServer`: ``git http-backend`` as CGI behind lighttpd (``http://``),
  or behind lighttpd with TLS and Basic authentication (``https://``);
- :class:`SshServer`: OpenSSH ``sshd`` with a throwaway host key and client key
  (``ssh://`` and scp-like ``user@host:path``), reached through ``GIT_SSH_COMMAND``.

Each serves the bare repositories under one base directory. ``scripts/ci-deps.sh``
installs the Debian packages they need; where a program truly cannot be had, the
fixture skips and names it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

GIT = shutil.which("git")
SBIN = ("/usr/sbin", "/usr/local/sbin", "/sbin")
START_TIMEOUT = 15.0


def find_program(name: str) -> str | None:
    """Find ``name`` on PATH or in the sbin directories (where daemons live)."""
    found = shutil.which(name)
    if found:
        return found
    for directory in SBIN:
        candidate = Path(directory) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def require(name: str, package: str) -> str:
    """Return the program's path, or skip the test saying what is missing."""
    path = find_program(name)
    if path is None:
        pytest.skip(
            f"{name} is not installed (Debian package {package}; "
            "run scripts/ci-deps.sh as root to install it)"
        )
    return path


def git_exec_path() -> Path:
    """Where git keeps its helper programs (git-http-backend, git-daemon)."""
    assert GIT is not None
    out = subprocess.run(
        [GIT, "--exec-path"], capture_output=True, text=True, check=True
    ).stdout
    return Path(out.strip())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until something accepts connections on ``port``, or fail with the log."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.05)
    stop(proc)
    text = log.read_text("utf-8", "replace") if log.exists() else ""
    raise RuntimeError(f"server on port {port} did not start:\n{text}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server process we started (and its process group)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


def init_bare(path: Path, *, object_format: str = "sha1") -> Path:
    """Create a bare repository with the real git, HEAD -> refs/heads/main."""
    assert GIT is not None
    subprocess.run(
        [
            GIT,
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            f"--object-format={object_format}",
            str(path),
        ],
        check=True,
    )
    return path


class _Server:
    """A server process serving the repositories under ``base``."""

    scheme = ""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.base = work / "repos"
        self.base.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = work / "server.log"

    def repo(self, name: str, *, object_format: str = "sha1") -> Path:
        """Create an empty bare repository ``name`` on the server."""
        return init_bare(self.base / name, object_format=object_format)

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        wait_for_port(self.port, self.proc, self.log)

    def stop(self) -> None:
        """Stop the server."""
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


class GitDaemon(_Server):
    """``git daemon --enable=receive-pack`` serving ``base`` at ``git://``."""

    scheme = "git"

    def start(self) -> GitDaemon:
        """Start the daemon."""
        assert GIT is not None
        self.port = free_port()
        self._spawn(
            [
                GIT,
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--informative-errors",
                f"--base-path={self.base}",
                "--listen=127.0.0.1",
                f"--port={self.port}",
                "--log-destination=stderr",
                str(self.base),
            ]
        )
        return self

    def url(self, name: str) -> str:
        """The URL of repository ``name``."""
        return f"git://127.0.0.1:{self.port}/{name}"


_LIGHTTPD_CONF = """\
server.modules = ("mod_cgi", "mod_alias", "mod_setenv", {auth_modules})
server.document-root = "{docroot}"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{work}/lighttpd-error.log"
server.upload-dirs = ("{work}")
server.max-request-size = 0
alias.url = ("/git" => "{backend}")
$HTTP["url"] =~ "^/git/" {{
    cgi.assign = ("" => "")
    setenv.set-environment = (
        "GIT_PROJECT_ROOT" => "{base}",
        "GIT_HTTP_EXPORT_ALL" => "1",
        "GIT_CONFIG_NOSYSTEM" => "1",
        "HOME" => "{work}",
        "PATH" => "{path}",
        "GIT_CONFIG_COUNT" => "2",
        "GIT_CONFIG_KEY_0" => "http.receivepack",
        "GIT_CONFIG_VALUE_0" => "true",
        "GIT_CONFIG_KEY_1" => "safe.directory",
        "GIT_CONFIG_VALUE_1" => "*",
    )
{auth_block}}}
{tls_block}
"""

_AUTH_BLOCK = """\
    auth.backend = "plain"
    auth.backend.plain.userfile = "{work}/users"
    auth.require = ("" => (
        "method" => "basic", "realm" => "git", "require" => "valid-user"
    ))
"""

_TLS_BLOCK = """\
ssl.engine = "enable"
ssl.pemfile = "{cert}"
ssl.privkey = "{key}"
"""


def make_certificate(work: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (openssl CLI)."""
    openssl = require("openssl", "openssl")
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class HttpServer(_Server):
    """``git http-backend`` behind lighttpd; with ``tls``, https and Basic auth."""

    def __init__(
        self, work: Path, *, tls: bool = False, users: dict[str, str] | None = None
    ) -> None:
        super().__init__(work)
        self.tls = tls
        self.users = users or {}
        self.scheme = "https" if tls else "http"
        self.cert: Path | None = None

    def start(self) -> HttpServer:
        """Start lighttpd."""
        lighttpd = require("lighttpd", "lighttpd")
        backend = git_exec_path()
        if not (backend / "git-http-backend").is_file():
            pytest.skip(f"git-http-backend is missing from {backend}")
        tls_block = ""
        if self.tls:
            if not Path("/usr/lib/lighttpd/mod_openssl.so").exists() and not list(
                Path("/usr/lib").glob("*/lighttpd/mod_openssl.so")
            ):
                pytest.skip(
                    "lighttpd's TLS module is not installed (Debian package "
                    "lighttpd-mod-openssl; run scripts/ci-deps.sh)"
                )
            self.cert, key = make_certificate(self.work)
            tls_block = _TLS_BLOCK.format(cert=self.cert, key=key)
        auth_block = ""
        auth_modules = ""
        if self.users:
            (self.work / "users").write_text(
                "".join(f"{u}:{p}\n" for u, p in self.users.items()), "utf-8"
            )
            auth_block = _AUTH_BLOCK.format(work=self.work)
            auth_modules = '"mod_auth", "mod_authn_file"'
        if self.tls:
            auth_modules = ", ".join(x for x in (auth_modules, '"mod_openssl"') if x)
        docroot = self.work / "docroot"
        docroot.mkdir(exist_ok=True)
        self.port = free_port()
        conf = self.work / "lighttpd.conf"
        conf.write_text(
            _LIGHTTPD_CONF.format(
                auth_modules=auth_modules or '"mod_access"',
                docroot=docroot,
                port=self.port,
                work=self.work,
                backend=backend / "git-http-backend",
                base=self.base,
                path=os.environ.get("PATH", "/usr/bin:/bin"),
                auth_block=auth_block,
                tls_block=tls_block,
            ),
            "utf-8",
        )
        self._spawn([lighttpd, "-D", "-f", str(conf)])
        return self

    def url(self, name: str, *, userinfo: str = "") -> str:
        """The URL of repository ``name`` (optionally with ``user:password``)."""
        at = f"{userinfo}@" if userinfo else ""
        return f"{self.scheme}://{at}127.0.0.1:{self.port}/git/{name}"


_SSHD_CONF = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {work}/host_key
AuthorizedKeysFile {work}/authorized_keys
PidFile {work}/sshd.pid
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin prohibit-password
AllowUsers {user}
AcceptEnv GIT_PROTOCOL
LogLevel ERROR
"""


class SshServer(_Server):
    """OpenSSH ``sshd`` on 127.0.0.1 accepting one throwaway key for this user."""

    scheme = "ssh"

    def start(self) -> SshServer:
        """Start sshd (as the current user; root on CI)."""
        sshd = require("sshd", "openssh-server")
        keygen = require("ssh-keygen", "openssh-client")
        require("ssh", "openssh-client")
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        elif not Path("/run/sshd").is_dir():
            pytest.skip("sshd needs /run/sshd, which only root can create here")
        self.user = pwd.getpwuid(os.geteuid()).pw_name
        # A unix socket path must stay under 108 bytes: keep it short.
        self.mux_dir = Path(tempfile.mkdtemp(prefix="gvssh-", dir="/tmp"))
        for name in ("host_key", "client_key"):
            subprocess.run(
                [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(self.work / name)],
                check=True,
            )
        (self.work / "authorized_keys").write_text(
            (self.work / "client_key.pub").read_text("utf-8"), "utf-8"
        )
        (self.work / "authorized_keys").chmod(0o600)
        self.port = free_port()
        conf = self.work / "sshd_config"
        conf.write_text(
            _SSHD_CONF.format(port=self.port, work=self.work, user=self.user), "utf-8"
        )
        self._spawn([sshd, "-D", "-e", "-f", str(conf)])
        return self

    @property
    def ssh_command(self) -> str:
        """The ``GIT_SSH_COMMAND`` that reaches this server with its throwaway key."""
        return (
            f"ssh -F /dev/null -i {self.work / 'client_key'} -p {self.port} "
            "-o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "
            "-o KexAlgorithms=curve25519-sha256 -o GSSAPIAuthentication=no "
            # one connection serves the whole module: sshd's per-connection
            # start-up costs half a second on a small machine
            f"-o ControlMaster=auto -o ControlPath={self.mux_dir}/%C "
            "-o ControlPersist=120"
        )

    def stop(self) -> None:
        """Close the shared client connection, then stop sshd."""
        if self.proc is not None:
            subprocess.run(
                [*shlex.split(self.ssh_command), "-O", "exit", "127.0.0.1"],
                capture_output=True,
                check=False,
                timeout=10,
            )
            shutil.rmtree(self.mux_dir, ignore_errors=True)
        super().stop()

    def url(self, name: str) -> str:
        """The ``ssh://`` URL of repository ``name``."""
        return f"ssh://{self.user}@127.0.0.1:{self.port}{self.base / name}"

    def scp_url(self, name: str) -> str:
        """The scp-like ``user@host:path`` form (the port comes from the command)."""
        return f"{self.user}@127.0.0.1:{self.base / name}"


HTTP_USER = "alice"
HTTP_PASSWORD = "s3cret-Pa55word"  # a throwaway test password

KINDS = ("path", "file", "git", "http", "https", "ssh", "scp")


class Endpoint:
    """One way of reaching repositories: a transport, its server, its environment.

    Attributes:
        kind: ``path``, ``file``, ``git``, ``http``, ``https``, ``ssh`` or ``scp``.
        base: Where the repositories live on disk (for checks with the git CLI).
        env: Environment variables a client needs (ssh command, CA, credentials).
        server: The running server, if the transport has one.
    """

    def __init__(
        self,
        kind: str,
        base: Path,
        url: Callable[[str], str],
        env: dict[str, str] | None = None,
        server: _Server | None = None,
    ) -> None:
        self.kind = kind
        self.base = base
        self._url = url
        self.env = env or {}
        self.server = server

    def repo(self, name: str, *, object_format: str = "sha1") -> Path:
        """Create an empty bare repository ``name`` (HEAD -> main)."""
        return init_bare(self.base / name, object_format=object_format)

    def url(self, name: str) -> str:
        """The URL of repository ``name`` for this transport."""
        return self._url(name)

    def __repr__(self) -> str:
        return f"Endpoint({self.kind})"


@contextlib.contextmanager
def serve(kind: str, work: Path) -> Iterator[Endpoint]:
    """Start what ``kind`` needs under ``work``; stop it afterwards."""
    work.mkdir(parents=True, exist_ok=True)
    if kind in ("path", "file"):
        base = work / "repos"
        base.mkdir(exist_ok=True)
        if kind == "path":
            yield Endpoint(kind, base, lambda n: str(base / n))
        else:
            yield Endpoint(kind, base, lambda n: (base / n).as_uri())
        return
    server: _Server
    env: dict[str, str] = {}
    if kind == "git":
        server = GitDaemon(work)
    elif kind in ("http", "https"):
        tls = kind == "https"
        server = HttpServer(
            work, tls=tls, users={HTTP_USER: HTTP_PASSWORD} if tls else None
        )
    elif kind in ("ssh", "scp"):
        server = SshServer(work)
    else:
        raise ValueError(kind)
    try:
        server.start()  # type: ignore[attr-defined]
        if isinstance(server, HttpServer) and server.cert is not None:
            env = {
                "GIT_SSL_CAINFO": str(server.cert),
                "GITVERSIONS_HTTP_USER": HTTP_USER,
                "GITVERSIONS_HTTP_PASSWORD": HTTP_PASSWORD,
            }
        if isinstance(server, SshServer):
            env = {"GIT_SSH_COMMAND": server.ssh_command}
            make = server.scp_url if kind == "scp" else server.url
            yield Endpoint(kind, server.base, make, env, server)
        else:
            yield Endpoint(kind, server.base, server.url, env, server)  # type: ignore[attr-defined]
    finally:
        server.stop()

"""push, fetch and clone over every transport, against real servers on 127.0.0.1.

One server per transport is started for this module (``git daemon`` with
receive-pack, ``git http-backend`` behind lighttpd over http and over https with
Basic authentication, OpenSSH ``sshd``) and stopped afterwards. What the servers
hold after a push is judged by the real git CLI, so a server that acknowledged a
push it did not apply would fail the tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import fsck, run_git, write_tree
from servers import HTTP_PASSWORD, HTTP_USER, KINDS, Endpoint, serve

from gitversions.errors import ConflictError, RemoteError
from gitversions.git import remote
from gitversions.store import Store

T0 = 1_760_000_000


@pytest.fixture(scope="module", params=KINDS)
def endpoint(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Endpoint]:
    kind = request.param
    with serve(kind, tmp_path_factory.mktemp(f"server-{kind}")) as ep:
        yield ep


@pytest.fixture
def client_env(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Endpoint:
    for key, value in endpoint.env.items():
        monkeypatch.setenv(key, value)
    return endpoint


def snap(store: Store, name: str, src: Path, text: str, t: int):
    write_tree(src, {"SKILL.md": text, "scripts/run.sh": f"echo {t}\n"})
    return store.snapshot(name, src, message=f"version {t}", timestamp=T0 + t).version


def make_store(tmp_path: Path, name: str) -> Store:
    store = Store(tmp_path / name)
    store.init()
    return store


def test_round_trip(client_env: Endpoint, tmp_path: Path, request):
    ep = client_env
    repo_name = f"{request.node.name}.git".replace("[", "-").replace("]", "")
    ep.repo(repo_name)
    url = ep.url(repo_name)
    alice, bob = make_store(tmp_path, "alice"), make_store(tmp_path, "bob")
    v1 = snap(alice, "skill", tmp_path / "a", "one\n", 1)
    v2 = snap(alice, "skill", tmp_path / "a", "two\n", 2)
    artifact = alice.existing("skill")
    remote.add_remote(artifact, "origin", url)

    pushed = remote.push(artifact)
    assert pushed.ok and pushed.status == "pushed"
    served = ep.base / repo_name
    assert run_git("--git-dir", str(served), "rev-parse", "main").strip() == v2.commit
    assert run_git("--git-dir", str(served), "tag").split() == sorted(
        [str(v1.id), str(v2.id)]
    )
    fsck(served)

    lines: list[str] = []
    cloned = remote.clone(bob, url, "skill", progress=lines.append)
    assert lines, "no progress was reported"
    assert cloned.ok and [v.id for v in cloned.adopted] == [v1.id, v2.id]
    mine = bob.existing("skill")
    assert remote.list_remotes(mine.history)["origin"] == url

    v3 = snap(bob, "skill", tmp_path / "b", "three\n", 3)
    assert remote.push(mine).status == "pushed"
    fetched = remote.fetch(artifact)
    assert fetched.status == "fast-forward" and [v.id for v in fetched.adopted] == [
        v3.id
    ]
    assert run_git("--git-dir", str(served), "rev-parse", "main").strip() == v3.commit

    # Both sides move on: the push of the one behind is refused, nothing changes.
    snap(alice, "skill", tmp_path / "a", "four-a\n", 4)
    v4b = snap(bob, "skill", tmp_path / "b", "four-b\n", 5)
    assert remote.push(mine).status == "pushed"
    with pytest.raises(ConflictError, match="fetch skill"):
        remote.push(artifact)
    assert run_git("--git-dir", str(served), "rev-parse", "main").strip() == v4b.commit
    diverged = remote.fetch(artifact)
    assert diverged.status == "diverged"
    assert diverged.divergence is not None
    assert diverged.divergence.remote_only == (str(v4b.id),)
    fsck(served)
    assert artifact.verify() == [] and mine.verify() == []


# -- credentials and TLS ----------------------------------------------------------


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with serve("https", tmp_path_factory.mktemp("server-https-auth")) as ep:
        yield ep


@pytest.fixture
def https_repo(https: Endpoint, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A store with one version and an empty https repository; CA trusted."""
    monkeypatch.setenv("GIT_SSL_CAINFO", https.env["GIT_SSL_CAINFO"])
    monkeypatch.delenv("GITVERSIONS_HTTP_USER", raising=False)
    monkeypatch.delenv("GITVERSIONS_HTTP_PASSWORD", raising=False)
    name = f"{tmp_path.name}.git"
    https.repo(name)
    store = make_store(tmp_path, "store")
    snap(store, "skill", tmp_path / "src", "one\n", 1)
    return store, name


def _userinfo_url(https: Endpoint, name: str, password: str = HTTP_PASSWORD) -> str:
    return https.url(name).replace("https://", f"https://{HTTP_USER}:{password}@")


def test_https_credentials_from_url_never_shown(https, https_repo, invoke):
    store, name = https_repo
    url = _userinfo_url(https, name)
    result = invoke("push", "skill", url, root=store.root)
    assert result.exit_code == 0, result.output
    assert HTTP_PASSWORD not in result.output and HTTP_USER not in result.output
    assert "https://***@127.0.0.1" in result.stdout
    fsck(https.base / name)
    bad = invoke(
        "push", "skill", _userinfo_url(https, name, "wrong-pw-123"), root=store.root
    )
    assert bad.exit_code == 1
    assert "authentication failed" in bad.stderr
    assert "wrong-pw-123" not in bad.output and HTTP_USER not in bad.output


def test_https_credentials_from_url_are_never_saved(
    https, https_repo, invoke, monkeypatch
):
    store, name = https_repo
    url = _userinfo_url(https, name)
    assert invoke("push", "skill", url, root=store.root).exit_code == 0
    cloned = invoke("clone", url, "copy", root=store.root)
    assert cloned.exit_code == 0, cloned.output
    assert "credentials in the URL were not saved" in cloned.stderr
    added = invoke("remote", "add", "skill", "origin", url, root=store.root)
    assert added.exit_code == 0, added.output
    for artifact in ("skill", "copy"):
        history = store.root / "artifacts" / artifact / "history.git"
        for path in history.rglob("*"):
            if path.is_file():
                assert HTTP_PASSWORD.encode() not in path.read_bytes(), path
        saved = run_git("--git-dir", str(history), "config", "remote.origin.url")
        assert saved.strip() == https.url(name)
    # The URL given in full serves its command (and is known as origin)...
    fetched = invoke("--json", "fetch", "copy", url, root=store.root)
    assert fetched.exit_code == 0, fetched.output
    assert '"remote": "origin"' in fetched.stdout
    # ... while the saved one needs credentials from elsewhere.
    bare = invoke("fetch", "copy", root=store.root)
    assert bare.exit_code == 1 and "authentication failed" in bare.stderr
    monkeypatch.setenv("GITVERSIONS_HTTP_USER", HTTP_USER)
    monkeypatch.setenv("GITVERSIONS_HTTP_PASSWORD", HTTP_PASSWORD)
    assert invoke("fetch", "copy", root=store.root).exit_code == 0


def test_https_without_credentials_fails_clearly(https, https_repo, invoke):
    store, name = https_repo
    result = invoke("push", "skill", https.url(name), root=store.root)
    assert result.exit_code == 1
    assert "authentication failed (HTTP 401)" in result.stderr
    assert "Traceback" not in result.output


def test_https_credentials_from_environment(https, https_repo, monkeypatch):
    store, name = https_repo
    monkeypatch.setenv("GITVERSIONS_HTTP_USER", HTTP_USER)
    monkeypatch.setenv("GITVERSIONS_HTTP_PASSWORD", HTTP_PASSWORD)
    assert remote.push(store.existing("skill"), https.url(name)).ok
    assert run_git("--git-dir", str(https.base / name), "tag").strip()


@pytest.mark.parametrize("form", ["absolute", "shell", "store"])
def test_https_credentials_from_git_credential_helper(
    https, https_repo, tmp_path: Path, monkeypatch, form: str
):
    store, name = https_repo
    log = tmp_path / "helper.log"
    helper = tmp_path / "helper.sh"
    helper.write_text(
        "#!/bin/sh\n"
        f'echo "$1" >> {log}\n'
        'if [ "$1" = get ]; then\n'
        f"  echo username={HTTP_USER}\n"
        f"  echo password={HTTP_PASSWORD}\n"
        "fi\n"
    )
    helper.chmod(0o755)
    gitconfig = tmp_path / "gitconfig"
    if form == "absolute":
        value = str(helper)
    elif form == "shell":
        value = f"!{helper}"
    else:
        creds = tmp_path / "creds"
        creds.write_text(_userinfo_url(https, "") + "\n")
        value = f"store --file={creds}"
    run_git("config", "--file", str(gitconfig), "credential.helper", value)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    result = remote.push(store.existing("skill"), https.url(name))
    assert result.ok
    if form != "store":
        assert log.read_text().split() == ["get", "store"]
    # clone has no repository config yet: the user's configuration is read
    other = make_store(tmp_path, "other")
    assert remote.clone(other, https.url(name), "skill").ok


def test_https_rejected_helper_credentials_are_erased(
    https, https_repo, tmp_path: Path, monkeypatch
):
    store, name = https_repo
    log = tmp_path / "helper.log"
    helper = tmp_path / "helper.sh"
    helper.write_text(
        f'#!/bin/sh\necho "$1" >> {log}\necho username=mallory\necho password=nope\n'
    )
    helper.chmod(0o755)
    gitconfig = tmp_path / "gitconfig"
    run_git("config", "--file", str(gitconfig), "credential.helper", str(helper))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    with pytest.raises(RemoteError, match="authentication failed") as caught:
        remote.push(store.existing("skill"), https.url(name))
    assert "nope" not in str(caught.value)
    assert log.read_text().split() == ["get", "erase"]


def test_https_untrusted_certificate(https, https_repo, monkeypatch):
    store, name = https_repo
    monkeypatch.delenv("GIT_SSL_CAINFO")
    monkeypatch.setenv("GITVERSIONS_HTTP_USER", HTTP_USER)
    monkeypatch.setenv("GITVERSIONS_HTTP_PASSWORD", HTTP_PASSWORD)
    with pytest.raises(RemoteError, match="TLS certificate is not trusted"):
        remote.push(store.existing("skill"), https.url(name))
    monkeypatch.setenv("GIT_SSL_NO_VERIFY", "1")
    assert remote.push(store.existing("skill"), https.url(name)).ok


# -- ssh and git daemon specifics -------------------------------------------------


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    with serve("ssh", tmp_path_factory.mktemp("server-sshd")) as ep:
        yield ep


def test_ssh_honours_git_ssh_program(sshd, tmp_path: Path, monkeypatch):
    """GIT_SSH names a program (no arguments), as for git."""
    wrapper = tmp_path / "my ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {sshd.env["GIT_SSH_COMMAND"]} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.delenv("GIT_SSH_COMMAND", raising=False)
    monkeypatch.setenv("GIT_SSH", str(wrapper))
    sshd.repo("git-ssh.git")
    store = make_store(tmp_path, "s")
    snap(store, "skill", tmp_path / "src", "x\n", 1)
    assert remote.push(store.existing("skill"), sshd.url("git-ssh.git")).ok


def test_ssh_failure_is_reported(sshd, tmp_path: Path, monkeypatch, invoke):
    monkeypatch.setenv(
        "GIT_SSH_COMMAND", sshd.env["GIT_SSH_COMMAND"].replace("-i ", "-i /nonexist")
    )
    store = make_store(tmp_path, "s")
    snap(store, "skill", tmp_path / "src", "x\n", 1)
    result = invoke("push", "skill", sshd.url("absent.git"), root=store.root)
    assert result.exit_code == 1
    assert "gitversions: error:" in result.stderr
    assert "Traceback" not in result.output


def test_git_daemon_missing_repository(tmp_path: Path):
    with serve("git", tmp_path / "daemon") as ep:
        store = make_store(tmp_path, "s")
        snap(store, "skill", tmp_path / "src", "x\n", 1)
        with pytest.raises(RemoteError, match=r"127\.0\.0\.1"):
            remote.push(store.existing("skill"), ep.url("absent.git"))
        with pytest.raises(RemoteError):
            remote.clone(store, ep.url("absent.git"), "copy")
        assert not store.artifact("copy").exists()


def test_unreachable_server(tmp_path: Path):
    from servers import free_port

    store = make_store(tmp_path, "s")
    snap(store, "skill", tmp_path / "src", "x\n", 1)
    port = free_port()
    for url in (f"git://127.0.0.1:{port}/x.git", f"http://127.0.0.1:{port}/x.git"):
        with pytest.raises(RemoteError, match=r"127\.0\.0\.1"):
            remote.push(store.existing("skill"), url)


def test_server_side_refusal_is_reported(tmp_path: Path):
    with serve("git", tmp_path / "daemon") as ep:
        served = ep.repo("hooked.git")
        hook = served / "hooks" / "pre-receive"
        hook.write_text("#!/bin/sh\necho 'policy: no pushes today' >&2\nexit 1\n")
        hook.chmod(0o755)
        store = make_store(tmp_path, "s")
        snap(store, "skill", tmp_path / "src", "x\n", 1)
        with pytest.raises(RemoteError, match="refused to update main"):
            remote.push(store.existing("skill"), ep.url("hooked.git"))
        assert run_git("--git-dir", str(served), "for-each-ref").strip() == ""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["http", "git", "ssh"])
def test_large_history_streams(kind: str, tmp_path: Path, monkeypatch):
    """Packs of several MiB: chunked HTTP bodies, long ssh and daemon streams."""
    import random

    rng = random.Random(7)
    with serve(kind, tmp_path / "server") as ep:
        for key, value in ep.env.items():
            monkeypatch.setenv(key, value)
        ep.repo("big.git")
        store = make_store(tmp_path, "s")
        src = tmp_path / "src"
        for n in range(40):
            write_tree(src, {"SKILL.md": f"{n}\n", "data.bin": rng.randbytes(200_000)})
            store.snapshot("big", src, message=f"{n}", timestamp=T0 + n)
        assert remote.push(store.existing("big"), ep.url("big.git")).ok
        fsck(ep.base / "big.git")
        cloned = remote.clone(make_store(tmp_path, "o"), ep.url("big.git"), "big")
        assert len(cloned.adopted) == 40

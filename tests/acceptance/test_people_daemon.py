"""A real daemon off loopback, over TLS: people's tokens and roles from the CLI."""

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.engine.conftest import write_config
from tests.support import TETHER, daemon_env


def _tether(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TETHER, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """A daemon on 0.0.0.0 with HTTPS, and the tokens of a viewer and a member."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    write_config(home)
    cert, key = home / "cert.pem", home / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=tether.example",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    env = daemon_env(home, TETHER_SERVER_TLS_CERT=str(cert), TETHER_SERVER_TLS_KEY=str(key))
    assert (
        _tether(env, "project", "add", str(work), "--name", "work", "--agent", "fake").returncode
        == 0
    )
    tokens = {}
    for name, role in (("vera", "viewer"), ("mia", "member")):
        assert _tether(env, "user", "add", name, "--role", role).returncode == 0
        made = _tether(env, "token", "create", name, "--json")
        tokens[name] = json.loads(made.stdout)["token"]
    proc = subprocess.Popen(
        [*TETHER, "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while _tether(env, "daemon", "status").returncode != 0:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.2)
    try:
        yield env, tokens
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_roles_and_revocation_over_tls(served: tuple[dict[str, str], dict[str, str]]) -> None:
    env, tokens = served
    info = json.loads(_tether(env, "daemon", "status", "--json").stdout)
    assert info["url"].startswith("https://")
    with socket.create_connection(("127.0.0.1", info["port"]), timeout=30) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            answer = sock.recv(100)
        except OSError:
            answer = b""
    assert not answer.startswith(b"HTTP/"), "plain HTTP was answered on the TLS port"

    anonymous = _tether(env, "spawn", "--project", "work", "hello")
    assert anonymous.returncode == 1 and "missing token" in anonymous.stderr
    viewer = {**env, "TETHER_SERVER_TOKEN": tokens["vera"]}
    refused = _tether(viewer, "spawn", "--project", "work", "hello")
    assert refused.returncode == 1 and "vera is a viewer" in refused.stderr
    member = {**env, "TETHER_SERVER_TOKEN": tokens["mia"]}
    sent = _tether(member, "spawn", "--project", "work", "--json", "hello")
    assert sent.returncode == 0, sent.stderr
    assert json.loads(sent.stdout)["turn"]["accepted_by"] == "mia"

    listed = json.loads(_tether(env, "token", "ls", "--json").stdout)
    mia_token = next(t["id"] for t in listed if t["user"] == "mia")
    assert _tether(env, "token", "revoke", str(mia_token)).returncode == 0
    revoked = _tether(member, "spawn", "--project", "work", "again")
    assert revoked.returncode == 1 and "unknown or revoked token" in revoked.stderr

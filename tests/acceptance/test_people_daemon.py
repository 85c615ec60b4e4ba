"""A real daemon off loopback, over TLS: people's tokens and roles from the CLI."""

import json
import socket
import sqlite3
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
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
            "-addext",
            "subjectAltName=DNS:tether.example,IP:127.0.0.1",
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
    for name, role in (("vera", "viewer"), ("mia", "member"), ("ada", "admin")):
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


def _api(env: dict[str, str]) -> httpx.Client:
    """The daemon over HTTPS, trusting exactly its certificate (made for another name)."""
    info = json.loads(_tether(env, "daemon", "status", "--json").stdout)
    context = ssl.create_default_context(cafile=env["TETHER_SERVER_TLS_CERT"])
    context.check_hostname = False
    return httpx.Client(base_url=info["url"], verify=context, timeout=120)


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admins_manage_people_tokens_and_placement_through_the_api(
    served: tuple[dict[str, str], dict[str, str]],
) -> None:
    env, tokens = served
    admin, member, viewer = _as(tokens["ada"]), _as(tokens["mia"]), _as(tokens["vera"])
    with _api(env) as api:
        assert api.get("/api/users").status_code == 401
        for who, name, role in ((viewer, "vera", "viewer"), (member, "mia", "member")):
            for method, path, body in (
                ("GET", "/api/users", None),
                ("GET", "/api/tokens", None),
                ("POST", "/api/users", {"name": "eve", "role": "admin"}),
                ("POST", "/api/tokens", {"user": name}),
                ("POST", "/api/tokens/1/revoke", {}),
                ("POST", "/api/users/vera/role", {"role": "admin"}),
                ("POST", "/api/projects/work/host", {"host": "x"}),
            ):
                refused = api.request(method, path, json=body, headers=who)
                assert refused.status_code == 403, (name, path, refused.text)
                assert refused.json()["error"] == f"{name} is a {role}; this needs admin"

        added = api.post("/api/users", json={"name": "noor", "role": "viewer"}, headers=admin)
        assert (added.status_code, added.json()) == (201, {"name": "noor", "role": "viewer"})
        again = api.post("/api/users", json={"name": "noor"}, headers=admin)
        assert again.status_code == 409 and "exists already" in again.json()["error"]
        for bad in ({"name": 5}, {"name": "noor2", "role": "boss"}, {"name": "../x"}):
            assert api.post("/api/users", json=bad, headers=admin).status_code == 400, bad
        promoted = api.post("/api/users/noor/role", json={"role": "member"}, headers=admin)
        assert promoted.json() == {"name": "noor", "role": "member"}
        users = api.get("/api/users", headers=admin).json()["items"]
        assert {"name": "noor", "role": "member"} in users

        made = api.post("/api/tokens", json={"user": "noor", "label": "laptop"}, headers=admin)
        assert made.status_code == 201 and made.headers["cache-control"] == "no-store"
        secret, token_id = made.json()["token"], made.json()["id"]
        assert api.get("/api/me", headers=_as(secret)).json() == {"name": "noor", "role": "member"}
        listed = api.get("/api/tokens", headers=admin)
        assert secret not in listed.text
        assert {"id": token_id, "user": "noor", "label": "laptop"}.items() <= next(
            t for t in listed.json()["items"] if t["id"] == token_id
        ).items()
        missing = api.post("/api/tokens", json={"user": "nobody"}, headers=admin)
        assert missing.status_code == 404 and "tether user add nobody" in missing.json()["error"]

        revoked = api.post(f"/api/tokens/{token_id}/revoke", json={}, headers=admin)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
        assert api.get("/api/me", headers=_as(secret)).status_code == 401
        assert api.post("/api/tokens/999/revoke", json={}, headers=admin).status_code == 404

        here = api.get("/api/hosts", headers=viewer).json()["items"]
        assert len(here) == 1  # the one implicit host of a SQLite ledger
        unknown = api.post("/api/projects/work/host", json={"host": "build-9"}, headers=admin)
        assert unknown.status_code == 404 and "no host named 'build-9'" in unknown.json()["error"]
        moved = api.post("/api/projects/work/host", json={"host": here[0]["name"]}, headers=admin)
        assert moved.status_code == 200 and moved.json()["host"] == here[0]["name"]

    with sqlite3.connect(Path(env["TETHER_HOME"]) / "tether.db") as db:
        stored = db.execute("SELECT * FROM tokens").fetchall()
    assert stored and all(secret not in map(str, row) for row in stored)  # only its hash


def test_an_admin_s_cli_manages_the_team_through_a_remote_daemon(
    served: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    env, tokens = served
    port = json.loads(_tether(env, "daemon", "status", "--json").stdout)["port"]
    elsewhere = tmp_path / "elsewhere"  # another machine: no ledger, only the daemon's URL
    elsewhere.mkdir()
    base = daemon_env(
        elsewhere,
        TETHER_SERVER_REMOTE=f"https://127.0.0.1:{port}",
        TETHER_SERVER_REMOTE_CA=env["TETHER_SERVER_TLS_CERT"],
    )
    admin = {**base, "TETHER_SERVER_TOKEN": tokens["ada"]}
    member = {**base, "TETHER_SERVER_TOKEN": tokens["mia"]}

    untrusted = {**admin, "TETHER_SERVER_REMOTE_CA": ""}  # a certificate no authority signed
    unknown = _tether(untrusted, "user", "ls")
    assert unknown.returncode == 1 and "certificate verify failed" in unknown.stderr
    assert "check server.remote and server.remote_ca" in unknown.stderr
    refused = _tether(member, "user", "add", "zed")
    assert refused.returncode == 1 and "mia is a member; this needs admin" in refused.stderr
    assert _tether(admin, "user", "add", "zed", "--role", "viewer").returncode == 0
    assert _tether(admin, "user", "role", "zed", "member").returncode == 0
    users = json.loads(_tether(admin, "user", "ls", "--json").stdout)
    assert {"name": "zed", "role": "member"} in users

    made = _tether(admin, "token", "create", "zed", "--label", "laptop", "--json")
    assert made.returncode == 0, made.stderr
    secret, token_id = json.loads(made.stdout)["token"], json.loads(made.stdout)["id"]
    zed = {**base, "TETHER_SERVER_TOKEN": secret}
    assert _tether(zed, "ls", "--json").returncode == 0
    listed = _tether(admin, "token", "ls", "--json")
    assert secret not in listed.stdout
    assert any(t["id"] == token_id for t in json.loads(listed.stdout))
    assert _tether(admin, "token", "revoke", str(token_id)).returncode == 0
    gone = _tether(zed, "ls")
    assert gone.returncode == 1 and "unknown or revoked token" in gone.stderr

    (here,) = json.loads(_tether(admin, "hosts", "--json").stdout)
    assert here["alive"] is True
    moved = _tether(admin, "project", "host", "work", here["name"], "--json")
    assert moved.returncode == 0 and json.loads(moved.stdout)["host"] == here["name"]
    unknown = _tether(admin, "project", "host", "work", "build-9")
    assert unknown.returncode == 2 and "no host named 'build-9'" in unknown.stderr
    checkout = tmp_path / "api"
    checkout.mkdir()
    refused = _tether(member, "project", "add", str(checkout), "--host", here["name"])
    assert refused.returncode == 1 and "mia is a member; this needs admin" in refused.stderr
    added = _tether(admin, "project", "add", str(checkout), "--host", here["name"], "--json")
    assert added.returncode == 0, added.stderr
    assert (json.loads(added.stdout)["name"], json.loads(added.stdout)["host"]) == (
        "api",
        here["name"],
    )
    assert not (elsewhere / "tether.db").exists()  # all of it went through the daemon

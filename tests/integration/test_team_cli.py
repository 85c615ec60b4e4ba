"""``tether user``, ``tether token``, ``tether hosts`` and ``project add|host`` on SQLite."""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli.group import cli
from tether.config import load
from tether.engine.presence import Presence
from tether.ledger import hosts, people
from tether.ledger.store import open_ledger


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_users_and_tokens(home: Path) -> None:
    assert run("user", "add", "alice", "--role", "viewer")[0] == 0
    code, _, err = run("user", "add", "alice")
    assert code == 1 and "exists already" in err
    code, _, err = run("user", "add", "../x")
    assert code == 2 and "not a valid user name" in err
    code, _, err = run("token", "create", "bob")
    assert code == 2 and "no user named 'bob'" in err
    code, out, _ = run("token", "create", "alice", "--label", "laptop", "--json")
    created = json.loads(out)
    assert code == 0 and created["token"].startswith("tether_") and created["user"] == "alice"
    assert created["token"] not in (home / "tether.db").read_bytes().decode("latin-1")
    ledger = open_ledger(load())
    with ledger.db.read() as conn:
        assert people.person_for(conn, created["token"]) is not None
    code, out, _ = run("token", "ls", "--json")
    listed = json.loads(out)
    assert [(t["user"], t["label"], t["revoked_at"]) for t in listed] == [("alice", "laptop", None)]
    assert created["token"] not in out
    assert run("token", "revoke", str(created["id"]))[0] == 0
    with ledger.db.read() as conn:
        assert people.person_for(conn, created["token"]) is None
    code, _, err = run("token", "revoke", "99")
    assert code == 2 and "no token with id 99" in err
    assert run("user", "role", "alice", "admin")[0] == 0
    code, out, _ = run("user", "ls", "--json")
    assert json.loads(out) == [{"name": "alice", "role": "admin"}]
    ledger.close()


def test_project_host_defaults_to_this_host(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TETHER_SERVER_HOST_NAME", "laptop-1")
    code, out, _ = run("project", "add", str(tmp_path), "--name", "web", "--json")
    assert code == 0 and json.loads(out)["host"] == "laptop-1"
    code, _, err = run("project", "add", "/srv/api", "--name", "api", "--host", "build-2")
    assert code == 2 and "no host named 'build-2'" in err
    ledger = open_ledger(load())
    with ledger.db.write() as conn:
        hosts.register(conn, "build-2", "http://10.0.0.2:7700", 4242, {"codex": "0.1"})
    ledger.close()
    code, out, _ = run("project", "add", "/srv/api", "--name", "api", "--host", "build-2", "--json")
    assert code == 0 and json.loads(out)["host"] == "build-2"  # a path on the other machine
    code, _, err = run("project", "add", "relative", "--name", "x", "--host", "build-2")
    assert code == 2 and "absolute path" in err
    code, out, _ = run("project", "host", "web", "build-2", "--json")
    assert code == 0 and json.loads(out)["host"] == "build-2"  # its checkout moved there
    code, _, err = run("project", "host", "web", "build-3")
    assert code == 2 and "no host named 'build-3'" in err
    code, _, err = run("project", "host", "nope", "build-2")
    assert code == 2 and "no project named 'nope'" in err


def test_hosts_lists_heartbeat_load_and_agents(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = tmp_path / "mytool"
    tool.write_text("#!/bin/sh\necho 'mytool 1.2.3'\n")
    tool.chmod(0o755)
    (home / "config.toml").write_text(f'[providers.mytool]\nnew = ["{tool}", "{{prompt}}"]\n')
    monkeypatch.setenv("TETHER_SERVER_HOST_NAME", "laptop-1")
    monkeypatch.setenv("TETHER_TEAM_HEARTBEAT_S", "0.1")
    config = load()
    ledger = open_ledger(config)
    presence = Presence(config, ledger, "http://127.0.0.1:7700")
    first = presence.start()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with ledger.db.read() as conn:
                seen = hosts.get(conn, "laptop-1")
            if seen.heartbeat_at > first.heartbeat_at and seen.agents:
                break
            time.sleep(0.1)
    finally:
        presence.stop()
        ledger.close()
    assert seen.heartbeat_at > first.heartbeat_at
    code, out, _ = run("hosts", "--json")
    (listed,) = json.loads(out)
    assert listed["name"] == "laptop-1" and listed["alive"] and listed["load"] == 0
    assert listed["agents"] == seen.agents and seen.agents["mytool"] == "mytool 1.2.3"
    monkeypatch.setenv("TETHER_TEAM_HOST_TIMEOUT_S", "0")
    monkeypatch.setenv("TETHER_TEAM_HEARTBEAT_S", "0")
    code, _, err = run("hosts")
    assert code == 2 and "heartbeat_s" in err

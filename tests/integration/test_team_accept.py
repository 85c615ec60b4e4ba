"""Accepting a turn that another host of a team ledger will run.

The sender's PATH finds the agent on the sender's machine; it means nothing
on the host that runs the turn. There the turn keeps no PATH (that host's
daemon runs the agent on its own) and is refused up front only when that
host's reported agents lack it.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.config import Config, load
from tether.engine import accept
from tether.errors import AgentNotInstalled
from tether.ledger import hosts, projects, turns
from tether.ledger.store import Ledger, open_ledger

pytestmark = pytest.mark.postgres


@pytest.fixture
def host_a(home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    monkeypatch.setenv("TETHER_DATABASE_URL", pg_url)
    monkeypatch.setenv("TETHER_SERVER_HOST_NAME", "a")
    yield load()


@pytest.fixture
def ledger(host_a: Config) -> Iterator[Ledger]:
    opened = open_ledger(host_a)
    yield opened
    opened.close()


def _project(ledger: Ledger, root: Path, host: str) -> str:
    root.mkdir()
    with ledger.db.write() as conn:
        return projects.add(conn, root, name=root.name, host=host).name


def _path_kept(ledger: Ledger, turn_id: str) -> str | None:
    with ledger.db.read() as conn:
        return turns.run_state(conn, turn_id).path_env


def test_a_turn_for_another_host_keeps_no_sender_path_and_checks_that_host_s_agents(
    host_a: Config, ledger: Ledger, tmp_path: Path
) -> None:
    with ledger.db.write() as conn:
        hosts.register(conn, "b", None, 1, {"codex": "codex-cli 0.169.0"})
    web = _project(ledger, tmp_path / "web", host="b")
    nowhere = str(tmp_path / "no-agents-here")  # the sender's PATH: no agent on it

    spawned = accept.spawn(host_a, ledger, "hi", project=web, agent="codex", path_env=nowhere)
    assert _path_kept(ledger, spawned.turn.id) is None
    sent = accept.send(host_a, ledger, spawned.session.id, "more", path_env=nowhere)
    assert _path_kept(ledger, sent.turn.id) is None
    with pytest.raises(AgentNotInstalled, match="not installed on host b, where these turns run"):
        accept.spawn(host_a, ledger, "hi", project=web, agent="claude", path_env=nowhere)


def test_a_turn_for_this_host_is_checked_on_the_sender_s_path_and_keeps_it(
    host_a: Config, ledger: Ledger, tmp_path: Path
) -> None:
    api = _project(ledger, tmp_path / "api", host="a")
    with pytest.raises(AgentNotInstalled, match="not on PATH"):
        accept.spawn(host_a, ledger, "hi", project=api, agent="codex", path_env=str(tmp_path))
    agents = tmp_path / "bin"
    agents.mkdir()
    (agents / "codex").write_text("#!/bin/sh\nexit 0\n")
    (agents / "codex").chmod(0o755)
    spawned = accept.spawn(host_a, ledger, "hi", project=api, agent="codex", path_env=str(agents))
    assert _path_kept(ledger, spawned.turn.id) == str(agents)

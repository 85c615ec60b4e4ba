"""Spawn takes an idempotency key: a retried spawn returns the session and turn it created."""

import threading
from pathlib import Path

import pytest
from tests.support import stub_agents

from tether.config import Config
from tether.engine import accept
from tether.errors import InvalidInput
from tether.ledger import projects, sessions
from tether.ledger.store import Ledger


@pytest.fixture(autouse=True)
def _agents_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stub_agents(tmp_path / "agent-stubs", monkeypatch)


@pytest.fixture
def project(ledger: Ledger, tmp_path: Path) -> str:
    with ledger.db.write() as conn:
        projects.add(conn, tmp_path, name="web", default_agent="codex")
    return "web"


def _count(ledger: Ledger) -> int:
    with ledger.db.read() as conn:
        return len(sessions.list_page(conn, limit=500).items)


def test_same_key_returns_the_first_spawn(config: Config, ledger: Ledger, project: str) -> None:
    first = accept.spawn(config, ledger, "hello", project=project, key="k-1")
    again = accept.spawn(config, ledger, "hello", project=project, key="k-1")
    assert first.created and not again.created
    assert (again.session.id, again.turn.id) == (first.session.id, first.turn.id)
    other = accept.spawn(config, ledger, "hello", project=project, key="k-2")
    unkeyed = accept.spawn(config, ledger, "hello", project=project)
    assert other.session.id != first.session.id and unkeyed.created
    assert _count(ledger) == 3


def test_concurrent_spawns_with_one_key_make_one_session(
    config: Config, ledger: Ledger, project: str
) -> None:
    results: list[accept.Accepted] = []
    errors: list[BaseException] = []

    def spawn() -> None:
        try:
            results.append(accept.spawn(config, ledger, "race", project=project, key="same"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=spawn) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {(r.session.id, r.turn.id) for r in results} == {("web-1", "web-1.1")}
    assert sum(r.created for r in results) == 1
    assert _count(ledger) == 1


@pytest.mark.parametrize("key", ["", "k" * 256])
def test_bad_keys_are_refused(config: Config, ledger: Ledger, project: str, key: str) -> None:
    with pytest.raises(InvalidInput, match="idempotency key"):
        accept.spawn(config, ledger, "hello", project=project, key=key)
    assert _count(ledger) == 0

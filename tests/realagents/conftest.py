"""Fixtures for driving the real agent CLIs against the loopback model server."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # so `tests.fakes` and `tests.realagents` import from any cwd
    sys.path.insert(0, str(REPO))

from tests.fakes.model_server import ModelServer  # noqa: E402
from tests.realagents.harness import AGENTS, AgentHome, AgentNotInstalled  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realagent: drives a real agent CLI from the npm registry")


@pytest.fixture
def model_server() -> Iterator[ModelServer]:
    with ModelServer() as srv:
        yield srv


@pytest.fixture
def make_home(tmp_path: Path, model_server: ModelServer) -> Callable[[str], AgentHome]:
    """Factory: an isolated home for an agent wired to this test's model server.

    Called inside the test body so that a missing CLI FAILS the test with a
    clear message (it never skips)."""

    def make(agent: str) -> AgentHome:
        try:
            return AgentHome(AGENTS[agent], tmp_path / agent, model_server.url)
        except AgentNotInstalled as exc:
            pytest.fail(f"agent CLI {agent!r} is not usable: {exc}", pytrace=False)

    return make

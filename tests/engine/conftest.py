"""An engine driving the fake codex-speaking agent through real runner processes."""

import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tether.config import Config, load
from tether.domain.records import Turn
from tether.engine import accept
from tether.engine.supervisor import Engine
from tether.ledger import projects, turns
from tether.ledger.store import Ledger, open_ledger

FAKE_AGENT = Path(__file__).parent.parent / "fakes" / "fake_agent.py"
# An agent that answers without ever naming its thread.
ANON = (
    "import json; print(json.dumps(dict("
    'type="item.completed", item=dict(type="agent_message", text="hi"))))'
)


def write_config(home: Path, **engine: float | str) -> None:
    settings = {
        "max_parallel": 8,
        "start_timeout_s": 5,
        "idle_timeout_s": 30,
        "abort_after_s": 30,
        "start_retries": 2,
        **engine,
    }
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in settings.items())
    python, agent = sys.executable, str(FAKE_AGENT)
    (home / "config.toml").write_text(
        f"""
[engine]
{lines}

[server]
port = 0

[providers.fake]
new = ["{python}", "{agent}", "{{prompt}}"]
resume = ["{python}", "{agent}", "resume", "{{native_id}}", "{{prompt}}"]
stream = "codex"

[providers.plain]
new = ["{python}", "-c", "print('hello from a text agent')"]
stream = "text"

[providers.anon]
new = ["{python}", "-c", '{ANON}']
resume = ["{python}", "{agent}", "resume", "{{native_id}}", "{{prompt}}"]
stream = "codex"

[providers.where]
new = ["{python}", "-c", "import os; print(os.getcwd()); print(os.environ['PWD'])"]
stream = "text"
"""
    )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.setenv("FAKE_AGENT_HOME", str(path))
    monkeypatch.setenv("FAKE_AGENT_LOG", str(tmp_path / "agent.log"))
    return path


@pytest.fixture
def engine_config(home: Path, workdir: Path) -> Config:
    write_config(home)
    return load()


def make_engine(config: Config, workdir: Path) -> tuple[Engine, Ledger]:
    ledger = open_ledger(config)
    with ledger.db.write() as conn:
        if not projects.list_all(conn):
            projects.add(conn, workdir, name="work", default_agent="fake")
    return Engine(config, ledger), ledger


@pytest.fixture
def engine(engine_config: Config, workdir: Path) -> Iterator[Engine]:
    running, ledger = make_engine(engine_config, workdir)
    running.start()
    yield running
    running.stop()
    running.stop_runs()
    ledger.close()


def wait_for(
    engine: Engine, turn_id: str, done: Callable[[Turn], bool] | None = None, timeout: float = 180
) -> Turn:
    check = done or (lambda t: t.state.terminal)
    deadline = time.monotonic() + timeout
    while True:
        with engine.ledger.db.read() as conn:
            turn = turns.get(conn, turn_id)
        if check(turn):
            return turn
        if time.monotonic() > deadline:
            raise AssertionError(f"{turn_id} still {turn.state} ({turn.reason}) after {timeout}s")
        time.sleep(0.05)


def spawn(engine: Engine, prompt: str, agent: str | None = None) -> accept.Accepted:
    accepted = accept.spawn(engine.config, engine.ledger, prompt, project="work", agent=agent)
    engine.poke()
    return accepted


def send(engine: Engine, session_id: str, prompt: str, key: str | None = None) -> accept.Accepted:
    accepted = accept.send(engine.config, engine.ledger, session_id, prompt, key=key)
    engine.poke()
    return accepted

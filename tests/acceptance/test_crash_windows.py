"""A daemon SIGKILLed inside a window (`TETHER_CRASH_AT`) runs nothing twice."""

import signal
import subprocess
import time
from pathlib import Path

import pytest
from tests.engine.conftest import write_config
from tests.support import TETHER, daemon_env

from tether.config import load
from tether.engine import accept
from tether.ledger import projects, turns
from tether.ledger.store import open_ledger


def _serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*TETHER, "serve"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def test_a_daemon_killed_between_runner_start_and_record_runs_the_turn_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, work, release = tmp_path / "home", tmp_path / "work", tmp_path / "release"
    home.mkdir()
    work.mkdir()
    write_config(home)
    agent_log = tmp_path / "agent.log"
    env = daemon_env(
        home,
        FAKE_AGENT_HOME=str(work),
        FAKE_AGENT_LOG=str(agent_log),
        FAKE_AGENT_UNTIL=str(release),
    )
    monkeypatch.setenv("TETHER_HOME", str(home))
    config = load()
    ledger = open_ledger(config)
    try:
        with ledger.db.write() as conn:
            projects.add(conn, work, name="work", default_agent="fake")
        turn_id = accept.spawn(config, ledger, "hello", project="work").turn.id

        crashing = _serve({**env, "TETHER_CRASH_AT": "runner-started"})
        assert crashing.wait(timeout=120) == -signal.SIGKILL
        with ledger.db.read() as conn:
            assert turns.run_state(conn, turn_id).runner_pid is None, "the window was not hit"

        restarted = _serve(env)
        try:
            deadline = time.monotonic() + 120
            while True:  # the restarted daemon supervises the runner the killed one started
                with ledger.db.read() as conn:
                    turn = turns.get(conn, turn_id)
                if turn.phases.first_event is not None:
                    break
                assert time.monotonic() < deadline, f"{turn_id} is still {turn.state}"
                time.sleep(0.05)
            release.touch()
            while not turn.state.terminal:
                assert time.monotonic() < deadline + 120, f"{turn_id} is still {turn.state}"
                time.sleep(0.05)
                with ledger.db.read() as conn:
                    turn = turns.get(conn, turn_id)
        finally:
            restarted.send_signal(signal.SIGTERM)
            restarted.wait(timeout=60)
        assert (turn.state.value, turn.attempts) == ("completed", 1), turn.reason
        runs = agent_log.read_text().splitlines()
        assert len(runs) == 1, f"the agent ran {len(runs)} times: {runs}"
    finally:
        ledger.close()

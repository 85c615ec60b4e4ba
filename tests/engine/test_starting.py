"""Starting an agent: a missing executable, the sender's PATH, an agent that keeps reconnecting."""

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.engine.conftest import FAKE_AGENT, make_engine, spawn, wait_for, write_config

from tether.cli.group import cli
from tether.config import load
from tether.domain import serialize
from tether.domain.states import TurnState
from tether.engine import accept
from tether.engine.supervisor import Engine
from tether.errors import AgentNotInstalled

NO_AGENTS = "/nonexistent-tether-test"


def test_a_missing_builtin_agent_is_refused_at_spawn_with_the_fix(engine: Engine) -> None:
    with pytest.raises(AgentNotInstalled, match=r"codex is not installed.*npm i -g @openai/codex"):
        accept.spawn(
            engine.config, engine.ledger, "hi", project="work", agent="codex", path_env=NO_AGENTS
        )


def bin_dir(tmp_path: Path) -> Path:
    """A directory holding ``my-agent``, which is on no PATH but the sender's."""
    path = tmp_path / "bin"
    path.mkdir()
    script = path / "my-agent"
    script.write_text(
        f'#!/bin/sh\necho "PATH=$PATH" >&2\nexec "{sys.executable}" "{FAKE_AGENT}" "$@"\n'
    )
    script.chmod(0o755)
    return path


@pytest.fixture
def mine(home: Path, workdir: Path, tmp_path: Path) -> Engine:
    write_config(home)
    with (home / "config.toml").open("a") as handle:
        handle.write(
            '\n[providers.mine]\nnew = ["my-agent", "{prompt}"]\nstream = "codex"\n'
            'resume = ["my-agent", "resume", "{native_id}", "{prompt}"]\n'
        )
    engine, _ = make_engine(load(), workdir)
    engine.start()
    yield engine  # type: ignore[misc]
    engine.stop()
    engine.ledger.close()


def test_the_agent_is_found_and_run_on_the_senders_path(mine: Engine, tmp_path: Path) -> None:
    user_path = f"{bin_dir(tmp_path)}{os.pathsep}{os.environ['PATH']}"
    assert "my-agent" not in os.environ["PATH"]
    accepted = accept.spawn(
        mine.config, mine.ledger, "hi", project="work", agent="mine", path_env=user_path
    )
    mine.poke()
    assert wait_for(mine, accepted.turn.id).state is TurnState.COMPLETED
    launch = (mine.config.runs_dir / accepted.turn.id / "launch.json").read_text()
    assert str(tmp_path / "bin" / "my-agent") in launch
    run = mine.config.runs_dir / accepted.turn.id
    assert f"PATH={user_path}" in (run / "stderr.tail").read_text()


def test_a_missing_agent_is_refused_at_send_with_the_fix(mine: Engine, tmp_path: Path) -> None:
    user_path = str(bin_dir(tmp_path))
    accepted = accept.spawn(
        mine.config, mine.ledger, "hi", project="work", agent="mine", path_env=user_path
    )
    mine.poke()
    assert wait_for(mine, accepted.turn.id).state is TurnState.COMPLETED
    with pytest.raises(AgentNotInstalled, match=r"mine is not installed.*or choose another"):
        accept.send(mine.config, mine.ledger, accepted.session.id, "again", path_env=NO_AGENTS)


def test_an_agent_gone_before_dispatch_fails_at_once_and_is_not_retried(
    mine: Engine, tmp_path: Path
) -> None:
    user_path = str(bin_dir(tmp_path))
    with mine.lock:  # accepted while the agent exists, removed before the engine dispatches
        accepted = accept.spawn(
            mine.config, mine.ledger, "hi", project="work", agent="mine", path_env=user_path
        )
        (tmp_path / "bin" / "my-agent").unlink()
    mine.poke()
    turn = wait_for(mine, accepted.turn.id)
    assert turn.state is TurnState.FAILED and turn.attempts <= 1
    assert "mine is not installed: 'my-agent' is not on PATH" in (turn.reason or "")
    assert not (mine.config.runs_dir / accepted.turn.id / "attempt-1").exists()


def watched(home: Path, workdir: Path, abort_after_s: float) -> Engine:
    write_config(home, idle_timeout_s=1, abort_after_s=abort_after_s, start_retries=0)
    engine, _ = make_engine(load(), workdir)
    engine.start()
    return engine


def test_a_reconnecting_agent_says_so_while_it_runs(home: Path, workdir: Path) -> None:
    engine = watched(home, workdir, abort_after_s=600)  # nothing ends it while the test looks
    try:
        accepted = spawn(engine, "@reconnect=12")
        seen = wait_for(engine, accepted.turn.id, lambda t: t.retry_errors == 12)
        assert seen.state is TurnState.RUNNING and seen.phases.first_output is None
        said = serialize.turn(seen)["reconnecting"]
        assert said.startswith("agent reconnecting: 12 errors in "), said
        shown = CliRunner().invoke(cli, ["show", accepted.session.id, "--json"])
        assert json.loads(shown.stdout)["turns"][0]["reconnecting"].startswith(said[:30])
        assert engine.cancel(accepted.turn.id).state is TurnState.CANCELLED
    finally:
        engine.stop()
        engine.ledger.close()


def test_retry_errors_are_not_progress_so_the_watchdog_ends_the_turn(
    home: Path, workdir: Path
) -> None:
    engine = watched(home, workdir, abort_after_s=1)
    try:
        turn = wait_for(engine, spawn(engine, "@reconnect=12").turn.id)
    finally:
        engine.stop()
        engine.ledger.close()
    assert turn.state is TurnState.TIMED_OUT, turn.reason
    assert "no progress from the agent for 2s (agent reconnecting: 12 errors in" in (
        turn.reason or ""
    )

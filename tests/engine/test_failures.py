"""Every accepted message ends visibly: watchdog, retries, vanished runners, cancel."""

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.engine.conftest import make_engine, send, spawn, wait_for, write_config

from tether.cli.group import cli
from tether.config import load
from tether.domain import serialize
from tether.domain.records import EventKind
from tether.domain.states import TurnState
from tether.engine import watchdog
from tether.engine.cancel import CancelOutcome
from tether.engine.procs import start_ticks
from tether.engine.rundir import read_json
from tether.engine.supervisor import Engine
from tether.ledger import events, turns


def _started(home: Path, workdir: Path, **settings: float) -> Iterator[Engine]:
    write_config(home, **settings)
    engine, _ = make_engine(load(), workdir)
    engine.start()
    yield engine
    engine.stop()
    engine.ledger.close()


@pytest.fixture
def fast_engine(home: Path, workdir: Path) -> Iterator[Engine]:
    yield from _started(
        home, workdir, start_timeout_s=1, idle_timeout_s=1, abort_after_s=2, start_retries=2
    )


@pytest.fixture
def stalling_engine(home: Path, workdir: Path) -> Iterator[Engine]:
    """Stalled after 1 s of silence, and left stalled: nothing ends the turn but a cancel."""
    yield from _started(home, workdir, idle_timeout_s=1, abort_after_s=3600)


@pytest.fixture
def patient_engine(home: Path, workdir: Path) -> Iterator[Engine]:
    """A start budget no loaded machine reaches: the agent's own early exit decides."""
    yield from _started(home, workdir, start_timeout_s=300, start_retries=2)


def _runner(engine: Engine, turn_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = read_json(engine.config.runs_dir / turn_id / "runner.json")
        if info and "agent_pid" in info:
            return info
        time.sleep(0.05)
    raise AssertionError("runner never reported its agent")


def _statuses(engine: Engine, session_id: str) -> list[str]:
    with engine.ledger.db.read() as conn:
        page = events.page(conn, session_id, limit=500).items
    return [e.preview for e in reversed(page) if e.kind is EventKind.STATUS]


def test_never_starting_agent_fails_within_its_start_budget(fast_engine: Engine) -> None:
    accepted = spawn(fast_engine, "@never-start")
    turn = wait_for(fast_engine, accepted.turn.id, timeout=240)
    assert turn.state is TurnState.FAILED
    assert turn.attempts == 3
    assert "never started (3 attempts)" in (turn.reason or "")
    assert "no event from the agent within 1s" in (turn.reason or "")
    notes = _statuses(fast_engine, accepted.session.id)
    assert [n.split(":")[0] for n in notes] == ["attempt 1 failed", "attempt 2 failed"]
    assert (fast_engine.config.runs_dir / accepted.turn.id / "attempt-1" / "exit.json").exists()


def test_failure_before_first_event_is_retried_then_reported(patient_engine: Engine) -> None:
    turn = wait_for(patient_engine, spawn(patient_engine, "@exit-early").turn.id, timeout=240)
    assert turn.state is TurnState.FAILED and turn.attempts == 3
    assert "status 7 before its first event: fake agent: refusing to start" in (turn.reason or "")


def test_hang_mid_stream_shows_stalled(stalling_engine: Engine) -> None:
    accepted = spawn(stalling_engine, "@hang")
    stalled = wait_for(
        stalling_engine,
        accepted.turn.id,
        lambda t: t.state.terminal or t.stalled_at is not None,
    )
    assert stalled.state is TurnState.RUNNING, stalled.reason
    assert serialize.turn(stalled)["stalled_since"] is not None
    shown = CliRunner().invoke(cli, ["show", accepted.session.id])
    assert "STALLED" in shown.stdout
    assert stalling_engine.cancel(accepted.turn.id).outcome is CancelOutcome.CANCELLED


def test_hang_mid_stream_times_out_after_being_stalled(fast_engine: Engine) -> None:
    accepted = spawn(fast_engine, "@hang")
    turn = wait_for(fast_engine, accepted.turn.id)
    assert turn.state is TurnState.TIMED_OUT
    assert turn.reason == "no progress from the agent for 3s"
    assert any(n.startswith("stalled") for n in _statuses(fast_engine, accepted.session.id))
    assert turn.attempts == 1  # never retried once the agent had started


def test_runner_killed_makes_the_turn_interrupted(engine: Engine) -> None:
    accepted = spawn(engine, "@sleep=60")
    info = _runner(engine, accepted.turn.id)
    agent_pid = int(info["agent_pid"])  # type: ignore[call-overload]
    os.kill(int(info["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    turn = wait_for(engine, accepted.turn.id)
    assert turn.state is TurnState.INTERRUPTED
    assert "vanished without recording an exit status" in (turn.reason or "")
    deadline = time.monotonic() + 60
    while start_ticks(agent_pid) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert start_ticks(agent_pid) is None, "the orphaned agent was left running"


def test_cancel_running_kills_the_process_group(engine: Engine) -> None:
    accepted = spawn(engine, "@sleep=60")
    agent_pid = int(_runner(engine, accepted.turn.id)["agent_pid"])  # type: ignore[call-overload]
    result = engine.cancel(accepted.turn.id)
    assert result.outcome is CancelOutcome.CANCELLED and result.state == "cancelled"
    assert start_ticks(agent_pid) is None
    with engine.ledger.db.read() as conn:
        turn = turns.get(conn, accepted.turn.id)
    assert turn.state is TurnState.CANCELLED and turn.reason == "cancelled by user"


def test_cancel_queued_finished_and_unknown(engine: Engine) -> None:
    busy = spawn(engine, "@sleep=60")
    queued = send(engine, busy.session.id, "later")
    _runner(engine, busy.turn.id)
    assert engine.cancel(queued.turn.id).outcome is CancelOutcome.CANCELLED
    assert engine.cancel(busy.turn.id).outcome is CancelOutcome.CANCELLED
    again = engine.cancel(busy.turn.id)
    assert again.outcome is CancelOutcome.ALREADY_FINISHED and again.state == "cancelled"
    assert engine.cancel("work-99.1").outcome is CancelOutcome.NOT_FOUND
    with engine.ledger.db.read() as conn:
        assert turns.get(conn, queued.turn.id).state is TurnState.CANCELLED
        assert turns.get(conn, queued.turn.id).phases.dispatched is None


def test_cancel_that_cannot_stop_in_time_says_so_and_still_ends_cancelled(engine: Engine) -> None:
    accepted = spawn(engine, "@ignore-term @sleep=60")
    # The fake ignores SIGTERM from before its first line on: wait for that line.
    wait_for(engine, accepted.turn.id, lambda t: t.phases.first_event is not None)
    result = engine.cancel(accepted.turn.id, wait_s=0.5)
    assert result.outcome is CancelOutcome.COULD_NOT_STOP
    assert "had not exited" in (result.reason or "")
    turn = wait_for(engine, accepted.turn.id, timeout=30)  # the runner escalates to SIGKILL
    assert turn.state is TurnState.CANCELLED


def test_a_decided_stop_whose_runner_vanishes_ends_as_decided(engine: Engine) -> None:
    accepted = spawn(engine, "@sleep=60")
    info = _runner(engine, accepted.turn.id)
    with engine.lock:
        active = engine.active[accepted.turn.id]
        active.stop_sent = time.time()  # as if the stop signal reached a runner not yet listening
        watchdog.decide(engine.ctx, active, TurnState.CANCELLED, "cancelled by user")
        os.kill(int(info["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    turn = wait_for(engine, accepted.turn.id)
    assert turn.state is TurnState.CANCELLED and turn.reason == "cancelled by user"

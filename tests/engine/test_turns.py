"""Turns through the real runner and the fake agent: outcomes, resume, usage, bounds."""

import json
from pathlib import Path

import pytest
from tests.engine.conftest import make_engine, send, spawn, wait_for, write_config

from tether.config import load
from tether.domain.records import EventKind
from tether.domain.states import SessionState, TurnState
from tether.engine.supervisor import Engine
from tether.errors import Conflict, ProviderError
from tether.ledger import events, sessions, turns


def _events(engine: Engine, session_id: str) -> list[events.Event]:
    with engine.ledger.db.read() as conn:
        return list(reversed(events.page(conn, session_id, limit=500).items))


def test_spawn_then_resume_same_thread(engine: Engine, tmp_path: Path) -> None:
    first = spawn(engine, "write the tests")
    done = wait_for(engine, first.turn.id)
    assert done.state is TurnState.COMPLETED, done.reason
    with engine.ledger.db.read() as conn:
        session = sessions.get(conn, first.session.id)
    assert session.native_id is not None and session.agent == "fake"
    assert session.state is SessionState.IDLE
    phases = done.phases
    assert None not in (phases.dispatched, phases.spawned, phases.first_event, phases.finished)
    assert phases.accepted <= phases.dispatched <= phases.spawned <= phases.first_event  # type: ignore[operator]
    assert done.usage.input_tokens == 100 and done.usage.output_tokens == 10

    second = send(engine, first.session.id, "now fix them")
    again = wait_for(engine, second.turn.id)
    assert again.state is TurnState.COMPLETED, again.reason
    # Codex reports thread totals (200 after two turns); the turn keeps its own share.
    assert again.usage.input_tokens == 100 and again.usage.cached_input_tokens == 40
    runs = (tmp_path / "agent.log").read_text().splitlines()
    assert [line.split(" ", 1)[0] for line in runs] == [session.native_id] * 2
    texts = [e.preview for e in _events(engine, first.session.id) if e.kind is EventKind.MESSAGE]
    assert texts == ["echo: write the tests", "echo: now fix them"]


def test_idempotency_key_returns_the_same_turn(engine: Engine, tmp_path: Path) -> None:
    first = spawn(engine, "start")
    wait_for(engine, first.turn.id)
    one = send(engine, first.session.id, "once only", key="abc")
    two = send(engine, first.session.id, "once only", key="abc")
    assert one.turn.id == two.turn.id and one.created and not two.created
    wait_for(engine, one.turn.id)
    runs = (tmp_path / "agent.log").read_text().splitlines()
    assert sum("once only" in line for line in runs) == 1
    with engine.ledger.db.read() as conn:
        assert len(turns.for_session(conn, first.session.id)) == 2


def test_agent_reported_failure(engine: Engine) -> None:
    turn = wait_for(engine, spawn(engine, "@fail").turn.id)
    assert turn.state is TurnState.FAILED
    assert turn.reason == "model refused: quota exceeded"


def test_crash_after_start_is_failed_with_stderr(engine: Engine) -> None:
    turn = wait_for(engine, spawn(engine, "@crash").turn.id)
    assert turn.state is TurnState.FAILED and turn.attempts == 1
    assert "status 3" in (turn.reason or "") and "flux capacitor" in (turn.reason or "")


def test_malformed_lines_do_not_break_the_turn(engine: Engine) -> None:
    accepted = spawn(engine, "@garbage")
    turn = wait_for(engine, accepted.turn.id)
    assert turn.state is TurnState.COMPLETED
    errors = [e for e in _events(engine, accepted.session.id) if e.kind is EventKind.ERROR]
    assert len(errors) == 2 and all("unreadable line" in e.preview for e in errors)


def test_fifty_megabyte_output_is_bounded(engine: Engine) -> None:
    accepted = spawn(engine, "@big")
    turn = wait_for(engine, accepted.turn.id, timeout=120)
    assert turn.state is TurnState.COMPLETED, turn.reason
    results = [e for e in _events(engine, accepted.session.id) if e.kind is EventKind.TOOL_RESULT]
    assert len(results) == 1
    big = results[0]
    assert big.size > 50 * 1024 * 1024
    assert len(big.preview.encode()) <= engine.config.engine.preview_bytes
    assert big.preview.startswith("BIG-START") and big.preview.endswith("BIG-END")
    assert big.blob is not None
    assert engine.ledger.blobs.path(big.blob).stat().st_size == big.size


def test_native_id_mismatch_fails_visibly(engine: Engine) -> None:
    first = spawn(engine, "hello")
    wait_for(engine, first.turn.id)
    turn = wait_for(engine, send(engine, first.session.id, "@other-id again").turn.id)
    assert turn.state is TurnState.FAILED
    assert "does not rebind" in (turn.reason or "")
    with engine.ledger.db.read() as conn:
        session = sessions.get(conn, first.session.id)
    runs_dir = engine.config.runs_dir / first.turn.id
    first_thread = json.loads((runs_dir / "stream").read_text().splitlines()[0])["thread_id"]
    assert session.native_id == first_thread


def test_text_agent_is_not_resumable(engine: Engine) -> None:
    accepted = spawn(engine, "hi", agent="plain")
    turn = wait_for(engine, accepted.turn.id)
    assert turn.state is TurnState.COMPLETED
    assert [e.preview for e in _events(engine, accepted.session.id)] == ["hello from a text agent"]
    with pytest.raises(ProviderError, match="cannot resume"):
        send(engine, accepted.session.id, "again")


def test_resume_without_native_id_is_refused(engine: Engine) -> None:
    accepted = spawn(engine, "no thread id", agent="anon")
    turn = wait_for(engine, accepted.turn.id, timeout=60)
    assert turn.state is TurnState.COMPLETED and turn.phases.first_event is not None
    with pytest.raises(Conflict, match="resumes by exact id only"):
        send(engine, accepted.session.id, "again")


def test_a_session_whose_first_turn_never_started_starts_its_thread_on_the_next(
    engine: Engine,
) -> None:
    accepted = spawn(engine, "@exit-early")
    turn = wait_for(engine, accepted.turn.id, timeout=60)
    assert turn.state is TurnState.FAILED and turn.phases.first_event is None
    again = send(engine, accepted.session.id, "now for real")
    assert wait_for(engine, again.turn.id).state is TurnState.COMPLETED
    with engine.ledger.db.read() as conn:
        session = sessions.get(conn, accepted.session.id)
    runs = (engine.config.runs_dir / again.turn.id / "stream").read_text().splitlines()
    assert session.native_id == json.loads(runs[0])["thread_id"]
    assert "resume" not in (engine.config.runs_dir / again.turn.id / "launch.json").read_text()


def test_agent_runs_in_the_workspace_with_pwd_set(engine: Engine, workdir: Path) -> None:
    accepted = spawn(engine, "where am I", agent="where")
    assert wait_for(engine, accepted.turn.id).state is TurnState.COMPLETED
    assert [e.preview for e in _events(engine, accepted.session.id)] == [str(workdir)] * 2


@pytest.mark.postgres
def test_engine_on_postgresql(
    home: Path, workdir: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TETHER_DATABASE_URL", pg_url)
    write_config(home)
    running, ledger = make_engine(load(), workdir)
    running.start()
    try:
        first = spawn(running, "on postgres")
        assert wait_for(running, first.turn.id).state is TurnState.COMPLETED
        again = send(running, first.session.id, "@other-id again")
        failed = wait_for(running, again.turn.id)
        assert failed.state is TurnState.FAILED and "does not rebind" in (failed.reason or "")
        third = wait_for(running, send(running, first.session.id, "still mine").turn.id)
        assert third.state is TurnState.COMPLETED
        busy = spawn(running, "@sleep=30")
        queued = send(running, busy.session.id, "waits")
        wait_for(running, busy.turn.id, lambda t: t.state is TurnState.RUNNING)
        assert running.cancel(busy.turn.id).outcome.value == "cancelled"
        assert wait_for(running, queued.turn.id).state is TurnState.COMPLETED
    finally:
        running.stop()
        ledger.close()


def test_engine_survives_an_unexpected_error(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = turns.next_dispatchable
    failures = []

    def flaky(conn: object, limit: int, host: str | None = None) -> list[object]:
        if not failures:
            failures.append(1)
            raise RuntimeError("database hiccup")
        return real(conn, limit, host)  # type: ignore[arg-type]

    monkeypatch.setattr(turns, "next_dispatchable", flaky)
    turn = wait_for(engine, spawn(engine, "after a hiccup").turn.id)
    assert failures and turn.state is TurnState.COMPLETED

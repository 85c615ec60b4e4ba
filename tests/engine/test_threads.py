"""Threads through the engine with the fake agent: an overflow fails the turn with
the agent's words, the next message rotates to a new thread with a hand-off and
is delivered exactly once; budgets rotate; ``on_overflow = "fail"`` refuses; a
turn that overflows in the thread it just opened fails with both reasons.

The same flows with the real CLIs: tests/realagents/test_threads.py.
"""

from pathlib import Path

from tests.engine.conftest import make_engine, send, spawn, wait_for, write_config

from tether.config import load
from tether.domain.records import EventKind
from tether.domain.states import TurnState
from tether.engine import rotation
from tether.engine.supervisor import Engine
from tether.ledger import events, sessions, threads

OVERFLOW_WORDS = "Codex ran out of room in the model's context window"


def runs(tmp_path: Path) -> list[tuple[str, str]]:
    lines = (tmp_path / "agent.log").read_text().splitlines()
    return [(line.split(" ", 1)[0], line.split(" ", 1)[1]) for line in lines]


def completed(engine: Engine, turn_id: str) -> None:
    turn = wait_for(engine, turn_id)
    assert turn.state is TurnState.COMPLETED, turn.reason


def overflowed_session(engine: Engine) -> tuple[str, str]:
    """A session whose second turn overflowed: (session id, first native id)."""
    first = spawn(engine, "build the parser", agent="fake")
    completed(engine, first.turn.id)
    full = send(engine, first.session.id, "@overflow add the tests")
    turn = wait_for(engine, full.turn.id)
    assert turn.state is TurnState.FAILED
    assert turn.reason is not None and turn.reason.startswith("context full: " + OVERFLOW_WORDS)
    with engine.ledger.db.read() as conn:
        native = sessions.get(conn, first.session.id).native_id
        thread = threads.current(conn, first.session.id)
    assert native is not None and thread is not None
    assert thread.overflows == 1 and thread.rotate_reason == turn.reason
    return first.session.id, native


def test_overflow_then_the_next_message_rotates_with_a_hand_off(
    engine: Engine, tmp_path: Path
) -> None:
    session_id, old = overflowed_session(engine)
    after = send(engine, session_id, "now the docs")
    completed(engine, after.turn.id)

    with engine.ledger.db.read() as conn:
        session = sessions.get(conn, session_id)
        history = threads.for_session(conn, session_id)
        found = events.page(conn, session_id, limit=200).items
        old_owner = sessions.find_by_native_id(conn, "fake", old)
    assert [t.native_id for t in history] == [old, session.native_id] and session.native_id != old
    assert history[0].end_reason is not None and OVERFLOW_WORDS in history[0].end_reason
    assert history[1].first_turn == after.turn.number and history[1].rotate_reason is None
    assert old_owner is not None and old_owner.id == session_id  # attributed by exact id

    rotated = [e for e in found if e.kind is EventKind.ROTATED]
    assert len(rotated) == 1 and rotated[0].turn_id == after.turn.id
    assert rotated[0].data is not None and rotated[0].data["old_native_id"] == old
    handoff = engine.ledger.blobs.get(str(rotated[0].data["handoff_blob"])).decode()
    assert "build the parser" in handoff  # the first request
    assert str(engine.config.home) not in handoff
    assert handoff.rstrip().endswith("now the docs")  # the pending message, last

    # The agent ran: turn 1 and 2 in the old thread, turn 3 once, in a new thread.
    log = runs(tmp_path)
    assert [thread for thread, _ in log] == [old, old, session.native_id]
    assert sum("now the docs" in prompt for _, prompt in log) == 1
    assert "[tether] This is session" in log[-1][1]

    # The thread after it resumes normally, with the plain message.
    more = send(engine, session_id, "and a changelog")
    completed(engine, more.turn.id)
    assert runs(tmp_path)[-1] == (session.native_id, "and a changelog")


def test_a_rotated_thread_that_overflows_again_fails_with_both_reasons(
    engine: Engine, tmp_path: Path
) -> None:
    session_id, _ = overflowed_session(engine)
    again = send(engine, session_id, "@overflow still too big")
    turn = wait_for(engine, again.turn.id)
    assert turn.state is TurnState.FAILED and turn.reason is not None
    assert turn.reason.count(OVERFLOW_WORDS) == 2, turn.reason
    assert "in the new thread this turn opened" in turn.reason
    assert sum("still too big" in prompt for _, prompt in runs(tmp_path)) == 1  # no loop


def test_on_overflow_fail_refuses_until_a_rotation_is_asked_for(
    home: Path, workdir: Path, tmp_path: Path
) -> None:
    write_config(home, on_overflow="fail")
    engine, ledger = make_engine(load(), workdir)
    engine.start()
    try:
        session_id, old = overflowed_session(engine)
        refused = send(engine, session_id, "try again")
        turn = wait_for(engine, refused.turn.id)
        assert turn.state is TurnState.FAILED and turn.reason is not None
        assert 'on_overflow = "fail"' in turn.reason
        assert f"tether rotate {session_id}" in turn.reason
        assert len(runs(tmp_path)) == 2  # refused without running the agent

        with ledger.db.write() as conn:
            rotation.request(conn, session_id)
        after = send(engine, session_id, "go on")
        completed(engine, after.turn.id)
        with ledger.db.read() as conn:
            assert sessions.get(conn, session_id).native_id not in (None, old)
    finally:
        engine.stop()
        ledger.close()


def test_a_thread_over_its_budget_rotates_before_the_next_turn(
    engine: Engine, tmp_path: Path
) -> None:
    first = spawn(engine, "start", agent="fake")
    completed(engine, first.turn.id)
    with engine.ledger.db.write() as conn:
        session = sessions.get(conn, first.session.id)
        threads.measure(conn, session, tokens=90_000, window=100_000)
    after = send(engine, first.session.id, "next")
    completed(engine, after.turn.id)
    with engine.ledger.db.read() as conn:
        history = threads.for_session(conn, first.session.id)
    assert len(history) == 2
    assert history[0].end_reason is not None and "context at 90%" in history[0].end_reason
    assert history[1].native_id == runs(tmp_path)[-1][0] != history[0].native_id

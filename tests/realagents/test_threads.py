"""Threads that fill up, with the real CLIs through tether's engine (issue 10).

The model server answers with each provider's own context-length error
(``{"overflow": true}``, see OVERFLOW_ERRORS): the turn ends ``failed`` with
``context full: <the agent's words>``; the next message rotates the session to
a new native thread opened with a hand-off and completes there; the old and
the new thread both belong to the session; the message that triggered the
rotation reaches the model once, in the new thread. Gemini CLI's success
without a reply (a request it skips as too big) is recognised the same way.
"""

from __future__ import annotations

import pytest
from tests.fakes.model_server import ModelServer
from tests.realagents.harness import AGENTS
from tests.realagents.record_context import WINDOWS
from tests.realagents.test_through_tether import MakeRig, make_rig  # noqa: F401
from tests.realagents.tether_harness import Rig, native_log_text, native_thread_ids

from tether.domain.records import EventKind
from tether.domain.states import TurnState
from tether.ledger import sessions, threads

pytestmark = pytest.mark.realagent

ALL = sorted(AGENTS)
HANDOFF_MARK = "[tether] This is session"


#: OpenCode answers an overflow only after its own compaction and retry; on a busy
#: 2-core machine that took up to 80 s before its first line (recorded runs).
PATIENT = {"start_timeout_s": 200, "idle_timeout_s": 120}


def _ended(rig: Rig, turn_id: str, state: TurnState) -> str:
    turn = rig.wait(turn_id, 400)
    assert turn.state is state, rig.dump(turn_id)
    return turn.reason or ""


@pytest.mark.timeout(900)
@pytest.mark.parametrize("agent", ALL)
def test_overflow_fails_visibly_then_the_next_message_rotates(
    agent: str,
    make_rig: MakeRig,  # noqa: F811
    model_server: ModelServer,
) -> None:
    rig = make_rig(agent, **PATIENT)
    first = rig.spawn("remember the word marmalade")
    _ended(rig, first.turn.id, TurnState.COMPLETED)
    session_id = first.session.id
    old = rig.session(session_id).native_id
    assert old

    model_server.set_script([{"overflow": True}])
    full = rig.send(session_id, "this message overflows")
    reason = _ended(rig, full.turn.id, TurnState.FAILED)
    assert reason.startswith("context full: "), rig.dump(full.turn.id)

    model_server.clear_requests()
    after = rig.send(session_id, "after the rotation")
    _ended(rig, after.turn.id, TurnState.COMPLETED)

    new = rig.session(session_id).native_id
    assert new and new != old, rig.dump(after.turn.id)
    with rig.ledger.db.read() as conn:
        found = threads.for_session(conn, session_id)
        owners = {n: sessions.find_by_native_id(conn, agent, n) for n in (old, new)}
    assert [t.native_id for t in found] == [old, new]
    assert found[0].end_reason == reason
    assert all(s is not None and s.id == session_id for s in owners.values())
    assert {old, new} <= native_thread_ids(rig.home)  # both threads are the agent's own

    rotated = [e for e in rig.events(session_id) if e.kind is EventKind.ROTATED]
    assert len(rotated) == 1 and rotated[0].turn_id == after.turn.id
    # The model saw the hand-off, with the first request and the message, in one turn.
    main = model_server.main_requests()
    assert main, "the rotated turn never reached the model"
    users = main[-1]["user_texts"]
    handoffs = [u for u in users if HANDOFF_MARK in u]
    assert len(handoffs) == 1, users
    assert "remember the word marmalade" in handoffs[0]
    assert handoffs[0].count("after the rotation") == 1
    assert "after the rotation" in native_log_text(rig.home, new)
    assert "after the rotation" not in native_log_text(rig.home, old)
    assert rig.turn(after.turn.id).attempts == 1


@pytest.mark.timeout(450)
def test_gemini_success_without_a_reply_fails_as_context_full(
    make_rig: MakeRig,  # noqa: F811
    model_server: ModelServer,
) -> None:
    rig = make_rig("gemini", **PATIENT)
    nearly = {"input": WINDOWS["gemini"] - 20, "cached": 0, "output": 10}
    model_server.set_script([{"shell": "echo tool-output", "usage": nearly, "then": "unseen"}])
    accepted = rig.spawn("run the tool")
    reason = _ended(rig, accepted.turn.id, TurnState.FAILED)
    assert reason.startswith("context full: Gemini CLI reported success without any reply")
    assert model_server.pending == 1  # the follow-up request was never sent
    with rig.ledger.db.read() as conn:
        thread = threads.current(conn, accepted.session.id)
    assert thread is not None and thread.rotate_reason == reason

"""One lane per session: 50 sessions x 20 turns, none run twice, order kept."""

from collections import defaultdict
from itertools import pairwise
from pathlib import Path

import pytest
from tests.engine.conftest import spawn, wait_for

from tether.domain.states import TurnState
from tether.engine import accept
from tether.engine.supervisor import Engine
from tether.ledger import turns

SESSIONS = 50
TURNS = 20


@pytest.mark.timeout(1200)
def test_fifty_sessions_twenty_turns(engine: Engine, tmp_path: Path) -> None:
    firsts = [spawn(engine, f"s{i} t1") for i in range(SESSIONS)]
    queued = {a.session.id: [a.turn.id] for a in firsts}
    for number in range(2, TURNS + 1):
        for index, first in enumerate(firsts):
            sent = accept.send(
                engine.config, engine.ledger, first.session.id, f"s{index} t{number}"
            )
            queued[first.session.id].append(sent.turn.id)
    engine.poke()
    for ids in queued.values():
        for turn_id in ids:
            turn = wait_for(engine, turn_id, timeout=600)
            assert turn.state is TurnState.COMPLETED, (turn_id, turn.reason)

    runs = (tmp_path / "agent.log").read_text().splitlines()
    assert len(runs) == SESSIONS * TURNS, "some turn ran twice or never"
    by_thread: dict[str, list[str]] = defaultdict(list)
    for line in runs:
        thread, prompt = line.split(" ", 1)
        by_thread[thread].append(prompt)
    assert len(by_thread) == SESSIONS, "a session's turns ran in more than one thread"
    for prompts in by_thread.values():
        session = prompts[0].split()[0]
        assert prompts == [f"{session} t{n}" for n in range(1, TURNS + 1)]
    with engine.ledger.db.read() as conn:
        for ids in queued.values():
            spans = [turns.get(conn, t).phases for t in ids]
            for earlier, later in pairwise(spans):
                assert earlier.finished is not None and later.dispatched is not None
                assert earlier.finished <= later.dispatched, "two turns of a session overlapped"

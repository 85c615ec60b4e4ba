"""Every live turn names its wait, with the moment it began (invariant 7)."""

import pytest

from tether.domain.records import Phases, Turn, TurnKind
from tether.domain.serialize import turn as serialize_turn
from tether.domain.states import TurnState
from tether.domain.waits import named_wait


def make(state: TurnState, **values: object) -> Turn:
    phases = {k: v for k, v in values.items() if k in Phases.__slots__}
    extra = {k: v for k, v in values.items() if k not in phases}
    return Turn(
        "web-1.1",
        "web-1",
        1,
        TurnKind.PROMPT,
        "hi",
        None,
        state,
        None,
        0,
        Phases(**phases),
        **extra,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("turn", "name", "since"),
    [
        (make(TurnState.QUEUED, accepted=1.0), "queued", 1.0),
        (make(TurnState.DISPATCHED, accepted=1.0, dispatched=2.0), "starting", 2.0),
        (make(TurnState.RUNNING, dispatched=2.0, spawned=3.0), "first_event", 3.0),
        (make(TurnState.RUNNING, spawned=3.0, first_event=4.0), "first_output", 4.0),
        (
            make(TurnState.RUNNING, first_event=4.0, first_output=5.0, last_progress=6.0),
            "working",
            6.0,
        ),
        (
            make(TurnState.RUNNING, first_event=4.0, last_progress=6.0, compacting_since=7.0),
            "compacting",
            7.0,
        ),
        (
            make(TurnState.RUNNING, first_event=4.0, last_progress=6.0, stalled_at=9.0),
            "stalled",
            6.0,
        ),
    ],
)
def test_the_wait_a_live_turn_is_in(turn: Turn, name: str, since: float) -> None:
    wait = named_wait(turn)
    assert wait is not None and (wait.name, wait.since) == (name, since)
    assert wait.seconds(since + 12) == 12
    shown = serialize_turn(turn)["wait"]
    assert shown["name"] == name and shown["label"] and shown["seconds"] > 0


def test_an_ended_turn_waits_for_nothing() -> None:
    turn = make(TurnState.COMPLETED, accepted=1.0, finished=2.0)
    assert named_wait(turn) is None and serialize_turn(turn)["wait"] is None

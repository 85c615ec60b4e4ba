"""Session and turn state machines as explicit transition tables.

Terminal turn states never change (invariant 6 of DESIGN.md): the tables give
them no way out, and ``check_turn_transition`` is the only door.
"""

from enum import StrEnum

from tether.errors import IllegalTransition


class TurnState(StrEnum):
    QUEUED = "queued"  # committed to the ledger, waiting for its lane
    DISPATCHED = "dispatched"  # handed to a runner, agent not yet spawned
    RUNNING = "running"  # agent process spawned
    COMPLETED = "completed"  # agent finished and reported success
    FAILED = "failed"  # agent or tether reported an error; reason says which
    CANCELLED = "cancelled"  # a user asked to stop it and it stopped
    INTERRUPTED = "interrupted"  # its runner vanished without an exit status
    TIMED_OUT = "timed_out"  # the watchdog stopped it

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_TURN_STATES


TERMINAL_TURN_STATES = frozenset(
    {
        TurnState.COMPLETED,
        TurnState.FAILED,
        TurnState.CANCELLED,
        TurnState.INTERRUPTED,
        TurnState.TIMED_OUT,
    }
)

TURN_TRANSITIONS: dict[TurnState, frozenset[TurnState]] = {
    TurnState.QUEUED: frozenset({TurnState.DISPATCHED, TurnState.CANCELLED, TurnState.FAILED}),
    TurnState.DISPATCHED: frozenset(
        {
            TurnState.RUNNING,
            TurnState.FAILED,
            TurnState.CANCELLED,
            TurnState.INTERRUPTED,
            TurnState.TIMED_OUT,
        }
    ),
    TurnState.RUNNING: frozenset(
        {
            TurnState.COMPLETED,
            TurnState.FAILED,
            TurnState.CANCELLED,
            TurnState.INTERRUPTED,
            TurnState.TIMED_OUT,
        }
    ),
    **{state: frozenset() for state in TERMINAL_TURN_STATES},
}


class SessionState(StrEnum):
    IDLE = "idle"  # no turn waiting or running
    QUEUED = "queued"  # turns waiting, none running
    RUNNING = "running"  # one turn dispatched or running
    ARCHIVED = "archived"  # closed for new turns; kept for history

    @property
    def terminal(self) -> bool:
        return self is SessionState.ARCHIVED


SESSION_TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    SessionState.IDLE: frozenset(
        {SessionState.QUEUED, SessionState.RUNNING, SessionState.ARCHIVED}
    ),
    SessionState.QUEUED: frozenset({SessionState.RUNNING, SessionState.IDLE}),
    SessionState.RUNNING: frozenset({SessionState.IDLE, SessionState.QUEUED}),
    SessionState.ARCHIVED: frozenset(),
}


def check_turn_transition(current: TurnState, target: TurnState) -> None:
    if target not in TURN_TRANSITIONS[current]:
        if current.terminal:
            raise IllegalTransition(f"turn is already {current}; terminal states never change")
        raise IllegalTransition(f"a turn cannot go from {current} to {target}")


def check_session_transition(current: SessionState, target: SessionState) -> None:
    if target not in SESSION_TRANSITIONS[current]:
        raise IllegalTransition(f"a session cannot go from {current} to {target}")


def session_state_for(running: int, queued: int) -> SessionState:
    """The state a live session should show given its turns."""
    if running:
        return SessionState.RUNNING
    if queued:
        return SessionState.QUEUED
    return SessionState.IDLE

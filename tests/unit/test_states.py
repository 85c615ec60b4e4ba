import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.domain.states import (
    SESSION_TRANSITIONS,
    TERMINAL_TURN_STATES,
    TURN_TRANSITIONS,
    SessionState,
    TurnState,
    check_session_transition,
    check_turn_transition,
)
from tether.errors import IllegalTransition

ALL_PAIRS = [(a, b) for a in TurnState for b in TurnState]


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: s.value)
def test_turn_table_is_the_only_door(current: TurnState, target: TurnState) -> None:
    if target in TURN_TRANSITIONS[current]:
        check_turn_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_turn_transition(current, target)


def test_every_state_has_a_row_and_terminals_have_no_exit() -> None:
    assert set(TURN_TRANSITIONS) == set(TurnState)
    assert {s for s in TurnState if s.terminal} == TERMINAL_TURN_STATES
    assert {
        TurnState.COMPLETED,
        TurnState.FAILED,
        TurnState.CANCELLED,
        TurnState.INTERRUPTED,
        TurnState.TIMED_OUT,
    } == TERMINAL_TURN_STATES
    for state in TERMINAL_TURN_STATES:
        assert TURN_TRANSITIONS[state] == frozenset()


def test_queued_cannot_jump_to_completed() -> None:
    with pytest.raises(IllegalTransition, match="queued to completed"):
        check_turn_transition(TurnState.QUEUED, TurnState.COMPLETED)


@given(st.lists(st.sampled_from(list(TurnState)), max_size=30))
def test_terminal_states_never_change(attempts: list[TurnState]) -> None:
    state = TurnState.QUEUED
    for target in attempts:
        was_terminal = state.terminal
        try:
            check_turn_transition(state, target)
        except IllegalTransition:
            continue
        assert not was_terminal, f"left terminal state {state} for {target}"
        state = target


@pytest.mark.parametrize(
    ("current", "target"), [(a, b) for a in SessionState for b in SessionState], ids=str
)
def test_session_table(current: SessionState, target: SessionState) -> None:
    if target in SESSION_TRANSITIONS[current]:
        check_session_transition(current, target)
    else:
        with pytest.raises(IllegalTransition):
            check_session_transition(current, target)
    if current is SessionState.ARCHIVED:
        assert SESSION_TRANSITIONS[current] == frozenset()

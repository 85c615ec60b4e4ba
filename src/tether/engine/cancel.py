"""Cancel answers what actually happened, in exactly one of four words."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from tether.domain.ids import parse_turn_id
from tether.domain.records import Turn
from tether.domain.states import TurnState
from tether.engine import claims, watchdog
from tether.engine.context import EngineContext
from tether.errors import NotFound
from tether.ledger import turns

CANCEL_POLL_S = 0.1


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # was queued, or was running and its process group is gone
    ALREADY_FINISHED = "already_finished"  # terminal before the request; state says which
    NOT_FOUND = "not_found"  # no such turn
    COULD_NOT_STOP = "could_not_stop"  # asked, but the process did not go; reason says why


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    turn_id: str
    state: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "outcome": self.outcome.value,
            "turn_id": self.turn_id,
            "state": self.state,
            "reason": self.reason,
        }


def cancel(
    ctx: EngineContext, turn_id: str, wait_s: float, tick: Callable[[], None]
) -> CancelResult:
    """Stop a turn and say what happened; never report ``cancelled`` on a hope."""
    parse_turn_id(turn_id)
    with ctx.lock:
        try:
            with ctx.ledger.db.write() as conn:
                turn = turns.get(conn, turn_id)
                if turn.state.terminal:
                    return CancelResult(CancelOutcome.ALREADY_FINISHED, turn_id, turn.state)
                if turn.state is TurnState.QUEUED:
                    turns.transition(
                        conn, turn_id, TurnState.CANCELLED, reason="cancelled before it ran"
                    )
                    return CancelResult(CancelOutcome.CANCELLED, turn_id, TurnState.CANCELLED)
        except NotFound:
            return CancelResult(CancelOutcome.NOT_FOUND, turn_id)
        active = ctx.active.get(turn_id)
        if active is not None:
            watchdog.decide(ctx, active, TurnState.CANCELLED, "cancelled by user")
        elif claims.is_elsewhere(ctx, turn):
            claims.ask_owner_to_stop(
                ctx, turn, f"cancelled by user (through host {ctx.config.host_name})"
            )
        else:
            return CancelResult(
                CancelOutcome.COULD_NOT_STOP,
                turn_id,
                turn.state,
                "the turn is not supervised by this daemon (mid-recovery)",
            )
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        tick()
        with ctx.ledger.db.read() as conn:
            turn = turns.get(conn, turn_id)
        if turn.state.terminal:
            return CancelResult(CancelOutcome.CANCELLED, turn_id, turn.state, turn.reason)
        time.sleep(CANCEL_POLL_S)
    return CancelResult(
        CancelOutcome.COULD_NOT_STOP,
        turn_id,
        turn.state,
        f"{_asked(ctx, turn)} but had not exited after {wait_s:g}s; "
        "the turn will end cancelled when it does",
    )


def _asked(ctx: EngineContext, turn: Turn) -> str:
    if claims.is_elsewhere(ctx, turn):
        return f"host {turn.host}, which runs it, was asked to stop the agent"
    return "the agent's process group was signalled"

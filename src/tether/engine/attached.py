"""Attached turns: a human holds the session's lane in the agent's own terminal UI.

The holder is the attaching CLI process (pid + start ticks); the turn ends
when it reports how the UI exited, or ``interrupted`` if it goes away first.
"""

from tether.agents.provider import Launch
from tether.domain.ids import parse_turn_id
from tether.domain.records import Turn, TurnKind
from tether.domain.states import TurnState
from tether.engine import accept
from tether.engine.context import EngineContext
from tether.engine.procs import is_alive
from tether.errors import Conflict
from tether.ledger import turns


def attach(ctx: EngineContext, session_id: str, pid: int, ticks: int | None) -> tuple[Turn, Launch]:
    with ctx.lock:
        turn, launch = accept.attach(ctx.config, ctx.ledger, session_id, pid, ticks)
        ctx.attached[turn.id] = (pid, ticks)
    return turn, launch


def finish(ctx: EngineContext, turn_id: str, exit_code: int) -> Turn:
    parse_turn_id(turn_id)
    with ctx.lock, ctx.ledger.db.write() as conn:
        turn = turns.get(conn, turn_id)
        if turn.kind is not TurnKind.ATTACHED:
            raise Conflict(f"turn {turn_id} is not an attached turn")
        ctx.attached.pop(turn_id, None)
        if turn.state.terminal:
            return turn
        if exit_code == 0:
            done = turns.transition(conn, turn_id, TurnState.COMPLETED, reason="detached")
        else:
            reason = f"the interactive session exited with status {exit_code}"
            done = turns.transition(conn, turn_id, TurnState.FAILED, reason=reason)
    ctx.wake.set()
    return done


def check(ctx: EngineContext) -> None:
    """An attached turn whose holder is gone ends ``interrupted``."""
    for turn_id, (pid, ticks) in list(ctx.attached.items()):
        if is_alive(pid, ticks):
            continue
        ctx.attached.pop(turn_id)
        with ctx.ledger.db.write() as conn:
            if not turns.get(conn, turn_id).state.terminal:
                turns.transition(
                    conn,
                    turn_id,
                    TurnState.INTERRUPTED,
                    reason="the attached terminal went away without reporting how it ended",
                )

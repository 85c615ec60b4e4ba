"""How a live turn ends: its agent's exit applied, a start failure retried, a vanished runner."""

import signal
import time

from tether.domain.records import Turn
from tether.domain.states import TurnState
from tether.engine import dispatch, rotation
from tether.engine.context import Active, EngineContext
from tether.engine.procs import is_alive, signal_group
from tether.engine.rundir import read_json
from tether.ledger import sessions, turns


def on_exit(ctx: EngineContext, active: Active, status: dict[str, object]) -> None:
    with ctx.ledger.db.read() as conn:
        turn = turns.get(conn, active.turn_id)
        state = turns.run_state(conn, active.turn_id)
    code = status.get("code")
    if state.outcome is None and turn.phases.first_event is None:
        reason = (
            active.retry_reason
            or status.get("spawn_error")
            or f"agent exited with status {code} before its first event{_stderr(active)}"
        )
        if _retry(ctx, active, turn, str(reason)):
            return
        attempts = f"{turn.attempts} attempt{'s' if turn.attempts != 1 else ''}"
        ctx.finish(active, TurnState.FAILED, f"agent never started ({attempts}): {reason}")
    elif state.outcome is not None:
        ctx.finish(active, TurnState(state.outcome), turn.reason or state.outcome)
    elif code != 0 and active.overflow_seen:
        with ctx.ledger.db.write() as conn:
            session = sessions.get(conn, active.session_id)
            reason = rotation.context_failure(conn, session, turn, active.overflow_seen)
        ctx.finish(active, TurnState.FAILED, reason)
    elif code != 0:
        ended = f"status {code}" if code is not None else f"signal {status.get('signal')}"
        ctx.finish(active, TurnState.FAILED, f"agent exited with {ended}{_stderr(active)}")
    else:
        ctx.finish(active, TurnState.COMPLETED, "agent finished")


def _retry(ctx: EngineContext, active: Active, turn: Turn, reason: str) -> bool:
    """Only a failure before the agent's first event is retried, as the same turn."""
    if turn.attempts > ctx.config.engine.start_retries:
        return False
    active.run.archive_attempt(turn.attempts)
    active.attempt += 1
    active.attempt_started = time.time()
    active.retry_reason = active.stop_sent = active.proc = active.runner_pid = None
    active.spawned, active.offset = False, None
    with ctx.ledger.db.write() as conn:
        turns.update_fields(
            conn,
            turn.id,
            {
                "attempts": active.attempt,
                "stream_offset": 0,
                "runner_pid": None,
                "runner_ticks": None,
            },
        )
    active.parser = ctx.provider_of(active).parser()
    dispatch.respawn(ctx, active, f"attempt {turn.attempts} failed: {reason}; retrying")
    return True


def vanished(ctx: EngineContext, active: Active) -> None:
    """No runner and no exit status: a decided stop ends as decided, else interrupted."""
    with ctx.ledger.db.read() as conn:
        turn = turns.get(conn, active.turn_id)
        decided = turns.run_state(conn, active.turn_id).outcome
    if decided is not None:
        ctx.finish(active, TurnState(decided), turn.reason or decided)
        return
    ctx.finish(
        active,
        TurnState.INTERRUPTED,
        "the runner process vanished without recording an exit status "
        "(machine restart or killed); the agent's work may be incomplete",
    )


def kill_orphan(active: Active) -> None:
    """A runner that died leaves its agent's group behind: end it, if it is still that one."""
    runner = read_json(active.run.runner) or {}
    pid, ticks = runner.get("agent_pid"), runner.get("agent_ticks")
    if isinstance(pid, int) and is_alive(pid, ticks if isinstance(ticks, int) else None):
        signal_group(pid, signal.SIGKILL)


def _stderr(active: Active) -> str:
    lines = [line for line in active.run.stderr_text().splitlines() if line.strip()]
    return f": {lines[-1][:500]}" if lines else ""

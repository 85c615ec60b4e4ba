"""The watchdog: start, idle and whole-turn timeouts; decided stops are recorded first."""

import signal
import time

from tether.domain.states import TurnState
from tether.engine.context import Active, EngineContext
from tether.engine.procs import signal_process
from tether.engine.rundir import read_json
from tether.ledger import turns


def watch(ctx: EngineContext, active: Active) -> None:
    engine = ctx.config.engine
    now = time.time()
    with ctx.ledger.db.read() as conn:
        turn = turns.get(conn, active.turn_id)
        state = turns.run_state(conn, active.turn_id)
    if state.outcome is not None:
        stop(active)
        return
    retrying = turn.reconnecting(now)
    if turn.phases.first_event is None:
        if now - active.attempt_started > engine.start_timeout_s:
            active.retry_reason = f"no event from the agent within {engine.start_timeout_s:g}s" + (
                f" ({retrying})" if retrying else ""
            )
            stop(active)
        return
    if turn.phases.dispatched and now - turn.phases.dispatched > engine.max_turn_s:
        decide(ctx, active, TurnState.TIMED_OUT, f"turn exceeded max_turn_s={engine.max_turn_s:g}s")
        return
    last = turn.phases.last_progress or turn.phases.first_event
    if state.stalled_at is None and now - last > engine.idle_timeout_s:
        with ctx.ledger.db.write() as conn:
            turns.update_fields(conn, active.turn_id, {"stalled_at": now})
        ctx.note(active, f"stalled: no progress for {engine.idle_timeout_s:g}s")
    elif state.stalled_at is not None and now - state.stalled_at > engine.abort_after_s:
        quiet = engine.idle_timeout_s + engine.abort_after_s
        why = f"no progress from the agent for {quiet:g}s" + (f" ({retrying})" if retrying else "")
        decide(ctx, active, TurnState.TIMED_OUT, why)


def decide(ctx: EngineContext, active: Active, target: TurnState, reason: str) -> None:
    """Record the terminal state first, then stop the process; its exit applies it."""
    with ctx.ledger.db.write() as conn:
        if turns.run_state(conn, active.turn_id).outcome is None:
            turns.update_fields(conn, active.turn_id, {"outcome": target.value, "reason": reason})
    stop(active)


def stop(active: Active) -> None:
    """Ask the runner (once) to stop its agent's group; it records how the agent ended."""
    if active.stop_sent is not None:
        return
    runner = read_json(active.run.runner) or {}
    pid = runner.get("pid") or active.runner_pid
    if pid is not None:
        signal_process(int(pid), signal.SIGTERM)
    active.stop_sent = time.time()

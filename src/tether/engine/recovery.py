"""Recovery at start-up: rebuild the in-memory view of live turns from the ledger and run dirs."""

import logging
import time

from tether.domain.records import TurnKind
from tether.engine import claims, dispatch, ownership
from tether.engine.context import Active, EngineContext
from tether.engine.rundir import RunDir, read_json
from tether.ledger import sessions, turns

log = logging.getLogger("tether.engine")


def recover(ctx: EngineContext) -> None:
    for turn_id in claims.stop_orphans(ctx):
        log.warning("stopped the agent of %s, ended by a peer", turn_id, extra={"turn": turn_id})
    with ctx.ledger.db.read() as conn:
        live = turns.live(conn, host=claims.own_host(ctx))
        states = {t.id: turns.run_state(conn, t.id) for t in live}
    for turn in live:
        if turn.kind is TurnKind.ATTACHED:
            state = states[turn.id]
            ctx.attached[turn.id] = (state.runner_pid, state.runner_ticks)
            continue
        with ctx.ledger.db.read() as conn:
            session = sessions.get(conn, turn.session_id)
        run = ctx.run_dir(turn.id)
        runner = read_json(run.runner) or {}
        active = Active(
            turn.id,
            turn.session_id,
            ctx.provider(session).parser(),
            run,
            turn.attempts,
            float(runner.get("started_at") or turn.phases.dispatched or time.time()),
        )
        active.runner_pid = states[turn.id].runner_pid
        ctx.active[turn.id] = active
        if _never_ran(run, states[turn.id].runner_pid):
            dispatch.respawn(ctx, active, "the daemon stopped before the runner started")
        log.info("reattached", extra={"action": "recover", "turn": turn.id})


def _never_ran(run: RunDir, runner_pid: int | None) -> bool:
    """No runner owns the attempt, and none ever began it: starting it cannot run it twice.

    A held lock is a live runner (perhaps one the ledger never heard of); a
    ``runner.json`` or an exit status means one began. A run dir from before
    ownership locks has no lock file: there, only an unrecorded runner pid says so.
    """
    owned = ownership.held(run)
    if owned or run.runner.exists() or run.exit.exists():
        return False
    return owned is False or runner_pid is None

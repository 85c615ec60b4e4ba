"""Recovery at start-up: rebuild the in-memory view of live turns from the ledger and run dirs."""

import logging
import time

from tether.domain.records import TurnKind
from tether.engine import dispatch
from tether.engine.context import Active, EngineContext
from tether.engine.rundir import read_json
from tether.ledger import sessions, turns

log = logging.getLogger("tether.engine")


def recover(ctx: EngineContext) -> None:
    with ctx.ledger.db.read() as conn:
        live = turns.live(conn)
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
        ctx.active[turn.id] = active
        if states[turn.id].runner_pid is None:
            dispatch.respawn(ctx, active, "the daemon stopped before the runner started")
        log.info("reattached", extra={"action": "recover", "turn": turn.id})

"""Which turns this host runs, when several hosts share one PostgreSQL ledger.

A turn runs on the host holding its project's checkout. Hosts claim turns
with row locks (``FOR UPDATE SKIP LOCKED``, see ``ledger.turns.claim``), so
a turn is claimed once whatever the timing, and each host touches only the
run directories of turns it claimed. A cancel for another host's turn is
written to the ledger as a decided outcome; that host's watchdog stops the
agent. On SQLite there is one implicit host and all of this is a no-op.
"""

import signal
import time

from tether.domain.records import Turn
from tether.domain.states import TurnState
from tether.engine import ownership
from tether.engine.context import EngineContext
from tether.engine.procs import signal_process
from tether.engine.rundir import read_json
from tether.ledger import turns


def is_team(ctx: EngineContext) -> bool:
    return not ctx.ledger.db.is_sqlite


def own_host(ctx: EngineContext) -> str | None:
    """This host's name where turns are split between hosts; None where this is the only one."""
    return ctx.config.host_name if is_team(ctx) else None


def claim(ctx: EngineContext) -> list[Turn]:
    """Claim what this host may start now; a read first keeps idle ticks free of writes."""
    me = own_host(ctx)
    with ctx.ledger.db.read() as conn:
        room = ctx.config.engine.max_parallel - turns.count_live(conn, host=me)
        if room <= 0 or not turns.next_dispatchable(conn, 1, me):
            return []
    with ctx.ledger.db.write() as conn:
        return turns.claim(conn, ctx.config.host_name, room, only_own=me is not None)


ORPHAN_WINDOW_S = 7 * 24 * 3600


def stop_orphans(ctx: EngineContext) -> list[str]:
    """At start: stop runners still working on turns a peer ended while this host was silent.

    The turn is over for everyone else (``interrupted``, never run again); an
    agent that is still running for it here would be work nobody will see.
    """
    me = own_host(ctx)
    if me is None:
        return []
    with ctx.ledger.db.read() as conn:
        ended = turns.ended_by_peer(conn, me, time.time() - ORPHAN_WINDOW_S)
    stopped = []
    for turn in ended:
        run = ctx.run_dir(turn.id)
        runner = read_json(run.runner) or {}
        pid = runner.get("pid")
        if ownership.held(run) and isinstance(pid, int):
            signal_process(pid, signal.SIGTERM)
            stopped.append(turn.id)
    return stopped


def is_elsewhere(ctx: EngineContext, turn: Turn) -> bool:
    """A live turn another host claimed: only that host may touch its process and run dir."""
    return is_team(ctx) and turn.host is not None and turn.host != ctx.config.host_name


def ask_owner_to_stop(ctx: EngineContext, turn: Turn, reason: str) -> None:
    """Record the decision; the owning host's watchdog stops the agent and applies it."""
    with ctx.ledger.db.write() as conn:
        if turns.run_state(conn, turn.id).outcome is None:
            turns.update_fields(
                conn, turn.id, {"outcome": TurnState.CANCELLED.value, "reason": reason}
            )

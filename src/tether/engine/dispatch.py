"""Dispatch: a queued turn whose lane is free gets its argv and a runner."""

import os
import time
from pathlib import Path

from tether.agents.provider import Launch, Provider, TurnRequest
from tether.domain.records import Session, Turn
from tether.domain.states import TurnState
from tether.engine import claims, ownership, rotation
from tether.engine.context import Active, EngineContext
from tether.engine.executables import resolve
from tether.engine.faults import RUNNER_STARTED, crash_point
from tether.engine.rundir import write_json
from tether.errors import Conflict, TetherError
from tether.ledger import sessions, turns


def dispatch(ctx: EngineContext) -> None:
    """Start the oldest queued turn of each free lane this host runs, up to ``max_parallel``."""
    for turn in claims.claim(ctx):
        dispatch_one(ctx, turn)


def dispatch_one(ctx: EngineContext, turn: Turn) -> None:
    """Start a turn this host has claimed (it is ``dispatched`` already)."""
    with ctx.ledger.db.write() as conn:
        session = sessions.get(conn, turn.session_id)
        refused = rotation.before_dispatch(conn, ctx.ledger.blobs, ctx.config.engine, turn, session)
        if refused is not None:
            turns.transition(conn, turn.id, TurnState.FAILED, reason=refused)
            return
    with ctx.ledger.db.read() as conn:
        session = sessions.get(conn, turn.session_id)
        model = turns.run_state(conn, turn.id).model or session.model
    try:
        provider = ctx.provider(session)
        launch = launch_for(ctx, provider, session, turn, model)
    except TetherError as exc:
        with ctx.ledger.db.write() as conn:
            turns.transition(conn, turn.id, TurnState.FAILED, reason=str(exc))
        return
    try:
        with ctx.ledger.db.write() as conn:
            if launch.native_id and session.native_id is None:
                sessions.bind_native_id(conn, session, launch.native_id)
    except Conflict as exc:
        with ctx.ledger.db.write() as conn:
            turns.transition(conn, turn.id, TurnState.FAILED, reason=str(exc))
        return
    now = time.time()
    active = Active(turn.id, session.id, provider.parser(), ctx.run_dir(turn.id), 1, now)
    ctx.active[turn.id] = active
    spawn(ctx, active, launch)


def launch_for(
    ctx: EngineContext, provider: Provider, session: Session, turn: Turn, model: str | None
) -> Launch:
    """A new thread if nothing has run in this one yet, else a resume by the exact id.

    The turn that opened a rotated thread is launched with its hand-off.
    """
    with ctx.ledger.db.read() as conn:
        prompt = rotation.handoff_prompt(conn, ctx.ledger.blobs, session, turn)
        started = rotation.thread_started(conn, session, turn)
    request = TurnRequest(
        session_id=session.id,
        prompt=prompt,
        workspace=Path(session.workspace),
        native_id=session.native_id,
        model=model,
        options=ctx.config.options_for(session.agent, session.project),
    )
    with ctx.ledger.db.read() as conn:
        path_env = turns.run_state(conn, turn.id).path_env
    if not started:
        # Nothing has run in this thread yet: start it (with the pre-assigned id, if any).
        return resolve(provider.new_turn(request), session.agent, path_env)
    if session.native_id is None:
        raise Conflict(
            f"cannot resume session {session.id}: its {session.agent} native id was never "
            "captured, and tether does not guess (no --last / --continue)"
        )
    return resolve(provider.resume_turn(request), session.agent, path_env)


def spawn(ctx: EngineContext, active: Active, launch: Launch) -> None:
    """Claim the attempt, then start its runner, which keeps the claim until it exits."""
    try:
        owner = ownership.claim(active.run)
    except OSError as exc:
        ctx.finish(active, TurnState.FAILED, f"cannot claim {active.run.owner}: {exc.strerror}")
        return
    if owner is None:
        return  # a runner a killed daemon started owns this attempt: supervise it, never a second
    try:
        started = ctx.spawner.start_runner(active.run, launch, owner)
    except TetherError as exc:
        try:  # recorded like any start failure, so it is retried the same way
            write_json(active.run.exit, {"spawn_error": str(exc)})
        except OSError:
            ctx.finish(active, TurnState.FAILED, str(exc))
        return
    finally:
        os.close(owner)
    crash_point(RUNNER_STARTED)
    active.proc, active.runner_pid = started.proc, started.pid
    with ctx.ledger.db.write() as conn:
        turns.update_fields(
            conn, active.turn_id, {"runner_pid": started.pid, "runner_ticks": started.ticks}
        )


def respawn(ctx: EngineContext, active: Active, reason: str) -> None:
    """Start the turn's next attempt, saying why on its timeline."""
    with ctx.ledger.db.read() as conn:
        session = sessions.get(conn, active.session_id)
        turn = turns.get(conn, active.turn_id)
        model = turns.run_state(conn, turn.id).model or session.model
    try:
        launch = launch_for(ctx, ctx.provider(session), session, turn, model)
    except TetherError as exc:
        ctx.finish(active, TurnState.FAILED, str(exc))
        return
    ctx.note(active, reason)
    spawn(ctx, active, launch)

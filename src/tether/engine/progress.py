"""A live turn's stream becomes ledger facts: events, phases, usage, model, native id."""

import time
from dataclasses import asdict
from pathlib import Path

from sqlalchemy import Connection

from tether.domain.records import Origin, Turn, Usage
from tether.domain.states import TurnState
from tether.domain.stream import Outcome
from tether.engine import ingest, rotation
from tether.engine.context import Active, EngineContext
from tether.engine.rundir import read_json
from tether.errors import Conflict
from tether.ledger import events, history, sessions, threads, turns


def mark_spawned(ctx: EngineContext, active: Active) -> None:
    """``dispatched`` → ``running`` once the runner says the agent process exists."""
    if active.spawned:
        return
    runner = read_json(active.run.runner)
    if runner is None or "spawned_at" not in runner:
        return
    with ctx.ledger.db.write() as conn:
        if turns.get(conn, active.turn_id).state is TurnState.DISPATCHED:
            turns.transition(
                conn, active.turn_id, TurnState.RUNNING, spawned_at=runner["spawned_at"]
            )
    active.spawned = True


def ingest_stream(ctx: EngineContext, active: Active, final: bool = False) -> None:
    """Store what the stream gained since the saved offset, with the new offset.

    The offset is kept in memory once read (this engine is its only writer),
    so a quiet stream costs one ``stat`` per step, not a ledger query.
    """
    if active.offset is None:
        with ctx.ledger.db.read() as conn:
            active.offset = turns.run_state(conn, active.turn_id).stream_offset
    offset = active.offset
    if not final and _size(active.run.stream) <= offset:
        return
    batch = ingest.read(
        active.source,
        offset,
        active.parser,
        ctx.ledger.blobs,
        ctx.config.engine.preview_bytes,
        final=final,
    )
    if batch.end == offset:
        return
    with ctx.ledger.db.write() as conn:
        _apply(conn, active, batch)
    active.offset = batch.end


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _apply(conn: Connection, active: Active, batch: ingest.Batch) -> None:
    """Store one batch and everything it implies, in one transaction.

    A native id that contradicts the session's, or a stream that reports
    failure, records the ``failed`` outcome; the watchdog then stops the
    agent and its exit applies the outcome.
    """
    events.insert_rows(conn, batch.rows)
    turn = turns.get(conn, active.turn_id)
    state = turns.run_state(conn, active.turn_id)
    values: dict[str, object] = {"stream_offset": batch.end}
    now = time.time()
    if batch.events:
        values.update(last_progress_at=now, stalled_at=None)
        if turn.phases.first_event is None:
            values["first_event_at"] = now
    if batch.progressed:
        values.update(retry_errors=batch.retries, retrying_since=now if batch.retries else None)
    elif batch.retries:
        values.update(
            retry_errors=turn.retry_errors + batch.retries,
            retrying_since=turn.retrying_since or now,
        )
    if batch.outputs and turn.phases.first_output is None:
        values["first_output_at"] = now
    usage = _usage(conn, turn, batch)
    if usage != turn.usage:
        values.update(asdict(usage))
    if batch.compacting is not None and batch.compacting != (turn.compacting_since is not None):
        values["compacting_since"] = now if batch.compacting else None
    if batch.model:
        values["model"] = batch.model
        sessions.set_model(conn, active.session_id, batch.model)
    failure = _bind(conn, active, batch.native_ids) or (
        (batch.error or "the agent reported a failure") if batch.outcome is Outcome.FAILED else None
    )
    context = _context(conn, active, turn, batch)
    if context and state.outcome is None:
        failure = context
    if failure and state.outcome is None:
        values.update(outcome=TurnState.FAILED.value, reason=failure)
    turns.update_fields(conn, active.turn_id, values)


def _context(conn: Connection, active: Active, turn: Turn, batch: ingest.Batch) -> str | None:
    """Record the thread's fill; the turn's ``context full: …`` reason when it cannot go on."""
    session = sessions.get(conn, active.session_id)
    if batch.context_tokens or batch.context_window or batch.compactions:
        threads.measure(
            conn,
            session,
            tokens=batch.context_tokens,
            window=batch.context_window,
            compactions=batch.compactions,
        )
    active.compactions += batch.compactions
    active.overflow_seen = batch.overflow_seen or active.overflow_seen
    words = batch.context_full or rotation.compaction_loop(active.compactions)
    if not words or turns.run_state(conn, active.turn_id).outcome is not None:
        return None
    return rotation.context_failure(conn, session, turn, words)


def _usage(conn: Connection, turn: Turn, batch: ingest.Batch) -> Usage:
    """Per-turn usage; a thread total (Codex) becomes this turn's share of it."""
    if batch.cumulative is None:
        return turn.usage + batch.usage
    earlier = Usage()
    for other in turns.for_session(conn, turn.session_id):
        if other.number < turn.number:
            earlier = earlier + other.usage
    return batch.cumulative.minus(earlier)


def _bind(conn: Connection, active: Active, native_ids: list[str]) -> str | None:
    for native_id in native_ids:
        session = sessions.get(conn, active.session_id)
        holder = sessions.find_by_native_id(conn, session.agent, native_id)
        if holder is not None and holder.origin is Origin.EXTERNAL and session.native_id is None:
            # The history indexer saw this thread's log before the stream named it:
            # the thread is this session's, so take the external record over.
            history.move_session(conn, holder.id, session.id, native_id, session.host)
            threads.bind(conn, session, native_id)
            continue
        try:
            sessions.bind_native_id(conn, session, native_id)
        except Conflict as exc:
            return str(exc)
    return None

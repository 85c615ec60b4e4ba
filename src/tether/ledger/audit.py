"""The queries behind ``tether audit``: each finds one kind of anomaly, bounded."""

from typing import Any

from sqlalchemy import Connection, and_, exists, func, or_, select

from tether.domain.states import TurnState
from tether.ledger.schema import (
    history_files,
    native_sessions,
    sessions,
    threads,
    turns,
    usage_entries,
)
from tether.ledger.turns import LIVE_STATES

LIMIT = 200  # findings of one kind; an audit names problems, it does not list the world


def _rows(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [dict(row._mapping) for row in conn.execute(query.limit(LIMIT))]


def stale_queued(conn: Connection, before: float) -> list[dict[str, Any]]:
    """Queued before ``before``, first in its session's queue, with the lane free."""
    earlier, busy = turns.alias("earlier"), turns.alias("busy")
    return _rows(
        conn,
        select(turns.c.id, turns.c.session_id, turns.c.accepted_at)
        .where(turns.c.state == TurnState.QUEUED.value, turns.c.accepted_at < before)
        .where(
            ~exists().where(
                earlier.c.session_id == turns.c.session_id,
                earlier.c.state == TurnState.QUEUED.value,
                earlier.c.number < turns.c.number,
            )
        )
        .where(
            ~exists().where(busy.c.session_id == turns.c.session_id, busy.c.state.in_(LIVE_STATES))
        )
        .order_by(turns.c.accepted_at),
    )


def live_turns(conn: Connection) -> list[dict[str, Any]]:
    columns = (
        turns.c.id,
        turns.c.session_id,
        turns.c.state,
        turns.c.host,
        turns.c.dispatched_at,
        turns.c.first_event_at,
        turns.c.last_progress_at,
        turns.c.stalled_at,
        turns.c.runner_pid,
        turns.c.runner_ticks,
    )
    return _rows(conn, select(*columns).where(turns.c.state.in_(LIVE_STATES)))


def recent_endings(conn: Connection, since: float) -> list[dict[str, Any]]:
    """Turns that ended since ``since``, newest first, with their session's binding."""
    return _rows(
        conn,
        select(
            turns.c.id,
            turns.c.session_id,
            turns.c.number,
            turns.c.state,
            turns.c.reason,
            turns.c.kind,
            turns.c.finished_at,
            sessions.c.agent,
            sessions.c.native_id,
        )
        .join(sessions, sessions.c.id == turns.c.session_id)
        .where(turns.c.finished_at >= since)
        .order_by(turns.c.finished_at.desc()),
    )


def current_threads(conn: Connection) -> list[dict[str, Any]]:
    """Threads still current (not rotated away) that tether has a native log path for."""
    return _rows(
        conn,
        select(threads.c.session_id, threads.c.agent, threads.c.native_id, threads.c.log_path)
        .where(threads.c.ended_at.is_(None), threads.c.native_id.is_not(None))
        .where(threads.c.log_path.is_not(None)),
    )


def orphan_usage(conn: Connection) -> list[dict[str, Any]]:
    """Native ids with usage that no session holds."""
    held = exists().where(
        native_sessions.c.agent == usage_entries.c.agent,
        native_sessions.c.native_id == usage_entries.c.native_id,
        native_sessions.c.session_id.is_not(None),
    )
    return _rows(
        conn,
        select(usage_entries.c.agent, usage_entries.c.native_id, usage_entries.c.ts)
        .where(~held)
        .distinct(),
    )


def index_errors(conn: Connection) -> list[dict[str, Any]]:
    return _rows(
        conn,
        select(
            history_files.c.agent,
            history_files.c.path,
            history_files.c.native_id,
            history_files.c.bad_lines,
            history_files.c.oversize_lines,
            history_files.c.error,
            history_files.c.scanned_at,
        ).where(
            or_(
                history_files.c.error.is_not(None),
                history_files.c.bad_lines > 0,
                history_files.c.oversize_lines > 0,
            )
        ),
    )


def unbound(conn: Connection, agents: list[str]) -> list[dict[str, Any]]:
    """Sessions of these agents with a turn completed in the current thread, and no
    native id captured for it (a session between a rotation and its next turn is not)."""
    opened = (
        select(func.coalesce(func.max(threads.c.first_turn), 0))
        .where(threads.c.session_id == sessions.c.id)
        .scalar_subquery()
    )
    done = exists().where(
        and_(
            turns.c.session_id == sessions.c.id,
            turns.c.state == TurnState.COMPLETED.value,
            turns.c.number >= opened,
        )
    )
    return _rows(
        conn,
        select(sessions.c.id, sessions.c.agent, sessions.c.updated_at)
        .where(sessions.c.native_id.is_(None), sessions.c.agent.in_(agents))
        .where(done),
    )


def context_failures(conn: Connection) -> list[str]:
    """Sessions with a turn that failed because its thread was full."""
    query = (
        select(turns.c.session_id)
        .where(turns.c.state == TurnState.FAILED.value, turns.c.reason.like("context full:%"))
        .distinct()
    )
    return [row["session_id"] for row in _rows(conn, query)]

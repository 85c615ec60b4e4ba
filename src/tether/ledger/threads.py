"""Threads: the native threads a session has run in, and what was measured of each.

The session row's ``native_id`` is the current thread's; this table keeps
every thread, current or rotated away, so usage of each stays attributed to
the session by exact id and a rotation is a row, not a guess.
"""

import time
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from tether.domain.records import Session
from tether.domain.threads import Thread, known_window
from tether.errors import Conflict
from tether.ledger.schema import history_files, sessions, threads

_FIELDS = tuple(Thread.__dataclass_fields__)


def _record(row: Row[tuple[object, ...]]) -> Thread:
    m = row._mapping
    return Thread(**{name: m[name] for name in _FIELDS})


# Built once: the session page and API read these on every request.
_OF_SESSION = select(threads).where(threads.c.session_id == bindparam("session_id"))
_ALL = _OF_SESSION.order_by(threads.c.ordinal)
_CURRENT = _OF_SESSION.order_by(threads.c.ordinal.desc()).limit(1)


def for_session(conn: Connection, session_id: str) -> list[Thread]:
    rows = conn.execute(_ALL, {"session_id": session_id}).all()
    return [_record(r) for r in rows]


def current(conn: Connection, session_id: str) -> Thread | None:
    row = conn.execute(_CURRENT, {"session_id": session_id}).first()
    return None if row is None else _record(row)


def current_of(conn: Connection, session_ids: list[str]) -> dict[str, Thread]:
    """The current thread of each of some sessions (those that have one)."""
    latest = (
        select(threads.c.session_id, func.max(threads.c.ordinal).label("ordinal"))
        .where(threads.c.session_id.in_(session_ids))
        .group_by(threads.c.session_id)
        .subquery()
    )
    rows = conn.execute(
        select(threads).join(
            latest,
            (threads.c.session_id == latest.c.session_id) & (threads.c.ordinal == latest.c.ordinal),
        )
    ).all()
    return {row._mapping["session_id"]: _record(row) for row in rows}


def session_of(conn: Connection, agent: str, native_id: str) -> str | None:
    """The tether session a native thread belongs to, current or rotated away."""
    return conn.execute(
        select(threads.c.session_id).where(
            threads.c.agent == agent, threads.c.native_id == native_id
        )
    ).scalar_one_or_none()


def _insert(conn: Connection, session: Session, **values: Any) -> Thread:
    ordinal = conn.execute(
        select(func.coalesce(func.max(threads.c.ordinal), 0)).where(
            threads.c.session_id == session.id
        )
    ).scalar_one()
    try:
        with conn.begin_nested():
            conn.execute(
                insert(threads).values(
                    session_id=session.id,
                    ordinal=ordinal + 1,
                    agent=session.agent,
                    started_at=time.time(),
                    **values,
                )
            )
    except IntegrityError as exc:
        raise Conflict(
            f"{session.agent} thread {values.get('native_id')} already belongs to another "
            "tether session"
        ) from exc
    found = current(conn, session.id)
    assert found is not None
    return found


def ensure_current(conn: Connection, session: Session) -> Thread:
    """The current thread, recording the session's bound one as thread 1 if none is yet."""
    found = current(conn, session.id)
    if found is not None:
        return found
    return _insert(conn, session, native_id=session.native_id, first_turn=0)


def bind(conn: Connection, session: Session, native_id: str) -> None:
    """The agent revealed the current thread's id: fill in a pending row, or start thread 1."""
    found = current(conn, session.id)
    if found is None:
        _insert(conn, session, native_id=native_id, first_turn=0)
    elif found.native_id is None:
        try:
            with conn.begin_nested():
                _update(conn, found, native_id=native_id)
        except IntegrityError as exc:
            raise Conflict(
                f"{session.agent} thread {native_id} already belongs to another tether session"
            ) from exc


def _update(conn: Connection, thread: Thread, **values: Any) -> None:
    conn.execute(
        update(threads)
        .where(threads.c.session_id == thread.session_id, threads.c.ordinal == thread.ordinal)
        .values(**values)
    )


def measure(
    conn: Connection,
    session: Session,
    *,
    tokens: int | None = None,
    window: int | None = None,
    compactions: int = 0,
    log_bytes: int | None = None,
) -> None:
    """Store what the engine or a native log reader saw of the current thread."""
    thread = ensure_current(conn, session)
    values: dict[str, Any] = {"measured_at": time.time()}
    if tokens is not None:
        values["context_tokens"] = tokens
    window = window or thread.context_window or known_window(session.model)
    if window is not None:
        values["context_window"] = window
    if compactions:
        values["compactions"] = thread.compactions + compactions
    if log_bytes is not None:
        values["log_bytes"] = log_bytes
    _update(conn, thread, **values)


def overflowed(conn: Connection, session: Session, reason: str) -> None:
    """A turn could not go on in this thread: count it and mark it for rotation."""
    thread = ensure_current(conn, session)
    _update(conn, thread, overflows=thread.overflows + 1, rotate_reason=reason)


def completed(conn: Connection, session: Session) -> None:
    """A turn completed in the current thread: its run of overflows is over."""
    thread = current(conn, session.id)
    if thread is not None and thread.overflows:
        _update(conn, thread, overflows=0)


def request_rotation(conn: Connection, session: Session, reason: str) -> Thread:
    thread = ensure_current(conn, session)
    _update(conn, thread, rotate_reason=reason, overflows=0)
    return ensure_current(conn, session)


def rotate(
    conn: Connection, session: Session, reason: str, turn_number: int, handoff_blob: str
) -> tuple[Thread, Thread]:
    """End the current thread and open a pending one; the session is unbound until the
    agent names the new thread (or tether pre-assigns its id). Returns (old, new)."""
    old = ensure_current(conn, session)
    _update(conn, old, ended_at=time.time(), end_reason=reason, rotate_reason=None)
    conn.execute(
        update(sessions)
        .where(sessions.c.id == session.id)
        .values(native_id=None, updated_at=time.time())
    )
    new = _insert(conn, session, native_id=None, first_turn=turn_number, handoff_blob=handoff_blob)
    return old, new


def logs_to_measure(conn: Connection, host: str, agents: list[str]) -> list[tuple[Thread, str]]:
    """Current threads of these agents with the native log ``host``'s indexer found."""
    rows = conn.execute(
        select(threads, history_files.c.path.label("found_path"))
        .join(
            history_files,
            (history_files.c.agent == threads.c.agent)
            & (history_files.c.native_id == threads.c.native_id)
            & (history_files.c.host == host),
        )
        .where(threads.c.agent.in_(agents), threads.c.ended_at.is_(None))
    ).all()
    return [(_record(row), row._mapping["found_path"]) for row in rows]


def measured_log(
    conn: Connection,
    thread: Thread,
    *,
    path: str,
    offset: int,
    size: int,
    tokens: int | None,
    window: int | None,
    compactions: int,
) -> None:
    """Store what a native log says of a thread (``compactions``: the log's own count)."""
    values: dict[str, Any] = {
        "log_path": path,
        "log_offset": offset,
        "log_bytes": size,
        "log_compactions": compactions,
        "compactions": max(thread.compactions, compactions),
        "measured_at": time.time(),
    }
    if tokens is not None:
        values["context_tokens"] = tokens
    if window is not None:
        values["context_window"] = window
    _update(conn, thread, **values)

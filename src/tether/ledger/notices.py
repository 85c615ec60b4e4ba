"""Notices and the notifier's cursor: written once per tag, delivered per sink.

A notice's row is its outbox entry: each sink (``webhook``, ``command``) has a
column saying when it was delivered or given up, so a restart resumes exactly
the deliveries still pending, and a notice is never written twice.
"""

import json
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tether.domain.notices import Notice
from tether.ledger.changes import Position, head
from tether.ledger.schema import notices, notify_cursors

Sink = Literal["webhook", "command"]
SINKS: tuple[Sink, ...] = ("webhook", "command")


@dataclass(frozen=True, slots=True)
class Pending:
    pk: int
    payload: dict[str, Any]
    attempts: int


def cursor(conn: Connection, host: str) -> Position | None:
    row = conn.execute(
        select(notify_cursors.c.change_xid, notify_cursors.c.change_id).where(
            notify_cursors.c.host == host
        )
    ).first()
    return None if row is None else (int(row[0]), int(row[1]))


def start_cursor(conn: Connection, host: str) -> Position:
    """This host's saved position, or the head of the change log the first time
    (what happened before notifications were on is not announced)."""
    saved = cursor(conn, host)
    if saved is not None:
        return saved
    xid, change_id = head(conn).change_at
    conn.execute(insert(notify_cursors).values(host=host, change_id=change_id, change_xid=xid))
    return (xid, change_id)


def save_cursor(conn: Connection, host: str, position: Position) -> None:
    conn.execute(
        update(notify_cursors)
        .where(notify_cursors.c.host == host)
        .values(change_xid=position[0], change_id=position[1])
    )


def add(conn: Connection, notice: Notice, host: str, sinks: set[Sink]) -> bool:
    """Write a notice unless its tag exists (True when written). Sinks not in ``sinks``
    are marked done at once, so enabling one later does not replay the past."""
    now = time.time()
    values: dict[str, Any] = {
        "tag": notice.tag,
        "kind": notice.kind,
        "session_id": notice.session_id,
        "turn_id": notice.turn_id,
        "payload": json.dumps(notice.as_dict()),
        "host": host,
        "created_at": now,
    }
    for sink in SINKS:
        if sink not in sinks:
            values[f"{sink}_at"] = now
            values[f"{sink}_error"] = "not configured"
    try:
        with conn.begin_nested():
            conn.execute(insert(notices).values(**values))
    except IntegrityError:
        return False  # another pass or host wrote it first
    return True


def pending(conn: Connection, sink: Sink, host: str, limit: int) -> list[Pending]:
    """The oldest notices this host still has to deliver to ``sink``."""
    done, attempts = notices.c[f"{sink}_at"], notices.c[f"{sink}_attempts"]
    rows = conn.execute(
        select(notices.c.pk, notices.c.payload, attempts)
        .where(notices.c.host == host, done.is_(None))
        .order_by(notices.c.pk)
        .limit(limit)
    )
    return [Pending(r[0], json.loads(r[1]), r[2]) for r in rows]


def delivered(conn: Connection, sink: Sink, pk: int, attempts: int) -> None:
    conn.execute(
        update(notices)
        .where(notices.c.pk == pk)
        .values({f"{sink}_at": time.time(), f"{sink}_attempts": attempts, f"{sink}_error": None})
    )


def failed(conn: Connection, sink: Sink, pk: int, attempts: int, error: str, give_up: bool) -> None:
    values: dict[str, Any] = {f"{sink}_attempts": attempts, f"{sink}_error": error[:500]}
    if give_up:
        values[f"{sink}_at"] = time.time()
    conn.execute(update(notices).where(notices.c.pk == pk).values(values))


def payload(conn: Connection, pk: int) -> dict[str, Any] | None:
    raw = conn.execute(select(notices.c.payload).where(notices.c.pk == pk)).scalar_one_or_none()
    return None if raw is None else dict(json.loads(raw))


def prune(conn: Connection, before: float) -> int:
    """Forget notices written before ``before`` that every sink is done with."""
    done = notices.c.webhook_at.is_not(None) & notices.c.command_at.is_not(None)
    return conn.execute(delete(notices).where(notices.c.created_at < before, done)).rowcount or 0


def all_of(conn: Connection, limit: int = 1000) -> list[dict[str, Any]]:
    """Notices with their delivery state, oldest first (tests and diagnosis)."""
    rows = conn.execute(select(notices).order_by(notices.c.pk).limit(limit))
    return [dict(r._mapping) for r in rows]

"""The change feed: what the ledger committed after a cursor, for the live channel.

A cursor is two ids: the last row of ``changes`` (session and turn writes,
appended by triggers) and the last event. Both only grow, so a reader that
resumes from a cursor sees every later write once. SQLite serialises writers,
so ids become visible in order there.
"""

import re
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, select

from tether.errors import InvalidInput
from tether.ledger.schema import changes, events

_CURSOR = re.compile(r"^(\d{1,19})-(\d{1,19})$")


@dataclass(frozen=True, slots=True, order=True)
class Cursor:
    change: int
    event: int

    def __str__(self) -> str:
        return f"{self.change}-{self.event}"

    @classmethod
    def parse(cls, value: str) -> "Cursor":
        match = _CURSOR.match(value.strip())
        if match is None:
            raise InvalidInput(f"{value[:40]!r} is not a stream position; expected N-N")
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    kind: str  # session | turn
    subject: str
    session_id: str


@dataclass(frozen=True, slots=True)
class EventNote:
    id: int
    session_id: str
    turn_id: str | None
    kind: str
    preview: str


def head(conn: Connection) -> Cursor:
    change = conn.execute(select(func.max(changes.c.id))).scalar()
    event = conn.execute(select(func.max(events.c.id))).scalar()
    return Cursor(int(change or 0), int(event or 0))


def oldest_change(conn: Connection) -> int:
    return int(conn.execute(select(func.min(changes.c.id))).scalar() or 0)


def changes_after(conn: Connection, after: int, limit: int) -> list[Change]:
    rows = conn.execute(
        select(changes).where(changes.c.id > after).order_by(changes.c.id).limit(limit)
    )
    return [Change(**r._mapping) for r in rows]


def events_after(conn: Connection, after: int, limit: int, preview_chars: int) -> list[EventNote]:
    columns = (events.c.id, events.c.session_id, events.c.turn_id, events.c.kind)
    preview = func.substr(events.c.preview, 1, preview_chars).label("preview")
    rows = conn.execute(
        select(*columns, preview).where(events.c.id > after).order_by(events.c.id).limit(limit)
    )
    return [EventNote(**r._mapping) for r in rows]


def prune(conn: Connection, keep: int) -> int:
    """Drop all but the newest ``keep`` changes; a page older than that reloads."""
    newest = conn.execute(select(func.max(changes.c.id))).scalar()
    if newest is None or newest <= keep:
        return 0
    return conn.execute(delete(changes).where(changes.c.id <= newest - keep)).rowcount or 0

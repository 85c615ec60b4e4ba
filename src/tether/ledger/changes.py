"""The change feed: what the ledger committed after a cursor, for the live channel.

A cursor holds two positions: of the last row of ``changes`` (session and
turn writes, appended by triggers) and of the last event. A reader that
resumes from a cursor sees every later write once, so a position must only
grow in the order rows become visible.

SQLite serialises writers: ids become visible in order, and a position is
the id. On PostgreSQL ids come from sequences and several writers commit in
any order: id 10 can be visible while id 9's transaction is still running,
and a reader past 10 would never see 9. There each row also records its
transaction id (``xid``, migration 0010), a position is ``(xid, id)``, and
a reader takes only rows whose transaction is older than the oldest one
still running in this database: every row still to come sorts after them.
Only this database's transactions can write these tables, so another
application's long transaction on the same server holds nothing back; a
write transaction of tether's that stays open holds back what later ones
committed until it ends. (See ``_pg_bound`` for why that bound is safe.)
"""

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, func, select
from sqlalchemy import text as sql_text

from tether.errors import InvalidInput
from tether.ledger.schema import changes, events

_CURSOR = re.compile(r"^(?:(\d{1,20})\.)?(\d{1,19})-(?:(\d{1,20})\.)?(\d{1,19})$")
Position = tuple[int, int]  # (transaction id, row id); the transaction id is 0 on SQLite


@dataclass(frozen=True, slots=True)
class Cursor:
    change: int
    event: int
    change_xid: int = 0
    event_xid: int = 0

    @property
    def change_at(self) -> Position:
        return (self.change_xid, self.change)

    @property
    def event_at(self) -> Position:
        return (self.event_xid, self.event)

    def later_than(self, other: "Cursor") -> bool:
        """Either position is past ``other``'s."""
        return self.change_at > other.change_at or self.event_at > other.event_at

    def __str__(self) -> str:
        return f"{_part(self.change_xid, self.change)}-{_part(self.event_xid, self.event)}"

    @classmethod
    def parse(cls, value: str) -> "Cursor":
        match = _CURSOR.match(value.strip())
        if match is None:
            raise InvalidInput(f"{value[:40]!r} is not a stream position; expected N-N or X.N-X.N")
        return cls(int(match[2]), int(match[4]), int(match[1] or 0), int(match[3] or 0))


def _part(xid: int, row: int) -> str:
    return f"{xid}.{row}" if xid else str(row)


@dataclass(frozen=True, slots=True)
class Change:
    id: int
    kind: str  # session | turn
    subject: str
    session_id: str
    xid: int = 0  # the writing transaction, on PostgreSQL

    @property
    def at(self) -> Position:
        return (self.xid, self.id)


@dataclass(frozen=True, slots=True)
class EventNote:
    id: int
    session_id: str
    turn_id: str | None
    kind: str
    preview: str
    xid: int = 0

    @property
    def at(self) -> Position:
        return (self.xid, self.id)


# PostgreSQL: rows in commit order, only below the oldest transaction running here.
# (The transaction id is answered as ``txid``: an output named ``xid`` would be what ORDER BY
# sorts, a computed value, instead of walking the (xid, id) index.)
_PG_AFTER = (
    "SELECT {columns}, CAST(CAST(xid AS text) AS bigint) AS txid FROM {table} "
    "WHERE (xid, id) > (CAST(:x AS xid8), :i) AND xid < CAST(:bound AS xid8) "
    "ORDER BY xid, id LIMIT :n"
)
_PG_LAST = (
    "SELECT CAST(CAST(xid AS text) AS bigint), id FROM {table} "
    "WHERE xid < CAST(:bound AS xid8) ORDER BY xid DESC, id DESC LIMIT 1"
)
_PG_SNAPSHOT = (
    "SELECT CAST(pg_current_snapshot() AS text), current_setting('transaction_isolation')"
)
_PG_RUNNING_HERE = (
    "SELECT CAST(CAST(backend_xid AS text) AS bigint) FROM pg_stat_activity "
    "WHERE datname = current_database() AND backend_xid IS NOT NULL"
)
XID_WRAP = 2**32


def _pg_bound(conn: Connection) -> int:
    """The oldest transaction id that may still write rows here: later reads stop below it.

    Three statements, each with its own snapshot (read committed): (1) the
    snapshot's running transactions, (2) which of them run in this database,
    read after (1) so a transaction missing from (2) had ended by then, and
    (3) the rows, read after (2), where every transaction older than the
    bound has ended and is visible. pg_stat_activity is read once per
    transaction and kept, so (2) first discards what an earlier call read.
    It names a transaction by its 32-bit id, the snapshot by its full one.
    Under a stricter isolation level (3) would reuse (1)'s snapshot, so
    there any running transaction bounds.
    """
    snapshot, isolation = conn.execute(sql_text(_PG_SNAPSHOT)).one()
    xmin, xmax, listed = str(snapshot).split(":")
    running = [int(x) for x in listed.split(",") if x]
    if isolation != "read committed":
        return int(xmin) if running else int(xmax)
    conn.execute(sql_text("SELECT pg_stat_clear_snapshot()"))
    here = {int(x) for (x,) in conn.execute(sql_text(_PG_RUNNING_HERE))}
    ours = [x for x in running if x % XID_WRAP in here]
    return min(ours) if ours else int(xmax)


def _is_pg(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def head(conn: Connection) -> Cursor:
    """The position after everything visible now (on PostgreSQL: and nothing to come before)."""
    if _is_pg(conn):
        bound = {"bound": str(_pg_bound(conn))}
        change = conn.execute(sql_text(_PG_LAST.format(table="changes")), bound).first() or (0, 0)
        event = conn.execute(sql_text(_PG_LAST.format(table="events")), bound).first() or (0, 0)
        return Cursor(int(change[1]), int(event[1]), int(change[0]), int(event[0]))
    change_id = conn.execute(select(func.max(changes.c.id))).scalar()
    event_id = conn.execute(select(func.max(events.c.id))).scalar()
    return Cursor(int(change_id or 0), int(event_id or 0))


def oldest_change(conn: Connection) -> int:
    return int(conn.execute(select(func.min(changes.c.id))).scalar() or 0)


def visible_below(conn: Connection) -> int | None:
    """PostgreSQL's bound for ``changes_after`` and ``events_after`` (None on SQLite): a
    reader of both computes it once and passes it to each."""
    return _pg_bound(conn) if _is_pg(conn) else None


def changes_after(
    conn: Connection, after: Position, limit: int, below: int | None = None
) -> list[Change]:
    """Changes past ``after`` in visibility order (``below``: see ``visible_below``)."""
    if _is_pg(conn):
        columns = "id, kind, subject, session_id"
        query = sql_text(_PG_AFTER.format(columns=columns, table="changes"))
        params = _bounds(conn, after, limit, below)
        return [_change(r._mapping) for r in conn.execute(query, params)]
    rows = conn.execute(
        select(changes).where(changes.c.id > after[1]).order_by(changes.c.id).limit(limit)
    )
    return [_change(r._mapping) for r in rows]


def events_after(
    conn: Connection, after: Position, limit: int, preview_chars: int, below: int | None = None
) -> list[EventNote]:
    """Events past ``after`` in visibility order, their previews cut to ``preview_chars``
    (``below``: see ``visible_below``)."""
    if _is_pg(conn):
        columns = "id, session_id, turn_id, kind, substr(preview, 1, :chars) AS preview"
        query = sql_text(_PG_AFTER.format(columns=columns, table="events"))
        params = dict(_bounds(conn, after, limit, below), chars=preview_chars)
        return [_note(r._mapping) for r in conn.execute(query, params)]
    fields = (events.c.id, events.c.session_id, events.c.turn_id, events.c.kind)
    preview = func.substr(events.c.preview, 1, preview_chars).label("preview")
    rows = conn.execute(
        select(*fields, preview).where(events.c.id > after[1]).order_by(events.c.id).limit(limit)
    )
    return [_note(r._mapping) for r in rows]


def _bounds(conn: Connection, after: Position, limit: int, below: int | None) -> dict[str, Any]:
    bound = _pg_bound(conn) if below is None else below
    return {"x": str(after[0]), "i": after[1], "n": limit, "bound": str(bound)}


def _change(m: Any) -> Change:
    return Change(m["id"], m["kind"], m["subject"], m["session_id"], m.get("txid", 0))


def _note(m: Any) -> EventNote:
    return EventNote(
        m["id"], m["session_id"], m["turn_id"], m["kind"], m["preview"], m.get("txid", 0)
    )


def prune(conn: Connection, keep: int) -> int:
    """Drop all but the newest ``keep`` changes; a page older than that reloads."""
    newest = conn.execute(select(func.max(changes.c.id))).scalar()
    if newest is None or newest <= keep:
        return 0
    return conn.execute(delete(changes).where(changes.c.id <= newest - keep)).rowcount or 0

"""Events: the bounded, paged record of what happened in a session.

A stored event keeps a head-and-tail preview; the full payload, when larger,
lives in the blob store by hash. ``dedup_key`` makes ingestion idempotent:
the same stream offset or native record is stored once however often it is
read.
"""

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Protocol, TypeVar

from sqlalchemy import Connection, Row, bindparam, select, text

from tether.domain.bounded import DEFAULT_PREVIEW_BYTES, bound
from tether.domain.records import Event, EventKind
from tether.ledger.blobs import BlobStore
from tether.ledger.bulk import triggers_set_aside
from tether.ledger.cursor import Page, check_limit, parse_cursor
from tether.ledger.schema import events

MAX_DATA_BYTES = 4096
_FTS_TRIGGER = "events_fts_insert"  # migration 0003
_LAST_ID = text("SELECT coalesce(max(id), 0) FROM events")
PAGE_BUDGET_BYTES = 1024 * 1024  # characters of previews and data in one page
ROW_COLUMNS = (
    "session_id", "turn_id", "kind", "created_at", "preview", "size", "blob", "data", "dedup_key",
)  # fmt: skip
_ROW_VALUES = itemgetter(*ROW_COLUMNS)  # a row's parameters in column order, in C
_FILL_FTS = text(
    "INSERT INTO events_fts(rowid, preview) SELECT id, preview FROM events "
    "WHERE id > :last AND kind = 'message'"
)


@dataclass(frozen=True, slots=True)
class NewEvent:
    session_id: str
    kind: EventKind
    text: str
    turn_id: str | None = None
    data: Mapping[str, object] | None = None
    dedup_key: str | None = None
    created_at: float | None = None


def _record(row: Row[tuple[object, ...]]) -> Event:
    m = row._mapping
    return Event(
        id=m["id"],
        session_id=m["session_id"],
        turn_id=m["turn_id"],
        kind=EventKind(m["kind"]),
        created_at=m["created_at"],
        preview=m["preview"],
        size=m["size"],
        blob=m["blob"],
        data=json.loads(m["data"]) if m["data"] else None,
    )


def encode_data(data: Mapping[str, object] | None) -> str | None:
    """JSON of an event's data; the few shapes that repeat are encoded once."""
    if not data:
        return None
    flat = tuple((key, type(value), value) for key, value in data.items())
    try:
        return _encoded(flat)
    except TypeError:  # an unhashable value (a list, a mapping): encoded each time
        return _encode(data)


@lru_cache(maxsize=1024)
def _encoded(flat: tuple[tuple[str, type, object], ...]) -> str:
    return _encode({key: value for key, _, value in flat})


def _encode(data: Mapping[str, object]) -> str:
    encoded = json.dumps(data, default=str, ensure_ascii=False)
    if len(encoded) > MAX_DATA_BYTES:
        encoded = json.dumps({"truncated": True, "keys": sorted(data)[:50]})
    return encoded


def row_for(
    event: NewEvent, blobs: BlobStore, limit: int = DEFAULT_PREVIEW_BYTES
) -> dict[str, object]:
    """The row of an event made in tether (see ``row``)."""
    return row(
        event.session_id,
        event.turn_id,
        event.kind.value,
        event.created_at or time.time(),
        event.text,
        encode_data(event.data),
        event.dedup_key,
        blobs,
        limit,
    )


def row(
    session_id: str,
    turn_id: str | None,
    kind: str,
    created_at: float,
    text: str,
    data: str | None,
    dedup_key: str | None,
    blobs: BlobStore,
    limit: int,
) -> dict[str, object]:
    """A row for ``insert_rows``: the payload bounded, the full text written to the blob
    store when it does not fit. Imported transcripts call this directly with their kind
    value and encoded data: a NewEvent per record cost more than the row."""
    bounded = bound(text, limit)
    blob = blobs.put(text.encode("utf-8", "replace")).sha256 if bounded.truncated else None
    return {
        "session_id": session_id,
        "turn_id": turn_id,
        "kind": kind,
        "created_at": created_at,
        "preview": bounded.preview,
        "size": bounded.size,
        "blob": blob,
        "data": data,
        "dedup_key": dedup_key,
    }


@lru_cache(maxsize=2)
def _insert_sql(paramstyle: str) -> str:
    mark = "?" if paramstyle == "qmark" else "%s"
    return (
        f"INSERT INTO events ({', '.join(ROW_COLUMNS)}) "
        f"VALUES ({', '.join([mark] * len(ROW_COLUMNS))}) "
        "ON CONFLICT (session_id, dedup_key) DO NOTHING"
    )


def _insert(conn: Connection, rows: list[dict[str, object]]) -> int:
    """One driver-level executemany: SQLAlchemy's per-row parameter processing cost more
    than SQLite's own insert (bench/history.py). Its rowcount is the rows inserted, summed
    over the parameter sets by both drivers (sqlite3; psycopg since 3.1)."""
    params = list(map(_ROW_VALUES, rows))
    return int(conn.exec_driver_sql(_insert_sql(conn.dialect.paramstyle), params).rowcount)


def insert_rows(conn: Connection, rows: list[dict[str, object]]) -> int:
    """Insert rows made by ``row_for``, skipping any whose dedup key is already stored;
    returns how many were inserted.

    On SQLite a big batch fills the full-text index in one statement after
    the rows instead of through the per-row trigger, about five times faster
    (bench/history.py; ``ledger/bulk.py``).
    """
    if not rows:
        return 0
    with triggers_set_aside(conn, (_FTS_TRIGGER,), len(rows)) as aside:
        last = conn.execute(_LAST_ID).scalar() if aside else 0
        inserted = _insert(conn, rows)
        if aside:
            conn.execute(_FILL_FTS, {"last": last})
    return inserted


def of_turns(conn: Connection, session_id: str, turn_ids: list[str], limit: int) -> list[Event]:
    """The newest ``limit`` events of some turns, oldest first."""
    rows = conn.execute(
        select(events)
        .where(events.c.session_id == session_id, events.c.turn_id.in_(turn_ids))
        .order_by(events.c.id.desc())
        .limit(limit)
    ).all()
    return [_record(row) for row in reversed(rows)]


# Built once (a page is the dashboard's most frequent read); no cursor reads before this id.
_PAGE = (
    select(events)
    .where(events.c.session_id == bindparam("session_id"), events.c.id < bindparam("before"))
    .order_by(events.c.id.desc())
    .limit(bindparam("limit"))
)
# The same page's ids only: answered from the (session_id, id) index, no table row read.
_PAGE_IDS = (
    select(events.c.id)
    .where(events.c.session_id == bindparam("session_id"), events.c.id < bindparam("before"))
    .order_by(events.c.id.desc())
    .limit(bindparam("limit"))
)
_BY_IDS = select(events).where(events.c.id.in_(bindparam("ids", expanding=True)))
_NO_CURSOR = 2**63 - 1


class Keyed(Protocol):
    @property
    def id(self) -> int: ...


K = TypeVar("K", bound=Keyed)
T = TypeVar("T")


def _page_params(session_id: str, before: str | None, limit: int) -> dict[str, object]:
    cursor = parse_cursor(before)
    return {
        "session_id": session_id,
        "before": _NO_CURSOR if cursor is None else cursor,
        "limit": check_limit(limit) + 1,
    }


def page(
    conn: Connection, session_id: str, before: str | None = None, limit: int = 100
) -> Page[Event]:
    rows = conn.execute(_PAGE, _page_params(session_id, before, limit)).all()
    return paged([(_record(r), weight(r)) for r in rows[:limit]], len(rows))


def page_ids(conn: Connection, session_id: str, before: str | None, limit: int) -> list[int]:
    """The ids of ``page``'s events, newest first, one more than ``limit`` when there is one."""
    return list(conn.execute(_PAGE_IDS, _page_params(session_id, before, limit)).scalars())


def by_ids(conn: Connection, ids: Iterable[int]) -> list[tuple[Event, int]]:
    """These events, each with its ``weight``, in no particular order."""
    return [(_record(r), weight(r)) for r in conn.execute(_BY_IDS, {"ids": list(ids)})]


def weight(row: Row[tuple[object, ...]]) -> int:
    """What a stored event counts against a page's byte budget: its preview and its data."""
    m = row._mapping
    return len(m["preview"]) + len(m["data"] or "")


def paged(weighed: Sequence[tuple[K, int]], read: int) -> Page[K]:
    """A page of these items within the byte budget (invariant 5), at least one; ``read``
    ids were found (one over the limit when older ones remain). The cursor is its last id."""
    items = _within_budget(weighed)
    more = read > len(items)
    return Page(items, str(items[-1].id) if more and items else None)


def _within_budget(weighed: Iterable[tuple[T, int]]) -> list[T]:
    items: list[T] = []
    spent = 0
    for item, size in weighed:
        spent += size
        if items and spent > PAGE_BUDGET_BYTES:
            break
        items.append(item)
    return items


def after(
    conn: Connection, session_id: str, after_id: int, limit: int = 100
) -> list[tuple[Event, int]]:
    """Events newer than ``after_id``, oldest first, each with its ``weight``, within the
    same byte budget as pages."""
    query = (
        select(events)
        .where(events.c.session_id == session_id, events.c.id > after_id)
        .order_by(events.c.id)
        .limit(check_limit(limit))
    )
    weighed = ((_record(r), weight(r)) for r in conn.execute(query))
    return _within_budget((pair, pair[1]) for pair in weighed)

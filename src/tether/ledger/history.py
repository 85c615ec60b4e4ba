"""The history tables: native log files, native sessions and usage entries.

Usage entries are upserted by ``(agent, entry_key)``. On a conflict the
row keeps the largest usage (a response streamed as several lines) and is
credited to the better occurrence: an original before a copy, then the
earlier-started session, then the smaller native id — so the result does
not depend on the order files are read in.
"""

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, and_, bindparam, case, func, insert, or_, select, update
from sqlalchemy import text as sql_text

from tether.domain.records import Origin, TurnKind
from tether.ledger import usage
from tether.ledger.bulk import triggers_set_aside
from tether.ledger.schema import (
    events,
    history_files,
    native_sessions,
    sessions,
    turns,
    usage_entries,
)
from tether.ledger.usage import TOKEN_COLUMNS

UNKNOWN_ORIGIN_TS = 1e15  # sorts after any real start time
# A usage entry row, in the table's column order: its key, then who is credited with it and
# when (the better occurrence's), then its amounts (the largest occurrence's).
CREDIT = ("native_id", "copied", "origin_ts", "ts", "day", "turn_key")
AMOUNTS = ("model", *TOKEN_COLUMNS, "cost")
ENTRY_COLUMNS = ("agent", "entry_key", *CREDIT, *AMOUNTS)


@dataclass(frozen=True, slots=True)
class FileRecord:
    agent: str
    path: str
    native_id: str | None
    device: int
    inode: int
    size: int
    mtime: float
    head_size: int
    head_hash: str
    read_offset: int
    events_offset: int
    state: dict[str, Any]
    bad_lines: int
    oversize_lines: int


def _insert_for(dialect: str) -> Any:
    """The dialect's INSERT … ON CONFLICT; only the one in use is loaded (CLI start-up)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def _insert(conn: Connection) -> Any:
    return _insert_for(conn.dialect.name)


def load_files(conn: Connection, host: str) -> dict[str, FileRecord]:
    """The native log files ``host`` indexed (another host's paths are its own machine's)."""
    records = {}
    for m in conn.execute(select(history_files).where(history_files.c.host == host)).mappings():
        records[m["path"]] = FileRecord(
            m["agent"],
            m["path"],
            m["native_id"],
            m["device"],
            m["inode"],
            m["size"],
            m["mtime"],
            m["head_size"],
            m["head_hash"],
            m["read_offset"],
            m["events_offset"],
            json.loads(m["state"]) if m["state"] else {},
            m["bad_lines"],
            m["oversize_lines"],
        )
    return records


def save_files(conn: Connection, host: str, rows: Sequence[dict[str, Any]]) -> None:
    """Upsert ``host``'s file rows (``path`` is the key there), each a full set of columns."""
    if not rows:
        return
    stmt = _insert(conn)(history_files)
    columns = {c: stmt.excluded[c] for c in rows[0] if c != "path"}
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["host", "path"], set_=columns),
        [dict(row, host=host) for row in rows],
    )


def set_events_offsets(conn: Connection, host: str, offsets: Sequence[tuple[str, int]]) -> None:
    """How far each of ``host``'s files' transcript was imported, by path."""
    if offsets:
        conn.execute(
            update(history_files)
            .where(history_files.c.host == host, history_files.c.path == bindparam("p"))
            .values(events_offset=bindparam("o")),
            [{"p": path, "o": offset} for path, offset in offsets],
        )


def files_of(conn: Connection, agent: str, native_id: str) -> int:
    """How many files, on any host, hold this native session."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(history_files)
            .where(history_files.c.agent == agent, history_files.c.native_id == native_id)
        ).scalar_one()
    )


def paths_of(conn: Connection, agent: str, native_id: str, host: str | None) -> list[str]:
    """The files ``host`` recorded holding this native session (its paths are that machine's)."""
    found = conn.execute(
        select(history_files.c.path)
        .where(
            history_files.c.agent == agent,
            history_files.c.native_id == native_id,
            history_files.c.host == (host or ""),
        )
        .order_by(history_files.c.path)
    )
    return list(found.scalars())


def delete_entries_of(conn: Connection, agent: str, native_id: str) -> None:
    """Forget a native session's entries before its only file is read again from the start."""
    conn.execute(
        usage_entries.delete().where(
            and_(usage_entries.c.agent == agent, usage_entries.c.native_id == native_id)
        )
    )


# The usage sums' insert triggers (migrations 0013, 0015), and what they add, set-based, for
# the entries inserted after ``last`` (updates of older entries still go through triggers).
_SUM_TRIGGERS = ("usage_totals_insert", "usage_days_insert")
_LAST_PK = sql_text("SELECT coalesce(max(pk), 0) FROM usage_entries")
_TOKENS_SQL = "input_tokens + cached_input_tokens + cache_write_tokens + output_tokens"
_UNPRICED_SQL = f"sum(CASE WHEN cost IS NULL THEN {_TOKENS_SQL} ELSE 0 END)"
_DAY_SUMS = (*TOKEN_COLUMNS, "cost", "priced", "unpriced_tokens", "entries")
# The new entries by their pk range (SQLite only: triggers are set aside there). Without NOT
# INDEXED, SQLite (no statistics) walks a whole index in GROUP BY order to skip a sort,
# testing pk row by row: every batch read every entry, a cost that grew with the ledger
# (0.68 s over the 49 batches of the 1 GB bench tree's cold index with transcripts).
_NEW_ENTRIES = "FROM usage_entries NOT INDEXED WHERE pk > :last"
_SUMS_OF_NEW = (
    sql_text(
        "INSERT INTO usage_totals (agent, native_id, tokens, cost, priced, unpriced_tokens) "
        f"SELECT agent, native_id, sum({_TOKENS_SQL}), coalesce(sum(cost), 0), count(cost), "
        f"{_UNPRICED_SQL} {_NEW_ENTRIES} GROUP BY agent, native_id "
        "ON CONFLICT (agent, native_id) DO UPDATE SET "
        + ", ".join(
            f"{c} = usage_totals.{c} + excluded.{c}"
            for c in ("tokens", "cost", "priced", "unpriced_tokens")
        )
    ),
    sql_text(
        f"INSERT INTO usage_days (day, agent, model, {', '.join(_DAY_SUMS)}) "
        f"SELECT day, agent, model, {', '.join(f'sum({c})' for c in TOKEN_COLUMNS)}, "
        f"coalesce(sum(cost), 0), count(cost), {_UNPRICED_SQL}, count(*) {_NEW_ENTRIES} "
        "GROUP BY day, agent, model ON CONFLICT (day, agent, model) DO UPDATE "
        "SET " + ", ".join(f"{c} = usage_days.{c} + excluded.{c}" for c in _DAY_SUMS)
    ),
)


@dataclass(frozen=True, slots=True)
class _EntriesSql:
    """The statements writing usage entries, compiled once per dialect and run through the
    driver's executemany (SQLAlchemy's per-row parameter processing cost more than SQLite's
    own upsert)."""

    upsert: str
    insert_new: str  # skips the keys already stored
    positional: bool  # parameters in ENTRY_COLUMNS order (the table's), else by name


@lru_cache(maxsize=4)
def _entries_sql(dialect: Dialect) -> _EntriesSql:
    stmt = _insert_for(dialect.name)(usage_entries)
    new, old = stmt.excluded, usage_entries.c
    better = or_(
        new.copied < old.copied,
        and_(
            new.copied == old.copied,
            or_(
                new.origin_ts < old.origin_ts,
                and_(new.origin_ts == old.origin_ts, new.native_id < old.native_id),
            ),
        ),
    )
    total_new = new.input_tokens + new.cached_input_tokens + new.cache_write_tokens
    total_old = old.input_tokens + old.cached_input_tokens + old.cache_write_tokens
    larger = total_new + new.output_tokens > total_old + old.output_tokens
    set_ = {c: case((better, new[c]), else_=old[c]) for c in CREDIT}
    set_.update({c: case((larger, new[c]), else_=old[c]) for c in AMOUNTS})
    key = ["agent", "entry_key"]
    upsert = stmt.on_conflict_do_update(index_elements=key, set_=set_)
    compiled = [
        statement.compile(dialect=dialect, column_keys=list(ENTRY_COLUMNS))
        for statement in (upsert, stmt.on_conflict_do_nothing(index_elements=key))
    ]
    for each in compiled:
        if each.positional and tuple(each.positiontup or ()) != ENTRY_COLUMNS:
            raise AssertionError(f"usage entry parameters out of order: {each.positiontup}")
    return _EntriesSql(compiled[0].string, compiled[1].string, compiled[0].positional)


_NEW_KEYS = sql_text("SELECT agent, entry_key FROM usage_entries WHERE pk > :last")


def upsert_entries(conn: Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Upsert usage entry rows, each a sequence of values in ENTRY_COLUMNS order."""
    if not rows:
        return
    sql = _entries_sql(conn.dialect)
    params = (
        list(map(tuple, rows))  # the driver binds any sequence, SQLAlchemy tuples only
        if sql.positional
        else [dict(zip(ENTRY_COLUMNS, row, strict=True)) for row in rows]
    )
    # Set aside only with each key once: a row inserted and then updated by the same batch
    # would have its update trigger take off amounts that no insert trigger added.
    unique = len({(row[0], row[1]) for row in rows}) == len(rows)
    with triggers_set_aside(conn, _SUM_TRIGGERS, len(rows) if unique else 0) as aside:
        if not aside:
            conn.exec_driver_sql(sql.upsert, params)
            return
        last = int(conn.execute(_LAST_PK).scalar_one())
        _insert_then_upsert(conn, sql, params, last)
        for statement in _SUMS_OF_NEW:
            conn.execute(statement, {"last": last})


def _insert_then_upsert(conn: Connection, sql: _EntriesSql, params: list[Any], last: int) -> None:
    """A bulk batch of distinct keys: the new ones inserted plainly, then only the keys stored
    before upserted. SQLite's upsert cost half as much again as an insert that skips a
    conflict, even with none (0.83 -> 0.53 s for the 75,358 entries of the 1 GB bench tree),
    and a cold index finds few keys stored before."""
    inserted = conn.exec_driver_sql(sql.insert_new, params).rowcount
    if inserted == len(params):
        return
    new = {(agent, key) for agent, key in conn.execute(_NEW_KEYS, {"last": last})}
    conn.exec_driver_sql(sql.upsert, [p for p in params if (p[0], p[1]) not in new])


def merge_sessions(
    conn: Connection, agent: str, facts: Iterable[Mapping[str, Any]], host: str | None = None
) -> None:
    """Insert native sessions or widen what is known of them, set-based.

    Each fact has ``native_id``, ``started_at``, ``ended_at``, ``cwd``,
    ``title``, ``model`` and ``parent_native_id`` (one fact per native id);
    the earliest start, the latest end and the first known cwd, title and
    parent are kept. A new one is recorded as found on ``host`` (its logs are
    on that machine); a known one keeps the host it was first found on.
    """
    facts = list(facts)
    known = _native_rows(conn, agent, [f["native_id"] for f in facts])
    new = [dict(f, agent=agent, host=host) for f in facts if f["native_id"] not in known]
    if new:
        conn.execute(insert(native_sessions), new)
    changes = [_widened(known[f["native_id"]], f) for f in facts if f["native_id"] in known]
    if changes:
        conn.execute(
            update(native_sessions)
            .where(native_sessions.c.pk == bindparam("k"))
            .values({c: bindparam(f"v_{c}") for c in _WIDENED}),
            changes,
        )


_WIDENED = ("started_at", "ended_at", "cwd", "title", "model", "parent_native_id")


def _native_rows(
    conn: Connection, agent: str, native_ids: Sequence[str]
) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for start in range(0, len(native_ids), 500):
        rows = conn.execute(
            select(native_sessions).where(
                native_sessions.c.agent == agent,
                native_sessions.c.native_id.in_(native_ids[start : start + 500]),
            )
        ).mappings()
        found.update({row["native_id"]: row for row in rows})
    return found


def _widened(row: Mapping[str, Any], item: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "k": row["pk"],
        "v_started_at": _pick(min, row["started_at"], item["started_at"]),
        "v_ended_at": _pick(max, row["ended_at"], item["ended_at"]),
        "v_cwd": row["cwd"] or item["cwd"],
        "v_title": row["title"] or item["title"],
        "v_model": item["model"] or row["model"],
        "v_parent_native_id": row["parent_native_id"] or item["parent_native_id"],
    }


def _pick(choose: Any, old: float | None, new: float | None) -> float | None:
    known = [v for v in (old, new) if v is not None]
    return choose(known) if known else None


def found_in_logs(conn: Connection, agent: str, native_id: str) -> bool:
    """Whether the history indexer found this thread in the agent's own logs."""
    query = select(native_sessions.c.pk).where(
        native_sessions.c.agent == agent, native_sessions.c.native_id == native_id
    )
    return conn.execute(query).first() is not None


def started_at(conn: Connection, agent: str, native_ids: Iterable[str]) -> dict[str, float]:
    ids = list(set(native_ids))
    found: dict[str, float] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(native_sessions.c.native_id, native_sessions.c.started_at).where(
                and_(
                    native_sessions.c.agent == agent,
                    native_sessions.c.native_id.in_(ids[start : start + 500]),
                )
            )
        )
        found.update({n: s for n, s in rows if s is not None})
    return found


def unattributed(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(native_sessions).where(native_sessions.c.session_id.is_(None))
    ).mappings()
    return [dict(r) for r in rows]


def attribute_many(conn: Connection, links: Sequence[tuple[int, str]]) -> None:
    """Bind native sessions (by pk) to tether sessions, in one statement."""
    if links:
        conn.execute(
            update(native_sessions)
            .where(native_sessions.c.pk == bindparam("k"))
            .values(session_id=bindparam("s")),
            [{"k": pk, "s": session_id} for pk, session_id in links],
        )


def sessions_by_native(conn: Connection, agent: str) -> dict[str, str]:
    rows = conn.execute(
        select(native_sessions.c.native_id, native_sessions.c.session_id).where(
            and_(native_sessions.c.agent == agent, native_sessions.c.session_id.is_not(None))
        )
    )
    return dict(rows.all())  # type: ignore[arg-type,unused-ignore]


def problems(conn: Connection, host: str) -> dict[str, Any]:
    """What ``tether doctor`` reports of ``host``'s native logs: bad and oversize lines,
    unreadable files; of other hosts' (paths on their machines), only how many are unreadable.
    """
    mine = history_files.c.host == host
    totals = conn.execute(
        select(
            func.count(),
            func.coalesce(func.sum(history_files.c.bad_lines), 0),
            func.coalesce(func.sum(history_files.c.oversize_lines), 0),
        ).where(mine)
    ).one()
    errors = conn.execute(
        select(history_files.c.path, history_files.c.error)
        .where(mine, history_files.c.error.is_not(None))
        .limit(20)
    ).all()
    elsewhere = conn.execute(
        select(func.count(), func.count(history_files.c.host.distinct())).where(
            ~mine, history_files.c.error.is_not(None)
        )
    ).one()
    return {
        "files": totals[0],
        "bad_lines": int(totals[1]),
        "oversize_lines": int(totals[2]),
        "errors": [{"path": p, "error": e} for p, e in errors],
        "elsewhere": {"unreadable": int(elsewhere[0]), "hosts": int(elsewhere[1])},
    }


_EXTERNAL = (
    select(native_sessions.c.agent, native_sessions.c.native_id, sessions.c.id)
    .join(sessions, sessions.c.id == native_sessions.c.session_id)
    .where(sessions.c.origin == Origin.EXTERNAL.value)
)


def external_sessions(
    conn: Connection, of: Iterable[tuple[str, str]] | None = None
) -> dict[tuple[str, str], str]:
    """(agent, native id) → session id, for native sessions fed into external sessions: all,
    or those among ``of`` (a batch's, without reading every session's row each time)."""
    if of is None:
        return {(a, n): s for a, n, s in conn.execute(_EXTERNAL)}
    by_agent: dict[str, list[str]] = {}
    for agent, native_id in of:
        by_agent.setdefault(agent, []).append(native_id)
    found: dict[tuple[str, str], str] = {}
    for agent, ids in by_agent.items():
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            where = (native_sessions.c.agent == agent, native_sessions.c.native_id.in_(chunk))
            found.update({(a, n): s for a, n, s in conn.execute(_EXTERNAL.where(*where))})
    return found


def tether_held(conn: Connection) -> set[tuple[str, str]]:
    """(agent, native id) of the threads tether's own sessions hold (not external ones):
    their records came through tether's stream, only attached turns' are imported."""
    own = sessions.c.origin != Origin.EXTERNAL.value
    held = conn.execute(
        select(sessions.c.agent, sessions.c.native_id).where(own, sessions.c.native_id.is_not(None))
    ).all()
    bound = conn.execute(
        select(native_sessions.c.agent, native_sessions.c.native_id)
        .join(sessions, sessions.c.id == native_sessions.c.session_id)
        .where(own)
    ).all()
    return {(agent, native_id) for agent, native_id in (*held, *bound)}


@dataclass(frozen=True, slots=True)
class AttachWindow:
    """When a human held a tether session in the agent's own UI (an attached turn)."""

    turn_id: str
    start: float
    end: float | None  # None while it is still attached

    def holds(self, ts: float, slack: float = 1.0) -> bool:
        return self.start - slack <= ts and (self.end is None or ts <= self.end + slack)


def attached_windows(conn: Connection) -> dict[tuple[str, str], tuple[str, list[AttachWindow]]]:
    """(agent, native id) → (tether session, its attached turns' windows).

    The session is found by its exact native id; the windows only pick which
    of that thread's own records happened outside tether's stream.
    """
    rows = conn.execute(
        select(
            sessions.c.agent,
            sessions.c.native_id,
            sessions.c.id,
            turns.c.id,
            turns.c.spawned_at,
            turns.c.finished_at,
        )
        .join(turns, turns.c.session_id == sessions.c.id)
        .where(
            turns.c.kind == TurnKind.ATTACHED.value,
            sessions.c.native_id.is_not(None),
            turns.c.spawned_at.is_not(None),
        )
    )
    found: dict[tuple[str, str], tuple[str, list[AttachWindow]]] = {}
    for agent, native_id, session_id, turn_id, start, end in rows:
        found.setdefault((agent, native_id), (session_id, []))[1].append(
            AttachWindow(turn_id, start, end)
        )
    return found


def executor(conn: Connection) -> "usage.Execute":
    """Plain SQL of ``tether.ledger.usage`` on this connection."""
    return lambda sql, params: conn.execute(sql_text(sql), params).all()


def usage_report(conn: Connection, by: str, since: str | None = None) -> list[dict[str, Any]]:
    """See ``tether.ledger.usage.report``."""
    return usage.report(executor(conn), by, since)


def unpriced_models(conn: Connection) -> list[dict[str, Any]]:
    """Models with usage but no known price, most tokens first."""
    return usage.unpriced_models(executor(conn))


def unpriced_amounts(conn: Connection) -> list[tuple[int, str, float, int, int, int, int]]:
    """The entries still without a cost, for pricing them again."""
    return _amounts(conn, usage_entries.c.cost.is_(None))


def entry_amounts(conn: Connection) -> list[tuple[int, str, float, int, int, int, int]]:
    return _amounts(conn, None)


def _amounts(conn: Connection, where: Any) -> list[tuple[int, str, float, int, int, int, int]]:
    c = usage_entries.c
    query = select(
        c.pk,
        c.model,
        c.ts,
        c.input_tokens,
        c.cached_input_tokens,
        c.cache_write_tokens,
        c.output_tokens,
    )
    if where is not None:
        query = query.where(where)
    return [tuple(r) for r in conn.execute(query)]  # type: ignore[misc,unused-ignore]


def set_costs(conn: Connection, costs: Sequence[tuple[int, float | None]]) -> None:
    if costs:
        conn.execute(
            update(usage_entries).where(usage_entries.c.pk == bindparam("k")),
            [{"k": pk, "cost": cost} for pk, cost in costs],
        )


def _fts_query(text: str) -> str:
    """Words as FTS5 string literals, so user input is never FTS5 syntax."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in text.split())


def search(conn: Connection, text: str, limit: int = 20) -> list[dict[str, Any]]:
    """Message events matching every word of ``text``, best match first."""
    if not text.split():
        return []
    if conn.dialect.name == "sqlite":
        rows = conn.execute(
            sql_text(
                "SELECT e.id, e.session_id, e.created_at, e.preview FROM events_fts "
                "JOIN events e ON e.id = events_fts.rowid WHERE events_fts MATCH :q "
                "ORDER BY events_fts.rank LIMIT :n"
            ),
            {"q": _fts_query(text), "n": limit},
        )
    else:
        rows = conn.execute(
            sql_text(
                "SELECT id, session_id, created_at, preview FROM events "
                "WHERE kind = 'message' AND to_tsvector('simple', preview) "
                "@@ plainto_tsquery('simple', :q) "
                "ORDER BY ts_rank(to_tsvector('simple', preview), plainto_tsquery('simple', :q)) "
                "DESC, id DESC LIMIT :n"
            ),
            {"q": text, "n": limit},
        )
    return [dict(r._mapping) for r in rows]


def move_session(
    conn: Connection, old_id: str, new_id: str, native_id: str | None, host: str | None
) -> None:
    """Hand an external session's events, native threads and host to ``new_id``, then drop it."""
    conn.execute(update(events).where(events.c.session_id == old_id).values(session_id=new_id))
    conn.execute(
        update(native_sessions)
        .where(native_sessions.c.session_id == old_id)
        .values(session_id=new_id)
    )
    conn.execute(sessions.delete().where(sessions.c.id == old_id))
    conn.execute(
        update(sessions).where(sessions.c.id == new_id).values(native_id=native_id, host=host)
    )


def adopt_in_place(conn: Connection, session_id: str) -> None:
    conn.execute(
        update(sessions).where(sessions.c.id == session_id).values(origin=Origin.TETHER.value)
    )

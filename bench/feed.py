"""The live channel's ledger read on PostgreSQL: commit order against id order, same run.

On PostgreSQL the change feed reads rows in (transaction id, id) order below
the oldest running transaction (ledger/changes.py), so that ids committed
out of order are never skipped. This fills one schema with events and
changes in many transactions, then resumes reads of a batch from random
positions both ways: with ``ledger.changes`` (commit order, the (xid, id)
index) and with the id-ordered query it replaced, mapped to the same
records. Prints p50/p99 of one read and the ratio commit/id.

    .venv/bin/python bench/feed.py                  # 200,000 events, 20,000 changes
    .venv/bin/python bench/feed.py --events 50000 --reads 100
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Connection, func, select, text

from tether.config import load
from tether.ledger import changes
from tether.ledger.schema import changes as changes_table
from tether.ledger.schema import events
from tether.ledger.store import Ledger, open_ledger

PG_ADMIN = os.environ.get("TETHER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PER_TRANSACTION = 5_000
BATCH = 500  # server/feed.py reads this many rows of each kind per pass
PREVIEW_CHARS = 500


def _fill(ledger: Ledger, n_events: int, n_changes: int) -> None:
    with ledger.db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (name, prefix, path, next_session, created_at)"
                " VALUES ('bench', 'bench', '/bench', 101, 1)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO sessions (id, project_id, number, agent, origin, state, workspace,"
                " next_turn, created_at, updated_at) SELECT 'bench-' || g, (SELECT id FROM"
                " projects), g, 'codex', 'tether', 'idle', '/bench', 1, 1, 1"
                " FROM generate_series(1, 100) g"
            )
        )
    for start in range(0, n_events, PER_TRANSACTION):
        with ledger.db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO events (session_id, kind, created_at, preview, size, dedup_key)"
                    " SELECT 'bench-' || (1 + g % 100), 'message', 1.0, repeat('x', 200), 200,"
                    " 'k' || g FROM generate_series(CAST(:a AS int), CAST(:b AS int)) g"
                ),
                {"a": start, "b": min(start + PER_TRANSACTION, n_events) - 1},
            )
    for start in range(0, n_changes, PER_TRANSACTION):
        with ledger.db.write() as conn:
            conn.execute(
                text(
                    "INSERT INTO changes (kind, subject, session_id)"
                    " SELECT 'session', 'bench-' || (1 + g % 100), 'bench-' || (1 + g % 100)"
                    " FROM generate_series(1, CAST(:n AS int)) g"
                ),
                {"n": min(PER_TRANSACTION, n_changes - start)},
            )
    with ledger.db.write() as conn:
        conn.execute(text("ANALYZE events"))
        conn.execute(text("ANALYZE changes"))


def _by_id_events(conn: Connection, after: int) -> list[changes.EventNote]:
    """The read before commit order: ids alone (misses ids that commit late)."""
    fields = (events.c.id, events.c.session_id, events.c.turn_id, events.c.kind)
    preview = func.substr(events.c.preview, 1, PREVIEW_CHARS).label("preview")
    query = select(*fields, preview).where(events.c.id > after).order_by(events.c.id)
    return [changes.EventNote(**r._mapping) for r in conn.execute(query.limit(BATCH))]


def _by_id_changes(conn: Connection, after: int) -> list[changes.Change]:
    query = select(changes_table).where(changes_table.c.id > after).order_by(changes_table.c.id)
    return [changes.Change(**r._mapping) for r in conn.execute(query.limit(BATCH))]


def _positions(conn: Connection, table: str, reads: int) -> list[tuple[int, int]]:
    rows = conn.execute(
        text(
            f"SELECT CAST(CAST(xid AS text) AS bigint), id FROM {table} ORDER BY random() LIMIT :n"
        ),
        {"n": reads},
    ).all()
    return [(int(x), int(i)) for x, i in rows]


def _time_pair(
    before: Callable[[Any], list[Any]], now: Callable[[Any], list[Any]], positions: list[Any]
) -> tuple[list[float], list[float]]:
    """Both reads from each position, alternating (and once untimed: a warm cache for both)."""
    for position in positions:
        before(position), now(position)
    times: tuple[list[float], list[float]] = ([], [])
    for index, position in enumerate(positions):
        order = (0, 1) if index % 2 else (1, 0)
        for which in order:
            started = time.perf_counter()
            got = (before, now)[which](position)
            times[which].append((time.perf_counter() - started) * 1000)
            assert got, "a read from a position inside the table found nothing"
    return times


def _line(label: str, ms: list[float]) -> str:
    p99 = statistics.quantiles(ms, n=100)[98] if len(ms) >= 2 else ms[0]
    return f"{label:<34} p50 {statistics.median(ms):7.3f} ms   p99 {p99:7.3f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--changes", type=int, default=20_000)
    parser.add_argument("--reads", type=int, default=300)
    args = parser.parse_args()
    schema = f"tether_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        url = f"postgresql+psycopg://{PG_ADMIN.split('://', 1)[1]}?options=-csearch_path%3D{schema}"
        with tempfile.TemporaryDirectory() as home:
            ledger = open_ledger(load({"TETHER_HOME": str(Path(home)), "TETHER_DATABASE_URL": url}))
            try:
                _fill(ledger, args.events, args.changes)
                _report(ledger, args)
            finally:
                ledger.close()
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _report(ledger: Ledger, args: argparse.Namespace) -> None:
    with ledger.db.read() as conn:
        at_events = _positions(conn, "events", args.reads)
        at_changes = _positions(conn, "changes", args.reads)
        event_times = _time_pair(
            lambda p: _by_id_events(conn, p[1]),
            lambda p: changes.events_after(conn, p, BATCH, PREVIEW_CHARS),
            at_events,
        )
        change_times = _time_pair(
            lambda p: _by_id_changes(conn, p[1]),
            lambda p: changes.changes_after(conn, p, BATCH),
            at_changes,
        )
    figures = {
        "events, id order (before)": event_times[0],
        "events, commit order": event_times[1],
        "changes, id order (before)": change_times[0],
        "changes, commit order": change_times[1],
    }
    print(f"{args.events} events, {args.changes} changes; {args.reads} reads of {BATCH} rows each")
    for label, ms in figures.items():
        print(_line(label, ms))
    for kind in ("events", "changes"):
        ratio = statistics.median(figures[f"{kind}, commit order"]) / statistics.median(
            figures[f"{kind}, id order (before)"]
        )
        print(f"{kind}: commit order / id order, p50: {ratio:.2f}x")


if __name__ == "__main__":
    main()

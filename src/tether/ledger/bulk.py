"""Per-row SQLite triggers set aside while one big batch is written, then redone set-based.

A trigger per row (the full-text index, the usage sums) costs more than the
insert itself on a bulk load; the caller fills in one statement after the
batch what the triggers would have. The triggers are dropped and recreated
from their own stored SQL inside the caller's write transaction, so no other
writer ever sees them missing; if the batch fails, the rollback restores
them with everything else.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, bindparam, text

BULK_ROWS = 500  # from this many rows on, a batch is written without the per-row triggers
_STORED = text(
    "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN :names"
).bindparams(bindparam("names", expanding=True))


@contextmanager
def triggers_set_aside(conn: Connection, names: tuple[str, ...], rows: int) -> Iterator[bool]:
    """Yield True with the named triggers dropped (the caller then does their work), or
    False with nothing changed: not SQLite, fewer than BULK_ROWS rows, or a trigger
    missing."""
    if conn.dialect.name != "sqlite" or rows < BULK_ROWS:
        yield False
        return
    stored = conn.execute(_STORED, {"names": list(names)}).all()
    if len(stored) != len(names):
        yield False
        return
    for name, _ in stored:
        conn.execute(text(f"DROP TRIGGER {name}"))
    yield True
    for _, sql in stored:
        conn.execute(text(sql))

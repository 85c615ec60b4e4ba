"""Where a GET's ledger read runs: on the event loop when it cannot wait, else in the pool.

On SQLite in WAL mode a reader never waits for a writer, and the dashboard's
and API's reads are bounded (cursor pages, byte budgets), so such a read runs
on the event loop. A hop to a worker thread costs more than the read itself
when many clients are in flight: each hop hands the GIL from the loop's
thread to a worker and back. Under 64 clients (bench/api.py) the session page
cost 6.2 ms of daemon CPU per request through the thread pool and 2.5 ms on
the loop, and its p99 went from 7x the floor's to 1.9x. On PostgreSQL a read
waits on the network, and a read whose cost grows with the ledger (full-text
search) may take long on any database: those go to the thread pool.
"""

from collections.abc import Callable
from typing import TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from tether.ledger.db import Database

R = TypeVar("R")


async def read(
    db: Database, handler: Callable[[Request], R], request: Request, *, bounded: bool = True
) -> R:
    """``handler(request)``, on the loop for a bounded SQLite read, else in the thread pool."""
    if bounded and db.is_sqlite:
        return handler(request)
    return await run_in_threadpool(handler, request)

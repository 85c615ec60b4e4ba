"""A pass with nothing to do, found without loading SQLAlchemy.

A warm ``tether index`` mostly finds every native log as it left it. This
answers that case from a read-only stdlib sqlite3 connection: walk the
roots, stat each log, compare with the identities the ledger keeps (one
query for all), and check that nothing else is pending (``ledger/pending.py``).
Any doubt, a PostgreSQL ledger or one that needs migrating returns None:
the full pass runs.
"""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from tether.config import Config
from tether.history.fill import main_log
from tether.history.report import IndexReport
from tether.history.roots import Roots, log_entries, roots
from tether.history.sources import store_stamp
from tether.ledger import light, pending

if TYPE_CHECKING:
    from tether.ledger.usage import Execute

HOST = ""  # a SQLite ledger has one implicit host


def check(config: Config) -> IndexReport | None:
    """The report of a pass that would read nothing and write nothing, or None."""
    started = time.perf_counter()
    conn = light.connect(config.database_url)
    if conn is None:
        return None
    with closing(conn):
        execute = light.execute(conn)
        found = roots(config.history)
        files = _unchanged_logs(execute, found)
        if files is None or not _store_unchanged(execute, found.opencode_db):
            return None
        if pending.unattributed(execute) or _unmeasured(execute):
            return None
        if config.history.import_transcripts and pending.transcripts(execute, HOST):
            return None
    return IndexReport(files=files, seconds=time.perf_counter() - started)


def _unchanged_logs(execute: Execute, found: Roots) -> int | None:
    """How many logs there are, if each is known with the same identity; else None."""
    known = pending.identities(execute, HOST)
    count = 0
    for _, entry in log_entries(found):
        saved = known.get(entry.path)
        try:
            now = entry.stat()  # follows links, as sources.identity does
        except OSError:
            return None  # the full pass reports it
        if saved is None or saved != (now.st_dev, now.st_ino, now.st_size, now.st_mtime):
            return None
        count += 1
    return count


def _store_unchanged(execute: Execute, path: Path) -> bool:
    """The OpenCode store is absent, or stamped as the last pass left it."""
    try:
        stamp = store_stamp(path)
    except OSError:
        return True
    state = pending.state(execute, HOST, str(path))
    return state is not None and state.get("stamp") == stamp


def _unmeasured(execute: Execute) -> bool:
    """A live thread whose own log (not a Claude sub-agent's) was not measured to its end."""
    return any(
        main_log(agent, native_id, Path(path))
        for agent, native_id, path in pending.unmeasured(execute, HOST)
    )

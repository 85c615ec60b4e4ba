"""Measuring each live thread from its native log, after each indexer pass.

The indexer finds the files; this reads each current thread's log from the
offset saved on the thread, so a pass costs what the log grew by.
"""

import logging
from pathlib import Path

from tether.domain.threads import known_window
from tether.history.fill import READERS, Fill, main_log, read
from tether.ledger import threads
from tether.ledger.store import Ledger

log = logging.getLogger("tether.history")


def measure(ledger: Ledger, host: str, max_line: int) -> int:
    """Read what each live thread's native log on ``host`` added; how many threads changed."""
    with ledger.db.read() as conn:
        found = threads.logs_to_measure(conn, host, sorted(READERS))
    changed = 0
    for thread, name in found:
        path = Path(name)
        if thread.native_id is None or not main_log(thread.agent, thread.native_id, path):
            continue
        try:
            size = path.stat().st_size
        except OSError:
            continue  # gone: the audit reports it
        same = thread.log_path == name and thread.log_offset <= size
        if same and thread.log_offset == size:
            continue
        fill = Fill(thread.log_offset, compactions=thread.log_compactions) if same else Fill()
        try:
            read(thread.agent, path, fill, max_line)
        except OSError as exc:
            log.warning("action=thread_measure_failed path=%s error=%s", name, exc)
            continue
        window = fill.window or thread.context_window or known_window(fill.model)
        with ledger.db.write() as conn:
            threads.measured_log(
                conn,
                thread,
                path=name,
                offset=fill.offset,
                size=size,
                tokens=fill.tokens,
                window=window,
                compactions=fill.compactions,
            )
        changed += 1
    return changed

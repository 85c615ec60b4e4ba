"""What an indexing pass would find to do, in plain SQL on any executor.

``tether index`` asks these through a read-only stdlib sqlite3 connection
(``ledger/light.py``) before it loads SQLAlchemy: when no native log changed
and none of this is pending, the pass has nothing to do. Each query mirrors
one step of the full pass; they may say "pending" when the pass would find
nothing (it then runs), never the reverse.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tether.domain.records import Origin, TurnKind

if TYPE_CHECKING:
    from tether.ledger.usage import Execute

_FILES = "SELECT path, device, inode, size, mtime FROM history_files WHERE host = :host"
_STATE = "SELECT state FROM history_files WHERE host = :host AND path = :path"
# attribution.attribute_all: native sessions not yet bound to a session
_UNATTRIBUTED = "SELECT 1 FROM native_sessions WHERE session_id IS NULL LIMIT 1"
# Indexer.import_transcripts: records not yet imported of external sessions and attached turns
_TRANSCRIPTS = """
SELECT 1 FROM history_files f
WHERE f.host = :host AND f.events_offset < f.read_offset AND (
  EXISTS (SELECT 1 FROM native_sessions n JOIN sessions s ON s.id = n.session_id
          WHERE n.agent = f.agent AND n.native_id = f.native_id AND s.origin = :external)
  OR EXISTS (SELECT 1 FROM sessions s JOIN turns t ON t.session_id = s.id
             WHERE s.agent = f.agent AND s.native_id = f.native_id AND t.kind = :attached
             AND t.spawned_at IS NOT NULL))
LIMIT 1
"""
# meter.measure: live threads whose log was not measured to its recorded size
_UNMEASURED = """
SELECT t.agent, t.native_id, f.path FROM threads t
JOIN history_files f ON f.agent = t.agent AND f.native_id = t.native_id AND f.host = :host
WHERE t.ended_at IS NULL AND t.native_id IS NOT NULL
  AND NOT (t.log_path IS NOT NULL AND t.log_path = f.path AND t.log_offset = f.size)
"""


def identities(execute: Execute, host: str) -> dict[str, tuple[int, int, int, float]]:
    """Path → (device, inode, size, mtime) of every file ``host`` indexed."""
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in execute(_FILES, {"host": host})}


def state(execute: Execute, host: str, path: str) -> dict[str, Any] | None:
    """The saved reader state of one file (the OpenCode store's stamp), None if unknown."""
    rows = execute(_STATE, {"host": host, "path": path})
    return json.loads(rows[0][0] or "{}") if rows else None


def unattributed(execute: Execute) -> bool:
    return bool(execute(_UNATTRIBUTED, {}))


def transcripts(execute: Execute, host: str) -> bool:
    params = {"host": host, "external": Origin.EXTERNAL.value, "attached": TurnKind.ATTACHED.value}
    return bool(execute(_TRANSCRIPTS, params))


def unmeasured(execute: Execute, host: str) -> list[tuple[str, str, str]]:
    """(agent, native id, path) of live threads whose log may have more to measure."""
    return [(row[0], row[1], row[2]) for row in execute(_UNMEASURED, {"host": host})]

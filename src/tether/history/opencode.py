"""OpenCode's SQLite store: ``$XDG_DATA_HOME/opencode/opencode.db``.

Opened read-only by URI (``mode=ro``), so tether never writes or locks it
for OpenCode; WAL lets it read while OpenCode writes. Assistant messages
carry ``tokens{input, output, reasoning, cache{read, write}}``; the message
id is the entry key. Messages are read from a ``time_updated`` watermark,
inclusive, so a message updated in the same millisecond is read again and
upserted, never lost. A locked or corrupt store is reported, never fatal.
"""

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.history.facts import SessionFacts, UsageEntry
from tether.history.timestamps import from_epoch

AGENT = "opencode"
BUSY_TIMEOUT_S = 2.0
BATCH = 5000


@dataclass
class StoreRead:
    entries: list[UsageEntry] = field(default_factory=list)
    sessions: list[SessionFacts] = field(default_factory=list)
    watermark: int = 0
    bad_rows: int = 0
    error: str | None = None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
    conn.execute("PRAGMA query_only = ON")
    return conn


def _entry(message_id: str, native_id: str, data: dict[str, Any]) -> UsageEntry | None:
    tokens = data.get("tokens")
    created = from_epoch((data.get("time") or {}).get("created"))
    if data.get("role") != "assistant" or not isinstance(tokens, dict) or created is None:
        return None
    cache = tokens.get("cache") or {}
    reasoning = int(tokens.get("reasoning") or 0)
    return UsageEntry(
        key=message_id,
        native_id=native_id,
        timestamp=created,
        model=str(data.get("modelID") or "unknown"),
        input_tokens=int(tokens.get("input") or 0),
        cached_input_tokens=int(cache.get("read") or 0),
        cache_write_tokens=int(cache.get("write") or 0),
        output_tokens=int(tokens.get("output") or 0) + reasoning,
        reasoning_tokens=reasoning,
    )


def read(path: Path, watermark: int) -> StoreRead:
    """Usage of messages updated at or after ``watermark`` (ms), and their sessions."""
    result = StoreRead(watermark=watermark)
    try:
        conn = _connect(path)
    except sqlite3.Error as exc:
        result.error = f"cannot open {path} read-only: {exc}"
        return result
    try:
        _read_messages(conn, result)
        _read_sessions(conn, result)
    except sqlite3.Error as exc:  # locked past the timeout, corrupt, or another schema
        result.error = f"{path}: {exc}"
        result.entries, result.watermark = [], watermark
    finally:
        conn.close()
    return result


def _read_messages(conn: sqlite3.Connection, result: StoreRead) -> None:
    rows = conn.execute(
        "SELECT id, session_id, time_updated, data FROM message "
        "WHERE time_updated >= ? ORDER BY time_updated",
        (result.watermark,),
    )
    for message_id, session_id, updated, raw in rows:
        result.watermark = max(result.watermark, int(updated or 0))
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            result.bad_rows += 1
            continue
        entry = _entry(message_id, session_id, data) if isinstance(data, dict) else None
        if entry is not None:
            result.entries.append(entry)


def _read_sessions(conn: sqlite3.Connection, result: StoreRead) -> None:
    ids = sorted({e.native_id for e in result.entries})
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT id, directory, title, time_created, time_updated, parent_id "
            f"FROM session WHERE id IN ({marks})",
            chunk,
        )
        for native_id, directory, title, created, updated, parent in rows:
            result.sessions.append(
                SessionFacts(
                    native_id,
                    started_at=from_epoch(created),
                    ended_at=from_epoch(updated),
                    cwd=directory,
                    title=title,
                    parent_native_id=parent,
                )
            )

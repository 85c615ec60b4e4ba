"""OpenCode's SQLite store, read-only: exact usage, incremental, corrupt or locked."""

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tether.config import Config
from tether.history import unchanged
from tether.history.indexer import Indexer
from tether.ledger import history as ledger_history
from tether.ledger.store import Ledger, history_host

ROWS = Path(__file__).parents[1] / "data" / "recorded" / "opencode" / "native"


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(tmp_path / "claude"))
    monkeypatch.setenv("CODEX_HOME", str(tmp_path / "codex"))
    return make_store(tmp_path / "data" / "opencode" / "opencode.db")


def make_store(path: Path) -> Path:
    """An empty OpenCode store with the tables tether reads (as OpenCode creates them)."""
    path.parent.mkdir(parents=True)
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(
            "CREATE TABLE session (id TEXT PRIMARY KEY, directory TEXT, title TEXT, "
            "time_created INTEGER, time_updated INTEGER, parent_id TEXT)"
        )
        conn.execute(
            "CREATE TABLE message (id TEXT PRIMARY KEY, session_id TEXT, "
            "time_created INTEGER, time_updated INTEGER, data TEXT)"
        )
    return path


def _load(path: Path, label: str) -> None:
    rows = json.loads((ROWS / f"{label}.opencode-rows.json").read_text())
    with closing(sqlite3.connect(path)) as conn, conn:
        for s in rows["session"]:
            conn.execute(
                "INSERT INTO session VALUES (?, ?, ?, ?, ?, ?)",
                (s["id"], s["directory"], s["title"], s["time_created"], s["time_updated"], None),
            )
        for m in rows["message"]:
            conn.execute(
                "INSERT INTO message VALUES (?, ?, ?, ?, ?)",
                (
                    m["id"],
                    m["session_id"],
                    m["time_created"],
                    m["time_updated"],
                    json.dumps(m["data"]),
                ),
            )


def _usage(ledger: Ledger) -> list[tuple[int, int, int]]:
    with ledger.db.read() as conn:
        rows = ledger_history.usage_report(conn, "session")
    return sorted((r["input_tokens"], r["cached_input_tokens"], r["output_tokens"]) for r in rows)


def test_recorded_opencode_sessions_incrementally(
    config: Config, ledger: Ledger, store: Path
) -> None:
    indexer = Indexer(config, ledger)
    _load(store, "main")
    first = indexer.run_once()
    assert first.errors == [] and first.sessions_created == 1
    assert _usage(ledger) == [(160, 40, 20)]
    assert indexer.run_once().files_read == 0  # unchanged store: not even opened
    assert (unchanged.check(config) is not None) == ledger.db.is_sqlite
    _load(store, "tool")
    assert unchanged.check(config) is None  # the store changed: the full pass reads it
    indexer.run_once()
    assert _usage(ledger)[-1] == (160, 40, 20) and len(_usage(ledger)) == 2


def test_corrupt_or_locked_store_is_reported_not_fatal(
    config: Config, ledger: Ledger, store: Path
) -> None:
    blocker = sqlite3.connect(store, isolation_level=None)
    blocker.execute("PRAGMA journal_mode = DELETE")
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        report = Indexer(config, ledger).run_once()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert any("opencode.db" in e for e in report.errors)
    store.write_bytes(b"this is not a database" * 100)
    report = Indexer(config, ledger).run_once()
    assert any("opencode.db" in e for e in report.errors)
    with ledger.db.read() as conn:
        assert ledger_history.problems(conn, history_host(config, ledger))["errors"]

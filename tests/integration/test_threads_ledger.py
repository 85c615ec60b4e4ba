"""Threads in the ledger (SQLite and PostgreSQL): a session's threads in order,
rotated ones still the session's by exact id, and fill measured from native logs
by the history indexer's pass."""

import shutil
from pathlib import Path

import pytest

from tether.config import Config
from tether.errors import Conflict
from tether.history.indexer import Indexer
from tether.ledger import projects, sessions, threads
from tether.ledger.store import Ledger

RECORDED = Path(__file__).parents[1] / "data" / "recorded"


def _session(ledger: Ledger, path: Path, agent: str) -> str:
    with ledger.db.write() as conn:
        project = projects.find_by_path(conn, path) or projects.add(conn, path, name="work")
        return sessions.create(conn, project, agent, str(path)).id


def test_rotated_threads_stay_the_sessions(ledger: Ledger, tmp_path: Path) -> None:
    web = _session(ledger, tmp_path, "codex")
    other = _session(ledger, tmp_path, "codex")
    with ledger.db.write() as conn:
        sessions.bind_native_id(conn, sessions.get(conn, web), "thread-1")
        old, new = threads.rotate(conn, sessions.get(conn, web), "context full", 2, "ab" * 32)
        assert sessions.get(conn, web).native_id is None
        assert (old.ordinal, new.ordinal, new.native_id, new.first_turn) == (1, 2, None, 2)
        sessions.bind_native_id(conn, sessions.get(conn, web), "thread-2")
    with ledger.db.read() as conn:
        found = threads.for_session(conn, web)
        owner = sessions.find_by_native_id(conn, "codex", "thread-1")
    assert [(t.native_id, t.end_reason) for t in found] == [
        ("thread-1", "context full"),
        ("thread-2", None),
    ]
    assert owner is not None and owner.id == web
    with ledger.db.write() as conn, pytest.raises(Conflict, match="another tether session"):
        sessions.bind_native_id(conn, sessions.get(conn, other), "thread-1")


def test_the_indexer_measures_the_current_thread_from_its_native_log(
    config: Config, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codex_home = tmp_path / "agents"
    shutil.copytree(RECORDED / "codex" / "context" / "native" / "huge", codex_home)
    rollout = next(codex_home.rglob("rollout-*.jsonl"))
    monkeypatch.setenv("CODEX_HOME", str(codex_home / ".codex"))
    for name in ("CLAUDE_CONFIG_DIR", "GEMINI_CLI_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "empty"))
    session_id = _session(ledger, tmp_path, "codex")
    native = rollout.stem[-36:]
    with ledger.db.write() as conn:
        sessions.bind_native_id(conn, sessions.get(conn, session_id), native)

    indexer = Indexer(config, ledger)
    assert indexer.run_once().threads_measured == 1
    with ledger.db.read() as conn:
        thread = threads.current(conn, session_id)
    assert thread is not None and thread.native_id == native
    assert (thread.context_tokens, thread.context_window) == (263_890, 258_400)
    assert thread.compactions == 1 and thread.log_bytes == rollout.stat().st_size
    assert thread.fill is not None and thread.fill > 1  # Codex went past its effective window
    assert indexer.run_once().threads_measured == 0  # nothing new in the log: nothing read

"""Native logs recorded from the real CLIs (tests/data/recorded): exact usage.

The recording's model server answers every request with input 100 (20 of
them cached) and output 10; the ``main`` and ``tool`` sessions made two
model requests each.
"""

import shutil
from pathlib import Path

import pytest

from tether.config import Config
from tether.domain.records import Origin
from tether.history.indexer import Indexer
from tether.ledger import history as ledger_history
from tether.ledger import sessions
from tether.ledger.store import Ledger

RECORDED = Path(__file__).parents[1] / "data" / "recorded"
AGENTS = ("claude", "codex", "gemini")


@pytest.fixture
def recorded_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    for agent in AGENTS:
        for label in ("main", "tool", "failed"):
            source = RECORDED / agent / "native" / label
            if source.is_dir():
                shutil.copytree(source, home, dirs_exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("CODEX_HOME", str(home / ".codex"))
    monkeypatch.setenv("GEMINI_CLI_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    return home


def test_recorded_sessions_have_exact_usage_and_titles(
    config: Config, ledger: Ledger, recorded_home: Path
) -> None:
    report = Indexer(config, ledger).run_once()
    assert report.bad_lines == 0 and report.errors == []
    with ledger.db.read() as conn:
        rows = ledger_history.usage_report(conn, "session")
        found = {r["key"]: sessions.get(conn, r["key"]) for r in rows}
    by_agent: dict[str, list[dict]] = {}
    for row in rows:
        by_agent.setdefault(found[row["key"]].agent, []).append(row)
    for agent in AGENTS:
        usage = sorted(
            (r["input_tokens"], r["cached_input_tokens"], r["output_tokens"])
            for r in by_agent[agent]
        )
        assert usage[-2:] == [(160, 40, 20), (160, 40, 20)], agent
    titles = {s.title for s in found.values()}
    assert "hello from the recorder" in titles
    assert all(s.origin is Origin.EXTERNAL for s in found.values())
    assert report.events > 0

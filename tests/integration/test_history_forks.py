"""Forks and sub-agents recorded from the real CLIs (tests/data/recorded/forks).

Every model response of the recording reports input 100 (20 of them cached)
and output 10, so a thread's true usage is its number of responses times
that. Each token must be counted once, in the thread that spent it, and a
parent's figures must not change when its fork is indexed, before or after.
"""

import json
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from tether.config import Config
from tether.history.indexer import Indexer
from tether.ledger import history as ledger_history
from tether.ledger import sessions
from tether.ledger.store import Ledger

FORKS = Path(__file__).parents[1] / "data" / "recorded" / "forks"
# (input without cached, cached, output) per model response, as the model server reports it
ONE = (80, 20, 10)
RESPONSES = {
    # parent: first turn, a resume, a resume after the fork; fork: its first turn and a resume
    "codex": {"parent": 3, "fork": 2},
    # with_subagent: the main agent's tool call, the sub-agent's answer, the main agent's answer
    "claude": {"parent": 3, "fork": 2, "with_subagent": 3},
}


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "native-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(home / ".claude"))
    monkeypatch.setenv("CODEX_HOME", str(home / ".codex"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    return home


def _usage(ledger: Ledger, agent: str) -> dict[str, tuple[int, int, int]]:
    with ledger.db.read() as conn:
        rows = ledger_history.usage_report(conn, "session")
        natives = {r["key"]: sessions.get(conn, r["key"]) for r in rows}
    return {
        str(natives[r["key"]].native_id): (
            r["input_tokens"],
            r["cached_input_tokens"],
            r["output_tokens"],
        )
        for r in rows
        if natives[r["key"]].agent == agent
    }


def _threads(agent: str) -> dict[str, str]:
    threads: dict[str, str] = json.loads((FORKS / agent / "meta.json").read_text())["threads"]
    return threads


@pytest.mark.parametrize("agent", sorted(RESPONSES))
@pytest.mark.parametrize("fork_first", [True, False])
def test_recorded_fork_counts_each_token_once(
    config: Config,
    ledger: Ledger,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    agent: str,
    fork_first: bool,
) -> None:
    home = _home(tmp_path, monkeypatch)
    threads = _threads(agent)
    labels = sorted(threads, key=lambda label: (label != "fork") != fork_first)
    indexer = Indexer(config, ledger)
    for label in labels:  # one pass per thread: the order of discovery must not matter
        shutil.copytree(FORKS / agent / "native" / label, home, dirs_exist_ok=True)
        report = indexer.run_once()
        assert report.bad_lines == 0 and report.errors == []
    expected = {
        threads[label]: tuple(n * part for part in ONE) for label, n in RESPONSES[agent].items()
    }
    assert _usage(ledger, agent) == expected


def test_recorded_codex_fork_names_its_parent(
    config: Config, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = _home(tmp_path, monkeypatch)
    shutil.copytree(FORKS / "codex" / "native" / "fork", home, dirs_exist_ok=True)
    Indexer(config, ledger).run_once()
    threads = _threads("codex")
    with ledger.db.read() as conn:
        parent = conn.execute(
            text("SELECT parent_native_id FROM native_sessions WHERE native_id = :n"),
            {"n": threads["fork"]},
        ).scalar_one()
    assert parent == threads["parent"]


def test_recorded_claude_fork_named_before_its_parent_read_in_one_pass(
    config: Config, ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parent and fork folded into one batch: the shared responses are credited to the
    earlier-started parent, as the ledger's upsert does across batches, even when the fork's
    id sorts first (it was credited to the smaller id within a batch)."""
    home = _home(tmp_path, monkeypatch)
    threads = _threads("claude")
    early = "00000000-0000-4000-8000-000000000000"  # sorts before the parent's id
    for label in ("parent", "fork"):
        shutil.copytree(FORKS / "claude" / "native" / label, home, dirs_exist_ok=True)
    (fork,) = home.rglob(f"{threads['fork']}.jsonl")
    fork.with_name(f"{early}.jsonl").write_text(fork.read_text().replace(threads["fork"], early))
    fork.unlink()
    report = Indexer(config, ledger).run_once()
    assert report.bad_lines == 0 and report.errors == []
    expected = {threads["parent"]: tuple(3 * part for part in ONE), early: (160, 40, 20)}
    assert _usage(ledger, "claude") == expected

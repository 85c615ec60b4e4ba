"""Invariant 1: every agent-specific operation follows the session's own agent.

A project whose default agent is codex runs gemini, claude and goose sessions.
Codex's provider and parser are booby-trapped, its command would leave a mark,
and its log directory holds a rollout in the same working directory with a big
bill (the agent-orchestrator #1995 scenario). None of it may touch the other
sessions.
"""

import json
import stat
import sys
from pathlib import Path

import pytest
from tests.engine.conftest import FAKE_AGENT, make_engine, wait_for, write_config

from tether.agents import codex
from tether.config import load
from tether.domain.states import TurnState
from tether.engine import accept
from tether.history.adopt import adopt
from tether.history.indexer import Indexer
from tether.ledger import history, projects, sessions

RECORDED = Path(__file__).parent.parent / "data" / "recorded"
REPLAY = Path(__file__).parent.parent / "fakes" / "replay_agent.py"
GOOSE_STREAM = [
    {
        "type": "message",
        "message": {
            "id": "m1",
            "role": "assistant",
            "created": 1763700000,
            "content": [{"type": "text", "text": "goose here"}],
        },
    },
    {"type": "complete", "total_tokens": 130, "input_tokens": 100, "output_tokens": 30},
]


def _script(path: Path, body: str) -> str:
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def _replayer(tmp: Path, agent: str, recording: Path, recorded_id: str) -> str:
    return _script(
        tmp / agent, f'exec "{sys.executable}" "{REPLAY}" "{recording}" "{recorded_id}" "$@"'
    )


def _recorded(agent: str) -> tuple[Path, str]:
    meta = json.loads((RECORDED / agent / "meta.json").read_text())
    return RECORDED / agent / "new.jsonl", meta["turns"]["new"]["native_id"]


def _codex_rollout(codex_home: Path, cwd: Path) -> str:
    thread = "019a0000-0000-7000-8000-000000000129"
    day = codex_home / "sessions" / "2026" / "11" / "21"
    day.mkdir(parents=True)
    usage = {
        "input_tokens": 90_000_000,
        "cached_input_tokens": 0,
        "output_tokens": 9_000_000,
        "reasoning_output_tokens": 0,
        "total_tokens": 99_000_000,
    }
    records = [
        {
            "timestamp": "2026-11-21T10:00:00.000Z",
            "type": "session_meta",
            "payload": {"id": thread, "cwd": str(cwd), "originator": "codex_exec"},
        },
        {
            "timestamp": "2026-11-21T10:00:01.000Z",
            "type": "turn_context",
            "payload": {"cwd": str(cwd), "model": "gpt-5"},
        },
        {
            "timestamp": "2026-11-21T10:00:02.000Z",
            "type": "event_msg",
            "payload": {
                "type": "token_count",
                "info": {"total_token_usage": usage, "last_token_usage": usage},
            },
        },
    ]
    path = day / f"rollout-2026-11-21T10-00-00-{thread}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return thread


def _trap(*_: object, **__: object) -> None:
    raise AssertionError("a codex code path ran for a non-codex session")


def test_non_codex_sessions_never_touch_codex(
    home: Path, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("new_turn", "resume_turn", "interactive", "parser"):
        monkeypatch.setattr(codex.CodexProvider, name, _trap)
    monkeypatch.setattr(codex.CodexParser, "feed", _trap)
    codex_home = tmp_path / "codex-home"
    codex_thread = _codex_rollout(codex_home, workdir)
    monkeypatch.setenv("TETHER_HISTORY_CODEX_HOME", str(codex_home))
    for name in ("CLAUDE_CONFIG_DIR", "GEMINI_CLI_HOME", "XDG_DATA_HOME"):
        empty = tmp_path / f"empty-{name}"
        empty.mkdir()
        monkeypatch.setenv(f"TETHER_HISTORY_{name}", str(empty))
    marker = tmp_path / "codex-ran"
    goose_recording = tmp_path / "goose.jsonl"
    goose_recording.write_text("".join(json.dumps(r) + "\n" for r in GOOSE_STREAM))
    write_config(home)
    commands = {
        "codex": _script(tmp_path / "codex", f'touch "{marker}"; exit 1'),
        "gemini": _replayer(tmp_path, "gemini", *_recorded("gemini")),
        "claude": _replayer(tmp_path, "claude", *_recorded("claude")),
        "goose": _replayer(tmp_path, "goose", goose_recording, "unused"),
    }
    with (home / "config.toml").open("a") as handle:
        for agent, command in commands.items():
            handle.write(f'\n[agents.{agent}]\ncommand = "{command}"\n')
    config = load()
    engine, ledger = make_engine(config, workdir)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    with ledger.db.write() as conn:
        projects.add(conn, mixed, name="mixed", default_agent="codex")
    engine.start()
    try:
        accepted = {
            agent: accept.spawn(config, ledger, f"hello {agent}", project="mixed", agent=agent)
            for agent in ("gemini", "claude", "goose")
        }
        engine.poke()
        for agent, item in accepted.items():
            turn = wait_for(engine, item.turn.id)
            assert turn.state is TurnState.COMPLETED, (agent, turn.reason)
    finally:
        engine.stop()
    Indexer(config, ledger).run_once(walk=True)
    with ledger.db.read() as conn:
        ours = {agent: sessions.get(conn, a.session.id) for agent, a in accepted.items()}
        external = sessions.find_by_native_id(conn, "codex", codex_thread)
        report = history.usage_report(conn, "session")
    assert not marker.exists(), "the codex command ran"
    for agent, session in ours.items():
        assert session.agent == agent and session.native_id is not None
        assert session.native_id != codex_thread
    assert ours["goose"].native_id.startswith("tether-")  # type: ignore[union-attr]
    assert external is not None and external.origin.value == "external"
    assert external.id not in {s.id for s in ours.values()}
    billed = {row["key"]: row for row in report}
    assert billed[external.id]["input_tokens"] == 90_000_000
    assert not {s.id for s in ours.values()} & set(billed), "codex usage was attached to ours"
    ledger.close()


def test_start_retry_of_a_preassigned_thread_starts_it_again(
    home: Path, workdir: Path, tmp_path: Path
) -> None:
    """Claude's id is pre-assigned at dispatch; a retry must not --resume a thread
    that never started."""
    recording, recorded_id = _recorded("claude")
    argv_log, marker = tmp_path / "argv.log", tmp_path / "failed-once"
    claude = _script(
        tmp_path / "claude",
        f'echo "$@" >> "{argv_log}"\n'
        f'if [ ! -e "{marker}" ]; then touch "{marker}"; exit 7; fi\n'
        f'exec "{sys.executable}" "{REPLAY}" "{recording}" "{recorded_id}" "$@"',
    )
    write_config(home)
    with (home / "config.toml").open("a") as handle:
        handle.write(f'\n[agents.claude]\ncommand = "{claude}"\n')
    config = load()
    engine, ledger = make_engine(config, workdir)
    engine.start()
    try:
        accepted = accept.spawn(config, ledger, "hello", project="work", agent="claude")
        engine.poke()
        turn = wait_for(engine, accepted.turn.id)
    finally:
        engine.stop()
        ledger.close()
    assert turn.state is TurnState.COMPLETED, turn.reason
    assert turn.attempts == 2
    attempts = argv_log.read_text().splitlines()
    assert len(attempts) == 2
    assert all("--session-id=" in a and "--resume" not in a for a in attempts), attempts


def test_an_adopted_session_resumes_the_thread_found_in_the_logs(
    home: Path, workdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Started outside tether, the thread exists: its first turn here is a resume by its id."""
    codex_home = tmp_path / "codex-home"
    thread = _codex_rollout(codex_home, workdir)
    monkeypatch.setenv("TETHER_HISTORY_CODEX_HOME", str(codex_home))
    argv_log = tmp_path / "argv.log"
    fake = f'exec "{sys.executable}" "{FAKE_AGENT}" "$@"'
    codex_command = _script(tmp_path / "codex", f'echo "$@" >> "{argv_log}"\n{fake}')
    write_config(home)
    with (home / "config.toml").open("a") as handle:
        handle.write(f'\n[agents.codex]\ncommand = "{codex_command}"\n')
    config = load()
    engine, ledger = make_engine(config, workdir)
    Indexer(config, ledger).run_once()
    with ledger.db.read() as conn:
        found = sessions.find_by_native_id(conn, "codex", thread)
    assert found is not None
    adopted = adopt(ledger, found.id, project="work")
    engine.start()
    try:
        accepted = accept.send(config, ledger, adopted.id, "carry on")
        engine.poke()
        turn = wait_for(engine, accepted.turn.id)
    finally:
        engine.stop()
        ledger.close()
    assert turn.state is TurnState.COMPLETED, turn.reason
    (argv,) = argv_log.read_text().splitlines()
    assert argv.endswith(f"resume -m gpt-5 -- {thread} carry on"), argv

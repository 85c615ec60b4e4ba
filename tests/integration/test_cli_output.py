"""What people read in a terminal: long reasons and previews are shortened at a word, visibly."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tether.cli.group import cli
from tether.config import load
from tether.domain.records import EventKind
from tether.domain.states import TurnState
from tether.domain.text import ELLIPSIS
from tether.ledger import events, projects, sessions, turns
from tether.ledger.events import NewEvent
from tether.ledger.store import open_ledger

WORDS = " ".join(f"word{i:03d}" for i in range(400))  # 3,200 characters, no word repeats


@pytest.fixture
def session(home: Path, tmp_path: Path) -> str:
    ledger = open_ledger(load())
    with ledger.db.write() as conn:
        web = projects.add(conn, tmp_path, name="web")
        made = sessions.create(conn, web, "codex", str(tmp_path))
        turn, _ = turns.add(conn, made, "go")
        turns.transition(conn, turn.id, TurnState.FAILED, reason=f"agent said: {WORDS}")
    row = events.row_for(NewEvent(made.id, EventKind.MESSAGE, WORDS, dedup_key="1"), ledger.blobs)
    with ledger.db.write() as conn:
        events.insert_rows(conn, [row])
    ledger.close()
    return made.id


def _run(*args: str) -> str:
    result = CliRunner(env={"COLUMNS": "80"}).invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def _no_word_cut(text: str) -> None:
    """Every word shown is whole; the cut is marked."""
    assert ELLIPSIS in text
    shown = {w.strip("│…") for w in text.replace(ELLIPSIS, " " + ELLIPSIS).split()}
    assert all(w in WORDS.split() for w in shown if w.startswith("word"))


def test_show_keeps_a_long_reason_short_at_80_columns(session: str) -> None:
    out = _run("show", session)
    assert len(out.splitlines()) < 20, out
    _no_word_cut(out.split("agent said:", 1)[1])
    whole = json.loads(_run("show", session, "--json"))["turns"][0]["reason"]
    assert whole == f"agent said: {WORDS}"


def test_log_shortens_previews_at_a_word(session: str) -> None:
    line = _run("log", session).splitlines()[0]
    assert line.endswith(ELLIPSIS) and len(line) < 240
    _no_word_cut(line.split("message", 1)[1])

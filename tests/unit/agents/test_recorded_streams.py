"""Every parser on the streams recorded from the real CLIs (tests/data/recorded/<agent>).

Each recording's meta.json says how the run ended and which native id it had;
the parser must report exactly that id, once, and the matching outcome.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from tether.agents.registry import STREAM_PARSERS
from tether.domain.records import EventKind
from tether.domain.stream import Outcome

RECORDED = Path(__file__).parents[2] / "data" / "recorded"
AGENTS = ("claude", "codex", "gemini", "opencode")
SILENT_SUCCESS = {"opencode"}  # prints no success line: a clean run has no outcome
SUCCESSES = {"new", "resume", "tool"}


def cases() -> list[Any]:
    found = []
    for agent in AGENTS:
        meta = RECORDED / agent / "meta.json"
        turns = json.loads(meta.read_text())["turns"] if meta.exists() else {}
        for path in sorted((RECORDED / agent).glob("*.jsonl")):
            turn = turns.get(path.stem, {})
            found.append(pytest.param(agent, path, turn, id=f"{agent}-{path.stem}"))
    return found


@pytest.mark.parametrize("agent", AGENTS)
def test_every_agent_has_recordings(agent: str) -> None:
    assert (RECORDED / agent / "new.jsonl").exists(), "re-run tests/realagents/record.py"


@pytest.mark.parametrize(("agent", "path", "turn"), cases())
def test_recorded_stream(agent: str, path: Path, turn: dict[str, Any]) -> None:
    parser = STREAM_PARSERS[agent]()
    events = [e for line in path.read_bytes().splitlines() for e in parser.feed(line)]
    ids = [e.native_id for e in events if e.kind is EventKind.NATIVE_ID]
    outcomes = [e.outcome for e in events if e.outcome is not None]
    assert not any("raw_preview" in e.data for e in events)
    if not events:  # e.g. resume of an unknown id: the CLI printed nothing on stdout
        assert turn.get("returncode", 1) != 0
        return
    assert len(ids) == 1 and ids[0] and len(outcomes) <= 1
    if turn.get("native_id"):
        assert ids == [turn["native_id"]]
    succeeded = turn["returncode"] == 0 if "returncode" in turn else path.stem in SUCCESSES
    if succeeded:
        assert outcomes == ([] if agent in SILENT_SUCCESS else [Outcome.COMPLETED])
    else:
        assert outcomes == [Outcome.FAILED]

"""What every agent's stream parser must do, on bad input and on real CLI output.

Bad lines (not JSON, not an object, cut off, invalid UTF-8, absurdly nested or
huge) give one non-fatal error and never raise. On the streams recorded from
the real CLIs (tests/data/recorded/<agent>, whose meta.json says how each run
ended) a parser reports exactly the recorded native id, once, and the matching
outcome.
"""

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tether.agents.registry import STREAM_PARSERS
from tether.domain.records import EventKind
from tether.domain.stream import Outcome

RECORDED = Path(__file__).parents[2] / "data" / "recorded"
AGENTS = ("claude", "codex", "gemini", "opencode")
SILENT_SUCCESS = {"opencode"}  # prints no success line: a clean run has no outcome
SUCCESSES = {"new", "resume", "tool"}
JSON_STREAMS = sorted(set(STREAM_PARSERS) - {"text"})
BAD_LINES = {
    "text": b"Loaded cached credentials.",
    "array": b"[1, 2, 3]",
    "truncated": b'{"type":"item.completed","item":{"id":"item_1","ty',
    "bad-utf8": b"\xff\xfe\x00garbage",
    "deep-nesting": b"[" * 100_000,
    "huge": b"y" * 1_000_000,
}


@pytest.mark.parametrize("kind", BAD_LINES)
@pytest.mark.parametrize("stream", JSON_STREAMS)
def test_unreadable_lines_give_one_nonfatal_error(stream: str, kind: str) -> None:
    line = BAD_LINES[kind]
    events = STREAM_PARSERS[stream]().feed(line)
    assert len(events) == 1
    assert events[0].kind is EventKind.ERROR and events[0].outcome is None
    assert events[0].data["raw_preview"] == line[:200].decode("utf-8", "replace")[:200]


@pytest.mark.parametrize("stream", JSON_STREAMS)
@given(line=st.binary(max_size=300))
def test_random_bytes_never_raise(stream: str, line: bytes) -> None:
    STREAM_PARSERS[stream]().feed(line)


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

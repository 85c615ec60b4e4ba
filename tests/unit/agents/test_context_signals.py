"""Each parser recognises its CLI's context signals, on streams recorded from the
real CLIs when the model server answered with the provider's context-length
error or reported near-full usage (tests/realagents/record_context.py).
"""

from pathlib import Path

import pytest

from tether.agents.registry import STREAM_PARSERS
from tether.domain.records import EventKind
from tether.domain.stream import ContextSignal, Outcome, StreamEvent
from tether.engine.ingest import Batch

RECORDED = Path(__file__).parents[2] / "data" / "recorded"


def parse(agent: str, name: str) -> list[StreamEvent]:
    path = RECORDED / agent / "context" / f"{name}.jsonl"
    parser = STREAM_PARSERS[agent]()
    return [e for line in path.read_bytes().splitlines() for e in parser.feed(line)]


def batch(agent: str, name: str) -> Batch:
    found = Batch(end=0)
    for event in parse(agent, name):
        found.absorb(event)
    return found


def signals(events: list[StreamEvent]) -> list[ContextSignal]:
    return [e.context for e in events if e.context is not None]


@pytest.mark.parametrize(
    ("agent", "words"),
    [
        ("codex", "Codex ran out of room in the model's context window"),
        ("claude", "Prompt is too long"),
        ("gemini", "exceeds the maximum number of tokens allowed"),
    ],
)
def test_overflow_ends_the_turn_with_the_agents_words(agent: str, words: str) -> None:
    found = batch(agent, "overflow")
    assert found.outcome is Outcome.FAILED
    assert found.context_full is not None and words in found.context_full
    ending = [e for e in parse(agent, "overflow") if e.outcome is not None]
    assert [e.context for e in ending] == [ContextSignal.OVERFLOW]


def test_claude_tries_to_compact_before_it_overflows() -> None:
    assert signals(parse("claude", "overflow")) == [
        ContextSignal.COMPACTING,
        ContextSignal.COMPACTION_FAILED,
        ContextSignal.OVERFLOW,
    ]


def test_opencode_overflow_is_recorded_and_left_to_its_own_compaction() -> None:
    events = parse("opencode", "overflow")
    assert signals(events) == [ContextSignal.OVERFLOW]  # its compaction leaves no mark
    assert any("ECHO[users=2 msgs=4] this message overflows" in e.text for e in events)
    found = batch("opencode", "overflow")
    assert found.outcome is None and found.context_full is None
    assert found.overflow_seen is not None and "maximum context length" in found.overflow_seen


@pytest.mark.parametrize(
    ("agent", "tokens", "window"),
    [("claude", 194_000, 200_000), ("opencode", 97_000, None)],
)
def test_fill_from_the_stream(agent: str, tokens: int, window: int | None) -> None:
    events = parse(agent, "huge")
    fills = [e.fill.tokens for e in events if e.fill is not None and e.fill.tokens]
    assert tokens in fills
    found = batch(agent, "huge")
    assert found.context_window == window
    assert found.outcome is not Outcome.FAILED


def test_opencode_compacts_a_thread_reported_near_full() -> None:
    assert batch("opencode", "huge").compactions >= 1


def test_gemini_success_without_a_reply_is_a_silent_drop() -> None:
    found = batch("gemini", "drop")
    assert found.outcome is Outcome.FAILED
    assert found.context_full is not None and "without any reply" in found.context_full


def test_a_normal_gemini_turn_is_not_a_drop() -> None:
    assert batch("gemini", "huge").outcome is Outcome.COMPLETED
    assert not any(e.kind is EventKind.ERROR for e in parse("gemini", "huge"))

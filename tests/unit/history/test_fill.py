"""The fill readers on native logs recorded from the real CLIs at near-full usage
(tests/realagents/record_context.py): the last request's context size, the
window when the log names it, compactions, read incrementally."""

import json
from pathlib import Path

import pytest

from tether.history.fill import Fill, read

NATIVE = Path(__file__).parents[2] / "data" / "recorded"


def native_log(agent: str) -> Path:
    found = sorted((NATIVE / agent / "context" / "native" / "huge").rglob("*.jsonl"))
    assert len(found) == 1, found
    return found[0]


# Codex: the reply reported 263,840 input + 50 output tokens; the window Codex
# uses is 95% of the catalog's 272,000; the next turn compacted once first.
EXPECTED = {
    "codex": (263_890, 258_400, 1, "mock-model"),
    "claude": (194_000, None, 0, "claude-sonnet-4-5"),
    "gemini": (1_017_118, None, 0, "gemini-2.5-flash"),
}


@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_fill_of_a_recorded_native_log(agent: str) -> None:
    path = native_log(agent)
    fill = read(agent, path, Fill(), max_line=1 << 25)
    assert (fill.tokens, fill.window, fill.compactions, fill.model) == EXPECTED[agent]
    assert fill.offset == path.stat().st_size


@pytest.mark.parametrize("agent", sorted(EXPECTED))
def test_reading_in_two_passes_gives_the_same_fill(agent: str, tmp_path: Path) -> None:
    data = native_log(agent).read_bytes()
    copy = tmp_path / "log.jsonl"
    cut = data.index(b"\n", len(data) // 2) + 1
    copy.write_bytes(data[:cut] + data[cut : cut + 10])  # and half a line, not yet complete
    fill = read(agent, copy, Fill(), max_line=1 << 25)
    assert fill.offset == cut
    copy.write_bytes(data)
    read(agent, copy, fill, max_line=1 << 25)
    assert (fill.tokens, fill.window, fill.compactions, fill.model) == EXPECTED[agent]


def test_bad_and_oversize_lines_are_passed_over(tmp_path: Path) -> None:
    good = {"type": "gemini", "tokens": {"input": 42}, "model": "gemini-2.5-flash"}
    huge = {"type": "gemini", "tokens": {"input": 999}, "content": "x" * 5000}
    path = tmp_path / "chat.jsonl"
    lines = [json.dumps(good), '{"type":"gemini", "tokens": {', json.dumps(huge), "[1]"]
    path.write_text("\n".join(lines) + "\n")
    fill = read("gemini", path, Fill(), max_line=1000)
    assert fill.tokens == 42 and fill.offset == path.stat().st_size

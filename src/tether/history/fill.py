"""A native thread's context fill, read from its native log from a saved offset.

Per agent, from what the recorded logs hold (tests/data/recorded/*/context/):

* Codex rollout: the last ``event_msg`` ``token_count`` —
  ``info.last_token_usage.total_tokens`` against ``info.model_context_window``;
  each top-level ``compacted`` record is a compaction.
* Claude Code transcript: the last assistant message's ``input_tokens +
  cache_creation_input_tokens + cache_read_input_tokens`` (its model names the
  window); each ``system`` ``compact_boundary`` is a compaction.
* Gemini CLI chat file: ``tokens.input`` of the last ``gemini`` message.

Lines are found by substring before anything is decoded, and a line over the
cap streams past unread (invariant 5).
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.lines import LineStats, line_bounds, windows

READ_LIMIT = 64 * 1024 * 1024  # bytes per pass; the next pass goes on from there


def main_log(agent: str, native_id: str, path: Path) -> bool:
    """Claude's sub-agent transcripts carry the session id too: only its own file counts."""
    return agent != "claude" or path.stem == native_id


@dataclass(slots=True)
class Fill:
    offset: int = 0  # read up to here
    tokens: int | None = None
    window: int | None = None
    compactions: int = 0
    model: str | None = None


Record = dict[str, Any]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _dict(value: object) -> Record:
    return value if isinstance(value, dict) else {}


def _codex(record: Record, fill: Fill) -> None:
    if record.get("type") == "compacted":
        fill.compactions += 1
        return
    payload = _dict(record.get("payload"))
    if record.get("type") == "turn_context" and isinstance(payload.get("model"), str):
        fill.model = payload["model"]
    if record.get("type") != "event_msg" or payload.get("type") != "token_count":
        return
    info = _dict(payload.get("info"))
    tokens = _int(_dict(info.get("last_token_usage")).get("total_tokens"))
    if tokens:
        fill.tokens = tokens
    fill.window = _int(info.get("model_context_window")) or fill.window


def _claude(record: Record, fill: Fill) -> None:
    if record.get("type") == "system" and record.get("subtype") == "compact_boundary":
        fill.compactions += 1
        return
    message = _dict(record.get("message"))
    if record.get("type") != "assistant" or message.get("model") == "<synthetic>":
        return
    usage = _dict(message.get("usage"))
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    tokens = sum(_int(usage.get(key)) for key in keys)
    if tokens:
        fill.tokens = tokens
        fill.model = message.get("model") if isinstance(message.get("model"), str) else fill.model


def _gemini(record: Record, fill: Fill) -> None:
    if record.get("type") != "gemini":
        return
    tokens = _int(_dict(record.get("tokens")).get("input"))
    if tokens:
        fill.tokens = tokens
        fill.model = record.get("model") if isinstance(record.get("model"), str) else fill.model


@dataclass(frozen=True)
class FillReader:
    needles: tuple[bytes, ...]
    apply: Callable[[Record, Fill], None]


READERS: dict[str, FillReader] = {
    "codex": FillReader((b'"token_count"', b'"compacted"', b'"turn_context"'), _codex),
    "claude": FillReader((b'"assistant"', b'"compact_boundary"'), _claude),
    "gemini": FillReader((b'"tokens"',), _gemini),
}


def read(agent: str, path: Path, fill: Fill, max_line: int) -> Fill:
    """Advance ``fill`` over the complete lines of ``path`` after ``fill.offset``."""
    reader = READERS[agent]
    stats = LineStats()
    with path.open("rb") as stream:
        stream.seek(fill.offset)
        for _, data, length in windows(stream, fill.offset, stats, None, max_line):
            for start, end in line_bounds(data, length):
                line = data[start:end]
                if len(line) > max_line:
                    continue
                if any(needle in line for needle in reader.needles):
                    _apply(reader, line, fill)
            if stats.bytes_read > READ_LIMIT:
                break
    fill.offset = stats.end
    return fill


def _apply(reader: FillReader, line: bytes, fill: Fill) -> None:
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return  # a bad line is the indexer's to count
    if isinstance(record, dict):
        reader.apply(record, fill)

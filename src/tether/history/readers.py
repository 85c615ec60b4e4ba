"""The line-oriented readers by agent, behind one small table.

Each reader knows its candidate needles, how to decode a candidate line
into a fact, how to take a session's head, and how to turn a line into
transcript items. Unknown records decode to nothing; undecodable candidate
lines are counted as bad.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tether.history import claude, codex, gemini
from tether.history.facts import SessionFacts, TranscriptItem
from tether.lines import Skip, never


@dataclass(frozen=True)
class LineReader:
    agent: str
    needles: tuple[bytes, ...]
    title_needles: tuple[bytes, ...]
    transcript_needles: tuple[bytes, ...]
    native_id_for: Callable[[Path], str | None]
    fact: Callable[[bytes, str, int], Any]
    head: Callable[[bytes, str | None, Path], SessionFacts | None]  # (block, id, log path)
    transcript: Callable[[bytes, str, int], list[TranscriptItem]]
    skip: Skip  # True when a line's head shows it holds no usage
    transcript_skip: Skip  # … no transcript item


def _claude_head(block: bytes, native_id: str | None, path: Path) -> SessionFacts | None:
    del path
    return claude.head(block, native_id or "")


def _codex_head(block: bytes, native_id: str | None, path: Path) -> SessionFacts | None:
    del path
    return codex.head(block, native_id)


READERS: dict[str, LineReader] = {
    "claude": LineReader(
        agent="claude",
        needles=claude.NEEDLES,
        title_needles=(),
        transcript_needles=claude.TRANSCRIPT_NEEDLES,
        native_id_for=claude.native_id_for,
        fact=claude.usage_entry,
        head=_claude_head,
        transcript=claude.transcript_item,
        skip=claude.skip,
        transcript_skip=claude.transcript_skip,
    ),
    "codex": LineReader(
        agent="codex",
        needles=codex.NEEDLES,
        title_needles=codex.TITLE_NEEDLES,
        transcript_needles=codex.TRANSCRIPT_NEEDLES,
        native_id_for=codex.native_id_for,
        fact=codex.fact,
        head=_codex_head,
        transcript=codex.transcript_item,
        skip=codex.skip,
        transcript_skip=codex.skip,  # a response item: neither usage nor a transcript item
    ),
    "gemini": LineReader(
        agent="gemini",
        needles=gemini.NEEDLES,
        title_needles=(),
        transcript_needles=gemini.TRANSCRIPT_NEEDLES,
        native_id_for=gemini.native_id_for,
        fact=gemini.usage_entry,
        head=gemini.head,
        transcript=gemini.transcript_item,
        skip=gemini.skip,
        transcript_skip=never,
    ),
}

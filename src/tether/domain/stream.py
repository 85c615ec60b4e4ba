"""What a provider's stream parser hands the engine.

Each agent speaks its own stdout format; a parser turns each line into zero
or more ``StreamEvent`` values. The engine stores them as events, captures
the native id and decides the turn's outcome from them and the exit status.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from tether.domain.records import EventKind, Usage


class Outcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"


class ContextSignal(StrEnum):
    """What an agent said about its context window (threads, invariant 6)."""

    OVERFLOW = "overflow"  # the thread no longer fits: the turn cannot run in it
    COMPACTION_FAILED = "compaction_failed"  # the agent tried to shrink it and could not
    COMPACTING = "compacting"  # the agent is compacting the thread now
    COMPACTED = "compacted"  # the agent replaced its history by a summary

    @property
    def fatal(self) -> bool:
        return self in (ContextSignal.OVERFLOW, ContextSignal.COMPACTION_FAILED)


@dataclass(frozen=True, slots=True)
class ContextFill:
    """The size of the thread's context at the agent's last model request."""

    tokens: int | None = None
    window: int | None = None


@dataclass(frozen=True, slots=True)
class StreamEvent:
    kind: EventKind
    text: str = ""
    data: Mapping[str, object] = field(default_factory=dict)
    native_id: str | None = None
    usage: Usage | None = None
    usage_is_cumulative: bool = False  # Codex reports thread totals, not per-turn figures
    model: str | None = None
    outcome: Outcome | None = None  # set on the record that ends the turn
    context: ContextSignal | None = None
    fill: ContextFill | None = None

    @property
    def is_output(self) -> bool:
        return self.kind in (EventKind.MESSAGE, EventKind.TOOL_RESULT, EventKind.TOOL_CALL)


class StreamParser(Protocol):
    """One parser instance per turn; it may keep state between lines."""

    def feed(self, line: bytes) -> list[StreamEvent]: ...

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

    @property
    def is_output(self) -> bool:
        return self.kind in (EventKind.MESSAGE, EventKind.TOOL_RESULT, EventKind.TOOL_CALL)


class StreamParser(Protocol):
    """One parser instance per turn; it may keep state between lines."""

    def feed(self, line: bytes) -> list[StreamEvent]: ...

"""The records tether keeps: projects, sessions, turns and events.

Frozen dataclasses, built by the ledger from rows and handed upward; nothing
here touches a database or a file.
"""

from dataclasses import astuple, dataclass, field
from enum import StrEnum

from tether.domain.states import SessionState, TurnState


class Origin(StrEnum):
    TETHER = "tether"  # started by tether
    EXTERNAL = "external"  # found in an agent's native logs


class TurnKind(StrEnum):
    PROMPT = "prompt"  # a headless turn tether runs
    ATTACHED = "attached"  # a human holds the lane in the agent's own UI


class EventKind(StrEnum):
    """tether's normalized events; every provider stream maps onto these."""

    MESSAGE = "message"
    REASONING = "reasoning"
    TOOL_CALL = "tool_call"
    TOOL_RESULT = "tool_result"
    USAGE = "usage"
    ERROR = "error"
    NATIVE_ID = "native_id"
    STATUS = "status"  # tether's own notes: state changes, retries, watchdog
    ROTATED = "rotated"  # the session moved to a new native thread, with a hand-off


TURN_PHASES = (
    "accepted",
    "dispatched",
    "spawned",
    "first_event",
    "first_output",
    "last_progress",
    "finished",
)


@dataclass(frozen=True, slots=True)
class Project:
    id: int
    name: str
    prefix: str
    path: str
    default_agent: str | None
    created_at: float
    host: str | None = None  # where its checkout lives; its turns run there


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def minus(self, other: "Usage") -> "Usage":
        """Usage beyond ``other``, floored at zero: a thread total less the earlier turns."""
        return Usage(*(max(a - b, 0) for a, b in zip(astuple(self), astuple(other), strict=True)))


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    project: str
    number: int
    agent: str
    origin: Origin
    state: SessionState
    workspace: str
    native_id: str | None
    model: str | None
    title: str | None
    created_at: float
    updated_at: float
    host: str | None = None  # where its turns run when not its project's (an external thread)


@dataclass(frozen=True, slots=True)
class Phases:
    accepted: float | None = None
    dispatched: float | None = None
    spawned: float | None = None
    first_event: float | None = None
    first_output: float | None = None
    last_progress: float | None = None
    finished: float | None = None

    def as_dict(self) -> dict[str, float | None]:
        return {name: getattr(self, name) for name in TURN_PHASES}

    def waiting_for(self) -> str | None:
        """Name the wait a live turn is in (invariant 7): the first phase not reached."""
        if self.finished is not None:
            return None
        for name in ("dispatched", "spawned", "first_event", "first_output"):
            if getattr(self, name) is None:
                return name
        return "finished"


@dataclass(frozen=True, slots=True)
class Turn:
    id: str
    session_id: str
    number: int
    kind: TurnKind
    prompt: str
    idempotency_key: str | None
    state: TurnState
    reason: str | None
    attempts: int
    phases: Phases
    usage: Usage = field(default_factory=Usage)
    stalled_at: float | None = None  # the watchdog saw no progress for idle_timeout_s
    accepted_by: str | None = None  # the person who sent it
    cancelled_by: str | None = None  # the person who asked to cancel it
    host: str | None = None  # the host that claimed it
    retry_errors: int = 0  # the agent's retry errors ("Reconnecting…") since its last progress
    retrying_since: float | None = None
    compacting_since: float | None = None  # the agent is compacting its thread

    def reconnecting(self, now: float) -> str | None:
        """What a live turn whose agent keeps retrying is doing, e.g. "12 errors in 4m"."""
        if self.state.terminal or not self.retry_errors or self.retrying_since is None:
            return None
        plural = "s" if self.retry_errors != 1 else ""
        return (
            f"agent reconnecting: {self.retry_errors} error{plural} in "
            f"{span(now - self.retrying_since)}"
        )


def span(seconds: float) -> str:
    """A duration as a person says it: 45s, 4m, 2h."""
    if seconds < 60:
        return f"{max(seconds, 0):.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m"
    return f"{seconds // 3600:.0f}h"


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    session_id: str
    turn_id: str | None
    kind: EventKind
    created_at: float
    preview: str
    size: int
    blob: str | None
    data: dict[str, object] | None

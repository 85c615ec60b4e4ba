"""The provider protocol: everything agent-specific goes through one of these.

The engine picks a provider from the *session's* agent (invariant 1), asks it
for a ``Launch`` and feeds the agent's stdout lines to the provider's parser.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tether.domain.stream import StreamParser


@dataclass(frozen=True, slots=True)
class TurnRequest:
    session_id: str  # tether's id, e.g. web-12
    prompt: str
    workspace: Path
    native_id: str | None = None  # set for a resume; a new turn may pre-assign one
    model: str | None = None
    options: Mapping[str, object] = field(default_factory=dict)  # per-project provider options


@dataclass(frozen=True, slots=True)
class Launch:
    """A process to start: argv is never joined into a shell string."""

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)  # added to the user's environment
    native_id: str | None = None  # known before start when the provider pre-assigns it


class Provider(Protocol):
    name: str
    resumable: bool  # False: each turn starts afresh and ``send`` is refused

    def new_turn(self, request: TurnRequest) -> Launch: ...

    def resume_turn(self, request: TurnRequest) -> Launch: ...

    def interactive(self, request: TurnRequest) -> Launch: ...

    def parser(self) -> StreamParser: ...

"""The named wait of a live turn (invariant 7): which phase, since when.

``waiting for the agent's first event 12s``, ``compacting 40s``,
``stalled 3m``: the CLI, the API and the page all say it the same way.
"""

from dataclasses import dataclass

from tether.domain.records import Turn
from tether.domain.states import TurnState


@dataclass(frozen=True, slots=True)
class Wait:
    name: str  # a stable key: queued, starting, first_event, compacting, stalled, ...
    label: str  # what a person reads
    since: float | None

    def seconds(self, now: float) -> float | None:
        return None if self.since is None else max(now - self.since, 0.0)


def named_wait(turn: Turn) -> Wait | None:
    """The wait a live turn is in; None once it has ended."""
    if turn.state.terminal:
        return None
    p = turn.phases
    if turn.state is TurnState.QUEUED:
        return Wait("queued", "queued behind the session's lane", p.accepted)
    if turn.stalled_at is not None:
        return Wait(
            "stalled", "STALLED: no progress from the agent", p.last_progress or p.first_event
        )
    if turn.compacting_since is not None:
        return Wait("compacting", "the agent is compacting its thread", turn.compacting_since)
    if p.first_output is not None:
        return Wait("working", "working; last progress", p.last_progress or p.first_output)
    if p.first_event is not None:
        return Wait("first_output", "waiting for the agent's first output", p.first_event)
    if p.spawned is not None:
        return Wait("first_event", "waiting for the agent's first event", p.spawned)
    return Wait("starting", "starting the agent", p.dispatched)

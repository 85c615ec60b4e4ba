"""Cancel answers what actually happened, in exactly one of four words."""

from dataclasses import dataclass
from enum import StrEnum


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"  # was queued, or was running and its process group is gone
    ALREADY_FINISHED = "already_finished"  # terminal before the request; state says which
    NOT_FOUND = "not_found"  # no such turn
    COULD_NOT_STOP = "could_not_stop"  # asked, but the process did not go; reason says why


@dataclass(frozen=True)
class CancelResult:
    outcome: CancelOutcome
    turn_id: str
    state: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "outcome": self.outcome.value,
            "turn_id": self.turn_id,
            "state": self.state,
            "reason": self.reason,
        }

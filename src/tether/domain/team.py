"""People and hosts of a team ledger: roles, who did something, which machine runs what.

On SQLite (one laptop) there is one implicit host and one implicit admin;
the same records describe both cases so nothing above needs to branch.
"""

from dataclasses import dataclass
from enum import StrEnum

from tether.errors import InvalidInput


class Role(StrEnum):
    """What a person may do through the API; each role includes the ones below it."""

    VIEWER = "viewer"  # read sessions, turns, events and hosts
    MEMBER = "member"  # also send messages, start sessions and cancel turns
    ADMIN = "admin"  # also manage projects, hosts and people

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: "Role") -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.MEMBER: 1, Role.ADMIN: 2}


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError as exc:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role must be one of {choices}, not {text[:40]!r}") from exc


@dataclass(frozen=True, slots=True)
class Person:
    """Who is making a request: a named user with a role."""

    name: str
    role: Role


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never its secret, which only its creator ever sees."""

    id: int
    user: str
    label: str | None
    created_at: float
    revoked_at: float | None


@dataclass(frozen=True, slots=True)
class Host:
    """A daemon serving the ledger: its heartbeat, the agents it can run and its load."""

    name: str
    url: str | None
    pid: int | None
    started_at: float
    heartbeat_at: float
    agents: dict[str, str]  # agent → version reported by its CLI
    load: int  # live turns this host runs

    def silent_for(self, now: float) -> float:
        return max(0.0, now - self.heartbeat_at)

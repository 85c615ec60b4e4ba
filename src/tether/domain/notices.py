"""Notices: a turn that needs a person, or one that finished, said once.

A turn needs you when it failed, timed out, was interrupted or stalled; it
finished when it completed. (A cancelled turn was stopped by a person, who
knows.) Each notice has a ``tag`` naming the occurrence, so the notifier writes
it once and a browser shows it once; a turn that stalls, recovers and stalls
again gets a second one. The two kinds carry distinct cues: title, icon, and
whether the browser should make a sound and keep the notification up.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tether.domain.records import Session, Turn
from tether.domain.states import TurnState

NEEDS_YOU = "needs_you"
FINISHED = "finished"
_NEEDS_YOU_STATES = frozenset({TurnState.FAILED, TurnState.TIMED_OUT, TurnState.INTERRUPTED})
_BODY_CHARS = 300


@dataclass(frozen=True, slots=True)
class Notice:
    tag: str
    kind: str  # needs_you | finished
    session_id: str
    turn_id: str
    what: str  # failed | timed_out | interrupted | stalled | completed
    reason: str | None
    at: float
    project: str
    agent: str
    title: str  # the session's title (what the person asked for)

    @property
    def headline(self) -> str:
        if self.kind == FINISHED:
            return f"{self.turn_id} finished"
        return f"{self.turn_id} needs you: {self.what.replace('_', ' ')}"

    @property
    def body(self) -> str:
        text = self.reason or self.title or ""
        return text if len(text) <= _BODY_CHARS else text[: _BODY_CHARS - 1] + "…"

    def as_dict(self) -> dict[str, Any]:
        """What every sink gets: the browser, the webhook's JSON body, the command's env."""
        urgent = self.kind == NEEDS_YOU
        return {
            "tag": self.tag,
            "kind": self.kind,
            "what": self.what,
            "headline": self.headline,
            "body": self.body,
            "reason": self.reason,
            "session_id": self.session_id,
            "turn_id": self.turn_id,
            "project": self.project,
            "agent": self.agent,
            "title": self.title,
            "url": f"/sessions/{self.session_id}#turn-{self.turn_id}",
            "at": datetime.fromtimestamp(self.at, UTC).isoformat(),
            "cue": {
                "icon": "notice-needs-you.svg" if urgent else "notice-finished.svg",
                "sound": urgent,
                "sticky": urgent,
            },
        }


def notice_for(turn: Turn, session: Session) -> Notice | None:
    """The notice a turn's current state calls for, if any."""
    if turn.state in _NEEDS_YOU_STATES:
        kind, what, at = NEEDS_YOU, turn.state.value, turn.phases.finished
    elif turn.state is TurnState.COMPLETED:
        kind, what, at = FINISHED, turn.state.value, turn.phases.finished
    elif not turn.state.terminal and turn.stalled_at is not None:
        kind, what, at = NEEDS_YOU, "stalled", turn.stalled_at
    else:
        return None
    when = at if at is not None else turn.phases.last_progress or 0.0
    tag = f"{turn.id}:{what}" if what != "stalled" else f"{turn.id}:stalled:{when:.0f}"
    reason = turn.reason
    if what == "stalled" and not reason:
        reason = "no progress from the agent"
    return Notice(
        tag=tag,
        kind=kind,
        session_id=turn.session_id,
        turn_id=turn.id,
        what=what,
        reason=reason,
        at=when,
        project=session.project,
        agent=session.agent,
        title=(session.title or "")[:200],
    )

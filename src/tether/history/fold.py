"""Folding a file's read results into usage entries and session facts."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tether.history import claude, codex
from tether.history.facts import SessionFacts, UsageEntry
from tether.history.scan import JobResult


@dataclass(slots=True)
class Folded:
    """One file's contribution to the ledger from one read."""

    native_id: str | None
    entries: list[UsageEntry] = field(default_factory=list)
    sessions: list[SessionFacts] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)


def fold(agent: str, path: Path, state: dict[str, Any], results: list[JobResult]) -> Folded:
    if agent == "codex":
        return _fold_codex(path, state, results)
    return _fold_lines(agent, path, results)


def _fold_lines(agent: str, path: Path, results: list[JobResult]) -> Folded:
    """Stateless readers: every entry already knows its session."""
    native_id = claude.native_id_for(path) if agent == "claude" else None
    entries = [e for r in results for e in r.facts if isinstance(e, UsageEntry)]
    sessions = [r.head for r in results if r.head is not None]
    native_id = native_id or (entries[0].native_id if entries else None)
    native_id = native_id or (sessions[0].native_id if sessions else None)
    if native_id and entries:
        tail = SessionFacts(native_id, ended_at=max(e.timestamp for e in entries))
        tail.model = entries[-1].model
        tail.started_at = min(e.timestamp for e in entries)
        sessions.append(tail)
    return Folded(native_id, entries, _merged(sessions), {})


def _fold_codex(path: Path, raw_state: dict[str, Any], results: list[JobResult]) -> Folded:
    state = codex.FoldState.load(raw_state)
    facts = [f for r in results for f in r.facts]
    entries, session = codex.fold(facts, state, codex.native_id_for(path))
    sessions = [session] if session is not None else []
    return Folded(state.native_id or codex.native_id_for(path), entries, sessions, state.dump())


def _merged(sessions: list[SessionFacts]) -> list[SessionFacts]:
    by_id: dict[str, SessionFacts] = {}
    for item in sessions:
        if item.native_id in by_id:
            by_id[item.native_id].merge(item)
        else:
            by_id[item.native_id] = item
    return list(by_id.values())

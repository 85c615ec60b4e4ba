"""Records as JSON-ready dicts: one shape for ``--json`` and for the API."""

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from tether.domain.records import Event, Phases, Project, Session, Turn
from tether.domain.team import Host, Person, TokenInfo
from tether.domain.threads import Thread
from tether.domain.waits import named_wait
from tether.domain.workspace import DiffFile, DiffSummary, Workspace


def iso(ts: float | None) -> str | None:
    return (
        None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    )


def project(p: Project) -> dict[str, Any]:
    return {
        "name": p.name,
        "prefix": p.prefix,
        "path": p.path,
        "default_agent": p.default_agent,
        "host": p.host,
        "created_at": iso(p.created_at),
    }


def session(s: Session) -> dict[str, Any]:
    return {
        "id": s.id,
        "project": s.project,
        "agent": s.agent,
        "origin": s.origin.value,
        "state": s.state.value,
        "workspace": s.workspace,
        "native_id": s.native_id,
        "model": s.model,
        "title": s.title,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "host": s.host,
    }


def phases(p: Phases) -> dict[str, str | None]:
    return {name: iso(ts) for name, ts in p.as_dict().items()}


def turn(t: Turn) -> dict[str, Any]:
    return {
        "id": t.id,
        "session_id": t.session_id,
        "number": t.number,
        "kind": t.kind.value,
        "prompt": t.prompt,
        "idempotency_key": t.idempotency_key,
        "state": t.state.value,
        "reason": t.reason,
        "attempts": t.attempts,
        "waiting_for": None if t.state.terminal else t.phases.waiting_for(),
        "stalled_since": None if t.state.terminal else iso(t.stalled_at),
        "reconnecting": t.reconnecting(time.time()),
        "wait": wait(t),
        "phases": phases(t.phases),
        "usage": asdict(t.usage),
        "accepted_by": t.accepted_by,
        "cancelled_by": t.cancelled_by,
        "host": t.host,
    }


def wait(t: Turn) -> dict[str, Any] | None:
    """The live turn's named wait and how long it has lasted so far."""
    found = named_wait(t)
    if found is None:
        return None
    seconds = found.seconds(time.time())
    return {
        "name": found.name,
        "label": found.label,
        "since": iso(found.since),
        "seconds": None if seconds is None else round(seconds, 1),
    }


def event(e: Event) -> dict[str, Any]:
    return {
        "id": e.id,
        "session_id": e.session_id,
        "turn_id": e.turn_id,
        "kind": e.kind.value,
        "created_at": iso(e.created_at),
        "preview": e.preview,
        "size": e.size,
        "blob": e.blob,
        "data": e.data,
    }


def person(p: Person) -> dict[str, Any]:
    return {"name": p.name, "role": p.role.value}


def token(t: TokenInfo) -> dict[str, Any]:
    """A token as listed: never its secret."""
    return {
        "id": t.id,
        "user": t.user,
        "label": t.label,
        "created_at": iso(t.created_at),
        "revoked_at": iso(t.revoked_at),
    }


def host(h: Host, now: float, timeout_s: float) -> dict[str, Any]:
    """A host, ``alive`` while its heartbeat is younger than ``timeout_s``."""
    return {
        "name": h.name,
        "url": h.url,
        "pid": h.pid,
        "started_at": iso(h.started_at),
        "heartbeat_at": iso(h.heartbeat_at),
        "agents": dict(h.agents),
        "load": h.load,
        "alive": h.silent_for(now) <= timeout_s,
    }


def workspace(w: Workspace) -> dict[str, Any]:
    return {
        "path": w.path,
        "branch": w.branch,
        "base_ref": w.base_ref,
        "base_commit": w.base_commit,
        "state": w.state.value,
        "checkpointed_turn": w.checkpointed,
        "head_commit": w.head_commit,
        "error": w.error,
        "pr_url": w.pr_url,
        "merged_into": w.merged_into,
        "merged_commit": w.merged_commit,
        "created_at": iso(w.created_at),
        "removed_at": iso(w.removed_at),
    }


def diff_summary(d: DiffSummary) -> dict[str, Any]:
    return {
        "scope": d.scope.value,
        "turn": d.turn_number,
        "from_commit": d.from_commit,
        "to_commit": d.to_commit,
        "files": d.files,
        "added": d.added,
        "removed": d.removed,
        "binary_files": d.binary_files,
        "huge_files": d.huge_files,
        "recorded_at": iso(d.created_at),
    }


def diff_file(f: DiffFile, patch: str | None = None) -> dict[str, Any]:
    return {
        "position": f.position,
        "path": f.path,
        "old_path": f.old_path,
        "status": f.status,
        "added": f.added,
        "removed": f.removed,
        "binary": f.binary,
        "huge": f.huge,
        "patch_bytes": f.patch_size,
        "patch": patch,
    }


def session_item(s: Session, current: Thread | None) -> dict[str, Any]:
    """A session in a listing, with its current thread (for the fill column and gauge)."""
    return {**session(s), "thread": None if current is None else thread(current)}


def thread(t: Thread) -> dict[str, Any]:
    fill = t.fill
    return {
        "ordinal": t.ordinal,
        "native_id": t.native_id,
        "first_turn": t.first_turn,
        "started_at": iso(t.started_at),
        "ended_at": iso(t.ended_at),
        "end_reason": t.end_reason,
        "handoff_blob": t.handoff_blob,
        "context_tokens": t.context_tokens,
        "context_window": t.context_window,
        "fill": None if fill is None else round(fill, 4),
        "compactions": t.compactions,
        "log_bytes": t.log_bytes,
        "overflows": t.overflows,
        "rotate_reason": t.rotate_reason,
        "measured_at": iso(t.measured_at),
    }

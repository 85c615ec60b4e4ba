"""``tether audit``: what an operator must know, each with a code, ids, age and a fix.

Every check reads the ledger (plus, for turns this host runs, whether the
runner process is alive and, for measured threads, whether the native log
still exists); none parses a native log. The daemon runs it every
``[engine] audit_interval_s`` and serves the latest report.
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from tether.agents.registry import known_agents, provider_for
from tether.config import Config
from tether.engine.procs import is_alive
from tether.engine.rotation import CONTEXT_FULL
from tether.ledger import audit as queries
from tether.ledger import findings, turns
from tether.ledger.store import Ledger

log = logging.getLogger("tether.audit")

WEDGED_IN_A_ROW = 2

HINTS = {
    "stale_queued": "is the daemon running? `tether daemon status`; it dispatches queued turns",
    "stalled": "look at the turn's last events (`tether log`); cancel it if it is stuck",
    "stale_running": "no progress and no watchdog: check the host running it, or cancel it",
    "lost": "the runner is gone: restart the daemon to mark it interrupted, then resend",
    "wedged_thread": "`tether rotate SESSION` to go on in a new thread with a hand-off",
    "native_missing": "the bound thread's native log is gone: rotate, or start a new session",
    "unbound_native": "tether never learnt the thread id, so it cannot resume: start a new session",
    "orphan_usage": "`tether index` attributes usage; a native id bound to nothing stays here",
    "index_errors": "see the file and error; `tether doctor` lists native-log problems",
}


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    age_s: float | None
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def hint(self) -> str:
        return HINTS[self.code]

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "hint": self.hint}


@dataclass(frozen=True)
class Report:
    findings: list[Finding]
    checked_at: float

    @property
    def needs_a_person(self) -> bool:
        return bool(self.findings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at,
            "ok": not self.findings,
            "findings": [f.as_dict() for f in self.findings],
        }


def _age(now: float, ts: object) -> float | None:
    return round(now - ts, 1) if isinstance(ts, int | float) else None


def _stale_queued(conn: Connection, config: Config, now: float) -> list[Finding]:
    limit = config.engine.stale_queued_s
    return [
        Finding(
            "stale_queued",
            f"turn {row['id']} has waited {now - row['accepted_at']:.0f}s with its lane free",
            _age(now, row["accepted_at"]),
            {"session": row["session_id"], "turn": row["id"]},
        )
        for row in queries.stale_queued(conn, now - limit)
    ]


def _live(conn: Connection, config: Config, now: float) -> list[Finding]:
    found = []
    idle = config.engine.idle_timeout_s
    for row in queries.live_turns(conn):
        ids = {"session": row["session_id"], "turn": row["id"]}
        last = row["last_progress_at"] or row["first_event_at"] or row["dispatched_at"]
        mine = row["host"] in (None, config.host_name)
        if (
            mine
            and row["runner_pid"] is not None
            and not is_alive(row["runner_pid"], row["runner_ticks"])
        ):
            found.append(
                Finding("lost", f"turn {row['id']}: its runner is gone", _age(now, last), ids)
            )
        elif row["stalled_at"] is not None:
            message = f"turn {row['id']} stalled: no progress since {now - last:.0f}s ago"
            found.append(Finding("stalled", message, _age(now, row["stalled_at"]), ids))
        elif last is not None and now - last > idle:
            message = f"turn {row['id']} ({row['state']}): no progress for {now - last:.0f}s"
            found.append(Finding("stale_running", message, _age(now, last), ids))
    return found


def _wedged(conn: Connection, config: Config, now: float) -> list[Finding]:
    found = []
    for session_id in queries.context_failures(conn):
        ended = [t for t in turns.for_session(conn, session_id) if t.state.terminal]
        last = ended[-WEDGED_IN_A_ROW:]
        if len(last) == WEDGED_IN_A_ROW and all(
            (t.reason or "").startswith(CONTEXT_FULL) for t in last
        ):
            message = (
                f"session {session_id}: {WEDGED_IN_A_ROW} turns in a row ended {last[-1].reason}"
            )
            age = _age(now, last[-1].phases.finished)
            found.append(Finding("wedged_thread", message, age, {"session": session_id}))
    return found


def _native_missing(conn: Connection, config: Config, now: float) -> list[Finding]:
    return [
        Finding(
            "native_missing",
            f"session {row['session_id']}: {row['agent']} thread {row['native_id']} "
            f"has no native log any more ({row['log_path']})",
            None,
            {"session": row["session_id"], "native_id": row["native_id"]},
        )
        for row in queries.current_threads(conn)
        if not Path(row["log_path"]).exists()
    ]


def _unbound(conn: Connection, config: Config, now: float) -> list[Finding]:
    resumable = [a for a in known_agents(config) if provider_for(config, a).resumable]
    return [
        Finding(
            "unbound_native",
            f"session {row['id']}: a turn completed but its {row['agent']} thread id "
            "was never captured",
            _age(now, row["updated_at"]),
            {"session": row["id"]},
        )
        for row in queries.unbound(conn, resumable)
    ]


def _orphan_usage(conn: Connection, config: Config, now: float) -> list[Finding]:
    return [
        Finding(
            "orphan_usage",
            f"{row['agent']} thread {row['native_id']} has usage but belongs to no session",
            _age(now, row["ts"]),
            {"agent": row["agent"], "native_id": row["native_id"]},
        )
        for row in queries.orphan_usage(conn)
    ]


def _index_errors(conn: Connection, config: Config, now: float) -> list[Finding]:
    found = []
    for row in queries.index_errors(conn):
        problem = row["error"] or (
            f"{row['bad_lines']} unreadable and {row['oversize_lines']} oversize lines skipped"
        )
        ids = {"agent": row["agent"], "path": row["path"]}
        if row["native_id"]:
            ids["native_id"] = row["native_id"]
        found.append(
            Finding("index_errors", f"{row['path']}: {problem}", _age(now, row["scanned_at"]), ids)
        )
    return found


CHECKS: tuple[Callable[[Connection, Config, float], list[Finding]], ...] = (
    _stale_queued,
    _live,
    _wedged,
    _native_missing,
    _unbound,
    _orphan_usage,
    _index_errors,
)


def run(conn: Connection, config: Config, now: float | None = None) -> Report:
    at = time.time() if now is None else now
    return Report([f for check in CHECKS for f in check(conn, config, at)], at)


def stored_finding(row: dict[str, Any], now: float | None = None) -> dict[str, Any]:
    """A stored finding as the API, the panel and the live channel show it."""
    at = time.time() if now is None else now
    return {
        "id": row["pk"],
        "code": row["code"],
        "message": row["message"],
        "age_s": _age(at, row["since"]),
        "since": row["since"],
        "ids": row["ids"],
        "hint": HINTS.get(row["code"], ""),
        "first_seen": row["first_seen"],
    }


def stored(conn: Connection, now: float | None = None) -> dict[str, Any]:
    """The findings the daemon's checks stored, in the shape of ``Report.as_dict`` (cheap:
    one indexed read, no probe)."""
    at = time.time() if now is None else now
    found = [stored_finding(row, at) for row in findings.open_findings(conn)]
    return {"checked_at": findings.last_checked(conn), "ok": not found, "findings": found}


class Auditor:
    """The daemon's periodic audit: each check's findings are stored, so pages and the API
    read them (reads never probe) and the live channel carries what opened or resolved."""

    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger

    def check(self) -> Report:
        with self.ledger.db.read() as conn:
            report = run(conn, self.config)
        seen = [
            findings.Seen(
                f.code, f.message, f.ids, None if f.age_s is None else report.checked_at - f.age_s
            )
            for f in report.findings
        ]
        with self.ledger.db.write() as conn:
            opened, resolved = findings.sync(conn, self.config.host_name, seen, report.checked_at)
        if opened or resolved:
            log.warning("action=audit opened=%d resolved=%d open=%d", opened, resolved, len(seen))
        return report

    def run_forever(self, stop: threading.Event) -> None:
        """Check every ``audit_interval_s`` until ``stop``; an error is logged, never fatal."""
        while not stop.is_set():
            try:
                self.check()
            except Exception:
                log.exception("action=audit_failed")
            stop.wait(self.config.engine.audit_interval_s)

"""Stored audit findings: what the daemon's periodic check found, open or resolved.

The check (engine/audit.py) probes; these rows are what pages and the API
read, so a read never probes (invariant 4). A finding's key is its code and
ids: the same anomaly seen again keeps its row (and its first sighting); one
no longer seen is resolved, and one that comes back is reopened.
"""

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tether.ledger.schema import audit_findings

KEEP_RESOLVED_S = 7 * 86400
SHOWN = 200


@dataclass(frozen=True, slots=True)
class Seen:
    """One finding of a check, as stored."""

    code: str
    message: str
    ids: dict[str, str]
    since: float | None

    @property
    def key(self) -> str:
        return f"{self.code} " + " ".join(f"{k}={v}" for k, v in sorted(self.ids.items()))[:240]


def sync(conn: Connection, host: str, seen: list[Seen], now: float) -> tuple[int, int]:
    """Store one check's findings; (opened, resolved) counts."""
    rows = {
        r.key: r
        for r in conn.execute(
            select(audit_findings.c.pk, audit_findings.c.key, audit_findings.c.resolved_at).where(
                audit_findings.c.host == host
            )
        )
    }
    opened = 0
    current = {s.key: s for s in seen}
    for key, finding in current.items():
        values = {"message": finding.message, "since": finding.since, "checked_at": now}
        row = rows.get(key)
        if row is None:
            conn.execute(
                insert(audit_findings).values(
                    host=host,
                    key=key,
                    code=finding.code,
                    ids=json.dumps(finding.ids),
                    session_id=finding.ids.get("session"),
                    first_seen=now,
                    **values,
                )
            )
            opened += 1
        elif row.resolved_at is not None:
            values.update(resolved_at=None, first_seen=now)
            conn.execute(update(audit_findings).where(audit_findings.c.pk == row.pk).values(values))
            opened += 1
        else:
            conn.execute(update(audit_findings).where(audit_findings.c.pk == row.pk).values(values))
    gone = [r.pk for key, r in rows.items() if key not in current and r.resolved_at is None]
    if gone:
        conn.execute(
            update(audit_findings).where(audit_findings.c.pk.in_(gone)).values(resolved_at=now)
        )
    conn.execute(delete(audit_findings).where(audit_findings.c.resolved_at < now - KEEP_RESOLVED_S))
    return opened, len(gone)


def _row(r: Any) -> dict[str, Any]:
    m = dict(r._mapping)
    m["ids"] = json.loads(m["ids"])
    return m


def open_findings(conn: Connection, limit: int = SHOWN) -> list[dict[str, Any]]:
    """Unresolved findings of every host, oldest sighting first; one per key."""
    rows = conn.execute(
        select(audit_findings)
        .where(audit_findings.c.resolved_at.is_(None))
        .order_by(audit_findings.c.first_seen, audit_findings.c.pk)
        .limit(limit)
    )
    unique: dict[str, dict[str, Any]] = {}
    for r in rows:
        unique.setdefault(r._mapping["key"], _row(r))
    return list(unique.values())


def get(conn: Connection, pk: int) -> dict[str, Any] | None:
    row = conn.execute(select(audit_findings).where(audit_findings.c.pk == pk)).first()
    return None if row is None else _row(row)


def last_checked(conn: Connection) -> float | None:
    """When a check last stored a finding still open (None: nothing open)."""
    found = conn.execute(
        select(audit_findings.c.checked_at)
        .where(audit_findings.c.resolved_at.is_(None))
        .order_by(audit_findings.c.checked_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else float(found)

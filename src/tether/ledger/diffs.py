"""Diffs recorded from checkpoints: a summary row, one row per file, the patch in a blob.

Written only by the workspace worker; every read (CLI, API, page) is an
indexed query plus, for patches, a byte range of one blob.
"""

import time
from collections.abc import Sequence
from dataclasses import asdict

from sqlalchemy import Connection, Row, delete, insert, select

from tether.domain.workspace import DiffFile, DiffScope, DiffSummary
from tether.errors import NotFound
from tether.ledger.cursor import check_limit
from tether.ledger.schema import diff_files, diffs

INSERT_BATCH = 2000


def _summary(row: Row[tuple[object, ...]]) -> DiffSummary:
    m = row._mapping
    return DiffSummary(**{**m, "scope": DiffScope(m["scope"])})


def _file(row: Row[tuple[object, ...]]) -> DiffFile:
    m = row._mapping
    return DiffFile(
        **{k: m[k] for k in DiffFile.__slots__ if k not in ("binary", "huge")},
        binary=bool(m["binary"]),
        huge=bool(m["huge"]),
    )


def store(
    conn: Connection,
    session_id: str,
    scope: DiffScope,
    turn_number: int,
    commits: tuple[str, str],
    files: Sequence[DiffFile],
    patch_blob: str | None,
) -> DiffSummary:
    """Replace the diff of (session, scope, turn) with this one, files included."""
    old = conn.execute(
        select(diffs.c.id).where(
            diffs.c.session_id == session_id,
            diffs.c.scope == scope.value,
            diffs.c.turn_number == turn_number,
        )
    ).scalar()
    if old is not None:
        conn.execute(delete(diff_files).where(diff_files.c.diff_id == old))
        conn.execute(delete(diffs).where(diffs.c.id == old))
    diff_id = conn.execute(
        insert(diffs)
        .returning(diffs.c.id)
        .values(
            session_id=session_id,
            scope=scope.value,
            turn_number=turn_number,
            from_commit=commits[0],
            to_commit=commits[1],
            files=len(files),
            added=sum(f.added or 0 for f in files),
            removed=sum(f.removed or 0 for f in files),
            binary_files=sum(f.binary for f in files),
            huge_files=sum(f.huge for f in files),
            patch_blob=patch_blob,
            created_at=time.time(),
        )
    ).scalar_one()
    rows = [{**asdict(f), "diff_id": diff_id} for f in files]
    for start in range(0, len(rows), INSERT_BATCH):
        conn.execute(insert(diff_files), rows[start : start + INSERT_BATCH])
    return get_by_id(conn, diff_id)


def get_by_id(conn: Connection, diff_id: int) -> DiffSummary:
    return _summary(conn.execute(select(diffs).where(diffs.c.id == diff_id)).one())


def latest_session(conn: Connection, session_id: str) -> DiffSummary | None:
    row = conn.execute(
        select(diffs)
        .where(diffs.c.session_id == session_id, diffs.c.scope == DiffScope.SESSION.value)
        .order_by(diffs.c.turn_number.desc())
        .limit(1)
    ).first()
    return None if row is None else _summary(row)


def for_turn(conn: Connection, session_id: str, turn_number: int) -> DiffSummary:
    row = conn.execute(
        select(diffs).where(
            diffs.c.session_id == session_id,
            diffs.c.scope == DiffScope.TURN.value,
            diffs.c.turn_number == turn_number,
        )
    ).first()
    if row is None:
        raise NotFound(
            f"no diff recorded for turn {session_id}.{turn_number} (not ended yet, not run in a "
            "worktree, or its checkpoint is still being recorded)"
        )
    return _summary(row)


def turn_numbers(conn: Connection, session_id: str) -> list[int]:
    return list(
        conn.execute(
            select(diffs.c.turn_number)
            .where(diffs.c.session_id == session_id, diffs.c.scope == DiffScope.TURN.value)
            .order_by(diffs.c.turn_number)
        ).scalars()
    )


def drop_older_session_diffs(conn: Connection, session_id: str, keep: int) -> None:
    """Only the newest whole-session diff is kept: older ones are superseded."""
    old = select(diffs.c.id).where(
        diffs.c.session_id == session_id,
        diffs.c.scope == DiffScope.SESSION.value,
        diffs.c.turn_number != keep,
    )
    conn.execute(delete(diff_files).where(diff_files.c.diff_id.in_(old)))
    conn.execute(
        delete(diffs).where(
            diffs.c.session_id == session_id,
            diffs.c.scope == DiffScope.SESSION.value,
            diffs.c.turn_number != keep,
        )
    )


def files_page(conn: Connection, diff_id: int, offset: int, limit: int) -> list[DiffFile]:
    rows = conn.execute(
        select(diff_files)
        .where(diff_files.c.diff_id == diff_id, diff_files.c.position >= offset)
        .order_by(diff_files.c.position)
        .limit(check_limit(limit))
    )
    return [_file(r) for r in rows]

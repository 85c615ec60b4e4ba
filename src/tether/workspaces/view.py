"""Reading stored diffs in pages: the one read path of ``tether diff`` and the API.

Indexed rows for the file list, and for the patches only the byte ranges of
the files on the page, under a byte budget, so the first screen of a
10,000-file diff costs the same as that of a one-file diff (invariant 4:
nothing here calls git).
"""

from typing import Any

from tether.domain import serialize
from tether.domain.ids import parse_session_id
from tether.domain.workspace import DiffSummary
from tether.errors import InvalidInput
from tether.ledger import diffs, sessions, workspaces
from tether.ledger.store import Ledger

PATCH_BUDGET_BYTES = 128 * 1024
DEFAULT_FILES = 100


def diff_page(
    ledger: Ledger,
    session_id: str,
    turn: int | None = None,
    offset: int = 0,
    limit: int = DEFAULT_FILES,
    patches: bool = True,
) -> dict[str, Any]:
    """One page of a session's (or one turn's) stored diff, with the summary."""
    session_id = str(parse_session_id(session_id))
    if offset < 0:
        raise InvalidInput(f"offset must not be negative, got {offset}")
    with ledger.db.read() as conn:
        sessions.get(conn, session_id)
        ws = workspaces.get(conn, session_id)
        summary: DiffSummary | None = (
            diffs.latest_session(conn, session_id)
            if turn is None
            else diffs.for_turn(conn, session_id, turn)
        )
        files = diffs.files_page(conn, summary.id, offset, limit) if summary else []
        recorded = diffs.turn_numbers(conn, session_id)
    items: list[dict[str, Any]] = []
    spent = 0
    for f in files:
        patch = None
        if patches and summary and summary.patch_blob and f.patch_offset is not None:
            if items and spent + (f.patch_size or 0) > PATCH_BUDGET_BYTES:
                break
            raw = ledger.blobs.read_range(summary.patch_blob, f.patch_offset, f.patch_size or 0)
            spent += len(raw)
            patch = raw.decode("utf-8", "replace")
        items.append(serialize.diff_file(f, patch))
    last = offset + len(items)
    more = summary is not None and last < summary.files
    return {
        "session_id": session_id,
        "workspace": serialize.workspace(ws),
        "turns": recorded,
        "summary": serialize.diff_summary(summary) if summary else None,
        "files": items,
        "next_offset": last if more else None,
    }

"""Transcript items read from native logs → bounded event rows of tether sessions.

An external session gets every record; a tether session only the records
of its attached turns (the rest came through tether's own stream). The
indexer reads a file's transcript in the same pass as its usage when the
two are in step, and writes its events in the same transaction as its
usage; what is left behind (attached turns, a file read before for usage
only) is read on its own afterwards.
"""

import time
from collections.abc import Sequence
from functools import lru_cache

from tether.history.facts import TranscriptItem
from tether.ledger import events as ledger_events
from tether.ledger import history as ledger_history
from tether.ledger.blobs import BlobStore

EVENT_BATCH = 5_000  # transcript events per write transaction, at most …
EVENT_BATCH_BYTES = 8 * 1024 * 1024  # … and at most this many characters of text


def turn_of(ts: float, windows: list[ledger_history.AttachWindow] | None) -> str | None:
    """The attached turn a native record fell in, if any."""
    for window in windows or ():
        if window.holds(ts):
            return window.turn_id
    return None


def event_rows(
    items: Sequence[TranscriptItem],
    session_id: str,
    windows: list[ledger_history.AttachWindow] | None,
    blobs: BlobStore,
    preview_bytes: int,
) -> list[dict[str, object]]:
    """Rows for ``events``: every item of an external session (``windows`` None), else only
    the items within an attached turn's window."""
    rows = []
    for item in items:
        turn_id = turn_of(item.timestamp, windows)
        if windows is not None and turn_id is None:
            continue
        rows.append(
            ledger_events.row(
                session_id,
                turn_id,
                item.kind,
                item.timestamp or time.time(),
                item.text,
                _data(item.role),
                item.key[:255],
                blobs,
                preview_bytes,
            )
        )
    return rows


@lru_cache(maxsize=16)
def _data(role: str | None) -> str | None:
    """An imported event's data JSON: one of the few roles a native log writes."""
    return ledger_events.encode_data({"role": role, "native": True} if role else {"native": True})


def size(items: Sequence[TranscriptItem]) -> int:
    """What a batch counts of items against EVENT_BATCH_BYTES."""
    return sum(len(item.text) for item in items)


def batch_full(count: int, chars: int) -> bool:
    """Whether a batch of ``count`` events holding ``chars`` characters of text is due."""
    return count >= EVENT_BATCH or chars >= EVENT_BATCH_BYTES

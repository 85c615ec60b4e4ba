"""The per-session usage totals kept by triggers equal the sum of the entries, always.

Entries are inserted, re-credited to another native session by a better
copy, repriced, and deleted for a rescan; after each, the totals a page
reads (``overview.spend``) equal what summing the entries gives.
"""

import time
from pathlib import Path

from sqlalchemy import Connection, case, func, select
from tests.support import entry_row

from tether.domain.records import Session
from tether.ledger import history, overview, projects, sessions
from tether.ledger.schema import usage_entries
from tether.ledger.store import Ledger


def _entry(
    key: str, native_id: str, tokens: int, cost: float | None, copied: int = 0
) -> tuple[object, ...]:
    return entry_row(
        {
            "agent": "codex",
            "entry_key": key,
            "native_id": native_id,
            "copied": copied,
            "origin_ts": time.time(),
            "ts": time.time(),
            "day": time.strftime("%Y-%m-%d", time.gmtime()),
            "turn_key": None,
            "model": "gpt-5.1",
            "input_tokens": tokens,
            "cached_input_tokens": 1,
            "cache_write_tokens": 2,
            "output_tokens": 3,
            "reasoning_tokens": 0,
            "cost": cost,
        }
    )


def _summed(conn: Connection, listed: list[Session]) -> dict[str, overview.Spend]:
    c = usage_entries.c
    tokens = c.input_tokens + c.cached_input_tokens + c.cache_write_tokens + c.output_tokens
    found = {}
    for s in listed:
        total, cost, unpriced, n = conn.execute(
            select(
                func.sum(tokens),
                func.sum(c.cost),
                func.sum(case((c.cost.is_(None), tokens), else_=0)),
                func.count(),
            ).where(c.agent == s.agent, c.native_id == s.native_id)
        ).one()
        if n:
            found[s.id] = overview.Spend(int(total), cost, int(unpriced))
    return found


def _same(ledger: Ledger, listed: list[Session]) -> dict[str, overview.Spend]:
    with ledger.db.read() as conn:
        kept, summed = overview.spend(conn, listed), _summed(conn, listed)
    assert kept.keys() == summed.keys()
    for key, spend in kept.items():
        want = summed[key]
        assert (spend.tokens, spend.unpriced_tokens) == (want.tokens, want.unpriced_tokens)
        assert (spend.cost is None) == (want.cost is None)
        if want.cost is not None:
            assert abs((spend.cost or 0) - want.cost) < 1e-9
    return kept


def test_totals_follow_inserts_recredits_reprices_and_deletes(
    ledger: Ledger, tmp_path: Path
) -> None:
    (tmp_path / "web").mkdir()
    with ledger.db.write() as conn:
        owner = projects.add(conn, tmp_path / "web", name="web")
        listed = [
            sessions.create(conn, owner, "codex", str(tmp_path), native_id=n)
            for n in ("thr-a", "thr-b")
        ]
    with ledger.db.write() as conn:
        history.upsert_entries(
            conn,
            [_entry("k1", "thr-a", 100, 0.5), _entry("k2", "thr-a", 50, None)]
            + [_entry(f"b{i}", "thr-b", 10, 0.01) for i in range(20)],
        )
    first = _same(ledger, listed)
    assert first[listed[0].id].cost == 0.5 and first[listed[0].id].unpriced_tokens == 56
    with ledger.db.write() as conn:  # an original (copied 0) takes k2's credit from thr-a
        history.upsert_entries(conn, [_entry("k2", "thr-b", 50, None, copied=0)])
        history.upsert_entries(conn, [_entry("k1", "thr-b", 900, 0.7, copied=0)])
    _same(ledger, listed)
    with ledger.db.write() as conn:  # a bulk batch: its new entries summed set-based
        history.upsert_entries(
            conn,
            [
                _entry(f"n{i}", ("thr-a", "thr-b")[i % 2], i, 0.01 if i % 3 else None)
                for i in range(600)
            ]
            + [_entry("b0", "thr-b", 5000, 0.3)],
        )
    _same(ledger, listed)
    with ledger.db.write() as conn:
        pks = [pk for pk, *_ in history.entry_amounts(conn)]
        history.set_costs(conn, [(pk, None) for pk in pks[:3]] + [(pks[-1], 2.0)])
    _same(ledger, listed)
    with ledger.db.write() as conn:
        history.delete_entries_of(conn, "codex", "thr-a")
    after = _same(ledger, listed)
    assert listed[0].id not in after
    with ledger.db.write() as conn:
        history.delete_entries_of(conn, "codex", "thr-b")
    assert _same(ledger, listed) == {}

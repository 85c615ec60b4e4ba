"""The per-day usage kept by triggers gives the report that summing the entries gives.

Entries on two days and two models are inserted, re-credited by a better
copy, repriced and deleted; after each, ``tether usage`` by day, model and
agent (read from usage_days) equals the same grouping summed over every
entry, and so does the list of unpriced models.
"""

from typing import Any

from sqlalchemy import Connection, text
from tests.support import entry_row

from tether.ledger import bulk, history, usage
from tether.ledger.store import Ledger

_KEYS = {"daily": "day", "model": "model", "agent": "agent"}


def _entry(
    key: str, day: str, model: str, tokens: int, cost: float | None, copied: int = 0
) -> tuple[object, ...]:
    return entry_row(
        {
            "agent": "codex" if model.startswith("gpt") else "claude",
            "entry_key": key,
            "native_id": f"thr-{key[0]}",
            "copied": copied,
            "origin_ts": 1767225600.0,
            "ts": 1767225600.0,
            "day": day,
            "turn_key": None,
            "model": model,
            "input_tokens": tokens,
            "cached_input_tokens": 7,
            "cache_write_tokens": 2,
            "output_tokens": 3,
            "reasoning_tokens": 1,
            "cost": cost,
        }
    )


def _bulk(count: int, prefix: str = "n") -> list[tuple[object, ...]]:
    """Entries over three days and three models, a fifth of them unpriced."""
    models = ("gpt-5.1", "claude-opus-4-5", "mock")
    return [
        _entry(f"{prefix}{i}", f"2026-01-0{1 + i % 3}", models[i % 3], i, None if i % 5 else 0.01)
        for i in range(count)
    ]


def _summed(conn: Connection, by: str, since: str | None) -> list[dict[str, Any]]:
    """The report computed from every entry, as it was before usage_days."""
    key = _KEYS[by]
    tokens = "input_tokens + cached_input_tokens + cache_write_tokens + output_tokens"
    sums = ", ".join(f"sum({c})" for c in usage.TOKEN_COLUMNS)
    rows = conn.execute(
        text(
            f"SELECT {key}, {sums}, sum(cost), sum(CASE WHEN cost IS NULL THEN {tokens} ELSE 0"
            f" END), count(*) FROM usage_entries WHERE day >= :since GROUP BY {key} ORDER BY {key}"
        ),
        {"since": since or ""},
    ).all()
    return [
        {
            "key": row[0],
            **{c: int(v) for c, v in zip(usage.TOKEN_COLUMNS, row[1:6], strict=True)},
            "cost": None if row[6] is None else float(row[6]),
            "unpriced_tokens": int(row[7]),
            "entries": int(row[8]),
        }
        for row in rows
    ]


def _same(ledger: Ledger) -> dict[str, list[dict[str, Any]]]:
    reports = {}
    with ledger.db.read() as conn:
        for by in _KEYS:
            for since in (None, "2026-01-02"):
                kept, summed = history.usage_report(conn, by, since), _summed(conn, by, since)
                assert [r["key"] for r in kept] == [r["key"] for r in summed], (by, since)
                for got, want in zip(kept, summed, strict=True):
                    assert (got["cost"] is None) == (want["cost"] is None), (by, since, got)
                    if want["cost"] is not None:
                        assert abs(got["cost"] - want["cost"]) < 1e-9
                    assert {**got, "cost": 0} == {**want, "cost": 0}, (by, since)
            reports[by] = history.usage_report(conn, by)
        unpriced = conn.execute(
            text(
                "SELECT model, sum(input_tokens + cached_input_tokens + cache_write_tokens"
                " + output_tokens) AS t, count(*) FROM usage_entries WHERE cost IS NULL"
                " GROUP BY model ORDER BY t DESC, model"
            )
        ).all()
        assert history.unpriced_models(conn) == [
            {"model": m, "tokens": int(t), "entries": n} for m, t, n in unpriced
        ]
    return reports


def test_days_follow_inserts_recredits_reprices_and_deletes(ledger: Ledger) -> None:
    with ledger.db.write() as conn:
        history.upsert_entries(
            conn,
            [
                _entry("a1", "2026-01-01", "gpt-5.1", 100, 0.5),
                _entry("a2", "2026-01-01", "mock", 50, None),
                _entry("b1", "2026-01-02", "claude-opus-4-5", 10, 0.25, copied=1),
            ]
            + [_entry(f"c{i}", "2026-01-02", "gpt-5.1", 10, 0.01) for i in range(20)],
        )
    first = _same(ledger)
    assert [(r["key"], r["entries"], r["unpriced_tokens"]) for r in first["daily"]] == [
        ("2026-01-01", 2, 62),
        ("2026-01-02", 21, 0),
    ]
    with ledger.db.write() as conn:  # an original takes b1's credit, on another day and model
        history.upsert_entries(conn, [_entry("b1", "2026-01-03", "mock", 900, None)])
    assert [r["key"] for r in _same(ledger)["daily"]] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    with ledger.db.write() as conn:  # a bulk batch: new entries summed set-based, one update
        history.upsert_entries(
            conn, [*_bulk(bulk.BULK_ROWS), _entry("c0", "2026-01-02", "gpt-5.1", 99, 0.2)]
        )
    _same(ledger)
    with ledger.db.read() as conn:  # the key stored before took the larger amounts too
        stored = text("SELECT input_tokens, cost FROM usage_entries WHERE entry_key = 'c0'")
        assert tuple(conn.execute(stored).one()) == (99, 0.2)
    with ledger.db.write() as conn:  # a bulk batch with a key twice: through the triggers
        history.upsert_entries(conn, _bulk(bulk.BULK_ROWS, "m") + _bulk(2, "m"))
    _same(ledger)
    if ledger.db.is_sqlite:  # the triggers set aside are back
        with ledger.db.read() as conn:
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
            assert {"usage_days_insert", "usage_totals_insert"} <= {n for (n,) in names}
    with ledger.db.write() as conn:
        pks = [pk for pk, *_ in history.entry_amounts(conn)]
        history.set_costs(conn, [(pk, None) for pk in pks[:3]] + [(pks[-1], 2.0)])
    _same(ledger)
    with ledger.db.write() as conn:
        history.delete_entries_of(conn, "claude", "thr-b")
        history.delete_entries_of(conn, "codex", "thr-b")
    after = _same(ledger)
    assert sum(r["entries"] for r in after["daily"]) == 2 + 20 + 2 * bulk.BULK_ROWS  # a, c, n, m
    with ledger.db.write() as conn:
        for key in ("a", "c", "n", "m"):
            for agent in ("codex", "claude"):
                history.delete_entries_of(conn, agent, f"thr-{key}")
    assert _same(ledger) == {"daily": [], "model": [], "agent": []}


def test_bulk_sums_read_only_the_new_entries(ledger: Ledger) -> None:
    """Each bulk batch sums its own entries by their pk range, not by walking an index of
    every entry in the ledger (a cost that grew with each batch)."""
    if not ledger.db.is_sqlite:
        return
    with ledger.db.read() as conn:
        for statement in history._SUMS_OF_NEW:
            sql = str(statement).replace(":last", "0")
            plan = " ".join(row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
            assert "USING INTEGER PRIMARY KEY (rowid>?)" in plan, plan

"""The usage report's SQL, shared by the SQLAlchemy ledger and the light read path.

Plain SQL that SQLite and PostgreSQL both run, behind a one-function
executor, so ``tether usage`` can answer from a read-only stdlib sqlite3
connection without loading SQLAlchemy or Alembic (``ledger/light.py``).
Imports only datetime and tether's errors at run time (not even ``typing``: the
light report's start-up is most of its time).
"""

from datetime import date  # sqlite3 loads it anyway

from tether.errors import InvalidInput

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re, which it loads)
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from typing import Any

    Execute = Callable[[str, dict[str, Any]], Sequence[Sequence[Any]]]

USAGE_GROUPS = ("daily", "session", "model", "project", "agent")  # how usage reports group
TOKEN_COLUMNS = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
)
_GROUP_KEYS = {
    "daily": "u.day",
    "session": "coalesce(s.id, u.agent || ':' || u.native_id)",
    "model": "u.model",
    "project": "coalesce(p.name, '(unattributed)')",
    "agent": "u.agent",
}
# Groups read from usage_days, one row per (day, agent, model) kept by triggers (0015);
# session and project need each entry's native session.
_FROM_DAYS = ("daily", "model", "agent")
_TOKENS = "u.input_tokens + u.cached_input_tokens + u.cache_write_tokens + u.output_tokens"
_JOINED = (
    " LEFT OUTER JOIN sessions s ON s.agent = u.agent AND s.native_id = u.native_id"
    " LEFT OUTER JOIN projects p ON p.id = s.project_id"
)


def check_args(by: str, since: str | None) -> None:
    if by not in _GROUP_KEYS:
        raise InvalidInput(f"usage is grouped by one of {', '.join(USAGE_GROUPS)}, not {by[:40]!r}")
    if since is None:
        return
    try:
        date.fromisoformat(since)
    except ValueError as exc:
        raise InvalidInput(f"since: {since[:40]!r} is not a day like 2026-01-31") from exc


def report(execute: "Execute", by: str, since: str | None = None) -> "list[dict[str, Any]]":
    """Token sums and cost grouped by day, session, model, project or agent.

    Days are UTC calendar days (``YYYY-MM-DD``); ``since`` is one of them.
    ``cost`` sums the priced entries and is None when none of the group's
    entries is priced; ``unpriced_tokens`` counts the tokens of entries whose
    model has no known price.
    """
    check_args(by, since)
    key = _GROUP_KEYS[by]
    sums = ", ".join(f"sum(u.{column})" for column in TOKEN_COLUMNS)
    where = " WHERE u.day >= :since" if since is not None else ""
    if by in _FROM_DAYS:
        sql = (
            f"SELECT {key} AS k, {sums}, CASE WHEN sum(u.priced) > 0 THEN sum(u.cost) END,"
            f" sum(u.unpriced_tokens), sum(u.entries) FROM usage_days u{where}"
            f" GROUP BY {key} HAVING sum(u.entries) > 0 ORDER BY {key}"
        )
    else:
        sql = (
            f"SELECT {key} AS k, {sums}, sum(u.cost),"
            f" sum(CASE WHEN u.cost IS NULL THEN {_TOKENS} ELSE 0 END), count(*)"
            f" FROM usage_entries u{_JOINED}{where} GROUP BY {key} ORDER BY {key}"
        )
    params = {"since": since} if since is not None else {}
    rows = []
    for row in execute(sql, params):
        tokens = dict(zip(TOKEN_COLUMNS, (int(v) for v in row[1:6]), strict=True))
        cost = None if row[6] is None else float(row[6])
        rows.append(
            {
                "key": row[0],
                **tokens,
                "cost": cost,
                "unpriced_tokens": int(row[7]),
                "entries": int(row[8]),
            }
        )
    return rows


def unpriced_models(execute: "Execute") -> "list[dict[str, Any]]":
    """Models with usage but no known price, most tokens first."""
    sql = (
        "SELECT u.model, sum(u.unpriced_tokens) AS t, sum(u.entries - u.priced) FROM usage_days u"
        " GROUP BY u.model HAVING sum(u.entries - u.priced) > 0 ORDER BY t DESC, u.model"
    )
    return [{"model": m, "tokens": int(t), "entries": int(n)} for m, t, n in execute(sql, {})]


def totals(rows: "Sequence[Mapping[str, Any]]") -> "dict[str, Any]":
    """The sum of report rows, with the same meaning of cost and unpriced tokens."""
    costs = [r["cost"] for r in rows if r["cost"] is not None]
    return {
        **{column: sum(r[column] for r in rows) for column in TOKEN_COLUMNS},
        "cost": sum(costs) if costs else None,
        "unpriced_tokens": sum(r["unpriced_tokens"] for r in rows),
        "entries": sum(r["entries"] for r in rows),
    }

"""``tether usage``'s report: read and printed with neither click nor SQLAlchemy when it can be.

The click command and the quick entry (``cli/quick.py``) both print it from
here, so the two paths cannot drift apart.
"""

from tether.cli import output
from tether.ledger import usage as usage_sql

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (and re, which it loads)
if TYPE_CHECKING:
    from typing import Any

    from tether.ledger.usage import Execute

TOKEN_HEADERS = ("input", "cached", "cache write", "output", "reasoning")


def show_light(database_url: str, by: str, since: str | None, as_json: bool) -> bool:
    """Print the report from a read-only stdlib connection; False if the ledger needs the
    full one (PostgreSQL, or a SQLite ledger not yet migrated), having printed nothing."""
    from tether.ledger import light

    conn = light.connect(database_url)
    if conn is None:
        return False
    try:
        show(light.execute(conn), by, since, as_json)
    finally:
        conn.close()
    return True


def show(execute: "Execute", by: str, since: str | None, as_json: bool) -> None:
    rows = usage_sql.report(execute, by, since)
    unpriced = usage_sql.unpriced_models(execute) if any(r["unpriced_tokens"] for r in rows) else []
    if as_json:
        output.emit_records(rows)
        return
    output.table(
        None,
        (by, *TOKEN_HEADERS, "cost USD"),
        ((r["key"], *(f"{r[c]:,}" for c in usage_sql.TOKEN_COLUMNS), _cost_cell(r)) for r in rows),
    )
    if unpriced:
        names = ", ".join(f"{m['model']} ({m['tokens']:,} tokens)" for m in unpriced[:5])
        more = f" and {len(unpriced) - 5} more" if len(unpriced) > 5 else ""
        output.line(
            f"* includes tokens of models with no known price, not counted in the cost: "
            f"{names}{more}. `tether prices update` fetches newer prices."
        )


def _cost_cell(row: "dict[str, Any]") -> str:
    if row["cost"] is None:
        return "unpriced*"
    return f"{row['cost']:.4f}" + ("*" if row["unpriced_tokens"] else "")

"""usage totals per native session, kept by triggers on usage_entries

A session's tokens and cost were summed from its usage entries on every page
that shows it: 65,000 entries and ~40 ms for a 1 GB Codex rollout
(bench/transcript.py). Triggers keep one row per (agent, native id) instead,
whichever process writes the entries (the indexer, a reprice, a rescan).

Revision ID: 0013
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0014"
branch_labels = None
depends_on = None

_TOKENS = "{r}.input_tokens + {r}.cached_input_tokens + {r}.cache_write_tokens + {r}.output_tokens"


def _add(row: str) -> str:
    """Upsert ``row``'s amounts into its total (``row`` is NEW or OLD; OLD with sign -1)."""
    tokens = _TOKENS.format(r=row)
    return (
        "INSERT INTO usage_totals (agent, native_id, tokens, cost, priced, unpriced_tokens) "
        f"VALUES ({row}.agent, {row}.native_id, {tokens}, coalesce({row}.cost, 0), "
        f"CASE WHEN {row}.cost IS NULL THEN 0 ELSE 1 END, "
        f"CASE WHEN {row}.cost IS NULL THEN {tokens} ELSE 0 END) "
        "ON CONFLICT (agent, native_id) DO UPDATE SET "
        "tokens = usage_totals.tokens + excluded.tokens, "
        "cost = usage_totals.cost + excluded.cost, "
        "priced = usage_totals.priced + excluded.priced, "
        "unpriced_tokens = usage_totals.unpriced_tokens + excluded.unpriced_tokens"
    )


def _remove(row: str) -> str:
    tokens = _TOKENS.format(r=row)
    return (
        f"UPDATE usage_totals SET tokens = tokens - ({tokens}), "
        f"cost = cost - coalesce({row}.cost, 0), "
        f"priced = priced - CASE WHEN {row}.cost IS NULL THEN 0 ELSE 1 END, "
        f"unpriced_tokens = unpriced_tokens - CASE WHEN {row}.cost IS NULL THEN {tokens} "
        "ELSE 0 END "
        f"WHERE agent = {row}.agent AND native_id = {row}.native_id"
    )


SQLITE_TRIGGERS = (
    f"CREATE TRIGGER usage_totals_insert AFTER INSERT ON usage_entries BEGIN {_add('NEW')}; END",
    f"CREATE TRIGGER usage_totals_delete AFTER DELETE ON usage_entries BEGIN {_remove('OLD')}; END",
    "CREATE TRIGGER usage_totals_update AFTER UPDATE ON usage_entries "
    f"BEGIN {_remove('OLD')}; {_add('NEW')}; END",
)
POSTGRES_TRIGGERS = (
    f"""
    CREATE FUNCTION tether_usage_totals() RETURNS trigger AS $$
    BEGIN
        IF TG_OP IN ('UPDATE', 'DELETE') THEN {_remove("OLD")}; END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN {_add("NEW")}; END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER usage_totals AFTER INSERT OR UPDATE OR DELETE ON usage_entries "
    "FOR EACH ROW EXECUTE FUNCTION tether_usage_totals()",
)
BACKFILL = (
    "INSERT INTO usage_totals (agent, native_id, tokens, cost, priced, unpriced_tokens) "
    f"SELECT agent, native_id, sum({_TOKENS.format(r='u')}), coalesce(sum(cost), 0), "
    f"count(cost), sum(CASE WHEN cost IS NULL THEN {_TOKENS.format(r='u')} ELSE 0 END) "
    "FROM usage_entries u GROUP BY agent, native_id"
)


def upgrade() -> None:
    op.create_table(
        "usage_totals",
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("priced", sa.BigInteger(), nullable=False),
        sa.Column("unpriced_tokens", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("agent", "native_id", name=op.f("pk_usage_totals")),
    )
    op.execute(BACKFILL)
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in SQLITE_TRIGGERS if sqlite else POSTGRES_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS usage_totals_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS usage_totals ON usage_entries")
        op.execute("DROP FUNCTION IF EXISTS tether_usage_totals()")
    op.drop_table("usage_totals")

"""dashboard: the change log behind the live channel, and what a person has seen

Revision ID: 0006
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0008"
branch_labels = None
depends_on = None

# Triggers append to ``changes`` on every committed write of sessions and turns,
# whichever process made it. On PostgreSQL they also NOTIFY ``tether_changes``
# (statement-level for events), so every daemon on the database wakes at once;
# identical notifications within one transaction are delivered once.
_WATCHED = (("sessions", "session", "id"), ("turns", "turn", "session_id"))
_NOW_ROW = {"INSERT": "NEW", "UPDATE": "NEW", "DELETE": "OLD"}


def _sqlite_triggers() -> list[str]:
    statements = []
    for table, kind, session_column in _WATCHED:
        for action, row in _NOW_ROW.items():
            statements.append(
                f"CREATE TRIGGER changes_{table}_{action.lower()} AFTER {action} ON {table} "
                f"BEGIN INSERT INTO changes(kind, subject, session_id) "
                f"VALUES ('{kind}', {row}.id, {row}.{session_column}); END"
            )
    return statements


POSTGRES_FUNCTIONS = (
    """
    CREATE FUNCTION tether_log_change() RETURNS trigger AS $$
    DECLARE
        row_ record;
    BEGIN
        IF TG_OP = 'DELETE' THEN row_ := OLD; ELSE row_ := NEW; END IF;
        IF TG_TABLE_NAME = 'sessions' THEN
            INSERT INTO changes(kind, subject, session_id) VALUES ('session', row_.id, row_.id);
        ELSE
            INSERT INTO changes(kind, subject, session_id)
            VALUES ('turn', row_.id, row_.session_id);
        END IF;
        PERFORM pg_notify('tether_changes', '');
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE FUNCTION tether_notify_events() RETURNS trigger AS $$
    BEGIN
        PERFORM pg_notify('tether_changes', '');
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """,
    "CREATE TRIGGER changes_sessions AFTER INSERT OR UPDATE OR DELETE ON sessions "
    "FOR EACH ROW EXECUTE FUNCTION tether_log_change()",
    "CREATE TRIGGER changes_turns AFTER INSERT OR UPDATE OR DELETE ON turns "
    "FOR EACH ROW EXECUTE FUNCTION tether_log_change()",
    "CREATE TRIGGER changes_events AFTER INSERT ON events "
    "FOR EACH STATEMENT EXECUTE FUNCTION tether_notify_events()",
)
POSTGRES_DROP = (
    "DROP TRIGGER IF EXISTS changes_events ON events",
    "DROP TRIGGER IF EXISTS changes_turns ON turns",
    "DROP TRIGGER IF EXISTS changes_sessions ON sessions",
    "DROP FUNCTION IF EXISTS tether_notify_events()",
    "DROP FUNCTION IF EXISTS tether_log_change()",
)


def _is_sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    op.create_table(
        "changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changes")),
    )
    op.create_table(
        "session_views",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("seen_turn", sa.Integer(), nullable=False),
        sa.Column("seen_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_session_views")),
    )
    for statement in _sqlite_triggers() if _is_sqlite() else POSTGRES_FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    if _is_sqlite():
        for table, _, _ in _WATCHED:
            for action in _NOW_ROW:
                op.execute(f"DROP TRIGGER IF EXISTS changes_{table}_{action.lower()}")
    else:
        for statement in POSTGRES_DROP:
            op.execute(statement)
    op.drop_table("session_views")
    op.drop_table("changes")

"""notices and audit findings; threads, findings and notices on the live channel

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# What a page shows of a thread (its gauge); measured_at and offsets change on
# every pass of the history reader and are left out, so an unchanged thread is quiet.
_THREAD_COLUMNS = (
    "native_id",
    "ended_at",
    "context_tokens",
    "context_window",
    "compactions",
    "log_compactions",
    "log_bytes",
    "overflows",
    "rotate_reason",
)
_CHANGED = " OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _THREAD_COLUMNS)
_PG_CHANGED = " OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _THREAD_COLUMNS)
_SUBJECTS = {
    "threads": ("thread", "{row}.session_id", "{row}.session_id"),
    "audit_findings": ("finding", "{pk}", "coalesce({row}.session_id, '')"),
    "notices": ("notice", "{pk}", "{row}.session_id"),
}


def _values(table: str, cast: str) -> str:
    kind, subject, session = _SUBJECTS[table]
    pk = cast.format(row="NEW")
    return f"'{kind}', {subject.format(row='NEW', pk=pk)}, {session.format(row='NEW', pk=pk)}"


def _sqlite_triggers() -> list[str]:
    def trigger(name: str, event: str, table: str, when: str = "") -> str:
        values = _values(table, "CAST({row}.pk AS TEXT)")
        return (
            f"CREATE TRIGGER {name} AFTER {event} ON {table} {when} "
            f"BEGIN INSERT INTO changes(kind, subject, session_id) VALUES ({values}); END"
        )

    return [
        trigger("changes_threads_insert", "INSERT", "threads"),
        trigger(
            "changes_threads_update",
            f"UPDATE OF {', '.join(_THREAD_COLUMNS)}",
            "threads",
            f"WHEN {_CHANGED}",
        ),
        trigger("changes_audit_findings_insert", "INSERT", "audit_findings"),
        trigger(
            "changes_audit_findings_update",
            "UPDATE OF resolved_at",
            "audit_findings",
            "WHEN NEW.resolved_at IS NOT OLD.resolved_at",
        ),
        trigger("changes_notices_insert", "INSERT", "notices"),
    ]


def _postgres_statements() -> list[str]:
    branches = "\n".join(
        f"{'IF' if i == 0 else 'ELSIF'} TG_TABLE_NAME = '{table}' THEN "
        f"INSERT INTO changes(kind, subject, session_id) "
        f"VALUES ({_values(table, '{row}.pk::text')});"
        for i, table in enumerate(_SUBJECTS)
    )
    function = f"""
    CREATE FUNCTION tether_log_row_change() RETURNS trigger AS $$
    BEGIN
        {branches}
        END IF;
        PERFORM pg_notify('tether_changes', '');
        RETURN NULL;
    END $$ LANGUAGE plpgsql
    """
    run = "FOR EACH ROW {when} EXECUTE FUNCTION tether_log_row_change()"
    return [
        function,
        f"CREATE TRIGGER changes_threads_insert AFTER INSERT ON threads {run.format(when='')}",
        f"CREATE TRIGGER changes_threads_update AFTER UPDATE OF {', '.join(_THREAD_COLUMNS)} "
        f"ON threads {run.format(when=f'WHEN ({_PG_CHANGED})')}",
        "CREATE TRIGGER changes_audit_findings_insert AFTER INSERT ON audit_findings "
        + run.format(when=""),
        "CREATE TRIGGER changes_audit_findings_update AFTER UPDATE OF resolved_at "
        "ON audit_findings "
        + run.format(when="WHEN (NEW.resolved_at IS DISTINCT FROM OLD.resolved_at)"),
        "CREATE TRIGGER changes_notices_insert AFTER INSERT ON notices " + run.format(when=""),
    ]


_TRIGGERS = (
    ("changes_threads_insert", "threads"),
    ("changes_threads_update", "threads"),
    ("changes_audit_findings_insert", "audit_findings"),
    ("changes_audit_findings_update", "audit_findings"),
    ("changes_notices_insert", "notices"),
)


def _is_sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_findings",
        sa.Column("pk", BigId, nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("ids", sa.Text(), server_default="{}", nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=True),
        sa.Column("since", sa.Float(), nullable=True),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("checked_at", sa.Float(), nullable=False),
        sa.Column("resolved_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_audit_findings")),
        sa.UniqueConstraint("host", "key", name=op.f("uq_audit_findings_host_key")),
    )
    op.create_index(
        op.f("ix_audit_findings_resolved_at"), "audit_findings", ["resolved_at"], unique=False
    )
    op.create_table(
        "notices",
        sa.Column("pk", BigId, nullable=False),
        sa.Column("tag", sa.String(length=160), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("turn_id", sa.String(length=80), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("webhook_at", sa.Float(), nullable=True),
        sa.Column("webhook_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("webhook_error", sa.Text(), nullable=True),
        sa.Column("command_at", sa.Float(), nullable=True),
        sa.Column("command_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("command_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_notices")),
        sa.UniqueConstraint("tag", name=op.f("uq_notices_tag")),
    )
    op.create_table(
        "notify_cursors",
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("change_id", sa.BigInteger(), nullable=False),
        sa.Column("change_xid", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("host", name=op.f("pk_notify_cursors")),
    )
    for statement in _sqlite_triggers() if _is_sqlite() else _postgres_statements():
        op.execute(statement)


def downgrade() -> None:
    for name, table in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + ("" if _is_sqlite() else f" ON {table}"))
    if not _is_sqlite():
        op.execute("DROP FUNCTION IF EXISTS tether_log_row_change()")
    op.drop_table("notify_cursors")
    op.drop_table("notices")
    op.drop_index(op.f("ix_audit_findings_resolved_at"), table_name="audit_findings")
    op.drop_table("audit_findings")

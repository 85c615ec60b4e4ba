"""host history and commit order: native log files per host; commit-ordered feed on PostgreSQL

Revision ID: 0010
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

# Each host indexes its own machine's logs, and two machines hold the same
# paths (~/.codex/sessions/...): a file is (host, path). Rows from before this
# revision belong to the implicit host '' (SQLite's only host).
#
# On PostgreSQL, ids from a sequence become visible out of order when several
# writers commit at once, so the change feed reads in (transaction id, id)
# order, only below the oldest transaction still running (see ledger/changes.py).
_COMMIT_ORDERED = ("changes", "events")


def upgrade() -> None:
    with op.batch_alter_table("history_files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("host", sa.String(length=255), server_default="", nullable=False)
        )
        batch_op.drop_constraint("uq_history_files_path", type_="unique")
        batch_op.create_unique_constraint("uq_history_files_host_path", ["host", "path"])
    if op.get_bind().dialect.name == "postgresql":
        for table in _COMMIT_ORDERED:
            op.execute(
                f"ALTER TABLE {table} ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id()"
            )
            op.execute(f"CREATE INDEX ix_{table}_xid ON {table} (xid, id)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _COMMIT_ORDERED:
            op.execute(f"DROP INDEX ix_{table}_xid")
            op.execute(f"ALTER TABLE {table} DROP COLUMN xid")
    with op.batch_alter_table("history_files", schema=None) as batch_op:
        batch_op.drop_constraint("uq_history_files_host_path", type_="unique")
        batch_op.create_unique_constraint("uq_history_files_path", ["path"])
        batch_op.drop_column("host")

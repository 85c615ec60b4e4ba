"""turn runner and watchdog columns

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("model", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("exit_code", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("runner_pid", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("runner_ticks", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("stream_offset", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("stalled_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.create_index(
            "uq_turns_one_live_per_session",
            ["session_id"],
            unique=True,
            sqlite_where=sa.text("state IN ('dispatched', 'running')"),
            postgresql_where=sa.text("state IN ('dispatched', 'running')"),
        )


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_index("uq_turns_one_live_per_session")
        batch_op.drop_column("outcome")
        batch_op.drop_column("stalled_at")
        batch_op.drop_column("stream_offset")
        batch_op.drop_column("runner_ticks")
        batch_op.drop_column("runner_pid")
        batch_op.drop_column("exit_code")
        batch_op.drop_column("model")

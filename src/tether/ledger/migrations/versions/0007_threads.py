"""threads: a session's native threads, their context fill and rotations; compacting turns

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "threads",
        sa.Column("pk", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("native_id", sa.String(length=255), nullable=True),
        sa.Column("first_turn", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_at", sa.Float(), nullable=False),
        sa.Column("ended_at", sa.Float(), nullable=True),
        sa.Column("end_reason", sa.Text(), nullable=True),
        sa.Column("handoff_blob", sa.String(length=64), nullable=True),
        sa.Column("context_tokens", sa.BigInteger(), nullable=True),
        sa.Column("context_window", sa.BigInteger(), nullable=True),
        sa.Column("compactions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("log_bytes", sa.BigInteger(), nullable=True),
        sa.Column("overflows", sa.Integer(), server_default="0", nullable=False),
        sa.Column("rotate_reason", sa.Text(), nullable=True),
        sa.Column("measured_at", sa.Float(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("log_offset", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("log_compactions", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_threads_session_id_sessions")
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_threads")),
        sa.UniqueConstraint("agent", "native_id", name=op.f("uq_threads_agent_native_id")),
        sa.UniqueConstraint("session_id", "ordinal", name=op.f("uq_threads_session_id_ordinal")),
    )
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("compacting_since", sa.Float(), nullable=True))
    # Every tether session already bound to a native thread starts with it as thread 1
    # (external sessions have no threads: an engine may still take one over).
    op.execute(
        "INSERT INTO threads (session_id, ordinal, agent, native_id, first_turn, started_at,"
        " compactions, overflows, log_offset, log_compactions)"
        " SELECT id, 1, agent, native_id, 0, created_at, 0, 0, 0, 0 FROM sessions"
        " WHERE native_id IS NOT NULL AND origin = 'tether'"
    )


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_column("compacting_since")
    op.drop_table("threads")

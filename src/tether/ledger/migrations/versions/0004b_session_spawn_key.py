"""session spawn key: a retried spawn returns the session it created

Revision ID: 0004b
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0004b"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spawn_key", sa.String(length=255), nullable=True))
        batch_op.create_unique_constraint("uq_sessions_spawn_key", ["spawn_key"])


def downgrade() -> None:
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_constraint("uq_sessions_spawn_key", type_="unique")
        batch_op.drop_column("spawn_key")

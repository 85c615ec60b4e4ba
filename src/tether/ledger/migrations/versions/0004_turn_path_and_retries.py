"""turns: the sender's PATH, and the agent's retry errors since its last progress

Revision ID: 0004
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("path_env", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("retry_errors", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("retrying_since", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("turns", schema=None) as batch_op:
        batch_op.drop_column("retrying_since")
        batch_op.drop_column("retry_errors")
        batch_op.drop_column("path_env")

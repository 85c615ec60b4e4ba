"""where an external session runs: the host whose logs hold its native thread

Revision ID: 0014
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ADD COLUMN, not a batch rebuild: the sessions table carries the change-feed triggers
    op.add_column("native_sessions", sa.Column("host", sa.String(length=255), nullable=True))
    op.add_column("sessions", sa.Column("host", sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column("sessions", "host")
    op.drop_column("native_sessions", "host")

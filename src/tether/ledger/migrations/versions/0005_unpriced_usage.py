"""usage_entries.cost may be NULL: the model has no known price (unpriced, not free)

Revision ID: 0005
Revises: 0009

Entries of models the old 11-model table did not know were stored at cost 0;
they become NULL (unpriced) here and are priced again by the next index pass
that writes usage, or at once by ``tether prices update``.
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0009"
branch_labels = None
depends_on = None

OLD_TABLE = (
    "claude-opus-4-1-20250805",
    "claude-opus-4-20250514",
    "claude-sonnet-4-20250514",
    "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5-20251001",
    "claude-3-5-haiku-20241022",
    "gpt-5",
    "gpt-5-codex",
    "gpt-5-mini",
    "gemini-2.5-pro",
    "gemini-2.5-flash",
)


def upgrade() -> None:
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.alter_column("cost", existing_type=sa.Float(), nullable=True)
    entries = sa.table("usage_entries", sa.column("model", sa.String), sa.column("cost", sa.Float))
    op.execute(
        entries.update()
        .where(sa.not_(entries.c.model.in_(OLD_TABLE)))
        .where(entries.c.cost == 0)
        .values(cost=None)
    )


def downgrade() -> None:
    entries = sa.table("usage_entries", sa.column("cost", sa.Float))
    op.execute(entries.update().where(entries.c.cost.is_(None)).values(cost=0.0))
    with op.batch_alter_table("usage_entries", schema=None) as batch_op:
        batch_op.alter_column("cost", existing_type=sa.Float(), nullable=False)

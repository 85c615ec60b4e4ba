"""workspaces: a git worktree per session, checkpoints and diffs

Revision ID: 0008
Revises: 0004b
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0004b"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("repo", sa.Text(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=False),
        sa.Column("base_ref", sa.String(length=255), nullable=False),
        sa.Column("base_commit", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("checkpointed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("head_commit", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("pr_url", sa.Text(), nullable=True),
        sa.Column("merged_into", sa.String(length=255), nullable=True),
        sa.Column("merged_commit", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("removed_at", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_workspaces_session_id_sessions"
        ),
        sa.PrimaryKeyConstraint("session_id", name="pk_workspaces"),
        sa.UniqueConstraint("path", name="uq_workspaces_path"),
    )
    op.create_index("ix_workspaces_state", "workspaces", ["state"])
    op.create_table(
        "diffs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("turn_number", sa.Integer(), nullable=False),
        sa.Column("from_commit", sa.String(length=64), nullable=False),
        sa.Column("to_commit", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=False),
        sa.Column("removed", sa.BigInteger(), nullable=False),
        sa.Column("binary_files", sa.Integer(), nullable=False),
        sa.Column("huge_files", sa.Integer(), nullable=False),
        sa.Column("patch_blob", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name="fk_diffs_session_id_sessions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_diffs"),
        sa.UniqueConstraint(
            "session_id", "scope", "turn_number", name="uq_diffs_session_id_scope_turn_number"
        ),
    )
    op.create_table(
        "diff_files",
        sa.Column("diff_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("old_path", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=2), nullable=False),
        sa.Column("added", sa.BigInteger(), nullable=True),
        sa.Column("removed", sa.BigInteger(), nullable=True),
        sa.Column("binary", sa.Integer(), nullable=False),
        sa.Column("huge", sa.Integer(), nullable=False),
        sa.Column("patch_offset", sa.BigInteger(), nullable=True),
        sa.Column("patch_size", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["diff_id"], ["diffs.id"], name="fk_diff_files_diff_id_diffs"),
        sa.PrimaryKeyConstraint("diff_id", "position", name="pk_diff_files"),
    )


def downgrade() -> None:
    op.drop_table("diff_files")
    op.drop_table("diffs")
    op.drop_index("ix_workspaces_state", table_name="workspaces")
    op.drop_table("workspaces")

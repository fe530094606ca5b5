"""the monthly review and exports: stored files, indexes for month queries

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_stored_files_group_id", "stored_files", ["group_id"])
    op.create_index("ix_stored_files_expires_at", "stored_files", ["expires_at"])
    op.create_index("ix_records_group_created", "records", ["group_id", "created_at"])
    op.create_index("ix_records_group_closed", "records", ["group_id", "closed_at"])
    op.create_index("ix_action_items_due", "action_items", ["due_at"])
    op.create_index("ix_audit_action_at", "audit_trail", ["action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_action_at", table_name="audit_trail")
    op.drop_index("ix_action_items_due", table_name="action_items")
    op.drop_index("ix_records_group_closed", table_name="records")
    op.drop_index("ix_records_group_created", table_name="records")
    op.drop_index("ix_stored_files_expires_at", table_name="stored_files")
    op.drop_index("ix_stored_files_group_id", table_name="stored_files")
    op.drop_table("stored_files")

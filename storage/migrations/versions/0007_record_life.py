"""the whole life of a record: meeting preparation, attendance replies, resource decisions, snoozes,
exactly-once form submissions, the lint shown once, withdrawn records

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("meeting_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attending", sa.Boolean(), nullable=False),
        sa.Column("decision_authority", sa.Boolean(), nullable=False),
        sa.Column("resource_authority", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("record_id", "person_id", "meeting_at"),
    )
    op.create_index("ix_meeting_replies_record_id", "meeting_replies", ["record_id"])
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("item_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"]),
        sa.ForeignKeyConstraint(["item_id"], ["action_items.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["people.id"]),
        sa.ForeignKeyConstraint(["record_id"], ["records.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("action_items") as batch_op:
        batch_op.add_column(sa.Column("snoozed_until", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("snooze_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("form_drafts") as batch_op:
        batch_op.add_column(sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("records") as batch_op:
        batch_op.add_column(sa.Column("meeting_goal", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("meeting_agenda", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("material_link", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("resource_requests") as batch_op:
        batch_op.add_column(sa.Column("requested_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decided_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("decision_note", sa.Text(), nullable=True))
        batch_op.create_foreign_key("fk_resource_requests_decided_by", "people", ["decided_by_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("resource_requests") as batch_op:
        batch_op.drop_constraint("fk_resource_requests_decided_by", type_="foreignkey")
        batch_op.drop_column("decision_note")
        batch_op.drop_column("decided_by_id")
        batch_op.drop_column("requested_at")
    with op.batch_alter_table("records") as batch_op:
        batch_op.drop_column("withdrawn_at")
        batch_op.drop_column("material_link")
        batch_op.drop_column("meeting_agenda")
        batch_op.drop_column("meeting_goal")
    with op.batch_alter_table("form_drafts") as batch_op:
        batch_op.drop_column("warned_at")
    with op.batch_alter_table("action_items") as batch_op:
        batch_op.drop_column("snooze_reason")
        batch_op.drop_column("snoozed_until")
    op.drop_table("form_submissions")
    op.drop_index("ix_meeting_replies_record_id", table_name="meeting_replies")
    op.drop_table("meeting_replies")

"""outbox: lease owner, per-chat order index, the pacing slots; the readiness probe

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
WAITING = sa.text("status = 'pending'")


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_by", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_outbox_waiting", ["platform", "id"], unique=False, postgresql_where=WAITING,
                              sqlite_where=WAITING)
        batch_op.create_index("ix_outbox_chat_order", ["platform", "target", "id"], unique=False,
                              postgresql_where=WAITING, sqlite_where=WAITING)
    op.create_table(
        "outbox_slots",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("counted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("outbox_slots", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_slots_app", ["platform", "counted_at"], unique=False)
        batch_op.create_index("ix_outbox_slots_chat", ["platform", "target", "counted_at"], unique=False)
    op.create_table(
        "readiness_probe",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("readiness_probe")
    with op.batch_alter_table("outbox_slots", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_slots_chat")
        batch_op.drop_index("ix_outbox_slots_app")
    op.drop_table("outbox_slots")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_waiting")
        batch_op.drop_index("ix_outbox_chat_order")
        batch_op.drop_column("locked_by")

"""shared limiter: provider_pacing (one row per provider: the next call slot) and api_calls.finished_at
(rows are written ahead, when a call's slot is granted, and finished when it ends)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_pacing",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("next_slot_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_provider_pacing")),
    )
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE api_calls SET finished_at = called_at")  # every call stored so far had ended


def downgrade() -> None:
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.drop_column("finished_at")
    op.drop_table("provider_pacing")

"""circuit breaker resets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "circuit_resets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("target", sa.String(length=64), nullable=False),
        sa.Column("reset_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circuit_resets")),
    )
    with op.batch_alter_table("circuit_resets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circuit_resets_target"), ["target"], unique=False)
    with op.batch_alter_table("upload_attempts", schema=None) as batch_op:
        batch_op.create_index("ix_upload_attempts_is_retry_started_at", ["is_retry", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("upload_attempts", schema=None) as batch_op:
        batch_op.drop_index("ix_upload_attempts_is_retry_started_at")
    with op.batch_alter_table("circuit_resets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circuit_resets_target"))
    op.drop_table("circuit_resets")

"""provider_ids back-off state (issue 15): listed_at and listing_streak (photo listings that brought nothing
new) and searches (consecutive unsuccessful searches), read by core/backoff.py

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("provider_ids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("listed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("listing_streak", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("searches", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("provider_ids", schema=None) as batch_op:
        batch_op.drop_column("searches")
        batch_op.drop_column("listing_streak")
        batch_op.drop_column("listed_at")

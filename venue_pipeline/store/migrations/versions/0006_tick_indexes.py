"""indexes for the sensors' queries at scale: venue_images (status, next_retry_at) answers the due-failure count
from the index alone; api_calls (provider, called_at) finds each target's latest call without reading the ledger

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_venue_images_status_next_retry_at", "venue_images", ["status", "next_retry_at"])
    op.create_index("ix_api_calls_provider_called_at", "api_calls", ["provider", "called_at"])


def downgrade() -> None:
    op.drop_index("ix_api_calls_provider_called_at", table_name="api_calls")
    op.drop_index("ix_venue_images_status_next_retry_at", table_name="venue_images")

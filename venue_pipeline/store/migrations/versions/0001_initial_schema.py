"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('api_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('endpoint', sa.String(length=32), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error_type', sa.String(length=32), nullable=True),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('called_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_calls'))
    )
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.create_index('ix_api_calls_provider_day', ['provider', 'day'], unique=False)

    op.create_table('failure_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_failure_reports'))
    )
    op.create_table('run_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=False),
    sa.Column('job_name', sa.String(length=255), nullable=False),
    sa.Column('partition_key', sa.String(length=255), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_run_failures')),
    sa.UniqueConstraint('run_id', name=op.f('uq_run_failures_run_id'))
    )
    op.create_table('venues',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('slug', sa.String(length=255), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('postcode', sa.String(length=32), nullable=True),
    sa.Column('city_slug', sa.String(length=128), nullable=False),
    sa.Column('city_name', sa.String(length=255), nullable=False),
    sa.Column('country', sa.String(length=64), nullable=True),
    sa.Column('lat', sa.Float(), nullable=True),
    sa.Column('lng', sa.Float(), nullable=True),
    sa.Column('needs_geocoding', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('images_checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_venues')),
    sa.UniqueConstraint('slug', name=op.f('uq_venues_slug')),
    sa.UniqueConstraint('source', 'external_id', name='uq_venues_source_external_id')
    )
    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_venues_city_slug'), ['city_slug'], unique=False)

    op.create_table('provider_ids',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('place_id', sa.String(length=512), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Float(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=True),
    sa.Column('matched_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_search_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_provider_ids_venue_id_venues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_ids')),
    sa.UniqueConstraint('venue_id', 'provider', name='uq_provider_ids_venue_provider')
    )
    with op.batch_alter_table('provider_ids', schema=None) as batch_op:
        batch_op.create_index('ix_provider_ids_provider_status', ['provider', 'status'], unique=False)

    op.create_table('venue_images',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('venue_id', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('photo_key', sa.String(length=255), nullable=False),
    sa.Column('place_id', sa.String(length=512), nullable=True),
    sa.Column('reference', sa.Text(), nullable=False),
    sa.Column('reference_fetched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('width', sa.Integer(), nullable=True),
    sa.Column('height', sa.Integer(), nullable=True),
    sa.Column('quality_score', sa.Float(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=True),
    sa.Column('attribution', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('error_type', sa.String(length=32), nullable=True),
    sa.Column('error_class', sa.String(length=16), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_retry_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cdn_url', sa.Text(), nullable=True),
    sa.Column('cdn_path', sa.String(length=512), nullable=True),
    sa.Column('discovered_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['venue_id'], ['venues.id'], name=op.f('fk_venue_images_venue_id_venues'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_venue_images')),
    sa.UniqueConstraint('cdn_path', name=op.f('uq_venue_images_cdn_path')),
    sa.UniqueConstraint('venue_id', 'provider', 'photo_key', name='uq_venue_images_venue_provider_photo')
    )
    with op.batch_alter_table('venue_images', schema=None) as batch_op:
        batch_op.create_index('ix_venue_images_status', ['status'], unique=False)
        batch_op.create_index('ix_venue_images_venue_status', ['venue_id', 'status'], unique=False)

    op.create_table('upload_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('image_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.String(length=64), nullable=True),
    sa.Column('is_retry', sa.Boolean(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error_type', sa.String(length=32), nullable=True),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['image_id'], ['venue_images.id'], name=op.f('fk_upload_attempts_image_id_venue_images'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upload_attempts'))
    )
    with op.batch_alter_table('upload_attempts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upload_attempts_image_id'), ['image_id'], unique=False)
        batch_op.create_index('ix_upload_attempts_started_at', ['started_at'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('upload_attempts', schema=None) as batch_op:
        batch_op.drop_index('ix_upload_attempts_started_at')
        batch_op.drop_index(batch_op.f('ix_upload_attempts_image_id'))

    op.drop_table('upload_attempts')
    with op.batch_alter_table('venue_images', schema=None) as batch_op:
        batch_op.drop_index('ix_venue_images_venue_status')
        batch_op.drop_index('ix_venue_images_status')

    op.drop_table('venue_images')
    with op.batch_alter_table('provider_ids', schema=None) as batch_op:
        batch_op.drop_index('ix_provider_ids_provider_status')

    op.drop_table('provider_ids')
    with op.batch_alter_table('venues', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_venues_city_slug'))

    op.drop_table('venues')
    op.drop_table('run_failures')
    op.drop_table('failure_reports')
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.drop_index('ix_api_calls_provider_day')

    op.drop_table('api_calls')


"""Alembic environment: runs migrations on the engine the caller passes in."""

from __future__ import annotations

from alembic import context

from venue_pipeline.store.schema import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # invoked by the alembic CLI: fall back to the configured URL
    from venue_pipeline.config import default_db_url
    from venue_pipeline.store.db import get_engine

    engine = get_engine(config.get_main_option("sqlalchemy.url") or default_db_url())

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
